//! Timing one call: the guard that records it once (even when dropped), and
//! the futures the repository and cache handles return.

use super::scope::{Ending, OperationSeries, Scope};

/// Records a call when dropped unless [`CallGuard::finish`] ran first: a
/// future dropped mid-call (a timeout around it, a client that went away) is
/// counted as `cancelled` instead of vanishing.
pub(crate) struct CallGuard<'a> {
    scope: &'a Scope,
    series: &'a OperationSeries,
    start: u64,
    done: bool,
}

impl<'a> CallGuard<'a> {
    #[inline]
    pub(crate) fn start(scope: &'a Scope, series: &'a OperationSeries) -> Self {
        Self {
            scope,
            series,
            start: scope.now(),
            done: false,
        }
    }

    #[inline]
    pub(crate) fn finish(mut self, ending: Ending) {
        self.done = true;
        self.scope.finish(self.series, self.start, ending);
    }
}

impl Drop for CallGuard<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.scope
                .finish(self.series, self.start, Ending::Cancelled);
        }
    }
}

/// `ok` for `Ok`, `error` for `Err`.
pub(crate) fn result_ending<T, E>(output: &Result<T, E>) -> Ending {
    if output.is_ok() {
        Ending::Ok
    } else {
        Ending::Error
    }
}

/// Times `call` as one call of `operation`, classified by `classify` when it
/// completes; a call dropped before completing is recorded as `cancelled`.
///
/// The operation's series is found before the first poll, so the returned
/// future does not borrow `operation`.
#[inline]
pub(crate) fn timed<'a, F>(
    scope: &'a Scope,
    operation: &str,
    call: F,
    classify: fn(&F::Output) -> Ending,
) -> impl Future<Output = F::Output> + 'a
where
    F: Future + 'a,
{
    let series = scope.operation(operation);
    async move {
        let guard = CallGuard::start(scope, series);
        let output = call.await;
        guard.finish(classify(&output));
        output
    }
}

/// [`timed`] with a deadline: past `limit` the call is dropped, recorded as
/// `timeout`, and [`OperationTimedOut`] returned.
#[cfg(feature = "tokio")]
#[inline]
pub(crate) fn timed_with_timeout<'a, F>(
    scope: &'a Scope,
    operation: &str,
    limit: std::time::Duration,
    call: F,
    classify: fn(&F::Output) -> Ending,
) -> impl Future<Output = Result<F::Output, OperationTimedOut>> + 'a
where
    F: Future + 'a,
{
    let series = scope.operation(operation);
    async move {
        let guard = CallGuard::start(scope, series);
        match tokio::time::timeout(limit, call).await {
            Ok(output) => {
                guard.finish(classify(&output));
                Ok(output)
            }
            Err(_) => {
                guard.finish(Ending::Timeout);
                Err(OperationTimedOut { limit })
            }
        }
    }
}

/// A timed repository or cache call that did not complete within its limit.
///
/// ```
/// # #[cfg(feature = "tokio")]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::time::Duration;
/// use pf_metrics::MetricsRegistry;
///
/// let registry = MetricsRegistry::new();
/// let users = registry.repository("users");
/// let slow = async {
///     tokio::time::sleep(Duration::from_secs(60)).await;
///     Ok::<_, std::io::Error>(())
/// };
/// let err = users
///     .time_with_timeout("find_by_id", Duration::from_millis(10), slow)
///     .await
///     .unwrap_err();
/// assert_eq!(err.to_string(), "operation timed out after 10ms");
/// # }
/// # #[cfg(not(feature = "tokio"))]
/// # fn main() {}
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperationTimedOut {
    limit: std::time::Duration,
}

impl OperationTimedOut {
    /// The limit that passed.
    pub fn limit(&self) -> std::time::Duration {
        self.limit
    }
}

impl std::fmt::Display for OperationTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "operation timed out after {:?}", self.limit)
    }
}

impl std::error::Error for OperationTimedOut {}
