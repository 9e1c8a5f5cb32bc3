//! The storage of timed operations: one [`Scope`] per repository or cache,
//! operation names interned once, per-operation sharded cells, recording.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::config::OVERFLOW_ROUTE;
use crate::storage::intern::name_hash;
use crate::storage::series::{Cells, HistogramLayout, observe};
use crate::storage::table::{Lookup, SeriesTable};

/// Default operation-duration buckets in seconds: from half a millisecond (a
/// local query) to 10 s. They include the default slow-operation threshold, 0.1 s.
pub const DEFAULT_OPERATION_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// What kind of instrument a scope is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ScopeKind {
    Repository,
    Cache,
}

/// How one call ended: an index into the per-operation result words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Ending {
    Ok = 0,
    Error = 1,
    Timeout = 2,
    Cancelled = 3,
    Hit = 4,
    Miss = 5,
}

impl Ending {
    pub(crate) const fn label(self) -> &'static str {
        match self {
            Ending::Ok => "ok",
            Ending::Error => "error",
            Ending::Timeout => "timeout",
            Ending::Cancelled => "cancelled",
            Ending::Hit => "hit",
            Ending::Miss => "miss",
        }
    }
}

/// Repository outcomes, in exposition order.
pub(super) const REPOSITORY_ENDINGS: [Ending; 4] = [
    Ending::Ok,
    Ending::Error,
    Ending::Timeout,
    Ending::Cancelled,
];
/// Cache results, in exposition order.
pub(super) const CACHE_ENDINGS: [Ending; 6] = [
    Ending::Hit,
    Ending::Miss,
    Ending::Ok,
    Ending::Error,
    Ending::Timeout,
    Ending::Cancelled,
];

/// Set in [`OperationSeries::used`] once an operation has been a cache lookup / write.
pub(super) const USED_LOOKUP: u8 = 1;
pub(super) const USED_WRITE: u8 = 2;

/// Settings shared by every scope of a registry.
pub(crate) struct OperationConfig {
    pub(crate) prefix: String,
    /// Bucket bounds in nanoseconds, and as written (seconds).
    pub(crate) bounds: Box<[u64]>,
    pub(crate) le: Box<[f64]>,
    pub(crate) slow_nanos: u64,
    pub(crate) max_operations: usize,
    pub(crate) shards: usize,
}

/// Word layout of one operation's shard.
///
/// Repository: `[histogram per outcome (4)], slow`. Cache: `[counter per
/// result (6)], histogram`.
#[derive(Clone, Copy)]
pub(super) struct OperationLayout {
    buckets: usize,
}

impl OperationLayout {
    pub(super) fn histogram(self, index: usize) -> HistogramLayout {
        HistogramLayout {
            offset: index * HistogramLayout::words(self.buckets),
            buckets: self.buckets,
        }
    }

    fn repository_words(self) -> usize {
        REPOSITORY_ENDINGS.len() * HistogramLayout::words(self.buckets) + 1
    }

    pub(super) fn slow_word(self) -> usize {
        REPOSITORY_ENDINGS.len() * HistogramLayout::words(self.buckets)
    }

    pub(super) fn cache_histogram(self) -> HistogramLayout {
        HistogramLayout {
            offset: CACHE_ENDINGS.len(),
            buckets: self.buckets,
        }
    }

    fn cache_words(self) -> usize {
        CACHE_ENDINGS.len() + HistogramLayout::words(self.buckets)
    }
}

/// The storage of one operation (`find_by_id`, `get`) of one scope.
pub(crate) struct OperationSeries {
    pub(super) name: Box<str>,
    pub(super) cells: Cells,
    pub(super) used: AtomicU8,
}

impl OperationSeries {
    fn new(name: &str, words: usize, shards: usize) -> Self {
        Self {
            name: name.into(),
            cells: Cells::new(words, shards),
            used: AtomicU8::new(0),
        }
    }
}

/// One repository or one cache: its label, its operations and where to record them.
pub(crate) struct Scope {
    pub(crate) kind: ScopeKind,
    pub(crate) name: Box<str>,
    // Its own handles rather than the registry's `Store`: the registry owns its
    // scopes, and a scope owning the registry back would keep both alive forever.
    config: Arc<OperationConfig>,
    clock: quanta::Clock,
    /// Calls recorded into `overflow` because the operation cap was reached.
    dropped: AtomicU64,
    operations: SeriesTable<OperationSeries>,
    overflow: OperationSeries,
    pub(super) layout: OperationLayout,
}

