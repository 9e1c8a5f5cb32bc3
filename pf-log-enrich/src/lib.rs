//! `pf-log-enrich`: see the crate README. This crate is being built; its API is not yet stable.
#![deny(missing_docs)]
