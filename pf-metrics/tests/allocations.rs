//! Steady-state recording allocates nothing. Its own test binary, because it
//! installs a counting global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::convert::Infallible;

use http::{Request, Response};
use pf_metrics::{Format, HttpMetricsLayer, MetricsRegistry, RouteExtractor};
use tower::{Layer, Service, ServiceExt, service_fn};

struct Counting;

thread_local! {
    /// Allocations made by this thread (other test threads don't disturb it).
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

#[derive(Clone)]
struct FixedRoute;

impl RouteExtractor for FixedRoute {
    fn route_str<'r>(&self, _: &'r http::Uri, _: &'r http::Extensions) -> Option<&'r str> {
        Some("/api/v1/users/{id}")
    }
}

#[test]
fn recording_a_request_allocates_nothing_once_the_series_exists() {
    let registry = MetricsRegistry::new();
    let inner = service_fn(|_req: Request<pf_metrics::RequestBody<String>>| async {
        // `String::new()` does not allocate: any allocation seen is the layer's.
        Ok::<_, Infallible>(Response::new(String::new()))
    });
    let mut service = HttpMetricsLayer::new(registry.clone())
        .route_extractor(FixedRoute)
        .layer(inner);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let one = async |service: &mut _| {
            let svc: &mut pf_metrics::HttpMetricsService<_, FixedRoute> = service;
            let response = svc
                .ready()
                .await
                .unwrap()
                .call(Request::new(String::new()))
                .await
                .unwrap();
            drop(response);
        };
        // The first request creates the series: the counter sees those allocations.
        let setup = allocations();
        one(&mut service).await;
        assert!(allocations() > setup, "the counting allocator counts");
        let before = allocations();
        for _ in 0..1_000 {
            one(&mut service).await;
        }
        let during = allocations() - before;
        assert_eq!(during, 0, "allocations in 1,000 recorded requests");
    });
    assert!(registry.encode(Format::Prometheus).contains(
        r#"http_requests_total{method="GET",route="/api/v1/users/{id}",status="200"} 1001"#
    ));
}

#[test]
fn timing_repository_and_cache_calls_allocates_nothing_once_the_series_exist() {
    let registry = MetricsRegistry::new();
    let users = registry.repository("users");
    let cache = registry.cache("redis");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let one = async || {
            let found = users
                .time("find_by_id", async { Ok::<_, ()>(Some(7)) })
                .await;
            assert_eq!(found, Ok(Some(7)));
            let cached = cache.lookup("get", async { Ok::<_, ()>(None::<u8>) }).await;
            assert_eq!(cached, Ok(None));
        };
        let setup = allocations();
        one().await;
        assert!(allocations() > setup, "the first calls create the series");
        let before = allocations();
        for _ in 0..1_000 {
            one().await;
        }
        assert_eq!(
            allocations() - before,
            0,
            "allocations in 2,000 timed calls"
        );
    });
    let text = registry.encode(Format::Prometheus);
    assert!(text.contains(
        r#"pivotal_repository_operation_duration_seconds_count{repository="users",operation="find_by_id",outcome="ok"} 1001"#
    ));
    assert!(text.contains(
        r#"pivotal_cache_operations_total{cache_type="redis",operation="get",result="miss"} 1001"#
    ));
}
