//! The [`HealthRegistry`]: registered checks, their options, caching, single-flight runs,
//! thresholds, staleness and background refresh.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use parking_lot::Mutex;
use tokio::sync::watch;

use crate::check::{CheckResult, DynCheck, Erased, HealthCheck, Status, sanitize_output};
use crate::lifecycle::{Lifecycle, Phase};
use crate::report::{CheckReport, HealthReport};

/// When a check runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Run when a probe asks and the cached result is older than `ttl`. Concurrent probes
    /// share one run (single-flight), so a check runs at most once per `ttl`.
    OnDemand {
        /// How long a result is reused.
        ttl: Duration,
    },
    /// Run in the background every `interval` plus a random delay of up to `jitter`; probes
    /// read the latest result and never wait for a run (except for the very first).
    Periodic {
        /// Time between the end of one run and the start of the next.
        interval: Duration,
        /// Upper bound of the random extra delay that spreads runs of many instances.
        jitter: Duration,
    },
}

/// Per-check options.
///
/// Defaults: timeout 1 s, critical, on demand with a 1 s TTL, failure and recovery
/// thresholds 1, stale after 3 periodic intervals.
///
/// ```
/// use std::time::Duration;
/// use pf_health::CheckOptions;
///
/// let options = CheckOptions::new()
///     .timeout(Duration::from_millis(500))
///     .periodic(Duration::from_secs(10))
///     .jitter(Duration::from_secs(1))
///     .failure_threshold(3)
///     .recovery_threshold(2)
///     .group("database");
/// # let _ = options;
/// ```
#[derive(Debug, Clone)]
pub struct CheckOptions {
    pub(crate) timeout: Duration,
    pub(crate) critical: bool,
    pub(crate) groups: Vec<String>,
    pub(crate) mode: Mode,
    pub(crate) failure_threshold: u32,
    pub(crate) recovery_threshold: u32,
    pub(crate) stale_after_intervals: u32,
    pub(crate) component_type: Option<String>,
}

impl Default for CheckOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(1),
            critical: true,
            groups: Vec::new(),
            mode: Mode::OnDemand {
                ttl: Duration::from_secs(1),
            },
            failure_threshold: 1,
            recovery_threshold: 1,
            stale_after_intervals: 3,
            component_type: None,
        }
    }
}

