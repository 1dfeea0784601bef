//! Several nodes on one PostgreSQL schema (`BGOPS_TEST_POSTGRES`): the claims of callback
//! deliveries and system jobs never hand a row to two nodes, and never wait for the rows
//! another node is claiming (`FOR UPDATE SKIP LOCKED`).

mod pg_fixture;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use bgops_core::step_rules::ON_BACKGROUND_OPERATION_COMPLETE_ID;
use bgops_core::{NewOperation, OperationId, Timestamp, UserId};
use bgops_store::conformance::TestDatabase;
use bgops_store::*;
use pg_fixture::PgSchema;

/// A fixed epoch for the cases (2023-11-14T22:13:20Z).
const EPOCH: i64 = 1_700_000_000_000;

/// `ms` milliseconds after the epoch.
fn at(ms: i64) -> Timestamp {
    Timestamp(EPOCH + ms)
}

/// A schema with one enabled OnBackgroundOperationComplete step, two stores (nodes) on it, and
/// a plain connection to it.
async fn two_nodes() -> (
    PgSchema,
    Arc<dyn Store>,
    Arc<dyn Store>,
    tokio_postgres::Client,
) {
    let schema = PgSchema::new().await;
    let a = schema.open().await;
    let b = schema.open().await;
    let (client, connection) = tokio_postgres::connect(&schema.url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    // Written directly: the generic table writes are not what these cases test.
    client
        .execute(
            "INSERT INTO sdkmessageprocessingstep (sdkmessageprocessingstepid, name, stage, mode, \
             rank, asyncautodelete, sdkmessageid, eventhandler, statecode, statuscode, \
             createdon, modifiedon, versionnumber) \
             VALUES ($1, 'step', 40, 1, 1, 0, $2, $3, 0, 1, 0, 0, nextval('bgops_version_seq'))",
            &[
                &uuid::Uuid::new_v4().to_string(),
                &ON_BACKGROUND_OPERATION_COMPLETE_ID.to_string(),
                &uuid::Uuid::new_v4().to_string(),
            ],
        )
        .await
        .expect("insert step");
    (schema, a, b, client)
}

/// Submits `n` operations with a callback and makes them succeed: `n` deliveries and `n` jobs.
async fn finish_operations(store: &dyn Store, n: usize) {
    let ops: Vec<NewOperation> = (0..n)
        .map(|i| {
            let id = OperationId::new_random();
            let user = UserId::new_random();
            NewOperation {
                id,
                name: "sample_Echo".to_owned(),
                display_name: "Echo".to_owned(),
                input_parameters: "[]".to_owned(),
                run_as: user,
                created_by: user,
                priority: 0,
                ttl_seconds: 3600,
                max_retries: 0,
                created_on: at(i as i64),
                callback_url: Some("https://receiver.example/hook".to_owned()),
                location: Some(format!(
                    "https://bgops.example/api/backgroundoperation/{id}"
                )),
                trace_parent: None,
            }
        })
        .collect();
    store.insert_operations(ops.clone()).await.expect("insert");
    let claim = store
        .claim(ClaimRequest {
            owner: "runner".to_owned(),
            now: at(1_000),
            lease_until: at(60_000),
            limit: n,
        })
        .await
        .expect("claim operations");
    assert_eq!(claim.claimed.len(), n);
    for op in &ops {
        let recorded = store
            .record_outcome(AttemptOutcome {
                id: op.id,
                fence: Fence::Reserved {
                    owner: "runner".to_owned(),
                    attempt: 1,
                    started: at(1_000),
                },
                now: at(1_000),
                result: AttemptResult::Succeeded {
                    outputs: "[]".to_owned(),
                    outputs_json: None,
                },
            })
            .await
            .expect("record outcome");
        assert!(recorded.applied());
    }
}

fn delivery_claim(owner: &str, limit: usize) -> DeliveryClaimRequest {
    DeliveryClaimRequest {
        owner: owner.to_owned(),
        now: at(2_000),
        lease_until: at(32_000),
        limit,
    }
}

fn job_claim(owner: &str, limit: usize) -> ClaimRequest {
    ClaimRequest {
        owner: owner.to_owned(),
        now: at(2_000),
        lease_until: at(32_000),
        limit,
    }
}

/// Four claimers on two nodes at once take every delivery and every job exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_never_share_a_delivery_or_a_job() {
    let (_schema, a, b, _client) = two_nodes().await;
    finish_operations(&*a, 40).await;
    let mut tasks = Vec::new();
    for n in 0..4 {
        let store = if n % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            let owner = format!("node-{n}");
            let (mut deliveries, mut jobs) = (Vec::new(), Vec::new());
            for _ in 0..20 {
                let d = store
                    .claim_deliveries(delivery_claim(&owner, 3))
                    .await
                    .expect("claim deliveries");
                deliveries.extend(d.claimed.into_iter().map(|d| (d.id, d.attempts)));
                let j = store
                    .claim_jobs(job_claim(&owner, 3))
                    .await
                    .expect("claim jobs");
                jobs.extend(j.claimed.into_iter().map(|j| (j.id, j.attempt)));
            }
            (deliveries, jobs)
        }));
    }
    let (mut deliveries, mut jobs) = (HashSet::new(), HashSet::new());
    for t in tasks {
        let (d, j) = t.await.expect("claimer");
        for (id, attempt) in d {
            assert_eq!(attempt, 1);
            assert!(deliveries.insert(id), "delivery {id} claimed twice");
        }
        for (id, attempt) in j {
            assert_eq!(attempt, 1);
            assert!(jobs.insert(id), "job {id} claimed twice");
        }
    }
    assert_eq!((deliveries.len(), jobs.len()), (40, 40));
}

