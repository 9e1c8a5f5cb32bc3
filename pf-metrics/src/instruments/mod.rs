//! Instruments beside the HTTP middleware: repository (database) and cache
//! operations, timed with an optional deadline.

pub(crate) mod cache;
pub(crate) mod operation;
pub(crate) mod repository;