impl CheckOptions {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Longest time one run may take; a slower run is a failure with reason `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Whether the check decides readiness (`true` by default). A failing non-critical check
    /// makes `/health` `warn` and leaves `/readyz` alone.
    pub fn critical(mut self, critical: bool) -> Self {
        self.critical = critical;
        self
    }

    /// Adds the check to a group (served at `/health/<group>`).
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.groups.push(group.into());
        self
    }

    /// Runs on demand, reusing a result for `ttl` (zero: every probe runs it, concurrent
    /// probes still share one run).
    pub fn on_demand(mut self, ttl: Duration) -> Self {
        self.mode = Mode::OnDemand { ttl };
        self
    }

    /// Runs in the background every `interval`.
    pub fn periodic(mut self, interval: Duration) -> Self {
        let jitter = match self.mode {
            Mode::Periodic { jitter, .. } => jitter,
            Mode::OnDemand { .. } => Duration::ZERO,
        };
        self.mode = Mode::Periodic { interval, jitter };
        self
    }

    /// Random extra delay of up to `jitter` between periodic runs (only with
    /// [`periodic`](Self::periodic), call it after).
    pub fn jitter(mut self, jitter: Duration) -> Self {
        if let Mode::Periodic { interval, .. } = self.mode {
            self.mode = Mode::Periodic { interval, jitter };
        }
        self
    }

    /// Consecutive failed runs before a healthy check is reported failing; failures below
    /// the threshold are reported as `warn`.
    pub fn failure_threshold(mut self, runs: u32) -> Self {
        self.failure_threshold = runs;
        self
    }

    /// Consecutive successful runs before a failing check is reported healthy again.
    pub fn recovery_threshold(mut self, runs: u32) -> Self {
        self.recovery_threshold = runs;
        self
    }

    /// For periodic checks: a result older than `intervals` × (interval + jitter) counts as a
    /// failure (runs hang longer than that, or the background task is stuck).
    pub fn stale_after(mut self, intervals: u32) -> Self {
        self.stale_after_intervals = intervals;
        self
    }

    /// The health+json `componentType` (overrides the check's own).
    pub fn component_type(mut self, component_type: impl Into<String>) -> Self {
        self.component_type = Some(component_type.into());
        self
    }

    fn validate(&self, name: &str) -> Result<(), BuildError> {
        let invalid = |reason: String| BuildError::InvalidOptions {
            check: name.to_owned(),
            reason,
        };
        if self.timeout.is_zero() {
            return Err(invalid("timeout must be greater than zero".into()));
        }
        if self.failure_threshold == 0 || self.recovery_threshold == 0 {
            return Err(invalid(
                "failure and recovery thresholds must be at least 1".into(),
            ));
        }
        if let Mode::Periodic { interval, .. } = self.mode {
            if interval.is_zero() {
                return Err(invalid(
                    "periodic interval must be greater than zero".into(),
                ));
            }
            if self.stale_after_intervals == 0 {
                return Err(invalid("stale_after must be at least 1 interval".into()));
            }
        }
        for group in &self.groups {
            if !valid_name(group) {
                return Err(invalid(format!(
                    "group name {group:?} must be 1-64 characters of A-Z a-z 0-9 _ . -"
                )));
            }
        }
        Ok(())
    }
}

/// Why a registry could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// A check name is empty, too long or has characters other than `A-Z a-z 0-9 _ . -`.
    InvalidName(String),
    /// Two checks have the same name.
    DuplicateName(String),
    /// A check's options are inconsistent.
    InvalidOptions {
        /// The check.
        check: String,
        /// What is wrong.
        reason: String,
    },
    /// Periodic checks need a Tokio runtime to run in, and `build` was called outside one.
    NoRuntime,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::InvalidName(name) => write!(
                f,
                "invalid check name {name:?}: use 1-64 characters of A-Z a-z 0-9 _ . -"
            ),
            BuildError::DuplicateName(name) => write!(f, "check {name:?} is registered twice"),
            BuildError::InvalidOptions { check, reason } => {
                write!(f, "invalid options for check {check:?}: {reason}")
            }
            BuildError::NoRuntime => {
                f.write_str("periodic health checks need a Tokio runtime: call build() inside one")
            }
        }
    }
}

impl std::error::Error for BuildError {}

pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Why a run failed, for `pf_health_check_failures_total{reason}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureReason {
    /// The run took longer than the check's timeout.
    Timeout,
    /// The check reported `fail` or panicked.
    Error,
}

impl FailureReason {
    /// `timeout` or `error`.
    pub const fn as_str(self) -> &'static str {
        match self {
            FailureReason::Timeout => "timeout",
            FailureReason::Error => "error",
        }
    }
}

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

type Listener = Arc<dyn Fn(&StatusChange) + Send + Sync>;

/// Duration histogram buckets (seconds) for `pf_health_check_duration_seconds`.
pub(crate) const DURATION_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Per-check counters read by the metrics collector; updated once per run.
#[derive(Debug, Clone, Default)]
pub(crate) struct CheckStats {
    pub(crate) runs: u64,
    pub(crate) failures_timeout: u64,
    pub(crate) failures_error: u64,
    pub(crate) bucket_counts: [u64; DURATION_BUCKETS.len()],
    pub(crate) duration_sum: f64,
    pub(crate) last_success: Option<SystemTime>,
}

