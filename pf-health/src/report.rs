//! Reports ([`HealthReport`], [`CheckReport`]) and their `application/health+json` form.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use pf_http_core::internal::text::{SubSecond, rfc3339};

use serde_json::{Map, Value, json};

use crate::check::{CheckResult, Status};
use crate::lifecycle::Phase;
use crate::record::{FailureReason, Record};

/// Service metadata shown in health+json (`serviceId`, `version`, `releaseId`, `description`).
#[derive(Debug, Clone, Default)]
pub(crate) struct ServiceInfo {
    pub(crate) service_id: Option<String>,
    pub(crate) version: Option<String>,
    pub(crate) release_id: Option<String>,
    pub(crate) description: Option<String>,
}

/// The media type of health reports (IETF draft "Health Check Response Format for HTTP APIs").
pub const HEALTH_JSON: &str = "application/health+json";

/// The state of one check in a report.
///
/// ```
/// use pf_health::{check_fn, CheckOptions, HealthRegistry, Status};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let registry = HealthRegistry::builder()
///     .check("cache", check_fn(|| async { Status::Pass }), CheckOptions::new())
///     .build()
///     .unwrap();
/// let report = registry.check("cache").await.unwrap();
/// assert_eq!(report.name(), "cache");
/// assert_eq!(report.status(), Status::Pass);
/// assert!(report.failure_reason().is_none());
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct CheckReport {
    name: Arc<str>,
    component_type: Option<Arc<str>>,
    critical: bool,
    status: Status,
    stale_output: Option<String>,
    record: Arc<Record>,
}

impl CheckReport {
    pub(crate) fn new(
        name: Arc<str>,
        component_type: Option<Arc<str>>,
        critical: bool,
        record: Arc<Record>,
        status: Status,
        stale_output: Option<String>,
    ) -> Self {
        Self {
            name,
            component_type,
            critical,
            status,
            stale_output,
            record,
        }
    }

    /// The check's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The reported status, after thresholds and staleness.
    pub fn status(&self) -> Status {
        self.status
    }

    /// What the last run itself returned, before thresholds and staleness.
    pub fn raw_status(&self) -> Status {
        self.record.raw_status
    }

    /// Why the last run failed (`None` if it did not).
    pub fn failure_reason(&self) -> Option<FailureReason> {
        self.record.reason
    }

    /// The (sanitised) output.
    pub fn output(&self) -> Option<&str> {
        self.stale_output.as_deref().or(self.record.result.output())
    }

    /// The last run's result (observations, details); its output is sanitised.
    pub fn result(&self) -> &CheckResult {
        &self.record.result
    }

    /// How long the last run took.
    pub fn duration(&self) -> Duration {
        self.record.duration
    }

    /// When the last run started.
    pub fn time(&self) -> SystemTime {
        self.record.time
    }

    /// Whether the check decides readiness.
    pub fn is_critical(&self) -> bool {
        self.critical
    }

    /// health+json entries for this check: `(key, [objects])`, one key per observation.
    fn write_json(&self, checks: &mut Map<String, Value>) {
        let result = &self.record.result;
        let time = rfc3339(self.record.time, SubSecond::Millis);
        let mut base = Map::new();
        if let Some(kind) = &self.component_type {
            base.insert("componentType".into(), Value::from(&**kind));
        }
        base.insert("status".into(), Value::from(self.status.as_str()));
        base.insert("time".into(), Value::from(time));
        if self.status != Status::Pass
            && let Some(output) = self.output()
        {
            base.insert("output".into(), Value::from(output));
        }
        if !result.details().is_empty() {
            base.insert("details".into(), Value::Object(result.details().clone()));
        }
        if result.observations().is_empty() {
            // Without its own measurements, a check reports how long the run took.
            let mut entry = base;
            entry.insert(
                "observedValue".into(),
                json!(round3(self.record.duration.as_secs_f64() * 1000.0)),
            );
            entry.insert("observedUnit".into(), Value::from("ms"));
            push(checks, format!("{}:responseTime", self.name), entry);
            return;
        }
        for observation in result.observations() {
            let mut entry = base.clone();
            entry.insert("observedValue".into(), observation.value().clone());
            if let Some(unit) = observation.unit() {
                entry.insert("observedUnit".into(), Value::from(unit));
            }
            push(
                checks,
                format!("{}:{}", self.name, observation.measurement()),
                entry,
            );
        }
    }
}

