//! Tokio runtime metrics and the scheduling-lag probe.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::runtime::{Handle, RuntimeMetrics};

use crate::encoding::collector::{Collector, MetricsEncoder};
use crate::encoding::format::MetricType;
use crate::storage::series::{Cells, HistogramLayout, observe};

/// Scheduling-lag buckets in seconds. The probe sleeps on Tokio's timer,
/// whose resolution is 1 ms, so an idle runtime lands in the first bucket.
pub const DEFAULT_SCHEDULING_LAG_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Writes a Tokio runtime's metrics from its stable metrics API (no
/// `tokio_unstable` needed), and, when asked, a scheduling-lag histogram:
///
/// | metric | type | meaning |
/// |---|---|---|
/// | `tokio_runtime_workers` | gauge | worker threads |
/// | `tokio_runtime_alive_tasks` | gauge | tasks spawned and not finished |
/// | `tokio_runtime_global_queue_depth` | gauge | tasks waiting in the global (injection) queue |
/// | `tokio_runtime_worker_busy_seconds_total` | counter | time workers spent running tasks, summed over workers |
/// | `tokio_runtime_worker_park_total` | counter | times workers went idle, summed over workers |
/// | `tokio_runtime_scheduling_lag_seconds` | histogram | how late the probe task woke up (with [`scheduling_lag`](Self::scheduling_lag)) |
///
/// The busy ratio, 0 (idle) to 1 (every worker always busy), is
/// `rate(tokio_runtime_worker_busy_seconds_total[5m]) / tokio_runtime_workers`.
///
/// The scheduling lag is the Rust counterpart of Node's event-loop lag: a
/// probe task sleeps until a deadline, and the time between the deadline
/// and the moment the runtime polls it again is recorded. It rises when tasks
/// block worker threads (synchronous I/O, long computations without
/// `spawn_blocking`) or when the runtime is saturated. It is off unless
/// asked for; its cost is one timer wake-up and one histogram observation per
/// interval (a few microseconds of one worker every 250 ms by default, about
/// 0.002 % of a core). The probe stops when the collector is dropped.
///
/// ```
/// use std::time::Duration;
/// use pf_metrics::{Format, MetricsRegistry, RuntimeCollector};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let registry = MetricsRegistry::new();
/// registry.register_collector(
///     RuntimeCollector::current().scheduling_lag(Duration::from_millis(250)),
/// );
/// let text = registry.encode(Format::Prometheus);
/// assert!(text.contains("tokio_runtime_workers 1"));
/// assert!(text.contains("# TYPE tokio_runtime_scheduling_lag_seconds histogram"));
/// # }
/// ```
pub struct RuntimeCollector {
    metrics: RuntimeMetrics,
    handle: Handle,
    lag: Option<Arc<LagHistogram>>,
}

impl std::fmt::Debug for RuntimeCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeCollector")
            .field("workers", &self.metrics.num_workers())
            .field("scheduling_lag", &self.lag.is_some())
            .finish_non_exhaustive()
    }
}

struct LagHistogram {
    cells: Cells,
    layout: HistogramLayout,
    bounds: Box<[u64]>,
    le: &'static [f64],
}

impl RuntimeCollector {
    /// Metrics of the runtime behind `handle`.
    ///
    /// ```
    /// let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    /// let collector = pf_metrics::RuntimeCollector::new(runtime.handle());
    /// # let _ = collector;
    /// ```
    pub fn new(handle: &Handle) -> Self {
        Self {
            metrics: handle.metrics(),
            handle: handle.clone(),
            lag: None,
        }
    }

    /// Metrics of the runtime this is called from.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime, like [`Handle::current`].
    pub fn current() -> Self {
        Self::new(&Handle::current())
    }

    /// Starts the scheduling-lag probe on the runtime: one wake-up every
    /// `interval` (250 ms is a good default; at least 1 ms).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::time::Duration;
    /// let collector = pf_metrics::RuntimeCollector::current().scheduling_lag(Duration::from_millis(250));
    /// # let _ = collector;
    /// # }
    /// ```
    #[must_use]
    pub fn scheduling_lag(mut self, interval: Duration) -> Self {
        let interval = interval.max(Duration::from_millis(1));
        let le = DEFAULT_SCHEDULING_LAG_BUCKETS;
        let lag = Arc::new(LagHistogram {
            // One writer (the probe): one shard.
            cells: Cells::new(HistogramLayout::words(le.len()), 1),
            layout: HistogramLayout {
                offset: 0,
                buckets: le.len(),
            },
            bounds: le.iter().map(|s| (s * 1e9) as u64).collect(),
            le,
        });
        self.handle.spawn(probe(Arc::downgrade(&lag), interval));
        self.lag = Some(lag);
        self
    }
}

/// Sleeps to a deadline, records how late it woke, repeats until the
/// collector is gone.
async fn probe(lag: Weak<LagHistogram>, interval: Duration) {
    loop {
        let deadline = tokio::time::Instant::now() + interval;
        tokio::time::sleep_until(deadline).await;
        let late = tokio::time::Instant::now().saturating_duration_since(deadline);
        let Some(lag) = lag.upgrade() else { return };
        let nanos = u64::try_from(late.as_nanos()).unwrap_or(u64::MAX);
        observe(lag.cells.local(), lag.layout, &lag.bounds, nanos);
    }
}

impl Collector for RuntimeCollector {
    fn collect(&self, out: &mut MetricsEncoder<'_>) {
        let m = &self.metrics;
        let workers = m.num_workers();
        out.family(
            "tokio_runtime_workers",
            "Worker threads of the Tokio runtime.",
            MetricType::Gauge,
            None,
        )
        .gauge(&[], workers as f64);
        out.family(
            "tokio_runtime_alive_tasks",
            "Tasks spawned on the Tokio runtime and not yet finished.",
            MetricType::Gauge,
            None,
        )
        .gauge(&[], m.num_alive_tasks() as f64);
        out.family(
            "tokio_runtime_global_queue_depth",
            "Tasks waiting in the Tokio runtime's global queue.",
            MetricType::Gauge,
            None,
        )
        .gauge(&[], m.global_queue_depth() as f64);
        #[cfg(target_has_atomic = "64")]
        {
            let busy: f64 = (0..workers)
                .map(|w| m.worker_total_busy_duration(w).as_secs_f64())
                .sum();
            out.family(
                "tokio_runtime_worker_busy_seconds",
                "Time the Tokio runtime's workers spent running tasks, summed over workers.",
                MetricType::Counter,
                Some("seconds"),
            )
            .counter(&[], busy);
            let parks: u64 = (0..workers).map(|w| m.worker_park_count(w)).sum();
            out.family(
                "tokio_runtime_worker_park",
                "Times the Tokio runtime's workers parked (went idle), summed over workers.",
                MetricType::Counter,
                None,
            )
            .counter(&[], parks as f64);
        }
        if let Some(lag) = &self.lag {
            let mut cumulative = Vec::with_capacity(lag.le.len());
            let (count, sum) = lag.cells.histogram(lag.layout, &mut cumulative);
            let buckets: Vec<(f64, u64)> = lag
                .le
                .iter()
                .copied()
                .zip(cumulative.iter().copied())
                .collect();
            out.family(
                "tokio_runtime_scheduling_lag_seconds",
                "How late a probe task woke up after its timer deadline: the Tokio counterpart of event-loop lag.",
                MetricType::Histogram,
                Some("seconds"),
            )
            .histogram(&[], &buckets, count, sum as f64 / 1e9);
        }
    }
}