/// The outcome of one run after thresholds, as cached.
#[derive(Debug)]
pub(crate) struct Record {
    pub(crate) result: CheckResult,
    pub(crate) raw_status: Status,
    pub(crate) reason: Option<FailureReason>,
    pub(crate) time: SystemTime,
    pub(crate) finished: Instant,
    pub(crate) duration: Duration,
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

pub(crate) struct Slot {
    pub(crate) name: Arc<str>,
    pub(crate) options: CheckOptions,
    pub(crate) component_type: Option<Arc<str>>,
    check: Arc<dyn DynCheck>,
    listeners: Arc<[Listener]>,
    /// Bumped whenever a check's reported status changes (shared by all slots).
    changes: Arc<watch::Sender<u64>>,
    state: Mutex<SlotState>,
}

impl Slot {
    /// The cached record if still usable, else a receiver for a (possibly new) run.
    fn lookup(self: &Arc<Self>) -> Result<Arc<Record>, watch::Receiver<Option<Arc<Record>>>> {
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
    fn trigger(self: &Arc<Self>) -> watch::Receiver<Option<Arc<Record>>> {
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
            stats.runs += 1;
            match reason {
                Some(FailureReason::Timeout) => stats.failures_timeout += 1,
                Some(FailureReason::Error) => stats.failures_error += 1,
                None => stats.last_success = Some(SystemTime::now()),
            }
            let secs = duration.as_secs_f64();
            stats.duration_sum += secs;
            for (bound, count) in DURATION_BUCKETS.iter().zip(stats.bucket_counts.iter_mut()) {
                if secs <= *bound {
                    *count += 1;
                }
            }

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
    fn report(&self, record: Arc<Record>) -> CheckReport {
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
        CheckReport::new(self, record, status, stale_output)
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

async fn wait(rx: &mut watch::Receiver<Option<Arc<Record>>>) -> Arc<Record> {
    match rx.wait_for(Option::is_some).await {
        Ok(record) => record.clone().expect("waited for Some"),
        // The runner task vanished (runtime shutting down): report it rather than hang.
        Err(_) => Arc::new(Record {
            result: CheckResult::fail("check run was aborted"),
            raw_status: Status::Fail,
            reason: Some(FailureReason::Error),
            time: SystemTime::now(),
            finished: Instant::now(),
            duration: Duration::ZERO,
        }),
    }
}

pub(crate) fn fmt_duration(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// Which checks a report covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Critical checks and the lifecycle (`/readyz`).
    Readiness,
    /// Every check and the lifecycle (`/health`).
    All,
    /// The checks of one group (`/health/<group>`).
    Group(String),
}

pub(crate) struct Inner {
    slots: Vec<Arc<Slot>>,
    by_name: HashMap<Arc<str>, usize>,
    groups: Vec<String>,
    lifecycle: Lifecycle,
    background: Vec<tokio::task::JoinHandle<()>>,
    info: ServiceInfo,
    changes: Arc<watch::Sender<u64>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in &self.background {
            task.abort();
        }
    }
}

/// Service metadata shown in health+json (`serviceId`, `version`, `releaseId`, `description`).
#[derive(Debug, Clone, Default)]
pub(crate) struct ServiceInfo {
    pub(crate) service_id: Option<String>,
    pub(crate) version: Option<String>,
    pub(crate) release_id: Option<String>,
    pub(crate) description: Option<String>,
}

/// The set of health checks of one application, with its [`Lifecycle`].
///
/// Cheap to clone (an `Arc`); background tasks of periodic checks stop when the last clone is
/// dropped. Build one with [`HealthRegistry::builder`].
///
/// ```
/// use std::time::Duration;
/// use pf_health::{check_fn, CheckOptions, HealthRegistry, Status};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let registry = HealthRegistry::builder()
///     .check("queue", check_fn(|| async { Status::Pass }), CheckOptions::new())
///     .check(
///         "search",
///         check_fn(|| async { Err::<(), _>("index unavailable") }),
///         CheckOptions::new().critical(false).timeout(Duration::from_millis(200)),
///     )
///     .build()
///     .unwrap();
/// registry.lifecycle().mark_ready();
///
/// let ready = registry.check_readiness().await;
/// assert_eq!(ready.status(), Status::Pass); // "search" is not critical
/// let all = registry.check_all().await;
/// assert_eq!(all.status(), Status::Warn);
/// # }
/// ```
#[derive(Clone)]
pub struct HealthRegistry {
    inner: Arc<Inner>,
}

impl fmt::Debug for HealthRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthRegistry")
            .field("checks", &self.check_names().collect::<Vec<_>>())
            .field("phase", &self.inner.lifecycle.phase())
            .finish()
    }
}

impl HealthRegistry {
    /// Starts building a registry.
    pub fn builder() -> HealthRegistryBuilder {
        HealthRegistryBuilder::default()
    }

    /// The lifecycle (starting → ready → draining) that readiness and startup follow.
    pub fn lifecycle(&self) -> &Lifecycle {
        &self.inner.lifecycle
    }

    /// The names of the registered checks, in registration order.
    pub fn check_names(&self) -> impl Iterator<Item = &str> {
        self.inner.slots.iter().map(|s| &*s.name)
    }