fn push(checks: &mut Map<String, Value>, key: String, entry: Map<String, Value>) {
    match checks
        .entry(key)
        .or_insert_with(|| Value::Array(Vec::new()))
    {
        Value::Array(list) => list.push(Value::Object(entry)),
        _ => unreachable!("check entries are arrays"),
    }
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// A report over several checks and the lifecycle.
///
/// ```
/// use pf_health::{HealthRegistry, Status};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let registry = HealthRegistry::builder().build().unwrap();
/// let report = registry.check_readiness().await;
/// assert_eq!(report.status(), Status::Fail); // still starting
/// assert_eq!(report.output(), Some("starting"));
/// registry.lifecycle().mark_ready();
/// assert_eq!(registry.check_readiness().await.status(), Status::Pass);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct HealthReport {
    status: Status,
    output: Option<String>,
    checks: Vec<CheckReport>,
}

impl HealthReport {
    /// Critical failures fail the report; non-critical ones only make it `warn` (readiness
    /// holds critical checks only). A phase other than ready fails it.
    pub(crate) fn aggregate(checks: Vec<CheckReport>, phase: Option<Phase>) -> Self {
        let mut status = Status::Pass;
        for check in &checks {
            let effective = match (check.status, check.critical) {
                (Status::Fail, false) => Status::Warn,
                (s, _) => s,
            };
            status = status.worst(effective);
        }
        let mut output = None;
        if let Some(phase) = phase
            && phase != Phase::Ready
        {
            status = Status::Fail;
            output = Some(phase.as_str().to_owned());
        }
        Self {
            status,
            output,
            checks,
        }
    }

    pub(crate) fn from_parts(status: Status, output: Option<String>) -> Self {
        Self {
            status,
            output,
            checks: Vec::new(),
        }
    }

    /// The overall status.
    pub fn status(&self) -> Status {
        self.status
    }

    /// Why the lifecycle fails the report (`starting`, `draining`), if it does.
    pub fn output(&self) -> Option<&str> {
        self.output.as_deref()
    }

    /// The checks, in registration order.
    pub fn checks(&self) -> &[CheckReport] {
        &self.checks
    }

    /// The check named `name`.
    pub fn get(&self, name: &str) -> Option<&CheckReport> {
        self.checks.iter().find(|c| c.name() == name)
    }

    /// The health+json document; `with_checks` adds the `checks` object.
    ///
    /// ```
    /// use pf_health::{check_fn, CheckOptions, CheckResult, HealthRegistry};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let registry = HealthRegistry::builder()
    ///     .check("db", check_fn(|| async { CheckResult::pass().observe("responseTime", 2.5, Some("ms")) }),
    ///            CheckOptions::new())
    ///     .build()
    ///     .unwrap();
    /// registry.lifecycle().mark_ready();
    /// let json = registry.check_all().await.to_json(true);
    /// assert_eq!(json["status"], "pass");
    /// assert_eq!(json["checks"]["db:responseTime"][0]["observedValue"], 2.5);
    /// assert_eq!(json["checks"]["db:responseTime"][0]["observedUnit"], "ms");
    /// # }
    /// ```
    pub fn to_json(&self, with_checks: bool) -> Value {
        self.to_json_with(with_checks, None)
    }

    pub(crate) fn to_json_with(&self, with_checks: bool, info: Option<&ServiceInfo>) -> Value {
        let mut doc = Map::new();
        doc.insert("status".into(), Value::from(self.status.as_str()));
        if let Some(info) = info {
            for (key, value) in [
                ("version", &info.version),
                ("releaseId", &info.release_id),
                ("serviceId", &info.service_id),
                ("description", &info.description),
            ] {
                if let Some(value) = value {
                    doc.insert(key.into(), Value::from(value.as_str()));
                }
            }
        }
        if let Some(output) = &self.output {
            doc.insert("output".into(), Value::from(output.as_str()));
        }
        if with_checks {
            let mut checks = Map::new();
            for check in &self.checks {
                check.write_json(&mut checks);
            }
            doc.insert("checks".into(), Value::Object(checks));
        }
        Value::Object(doc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::time::UNIX_EPOCH;

    /// health+json `time` is RFC 3339 UTC with milliseconds.
    #[test]
    fn rfc3339_formats_known_instants() {
        let ms = |t| rfc3339(t, SubSecond::Millis);
        assert_eq!(ms(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_709_210_096_789); // leap day 2024
        assert_eq!(ms(t), "2024-02-29T12:34:56.789Z");
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(ms(t), "2000-02-29T00:00:00.000Z");
    }
}
