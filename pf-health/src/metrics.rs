//! Health metrics on a pf-metrics registry (being built).