    /// The names of the groups that checks declared.
    pub fn groups(&self) -> &[String] {
        &self.inner.groups
    }

    /// Readiness: the critical checks and the lifecycle (what `/readyz` answers).
    pub async fn check_readiness(&self) -> HealthReport {
        self.report(&Selection::Readiness, &[]).await
    }

    /// Every check and the lifecycle (what `/health` answers): a failing non-critical check
    /// makes the status `warn`.
    pub async fn check_all(&self) -> HealthReport {
        self.report(&Selection::All, &[]).await
    }

    /// The checks of one group; `None` if no check is in that group.
    pub async fn check_group(&self, group: &str) -> Option<HealthReport> {
        if !self.inner.groups.iter().any(|g| g == group) {
            return None;
        }
        Some(self.report(&Selection::Group(group.to_owned()), &[]).await)
    }

    /// Gets one check's result (from cache or by running it); `None` for an unknown name.
    pub async fn check(&self, name: &str) -> Option<CheckReport> {
        let slot = self.inner.slots.get(*self.inner.by_name.get(name)?)?;
        let record = match slot.lookup() {
            Ok(record) => record,
            Err(mut rx) => wait(&mut rx).await,
        };
        Some(slot.report(record))
    }

    /// The latest result of a check without running anything; `None` if unknown or never run.
    pub fn cached(&self, name: &str) -> Option<CheckReport> {
        let slot = self.inner.slots.get(*self.inner.by_name.get(name)?)?;
        slot.cached_report()
    }

    /// Builds a report for `selection`, leaving out the checks named in `exclude`.
    ///
    /// All checks that need a run are started at once and run concurrently; cached results are
    /// reused and concurrent callers share runs.
    pub async fn report(&self, selection: &Selection, exclude: &[&str]) -> HealthReport {
        let selected = self.inner.slots.iter().filter(|slot| {
            let wanted = match selection {
                Selection::Readiness => slot.options.critical,
                Selection::All => true,
                Selection::Group(group) => slot.options.groups.iter().any(|g| g == group),
            };
            wanted && !exclude.contains(&&*slot.name)
        });
        // Start every needed run before waiting on any, so they overlap.
        let lookups: Vec<_> = selected.map(|slot| (slot, slot.lookup())).collect();
        let mut checks = Vec::with_capacity(lookups.len());
        for (slot, lookup) in lookups {
            let record = match lookup {
                Ok(record) => record,
                Err(mut rx) => wait(&mut rx).await,
            };
            checks.push(slot.report(record));
        }
        let lifecycle = match selection {
            Selection::Group(_) => None,
            _ => Some(self.inner.lifecycle.phase()),
        };
        HealthReport::aggregate(checks, lifecycle)
    }

    #[cfg(feature = "metrics")]
    pub(crate) fn downgrade(&self) -> Weak<Inner> {
        Arc::downgrade(&self.inner)
    }

    #[cfg(feature = "metrics")]
    pub(crate) fn from_inner(inner: Arc<Inner>) -> Self {
        Self { inner }
    }

    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) fn slots(&self) -> &[Arc<Slot>] {
        &self.inner.slots
    }

    pub(crate) fn info(&self) -> &ServiceInfo {
        &self.inner.info
    }

    /// Notified whenever a check's reported status changes (the value is a change counter).
    #[cfg_attr(not(feature = "grpc"), allow(dead_code))]
    pub(crate) fn subscribe_changes(&self) -> watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }

    /// Whether the lifecycle lets the application serve (for `/readyz` with no checks).
    pub(crate) fn phase(&self) -> Phase {
        self.inner.lifecycle.phase()
    }
}

/// Builds a [`HealthRegistry`]: see there for an example.
#[derive(Default)]
pub struct HealthRegistryBuilder {
    checks: Vec<(String, Arc<dyn DynCheck>, CheckOptions)>,
    listeners: Vec<Listener>,
    lifecycle: Option<Lifecycle>,
    info: ServiceInfo,
}

