//! The conformance suite for the system jobs of OnBackgroundOperationComplete steps
//! (`claim_jobs`, `renew_job_leases`, `expired_job_leases`, `record_job_outcome`, and the jobs
//! written with a terminal state): what every [`Store`] backend must do with them.
//!
//! Each case is a public async fn taking a fresh, empty, migrated store; [`CASES`] lists them.
//! A backend's test file calls [`store_job_conformance_tests!`](crate::store_job_conformance_tests)
//! to generate one `#[tokio::test]` per case:
//!
//! ```ignore
//! async fn fresh() -> (TempDir, Arc<dyn Store>) { /* an empty database and a store on it */ }
//! bgops_store::store_job_conformance_tests!(fresh);
//! ```

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bgops_core::catalogue::Catalogue;
use bgops_core::metadata::{Cell, Row, Table};
use bgops_core::odata::plan::{Filter, QueryPlan};
use bgops_core::step_rules::ON_BACKGROUND_OPERATION_COMPLETE_ID;
use bgops_core::system_job::JobData;
use bgops_core::{
    ErrorCode, NewOperation, OperationError, OperationId, OperationStatus, Timestamp, UserId,
};
use uuid::Uuid;

use crate::{
    AttemptOutcome, AttemptResult, ClaimRequest, Fence, InsertOutcome, JobOutcome, JobRenewal,
    JobResult, PageRequest, Store, SystemJob, WriteContext,
};

/// A boxed, sendable future, so cases can sit in one list.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// One case: it panics when the backend misbehaves.
pub type Case = fn(Arc<dyn Store>) -> BoxFuture<()>;

/// Lists the cases once, as `(name, fn)` pairs.
macro_rules! cases {
    ($($case:ident),+ $(,)?) => {
        /// Every case, by name.
        pub const CASES: &[(&str, Case)] = &[$((stringify!($case), |s| Box::pin($case(s)))),+];
    };
}

cases!(
    each_terminal_state_starts_one_job_per_active_step,
    a_retry_or_a_cancel_request_starts_no_job,
    concurrent_job_claims_never_share_a_job,
    job_outcome_requires_the_current_attempt,
    succeeded_job_is_kept_or_deleted_per_its_step,
    failed_job_waits_for_its_retry_then_fails_with_its_error,
    job_leases_renew_expire_and_are_recovered_once,
    jobs_go_with_their_operation,
    operation_history_lists_the_jobs,
);

