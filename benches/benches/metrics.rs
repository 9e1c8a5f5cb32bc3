//! Per-request cost of the pf layers side by side with a bare router, no-op layers applied
//! the same way and the peer crates users would pick instead, all on the same route and in
//! the same Criterion run; the keep-alive loopback request that is the denominator of
//! "overhead %"; exposition against prometheus-client; two threads on one series.
//!
//! `cargo bench -p pf-benches --bench metrics` (`scripts/bench` runs it and writes BENCHMARKS.md)

#[path = "peers/mod.rs"]
mod peers;

use std::hint::black_box;
use std::sync::Barrier;
use std::time::Duration;

use criterion::measurement::{Measurement, WallTime};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use pf_benches::cpu_time::{ThreadCpuTime, thread_cpu_ns};
use pf_benches::{Contender, call_collect, contender, serving, user_routes};
use pf_metrics::{Format, HttpMetricsLayer, MetricsRegistry};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// One request through the router in process (no socket), body collected.
fn in_process(c: &mut Criterion<ThreadCpuTime>) {
    let rt = rt();
    let mut g = c.benchmark_group("in_process");
    for contender in peers::all_contenders() {
        let app = &contender.app;
        tracing::dispatcher::with_default(&contender.dispatch, || {
            g.bench_function(contender.name, |b| {
                b.to_async(&rt).iter(|| call_collect(app))
            });
        });
    }
    g.finish();
}

/// The same router served by axum over a keep-alive HTTP/1.1 loopback connection from a
/// hyper client on the same runtime thread: the denominator of "overhead %". Measured in
/// thread CPU time (client, server and the kernel's loopback work all run on this thread) and,
/// as `loopback_wall`, in wall time.
fn loopback(c: &mut Criterion<ThreadCpuTime>) {
    loopback_in(c, "loopback");
}

fn loopback_wall(c: &mut Criterion<WallTime>) {
    loopback_in(c, "loopback_wall");
}

fn loopback_in<M: Measurement>(c: &mut Criterion<M>, group: &str) {
    let rt = rt();
    let mut g = c.benchmark_group(group);
    for name in ["bare", "pf_metrics", "pf_stack", "pf_stack_json"] {
        let Contender { app, dispatch, .. } = contender(name).expect("known contender");
        let mut client = rt.block_on(pf_benches::LoopbackClient::start(app));
        tracing::dispatcher::with_default(&dispatch, || {
            g.bench_function(name, |b| {
                b.iter(|| rt.block_on(async { black_box(client.get_user().await) }))
            });
        });
    }
    g.finish();
}

/// Encoding N request series (each: request counter, duration histogram, response-size
/// histogram; per route and method: request-size histogram and in-flight gauge), by pf in
/// both formats and by prometheus-client's (OpenMetrics) text encoder on the same data.
fn exposition(c: &mut Criterion<ThreadCpuTime>) {
    let mut g = c.benchmark_group("exposition");
    for series in [100usize, 1_000, 10_000] {
        let registry = MetricsRegistry::builder()
            .max_series(series)
            .max_routes(series)
            .build()
            .unwrap();
        populate(&registry, series);
        let mut out = String::new();
        g.bench_with_input(
            BenchmarkId::new("pf_prometheus", series),
            &series,
            |b, _| {
                b.iter(|| {
                    out.clear();
                    registry.encode_into(&mut out, Format::Prometheus);
                    black_box(out.len())
                })
            },
        );
        g.bench_with_input(
            BenchmarkId::new("pf_openmetrics", series),
            &series,
            |b, _| {
                b.iter(|| {
                    out.clear();
                    registry.encode_into(&mut out, Format::OpenMetrics);
                    black_box(out.len())
                })
            },
        );
        let peer = prometheus_client_registry(series);
        g.bench_with_input(
            BenchmarkId::new("prometheus_client", series),
            &series,
            |b, _| {
                b.iter(|| {
                    out.clear();
                    prometheus_client::encoding::text::encode(&mut out, &peer).unwrap();
                    black_box(out.len())
                })
            },
        );
    }
    g.finish();
}

fn route(i: usize) -> String {
    format!("/api/v1/resource{i}/{{id}}")
}

