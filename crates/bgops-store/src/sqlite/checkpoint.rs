//! WAL checkpoints off the write path: the writer's connection never checkpoints
//! (`wal_autocheckpoint=0`); this thread copies committed pages back into the database file
//! with passive checkpoints from its own connection, so a commit never pays for one.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// How often the checkpointer runs.
const PERIOD: Duration = Duration::from_millis(250);

/// Stops the checkpointer thread when dropped.
pub struct Checkpointer {
    /// Set on drop; the thread exits at its next wake-up.
    stop: Arc<AtomicBool>,
}

impl Checkpointer {
    /// Starts the thread on its own connection to `path`.
    pub fn start(path: &Path) -> Result<Self, rusqlite::Error> {
        let conn = super::connect(path)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        thread::Builder::new()
            .name("bgops-sqlite-checkpoint".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    thread::sleep(PERIOD);
                    // PASSIVE never blocks readers or the writer; what it cannot copy now is
                    // copied next time.
                    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    {
                        tracing::warn!(error = %e, "WAL checkpoint failed");
                    }
                }
            })
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        Ok(Self { stop })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
