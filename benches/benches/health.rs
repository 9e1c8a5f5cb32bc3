//! pf-health: `/readyz` answered from cache, and probes per second with 10 registered checks
//! (cached, and with every probe running all 10 checks).
//!
//! Probes go through the real `HealthLayer` in front of an axum router, in process (no
//! socket), on a current-thread Tokio runtime.

use std::time::Duration;

use axum::body::Body;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http_body_util::BodyExt;
use pf_health::{CheckOptions, CheckResult, HealthLayer, HealthRegistry, ShowDetails, check_fn};
use tower::{Service, ServiceExt};

fn app(ttl: Duration) -> axum::Router {
    let mut builder = HealthRegistry::builder();
    for i in 0..10 {
        builder = builder.check(
            format!("dep{i}"),
            check_fn(|| async { CheckResult::pass().observe("responseTime", 0.5, Some("ms")) }),
            CheckOptions::new().on_demand(ttl),
        );
    }
    let registry = builder.build().unwrap();
    registry.lifecycle().mark_ready();
    pf_benches::serving(
        axum::Router::new()
            .route("/", axum::routing::get(|| async { "app" }))
            .layer(HealthLayer::new(registry).show_details(ShowDetails)),
    )
}

async fn probe(app: &mut axum::Router, uri: &'static str) {
    let request = axum::http::Request::get(uri).body(Body::empty()).unwrap();
    let response = ServiceExt::<axum::http::Request<Body>>::ready(app)
        .await
        .unwrap()
        .call(request)
        .await
        .unwrap();
    assert!(response.status().is_success());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    std::hint::black_box(body);
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("health");
    group.throughput(Throughput::Elements(1));

    let cached = rt.block_on(async {
        let mut app = app(Duration::from_secs(3600));
        probe(&mut app, "/readyz").await; // fill the cache
        app
    });
    group.bench_function("readyz_cached_10_checks", |b| {
        b.to_async(&rt).iter_batched(
            || cached.clone(),
            |mut app| async move { probe(&mut app, "/readyz").await },
            criterion::BatchSize::SmallInput,
        )
    });
    group.bench_function("health_verbose_json_cached_10_checks", |b| {
        b.to_async(&rt).iter_batched(
            || cached.clone(),
            |mut app| async move { probe(&mut app, "/health").await },
            criterion::BatchSize::SmallInput,
        )
    });
    let uncached = app(Duration::ZERO);
    group.bench_function("readyz_running_10_checks", |b| {
        b.to_async(&rt).iter_batched(
            || uncached.clone(),
            |mut app| async move { probe(&mut app, "/readyz").await },
            criterion::BatchSize::SmallInput,
        )
    });
    group.bench_function("livez", |b| {
        b.to_async(&rt).iter_batched(
            || cached.clone(),
            |mut app| async move { probe(&mut app, "/livez").await },
            criterion::BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
