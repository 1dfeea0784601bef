//! OnBackgroundOperationComplete steps handled by a native plug-in (SPEC §9): a plug-in
//! registered with `Registry::add_plugin` and bound to a step as its event handler is called
//! once per completed operation, with the event's parameters as typed inputs, retried per the
//! engine's policy when it fails, and its system job records how it ended.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bgops_core::catalogue::Catalogue;
use bgops_core::metadata::{Cell, Row};
use bgops_core::odata::ast::CmpOp;
use bgops_core::odata::plan::{Filter, QueryPlan};
use bgops_core::step_rules::ON_BACKGROUND_OPERATION_COMPLETE_ID;
use bgops_core::{Clock, NewOperation, OperationId, ParamValue, Parameters, SystemClock, UserId};
use bgops_engine::{
    Engine, EngineConfig, EngineHandle, Plugin, PluginContext, PluginError, RandomJitter, Registry,
};
use bgops_store::sqlite::SqliteStore;
use bgops_store::{InsertOutcome, PageRequest, Store, WriteContext};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const TYPE_NAME: &str = "Tests.StepRecorder";

/// What the plug-in saw of one call.
#[derive(Clone, Debug)]
struct Call {
    message_name: String,
    operation_id: Option<OperationId>,
    user_id: UserId,
    attempt: u32,
    inputs: Parameters,
    api_name: String,
}

/// Records its calls; fails the first `failures` of them (permanently if asked).
struct Recorder {
    calls: Mutex<Vec<Call>>,
    failures: AtomicU32,
    permanent: bool,
}

#[async_trait]
impl Plugin for Recorder {
    async fn execute(&self, ctx: PluginContext) -> Result<Parameters, PluginError> {
        self.calls.lock().unwrap().push(Call {
            message_name: ctx.message_name.clone(),
            operation_id: ctx.operation_id,
            user_id: ctx.user_id,
            attempt: ctx.attempt,
            inputs: ctx.inputs.clone(),
            api_name: ctx.api.unique_name.clone(),
        });
        let left = self.failures.load(Ordering::SeqCst);
        if left > 0 {
            self.failures.store(left - 1, Ordering::SeqCst);
            return Err(if self.permanent {
                PluginError::permanent("the step handler refuses this event")
            } else {
                PluginError::failed("the step handler is not ready yet")
            });
        }
        Ok(Parameters::default())
    }
}

/// An engine on a fresh database with `recorder` registered and bound to an active step.
struct Setup {
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    engine: Engine,
    handle: EngineHandle,
    shutdown: CancellationToken,
    step: Uuid,
}

async fn setup(recorder: Arc<Recorder>) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&dir.path().join("bgops.db"))
            .await
            .unwrap(),
    );
    let registry = Registry::with_builtins();
    registry.add_plugin(TYPE_NAME, recorder);
    let catalogue = Arc::new(Catalogue::standard());
    let config = EngineConfig {
        workers: 2,
        retry_base_delay: Duration::from_millis(10),
        lease: Duration::from_secs(2),
        ..EngineConfig::default()
    };
    let ctx = WriteContext {
        now: SystemClock.now(),
        user: UserId::new_random(),
    };
    let insert = |table: &str, values: Row| {
        let store = store.clone();
        let table = catalogue.by_logical_name(table).unwrap();
        async move {
            match store.insert_row(table, values, ctx).await.unwrap() {
                InsertOutcome::Created(_) => {}
                other => panic!("{other:?}"),
            }
        }
    };
    let plugin_type = Uuid::new_v4();
    insert(
        "plugintype",
        vec![
            ("plugintypeid", Cell::Guid(plugin_type)),
            ("name", Cell::Text(TYPE_NAME.into())),
            ("typename", Cell::Text(TYPE_NAME.into())),
        ],
    )
    .await;
    let step = Uuid::new_v4();
    insert(
        "sdkmessageprocessingstep",
        vec![
            ("sdkmessageprocessingstepid", Cell::Guid(step)),
            ("name", Cell::Text("record completions".into())),
            ("stage", Cell::Int(40)),
            ("mode", Cell::Int(1)),
            ("rank", Cell::Int(1)),
            ("asyncautodelete", Cell::Bool(false)),
            (
                "sdkmessageid",
                Cell::Guid(ON_BACKGROUND_OPERATION_COMPLETE_ID),
            ),
            ("eventhandler", Cell::Guid(plugin_type)),
            ("plugintypeid", Cell::Guid(plugin_type)),
            ("statecode", Cell::Int(0)),
            ("statuscode", Cell::Int(1)),
        ],
    )
    .await;
    let engine = Engine::new(
        store.clone(),
        Arc::new(registry),
        catalogue,
        config,
        Arc::new(SystemClock),
        Arc::new(RandomJitter),
    );
    let shutdown = CancellationToken::new();
    let handle = engine.start(shutdown.clone());
    Setup {
        _dir: dir,
        store,
        engine,
        handle,
        shutdown,
        step,
    }
}

