//! Test helpers shared by the end-to-end tests (process harness, Prometheus, OTLP receiver).
