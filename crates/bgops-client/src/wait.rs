//! Waiting for an operation to finish without hammering the server or learning late: a long
//! poll (`Prefer: wait=N`, SPEC §15) where the server supports it, else polling that honours
//! the status monitor's `Retry-After`; both bounded by the caller's deadline.

use std::time::Duration;

use bgops_core::OperationId;
use reqwest::{Method, StatusCode};
use tokio::time::Instant;

use crate::client::{Client, REQUEST_TIMEOUT};
use crate::error::Error;
use crate::http::{error_of, read_object, unexpected};
use crate::operation::Status;

/// The longest single long poll asked for (`Prefer: wait=60`); the server may cap it lower.
/// A longer wait is a series of long polls.
pub const MAX_LONG_POLL: Duration = Duration::from_secs(60);

/// The pause between polls when the server sends no `Retry-After` and no long poll.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// The shortest pause between two looks, however the server answers (a server that ends
/// long polls at once must not turn the wait into a busy loop).
const MIN_INTERVAL: Duration = Duration::from_millis(100);

impl Client {
    /// Waits until the operation has finished (Succeeded, Failed or Canceled) and returns
    /// its final status, or [`Error::Timeout`] with the last status seen once `timeout` has
    /// passed. Uses long polls where the server supports them, so the answer comes as soon as
    /// the operation ends; otherwise polls no more often than `Retry-After` says, cut short
    /// by the deadline.
    pub async fn wait(&self, id: OperationId, timeout: Duration) -> Result<Status, Error> {
        self.wait_with(id, timeout, MAX_LONG_POLL, |_| {}).await
    }

    /// As [`Client::wait`], calling `on_status` with each status seen before the final one,
    /// and holding each long poll at most `each_look` (whole seconds, 1 s to
    /// [`MAX_LONG_POLL`]). A long poll answers early only when the operation ends, so a
    /// progress display that should show it going from Waiting to In Progress passes a few
    /// seconds here.
    pub async fn wait_with(
        &self,
        id: OperationId,
        timeout: Duration,
        each_look: Duration,
        mut on_status: impl FnMut(&Status),
    ) -> Result<Status, Error> {
        let each_look = each_look.clamp(Duration::from_secs(1), MAX_LONG_POLL);
        let deadline = Instant::now() + timeout;
        let mut long_poll = true;
        loop {
            let asked_at = Instant::now();
            let remaining = deadline.saturating_duration_since(asked_at);
            // Whole seconds only; under a second left, one plain look.
            let wait = (long_poll && remaining >= Duration::from_secs(1))
                .then(|| remaining.min(each_look).as_secs());
            let (status, applied) = self.observe(id, wait).await?;
            if status.is_terminal() {
                return Ok(status);
            }
            on_status(&status);
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Timeout {
                    id,
                    last: Box::new(status),
                });
            }
            long_poll = applied;
            let pause = if applied {
                // The server held the request: ask again at once (but never in a tight loop).
                MIN_INTERVAL.saturating_sub(now - asked_at)
            } else {
                status
                    .retry_after
                    .unwrap_or(DEFAULT_POLL_INTERVAL)
                    .max(MIN_INTERVAL)
            };
            tokio::time::sleep_until((now + pause).min(deadline)).await;
        }
    }

    /// One look at the status monitor; with `wait`, a long poll of that many seconds. Answers
    /// the status and whether the server applied the long poll (`Preference-Applied: wait`).
    pub(crate) async fn observe(
        &self,
        id: OperationId,
        wait: Option<u64>,
    ) -> Result<(Status, bool), Error> {
        let url = self.monitor(id);
        let mut req = self.request(Method::GET, url.clone());
        if let Some(secs) = wait {
            req = req
                .header("Prefer", format!("wait={secs}"))
                .timeout(REQUEST_TIMEOUT + Duration::from_secs(secs));
        }
        let resp = self.send(req, &url).await?;
        if resp.status() != StatusCode::OK {
            return Err(error_of(resp, &url).await);
        }
        let headers = resp.headers();
        let retry_after = headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let applied = wait.is_some()
            && headers
                .get_all("preference-applied")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .any(|p| {
                    let p = p.trim();
                    p.len() >= 4 && p[..4].eq_ignore_ascii_case("wait")
                });
        let body = read_object(resp, &url).await?;
        let status = Status::from_body(body, retry_after)
            .ok_or_else(|| unexpected(&url, 200, "not a status monitor body"))?;
        Ok((status, applied))
    }
}
