//! Test helpers shared by the end-to-end tests (process harness, Prometheus, OTLP receiver).
#![deny(missing_docs)]

pub mod otlp;
pub mod process;
pub mod prometheus;
