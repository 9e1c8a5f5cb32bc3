//! PostgreSQL checks through the application's own pool: `SELECT 1` (or
//! `pg_is_in_recovery()`), pool saturation reported as `warn`.

use std::time::Instant;

use crate::check::CheckResult;
use pf_http_core::ConfigError;

/// Settings shared by the PostgreSQL checks.
#[derive(Debug, Clone, Copy)]
struct PgSettings {
    warn_utilization: f64,
    require_primary: bool,
}

impl Default for PgSettings {
    fn default() -> Self {
        Self {
            warn_utilization: 1.0,
            require_primary: false,
        }
    }
}

impl PgSettings {
    fn query(&self) -> &'static str {
        if self.require_primary {
            "SELECT pg_is_in_recovery()"
        } else {
            "SELECT 1"
        }
    }

    /// Before querying: a saturated pool is a warning, and querying would only queue behind
    /// the application's own requests.
    fn saturated(&self, in_use: usize, max: usize) -> Option<CheckResult> {
        (max > 0 && in_use >= max).then(|| {
            CheckResult::warn(format!(
                "pool saturated: {in_use} of {max} connections in use"
            ))
            .observe("utilization", utilization(in_use, max), Some("percent"))
            .detail("connectionsInUse", in_use)
            .detail("maxConnections", max)
        })
    }

    fn finish(
        &self,
        started: Instant,
        in_use: usize,
        max: usize,
        in_recovery: bool,
    ) -> CheckResult {
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        let util = utilization(in_use, max);
        let result = if self.require_primary && in_recovery {
            CheckResult::fail("server is in recovery (a read-only standby), a primary is required")
        } else if max > 0 && util >= self.warn_utilization * 100.0 {
            CheckResult::warn(format!("pool busy: {in_use} of {max} connections in use"))
        } else {
            CheckResult::pass()
        };
        result
            .observe(
                "responseTime",
                (latency_ms * 1000.0).round() / 1000.0,
                Some("ms"),
            )
            .observe("utilization", util, Some("percent"))
            .detail("connectionsInUse", in_use)
            .detail("maxConnections", max)
    }
}

fn utilization(in_use: usize, max: usize) -> f64 {
    if max == 0 {
        return 0.0;
    }
    ((in_use as f64 / max as f64) * 1000.0).round() / 10.0
}

fn check_warn_utilization(fraction: f64) -> Result<f64, ConfigError> {
    if fraction > 0.0 && fraction <= 1.0 {
        Ok(fraction)
    } else {
        Err(ConfigError::new(
            "warn_at_utilization",
            format!("expected a fraction in (0, 1], got {fraction}"),
        ))
    }
}

#[cfg(feature = "postgres-sqlx")]
pub use self::sqlx_check::{PgPoolCheck, sqlx_connect_failure};

#[cfg(feature = "postgres-sqlx")]
mod sqlx_check {
    use std::time::Duration;

    use super::*;
    use crate::breaker::{ConnectFailure, FailureKind};
    use crate::check::HealthCheck;

    /// Whether `err`, from a call on `pool`, means PostgreSQL could not be reached, and why:
    /// `Some` for a connection failure (refused, timed out, authentication, a broken
    /// connection), `None` for an answer (a query error: PostgreSQL is up) — the classifier
    /// a [`CircuitBreaker`](crate::breaker::CircuitBreaker) in front of PostgreSQL needs.
    ///
    /// sqlx reports a connection it could not open within the pool's acquire timeout as
    /// "pool timed out" whatever the cause (it retries refused connections until then): on
    /// that error this makes one direct connection attempt, bounded by `connect_timeout`, to
    /// find the cause. If that attempt succeeds the pool was only busy: `None`.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use pf_health::breaker::CircuitBreaker;
    /// use pf_health::checks::sqlx_connect_failure;
    ///
    /// # async fn f(pool: sqlx::PgPool, breaker: CircuitBreaker) -> Result<(), Box<dyn std::error::Error>> {
    /// let permit = breaker.try_acquire()?; // fails at once while the circuit is open
    /// match sqlx::query("SELECT 1").execute(&pool).await {
    ///     Ok(_) => permit.success(),
    ///     Err(e) => match sqlx_connect_failure(&pool, &e, Duration::from_millis(500)).await {
    ///         Some(failure) => permit.failure(failure), // e.g. "connection refused: ..."
    ///         None => permit.success(),                 // PostgreSQL answered an error
    ///     },
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn sqlx_connect_failure(
        pool: &sqlx::PgPool,
        err: &sqlx::Error,
        connect_timeout: Duration,
    ) -> Option<ConnectFailure> {
        use sqlx::ConnectOptions;
        if !matches!(err, sqlx::Error::PoolTimedOut) {
            return unreachable(err);
        }
        let options = pool.connect_options();
        match tokio::time::timeout(connect_timeout, options.connect()).await {
            Err(_) => Some(ConnectFailure::new(
                FailureKind::TimedOut,
                format!(
                    "no answer to a new connection within {} ms",
                    connect_timeout.as_millis()
                ),
            )),
            Ok(Err(e)) => Some(
                unreachable(&e)
                    .unwrap_or_else(|| ConnectFailure::new(FailureKind::Other, e.to_string())),
            ),
            Ok(Ok(conn)) => {
                tokio::spawn(async move {
                    let _ = sqlx::Connection::close(conn).await;
                });
                None
            }
        }
    }