/// While another node holds some due rows (its claim not yet committed), a claim takes the
/// others at once, and the held ones once they are free again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_claim_skips_the_rows_another_node_holds() {
    let (_schema, a, b, mut client) = two_nodes().await;
    finish_operations(&*a, 4).await;
    let other = client.transaction().await.expect("begin");
    let held_deliveries: HashSet<String> = other
        .query(
            "SELECT callbackdeliveryid FROM callbackdelivery \
             ORDER BY createdon, callbackdeliveryid LIMIT 2 FOR UPDATE",
            &[],
        )
        .await
        .expect("lock deliveries")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let held_jobs: HashSet<String> = other
        .query(
            "SELECT asyncoperationid FROM asyncoperation \
             ORDER BY createdon, asyncoperationid LIMIT 2 FOR UPDATE",
            &[],
        )
        .await
        .expect("lock jobs")
        .iter()
        .map(|r| r.get(0))
        .collect();

    let d = tokio::time::timeout(
        Duration::from_secs(5),
        b.claim_deliveries(delivery_claim("node-b", 10)),
    )
    .await
    .expect("the claim of deliveries waits for no other node")
    .expect("claim deliveries");
    assert_eq!(d.claimed.len(), 2);
    assert!(d
        .claimed
        .iter()
        .all(|d| !held_deliveries.contains(&d.id.to_string())));
    let j = tokio::time::timeout(
        Duration::from_secs(5),
        b.claim_jobs(job_claim("node-b", 10)),
    )
    .await
    .expect("the claim of jobs waits for no other node")
    .expect("claim jobs");
    assert_eq!(j.claimed.len(), 2);
    assert!(j
        .claimed
        .iter()
        .all(|j| !held_jobs.contains(&j.id.to_string())));

    other.rollback().await.expect("rollback");
    let d = a
        .claim_deliveries(delivery_claim("node-a", 10))
        .await
        .expect("claim deliveries");
    let taken: HashSet<String> = d.claimed.iter().map(|d| d.id.to_string()).collect();
    assert_eq!(taken, held_deliveries);
    let j = a
        .claim_jobs(job_claim("node-a", 10))
        .await
        .expect("claim jobs");
    let taken: HashSet<String> = j.claimed.iter().map(|j| j.id.to_string()).collect();
    assert_eq!(taken, held_jobs);
}
