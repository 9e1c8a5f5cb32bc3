//! pf-metrics (being built).
#![deny(missing_docs)]
