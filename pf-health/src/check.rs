//! The [`HealthCheck`] trait, its result type and closure helpers.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::Serialize;

/// The status of a check or of a whole report, as in the IETF health+json draft.
///
/// `Pass` and `Warn` answer HTTP 200, `Fail` answers 503.
///
/// ```
/// use pf_health::Status;
///
/// assert!(Status::Warn.is_healthy());
/// assert_eq!(Status::Pass.worst(Status::Fail), Status::Fail);
/// assert_eq!(Status::Warn.as_str(), "warn");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Healthy.
    Pass,
    /// Healthy, with a concern (e.g. a saturated pool): still serves traffic.
    Warn,
    /// Unhealthy.
    Fail,
}

impl Status {
    /// The lowercase name used in health+json and in metric labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }

    /// `true` for `Pass` and `Warn`.
    pub const fn is_healthy(self) -> bool {
        !matches!(self, Status::Fail)
    }

    /// The worse of two statuses (`Fail` > `Warn` > `Pass`).
    pub fn worst(self, other: Status) -> Status {
        self.max(other)
    }

    /// All statuses, in order of severity.
    pub const ALL: [Status; 3] = [Status::Pass, Status::Warn, Status::Fail];
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One measurement a check observed (health+json `observedValue` / `observedUnit`).
///
/// A check may report several; each becomes its own `name:measurement` key in health+json.
///
/// ```
/// use pf_health::Observation;
///
/// let o = Observation::new("responseTime", 1.5, Some("ms"));
/// assert_eq!(o.measurement(), "responseTime");
/// assert_eq!(o.value(), &serde_json::json!(1.5));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    measurement: Cow<'static, str>,
    value: serde_json::Value,
    unit: Option<Cow<'static, str>>,
}

impl Observation {
    /// A measurement name (e.g. `responseTime`, `utilization`), a value and an optional unit.
    pub fn new(
        measurement: impl Into<Cow<'static, str>>,
        value: impl Into<serde_json::Value>,
        unit: Option<&'static str>,
    ) -> Self {
        Self {
            measurement: measurement.into(),
            value: value.into(),
            unit: unit.map(Cow::Borrowed),
        }
    }

    /// The measurement name.
    pub fn measurement(&self) -> &str {
        &self.measurement
    }

    /// The observed value.
    pub fn value(&self) -> &serde_json::Value {
        &self.value
    }

    /// The unit, if any.
    pub fn unit(&self) -> Option<&str> {
        self.unit.as_deref()
    }
}

/// What one run of a [`HealthCheck`] found.
///
/// ```
/// use pf_health::{CheckResult, Status};
///
/// let r = CheckResult::warn("pool 9/10 busy")
///     .observe("utilization", 90.0, Some("percent"))
///     .detail("max_connections", 10);
/// assert_eq!(r.status(), Status::Warn);
/// assert_eq!(r.output(), Some("pool 9/10 busy"));
/// assert_eq!(r.observations().len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CheckResult {
    status: Status,
    output: Option<String>,
    observations: Vec<Observation>,
    details: serde_json::Map<String, serde_json::Value>,
}

impl CheckResult {
    /// A result with `status` and nothing else.
    pub fn new(status: Status) -> Self {
        Self {
            status,
            output: None,
            observations: Vec::new(),
            details: serde_json::Map::new(),
        }
    }

    /// A passing result.
    pub fn pass() -> Self {
        Self::new(Status::Pass)
    }

    /// A warning with a message.
    pub fn warn(output: impl Into<String>) -> Self {
        Self::new(Status::Warn).with_output(output)
    }

    /// A failure with a message.
    ///
    /// The message is sanitised before it is shown: see [`sanitize_output`](crate::sanitize_output).
    pub fn fail(output: impl Into<String>) -> Self {
        Self::new(Status::Fail).with_output(output)
    }

    /// Sets the human-readable output (health+json `output`).
    pub fn with_output(mut self, output: impl Into<String>) -> Self {
        self.output = Some(output.into());
        self
    }

    /// Adds an observation (health+json `observedValue` / `observedUnit`).
    pub fn observe(
        mut self,
        measurement: impl Into<Cow<'static, str>>,
        value: impl Into<serde_json::Value>,
        unit: Option<&'static str>,
    ) -> Self {
        self.observations
            .push(Observation::new(measurement, value, unit));
        self
    }

    /// Adds a free-form detail (shown only to callers allowed to see details).
    pub fn detail(mut self, key: impl Into<String>, value: impl Into<serde_json::Value>) -> Self {
        self.details.insert(key.into(), value.into());
        self
    }

