//! Writing the registry out: Prometheus text and OpenMetrics formats, the
//! collector interface, the exposition of the stored series and the `/metrics`
//! service with its bearer-token protection.

pub(crate) mod auth;
pub(crate) mod collector;
pub(crate) mod endpoint;
pub(crate) mod exposition;
pub(crate) mod format;
pub(crate) mod text;
