//! A circuit breaker for a dependency (PostgreSQL, Redis, an HTTP API): after
//! `failure_threshold` consecutive *connection* failures it fails every call at once for a
//! cool-down, then lets exactly one call through as a probe; the probe's success closes it,
//! its failure opens it for another cool-down.
//!
//! Only failures to reach the dependency count (refused, timed out, authentication, a broken
//! connection): an answer the dependency gave, even an error such as a constraint violation,
//! proves it is up and resets the count. The caller says which is which (see
//! [`CircuitBreaker::call`]), because only the caller knows its driver's error type.
//!
//! The breaker keeps the *real* reason of the last failure ([`ConnectFailure`]) and puts it in
//! the error it returns while open, so the line an operator reads says "connection refused",
//! not "circuit open" alone.
//!
//! Its state is a health detail (it is a [`HealthCheck`]: `pass` closed, `warn` open or
//! half-open, with the state, the count and the last reason as details) and, with the
//! `metrics` feature, metrics (it is a `pf_metrics::Collector`):
//!
//! | family | type | labels |
//! |---|---|---|
//! | `pf_health_circuit_breaker_state` | gauge (1 for the current state) | `breaker`, `state` = `closed`/`open`/`half_open` |
//! | `pf_health_circuit_breaker_rejected_total` | counter | `breaker` |
//! | `pf_health_circuit_breaker_failures_total` | counter | `breaker`, `kind` = `refused`/`timed_out`/`authentication`/`other` |
//! | `pf_health_circuit_breaker_opened_total` | counter | `breaker` |
//!
//! ```
//! use std::time::Duration;
//! use pf_health::breaker::{CircuitBreaker, ConnectFailure, FailureKind};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let breaker = CircuitBreaker::new("postgres")
//!     .failure_threshold(2)
//!     .cool_down(Duration::from_secs(5));
//! let refused = || async {
//!     Err::<(), _>(std::io::Error::from(std::io::ErrorKind::ConnectionRefused))
//! };
//! // Every io::Error is a connection failure here; a driver error that carries an answer
//! // from the server would return `None`.
//! let classify = |e: &std::io::Error| Some(ConnectFailure::from_io(e));
//! for _ in 0..2 {
//!     assert!(breaker.call(refused(), classify).await.unwrap_err().is_inner());
//! }
//! // Open: the next call fails at once, without running the future, naming the real reason.
//! let open = breaker.call(refused(), classify).await.unwrap_err();
//! assert!(open.is_open());
//! assert!(open.to_string().contains("connection refused"), "{open}");
//! assert_eq!(breaker.last_failure().unwrap().kind(), FailureKind::Refused);
//! # }
//! ```

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::check::{CheckResult, HealthCheck};

mod error;
mod failure;

pub use error::{BreakerError, BreakerOpen};
pub use failure::{ConnectFailure, FailureKind};

/// The state of a [`CircuitBreaker`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BreakerState {
    /// Calls go through; consecutive connection failures are counted.
    Closed,
    /// Calls fail at once until the cool-down ends.
    Open,
    /// The cool-down ended: one call is (or may be) in flight as a probe, the others fail.
    HalfOpen,
}

impl BreakerState {
    /// `closed`, `open` or `half_open`.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

#[derive(Debug)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant, failures: u32 },
    HalfOpen { probing: bool, failures: u32 },
}

#[derive(Debug)]
struct Inner {
    name: Arc<str>,
    threshold: u32,
    cool_down: Duration,
    state: Mutex<State>,
    last: Mutex<Option<ConnectFailure>>,
    rejected: AtomicU64,
    opened: AtomicU64,
    failures: [AtomicU64; 4],
}

/// A circuit breaker: see the [module documentation](self). Cheap to clone (shared state).
#[derive(Clone, Debug)]
pub struct CircuitBreaker {
    inner: Arc<Inner>,
}

