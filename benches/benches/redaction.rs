//! The value scan on the request path (issue 21): pf-http-core's `RedactionPolicy` over one
//! request's `url.path`, query string and `User-Agent`, on typical clean inputs (nothing
//! redacted: no allocation) and on inputs holding a secret. The span layer runs exactly these
//! three calls per request.
//!
//! `cargo bench -p pf-benches --bench redaction`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use pf_log_enrich::RedactionPolicy;

const CLEAN: (&str, &str, &str) = (
    "/api/v1/users/550e8400-e29b-41d4-a716-446655440000/projects/42",
    "page=2&per_page=50&sort=-created_at&q=rust",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
     Chrome/120.0.0.0 Safari/537.36",
);

const SECRET: (&str, &str, &str) = (
    "/api/v1/reset/4f9c2a1be3d5f60718293a4b5c6d7e8f90a1b2c3",
    "page=2&q=ghp_Zx8Qw2Lr5Tn7Vb3Mk9Pj4Hs6Ab1Cd2Ef3Gh4&sort=name",
    "MyApp/1.0 (token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk)",
);

fn scan(p: &RedactionPolicy, (path, query, ua): (&str, &str, &str)) -> usize {
    p.redact_path(path).len()
        + p.redact_query(query).len()
        + p.redact_header("user-agent", ua).len()
}

fn redaction(c: &mut Criterion) {
    let p = RedactionPolicy::default();
    assert_eq!(
        scan(&p, CLEAN),
        CLEAN.0.len() + CLEAN.1.len() + CLEAN.2.len()
    );
    assert!(scan(&p, SECRET) < SECRET.0.len() + SECRET.1.len() + SECRET.2.len());
    let mut g = c.benchmark_group("redaction");
    g.bench_function("request_clean", |b| b.iter(|| scan(&p, black_box(CLEAN))));
    g.bench_function("request_secret", |b| b.iter(|| scan(&p, black_box(SECRET))));
    g.bench_function("path_clean", |b| {
        b.iter(|| p.redact_path(black_box(CLEAN.0)).len())
    });
    g.bench_function("query_clean", |b| {
        b.iter(|| p.redact_query(black_box(CLEAN.1)).len())
    });
    g.bench_function("user_agent_clean", |b| {
        b.iter(|| p.redact_header("user-agent", black_box(CLEAN.2)).len())
    });
    g.bench_function("path_secret", |b| {
        b.iter(|| p.redact_path(black_box(SECRET.0)).len())
    });
    g.bench_function("query_secret", |b| {
        b.iter(|| p.redact_query(black_box(SECRET.1)).len())
    });
    g.bench_function("user_agent_secret", |b| {
        b.iter(|| p.redact_header("user-agent", black_box(SECRET.2)).len())
    });
    g.finish();
}

criterion_group!(benches, redaction);
criterion_main!(benches);
