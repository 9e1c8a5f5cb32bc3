//! Health metrics on a [`pf_metrics::MetricsRegistry`], so they appear on the application's
//! `/metrics`:
//!
//! | family | type | labels |
//! |---|---|---|
//! | `pf_health_check_status` | gauge (1 for the current state, 0 otherwise) | `check`, `state` = `pass`/`warn`/`fail`/`unknown` |
//! | `pf_health_check_duration_seconds` | histogram | `check` |
//! | `pf_health_check_failures_total` | counter | `check`, `reason` = `timeout`/`error` |
//! | `pf_health_check_last_success_timestamp_seconds` | gauge (Unix time) | `check` |
//! | `pf_health_lifecycle_phase` | gauge (1 for the current phase) | `phase` = `starting`/`ready`/`draining` |
//!
//! A scrape only reads what the checks' runs recorded: it never runs a check.
//!
//! # `pf_health_check_status` encoding
//!
//! Every check has four series, exactly one of them at 1:
//!
//! | state | 1 when |
//! |---|---|
//! | `pass`, `warn`, `fail` | the check's latest result has this status (after failure / recovery thresholds) |
//! | `unknown` | the check has no result yet (registered, not run: on-demand checks before the first probe, periodic checks before their first run finishes) |
//!
//! So `pf_health_check_status{state="fail"} == 1` alerts on failures only, and
//! `pf_health_check_status{state="unknown"} == 1` for longer than the start-up time finds a
//! check that never ran. `sum by (check) (pf_health_check_status)` is always 1.

use std::sync::Weak;
use std::time::UNIX_EPOCH;

use pf_metrics::{Collector, MetricType, MetricsEncoder, MetricsRegistry};

use crate::check::Status;
use crate::lifecycle::Phase;
use crate::registry::{HealthRegistry, Inner};

/// Writes a health registry's metrics on each scrape; made by [`register`].
///
/// Holds the health registry weakly: dropping the registry stops its metrics (and its
/// background tasks) even though the metrics registry lives on.
#[derive(Debug, Clone)]
pub struct HealthCollector {
    registry: Weak<Inner>,
}

/// Registers `health`'s metrics with `metrics`.
///
/// ```
/// use pf_health::{check_fn, CheckOptions, HealthRegistry, Status};
/// use pf_metrics::{Format, MetricsRegistry};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let health = HealthRegistry::builder()
///     .check("cache", check_fn(|| async { Status::Pass }), CheckOptions::new())
///     .build()
///     .unwrap();
/// let metrics = MetricsRegistry::new();
/// pf_health::metrics::register(&health, &metrics);
/// health.check("cache").await;
/// let text = metrics.encode(Format::Prometheus);
/// assert!(text.contains(r#"pf_health_check_status{check="cache",state="pass"} 1"#));
/// # }
/// ```
pub fn register(health: &HealthRegistry, metrics: &MetricsRegistry) {
    metrics.register_collector(HealthCollector {
        registry: health.downgrade(),
    });
}

impl Collector for HealthCollector {
    fn collect(&self, out: &mut MetricsEncoder<'_>) {
        let Some(inner) = self.registry.upgrade() else {
            return;
        };
        let health = HealthRegistry::from_inner(inner);
        let snapshots: Vec<_> = health
            .slots()
            .iter()
            .map(|slot| {
                let (stats, _) = slot.stats();
                let status = slot.cached_report().map(|r| r.status());
                (slot, stats, status)
            })
            .collect();

        let mut family = out.family(
            "pf_health_check_status",
            "Reported status of a health check: 1 for the current state (pass, warn, fail, or unknown before the first result), 0 for the others.",
            MetricType::Gauge,
            None,
        );
        for (slot, _, status) in &snapshots {
            let name = &*slot.name;
            for state in Status::ALL {
                let value = if *status == Some(state) { 1.0 } else { 0.0 };
                family.gauge(&[("check", name), ("state", state.as_str())], value);
            }
            let unknown = if status.is_none() { 1.0 } else { 0.0 };
            family.gauge(&[("check", name), ("state", "unknown")], unknown);
        }

        let mut family = out.family(
            "pf_health_check_duration_seconds",
            "Duration of health check runs.",
            MetricType::Histogram,
            Some("seconds"),
        );
        for (slot, _, _) in &snapshots {
            slot.durations.write(&mut family, &[("check", &slot.name)]);
        }

        let mut family = out.family(
            "pf_health_check_failures",
            "Failed health check runs by reason (timeout or error).",
            MetricType::Counter,
            None,
        );
        for (slot, stats, _) in &snapshots {
            let name = &*slot.name;
            family.counter(
                &[("check", name), ("reason", "timeout")],
                stats.failures_timeout as f64,
            );
            family.counter(
                &[("check", name), ("reason", "error")],
                stats.failures_error as f64,
            );
        }

        let mut family = out.family(
            "pf_health_check_last_success_timestamp_seconds",
            "Unix time of the last successful run of a health check.",
            MetricType::Gauge,
            Some("seconds"),
        );
        for (slot, stats, _) in &snapshots {
            let name = &*slot.name;
            if let Some(at) = stats.last_success {
                let secs = at
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs_f64();
                family.gauge(&[("check", name)], secs);
            }
        }

        let phase = health.lifecycle().phase();
        let mut family = out.family(
            "pf_health_lifecycle_phase",
            "Application lifecycle phase: 1 for the current one.",
            MetricType::Gauge,
            None,
        );
        for p in [Phase::Starting, Phase::Ready, Phase::Draining] {
            family.gauge(&[("phase", p.as_str())], if p == phase { 1.0 } else { 0.0 });
        }
    }
}