/// Generates one `#[tokio::test]` per job conformance case, each on a fresh store from
/// `$fresh`: a fn or closure returning a future of `(guard, Arc<dyn Store>)`, where the guard (a
/// temporary directory, say) lives until the case ends. The calling crate needs `tokio` with
/// the `macros` and `rt-multi-thread` features.
///
/// `store_job_conformance_tests!(fresh)` runs every case; to mark cases for one backend, list
/// them after a `;`, each with its attributes. Either way a generated test checks that the list
/// names every case in [`CASES`].
#[macro_export]
macro_rules! store_job_conformance_tests {
    ($fresh:expr) => {
        $crate::store_job_conformance_tests!($fresh;
            each_terminal_state_starts_one_job_per_active_step,
            a_retry_or_a_cancel_request_starts_no_job,
            concurrent_job_claims_never_share_a_job,
            job_outcome_requires_the_current_attempt,
            succeeded_job_is_kept_or_deleted_per_its_step,
            failed_job_waits_for_its_retry_then_fails_with_its_error,
            job_leases_renew_expire_and_are_recovered_once,
            jobs_go_with_their_operation,
            operation_history_lists_the_jobs,
        );
    };
    ($fresh:expr; $($(#[$attr:meta])* $case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            $(#[$attr])*
            async fn $case() {
                let (_guard, store) = ($fresh)().await;
                $crate::conformance_jobs::$case(store).await;
            }
        )+

        #[test]
        fn every_job_conformance_case_is_generated() {
            let mut generated: Vec<&str> = vec![$(stringify!($case)),+];
            let mut listed: Vec<&str> =
                $crate::conformance_jobs::CASES.iter().map(|(n, _)| *n).collect();
            generated.sort_unstable();
            listed.sort_unstable();
            assert_eq!(generated, listed, "the generated tests must be exactly the suite's cases");
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A fixed epoch for the cases (2023-11-14T22:13:20Z).
const EPOCH: i64 = 1_700_000_000_000;

/// `ms` milliseconds after the suite's epoch.
fn at(ms: i64) -> Timestamp {
    Timestamp(EPOCH + ms)
}

fn table(name: &str) -> Arc<Table> {
    Catalogue::standard()
        .by_logical_name(name)
        .unwrap_or_else(|| panic!("no table {name}"))
}

fn cell<'r>(row: &'r Row, column: &str) -> &'r Cell {
    &row.iter()
        .find(|(n, _)| *n == column)
        .unwrap_or_else(|| panic!("row lacks {column}: {row:?}"))
        .1
}

fn int(row: &Row, column: &str) -> Option<i64> {
    match cell(row, column) {
        Cell::Int(i) => Some(*i),
        Cell::Null => None,
        other => panic!("{column} is {other:?}"),
    }
}

/// A step on OnBackgroundOperationComplete (or `message`), enabled or not; returns its id.
async fn step(
    store: &dyn Store,
    message: Uuid,
    enabled: bool,
    autodelete: bool,
    rank: i64,
) -> Uuid {
    let id = Uuid::new_v4();
    let values = vec![
        ("sdkmessageprocessingstepid", Cell::Guid(id)),
        ("name", Cell::Text(format!("step {id}"))),
        ("stage", Cell::Int(40)),
        ("mode", Cell::Int(1)),
        ("rank", Cell::Int(rank)),
        ("asyncautodelete", Cell::Bool(autodelete)),
        ("sdkmessageid", Cell::Guid(message)),
        ("eventhandler", Cell::Guid(Uuid::new_v4())),
        ("statecode", Cell::Int(if enabled { 0 } else { 1 })),
        ("statuscode", Cell::Int(if enabled { 1 } else { 2 })),
    ];
    let ctx = WriteContext {
        now: at(0),
        user: UserId::new_random(),
    };
    match store
        .insert_row(table("sdkmessageprocessingstep"), values, ctx)
        .await
    {
        Ok(InsertOutcome::Created(_)) => id,
        other => panic!("insert step: {other:?}"),
    }
}

fn new_op(created_on: Timestamp, max_retries: i32) -> NewOperation {
    NewOperation {
        id: OperationId::new_random(),
        name: "sample_Echo".to_owned(),
        display_name: "Echo".to_owned(),
        input_parameters: "[]".to_owned(),
        run_as: UserId::new_random(),
        created_by: UserId::new_random(),
        priority: 0,
        ttl_seconds: 60,
        max_retries,
        created_on,
        callback_url: None,
        location: None,
        trace_parent: None,
    }
}

fn claim_req(owner: &str, now: Timestamp, limit: usize) -> ClaimRequest {
    ClaimRequest {
        owner: owner.to_owned(),
        now,
        lease_until: now.plus(std::time::Duration::from_secs(30)),
        limit,
    }
}

/// Submits an operation and runs it to `result` (claimed at `now`, recorded at `now`).
async fn finish(store: &dyn Store, op: &NewOperation, now: Timestamp, result: AttemptResult) {
    store.insert_operations(vec![op.clone()]).await.unwrap();
    let claimed = store.claim(claim_req("runner", now, 1)).await.unwrap();
    assert_eq!(claimed.claimed.len(), 1, "the operation is claimed");
    let applied = store
        .record_outcome(AttemptOutcome {
            id: op.id,
            fence: Fence::Reserved {
                owner: "runner".to_owned(),
                attempt: claimed.claimed[0].attempt + 1,
                started: now,
            },
            now,
            result,
        })
        .await
        .unwrap();
    assert!(applied.applied());
}

/// The jobs of an operation, as the Web API reads them, oldest first.
async fn jobs_of(store: &dyn Store, op: OperationId) -> Vec<Row> {
    let t = table("asyncoperation");
    let col = |n: &str| *t.column(n).unwrap();
    let plan = QueryPlan {
        select: t.columns.clone(),
        explicit_select: false,
        filter: Some(Filter::Compare {
            column: col("regardingobjectid"),
            op: bgops_core::odata::ast::CmpOp::Eq,
            value: Cell::Guid(op.0),
        }),
        orderby: vec![(col("createdon"), false), (col("asyncoperationid"), false)],
        top: None,
        count: false,
    };
    store
        .query_rows(
            t.clone(),
            plan,
            PageRequest {
                size: 1000,
                after: None,
            },
        )
        .await
        .expect("query jobs")
        .rows
}

async fn job_row(store: &dyn Store, id: Uuid) -> Option<Row> {
    store
        .get_row(table("asyncoperation"), id)
        .await
        .expect("get job")
}

/// Claims every due job at `now` for `owner`.
async fn claim_jobs(store: &dyn Store, owner: &str, now: Timestamp) -> Vec<SystemJob> {
    store
        .claim_jobs(claim_req(owner, now, 100))
        .await
        .expect("claim jobs")
        .claimed
}

/// One step, one succeeded operation: its job, claimed.
async fn one_claimed_job(store: &dyn Store, autodelete: bool) -> SystemJob {
    step(
        store,
        ON_BACKGROUND_OPERATION_COMPLETE_ID,
        true,
        autodelete,
        1,
    )
    .await;
    let op = new_op(at(0), 0);
    finish(
        store,
        &op,
        at(10),
        AttemptResult::Succeeded {
            outputs: "[]".into(),
            outputs_json: None,
        },
    )
    .await;
    let mut claimed = claim_jobs(store, "node-a", at(20)).await;
    assert_eq!(claimed.len(), 1);
    claimed.remove(0)
}

fn failure(message: &str) -> OperationError {
    OperationError {
        code: ErrorCode::PLUGIN_ERROR,
        message: message.to_owned(),
        permanent: false,
    }
}

// ---------------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------------

/// Succeeded, Failed and Canceled operations each start exactly one job per enabled step on
/// the message, with the event in `data`; disabled steps and steps on other messages start none.
pub async fn each_terminal_state_starts_one_job_per_active_step(store: Arc<dyn Store>) {
    let store = &*store;
    let a = step(store, ON_BACKGROUND_OPERATION_COMPLETE_ID, true, false, 2).await;
    let b = step(store, ON_BACKGROUND_OPERATION_COMPLETE_ID, true, true, 1).await;
    step(store, ON_BACKGROUND_OPERATION_COMPLETE_ID, false, false, 1).await;
    step(store, Uuid::new_v4(), true, false, 1).await;

    let succeeded = NewOperation {
        location: Some("https://bgops.example/api/backgroundoperation/x".into()),
        ..new_op(at(0), 0)
    };
    finish(
        store,
        &succeeded,
        at(10),
        AttemptResult::Succeeded {
            outputs: "[]".into(),
            outputs_json: None,
        },
    )
    .await;
    let failed = new_op(at(1), 0);
    finish(
        store,
        &failed,
        at(11),
        AttemptResult::Failed {
            error: failure("boom"),
            retry_at: None,
        },
    )
    .await;
    let canceled = new_op(at(2), 0);
    store
        .insert_operations(vec![canceled.clone()])
        .await
        .unwrap();
    store
        .request_cancel(canceled.id, at(3), None)
        .await
        .unwrap();
    let finalized = store.claim(claim_req("runner", at(12), 0)).await.unwrap();
    assert_eq!(finalized.canceled, vec![canceled.id]);

    for (op, status) in [
        (&succeeded, OperationStatus::Succeeded),
        (&failed, OperationStatus::Failed),
        (&canceled, OperationStatus::Canceled),
    ] {
        let jobs = jobs_of(store, op.id).await;
        assert_eq!(jobs.len(), 2, "{status:?}: {jobs:?}");
        let steps: HashSet<Uuid> = jobs
            .iter()
            .map(|j| match cell(j, "owningextensionid") {
                Cell::Guid(g) => *g,
                other => panic!("owningextensionid {other:?}"),
            })
            .collect();
        assert_eq!(steps, HashSet::from([a, b]), "{status:?}");
        for job in &jobs {
            assert_eq!(
                cell(job, "name"),
                &Cell::Text("OnBackgroundOperationComplete".into())
            );
            assert_eq!(
                cell(job, "messagename"),
                &Cell::Text("OnBackgroundOperationComplete".into())
            );
            assert_eq!(int(job, "operationtype"), Some(1));
            assert_eq!(
                (int(job, "statecode"), int(job, "statuscode")),
                (Some(0), Some(0))
            );
            assert_eq!(int(job, "retrycount"), Some(0));
            let Cell::Text(data) = cell(job, "data") else {
                panic!("no data: {job:?}");
            };
            let data = JobData::parse(data).unwrap();
            assert_eq!(data.input_parameters.payload_type, 0);
            assert_eq!(data.input_parameters.background_operation_id, op.id.0);
            assert_eq!(data.output_parameters.operation_name, "sample_Echo");
            assert_eq!(
                data.output_parameters.background_operation_state_code,
                status.state().code()
            );
            assert_eq!(
                data.output_parameters.background_operation_status_code,
                status.code()
            );
            assert_eq!(data.user_id, op.run_as.0);
            assert_eq!(data.initiating_user_id, op.created_by.0);
            let location = op
                .location
                .clone()
                .unwrap_or_else(|| format!("/api/backgroundoperation/{}", op.id));
            assert_eq!(data.input_parameters.location_url, location);
        }
    }
}

/// A failed attempt that will be retried is not terminal: no job. Nor is a cancel request.
pub async fn a_retry_or_a_cancel_request_starts_no_job(store: Arc<dyn Store>) {
    let store = &*store;
    step(store, ON_BACKGROUND_OPERATION_COMPLETE_ID, true, false, 1).await;
    let op = new_op(at(0), 3);
    finish(
        store,
        &op,
        at(10),
        AttemptResult::Failed {
            error: failure("again"),
            retry_at: Some(at(1_000)),
        },
    )
    .await;
    assert!(jobs_of(store, op.id).await.is_empty());
    let waiting = new_op(at(1), 3);
    store
        .insert_operations(vec![waiting.clone()])
        .await
        .unwrap();
    store.request_cancel(waiting.id, at(2), None).await.unwrap();
    assert!(jobs_of(store, waiting.id).await.is_empty());
    assert!(claim_jobs(store, "node-a", at(5_000)).await.is_empty());
}

/// Two nodes claiming at once never get the same job; every job is claimed once, in attempt 1.
pub async fn concurrent_job_claims_never_share_a_job(store: Arc<dyn Store>) {
    for _ in 0..3 {
        step(&*store, ON_BACKGROUND_OPERATION_COMPLETE_ID, true, false, 1).await;
    }
    for i in 0..10 {
        let op = new_op(at(i), 0);
        finish(
            &*store,
            &op,
            at(100 + i),
            AttemptResult::Succeeded {
                outputs: "[]".into(),
                outputs_json: None,
            },
        )
        .await;
    }
    let mut tasks = Vec::new();
    for n in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            for _ in 0..10 {
                let claim = store
                    .claim_jobs(claim_req(&format!("node-{n}"), at(1_000), 3))
                    .await
                    .expect("claim");
                mine.extend(claim.claimed);
            }
            mine
        }));
    }
    let mut seen = HashSet::new();
    for t in tasks {
        for job in t.await.unwrap() {
            assert_eq!(job.attempt, 1);
            assert_eq!(job.retry_count, 0);
            assert!(seen.insert(job.id), "job {} claimed twice", job.id);
        }
    }
    assert_eq!(seen.len(), 30);
    let any = *seen.iter().next().unwrap();
    let row = job_row(&*store, any).await.unwrap();
    assert_eq!(
        (int(&row, "statecode"), int(&row, "statuscode")),
        (Some(2), Some(20))
    );
    assert!(matches!(cell(&row, "startedon"), Cell::DateTime(t) if *t == at(1_000)));
}

