//! Redis check: `PING` on the application's shared connection.

use std::time::Instant;

use redis::aio::ConnectionLike;

use crate::breaker::{ConnectFailure, FailureKind};
use crate::check::{CheckResult, HealthCheck};

/// Whether a Redis error means Redis could not be reached, and why (`None`: an error reply,
/// Redis is up) — the classifier a [`CircuitBreaker`](crate::breaker::CircuitBreaker) in
/// front of Redis needs. The detail is the error's message: keep URLs out of it.
///
/// ```
/// use pf_health::breaker::FailureKind;
/// use pf_health::checks::redis_connect_failure;
/// let refused = redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
/// assert_eq!(redis_connect_failure(&refused).unwrap().kind(), FailureKind::Refused);
/// let reply = redis::RedisError::from((redis::ErrorKind::UnexpectedReturnType, "not a string"));
/// assert!(redis_connect_failure(&reply).is_none());
/// ```
pub fn redis_connect_failure(e: &redis::RedisError) -> Option<ConnectFailure> {
    let kind = if e.is_connection_refusal() {
        FailureKind::Refused
    } else if e.is_timeout() {
        FailureKind::TimedOut
    } else if matches!(e.kind(), redis::ErrorKind::AuthenticationFailed)
        || matches!(e.code(), Some("WRONGPASS" | "NOAUTH" | "NOPERM"))
    {
        FailureKind::Authentication
    } else if e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error() {
        FailureKind::Other
    } else {
        return None;
    };
    Some(ConnectFailure::new(kind, e.to_string()))
}

/// Redis `PING` on the application's shared async connection (a
/// [`ConnectionManager`](redis::aio::ConnectionManager) or a
/// [`MultiplexedConnection`](redis::aio::MultiplexedConnection)); cloning those shares the
/// one connection, so a probe never opens a new one. Reports the round trip as
/// `responseTime` (ms).
///
/// ```no_run
/// use pf_health::{checks::RedisCheck, CheckOptions, HealthRegistry};
///
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// let client = redis::Client::open("redis://127.0.0.1:6379")?;
/// let connection = redis::aio::ConnectionManager::new(client).await?;
/// let registry = HealthRegistry::builder()
///     .check("redis", RedisCheck::new(connection), CheckOptions::new())
///     .build()?;
/// # Ok(()) }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
#[derive(Clone)]
pub struct RedisCheck<C> {
    connection: C,
}

impl<C> std::fmt::Debug for RedisCheck<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCheck").finish_non_exhaustive()
    }
}

impl<C> RedisCheck<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    /// A check on the application's shared connection.
    pub fn new(connection: C) -> Self {
        Self { connection }
    }
}

impl<C> HealthCheck for RedisCheck<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    async fn check(&self) -> CheckResult {
        let mut connection = self.connection.clone();
        let started = Instant::now();
        let reply: Result<String, _> = redis::cmd("PING").query_async(&mut connection).await;
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        match reply {
            Ok(reply) if reply == "PONG" => CheckResult::pass().observe(
                "responseTime",
                (latency_ms * 1000.0).round() / 1000.0,
                Some("ms"),
            ),
            Ok(other) => CheckResult::fail(format!("redis: unexpected PING reply {other:?}")),
            Err(err) => CheckResult::fail(format!("redis: {err}")),
        }
    }

    fn component_type(&self) -> Option<&str> {
        Some("datastore")
    }
}
