//! Warnings with a limit: at most one line per interval for a recurring failure, the number
//! of lines held back written in the next one (`warnings_suppressed`).
//!
//! One mechanism for the whole family: the OTLP export's failure and queue-full warnings
//! (one limiter each, per signal), the per-operation WARN of [`db`](crate::db) (keyed by
//! operation and error class) and applications' own recurring warnings (the demo's cache
//! failures) all use [`WarnLimiter`] or [`KeyedWarnLimiter`]. Metrics count every failure;
//! the limiter only spares the log.
//!
//! ```
//! use std::time::Duration;
//! use pf_log_enrich::limit::WarnLimiter;
//!
//! static CACHE_DOWN: WarnLimiter = WarnLimiter::new(Duration::from_secs(30));
//!
//! fn cache_failed(reason: &str) {
//!     if let Some(suppressed) = CACHE_DOWN.allow() {
//!         tracing::warn!(reason, warnings_suppressed = suppressed, "cache unavailable");
//!     }
//! }
//! # cache_failed("timed out");
//! ```

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// At most one warning per interval; counts the ones it held back.
#[derive(Debug)]
pub struct WarnLimiter {
    interval: Duration,
    last: Mutex<Option<Instant>>,
    suppressed: AtomicU64,
}

impl WarnLimiter {
    /// A limiter letting one warning through per `interval` (usable in a `static`).
    pub const fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: Mutex::new(None),
            suppressed: AtomicU64::new(0),
        }
    }

    /// Its interval.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// `Some(n)` when a warning may be written now (`n` were held back since the last one:
    /// write it in the line), `None` when one was written less than an interval ago.
    pub fn allow(&self) -> Option<u64> {
        self.allow_at(Instant::now())
    }

    /// [`WarnLimiter::allow`] at a given time (for tests).
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let limiter = pf_log_enrich::limit::WarnLimiter::new(Duration::from_secs(60));
    /// let t0 = Instant::now();
    /// assert_eq!(limiter.allow_at(t0), Some(0));
    /// assert_eq!(limiter.allow_at(t0 + Duration::from_secs(1)), None);
    /// assert_eq!(limiter.allow_at(t0 + Duration::from_secs(61)), Some(1));
    /// ```
    pub fn allow_at(&self, now: Instant) -> Option<u64> {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        match *last {
            Some(at) if now.saturating_duration_since(at) < self.interval => {
                self.suppressed.fetch_add(1, Ordering::Relaxed);
                None
            }
            _ => {
                *last = Some(now);
                Some(self.suppressed.swap(0, Ordering::Relaxed))
            }
        }
    }
}

/// Most keys a [`KeyedWarnLimiter`] tracks apart; past that, new keys share one limiter.
pub const MAX_KEYS: usize = 256;

/// One [`WarnLimiter`] per key (e.g. operation and error class): a new kind of failure is
/// reported at once even while another one is being held back. At most [`MAX_KEYS`] keys are
/// kept apart (the rest share one limiter), so unbounded keys cannot grow memory.
///
/// ```
/// use std::time::{Duration, Instant};
/// use pf_log_enrich::limit::KeyedWarnLimiter;
///
/// let limiter = KeyedWarnLimiter::new(Duration::from_secs(30));
/// let t0 = Instant::now();
/// assert_eq!(limiter.allow_at(("GET", "timeout"), t0), Some(0));
/// assert_eq!(limiter.allow_at(("GET", "timeout"), t0), None);
/// assert_eq!(limiter.allow_at(("GET", "refused"), t0), Some(0), "another class: its own line");
/// assert_eq!(limiter.allow_at(("GET", "timeout"), t0 + Duration::from_secs(30)), Some(1));
/// ```
#[derive(Debug)]
pub struct KeyedWarnLimiter<K> {
    interval: Duration,
    keys: Mutex<HashMap<K, Arc<WarnLimiter>>>,
    overflow: WarnLimiter,
}

impl<K: Hash + Eq> KeyedWarnLimiter<K> {
    /// One warning per key per `interval`.
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            keys: Mutex::new(HashMap::new()),
            overflow: WarnLimiter::new(interval),
        }
    }

    /// [`WarnLimiter::allow`] for `key`.
    pub fn allow(&self, key: K) -> Option<u64> {
        self.allow_at(key, Instant::now())
    }

    /// [`WarnLimiter::allow_at`] for `key`.
    pub fn allow_at(&self, key: K, now: Instant) -> Option<u64> {
        let limiter = {
            let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
            match keys.get(&key) {
                Some(l) => Some(l.clone()),
                None if keys.len() < MAX_KEYS => {
                    let l = Arc::new(WarnLimiter::new(self.interval));
                    keys.insert(key, l.clone());
                    Some(l)
                }
                None => None,
            }
        };
        match limiter {
            Some(l) => l.allow_at(now),
            None => self.overflow.allow_at(now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_allows_one_warning_per_interval_and_counts_the_rest() {
        let limiter = WarnLimiter::new(Duration::from_secs(60));
        let t0 = Instant::now();
        assert_eq!(limiter.allow_at(t0), Some(0));
        assert_eq!(limiter.allow_at(t0 + Duration::from_secs(1)), None);
        assert_eq!(limiter.allow_at(t0 + Duration::from_secs(59)), None);
        assert_eq!(limiter.allow_at(t0 + Duration::from_secs(60)), Some(2));
        assert_eq!(limiter.allow_at(t0 + Duration::from_secs(61)), None);
        assert_eq!(limiter.allow_at(t0 + Duration::from_secs(200)), Some(1));
    }

    #[test]
    fn keys_past_the_bound_share_one_limiter() {
        let limiter = KeyedWarnLimiter::new(Duration::from_secs(60));
        let t0 = Instant::now();
        for k in 0..MAX_KEYS {
            assert_eq!(limiter.allow_at(k, t0), Some(0));
        }
        assert_eq!(limiter.allow_at(MAX_KEYS, t0), Some(0));
        assert_eq!(
            limiter.allow_at(MAX_KEYS + 1, t0),
            None,
            "shares the overflow"
        );
        assert_eq!(limiter.keys.lock().unwrap().len(), MAX_KEYS);
    }
}
