//! Test helpers shared by the end-to-end tests (process harness, Prometheus, OTLP receiver).
#![deny(missing_docs)]

pub mod otlp;
pub mod process;
pub mod prometheus;

/// The workspace README's examples compile as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