/// Leave to run one call, from [`CircuitBreaker::try_acquire`]. Report how it went with
/// [`success`](Permit::success) or [`failure`](Permit::failure); dropping it unreported (the
/// call was cancelled) counts as neither, and a probe's slot is given back.
#[derive(Debug)]
#[must_use = "report the call's outcome with success() or failure()"]
pub struct Permit {
    breaker: CircuitBreaker,
    probe: bool,
    done: bool,
}

impl Permit {
    /// The dependency answered: closes the breaker and resets the count.
    pub fn success(mut self) {
        self.done = true;
        *self.breaker.inner.state.lock() = State::Closed { failures: 0 };
    }

    /// The dependency could not be reached: counts toward opening (a failed probe opens the
    /// breaker again for a cool-down).
    pub fn failure(mut self, failure: ConnectFailure) {
        self.done = true;
        self.breaker.record_failure(failure, self.probe);
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.done && self.probe {
            let mut state = self.breaker.inner.state.lock();
            if let State::HalfOpen { probing, .. } = &mut *state {
                *probing = false;
            }
        }
    }
}

impl CircuitBreaker {
    /// A breaker named `name` (the `breaker` metric label and the name in its errors): opens
    /// after 5 consecutive connection failures, for a 5 s cool-down.
    pub fn new(name: impl Into<String>) -> Self {
        let name: String = name.into();
        Self {
            inner: Arc::new(Inner {
                name: name.into(),
                threshold: 5,
                cool_down: Duration::from_secs(5),
                state: Mutex::new(State::Closed { failures: 0 }),
                last: Mutex::new(None),
                rejected: AtomicU64::new(0),
                opened: AtomicU64::new(0),
                failures: Default::default(),
            }),
        }
    }