/// An outcome with another attempt number changes nothing.
pub async fn job_outcome_requires_the_current_attempt(store: Arc<dyn Store>) {
    let store = &*store;
    let job = one_claimed_job(store, false).await;
    for fence in [Fence::Attempt(job.attempt + 1), Fence::Attempt(0)] {
        let applied = store
            .record_job_outcome(JobOutcome {
                id: job.id,
                fence: fence.clone(),
                now: at(30),
                result: JobResult::Succeeded,
            })
            .await
            .unwrap();
        assert!(!applied, "{fence:?}");
    }
    let applied = store
        .record_job_outcome(JobOutcome {
            id: job.id,
            fence: Fence::Attempt(job.attempt),
            now: at(30),
            result: JobResult::Succeeded,
        })
        .await
        .unwrap();
    assert!(applied);
    // Recorded once: a second write of the same attempt finds the job no longer Locked.
    let again = store
        .record_job_outcome(JobOutcome {
            id: job.id,
            fence: Fence::Attempt(job.attempt),
            now: at(31),
            result: JobResult::Failed {
                error: failure("late"),
                retry_at: None,
            },
        })
        .await
        .unwrap();
    assert!(!again);
}

/// Success ends the job 3/30 with `completedon`, or deletes it when its step auto-deletes.
pub async fn succeeded_job_is_kept_or_deleted_per_its_step(store: Arc<dyn Store>) {
    let store = &*store;
    let kept = step(store, ON_BACKGROUND_OPERATION_COMPLETE_ID, true, false, 1).await;
    let deleted = step(store, ON_BACKGROUND_OPERATION_COMPLETE_ID, true, true, 2).await;
    let op = new_op(at(0), 0);
    finish(
        store,
        &op,
        at(10),
        AttemptResult::Succeeded {
            outputs: "[]".into(),
            outputs_json: None,
        },
    )
    .await;
    let jobs = claim_jobs(store, "node-a", at(20)).await;
    assert_eq!(jobs.len(), 2);
    for job in jobs {
        let applied = store
            .record_job_outcome(JobOutcome {
                id: job.id,
                fence: Fence::Attempt(job.attempt),
                now: at(40),
                result: JobResult::Succeeded,
            })
            .await
            .unwrap();
        assert!(applied);
        let row = job_row(store, job.id).await;
        if job.step_id == Some(deleted) {
            assert!(row.is_none(), "auto-deleted: {row:?}");
        } else {
            assert_eq!(job.step_id, Some(kept));
            let row = row.expect("kept");
            assert_eq!(
                (int(&row, "statecode"), int(&row, "statuscode")),
                (Some(3), Some(30))
            );
            assert!(matches!(cell(&row, "completedon"), Cell::DateTime(t) if *t == at(40)));
            assert_eq!(cell(&row, "message"), &Cell::Null);
        }
    }
    assert_eq!(jobs_of(store, op.id).await.len(), 1);
}

