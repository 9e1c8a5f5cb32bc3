//! [`Slot`]: one registered check and its state machine: the cached result and its TTL,
//! single-flight runs in their own task with a timeout, failure / recovery thresholds,
//! staleness, status-change listeners and the per-check counters.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::check::{CheckResult, DynCheck, Status};
use crate::options::{CheckOptions, Mode};
use crate::record::{FailureReason, Record};
use crate::report::CheckReport;
use crate::sanitize::sanitize_output;

/// A change of a check's reported status, passed to listeners.
///
/// ```
/// use pf_health::{check_fn, HealthRegistry, Status};
///
/// let registry = HealthRegistry::builder()
///     .check("always", check_fn(|| async { Status::Pass }), Default::default())
///     .on_status_change(|change| {
///         println!("{} went from {:?} to {}", change.check, change.previous, change.current);
///     })
///     .build()
///     .unwrap();
/// # let _ = registry;
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StatusChange {
    /// The check's name.
    pub check: String,
    /// The status reported before; `None` for the first result.
    pub previous: Option<Status>,
    /// The status reported now.
    pub current: Status,
    /// The (sanitised) output of the run that caused the change.
    pub output: Option<String>,
}

/// A status-change listener registered on the builder.
pub(crate) type Listener = Arc<dyn Fn(&StatusChange) + Send + Sync>;

/// Duration histogram buckets (seconds) for `pf_health_check_duration_seconds`.
#[cfg(feature = "metrics")]
const DURATION_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Per-check counters read by the metrics collector; updated once per run.
#[derive(Debug, Clone, Default)]
pub(crate) struct CheckStats {
    pub(crate) failures_timeout: u64,
    pub(crate) failures_error: u64,
    pub(crate) last_success: Option<SystemTime>,
}

#[derive(Default)]
struct SlotState {
    last: Option<Arc<Record>>,
    inflight: Option<watch::Receiver<Option<Arc<Record>>>>,
    consecutive_failures: u32,
    consecutive_successes: u32,
    healthy: Option<bool>,
    stats: CheckStats,
}

/// One registered check: its options, the check itself and its run state.
pub(crate) struct Slot {
    pub(crate) name: Arc<str>,
    pub(crate) options: CheckOptions,
    pub(crate) component_type: Option<Arc<str>>,
    check: Arc<dyn DynCheck>,
    listeners: Arc<[Listener]>,
    /// Bumped whenever a check's reported status changes (shared by all slots).
    changes: Arc<watch::Sender<u64>>,
    state: Mutex<SlotState>,
    /// Run durations for `pf_health_check_duration_seconds`.
    #[cfg(feature = "metrics")]
    pub(crate) durations: pf_metrics::Histogram,
}

impl Slot {
    pub(crate) fn new(
        name: Arc<str>,
        options: CheckOptions,
        check: Arc<dyn DynCheck>,
        listeners: Arc<[Listener]>,
        changes: Arc<watch::Sender<u64>>,
    ) -> Self {
        let component_type = options
            .component_type
            .clone()
            .or_else(|| check.component_type())
            .map(Arc::from);
        Self {
            name,
            options,
            component_type,
            check,
            listeners,
            changes,
            state: Mutex::new(SlotState::default()),
            #[cfg(feature = "metrics")]
            durations: pf_metrics::Histogram::new(&DURATION_BUCKETS)
                .expect("the duration buckets are finite, positive and increasing"),
        }
    }

    /// The cached record if still usable, else a receiver for a (possibly new) run.
    pub(crate) fn lookup(
        self: &Arc<Self>,
    ) -> Result<Arc<Record>, watch::Receiver<Option<Arc<Record>>>> {
        let mut state = self.state.lock();
        if let Some(last) = &state.last {
            let fresh = match self.options.mode {
                Mode::OnDemand { ttl } => last.finished.elapsed() < ttl,
                // Periodic checks are refreshed by their task; staleness is judged at report time.
                Mode::Periodic { .. } => true,
            };
            if fresh {
                return Ok(last.clone());
            }
        }
        Err(self.start_locked(&mut state))
    }

    /// Joins the run in flight or starts one.
    pub(crate) fn trigger(self: &Arc<Self>) -> watch::Receiver<Option<Arc<Record>>> {
        let mut state = self.state.lock();
        self.start_locked(&mut state)
    }

    fn start_locked(
        self: &Arc<Self>,
        state: &mut SlotState,
    ) -> watch::Receiver<Option<Arc<Record>>> {
        if let Some(rx) = &state.inflight {
            return rx.clone();
        }
        let (tx, rx) = watch::channel(None);
        state.inflight = Some(rx.clone());
        // The run lives in its own task so that a probe giving up does not cancel it for the
        // other probes waiting on it.
        tokio::spawn(self.clone().run(tx));
        rx
    }

