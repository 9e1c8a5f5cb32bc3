//! The repository and cache families, written through the collector API.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::scope::{
    CACHE_ENDINGS, Ending, OperationConfig, REPOSITORY_ENDINGS, Scope, ScopeKind, Scopes,
    USED_LOOKUP, USED_WRITE,
};
use crate::encoding::collector::MetricsEncoder;
use crate::encoding::format::MetricType;

impl Scopes {
    /// Writes the repository and cache families (nothing when none exists).
    pub(crate) fn encode(&self, config: &OperationConfig, out: &mut MetricsEncoder<'_>) {
        let list: Vec<Arc<Scope>> = self.list.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let repositories: Vec<&Scope> = list
            .iter()
            .filter(|s| s.kind == ScopeKind::Repository)
            .map(|s| &**s)
            .collect();
        let caches: Vec<&Scope> = list
            .iter()
            .filter(|s| s.kind == ScopeKind::Cache)
            .map(|s| &**s)
            .collect();
        let name = |n: &str| {
            if config.prefix.is_empty() {
                n.to_owned()
            } else {
                format!("{}_{n}", config.prefix)
            }
        };
        let mut cumulative = Vec::with_capacity(config.bounds.len());
        let mut buckets = Vec::with_capacity(config.bounds.len());
        if !repositories.is_empty() {
            let mut family = out.family(
                &name("repository_operation_duration_seconds"),
                "Duration of repository (database) operations by repository, operation and outcome (ok, error, timeout, cancelled).",
                MetricType::Histogram,
                Some("seconds"),
            );
            for scope in &repositories {
                for op in scope.series() {
                    for (index, ending) in REPOSITORY_ENDINGS.iter().enumerate() {
                        let layout = scope.layout.histogram(index);
                        let (count, sum) = op.cells.histogram(layout, &mut cumulative);
                        // ok and error are always written so ratios have both sides.
                        if count == 0 && index > 1 {
                            continue;
                        }
                        buckets.clear();
                        buckets.extend(config.le.iter().copied().zip(cumulative.iter().copied()));
                        family.histogram(
                            &[
                                ("repository", &scope.name),
                                ("operation", &op.name),
                                ("outcome", ending.label()),
                            ],
                            &buckets,
                            count,
                            sum as f64 / 1e9,
                        );
                    }
                }
            }
            let mut family = out.family(
                &name("repository_slow_operations"),
                "Repository operations slower than the slow-operation threshold.",
                MetricType::Counter,
                None,
            );
            for scope in &repositories {
                for op in scope.series() {
                    family.counter(
                        &[("repository", &scope.name), ("operation", &op.name)],
                        op.cells.sum(scope.layout.slow_word()) as f64,
                    );
                }
            }
        }
        if !caches.is_empty() {
            let mut family = out.family(
                &name("cache_operations"),
                "Cache operations by cache, operation and result (hit, miss for lookups; ok for writes; error, timeout, cancelled).",
                MetricType::Counter,
                None,
            );
            for scope in &caches {
                for op in scope.series() {
                    let used = op.used.load(Ordering::Relaxed);
                    for ending in CACHE_ENDINGS {
                        let n = op.cells.sum(ending as usize);
                        let always = match ending {
                            Ending::Hit | Ending::Miss => used & USED_LOOKUP != 0,
                            Ending::Ok => used & USED_WRITE != 0,
                            Ending::Error => true,
                            _ => false,
                        };
                        if n == 0 && !always {
                            continue;
                        }
                        family.counter(
                            &[
                                ("cache_type", &scope.name),
                                ("operation", &op.name),
                                ("result", ending.label()),
                            ],
                            n as f64,
                        );
                    }
                }
            }
            let mut family = out.family(
                &name("cache_operation_duration_seconds"),
                "Duration of cache operations by cache and operation.",
                MetricType::Histogram,
                Some("seconds"),
            );
            for scope in &caches {
                for op in scope.series() {
                    let (count, sum) = op
                        .cells
                        .histogram(scope.layout.cache_histogram(), &mut cumulative);
                    buckets.clear();
                    buckets.extend(config.le.iter().copied().zip(cumulative.iter().copied()));
                    family.histogram(
                        &[("cache_type", &scope.name), ("operation", &op.name)],
                        &buckets,
                        count,
                        sum as f64 / 1e9,
                    );
                }
            }
        }
    }
}
