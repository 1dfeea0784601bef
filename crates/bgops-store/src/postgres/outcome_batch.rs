//! Successful outcomes, recorded together: a node running fast operations finishes hundreds a
//! second, and one `UPDATE` per outcome (plus the completion notifications' statements) would
//! cost PostgreSQL far more than the work. Successes that arrive while others are being written
//! are gathered into one statement over arrays (`unnest`), behind the same fences as one by one;
//! their callback deliveries are written by one more statement, and the OnBackgroundOperationComplete
//! steps are looked up once per batch. Anything else (failures, cancels, recovery of an expired
//! lease) is written one by one, as are successes of rows that appear twice in a batch.

use std::collections::HashSet;
use std::sync::Arc;

use super::batcher::Batcher;
use super::db::Db;
use super::writer::Writer;
use super::{listen, operations, outbox, step_jobs};
use crate::store::{AttemptOutcome, AttemptResult, Fence, Recorded};
use crate::StoreError;

/// Most outcomes in one statement.
const MAX_BATCH: usize = 512;
/// Batches queued to the writer at once.
const IN_FLIGHT: usize = 4;

/// Queues successful outcomes to the batching task.
pub struct OutcomeBatches {
    batcher: Batcher<AttemptOutcome, Recorded>,
}

impl OutcomeBatches {
    /// Starts the task, which writes through `writer`.
    pub fn start(writer: Arc<Writer>) -> Self {
        let batcher = Batcher::start(
            MAX_BATCH,
            IN_FLIGHT,
            |_| 1,
            move |outcomes| {
                let writer = writer.clone();
                async move {
                    writer
                        .run(move |c| Box::pin(async move { write(c, outcomes).await }))
                        .await
                }
            },
        );
        Self { batcher }
    }

    /// Whether `o` can be written in a batch: a success behind the fence of a running attempt
    /// or of a reservation.
    pub fn takes(o: &AttemptOutcome) -> bool {
        matches!(o.result, AttemptResult::Succeeded { .. })
            && matches!(o.fence, Fence::Attempt(_) | Fence::Reserved { .. })
    }

    /// Records `o` (which [`OutcomeBatches::takes`]) with whatever others are waiting.
    pub async fn record(&self, o: AttemptOutcome) -> Result<Recorded, StoreError> {
        self.batcher.call(o).await
    }
}

/// Writes the batch in one transaction; one result per outcome, in order. An error of a
/// statement fails the whole batch (the writer rolls it back).
async fn write(
    c: &dyn Db,
    outcomes: Vec<AttemptOutcome>,
) -> Result<Vec<Result<Recorded, StoreError>>, StoreError> {
    // A row twice in the batch (never from one node's engine, which runs one attempt of a row
    // at a time) goes one by one, after the others.
    let mut seen = HashSet::with_capacity(outcomes.len());
    let (together, alone): (Vec<usize>, Vec<usize>) =
        (0..outcomes.len()).partition(|&i| seen.insert(outcomes[i].id));

    let mut results: Vec<Option<Result<Recorded, StoreError>>> = vec![None; outcomes.len()];
    let applied = write_successes(
        c,
        &together.iter().map(|&i| &outcomes[i]).collect::<Vec<_>>(),
    )
    .await?;
    let written: Vec<&AttemptOutcome> = together
        .iter()
        .filter(|&&i| applied.contains(&outcomes[i].id.to_string()))
        .map(|&i| &outcomes[i])
        .collect();
    let notified = if written.is_empty() {
        HashSet::new()
    } else {
        // Each row's waiters (long polls, event streams) on every node read it again.
        for o in &written {
            listen::changed(c, &o.id.to_string());
        }
        let notified = on_terminal(c, &written).await?;
        // The outbox and system job claimers of every node look for new work only when
        // there is some: an operation without callback or step wakes no one.
        if !notified.is_empty() {
            listen::ended(c);
        }
        notified
    };
    for &i in &together {
        let key = outcomes[i].id.to_string();
        results[i] = Some(Ok(if applied.contains(&key) {
            Recorded::Applied {
                notify: notified.contains(&key),
            }
        } else {
            Recorded::Dropped
        }));
    }
    for &i in &alone {
        results[i] = Some(operations::record_outcome(c, &outcomes[i]).await);
    }
    Ok(results
        .into_iter()
        .map(|r| r.unwrap_or(Err(StoreError::Closed)))
        .collect())
}

