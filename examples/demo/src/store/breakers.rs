//! The store's calls to PostgreSQL and Redis through their circuit breakers: fail at once
//! while a dependency cannot be reached, with the real reason.

use std::future::Future;

use pf_health::breaker::{ConnectFailure, FailureKind};
use pf_health::checks::{redis_connect_failure, sqlx_connect_failure};
use pf_log_enrich::db::DbOperation;
use pf_metrics::RepositoryMetrics;

use super::{DB_CONNECT_TIMEOUT, DB_TIMEOUT, Error, Store, sanitize};

impl Store {
    /// Runs one PostgreSQL statement through the circuit breaker, timed and traced. While
    /// the breaker is open the call fails at once with `BreakerOpen` (naming the last real
    /// reason) without touching the pool. A pool that gives up on a connection is asked why
    /// (one direct connection attempt), so the error and the log say "connection refused",
    /// "timed out" or "authentication failed", not "pool timed out".
    pub(super) async fn pg<T>(
        &self,
        metrics: &RepositoryMetrics,
        operation: &'static str,
        sql: &'static str,
        pool: &sqlx::PgPool,
        query: impl Future<Output = Result<T, sqlx::Error>>,
        rows: impl FnOnce(&T) -> Option<u64>,
    ) -> Result<T, Error> {
        let permit = self.instruments.pg_breaker.try_acquire()?;
        let query = async {
            match query.await {
                Ok(v) => Ok(v),
                Err(e) => Err(
                    match sqlx_connect_failure(pool, &e, DB_CONNECT_TIMEOUT).await {
                        Some(failure) => DbError::Unreachable(failure),
                        None => DbError::Query(sanitize(&e)),
                    },
                ),
            }
        };
        let result = metrics
            .time_with_timeout(
                operation,
                DB_TIMEOUT,
                DbOperation::sql("postgresql", sql).run(query, rows),
            )
            .await;
        match result {
            Ok(Ok(v)) => {
                permit.success();
                Ok(v)
            }
            Ok(Err(DbError::Unreachable(failure))) => {
                permit.failure(failure.clone());
                Err(DbError::Unreachable(failure).into())
            }
            Ok(Err(query_error)) => {
                // PostgreSQL answered (with an error): it is up.
                permit.success();
                Err(query_error.into())
            }
            Err(timed_out) => {
                let failure = ConnectFailure::new(FailureKind::TimedOut, timed_out.to_string());
                permit.failure(failure.clone());
                Err(DbError::Unreachable(failure).into())
            }
        }
    }

    /// One Redis command through the breaker: refused at once while it is open; a timeout or
    /// a connection error counts toward opening it, an answer (even an error) closes it.
    pub(super) async fn redis_call<T, Fut, Timeout>(
        &self,
        call: impl FnOnce() -> Fut,
    ) -> Result<T, String>
    where
        Fut: Future<Output = Result<Result<T, redis::RedisError>, Timeout>>,
        Timeout: std::fmt::Display,
    {
        let permit = match self.instruments.redis_breaker.try_acquire() {
            Ok(p) => p,
            Err(open) => return Err(open.to_string()),
        };
        match call().await {
            Ok(Ok(v)) => {
                permit.success();
                Ok(v)
            }
            Ok(Err(e)) => {
                match redis_connect_failure(&e) {
                    Some(failure) => {
                        permit.failure(ConnectFailure::new(failure.kind(), sanitize(&e)))
                    }
                    None => permit.success(),
                }
                Err(sanitize(&e))
            }
            Err(timed_out) => {
                let reason = timed_out.to_string();
                permit.failure(ConnectFailure::new(FailureKind::TimedOut, reason.clone()));
                Err(reason)
            }
        }
    }
}

/// A PostgreSQL call that failed: the server could not be reached, or it answered an error.
#[derive(Debug)]
enum DbError {
    Unreachable(ConnectFailure),
    Query(String),
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbError::Unreachable(failure) => write!(f, "PostgreSQL unreachable: {failure}"),
            DbError::Query(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for DbError {}