    async fn run(self: Arc<Self>, tx: watch::Sender<Option<Arc<Record>>>) {
        let time = SystemTime::now();
        let start = Instant::now();
        let mut task = tokio::spawn(self.check.clone().run());
        let timeout = self.options.timeout;
        let (mut result, reason) = match tokio::time::timeout(timeout, &mut task).await {
            Ok(Ok(result)) => {
                let reason = (result.status() == Status::Fail).then_some(FailureReason::Error);
                (result, reason)
            }
            Ok(Err(err)) if err.is_panic() => {
                let payload = err.into_panic();
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                (
                    CheckResult::fail(format!("check panicked: {message}")),
                    Some(FailureReason::Error),
                )
            }
            Ok(Err(_)) => (
                CheckResult::fail("check was cancelled"),
                Some(FailureReason::Error),
            ),
            Err(_) => {
                task.abort();
                (
                    CheckResult::fail(format!("timed out after {}", fmt_duration(timeout))),
                    Some(FailureReason::Timeout),
                )
            }
        };
        let duration = start.elapsed();
        let sanitized = result.output().map(sanitize_output);
        result.set_output(sanitized);
        let raw_status = result.status();

        let (record, change) = {
            let mut state = self.state.lock();
            let raw_healthy = raw_status.is_healthy();
            if raw_healthy {
                state.consecutive_successes = state.consecutive_successes.saturating_add(1);
                state.consecutive_failures = 0;
            } else {
                state.consecutive_failures = state.consecutive_failures.saturating_add(1);
                state.consecutive_successes = 0;
            }
            let healthy = match state.healthy {
                None => raw_healthy,
                Some(true) => {
                    raw_healthy || state.consecutive_failures < self.options.failure_threshold
                }
                Some(false) => {
                    raw_healthy && state.consecutive_successes >= self.options.recovery_threshold
                }
            };
            state.healthy = Some(healthy);
            // Flapping damping: report what the thresholds decided, say why in the output.
            if healthy && !raw_healthy {
                let out = format!(
                    "failing ({} of {} failures before unhealthy): {}",
                    state.consecutive_failures,
                    self.options.failure_threshold,
                    result.output().unwrap_or("")
                );
                result.set_status(Status::Warn);
                result.set_output(Some(sanitize_output(&out)));
            } else if !healthy && raw_healthy {
                let out = format!(
                    "recovering ({} of {} successes before healthy)",
                    state.consecutive_successes, self.options.recovery_threshold
                );
                result.set_status(Status::Fail);
                result.set_output(Some(out));
            }

            let stats = &mut state.stats;
            match reason {
                Some(FailureReason::Timeout) => stats.failures_timeout += 1,
                Some(FailureReason::Error) => stats.failures_error += 1,
                None => stats.last_success = Some(SystemTime::now()),
            }
            #[cfg(feature = "metrics")]
            self.durations.observe(duration);

            let previous = state.last.as_ref().map(|r| r.result.status());
            let record = Arc::new(Record {
                raw_status,
                reason,
                time,
                finished: Instant::now(),
                duration,
                result,
            });
            let change = (previous != Some(record.result.status())).then(|| StatusChange {
                check: self.name.to_string(),
                previous,
                current: record.result.status(),
                output: record.result.output().map(str::to_owned),
            });
            state.last = Some(record.clone());
            state.inflight = None;
            (record, change)
        };
        tx.send_replace(Some(record));
        if let Some(change) = change {
            match change.current {
                Status::Fail => {
                    tracing::warn!(check = %change.check, output = change.output.as_deref().unwrap_or(""), "health check failing")
                }
                _ => {
                    tracing::info!(check = %change.check, status = %change.current, "health check status changed")
                }
            }
            for listener in self.listeners.iter() {
                listener(&change);
            }
            self.changes.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// The report for a record, with staleness applied.
    pub(crate) fn report(&self, record: Arc<Record>) -> CheckReport {
        let mut status = record.result.status();
        let mut stale_output = None;
        if let Mode::Periodic { interval, jitter } = self.options.mode {
            let limit = (interval + jitter) * self.options.stale_after_intervals;
            let age = record.finished.elapsed();
            if age > limit {
                status = Status::Fail;
                stale_output = Some(format!(
                    "stale: last result is {} old (limit {})",
                    fmt_duration(age),
                    fmt_duration(limit)
                ));
            }
        }
        CheckReport::new(
            self.name.clone(),
            self.component_type.clone(),
            self.options.critical,
            record,
            status,
            stale_output,
        )
    }

    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) fn stats(&self) -> (CheckStats, Option<Status>) {
        let state = self.state.lock();
        (
            state.stats.clone(),
            state.last.as_ref().map(|r| r.result.status()),
        )
    }

    pub(crate) fn cached_report(&self) -> Option<CheckReport> {
        let last = self.state.lock().last.clone();
        last.map(|r| self.report(r))
    }
}

/// Waits for the run behind `rx` to finish.
pub(crate) async fn wait(rx: &mut watch::Receiver<Option<Arc<Record>>>) -> Arc<Record> {
    match rx.wait_for(Option::is_some).await {
        Ok(record) => record.clone().expect("waited for Some"),
        // The runner task vanished (runtime shutting down): report it rather than hang.
        Err(_) => Arc::new(Record::aborted()),
    }
}

fn fmt_duration(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{}ms", d.as_millis())
    }
}
