//! [`Histogram`]: a standalone lock-free duration histogram with fixed buckets, for
//! instruments a [`Collector`](crate::Collector) writes itself (e.g. pf-health's check
//! durations).

use std::fmt;
use std::time::Duration;

use crate::encoding::collector::FamilyEncoder;
use crate::storage::series::{Cells, HistogramLayout, default_shards, observe};

/// A duration histogram with fixed bucket bounds, recorded without a lock.
///
/// The same storage as the request histograms: per-thread shards of atomic
/// counters, an integer-nanosecond sum, bounds compared in nanoseconds (`le`,
/// inclusive). Observing takes no lock and allocates nothing; a
/// [`snapshot`](Self::snapshot) adds the shards up. Write it from a
/// [`Collector`](crate::Collector) with [`write`](Self::write).
///
/// ```
/// use std::time::Duration;
/// use pf_metrics::{Collector, Format, Histogram, MetricType, MetricsEncoder, MetricsRegistry};
///
/// struct Jobs {
///     durations: Histogram,
/// }
///
/// impl Collector for Jobs {
///     fn collect(&self, out: &mut MetricsEncoder<'_>) {
///         let mut family = out.family(
///             "job_duration_seconds",
///             "Duration of background jobs.",
///             MetricType::Histogram,
///             Some("seconds"),
///         );
///         self.durations.write(&mut family, &[("job", "reindex")]);
///     }
/// }
///
/// let durations = Histogram::new(&[0.1, 0.5, 1.0]).unwrap();
/// durations.observe(Duration::from_millis(80));
/// durations.observe(Duration::from_millis(500)); // `le` is inclusive
/// durations.observe(Duration::from_secs(3));
///
/// let snapshot = durations.snapshot();
/// assert_eq!(snapshot.count(), 3);
/// assert_eq!(snapshot.buckets(), &[(0.1, 1), (0.5, 2), (1.0, 2)]);
/// assert!((snapshot.sum() - 3.58).abs() < 1e-9);
///
/// let registry = MetricsRegistry::new();
/// registry.register_collector(Jobs { durations });
/// let text = registry.encode(Format::Prometheus);
/// assert!(text.contains(r#"job_duration_seconds_bucket{job="reindex",le="0.5"} 2"#));
/// assert!(text.contains(r#"job_duration_seconds_count{job="reindex"} 3"#));
/// ```
pub struct Histogram {
    /// Bounds in seconds, as written (`le`).
    le: Box<[f64]>,
    /// The same bounds in nanoseconds, as compared.
    bounds: Box<[u64]>,
    layout: HistogramLayout,
    cells: Cells,
}

impl fmt::Debug for Histogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Histogram")
            .field("buckets", &self.le)
            .finish_non_exhaustive()
    }
}

impl Histogram {
    /// A histogram with these bucket upper bounds in seconds (the `+Inf` bucket is implied).
    ///
    /// Errors: no bound, a bound that is not finite or not greater than zero, or bounds
    /// that are not strictly increasing (also after rounding to whole nanoseconds).
    ///
    /// ```
    /// use pf_metrics::Histogram;
    ///
    /// assert!(Histogram::new(&[0.005, 0.01, 0.025]).is_ok());
    /// let err = Histogram::new(&[0.5, 0.1]).unwrap_err();
    /// assert!(err.to_string().contains("strictly increasing"));
    /// ```
    pub fn new(buckets: &[f64]) -> Result<Self, BucketsError> {
        if buckets.is_empty() {
            return Err(BucketsError("at least one bucket bound is needed".into()));
        }
        let mut bounds = Vec::with_capacity(buckets.len());
        for &le in buckets {
            if !le.is_finite() || le <= 0.0 {
                return Err(BucketsError(format!(
                    "bucket bound {le} must be a finite number of seconds greater than zero"
                )));
            }
            let nanos = (le * 1e9).round() as u64;
            if let Some(&previous) = bounds.last()
                && nanos <= previous
            {
                return Err(BucketsError(format!(
                    "bucket bounds must be strictly increasing; {le} is not above the bound before it"
                )));
            }
            bounds.push(nanos);
        }
        let layout = HistogramLayout {
            offset: 0,
            buckets: bounds.len(),
        };
        Ok(Self {
            le: buckets.into(),
            bounds: bounds.into(),
            layout,
            cells: Cells::new(HistogramLayout::words(buckets.len()), default_shards()),
        })
    }

    /// Records one duration.
    #[inline]
    pub fn observe(&self, duration: Duration) {
        self.observe_nanos(u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX));
    }

    /// Records one duration given in nanoseconds.
    #[inline]
    pub fn observe_nanos(&self, nanos: u64) {
        observe(self.cells.local(), self.layout, &self.bounds, nanos);
    }

    /// The bucket upper bounds in seconds, without `+Inf`.
    pub fn bounds(&self) -> &[f64] {
        &self.le
    }

    /// The counts so far: cumulative buckets, count and sum.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut cumulative = Vec::with_capacity(self.bounds.len());
        let (count, sum_nanos) = self.cells.histogram(self.layout, &mut cumulative);
        HistogramSnapshot {
            buckets: self.le.iter().copied().zip(cumulative).collect(),
            count,
            sum: sum_nanos as f64 / 1e9,
        }
    }

    /// Writes the histogram as one series of `family` (which must be of type
    /// [`MetricType::Histogram`](crate::MetricType::Histogram)) with `labels`.
    pub fn write(&self, family: &mut FamilyEncoder<'_, '_>, labels: &[(&str, &str)]) {
        let snapshot = self.snapshot();
        family.histogram(labels, &snapshot.buckets, snapshot.count, snapshot.sum);
    }
}

/// The state of a [`Histogram`] at one moment; made by [`Histogram::snapshot`].
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    buckets: Vec<(f64, u64)>,
    count: u64,
    sum: f64,
}

impl HistogramSnapshot {
    /// `(le, cumulative count)` per finite bucket, in order of `le`.
    pub fn buckets(&self) -> &[(f64, u64)] {
        &self.buckets
    }

    /// The number of observations (the `+Inf` bucket).
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The sum of the observations in seconds.
    pub fn sum(&self) -> f64 {
        self.sum
    }
}

/// Bucket bounds that [`Histogram::new`] refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketsError(String);

impl fmt::Display for BucketsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid histogram buckets: {}", self.0)
    }
}

impl std::error::Error for BucketsError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_across_threads_add_up() {
        let h = std::sync::Arc::new(Histogram::new(&[0.001, 0.01]).unwrap());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let h = h.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        h.observe_nanos(1_000_000); // exactly the first bound: le-inclusive
                        h.observe(Duration::from_millis(5));
                        h.observe(Duration::from_secs(1));
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        let s = h.snapshot();
        assert_eq!(s.buckets(), &[(0.001, 4000), (0.01, 8000)]);
        assert_eq!(s.count(), 12_000);
        assert!((s.sum() - 4000.0 * 1.006).abs() < 1e-6, "{}", s.sum());
    }

    #[test]
    fn invalid_bounds_are_refused() {
        assert!(Histogram::new(&[]).is_err());
        assert!(Histogram::new(&[0.0]).is_err());
        assert!(Histogram::new(&[f64::NAN]).is_err());
        assert!(Histogram::new(&[1.0, f64::INFINITY]).is_err());
        assert!(Histogram::new(&[0.1, 0.1]).is_err());
        // Equal once rounded to nanoseconds.
        assert!(Histogram::new(&[1e-10, 2e-10]).is_err());
    }
}
