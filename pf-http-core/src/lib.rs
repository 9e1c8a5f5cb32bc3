//! The facts about a request that every pf layer needs, worked out one way:
//! the route template ([`RouteExtractor`], [`Route`], `__unmatched__`), the
//! method and status labels ([`method_label`], [`status_class`]), which
//! routes are excluded ([`RouteFilter`]), when and how a response body ended
//! ([`ObservedBody`], [`BodyEnd`]) and which bodies end with their head
//! ([`sent_with_head`]), how a layer hands bodies back ([`AnyBody`], and
//! `AxumBody` with the `axum` feature), which keys hold secrets
//! ([`redact::is_sensitive_key`]), the one bearer-token rule ([`BearerToken`],
//! RFC 6750, compared in constant time) and the one error a setter returns
//! ([`ConfigError`]).
//!
//! `pf-metrics`, `pf-log-enrich` and `pf-health` depend on this crate, in the
//! spirit of `tower-layer` and `metrics-util`. Their request paths never depend
//! on each other; two optional bridges do: pf-log-enrich's `metrics` feature
//! (its export counters on a pf-metrics registry) and pf-health's `metrics`
//! feature (health metrics on a pf-metrics registry) depend on pf-metrics.
//! Items under the hidden `internal` module are shared by the pf crates only
//! and are not part of the public API.
//! Application code rarely needs it directly: its types are re-exported where
//! the layers take them.
//!
//! ```
//! use pf_http_core::{RouteFilter, UNMATCHED_ROUTE, method_label};
//!
//! let excluded = RouteFilter::new(["/metrics", "/internal/*"]);
//! assert!(excluded.matches("/internal/debug"));
//! assert!(!excluded.matches("/api/v1/users/{id}"));
//! assert_eq!(method_label(&http::Method::from_bytes(b"BREW").unwrap()), "_OTHER");
//! assert_eq!(UNMATCHED_ROUTE, "__unmatched__");
//! ```
//!
//! # Features
//!
//! - `axum`: [`MatchedPathRoute`] reads axum's `MatchedPath`; `AxumBody` selects
//!   the layers' axum-native body path.
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod bearer;
mod body;
mod error;
mod filter;
mod method;
pub mod redact;
mod route;

#[doc(hidden)]
pub mod internal {
    //! Not public API: what the pf crates share beyond what users compose
    //! with (method tables, text utilities). Outside semver; for the pf
    //! crates only.
    pub use crate::method::{METHOD_LABELS, method_index};
    pub mod text;
}

pub use bearer::{BearerRefusal, BearerToken};
#[cfg(feature = "axum")]
pub use body::AxumBody;
pub use body::{AnyBody, BodyEnd, ObservedBody, OnBodyEnd, SENT_WITH_HEAD_LIMIT, sent_with_head};
pub use error::ConfigError;
pub use filter::RouteFilter;
pub use method::{method_label, status_class};
pub use route::{MatchedPathRoute, Route, RouteExtractor, UNMATCHED_ROUTE};
