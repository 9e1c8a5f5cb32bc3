//! gRPC health (being built).
