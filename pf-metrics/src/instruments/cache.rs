//! Cache operation instruments.

use std::sync::Arc;
use std::time::Duration;

use crate::instruments::operation::{Ending, Scope, ScopeKind, result_ending, timed};
use crate::registry::MetricsRegistry;

/// How a cache operation ended, for [`CacheMetrics::record`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CacheResult {
    /// A lookup found the key (`result="hit"`).
    Hit,
    /// A lookup did not find the key (`result="miss"`).
    Miss,
    /// A write succeeded (`result="ok"`).
    Ok,
    /// The cache failed (`result="error"`).
    Error,
    /// The cache did not answer in time (`result="timeout"`).
    Timeout,
}

impl CacheResult {
    fn ending(self) -> Ending {
        match self {
            CacheResult::Hit => Ending::Hit,
            CacheResult::Miss => Ending::Miss,
            CacheResult::Ok => Ending::Ok,
            CacheResult::Error => Ending::Error,
            CacheResult::Timeout => Ending::Timeout,
        }
    }
}

/// Counts and times the operations of one cache:
/// `pivotal_cache_operations_total{cache_type, operation, result}` and
/// `pivotal_cache_operation_duration_seconds{cache_type, operation}`.
///
/// `result` is `hit` / `miss` for lookups ([`lookup`](Self::lookup): `Ok(Some)`
/// is a hit, `Ok(None)` a miss), `ok` for writes ([`time`](Self::time)), and
/// `error`, `timeout` or `cancelled` when the call failed, ran out of time or
/// was dropped before completing. The hit rate is a PromQL expression (a
/// recording rule), not a gauge:
/// `sum(rate(pivotal_cache_operations_total{result="hit"}[5m])) /
/// sum(rate(pivotal_cache_operations_total{result=~"hit|miss"}[5m]))`.
///
/// ```
/// use pf_metrics::{Format, MetricsRegistry};
///
/// # async fn redis_get(key: &str) -> Result<Option<String>, std::io::Error> { Ok(None) }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), std::io::Error> {
/// let registry = MetricsRegistry::new();
/// let cache = registry.cache("redis");
///
/// let cached = cache.lookup("get", redis_get("user:7")).await?; // a miss
/// assert!(cached.is_none());
///
/// let text = registry.encode(Format::Prometheus);
/// assert!(text.contains(r#"pivotal_cache_operations_total{cache_type="redis",operation="get",result="miss"} 1"#));
/// assert!(text.contains(r#"pivotal_cache_operations_total{cache_type="redis",operation="get",result="hit"} 0"#));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct CacheMetrics {
    scope: Arc<Scope>,
}

impl std::fmt::Debug for CacheMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheMetrics")
            .field("cache_type", &self.scope.name)
            .finish_non_exhaustive()
    }
}

impl MetricsRegistry {
    /// The instruments of the cache `cache_type` (`redis`, `memory`, ...);
    /// asking twice for one name gives the same series.
    ///
    /// ```
    /// let registry = pf_metrics::MetricsRegistry::new();
    /// let cache = registry.cache("redis");
    /// # let _ = cache;
    /// ```
    pub fn cache(&self, cache_type: &str) -> CacheMetrics {
        CacheMetrics {
            scope: self.inner.scopes.get_or_create(
                ScopeKind::Cache,
                cache_type,
                &self.inner.operations,
                &self.inner.clock,
            ),
        }
    }
}

fn lookup_result<T, E>(output: &Result<Option<T>, E>) -> Ending {
    match output {
        Ok(Some(_)) => Ending::Hit,
        Ok(None) => Ending::Miss,
        Err(_) => Ending::Error,
    }
}

impl CacheMetrics {
    /// Times a lookup and returns its output: `Ok(Some(_))` counts as a hit,
    /// `Ok(None)` as a miss, `Err` as an error.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let cache = pf_metrics::MetricsRegistry::new().cache("memory");
    /// let hit = cache.lookup("get", async { Ok::<_, ()>(Some("cached")) }).await;
    /// assert_eq!(hit, Ok(Some("cached")));
    /// # }
    /// ```
    #[inline]
    pub fn lookup<'a, F, T, E>(
        &'a self,
        operation: &str,
        call: F,
    ) -> impl Future<Output = Result<Option<T>, E>> + 'a
    where
        F: Future<Output = Result<Option<T>, E>> + 'a,
    {
        timed(&self.scope, operation, call, lookup_result::<T, E>)
    }

    /// Times a write (or any call that is not a lookup): `Ok` counts as `ok`,
    /// `Err` as `error`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let cache = pf_metrics::MetricsRegistry::new().cache("memory");
    /// cache.time("set", async { Ok::<_, ()>(()) }).await.unwrap();
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

    /// [`lookup`](Self::lookup) with a deadline: past `limit` the call is
    /// dropped, counted as `result="timeout"`, and
    /// [`OperationTimedOut`](crate::OperationTimedOut) returned, so a frozen
    /// cache degrades to the source of truth instead of hanging the request.
    /// Needs a Tokio runtime with the time driver (feature `tokio`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::time::Duration;
    ///
    /// let cache = pf_metrics::MetricsRegistry::new().cache("redis");
    /// let frozen = std::future::pending::<Result<Option<String>, std::io::Error>>();
    /// let cached = cache.lookup_with_timeout("get", Duration::from_millis(5), frozen).await;
    /// assert!(cached.is_err()); // counted as result="timeout"; read the database instead
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    #[inline]
    pub fn lookup_with_timeout<'a, F, T, E>(
        &'a self,
        operation: &str,
        limit: Duration,
        call: F,
    ) -> impl Future<
        Output = Result<Result<Option<T>, E>, crate::instruments::operation::OperationTimedOut>,
    > + 'a
    where
        F: Future<Output = Result<Option<T>, E>> + 'a,
    {
        crate::instruments::operation::timed_with_timeout(
            &self.scope,
            operation,
            limit,
            call,
            lookup_result::<T, E>,
        )
    }

    /// [`time`](Self::time) with a deadline (feature `tokio`); see
    /// [`lookup_with_timeout`](Self::lookup_with_timeout).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::time::Duration;
    ///
    /// let cache = pf_metrics::MetricsRegistry::new().cache("redis");
    /// let stored = cache.time_with_timeout("set", Duration::from_secs(1), async { Ok::<_, ()>(()) }).await;
    /// assert_eq!(stored, Ok(Ok(())));
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

    /// Records one call measured elsewhere.
    ///
    /// ```
    /// use std::time::Duration;
    /// use pf_metrics::CacheResult;
    ///
    /// let cache = pf_metrics::MetricsRegistry::new().cache("memory");
    /// cache.record("get", CacheResult::Hit, Duration::from_micros(3));
    /// ```
    pub fn record(&self, operation: &str, result: CacheResult, duration: Duration) {
        self.scope.record(operation, duration, result.ending());
    }
}
