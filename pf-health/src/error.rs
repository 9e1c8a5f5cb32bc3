//! The errors of building a registry ([`BuildError`]) and of setters that refuse a value
//! ([`ConfigError`]).

use std::fmt;

use pf_http_core::ConfigError;

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
