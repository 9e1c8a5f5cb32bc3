//! Database (repository) operation instruments.

use std::sync::Arc;
use std::time::Duration;

use crate::instruments::operation::{Ending, Scope, ScopeKind, result_ending, timed};
use crate::registry::MetricsRegistry;

/// How a repository operation ended, for [`RepositoryMetrics::record`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The operation succeeded (`outcome="ok"`).
    Ok,
    /// The operation failed (`outcome="error"`).
    Error,
    /// The operation ran out of time (`outcome="timeout"`): a statement or
    /// pool-acquire timeout the driver reported.
    Timeout,
}

impl Outcome {
    fn ending(self) -> Ending {
        match self {
            Outcome::Ok => Ending::Ok,
            Outcome::Error => Ending::Error,
            Outcome::Timeout => Ending::Timeout,
        }
    }
}

/// Times the operations of one repository (a table, an aggregate, a DAO):
/// `pivotal_repository_operation_duration_seconds{repository, operation, outcome}`
/// and `pivotal_repository_slow_operations_total{repository, operation}`.
///
/// Get one with [`MetricsRegistry::repository`] when the repository is built
/// and keep it next to the pool; every call is then one line. `outcome` is
/// `ok` or `error` from the call's `Result`, `timeout` when
/// `time_with_timeout`'s limit (feature `tokio`) passes, and
/// `cancelled` when the call's future is dropped before it completes (a
/// timeout around it, a client that went away).
///
/// Once an operation's series exists a call costs two clock reads, one hash
/// of the operation name, a lock-free lookup and a few atomic adds on the
/// calling thread's shard: no lock and no allocation.
///
/// ```
/// use pf_metrics::{Format, MetricsRegistry};
///
/// # async fn find_user(id: i64) -> Result<Option<String>, std::io::Error> { Ok(Some(format!("user-{id}"))) }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), std::io::Error> {
/// let registry = MetricsRegistry::new();
/// let users = registry.repository("users");
///
/// let user = users.time("find_by_id", find_user(7)).await?;
/// assert_eq!(user.as_deref(), Some("user-7"));
///
/// let text = registry.encode(Format::Prometheus);
/// assert!(text.contains(
///     r#"pivotal_repository_operation_duration_seconds_count{repository="users",operation="find_by_id",outcome="ok"} 1"#
/// ));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RepositoryMetrics {
    scope: Arc<Scope>,
}

impl std::fmt::Debug for RepositoryMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepositoryMetrics")
            .field("repository", &self.scope.name)
            .finish_non_exhaustive()
    }
}

impl MetricsRegistry {
    /// The instruments of the repository `name` (the `repository` label);
    /// asking twice for one name gives the same series.
    ///
    /// ```
    /// let registry = pf_metrics::MetricsRegistry::new();
    /// let users = registry.repository("users");
    /// # let _ = users;
    /// ```
    pub fn repository(&self, name: &str) -> RepositoryMetrics {
        RepositoryMetrics {
            scope: self.inner.scopes.get_or_create(
                ScopeKind::Repository,
                name,
                &self.inner.operations,
                &self.inner.clock,
            ),
        }
    }
}

impl RepositoryMetrics {
    /// Times `call` as one `operation` and returns its output; `Ok` counts as
    /// `outcome="ok"`, `Err` as `outcome="error"`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let users = pf_metrics::MetricsRegistry::new().repository("users");
    /// let failed: Result<(), &str> = users.time("insert", async { Err("duplicate key") }).await;
    /// assert!(failed.is_err()); // recorded with outcome="error"
    /// # }
    /// ```
    #[inline]
    pub fn time<'a, F, T, E>(
        &'a self,
        operation: &str,
        call: F,
    ) -> impl Future<Output = Result<T, E>> + 'a
    where
        F: Future<Output = Result<T, E>> + 'a,
    {
        timed(&self.scope, operation, call, result_ending::<T, E>)
    }

    /// [`time`](Self::time) with a deadline: past `limit` the call is
    /// dropped, recorded as `outcome="timeout"`, and
    /// [`OperationTimedOut`](crate::OperationTimedOut) returned. Needs a Tokio
    /// runtime with the time driver (feature `tokio`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::time::Duration;
    ///
    /// let users = pf_metrics::MetricsRegistry::new().repository("users");
    /// let found = users
    ///     .time_with_timeout("find_by_id", Duration::from_secs(2), async { Ok::<_, std::io::Error>(7) })
    ///     .await;
    /// assert_eq!(found.unwrap().unwrap(), 7);
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    #[inline]
    pub fn time_with_timeout<'a, F, T, E>(
        &'a self,
        operation: &str,
        limit: Duration,
        call: F,
    ) -> impl Future<Output = Result<Result<T, E>, crate::instruments::operation::OperationTimedOut>> + 'a
    where
        F: Future<Output = Result<T, E>> + 'a,
    {
        crate::instruments::operation::timed_with_timeout(
            &self.scope,
            operation,
            limit,
            call,
            result_ending::<T, E>,
        )
    }

    /// Records one call measured elsewhere (a synchronous driver, a batch).
    ///
    /// ```
    /// use std::time::Duration;
    /// use pf_metrics::Outcome;
    ///
    /// let users = pf_metrics::MetricsRegistry::new().repository("users");
    /// users.record("vacuum", Outcome::Timeout, Duration::from_secs(30));
    /// ```
    pub fn record(&self, operation: &str, outcome: Outcome, duration: Duration) {
        self.scope.record(operation, duration, outcome.ending());
    }
}
