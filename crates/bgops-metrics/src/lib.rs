//! The metrics bgops exports at `/metrics` (OpenMetrics text, which Prometheus reads): every
//! name, label and bucket is declared here, once. A [`Metrics`] is created by whoever starts
//! the service and handed to the store (as its write observer), the engine and the HTTP layer;
//! there is no global registry.
//!
//! Counters are per process (sum them over nodes); the queue gauges describe the whole
//! database (every node shows the same values).
#![warn(missing_docs)]

mod labels;
mod sharded;

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

use bgops_store::{QueueSummary, WriteObserver};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

use labels::*;
pub use labels::{BoundedNames, DeliveryKind, DeliveryOutcome, Outcome, OTHER};
pub use sharded::{ShardedCounter, ShardedHistogram};

/// The most custom API names with series of their own; later ones are counted as
/// [`OTHER`]. Custom APIs are created over the Web API, so their number is the users' choice.
pub const MAX_API_LABELS: usize = 200;

/// The most route labels; past it, routes are counted as [`OTHER`].
pub const MAX_ROUTE_LABELS: usize = 400;

/// The content type of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;
type ShardedFamily<L> = Family<L, ShardedHistogram, fn() -> ShardedHistogram>;

/// One custom API's series as one thread holds them, each made on first use.
#[derive(Debug, Default)]
struct ApiSeries {
    submitted: Option<ShardedCounter>,
    started: Option<ShardedCounter>,
    wait: Option<ShardedHistogram>,
    run: Option<ShardedHistogram>,
    /// By [`Outcome`]: succeeded, failed, canceled.
    finished: [Option<ShardedCounter>; 3],
    /// Not retried, retried.
    failed: [Option<ShardedCounter>; 2],
}

/// Every metric of one bgops process.
#[derive(Debug)]
pub struct Metrics {
    /// Whether anything is counted (`--instrumentation off` turns it off).
    enabled: bool,
    /// What `/metrics` encodes.
    registry: Registry,
    /// Caps the `api` label.
    apis: BoundedNames,
    /// Caps the `route` label.
    routes: BoundedNames,
    submitted: Family<ApiLabels, ShardedCounter>,
    started: Family<ApiLabels, ShardedCounter>,
    finished: Family<FinishedLabels, ShardedCounter>,
    attempts_failed: Family<FailedLabels, ShardedCounter>,
    leases_taken_back: Counter,
    canceled_before_start: Counter,
    wait: ShardedFamily<ApiLabels>,
    run: ShardedFamily<ApiLabels>,
    /// Each thread's handles of the per-custom-API series it has recorded, by name (as
    /// `http_cache` for the HTTP series).
    api_cache: thread_local::ThreadLocal<RefCell<HashMap<String, ApiSeries>>>,
    deliveries: Family<DeliveryLabels, Counter>,
    delivery_time: ShardedFamily<KindLabels>,
    queue: Family<QueueLabels, Gauge>,
    oldest_waiting: Gauge<f64, std::sync::atomic::AtomicU64>,
    http_requests: Family<HttpLabels, ShardedCounter>,
    http_time: Family<RouteLabels, ShardedHistogram, fn() -> ShardedHistogram>,
    /// Each thread's handles of the HTTP series it has recorded, by route label (the families
    /// stay the record; these are clones of their entries): a request looks its series up
    /// without a lock or a cache line another thread writes.
    http_cache: thread_local::ThreadLocal<RefCell<HashMap<String, RouteSeries>>>,
    write_batch: HistogramFamily<BackendLabels>,
    write_commit: HistogramFamily<BackendLabels>,
    write_failed: Family<BackendLabels, Counter>,
}

