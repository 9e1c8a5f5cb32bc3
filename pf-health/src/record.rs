//! [`Record`]: the cached outcome of one check run, and why a run failed
//! ([`FailureReason`]). Shared by the check slots (which write records) and the reports
//! (which read them).

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::check::{CheckResult, Status};

/// Why a run failed, for `pf_health_check_failures_total{reason}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
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

impl Record {
    /// The record of a run whose task vanished (the runtime is shutting down).
    pub(crate) fn aborted() -> Self {
        Self {
            result: CheckResult::fail("check run was aborted"),
            raw_status: Status::Fail,
            reason: Some(FailureReason::Error),
            time: SystemTime::now(),
            finished: Instant::now(),
            duration: Duration::ZERO,
        }
    }
}
