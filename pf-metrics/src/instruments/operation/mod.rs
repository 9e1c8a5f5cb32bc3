//! Timed operations of a named scope (one repository, one cache): interning of
//! operation names, per-operation sharded storage, recording and exposition.
//!
//! [`RepositoryMetrics`](crate::RepositoryMetrics) and
//! [`CacheMetrics`](crate::CacheMetrics) are thin handles over a [`Scope`];
//! the storage, the lookup and the "record once, even when dropped" guard live
//! here so that both kinds of instrument share them.

mod encode;
mod scope;
mod timed;

pub use scope::DEFAULT_OPERATION_BUCKETS;
pub(crate) use scope::{Ending, OperationConfig, Scope, ScopeKind, Scopes};
pub use timed::OperationTimedOut;
#[cfg(feature = "tokio")]
pub(crate) use timed::timed_with_timeout;
pub(crate) use timed::{result_ending, timed};
