//! Progress while waiting: a live spinner with the state and the elapsed time when standard
//! error is a terminal; otherwise one plain line per change of state (logs and CI stay
//! readable, with no escape codes).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use bgops_client::{OperationId, OperationStatus, Status};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Shows an operation's progress on standard error.
pub struct Progress {
    /// The spinner, on a terminal.
    bar: Option<ProgressBar>,
    /// The operation shown.
    id: OperationId,
    /// When the wait began, for plain lines' elapsed time.
    started: Instant,
    /// The status shown last; a plain line is written only when it changes.
    last: Option<OperationStatus>,
}

impl Progress {
    /// Starts showing progress of `id`.
    pub fn start(id: OperationId) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
                .with_style(
                    ProgressStyle::with_template("{spinner} {prefix} {msg} ({elapsed})")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                )
                .with_prefix(id.to_string())
                .with_message("waiting");
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        Progress {
            bar,
            id,
            started: Instant::now(),
            last: None,
        }
    }

    /// Shows a status seen while waiting.
    pub fn update(&mut self, s: &Status) {
        if self.last == Some(s.status) {
            return;
        }
        self.last = Some(s.status);
        match &self.bar {
            Some(bar) => bar.set_message(s.status.label()),
            None => {
                let mut err = std::io::stderr().lock();
                let _ = writeln!(
                    err,
                    "{}  {} ({:.1}s)",
                    self.id,
                    s.status.label(),
                    self.started.elapsed().as_secs_f64()
                );
            }
        }
    }

    /// Removes the spinner, leaving the terminal clean for the result.
    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}