    /// The status.
    pub fn status(&self) -> Status {
        self.status
    }

    /// The output message, if any.
    pub fn output(&self) -> Option<&str> {
        self.output.as_deref()
    }

    /// The observations.
    pub fn observations(&self) -> &[Observation] {
        &self.observations
    }

    /// The details.
    pub fn details(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.details
    }

    pub(crate) fn set_status(&mut self, status: Status) {
        self.status = status;
    }

    pub(crate) fn set_output(&mut self, output: Option<String>) {
        self.output = output;
    }
}

impl From<Status> for CheckResult {
    fn from(status: Status) -> Self {
        CheckResult::new(status)
    }
}

/// `Ok(_)` passes; `Err(e)` fails with `e`'s `Display` as output.
impl<T, E: fmt::Display> From<Result<T, E>> for CheckResult {
    fn from(result: Result<T, E>) -> Self {
        match result {
            Ok(_) => CheckResult::pass(),
            Err(e) => CheckResult::fail(e.to_string()),
        }
    }
}

/// A dependency check: asynchronous, returns a [`CheckResult`].
///
/// The registry runs it with a timeout in its own task, so a hanging check times out, a
/// panicking check counts as a failure and a probe that gives up does not cancel a run other
/// probes wait for.
///
/// ```
/// use pf_health::{CheckResult, HealthCheck};
///
/// struct DiskSpace;
///
/// impl HealthCheck for DiskSpace {
///     async fn check(&self) -> CheckResult {
///         let free_percent = 42.0;
///         CheckResult::pass().observe("free", free_percent, Some("percent"))
///     }
/// }
/// ```
pub trait HealthCheck: Send + Sync + 'static {
    /// Runs the check once.
    fn check(&self) -> impl Future<Output = CheckResult> + Send;

    /// The health+json `componentType` (e.g. `datastore`, `system`); `None` by default.
    fn component_type(&self) -> Option<&str> {
        None
    }
}

impl<C: HealthCheck> HealthCheck for Arc<C> {
    fn check(&self) -> impl Future<Output = CheckResult> + Send {
        (**self).check()
    }

    fn component_type(&self) -> Option<&str> {
        (**self).component_type()
    }
}

/// A [`HealthCheck`] made from a closure returning a future: see [`check_fn`].
#[derive(Clone)]
pub struct CheckFn<F> {
    f: F,
}

impl<F> fmt::Debug for CheckFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckFn").finish_non_exhaustive()
    }
}

/// Makes a [`HealthCheck`] from a closure returning a future whose output converts into a
/// [`CheckResult`] (a `CheckResult`, a [`Status`] or a `Result<_, impl Display>`).
///
/// ```
/// use pf_health::{check_fn, CheckResult, Status};
///
/// let always_ok = check_fn(|| async { Status::Pass });
/// let from_result = check_fn(|| async { Ok::<_, std::io::Error>(()) });
/// let detailed = check_fn(|| async { CheckResult::pass().observe("queueDepth", 3, None) });
/// # let _ = (always_ok, from_result, detailed);
/// ```
pub fn check_fn<F, Fut, R>(f: F) -> CheckFn<F>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: Into<CheckResult>,
{
    CheckFn { f }
}

impl<F, Fut, R> HealthCheck for CheckFn<F>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: Into<CheckResult>,
{
    async fn check(&self) -> CheckResult {
        (self.f)().await.into()
    }
}

/// The object-safe form the registry stores.
pub(crate) type BoxCheckFuture = Pin<Box<dyn Future<Output = CheckResult> + Send + 'static>>;

pub(crate) trait DynCheck: Send + Sync + 'static {
    fn run(self: Arc<Self>) -> BoxCheckFuture;
    fn component_type(&self) -> Option<String>;
}

pub(crate) struct Erased<C>(pub(crate) C);

impl<C: HealthCheck> DynCheck for Erased<C> {
    fn run(self: Arc<Self>) -> BoxCheckFuture {
        Box::pin(async move { self.0.check().await })
    }

    fn component_type(&self) -> Option<String> {
        self.0.component_type().map(str::to_owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_conversions() {
        let r: CheckResult = Err::<(), _>("boom").into();
        assert_eq!(r.status(), Status::Fail);
        assert_eq!(r.output(), Some("boom"));
        let r: CheckResult = Status::Warn.into();
        assert_eq!(r.status(), Status::Warn);
    }
}