/// One method's series of a route: its duration histogram and its counters by status.
type MethodSeries = (&'static str, ShardedHistogram, Vec<(u16, ShardedCounter)>);

/// One route's HTTP series, by method.
#[derive(Debug, Default)]
struct RouteSeries {
    methods: Vec<MethodSeries>,
}

impl RouteSeries {
    fn find(&self, method: &str, status: u16) -> Option<(&ShardedHistogram, &ShardedCounter)> {
        let (_, time, statuses) = self.methods.iter().find(|(m, _, _)| *m == method)?;
        let (_, count) = statuses.iter().find(|(s, _)| *s == status)?;
        Some((time, count))
    }

    fn insert(
        &mut self,
        method: &'static str,
        status: u16,
        time: ShardedHistogram,
        count: ShardedCounter,
    ) {
        let at = match self.methods.iter().position(|(m, _, _)| *m == method) {
            Some(at) => at,
            None => {
                self.methods.push((method, time, Vec::new()));
                self.methods.len() - 1
            }
        };
        let statuses = &mut self.methods[at].2;
        if !statuses.iter().any(|(s, _)| *s == status) {
            statuses.push((status, count));
        }
    }
}

fn seconds_buckets() -> ShardedHistogram {
    // 1 ms to about 4.4 minutes, ×4 per bucket.
    ShardedHistogram::new(exponential_buckets(0.001, 4.0, 10))
}

fn http_buckets() -> ShardedHistogram {
    // 0.25 ms to about 16 s, ×4 per bucket.
    ShardedHistogram::new(exponential_buckets(0.00025, 4.0, 9))
}

fn commit_buckets() -> Histogram {
    // 50 µs to about 3.3 s, ×4 per bucket.
    Histogram::new(exponential_buckets(0.00005, 4.0, 9))
}

fn batch_buckets() -> Histogram {
    // 1 to 1,024 jobs (the writers' largest batch), ×2 per bucket.
    Histogram::new(exponential_buckets(1.0, 2.0, 11))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric at zero, registered under the `bgops_` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("bgops");
        let submitted = Family::default();
        registry.register(
            "operations_submitted",
            "Background operations stored (202 answered), by custom API",
            submitted.clone(),
        );
        let started = Family::default();
        registry.register(
            "attempts_started",
            "Attempts started on this node (first attempts and retries), by custom API",
            started.clone(),
        );
        let finished = Family::default();
        registry.register(
            "operations_finished",
            "Operations that reached a terminal state through this node, by custom API and outcome",
            finished.clone(),
        );
        let attempts_failed = Family::default();
        registry.register(
            "attempts_failed",
            "Failed attempts (lost ones included), by custom API and whether a retry was scheduled",
            attempts_failed.clone(),
        );
        let leases_taken_back = Counter::default();
        registry.register(
            "leases_taken_back",
            "Attempts whose lease expired (their node died or stalled), taken back by this node",
            leases_taken_back.clone(),
        );
        let canceled_before_start = Counter::default();
        registry.register(
            "operations_canceled_before_start",
            "Operations canceled before any attempt started, ended Canceled by this node (not in operations_finished)",
            canceled_before_start.clone(),
        );
        let wait: ShardedFamily<ApiLabels> = Family::new_with_constructor(seconds_buckets);
        registry.register_with_unit(
            "operation_wait",
            "From submission to the first attempt's start, by custom API",
            Unit::Seconds,
            wait.clone(),
        );
        let run: ShardedFamily<ApiLabels> = Family::new_with_constructor(seconds_buckets);
        registry.register_with_unit(
            "attempt_duration",
            "How long attempts ran, by custom API",
            Unit::Seconds,
            run.clone(),
        );
        let deliveries = Family::default();
        registry.register(
            "deliveries",
            "Callback and webhook POSTs, by kind and outcome",
            deliveries.clone(),
        );
        let delivery_time: ShardedFamily<KindLabels> =
            Family::new_with_constructor(seconds_buckets);
        registry.register_with_unit(
            "delivery_duration",
            "How long callback and webhook POSTs took, by kind",
            Unit::Seconds,
            delivery_time.clone(),
        );
        let queue = Family::default();
        registry.register(
            "queue_depth",
            "Unfinished operations in the database, by state and status (refreshed at most every few seconds)",
            queue.clone(),
        );
        let oldest_waiting = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register_with_unit(
            "queue_oldest_waiting_age",
            "Age of the oldest operation waiting to run (0 when none waits)",
            Unit::Seconds,
            oldest_waiting.clone(),
        );
        let http_requests = Family::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status",
            http_requests.clone(),
        );
        let http_time: Family<RouteLabels, ShardedHistogram, fn() -> ShardedHistogram> =
            Family::new_with_constructor(http_buckets);
        registry.register_with_unit(
            "http_request_duration",
            "Time to answer HTTP requests (to the response's head), by method and route template",
            Unit::Seconds,
            http_time.clone(),
        );
        let write_batch: HistogramFamily<BackendLabels> =
            Family::new_with_constructor(batch_buckets);
        registry.register(
            "store_write_batch_jobs",
            "Callers' writes per write transaction (group commit), by backend",
            write_batch.clone(),
        );
        let write_commit: HistogramFamily<BackendLabels> =
            Family::new_with_constructor(commit_buckets);
        registry.register_with_unit(
            "store_commit_duration",
            "Time of a write transaction's COMMIT (its flush to disk), by backend",
            Unit::Seconds,
            write_commit.clone(),
        );
        let write_failed = Family::default();
        registry.register(
            "store_transactions_failed",
            "Write transactions that failed to commit, by backend",
            write_failed.clone(),
        );
        Self {
            enabled: true,
            registry,
            apis: BoundedNames::new(MAX_API_LABELS),
            routes: BoundedNames::new(MAX_ROUTE_LABELS),
            submitted,
            started,
            finished,
            attempts_failed,
            leases_taken_back,
            canceled_before_start,
            wait,
            run,
            api_cache: Default::default(),
            deliveries,
            delivery_time,
            queue,
            oldest_waiting,
            http_requests,
            http_time,
            http_cache: Default::default(),
            write_batch,
            write_commit,
            write_failed,
        }
    }

    /// Metrics that count nothing (`--instrumentation off`): every recording call returns at
    /// once; the queue gauges are still set when the summary is read.
    pub fn disabled() -> Self {
        Self {
            enabled: false,
            ..Self::new()
        }
    }

    /// Whether recording calls count anything.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Every metric in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(16 * 1024);
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }

    /// Runs `f` on this thread's handles of `api`'s series, made on first use from the
    /// families (under `api`'s capped label). Names past the cap share the `_other` series and
    /// are not kept (the cache stays as small as the label set).
    fn with_api(&self, api: &str, f: impl FnOnce(&mut ApiSeries, &str)) {
        let cache = self.api_cache.get_or_default();
        if let Some(series) = cache.borrow_mut().get_mut(api) {
            f(series, api);
            return;
        }
        let label = self.apis.label(api);
        if label == api {
            let mut cache = cache.borrow_mut();
            f(cache.entry(label).or_default(), api);
        } else {
            f(&mut ApiSeries::default(), &label);
        }
    }

    fn api(label: &str) -> ApiLabels {
        ApiLabels {
            api: label.to_owned(),
        }
    }

    /// `n` operations of `api` were stored.
    pub fn submitted(&self, api: &str, n: u64) {
        if !self.enabled {
            return;
        }
        self.with_api(api, |s, label| {
            s.submitted
                .get_or_insert_with(|| self.submitted.get_or_create(&Self::api(label)).clone())
                .inc_by(n);
        });
    }

    /// An attempt of `api` started; `waited` is the time from submission when it is the first.
    pub fn attempt_started(&self, api: &str, waited: Option<Duration>) {
        if !self.enabled {
            return;
        }
        self.with_api(api, |s, label| {
            s.started
                .get_or_insert_with(|| self.started.get_or_create(&Self::api(label)).clone())
                .inc();
            if let Some(w) = waited {
                s.wait
                    .get_or_insert_with(|| self.wait.get_or_create(&Self::api(label)).clone())
                    .observe(w);
            }
        });
    }

    /// An attempt of `api` ran for `ran`.
    pub fn attempt_ran(&self, api: &str, ran: Duration) {
        if !self.enabled {
            return;
        }
        self.with_api(api, |s, label| {
            s.run
                .get_or_insert_with(|| self.run.get_or_create(&Self::api(label)).clone())
                .observe(ran);
        });
    }

    /// An attempt of `api` failed (or was lost); `retried` when a retry was scheduled.
    pub fn attempt_failed(&self, api: &str, retried: bool) {
        if !self.enabled {
            return;
        }
        self.with_api(api, |s, label| {
            s.failed[usize::from(retried)]
                .get_or_insert_with(|| {
                    self.attempts_failed
                        .get_or_create(&FailedLabels {
                            api: label.to_owned(),
                            retried,
                        })
                        .clone()
                })
                .inc();
        });
    }

    /// An operation of `api` reached a terminal state.
    pub fn finished(&self, api: &str, outcome: Outcome) {
        if !self.enabled {
            return;
        }
        let at = match outcome {
            Outcome::succeeded => 0,
            Outcome::failed => 1,
            Outcome::canceled => 2,
        };
        self.with_api(api, |s, label| {
            s.finished[at]
                .get_or_insert_with(|| {
                    self.finished
                        .get_or_create(&FinishedLabels {
                            api: label.to_owned(),
                            outcome,
                        })
                        .clone()
                })
                .inc();
        });
    }

    /// An attempt whose lease expired was taken back.
    pub fn lease_taken_back(&self) {
        if !self.enabled {
            return;
        }
        self.leases_taken_back.inc();
    }

    /// `n` operations canceled before they started were ended Canceled.
    pub fn canceled_before_start(&self, n: u64) {
        if !self.enabled {
            return;
        }
        self.canceled_before_start.inc_by(n);
    }

    /// A callback or webhook POST ended after `took`.
    pub fn delivery(&self, kind: DeliveryKind, outcome: DeliveryOutcome, took: Duration) {
        if !self.enabled {
            return;
        }
        self.deliveries
            .get_or_create(&DeliveryLabels { kind, outcome })
            .inc();
        self.delivery_time
            .get_or_create(&KindLabels { kind })
            .observe(took);
    }

    /// The queue as last read from the database; `oldest_age` of its oldest waiting row.
    pub fn queue(&self, summary: &QueueSummary, oldest_age: Duration) {
        for (status, count) in summary.by_status() {
            let labels = QueueLabels {
                state: snake(status.state().label()),
                status: snake(status.label()),
            };
            self.queue
                .get_or_create(&labels)
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        }
        self.oldest_waiting.set(oldest_age.as_secs_f64());
    }

    /// An HTTP request was answered. `route` is a route template label (a raw path never is:
    /// the server names the Web API's `{segment}` only when it is a known name).
    pub fn http_request(&self, method: &str, route: &str, status: u16, took: Duration) {
        if !self.enabled {
            return;
        }
        let method = method_label(method);
        let cache = self.http_cache.get_or_default();
        // The common case: this thread saw this route, method and status before; one look-up.
        if let Some((time, count)) = cache
            .borrow()
            .get(route)
            .and_then(|r| r.find(method, status))
        {
            time.observe(took);
            count.inc();
            return;
        }
        let label = self.routes.label(route);
        let time = self
            .http_time
            .get_or_create(&RouteLabels {
                method,
                route: label.clone(),
            })
            .clone();
        let count = self
            .http_requests
            .get_or_create(&HttpLabels {
                method,
                route: label.clone(),
                status,
            })
            .clone();
        time.observe(took);
        count.inc();
        // Routes past the cap share the `_other` series and are not cached (the cache stays
        // as small as the label set).
        if label == route {
            cache
                .borrow_mut()
                .entry(label)
                .or_default()
                .insert(method, status, time, count);
        }
    }
}

