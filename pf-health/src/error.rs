//! The errors of building a registry ([`BuildError`]) and of setters that refuse a value
//! ([`ConfigError`]).

use std::fmt;

/// Why a registry could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// A check name is empty, too long or has characters other than `A-Z a-z 0-9 _ . -`.
    InvalidName(String),
    /// Two checks have the same name.
    DuplicateName(String),
    /// A check's options are inconsistent.
    InvalidOptions {
        /// The check.
        check: String,
        /// What is wrong.
        reason: String,
    },
    /// Periodic checks need a Tokio runtime to run in, and `build` was called outside one.
    NoRuntime,
    /// A setter refused its value (converted with `?` where a registry is being built).
    Config(ConfigError),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::InvalidName(name) => write!(
                f,
                "invalid check name {name:?}: use 1-64 characters of A-Z a-z 0-9 _ . -"
            ),
            BuildError::DuplicateName(name) => write!(f, "check {name:?} is registered twice"),
            BuildError::InvalidOptions { check, reason } => {
                write!(f, "invalid options for check {check:?}: {reason}")
            }
            BuildError::NoRuntime => {
                f.write_str("periodic health checks need a Tokio runtime: call build() inside one")
            }
            BuildError::Config(_) => f.write_str("invalid health check configuration"),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Config(err) => Some(err),
            _ => None,
        }
    }
}

impl From<ConfigError> for BuildError {
    fn from(err: ConfigError) -> Self {
        BuildError::Config(err)
    }
}

/// A setter refused its value: an endpoint path that is not an absolute path without a query
/// ([`HealthLayer::livez_path`](crate::HealthLayer::livez_path) and the other path setters),
/// or a utilization threshold outside (0, 1] (the PostgreSQL checks'
/// `warn_at_utilization`).
///
/// ```
/// use pf_health::{HealthLayer, HealthRegistry};
///
/// let layer = HealthLayer::new(HealthRegistry::builder().build().unwrap());
/// let err = layer.livez_path("livez").unwrap_err();
/// assert_eq!(err.setting(), "livez_path");
/// assert_eq!(
///     err.to_string(),
///     "livez_path: \"livez\" must start with '/', name more than '/' and have no query or fragment"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    setting: &'static str,
    reason: String,
}

impl ConfigError {
    pub(crate) fn new(setting: &'static str, reason: impl Into<String>) -> Self {
        Self {
            setting,
            reason: reason.into(),
        }
    }

    /// The setter that refused its value (e.g. `livez_path`).
    pub fn setting(&self) -> &str {
        self.setting
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.setting, self.reason)
    }
}

impl std::error::Error for ConfigError {}