impl fmt::Debug for HealthRegistryBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthRegistryBuilder")
            .field(
                "checks",
                &self.checks.iter().map(|c| &c.0).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl HealthRegistryBuilder {
    /// Registers a check under `name` (`A-Z a-z 0-9 _ . -`, at most 64 characters).
    pub fn check(
        mut self,
        name: impl Into<String>,
        check: impl HealthCheck,
        options: CheckOptions,
    ) -> Self {
        self.checks
            .push((name.into(), Arc::new(Erased(check)), options));
        self
    }

    /// Calls `listener` whenever a check's reported status changes (and for its first result).
    /// Keep it quick: it runs on the check's task.
    pub fn on_status_change(
        mut self,
        listener: impl Fn(&StatusChange) + Send + Sync + 'static,
    ) -> Self {
        self.listeners.push(Arc::new(listener));
        self
    }

    /// Uses an existing lifecycle (e.g. one shared with the shutdown code). By default the
    /// registry makes its own, in phase [`Phase::Starting`].
    pub fn lifecycle(mut self, lifecycle: Lifecycle) -> Self {
        self.lifecycle = Some(lifecycle);
        self
    }

    /// health+json `serviceId`.
    pub fn service_id(mut self, id: impl Into<String>) -> Self {
        self.info.service_id = Some(id.into());
        self
    }

    /// health+json `version` (e.g. the major API version).
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.info.version = Some(version.into());
        self
    }

    /// health+json `releaseId` (e.g. the crate version or git commit).
    pub fn release_id(mut self, release: impl Into<String>) -> Self {
        self.info.release_id = Some(release.into());
        self
    }

    /// health+json `description`.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.info.description = Some(description.into());
        self
    }

    /// Validates names and options and starts the background tasks of periodic checks.
    ///
    /// Errors: an invalid or duplicate name, inconsistent options, or periodic checks
    /// outside a Tokio runtime.
    pub fn build(self) -> Result<HealthRegistry, BuildError> {
        let listeners: Arc<[Listener]> = self.listeners.into();
        let changes = Arc::new(watch::Sender::new(0u64));
        let mut slots = Vec::with_capacity(self.checks.len());
        let mut by_name = HashMap::new();
        let mut groups: Vec<String> = Vec::new();
        for (name, check, options) in self.checks {
            if !valid_name(&name) {
                return Err(BuildError::InvalidName(name));
            }
            options.validate(&name)?;
            let name: Arc<str> = name.into();
            if by_name.insert(name.clone(), slots.len()).is_some() {
                return Err(BuildError::DuplicateName(name.to_string()));
            }
            for group in &options.groups {
                if !groups.contains(group) {
                    groups.push(group.clone());
                }
            }
            let component_type = options
                .component_type
                .clone()
                .or_else(|| check.component_type())
                .map(Arc::from);
            slots.push(Arc::new(Slot {
                name,
                options,
                component_type,
                check,
                listeners: listeners.clone(),
                changes: changes.clone(),
                state: Mutex::new(SlotState::default()),
            }));
        }
        let periodic: Vec<_> = slots
            .iter()
            .filter(|s| matches!(s.options.mode, Mode::Periodic { .. }))
            .collect();
        let mut background = Vec::new();
        if !periodic.is_empty() {
            let handle =
                tokio::runtime::Handle::try_current().map_err(|_| BuildError::NoRuntime)?;
            for slot in periodic {
                background.push(handle.spawn(refresh_periodically(Arc::downgrade(slot))));
            }
        }
        Ok(HealthRegistry {
            inner: Arc::new(Inner {
                slots,
                by_name,
                groups,
                lifecycle: self.lifecycle.unwrap_or_default(),
                background,
                info: self.info,
                changes,
            }),
        })
    }
}

/// The background loop of a periodic check; ends when the registry is dropped.
async fn refresh_periodically(slot: Weak<Slot>) {
    loop {
        let (mut rx, interval, jitter) = {
            let Some(slot) = slot.upgrade() else { return };
            let Mode::Periodic { interval, jitter } = slot.options.mode else {
                return;
            };
            (slot.trigger(), interval, jitter)
        };
        wait(&mut rx).await;
        tokio::time::sleep(interval + jitter.mul_f64(random_fraction())).await;
    }
}

/// A random number in [0, 1) without a dependency: `RandomState` is randomly seeded.
fn random_fraction() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    // Every `RandomState::new()` has fresh keys, so hashing anything gives a new number.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u8(0);
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}
