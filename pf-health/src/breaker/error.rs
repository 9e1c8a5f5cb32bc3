//! The errors a circuit breaker returns.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::breaker::failure::ConnectFailure;

/// A call refused because the breaker is open (or half-open with its probe in flight).
#[derive(Clone, Debug)]
pub struct BreakerOpen {
    pub(super) breaker: Arc<str>,
    pub(super) failures: u32,
    pub(super) last: Option<ConnectFailure>,
    pub(super) retry_in: Duration,
}

impl BreakerOpen {
    /// The breaker's name.
    pub fn breaker(&self) -> &str {
        &self.breaker
    }

    /// The failure that opened (or kept open) the breaker.
    pub fn last_failure(&self) -> Option<&ConnectFailure> {
        self.last.as_ref()
    }

    /// Time until the next probe may run (zero while a probe is in flight).
    pub fn retry_in(&self) -> Duration {
        self.retry_in
    }
}

impl fmt::Display for BreakerOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} unavailable (circuit open after {} consecutive connection failures",
            self.breaker, self.failures
        )?;
        if let Some(last) = &self.last {
            write!(f, "; last: {last}")?;
        }
        write!(f, "); next probe in {} ms", self.retry_in.as_millis())
    }
}

impl std::error::Error for BreakerOpen {}

/// What [`CircuitBreaker::call`](crate::breaker::CircuitBreaker::call) returns on failure: the breaker refused the call, or the
/// call ran and failed.
#[derive(Debug)]
pub enum BreakerError<E> {
    /// Refused without running (the breaker is open).
    Open(BreakerOpen),
    /// The call's own error.
    Inner(E),
}

impl<E> BreakerError<E> {
    /// Whether the breaker refused the call.
    pub fn is_open(&self) -> bool {
        matches!(self, BreakerError::Open(_))
    }

    /// Whether the call ran and failed.
    pub fn is_inner(&self) -> bool {
        matches!(self, BreakerError::Inner(_))
    }
}

impl<E: fmt::Display> fmt::Display for BreakerError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BreakerError::Open(o) => o.fmt(f),
            BreakerError::Inner(e) => e.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for BreakerError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BreakerError::Open(o) => Some(o),
            BreakerError::Inner(e) => Some(e),
        }
    }
}