/// Submits `bgops_Echo` in the background; returns the stored operation.
async fn submit_echo(engine: &Engine) -> NewOperation {
    let id = OperationId::new_random();
    let user = UserId::new_random();
    let op = NewOperation {
        id,
        name: "bgops_Echo".into(),
        display_name: "Echo".into(),
        input_parameters: r#"[{"Key":"Text","Value":"hi"}]"#.into(),
        run_as: user,
        created_by: user,
        priority: 0,
        ttl_seconds: 3600,
        max_retries: 0,
        created_on: SystemClock.now(),
        callback_url: None,
        location: Some(format!(
            "https://bgops.example/api/backgroundoperation/{id}"
        )),
        trace_parent: None,
    };
    engine.submit(vec![op.clone()]).await.unwrap();
    op
}

/// The jobs of `op`, polled until `done` holds.
async fn wait_jobs(store: &dyn Store, op: OperationId, done: impl Fn(&[Row]) -> bool) -> Vec<Row> {
    let t = Catalogue::standard()
        .by_logical_name("asyncoperation")
        .unwrap();
    let col = |n: &str| *t.column(n).unwrap();
    let plan = QueryPlan {
        select: t.columns.clone(),
        explicit_select: false,
        filter: Some(Filter::Compare {
            column: col("regardingobjectid"),
            op: CmpOp::Eq,
            value: Cell::Guid(op.0),
        }),
        orderby: vec![(col("asyncoperationid"), false)],
        top: None,
        count: false,
    };
    let start = Instant::now();
    loop {
        let page = store
            .query_rows(
                t.clone(),
                plan.clone(),
                PageRequest {
                    size: 10,
                    after: None,
                },
            )
            .await
            .unwrap();
        if done(&page.rows) {
            return page.rows;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "jobs: {:?}",
            page.rows
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn cell<'r>(row: &'r Row, column: &str) -> &'r Cell {
    &row.iter().find(|(c, _)| *c == column).unwrap().1
}

fn state_status(row: &Row) -> (Cell, Cell) {
    (
        cell(row, "statecode").clone(),
        cell(row, "statuscode").clone(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_native_plugin_step_gets_the_event_and_is_retried() {
    let recorder = Arc::new(Recorder {
        calls: Mutex::default(),
        failures: AtomicU32::new(1),
        permanent: false,
    });
    let s = setup(recorder.clone()).await;
    let op = submit_echo(&s.engine).await;
    let jobs = wait_jobs(&*s.store, op.id, |jobs| {
        jobs.len() == 1 && state_status(&jobs[0]) == (Cell::Int(3), Cell::Int(30))
    })
    .await;
    assert_eq!(cell(&jobs[0], "owningextensionid"), &Cell::Guid(s.step));
    assert_eq!(cell(&jobs[0], "retrycount"), &Cell::Int(1));
    assert_eq!(cell(&jobs[0], "message"), &Cell::Null);

    let calls = recorder.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 2, "one failed attempt, one retry: {calls:?}");
    assert_eq!(
        calls.iter().map(|c| c.attempt).collect::<Vec<_>>(),
        vec![1, 2]
    );
    for call in &calls {
        assert_eq!(call.message_name, "OnBackgroundOperationComplete");
        assert_eq!(call.api_name, "OnBackgroundOperationComplete");
        assert_eq!(call.operation_id, Some(op.id));
        assert_eq!(call.user_id, op.run_as);
        let input = |name: &str| call.inputs.get(name).cloned();
        assert_eq!(input("PayloadType"), Some(ParamValue::Integer(0)));
        assert_eq!(
            input("LocationUrl"),
            Some(ParamValue::String(op.location.clone().unwrap()))
        );
        assert_eq!(
            input("BackgroundOperationId"),
            Some(ParamValue::Guid(op.id.0))
        );
        assert_eq!(
            input("OperationName"),
            Some(ParamValue::String("bgops_Echo".into()))
        );
        assert_eq!(
            input("BackgroundOperationStateCode"),
            Some(ParamValue::Integer(3))
        );
        assert_eq!(
            input("BackgroundOperationStatusCode"),
            Some(ParamValue::Integer(30))
        );
    }
    s.shutdown.cancel();
    s.handle.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_permanent_plugin_failure_ends_the_job_failed_at_once() {
    let recorder = Arc::new(Recorder {
        calls: Mutex::default(),
        failures: AtomicU32::new(u32::MAX),
        permanent: true,
    });
    let s = setup(recorder.clone()).await;
    let op = submit_echo(&s.engine).await;
    let jobs = wait_jobs(&*s.store, op.id, |jobs| {
        jobs.len() == 1 && state_status(&jobs[0]) == (Cell::Int(3), Cell::Int(31))
    })
    .await;
    assert_eq!(
        cell(&jobs[0], "message"),
        &Cell::Text("the step handler refuses this event".into())
    );
    assert_eq!(cell(&jobs[0], "errorcode"), &Cell::Int(-2_147_220_891));
    assert_eq!(cell(&jobs[0], "retrycount"), &Cell::Int(0));
    assert_eq!(recorder.calls.lock().unwrap().len(), 1);
    s.shutdown.cancel();
    s.handle.wait().await;
}
