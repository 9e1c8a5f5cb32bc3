//! [`InitError`]: why the logging pipeline could not be built or installed.

use std::error::Error;
use std::fmt;

/// Errors from building or installing the pipeline. The underlying error, when there is
/// one, is the [`source`](Error::source).
///
/// ```
/// use std::error::Error as _;
/// use pf_log_enrich::{InitError, LogConfig, Logging};
/// let config = LogConfig::from_lookup(|k| (k == "RUST_LOG").then(|| "app=notalevel".into()));
/// let Err(error) = Logging::from_config(config).build() else { panic!() };
/// assert!(matches!(error, InitError::Filter(_)));
/// assert!(error.source().is_some());
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum InitError {
    /// `RUST_LOG` could not be parsed.
    Filter(tracing_subscriber::filter::ParseError),
    /// An OTLP exporter could not be built.
    Exporter(Box<dyn Error + Send + Sync + 'static>),
    /// The environment asks for something this build of the crate was compiled without
    /// (`LOG_CLOUD_SHIPPING=true` without the `otlp` feature, `OTEL_EXPORTER_OTLP_PROTOCOL=grpc`
    /// without `grpc`).
    MissingFeature {
        /// The Cargo feature to enable.
        feature: &'static str,
        /// What asked for it (`LOG_CLOUD_SHIPPING=true`, ...).
        wanted_by: &'static str,
    },
    /// A global subscriber was already installed.
    AlreadyInstalled(tracing::subscriber::SetGlobalDefaultError),
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Filter(_) => f.write_str("invalid log filter (RUST_LOG)"),
            Self::Exporter(_) => f.write_str("cannot build the OTLP exporter"),
            Self::MissingFeature { feature, wanted_by } => write!(
                f,
                "{wanted_by} needs pf-log-enrich's `{feature}` feature, which this build does \
                 not have: enable it in Cargo.toml, or unset {wanted_by}"
            ),
            Self::AlreadyInstalled(_) => f.write_str("a global tracing subscriber is already set"),
        }
    }
}

impl Error for InitError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            Self::Filter(e) => Some(e),
            Self::Exporter(e) => Some(&**e),
            Self::AlreadyInstalled(e) => Some(e),
            Self::MissingFeature { .. } => None,
        }
    }
}
