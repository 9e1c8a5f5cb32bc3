//! Test helpers shared by every test of the workspace, and the workspace-level end-to-end tests.
//!
//! One home for "start a real part and stop it when the test ends": each crate's
//! dev-dependency names the features it uses, so a crate's dev graph holds only what its own
//! tests need (pf-metrics gets neither pf-log-enrich nor an HTTP client crate through it).
//!
//! | module | feature | what |
//! |---|---|---|
//! | [`process`] | always | child processes killed on drop, free ports, polling, scratch dirs, the demo binary |
//! | [`http`] | always | a blocking HTTP/1.1 GET over `std::net` (Prometheus' API, readiness probes) |
//! | [`promtool`] | always | `promtool check metrics` on an exposition |
//! | `loopback` | `loopback` | an axum app on a free 127.0.0.1 port; a raw HTTP/1.1 client |
//! | `prometheus` | `prometheus` | a real Prometheus server scraping loopback targets |
//! | `services` | `services` | a throwaway redis-server and PostgreSQL cluster |
//! | `otlp` | `otlp` | an OTLP receiver speaking gRPC and HTTP/protobuf |
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod http;
#[cfg(feature = "loopback")]
pub mod loopback;
#[cfg(feature = "otlp")]
pub mod otlp;
pub mod process;
#[cfg(feature = "prometheus")]
pub mod prometheus;
pub mod promtool;
#[cfg(feature = "services")]
pub mod services;

/// The workspace README's examples compile as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
