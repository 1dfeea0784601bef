//! The engine's settings (the timing flags of SPEC §1).

use std::sync::Arc;
use std::time::Duration;

use bgops_core::operation::DEFAULT_TTL;
use bgops_metrics::Metrics;

use crate::outbound::Outbound;

/// How the engine runs work.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Concurrent attempts on this node.
    pub workers: usize,
    /// Default time-out of one attempt (a custom API may override it).
    pub attempt_timeout: Duration,
    /// Base of the exponential retry delay.
    pub retry_base_delay: Duration,
    /// Default number of retries after a failed attempt (a custom API may override it).
    pub max_retries: u32,
    /// How long a claimed attempt's lease lasts without renewal.
    pub lease: Duration,
    /// Default `ttlinseconds` of new rows.
    pub default_ttl: Duration,
    /// How often expired rows are swept.
    pub ttl_sweep_interval: Duration,
    /// Rows deleted per sweep statement, so a sweep never holds the write lock long.
    pub ttl_sweep_batch: usize,
    /// How long shutdown waits for running attempts before leaving them to lease recovery.
    pub shutdown_grace: Duration,
    /// How far a node claims ahead of its free workers, as time at its recent pace: it holds
    /// claimed as many rows as its workers finished in the last `claim_ahead` (at most 256).
    /// Zero claims only for free workers.
    pub claim_ahead: Duration,
    /// The outbound HTTP client (URL policy and signing secret) that HTTP plug-ins and
    /// callbacks send with; `None` when the embedding program sends nothing over HTTP.
    pub outbound: Option<Arc<Outbound>>,
    /// Where the engine counts what it does (attempts, outcomes, deliveries); the HTTP layer
    /// exports the same instance at `/metrics`.
    pub metrics: Arc<Metrics>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            workers: 2 * cores,
            attempt_timeout: Duration::from_secs(120),
            retry_base_delay: Duration::from_secs(10),
            max_retries: 3,
            lease: Duration::from_secs(30),
            default_ttl: DEFAULT_TTL,
            ttl_sweep_interval: Duration::from_secs(60),
            ttl_sweep_batch: 500,
            shutdown_grace: Duration::from_secs(150),
            claim_ahead: Duration::from_millis(20),
            outbound: None,
            metrics: Arc::new(Metrics::new()),
        }
    }
}
