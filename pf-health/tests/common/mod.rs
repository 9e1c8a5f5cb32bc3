//! What pf-health's tests share beyond pf-tests: the project's PostgreSQL and Redis, and an
//! HTTP client. Servers, ports and throwaway dependencies come from pf-tests.
#![allow(dead_code)]

use std::time::Duration;

pub const PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
pub const REDIS_URL: &str = "redis://127.0.0.1:6379";

/// A client without keep-alive reuse, so every request is a new connection.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}