/// A failure with a retry time waits (0/0, `retrycount` + 1, its error shown), is not due
/// before then and is claimed again after; a final failure ends 3/31 with its error kept.
pub async fn failed_job_waits_for_its_retry_then_fails_with_its_error(store: Arc<dyn Store>) {
    let store = &*store;
    let job = one_claimed_job(store, true).await;
    let applied = store
        .record_job_outcome(JobOutcome {
            id: job.id,
            fence: Fence::Attempt(1),
            now: at(50),
            result: JobResult::Failed {
                error: failure("503 from the receiver"),
                retry_at: Some(at(500)),
            },
        })
        .await
        .unwrap();
    assert!(applied);
    let row = job_row(store, job.id).await.unwrap();
    assert_eq!(
        (int(&row, "statecode"), int(&row, "statuscode")),
        (Some(0), Some(0))
    );
    assert_eq!(int(&row, "retrycount"), Some(1));
    assert_eq!(
        cell(&row, "message"),
        &Cell::Text("503 from the receiver".into())
    );
    let early = store
        .claim_jobs(claim_req("node-a", at(499), 10))
        .await
        .unwrap();
    assert!(early.claimed.is_empty());
    assert_eq!(early.next_due, Some(at(500)));
    let again = claim_jobs(store, "node-b", at(500)).await;
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].attempt, again[0].retry_count), (2, 1));
    let applied = store
        .record_job_outcome(JobOutcome {
            id: job.id,
            fence: Fence::Attempt(2),
            now: at(600),
            result: JobResult::Failed {
                error: failure("still down"),
                retry_at: None,
            },
        })
        .await
        .unwrap();
    assert!(applied);
    // Failed jobs stay, even when their step auto-deletes.
    let row = job_row(store, job.id).await.expect("a failed job stays");
    assert_eq!(
        (int(&row, "statecode"), int(&row, "statuscode")),
        (Some(3), Some(31))
    );
    assert_eq!(cell(&row, "message"), &Cell::Text("still down".into()));
    assert_eq!(
        int(&row, "errorcode"),
        Some(i64::from(ErrorCode::PLUGIN_ERROR.as_i32()))
    );
    assert!(matches!(cell(&row, "completedon"), Cell::DateTime(t) if *t == at(600)));
    assert!(claim_jobs(store, "node-a", at(10_000)).await.is_empty());
}

