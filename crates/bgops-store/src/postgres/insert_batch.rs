//! Submissions, inserted together: every submission is its own request, and one `INSERT` per
//! submission costs PostgreSQL several times what one `INSERT … unnest` of the rows of many does
//! (bgops-bench's server-limit rows). Submissions that arrive while others are being written
//! are gathered into one statement; each caller still gets its own answer: an id that exists
//! already fails that caller's call alone, and leaves nothing of it behind.

use std::collections::HashSet;
use std::sync::Arc;

use bgops_core::NewOperation;

use super::batcher::Batcher;
use super::db::Db;
use super::writer::Writer;
use super::{listen, operations};
use crate::StoreError;

/// Most rows in one statement.
const MAX_ROWS: usize = 1024;
/// Batches queued to the writer at once.
const IN_FLIGHT: usize = 4;

/// Queues submissions to the batching task.
pub struct InsertBatches {
    batcher: Batcher<Vec<NewOperation>, ()>,
}

impl InsertBatches {
    /// Starts the task, which writes through `writer`.
    pub fn start(writer: Arc<Writer>) -> Self {
        let batcher = Batcher::start(MAX_ROWS, IN_FLIGHT, Vec::len, move |calls| {
            let writer = writer.clone();
            async move {
                writer
                    .run(move |c| Box::pin(async move { write(c, calls).await }))
                    .await
            }
        });
        Self { batcher }
    }

    /// Inserts `ops` (all or none) with whatever other submissions are waiting.
    pub async fn insert(&self, ops: Vec<NewOperation>) -> Result<(), StoreError> {
        self.batcher.call(ops).await
    }
}

/// Inserts every call's rows; one answer per call, in order.
async fn write(
    c: &dyn Db,
    calls: Vec<Vec<NewOperation>>,
) -> Result<Vec<Result<(), StoreError>>, StoreError> {
    // A call naming an id another call of the batch names too goes alone, after the others:
    // within one statement the second row would be skipped as if it were the first.
    let mut seen = HashSet::new();
    let (together, alone): (Vec<usize>, Vec<usize>) = (0..calls.len()).partition(|&i| {
        let ids: Vec<_> = calls[i].iter().map(|o| o.id).collect();
        let free = ids.iter().all(|id| !seen.contains(id));
        if free {
            seen.extend(ids);
        }
        free
    });
    let rows: Vec<NewOperation> = together.iter().flat_map(|&i| calls[i].clone()).collect();
    let inserted = operations::insert_rows(c, &rows).await?;
    let mut results: Vec<Result<(), StoreError>> = vec![Ok(()); calls.len()];
    let mut undo = Vec::new();
    for &i in &together {
        let ids: Vec<String> = calls[i].iter().map(|o| o.id.to_string()).collect();
        let distinct: HashSet<&String> = ids.iter().collect();
        if distinct.len() < ids.len() || !ids.iter().all(|id| inserted.contains(id)) {
            undo.extend(ids.into_iter().filter(|id| inserted.contains(id)));
            results[i] = Err(StoreError::InvalidRequest(
                "an operation with this id exists already".to_owned(),
            ));
        }
    }
    if !undo.is_empty() {
        c.execute(
            "DELETE FROM backgroundoperation WHERE backgroundoperationid = ANY($1)",
            &[&undo],
        )
        .await?;
    }
    if inserted.len() > undo.len() {
        // New rows are changes streams of every change show.
        for id in inserted.iter().filter(|id| !undo.contains(*id)) {
            listen::started(c, id);
        }
        listen::work(c);
    }
    for &i in &alone {
        results[i] = operations::insert(c, &calls[i]).await;
    }
    Ok(results)
}
