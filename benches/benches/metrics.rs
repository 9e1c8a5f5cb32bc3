//! Per-request cost of `HttpMetricsLayer`, side by side with a bare router and a
//! no-op layer applied the same way, plus exposition and contention.
//!
//! `cargo bench -p pf-benches --bench metrics`

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use pf_benches::{call_collect, serving, user_routes};
use pf_metrics::{Format, HttpMetricsLayer, MetricsRegistry};
use tower::layer::util::Identity;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn in_process(c: &mut Criterion) {
    let rt = rt();
    let registry = MetricsRegistry::new();
    let contenders = [
        ("bare", serving(user_routes())),
        // axum's Router::layer boxes every route: this is the floor for any layer added that way.
        ("noop_layer", serving(user_routes().layer(Identity::new()))),
        ("pf_metrics", serving(user_routes().layer(HttpMetricsLayer::new(registry.clone())))),
    ];
    let mut g = c.benchmark_group("metrics/in_process");
    for (name, app) in &contenders {
        g.bench_function(*name, |b| b.to_async(&rt).iter(|| call_collect(app)));
    }
    g.finish();
}

/// The same router served by hyper over a keep-alive HTTP/1.1 loopback
/// connection: the denominator of "overhead %".
fn loopback(c: &mut Criterion) {
    use http_body_util::BodyExt;
    use hyper_util::rt::TokioIo;

    let rt = rt();
    let registry = MetricsRegistry::new();
    let contenders = [
        ("bare", user_routes()),
        ("pf_metrics", user_routes().layer(HttpMetricsLayer::new(registry.clone()))),
    ];
    let mut g = c.benchmark_group("metrics/loopback");
    for (name, app) in contenders {
        let (addr, mut sender) = rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
            let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            stream.set_nodelay(true).unwrap();
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
            tokio::spawn(conn);
            (addr, sender)
        });
        g.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(async {
                    let req = hyper::Request::get("/api/v1/users/42")
                        .header("host", addr.to_string())
                        .body(http_body_util::Empty::<bytes_alias::Bytes>::new())
                        .unwrap();
                    let res = sender.send_request(req).await.unwrap();
                    black_box(res.into_body().collect().await.unwrap().to_bytes());
                })
            })
        });
    }
    g.finish();
}

mod bytes_alias {
    pub use axum::body::Bytes;
}

fn exposition(c: &mut Criterion) {
    let mut g = c.benchmark_group("metrics/exposition");
    for series in [100usize, 1_000, 10_000] {
        let registry = MetricsRegistry::builder().max_series(series).max_routes(series).build().unwrap();
        populate(&registry, series);
        let mut out = String::new();
        g.bench_with_input(BenchmarkId::new("pf_metrics", series), &series, |b, _| {
            b.iter(|| {
                out.clear();
                registry.encode_into(&mut out, Format::Prometheus);
                black_box(out.len())
            })
        });
    }
    g.finish();
}

/// Records one request into each of `series` distinct routes.
fn populate(registry: &MetricsRegistry, series: usize) {
    use tower::{Layer, ServiceExt};
    let rt = rt();
    let service = HttpMetricsLayer::new(registry.clone())
        .route_extractor(IndexRoute)
        .layer(tower::service_fn(|_req: axum::http::Request<pf_metrics::RequestBody<String>>| async {
            Ok::<_, std::convert::Infallible>(axum::http::Response::new(String::from("ok")))
        }));
    rt.block_on(async {
        for i in 0..series {
            let mut req = axum::http::Request::new(String::new());
            req.extensions_mut().insert(RouteName(format!("/api/v1/resource{i}/{{id}}")));
            drop(service.clone().oneshot(req).await.unwrap());
        }
    });
    assert_eq!(registry.series_count(), series);
}

#[derive(Clone)]
struct RouteName(String);

#[derive(Clone)]
struct IndexRoute;

impl pf_metrics::RouteExtractor for IndexRoute {
    fn route<'r>(&self, _: &'r axum::http::Uri, ext: &'r axum::http::Extensions) -> Option<&'r str> {
        ext.get::<RouteName>().map(|r| r.0.as_str())
    }
}

/// Threads recording into one series at once: per-request time with 1 and 2 threads.
fn contention(c: &mut Criterion) {
    let mut g = c.benchmark_group("metrics/contention");
    for threads in [1usize, 2] {
        let registry = MetricsRegistry::new();
        let app = serving(user_routes().layer(HttpMetricsLayer::new(registry.clone())));
        g.bench_with_input(BenchmarkId::new("same_series", threads), &threads, |b, &threads| {
            b.iter_custom(|iters| {
                let barrier = Barrier::new(threads);
                let elapsed: Vec<Duration> = std::thread::scope(|s| {
                    let handles: Vec<_> = (0..threads)
                        .map(|_| {
                            let app = app.clone();
                            let barrier = &barrier;
                            s.spawn(move || {
                                let rt = rt();
                                barrier.wait();
                                let start = Instant::now();
                                rt.block_on(async {
                                    for _ in 0..iters {
                                        black_box(call_collect(&app).await);
                                    }
                                });
                                start.elapsed()
                            })
                        })
                        .collect();
                    handles.into_iter().map(|h| h.join().unwrap()).collect()
                });
                // Wall time per request on each thread (the slowest thread).
                elapsed.into_iter().max().unwrap()
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = in_process, loopback, exposition, contention
}
criterion_main!(benches);
