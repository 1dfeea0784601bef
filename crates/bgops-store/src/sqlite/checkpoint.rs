//! WAL checkpoints off the write path: the writer's connection never checkpoints on commit
//! (`wal_autocheckpoint=0`); this thread copies committed pages back into the database file
//! with passive checkpoints from its own connection, so a commit never pays for the copying.
//!
//! Under a steady stream of commits a passive checkpoint never quite catches up with the
//! writer, so the WAL could never start over from its beginning and would grow for as long as
//! the load lasts (and every read gets slower as it searches a longer WAL). When a passive
//! checkpoint finds more than [`RESTART_FRAMES`] frames in the WAL, the thread asks the writer
//! for a restart ([`RestartRequest`]): between two transactions, the writer runs a RESTART
//! checkpoint on its own connection, which copies the few frames the passive one left and lets
//! the next commit write the WAL from its start. `journal_size_limit` then keeps the file at
//! most [`JOURNAL_SIZE_LIMIT`].

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use rusqlite::Connection;

/// How often the checkpointer runs.
const PERIOD: Duration = Duration::from_millis(100);

/// WAL frames (pages) above which the WAL is restarted: 16 MiB of 4 KiB pages.
const RESTART_FRAMES: i64 = 4096;

/// Longest the writer's RESTART checkpoint waits for readers to leave the WAL; it gives up
/// after this long (and is asked again later) rather than stall commits.
const RESTART_WAIT: Duration = Duration::from_millis(50);

/// Largest size the WAL file is left at after it restarted, in bytes.
pub const JOURNAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// Set by the checkpointer when the WAL should restart; taken by the writer.
#[derive(Clone, Default)]
pub struct RestartRequest(Arc<AtomicBool>);

impl RestartRequest {
    fn ask(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Called by the writer between transactions, on its connection (whose busy time-out
    /// `busy` is restored afterwards): runs the RESTART checkpoint if one was asked for.
    pub fn serve(&self, conn: &Connection, busy: Duration) {
        if !self.0.swap(false, Ordering::Relaxed) {
            return;
        }
        let restart = || -> Result<(i64, i64, i64), rusqlite::Error> {
            conn.busy_timeout(RESTART_WAIT)?;
            let r = conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            });
            conn.busy_timeout(busy)?;
            r
        };
        match restart() {
            Ok((busy, frames, copied)) => {
                tracing::debug!(busy, frames, copied, "WAL restart checkpoint")
            }
            Err(e) => tracing::warn!(error = %e, "WAL restart checkpoint failed"),
        }
    }
}

/// Stops the checkpointer thread when dropped.
pub struct Checkpointer {
    /// Set on drop; the thread exits at its next wake-up.
    stop: Arc<AtomicBool>,
}

impl Checkpointer {
    /// Starts the thread on its own connection to `path`; it asks for restarts through
    /// `restart`.
    pub fn start(path: &Path, restart: RestartRequest) -> Result<Self, rusqlite::Error> {
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
                    match conn
                        .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(1))
                    {
                        Ok(frames) if frames > RESTART_FRAMES => restart.ask(),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
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