    /// The connection failure an sqlx error stands for, if any.
    fn unreachable(e: &sqlx::Error) -> Option<ConnectFailure> {
        let kind = match e {
            sqlx::Error::Io(io) => FailureKind::of_io(io),
            sqlx::Error::Tls(_) | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => {
                FailureKind::Other
            }
            sqlx::Error::Database(db) => match db.code().as_deref() {
                // invalid_password, invalid_authorization_specification
                Some("28P01" | "28000") => FailureKind::Authentication,
                // admin_shutdown, crash_shutdown, cannot_connect_now (starting or stopping)
                Some("57P01" | "57P02" | "57P03") => FailureKind::Refused,
                _ => return None,
            },
            _ => return None,
        };
        Some(ConnectFailure::new(kind, e.to_string()))
    }

    /// How long the check's own diagnosis of a pool timeout may take.
    const DIAGNOSE_TIMEOUT: Duration = Duration::from_millis(500);

    /// PostgreSQL through an [`sqlx::PgPool`]: borrows a pooled connection for `SELECT 1`
    /// and reports latency (`responseTime`, ms) and pool `utilization` (percent). A pool with
    /// every connection in use is `warn`, not `fail`: the database answers, the application
    /// is just busy.
    ///
    /// ```no_run
    /// use pf_health::{checks::PgPoolCheck, CheckOptions, HealthRegistry};
    ///
    /// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = sqlx::PgPool::connect_lazy("postgres://app@127.0.0.1/app")?;
    /// let registry = HealthRegistry::builder()
    ///     .check("postgres", PgPoolCheck::new(pool).warn_at_utilization(0.9)?, CheckOptions::new())
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "postgres-sqlx")))]
    #[derive(Debug, Clone)]
    pub struct PgPoolCheck {
        pool: sqlx::PgPool,
        settings: PgSettings,
    }

    impl PgPoolCheck {
        /// A check on the application's pool.
        pub fn new(pool: sqlx::PgPool) -> Self {
            Self {
                pool,
                settings: PgSettings::default(),
            }
        }

        /// Warn when at least this fraction of the pool's connections is in use (default 1.0:
        /// only when saturated).
        ///
        /// Errors: a `fraction` outside (0, 1].
        pub fn warn_at_utilization(mut self, fraction: f64) -> Result<Self, ConfigError> {
            self.settings.warn_utilization = check_warn_utilization(fraction)?;
            Ok(self)
        }

        /// Fail when the server is a read-only standby (`pg_is_in_recovery()`).
        pub fn require_primary(mut self, require: bool) -> Self {
            self.settings.require_primary = require;
            self
        }
    }

    impl HealthCheck for PgPoolCheck {
        async fn check(&self) -> CheckResult {
            let max = self.pool.options().get_max_connections() as usize;
            let in_use = (self.pool.size() as usize).saturating_sub(self.pool.num_idle());
            if let Some(result) = self.settings.saturated(in_use, max) {
                return result;
            }
            let started = Instant::now();
            let in_recovery = if self.settings.require_primary {
                sqlx::query_scalar::<_, bool>(self.settings.query())
                    .fetch_one(&self.pool)
                    .await
            } else {
                sqlx::query_scalar::<_, i32>(self.settings.query())
                    .fetch_one(&self.pool)
                    .await
                    .map(|_| false)
            };
            match in_recovery {
                Ok(in_recovery) => self.settings.finish(started, in_use, max, in_recovery),
                // The real reason, not "pool timed out".
                Err(err) => match sqlx_connect_failure(&self.pool, &err, DIAGNOSE_TIMEOUT).await {
                    Some(failure) => CheckResult::fail(format!("postgres: {failure}")),
                    None => CheckResult::fail(format!("postgres: {err}")),
                },
            }
        }

        fn component_type(&self) -> Option<&str> {
            Some("datastore")
        }
    }
}