/// Leases renew only for their holder; an expired lease is listed, can be taken back only once
/// it has expired, and then the old holder's result is dropped.
pub async fn job_leases_renew_expire_and_are_recovered_once(store: Arc<dyn Store>) {
    let store = &*store;
    let job = one_claimed_job(store, false).await; // leased by node-a until at(20) + 30 s
    let renew = |owner: &str, until: Timestamp| JobRenewal {
        owner: owner.to_owned(),
        jobs: vec![(job.id, job.attempt)],
        lease_until: until,
    };
    let states = store
        .renew_job_leases(renew("node-b", at(90_000)))
        .await
        .unwrap();
    assert!(!states[0].held, "another node cannot renew");
    let states = store
        .renew_job_leases(renew("node-a", at(60_000)))
        .await
        .unwrap();
    assert!(states[0].held);
    assert!(store
        .expired_job_leases(at(59_999), 10)
        .await
        .unwrap()
        .is_empty());
    let expired = store.expired_job_leases(at(60_000), 10).await.unwrap();
    assert_eq!(expired.len(), 1);
    assert_eq!((expired[0].id, expired[0].attempt), (job.id, 1));
    let recover = |now: Timestamp| JobOutcome {
        id: job.id,
        fence: Fence::ExpiredLease(1),
        now,
        result: JobResult::Failed {
            error: OperationError::worker_lost(),
            retry_at: Some(now),
        },
    };
    assert!(!store.record_job_outcome(recover(at(59_000))).await.unwrap());
    assert!(store.record_job_outcome(recover(at(60_000))).await.unwrap());
    assert!(!store.record_job_outcome(recover(at(60_001))).await.unwrap());
    let stale = store
        .record_job_outcome(JobOutcome {
            id: job.id,
            fence: Fence::Attempt(1),
            now: at(60_002),
            result: JobResult::Succeeded,
        })
        .await
        .unwrap();
    assert!(!stale, "the old holder's result is dropped");
    let states = store
        .renew_job_leases(renew("node-a", at(90_000)))
        .await
        .unwrap();
    assert!(!states[0].held);
    let again = claim_jobs(store, "node-b", at(60_000)).await;
    assert_eq!((again[0].attempt, again[0].retry_count), (2, 1));
}