impl WriteObserver for Metrics {
    fn transaction(&self, backend: &'static str, jobs: usize, commit: Duration, committed: bool) {
        if !self.enabled {
            return;
        }
        let labels = BackendLabels { backend };
        self.write_batch.get_or_create(&labels).observe(jobs as f64);
        if committed {
            self.write_commit
                .get_or_create(&labels)
                .observe(commit.as_secs_f64());
        } else {
            self.write_failed.get_or_create(&labels).inc();
        }
    }
}

/// A Dataverse label as a label value: `In Progress` → `in_progress`.
fn snake(label: &'static str) -> &'static str {
    match label {
        "Ready" => "ready",
        "Locked" => "locked",
        "Completed" => "completed",
        "Waiting For Resources" => "waiting_for_resources",
        "In Progress" => "in_progress",
        "Canceling" => "canceling",
        "Succeeded" => "succeeded",
        "Failed" => "failed",
        "Canceled" => "canceled",
        _ => OTHER,
    }
}

/// The standard methods by name, anything else as `other` (methods are client-chosen text).
fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "POST" => "POST",
        "PATCH" => "PATCH",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_histograms_are_encoded_with_their_suffixes() {
        let m = Metrics::new();
        m.submitted("bgops_Echo", 2);
        m.attempt_started("bgops_Echo", Some(Duration::from_millis(3)));
        m.finished("bgops_Echo", Outcome::succeeded);
        m.http_request("GET", "/health", 200, Duration::from_micros(300));
        m.transaction("sqlite", 7, Duration::from_micros(900), true);
        let text = m.encode();
        assert!(text.contains(r#"bgops_operations_submitted_total{api="bgops_Echo"} 2"#));
        assert!(text.contains(
            r#"bgops_operations_finished_total{api="bgops_Echo",outcome="succeeded"} 1"#
        ));
        assert!(text.contains(r#"bgops_operation_wait_seconds_count{api="bgops_Echo"} 1"#));
        assert!(text
            .contains(r#"bgops_http_requests_total{method="GET",route="/health",status="200"} 1"#));
        assert!(text.contains(r#"bgops_store_write_batch_jobs_sum{backend="sqlite"} 7.0"#));
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn http_requests_count_alike_through_the_handle_cache() {
        let m = Metrics::new();
        for _ in 0..3 {
            m.http_request("GET", "/a", 200, Duration::from_millis(1));
        }
        m.http_request("GET", "/a", 404, Duration::from_millis(1));
        m.http_request("POST", "/a", 200, Duration::from_millis(1));
        m.http_request("GET", "/a", 200, Duration::from_millis(1));
        let text = m.encode();
        assert!(
            text.contains(r#"bgops_http_requests_total{method="GET",route="/a",status="200"} 4"#)
        );
        assert!(
            text.contains(r#"bgops_http_requests_total{method="GET",route="/a",status="404"} 1"#)
        );
        assert!(
            text.contains(r#"bgops_http_requests_total{method="POST",route="/a",status="200"} 1"#)
        );
        assert!(text
            .contains(r#"bgops_http_request_duration_seconds_count{method="GET",route="/a"} 5"#));
        assert!(text
            .contains(r#"bgops_http_request_duration_seconds_count{method="POST",route="/a"} 1"#));
    }

    #[test]
    fn custom_api_series_count_alike_through_the_handle_cache_and_past_the_cap() {
        let m = Metrics::new();
        for _ in 0..2 {
            m.finished("a", Outcome::succeeded);
            m.finished("a", Outcome::failed);
            m.attempt_failed("a", true);
            m.attempt_ran("a", Duration::from_millis(2));
        }
        m.attempt_failed("a", false);
        for i in 0..MAX_API_LABELS + 3 {
            m.submitted(&format!("api{i}"), 1);
        }
        m.submitted("late", 4);
        let text = m.encode();
        for line in [
            r#"bgops_operations_finished_total{api="a",outcome="succeeded"} 2"#,
            r#"bgops_operations_finished_total{api="a",outcome="failed"} 2"#,
            r#"bgops_attempts_failed_total{api="a",retried="true"} 2"#,
            r#"bgops_attempts_failed_total{api="a",retried="false"} 1"#,
            r#"bgops_attempt_duration_seconds_count{api="a"} 2"#,
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
        // "a" took one of the places: 199 more names, then 4 past the cap and "late" (4).
        assert!(text.contains(&format!(
            r#"bgops_operations_submitted_total{{api="{OTHER}"}} 8"#
        )));
    }

    #[test]
    fn routes_past_the_cap_share_one_series() {
        let m = Metrics::new();
        for i in 0..MAX_ROUTE_LABELS + 5 {
            m.http_request("GET", &format!("/r{i}"), 200, Duration::from_millis(1));
        }
        m.http_request("GET", "/late", 200, Duration::from_millis(1));
        let text = m.encode();
        assert!(text.contains(&format!(
            r#"bgops_http_requests_total{{method="GET",route="{OTHER}",status="200"}} 6"#
        )));
    }

    #[test]
    fn disabled_metrics_count_nothing() {
        let m = Metrics::disabled();
        m.submitted("bgops_Echo", 2);
        m.http_request("GET", "/health", 200, Duration::from_micros(300));
        m.transaction("sqlite", 7, Duration::from_micros(900), true);
        let text = m.encode();
        assert!(
            !text.contains("bgops_operations_submitted_total{"),
            "{text}"
        );
        assert!(!text.contains("bgops_http_requests_total{"), "{text}");
        assert!(
            !text.contains("bgops_store_write_batch_jobs_sum{"),
            "{text}"
        );
    }

    #[test]
    fn queue_gauges_name_state_and_status() {
        let m = Metrics::new();
        let summary = QueueSummary {
            waiting: 5,
            in_progress: 2,
            canceling: 0,
            oldest_waiting: None,
        };
        m.queue(&summary, Duration::from_secs(3));
        let text = m.encode();
        assert!(
            text.contains(r#"bgops_queue_depth{state="ready",status="waiting_for_resources"} 5"#)
        );
        assert!(text.contains(r#"bgops_queue_depth{state="locked",status="in_progress"} 2"#));
        assert!(text.contains("bgops_queue_oldest_waiting_age_seconds 3.0"));
    }
}