#[cfg(feature = "postgres-deadpool")]
pub use self::deadpool_check::DeadpoolPostgresCheck;

#[cfg(feature = "postgres-deadpool")]
mod deadpool_check {
    use super::*;
    use crate::check::HealthCheck;

    /// PostgreSQL through a [`deadpool_postgres::Pool`]: the same as
    /// [`PgPoolCheck`](crate::checks::PgPoolCheck) for deadpool.
    ///
    /// ```no_run
    /// use pf_health::{checks::DeadpoolPostgresCheck, CheckOptions, HealthRegistry};
    ///
    /// # fn f(pool: deadpool_postgres::Pool) -> Result<(), Box<dyn std::error::Error>> {
    /// let registry = HealthRegistry::builder()
    ///     .check("postgres", DeadpoolPostgresCheck::new(pool), CheckOptions::new())
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "postgres-deadpool")))]
    #[derive(Clone)]
    pub struct DeadpoolPostgresCheck {
        pool: deadpool_postgres::Pool,
        settings: PgSettings,
    }

    impl std::fmt::Debug for DeadpoolPostgresCheck {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("DeadpoolPostgresCheck")
                .field("status", &self.pool.status())
                .finish_non_exhaustive()
        }
    }

    impl DeadpoolPostgresCheck {
        /// A check on the application's pool.
        pub fn new(pool: deadpool_postgres::Pool) -> Self {
            Self {
                pool,
                settings: PgSettings::default(),
            }
        }

        /// Warn when at least this fraction of the pool's connections is in use (default 1.0).
        ///
        /// Errors: a `fraction` outside (0, 1].
        pub fn warn_at_utilization(mut self, fraction: f64) -> Result<Self, ConfigError> {
            self.settings.warn_utilization = check_warn_utilization(fraction)?;
            Ok(self)
        }

        /// Fail when the server is a read-only standby (`pg_is_in_recovery()`).
        pub fn require_primary(mut self, require: bool) -> Self {
            self.settings.require_primary = require;
            self
        }
    }

    impl HealthCheck for DeadpoolPostgresCheck {
        async fn check(&self) -> CheckResult {
            let status = self.pool.status();
            let in_use = status.size.saturating_sub(status.available);
            if let Some(result) = self.settings.saturated(in_use, status.max_size) {
                return result;
            }
            let started = Instant::now();
            let client = match self.pool.get().await {
                Ok(client) => client,
                Err(err) => return CheckResult::fail(format!("postgres: {err}")),
            };
            let row = client.query_one(self.settings.query(), &[]).await;
            match row {
                Ok(row) => {
                    let in_recovery =
                        self.settings.require_primary && row.try_get::<_, bool>(0).unwrap_or(false);
                    self.settings
                        .finish(started, in_use, status.max_size, in_recovery)
                }
                Err(err) => CheckResult::fail(format!("postgres: {err}")),
            }
        }

        fn component_type(&self) -> Option<&str> {
            Some("datastore")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warn_utilization_outside_zero_one_is_an_error() {
        assert_eq!(check_warn_utilization(0.9), Ok(0.9));
        assert_eq!(check_warn_utilization(1.0), Ok(1.0));
        for bad in [0.0, -0.5, 1.5, f64::NAN] {
            let err = check_warn_utilization(bad).unwrap_err();
            assert_eq!(err.setting(), "warn_at_utilization");
        }
    }
}