/// When the TTL sweep deletes an operation, its jobs go too.
pub async fn jobs_go_with_their_operation(store: Arc<dyn Store>) {
    let store = &*store;
    step(store, ON_BACKGROUND_OPERATION_COMPLETE_ID, true, false, 1).await;
    let op = new_op(at(0), 0);
    finish(
        store,
        &op,
        at(10),
        AttemptResult::Succeeded {
            outputs: "[]".into(),
            outputs_json: None,
        },
    )
    .await;
    let keep = new_op(at(0), 0);
    finish(
        store,
        &NewOperation {
            ttl_seconds: 3600,
            ..keep.clone()
        },
        at(10),
        AttemptResult::Succeeded {
            outputs: "[]".into(),
            outputs_json: None,
        },
    )
    .await;
    assert_eq!(jobs_of(store, op.id).await.len(), 1);
    let swept = store.sweep_expired(at(10 + 60_000), 10).await.unwrap();
    assert_eq!(swept, 1);
    assert!(jobs_of(store, op.id).await.is_empty());
    assert_eq!(jobs_of(store, keep.id).await.len(), 1);
}

/// An operation's history ([`Store::operation_history`]) lists its system jobs with their
/// step, status, attempts and last error.
pub async fn operation_history_lists_the_jobs(store: Arc<dyn Store>) {
    let store = &*store;
    let job = one_claimed_job(store, false).await;
    let applied = store
        .record_job_outcome(JobOutcome {
            id: job.id,
            fence: Fence::Attempt(1),
            now: at(50),
            result: JobResult::Failed {
                error: failure("the receiver is down"),
                retry_at: None,
            },
        })
        .await
        .unwrap();
    assert!(applied);
    let op = OperationId(job.operation_id.expect("the job names its operation"));
    let history = store
        .operation_history(op)
        .await
        .unwrap()
        .expect("the operation's history");
    assert_eq!(history.system_jobs.len(), 1, "{:?}", history.system_jobs);
    let j = &history.system_jobs[0];
    assert_eq!(j.id, job.id);
    assert_eq!(j.step_id, job.step_id);
    assert!(j.step_id.is_some());
    assert_eq!((j.state_code, j.status_code), (Some(3), Some(31)));
    assert_eq!((j.attempts, j.retry_count), (1, Some(0)));
    assert_eq!(j.error_code, Some(ErrorCode::PLUGIN_ERROR.as_i32()));
    assert_eq!(j.message.as_deref(), Some("the receiver is down"));
    assert_eq!((j.started_on, j.completed_on), (Some(at(20)), Some(at(50))));
    assert!(j.name.is_some());
    assert!(
        history.attempts.is_empty(),
        "the operation succeeded at once"
    );
}