    fn configure(self, f: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = Arc::try_unwrap(self.inner).unwrap_or_else(|shared| Inner {
            name: shared.name.clone(),
            threshold: shared.threshold,
            cool_down: shared.cool_down,
            state: Mutex::new(State::Closed { failures: 0 }),
            last: Mutex::new(None),
            rejected: AtomicU64::new(0),
            opened: AtomicU64::new(0),
            failures: Default::default(),
        });
        f(&mut inner);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Consecutive connection failures that open the breaker (at least 1; default 5).
    pub fn failure_threshold(self, n: u32) -> Self {
        self.configure(|i| i.threshold = n.max(1))
    }

    /// How long the breaker stays open before it lets one probe through (default 5 s).
    pub fn cool_down(self, cool_down: Duration) -> Self {
        self.configure(|i| i.cool_down = cool_down)
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The current state (an open breaker whose cool-down has ended reads as half-open).
    pub fn state(&self) -> BreakerState {
        match &*self.inner.state.lock() {
            State::Closed { .. } => BreakerState::Closed,
            State::Open { until, .. } if Instant::now() < *until => BreakerState::Open,
            State::Open { .. } | State::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// The last connection failure recorded (kept after the breaker closes again).
    pub fn last_failure(&self) -> Option<ConnectFailure> {
        self.inner.last.lock().clone()
    }

    /// Calls refused so far.
    pub fn rejected(&self) -> u64 {
        self.inner.rejected.load(Ordering::Relaxed)
    }

    /// Times the breaker opened so far.
    pub fn opened(&self) -> u64 {
        self.inner.opened.load(Ordering::Relaxed)
    }

    /// Leave to run one call, or [`BreakerOpen`] at once when the breaker is open or its
    /// probe is in flight.
    pub fn try_acquire(&self) -> Result<Permit, BreakerOpen> {
        let now = Instant::now();
        let mut state = self.inner.state.lock();
        let refused = |failures: u32, retry_in: Duration| {
            self.inner.rejected.fetch_add(1, Ordering::Relaxed);
            BreakerOpen {
                breaker: self.inner.name.clone(),
                failures,
                last: self.inner.last.lock().clone(),
                retry_in,
            }
        };
        match &mut *state {
            State::Closed { .. } => Ok(self.permit(false)),
            State::Open { until, failures } => {
                if now < *until {
                    return Err(refused(*failures, *until - now));
                }
                *state = State::HalfOpen {
                    probing: true,
                    failures: *failures,
                };
                Ok(self.permit(true))
            }
            State::HalfOpen { probing, failures } => {
                if *probing {
                    return Err(refused(*failures, Duration::ZERO));
                }
                *probing = true;
                Ok(self.permit(true))
            }
        }
    }

    fn permit(&self, probe: bool) -> Permit {
        Permit {
            breaker: self.clone(),
            probe,
            done: false,
        }
    }

    fn record_failure(&self, failure: ConnectFailure, probe: bool) {
        let kind = FailureKind::ALL
            .iter()
            .position(|k| *k == failure.kind)
            .unwrap_or(3);
        self.inner.failures[kind].fetch_add(1, Ordering::Relaxed);
        *self.inner.last.lock() = Some(failure);
        let mut state = self.inner.state.lock();
        let failures = match &*state {
            State::Closed { failures }
            | State::Open { failures, .. }
            | State::HalfOpen { failures, .. } => failures.saturating_add(1),
        };
        let open = match &*state {
            State::Closed { .. } => failures >= self.inner.threshold,
            // A failed probe (or a call admitted before the breaker opened) keeps it open.
            State::HalfOpen { .. } => probe,
            State::Open { .. } => false,
        };
        if open {
            self.inner.opened.fetch_add(1, Ordering::Relaxed);
            *state = State::Open {
                until: Instant::now() + self.inner.cool_down,
                failures,
            };
        } else {
            match &mut *state {
                State::Closed { failures: f }
                | State::Open { failures: f, .. }
                | State::HalfOpen { failures: f, .. } => *f = failures,
            }
        }
    }

    /// Runs `call` unless the breaker is open. `classify` tells a failure to reach the
    /// dependency (`Some(ConnectFailure)`: counted) from an answer that is an error (`None`:
    /// the dependency is up, the count resets).
    pub async fn call<T, E, F>(
        &self,
        call: F,
        classify: impl FnOnce(&E) -> Option<ConnectFailure>,
    ) -> Result<T, BreakerError<E>>
    where
        F: Future<Output = Result<T, E>>,
    {
        let permit = self.try_acquire().map_err(BreakerError::Open)?;
        match call.await {
            Ok(v) => {
                permit.success();
                Ok(v)
            }
            Err(e) => {
                match classify(&e) {
                    Some(failure) => permit.failure(failure),
                    None => permit.success(),
                }
                Err(BreakerError::Inner(e))
            }
        }
    }
}

/// `pass` when closed; `warn` when open or half-open, with the last failure as output.
/// Details: `state`, `consecutiveFailures`, `rejected`, and `lastFailure` once there was one.
/// Register it non-critical: the dependency's own check says whether the service can work.
impl HealthCheck for CircuitBreaker {
    async fn check(&self) -> CheckResult {
        let state = self.state();
        let failures = match &*self.inner.state.lock() {
            State::Closed { failures }
            | State::Open { failures, .. }
            | State::HalfOpen { failures, .. } => *failures,
        };
        let last = self.last_failure();
        let result = match state {
            BreakerState::Closed => CheckResult::pass(),
            BreakerState::Open | BreakerState::HalfOpen => CheckResult::warn(format!(
                "circuit {}: {}",
                state.as_str(),
                last.as_ref()
                    .map_or_else(|| "no failure recorded".to_owned(), ToString::to_string)
            )),
        };
        let result = result
            .detail("state", state.as_str())
            .detail("consecutiveFailures", failures)
            .detail("rejected", self.rejected());
        match last {
            Some(l) => result.detail("lastFailure", l.to_string()),
            None => result,
        }
    }
}

#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
impl pf_metrics::Collector for CircuitBreaker {
    fn collect(&self, out: &mut pf_metrics::MetricsEncoder<'_>) {
        use pf_metrics::MetricType;
        let name = self.name();
        let state = self.state();
        let mut family = out.family(
            "pf_health_circuit_breaker_state",
            "State of a circuit breaker: 1 for the current state (closed, open, half_open).",
            MetricType::Gauge,
            None,
        );
        for s in [
            BreakerState::Closed,
            BreakerState::Open,
            BreakerState::HalfOpen,
        ] {
            let v = if s == state { 1.0 } else { 0.0 };
            family.gauge(&[("breaker", name), ("state", s.as_str())], v);
        }
        let mut family = out.family(
            "pf_health_circuit_breaker_rejected",
            "Calls a circuit breaker failed at once because it was open.",
            MetricType::Counter,
            None,
        );
        family.counter(&[("breaker", name)], self.rejected() as f64);
        let mut family = out.family(
            "pf_health_circuit_breaker_opened",
            "Times a circuit breaker opened.",
            MetricType::Counter,
            None,
        );
        family.counter(&[("breaker", name)], self.opened() as f64);
        let mut family = out.family(
            "pf_health_circuit_breaker_failures",
            "Connection failures a circuit breaker counted, by kind.",
            MetricType::Counter,
            None,
        );
        for (i, kind) in FailureKind::ALL.iter().enumerate() {
            family.counter(
                &[("breaker", name), ("kind", kind.as_str())],
                self.inner.failures[i].load(Ordering::Relaxed) as f64,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused() -> ConnectFailure {
        ConnectFailure::new(FailureKind::Refused, "os error 111")
    }

    #[test]
    fn opens_after_the_threshold_then_probes_once() {
        let b = CircuitBreaker::new("db")
            .failure_threshold(3)
            .cool_down(Duration::ZERO);
        for _ in 0..2 {
            b.try_acquire().unwrap().failure(refused());
            assert_eq!(b.state(), BreakerState::Closed);
        }
        b.try_acquire().unwrap().failure(refused());
        assert_eq!(b.opened(), 1);
        // Zero cool-down: the next call is the probe, others are refused while it runs.
        let probe = b.try_acquire().unwrap();
        let refused_call = b.try_acquire().unwrap_err();
        assert_eq!(refused_call.retry_in(), Duration::ZERO);
        assert_eq!(
            refused_call.last_failure().unwrap().kind(),
            FailureKind::Refused
        );
        assert_eq!(b.rejected(), 1);
        probe.failure(refused());
        assert_eq!(b.opened(), 2, "a failed probe opens it again");
        let probe = b.try_acquire().unwrap();
        probe.success();
        assert_eq!(b.state(), BreakerState::Closed);
        // The count restarts after a success.
        b.try_acquire().unwrap().failure(refused());
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn an_open_breaker_refuses_until_the_cool_down_ends() {
        let b = CircuitBreaker::new("db")
            .failure_threshold(1)
            .cool_down(Duration::from_secs(3600));
        b.try_acquire().unwrap().failure(refused());
        assert_eq!(b.state(), BreakerState::Open);
        let e = b.try_acquire().unwrap_err();
        assert!(e.retry_in() > Duration::from_secs(3000));
        let text = e.to_string();
        assert!(text.contains("db unavailable"), "{text}");
        assert!(text.contains("connection refused: os error 111"), "{text}");
    }

    #[test]
    fn a_dropped_probe_gives_its_slot_back() {
        let b = CircuitBreaker::new("db")
            .failure_threshold(1)
            .cool_down(Duration::ZERO);
        b.try_acquire().unwrap().failure(refused());
        drop(b.try_acquire().unwrap());
        assert!(b.try_acquire().is_ok(), "the next call probes");
    }

    #[tokio::test]
    async fn answers_that_are_errors_do_not_count() {
        let b = CircuitBreaker::new("db").failure_threshold(1);
        let r: Result<(), _> = b.call(async { Err("syntax error") }, |_| None).await;
        assert!(r.unwrap_err().is_inner());
        assert_eq!(b.state(), BreakerState::Closed);
        let health = b.check().await;
        assert_eq!(health.status(), crate::check::Status::Pass);
        assert_eq!(health.details()["state"], "closed");
    }
}