impl Scope {
    pub(crate) fn new(
        kind: ScopeKind,
        name: &str,
        config: Arc<OperationConfig>,
        clock: quanta::Clock,
    ) -> Self {
        let layout = OperationLayout {
            buckets: config.bounds.len(),
        };
        let words = match kind {
            ScopeKind::Repository => layout.repository_words(),
            ScopeKind::Cache => layout.cache_words(),
        };
        Self {
            kind,
            name: name.into(),
            operations: SeriesTable::with_capacity(config.max_operations),
            overflow: OperationSeries::new(OVERFLOW_ROUTE, words, config.shards),
            layout,
            config,
            clock,
            dropped: AtomicU64::new(0),
        }
    }

    fn words(&self) -> usize {
        match self.kind {
            ScopeKind::Repository => self.layout.repository_words(),
            ScopeKind::Cache => self.layout.cache_words(),
        }
    }

    /// The series of `operation`: one hash of the name and one lock-free probe
    /// once it exists; past the cap, the `__overflow__` series (counted as dropped).
    #[inline]
    pub(crate) fn operation(&self, operation: &str) -> &OperationSeries {
        let mut seed = 0u64;
        loop {
            let key = name_hash(operation, seed);
            let found = self.operations.get_or_insert(key, || {
                OperationSeries::new(operation, self.words(), self.config.shards)
            });
            match found {
                Lookup::Found(s) if *s.name == *operation => return s,
                // A 64-bit collision between two names: probe again.
                Lookup::Found(_) => seed += 1,
                Lookup::Full => {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    return &self.overflow;
                }
            }
        }
    }

    /// Reads the registry's clock (raw ticks).
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        self.clock.raw()
    }

    /// Records one call of `series` that started at `start` (raw ticks).
    #[inline]
    pub(crate) fn finish(&self, series: &OperationSeries, start: u64, ending: Ending) {
        let nanos = self.clock.delta_as_nanos(start, self.clock.raw());
        self.record_nanos(series, nanos, ending);
    }

    /// Records one call of `operation` measured elsewhere (`record` of the public handles).
    pub(crate) fn record(&self, operation: &str, duration: std::time::Duration, ending: Ending) {
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        self.record_nanos(self.operation(operation), nanos, ending);
    }

    /// Records one call that took `nanos`.
    #[inline]
    pub(crate) fn record_nanos(&self, series: &OperationSeries, nanos: u64, ending: Ending) {
        let config = &*self.config;
        let shard = series.cells.local();
        match self.kind {
            ScopeKind::Repository => {
                let index = match ending {
                    Ending::Hit | Ending::Ok => 0,
                    Ending::Miss | Ending::Error => 1,
                    Ending::Timeout => 2,
                    Ending::Cancelled => 3,
                };
                if nanos > config.slow_nanos {
                    shard.add(self.layout.slow_word(), 1);
                }
                observe(shard, self.layout.histogram(index), &config.bounds, nanos);
            }
            ScopeKind::Cache => {
                let used = match ending {
                    Ending::Hit | Ending::Miss => USED_LOOKUP,
                    Ending::Ok => USED_WRITE,
                    _ => 0,
                };
                // A load, not a read-modify-write, on every call after the first.
                if used != 0 && series.used.load(Ordering::Relaxed) & used == 0 {
                    series.used.fetch_or(used, Ordering::Relaxed);
                }
                shard.add(ending as usize, 1);
                observe(shard, self.layout.cache_histogram(), &config.bounds, nanos);
            }
        }
    }

    pub(super) fn series(&self) -> impl Iterator<Item = &OperationSeries> {
        let overflow = self.overflow_has_data().then_some(&self.overflow);
        self.operations.iter().chain(overflow)
    }

    fn overflow_has_data(&self) -> bool {
        (0..self.words()).any(|w| self.overflow.cells.sum(w) != 0)
    }
}

/// Every repository and cache of a registry, in creation order.
#[derive(Default)]
pub(crate) struct Scopes {
    pub(super) list: Mutex<Vec<Arc<Scope>>>,
}

impl Scopes {
    /// The scope of `kind` named `name`, created on first use.
    pub(crate) fn get_or_create(
        &self,
        kind: ScopeKind,
        name: &str,
        config: &Arc<OperationConfig>,
        clock: &quanta::Clock,
    ) -> Arc<Scope> {
        let mut list = self.list.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = list.iter().find(|s| s.kind == kind && *s.name == *name) {
            return s.clone();
        }
        let scope = Arc::new(Scope::new(kind, name, config.clone(), clock.clone()));
        list.push(scope.clone());
        scope
    }

    /// Calls recorded into overflow series, over every scope.
    pub(crate) fn dropped(&self) -> u64 {
        let list = self.list.lock().unwrap_or_else(|p| p.into_inner());
        list.iter()
            .map(|s| s.dropped.load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }
}
