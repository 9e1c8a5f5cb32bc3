//! Shared helpers for the pf benches.