/// One `UPDATE` for every success, each behind its own fence; the ids it wrote.
async fn write_successes(
    c: &dyn Db,
    outcomes: &[&AttemptOutcome],
) -> Result<HashSet<String>, StoreError> {
    if outcomes.is_empty() {
        return Ok(HashSet::new());
    }
    let n = outcomes.len();
    let mut ids = Vec::with_capacity(n);
    let mut attempts = Vec::with_capacity(n);
    let mut owners: Vec<Option<String>> = Vec::with_capacity(n);
    let mut started: Vec<Option<i64>> = Vec::with_capacity(n);
    let mut outputs = Vec::with_capacity(n);
    let mut shown: Vec<Option<String>> = Vec::with_capacity(n);
    let mut now = Vec::with_capacity(n);
    for o in outcomes {
        let AttemptResult::Succeeded {
            outputs: out,
            outputs_json,
        } = &o.result
        else {
            return Err(StoreError::InvalidRequest(
                "only successes are written in a batch".to_owned(),
            ));
        };
        ids.push(o.id.to_string());
        match &o.fence {
            Fence::Attempt(a) => {
                attempts.push(*a);
                owners.push(None);
                started.push(None);
            }
            Fence::Reserved {
                owner,
                attempt,
                started: at,
            } => {
                attempts.push(*attempt);
                owners.push(Some(owner.clone()));
                started.push(Some(at.0));
            }
            Fence::ExpiredLease(_) => {
                return Err(StoreError::InvalidRequest(
                    "recovery outcomes are not written in a batch".to_owned(),
                ))
            }
        }
        outputs.push(out.clone());
        shown.push(outputs_json.clone());
        now.push(o.now.0);
    }
    // The fences of `operations::write_outcome`: a started attempt still Locked with its
    // attempt number under a lease; a reserved row still Ready, reserved by this node, with
    // the attempts before this one (the write starts it too). `= ANY($1)` and the fence in a
    // CASE keep the plan on the primary key: with an `OR` of the two fences PostgreSQL would
    // scan every Ready row and hash-join them with the batch.
    let rows = c
        .query(
            "UPDATE backgroundoperation b SET \
             attempt = r.attempt, \
             starttime = CASE WHEN r.owner IS NULL THEN b.starttime \
             ELSE COALESCE(b.starttime, r.started) END, \
             backgroundoperationstatecode = 3, backgroundoperationstatuscode = 30, \
             outputparameters = r.outputs, outputjson = r.shown, endtime = r.now, \
             errorcode = NULL, errormessage = NULL, leaseowner = NULL, leaseexpiresat = NULL, \
             modifiedon = r.now, expiresat = r.now + b.ttlinseconds * 1000, \
             versionnumber = nextval('bgops_version_seq') \
             FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::text[], \
             $6::text[], $7::bigint[]) AS r(id, attempt, owner, started, outputs, shown, now) \
             WHERE b.backgroundoperationid = ANY($1) AND b.backgroundoperationid = r.id \
             AND CASE WHEN r.owner IS NULL THEN b.attempt = r.attempt \
              AND b.backgroundoperationstatecode = 2 AND b.leaseowner IS NOT NULL \
             ELSE b.attempt = r.attempt - 1 \
              AND b.backgroundoperationstatecode = 0 AND b.leaseowner = r.owner END \
             RETURNING b.backgroundoperationid",
            &[&ids, &attempts, &owners, &started, &outputs, &shown, &now],
        )
        .await?;
    rows.iter()
        .map(|r| r.try_get::<_, String>(0).map_err(StoreError::from))
        .collect()
}

/// The completion notifications of the rows just written (SPEC §9), as
/// `completion::on_terminal` writes them for one: their callback deliveries in one statement,
/// and system jobs for the active OnBackgroundOperationComplete steps, if there are any. The
/// ids that got a notification.
async fn on_terminal(
    c: &dyn Db,
    written: &[&AttemptOutcome],
) -> Result<HashSet<String>, StoreError> {
    let (callbacks, steps) =
        tokio::join!(outbox::enqueue_many(c, written), step_jobs::any_active(c));
    let mut notified = callbacks?;
    if steps? {
        for o in written {
            let id = o.id.to_string();
            if step_jobs::create_for_operation(c, &id, o.now).await? {
                notified.insert(id);
            }
        }
    }
    Ok(notified)
}
