//! [`ConfigError`]: the one error a pf setter returns for a value it refuses.

use std::fmt;

/// A setter refused its value: which setter, and why, with what to change.
///
/// Every pf crate returns this type from its fallible setters (pf-metrics and
/// pf-health re-export it). The message never contains a secret: a refused
/// token is described, never shown.
///
/// ```
/// use pf_http_core::BearerToken;
///
/// let err = BearerToken::new("two words").unwrap_err();
/// assert_eq!(err.setting(), "BearerToken::new");
/// assert!(!err.to_string().contains("two words"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    setting: &'static str,
    reason: String,
}

impl ConfigError {
    /// A refusal by `setting` (the setter's name, e.g. `duration_buckets`).
    /// Not public API: for the pf crates only, outside semver.
    #[doc(hidden)]
    pub fn new(setting: &'static str, reason: impl Into<String>) -> Self {
        Self {
            setting,
            reason: reason.into(),
        }
    }

    /// The setter that refused its value (e.g. `livez_path`).
    pub fn setting(&self) -> &str {
        self.setting
    }

    /// Why, and what to change (without the setter's name).
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.setting, self.reason)
    }
}

/// Every check is on the configuration's own values: there is no underlying
/// error to keep as a source.
impl std::error::Error for ConfigError {}