/// Records one request into each of `series` distinct routes.
fn populate(registry: &MetricsRegistry, series: usize) {
    use tower::{Layer, ServiceExt};
    let rt = rt();
    let service = HttpMetricsLayer::new(registry.clone())
        .route_extractor(IndexRoute)
        .layer(tower::service_fn(
            |_req: axum::http::Request<pf_metrics::RequestBody<String>>| async {
                Ok::<_, std::convert::Infallible>(axum::http::Response::new(String::from("ok")))
            },
        ));
    rt.block_on(async {
        for i in 0..series {
            let mut req = axum::http::Request::new(String::new());
            req.extensions_mut().insert(RouteName(route(i)));
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
    fn route_str<'r>(
        &self,
        _: &'r axum::http::Uri,
        ext: &'r axum::http::Extensions,
    ) -> Option<&'r str> {
        ext.get::<RouteName>().map(|r| r.0.as_str())
    }
}

/// The same families and observations in a prometheus-client registry.
fn prometheus_client_registry(series: usize) -> prometheus_client::registry::Registry {
    use prometheus_client::encoding::EncodeLabelSet;
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::family::Family;
    use prometheus_client::metrics::gauge::Gauge;
    use prometheus_client::metrics::histogram::Histogram;

    #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
    struct Full {
        method: &'static str,
        route: String,
        status: &'static str,
    }
    #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
    struct MethodRoute {
        method: &'static str,
        route: String,
    }
    type Hist<L> = Family<L, Histogram, fn() -> Histogram>;
    fn durations() -> Histogram {
        Histogram::new(pf_metrics::DEFAULT_DURATION_BUCKETS.iter().copied())
    }
    fn sizes() -> Histogram {
        Histogram::new(pf_metrics::DEFAULT_SIZE_BUCKETS.iter().copied())
    }

    let requests = Family::<Full, Counter>::default();
    let duration: Hist<Full> = Family::new_with_constructor(durations);
    let response_size: Hist<Full> = Family::new_with_constructor(sizes);
    let request_size: Hist<MethodRoute> = Family::new_with_constructor(sizes);
    let in_flight = Family::<MethodRoute, Gauge>::default();
    for i in 0..series {
        let full = Full {
            method: "GET",
            route: route(i),
            status: "200",
        };
        let short = MethodRoute {
            method: "GET",
            route: route(i),
        };
        requests.get_or_create(&full).inc();
        duration.get_or_create(&full).observe(0.000_012);
        response_size.get_or_create(&full).observe(2.0);
        request_size.get_or_create(&short).observe(0.0);
        in_flight.get_or_create(&short).set(0);
    }
    let mut registry = prometheus_client::registry::Registry::default();
    registry.register("http_requests", "Total HTTP requests", requests);
    registry.register(
        "http_request_duration_seconds",
        "HTTP request duration",
        duration,
    );
    registry.register(
        "http_response_size_bytes",
        "HTTP response body size",
        response_size,
    );
    registry.register(
        "http_request_size_bytes",
        "HTTP request body size",
        request_size,
    );
    registry.register(
        "http_requests_in_flight",
        "HTTP requests in flight",
        in_flight,
    );
    registry
}

/// Threads sending requests through one router into the same series at once: CPU time per
/// request of the busiest thread with 1 and 2 threads, for the bare router and with pf's
/// metrics layer (the bare pair shows what the machine itself does with two threads). Cache
/// lines bouncing between cores stall the threads, and stalls are CPU time.
fn contention(c: &mut Criterion<ThreadCpuTime>) {
    let mut g = c.benchmark_group("contention");
    for (name, app) in [
        ("bare", serving(user_routes())),
        (
            "pf_metrics",
            serving(user_routes().layer(HttpMetricsLayer::new(MetricsRegistry::new()).axum_body())),
        ),
    ] {
        for threads in [1usize, 2] {
            g.bench_with_input(BenchmarkId::new(name, threads), &threads, |b, &threads| {
                b.iter_custom(|iters| {
                    let barrier = Barrier::new(threads);
                    let elapsed: Vec<u64> = std::thread::scope(|s| {
                        let handles: Vec<_> = (0..threads)
                            .map(|_| {
                                let app = app.clone();
                                let barrier = &barrier;
                                s.spawn(move || {
                                    let rt = rt();
                                    barrier.wait();
                                    let start = thread_cpu_ns();
                                    rt.block_on(async {
                                        for _ in 0..iters {
                                            black_box(call_collect(&app).await);
                                        }
                                    });
                                    thread_cpu_ns() - start
                                })
                            })
                            .collect();
                        handles.into_iter().map(|h| h.join().unwrap()).collect()
                    });
                    elapsed.into_iter().max().unwrap()
                })
            });
        }
    }
    g.finish();
}

/// One timed repository call and one timed cache lookup around an already-complete
/// future, against awaiting the same future bare: the helpers' own cost per call once the
/// operation's series exists (two clock reads, a name hash, a lookup, a few adds).
fn operations(c: &mut Criterion<ThreadCpuTime>) {
    use futures_util::FutureExt;
    use std::future::ready;
    let registry = MetricsRegistry::new();
    let users = registry.repository("users");
    let cache = registry.cache("redis");
    let mut g = c.benchmark_group("operations");
    g.bench_function("bare_await", |b| {
        b.iter(|| black_box(ready(Ok::<_, ()>(black_box(7u64))).now_or_never()))
    });
    g.bench_function("repository_time", |b| {
        b.iter(|| {
            black_box(
                users
                    .time("find_by_id", ready(Ok::<_, ()>(black_box(7u64))))
                    .now_or_never(),
            )
        })
    });
    g.bench_function("cache_lookup", |b| {
        b.iter(|| {
            black_box(
                cache
                    .lookup("get", ready(Ok::<_, ()>(Some(black_box(7u64)))))
                    .now_or_never(),
            )
        })
    });
    g.finish();
}

fn config<M: Measurement>(c: Criterion<M>) -> Criterion<M> {
    c.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = cpu;
    config = config(Criterion::default().with_measurement(ThreadCpuTime));
    targets = in_process, loopback, exposition, contention, operations
}
criterion_group! {
    name = wall;
    config = config(Criterion::default());
    targets = loopback_wall
}
criterion_main!(cpu, wall);
