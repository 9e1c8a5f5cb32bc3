//! Per-check options ([`CheckOptions`], [`Mode`]) and the name rules of checks and groups.

use std::time::Duration;

use crate::error::BuildError;

/// When a check runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mode {
    /// Run when a probe asks and the cached result is older than `ttl`. Concurrent probes
    /// share one run (single-flight), so a check runs at most once per `ttl`.
    #[non_exhaustive]
    OnDemand {
        /// How long a result is reused.
        ttl: Duration,
    },
    /// Run in the background every `interval` plus a random delay of up to `jitter`; probes
    /// read the latest result and never wait for a run (except for the very first).
    #[non_exhaustive]
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
#[must_use]
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

    pub(crate) fn validate(&self, name: &str) -> Result<(), BuildError> {
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

/// Whether `name` is a valid check or group name: 1-64 characters of `A-Z a-z 0-9 _ . -`.
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}
