//! Heap allocations per request for every contender (ours and the peers), counted by a
//! global allocator, after a warm-up that creates series and caches. Also pf's metrics
//! layer around a plain tower service (no axum `Router::layer`, which boxes routes and
//! bodies) to show the layer's own steady state.
//!
//! `cargo bench -p pf-benches --bench allocations` prints a table; with
//! `PF_ALLOCATIONS_OUT=<file>` it also writes the numbers as JSON (used by `scripts/bench`).
//! Under `cargo test` it runs a few requests per contender only.

#[path = "peers/mod.rs"]
mod peers;

use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use axum::body::Bytes;
use http_body_util::Empty;
use pf_benches::{Contender, call_collect, plain};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call to the system allocator unchanged, only counting.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(layout.size() as u64, Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(layout.size() as u64, Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(new_size as u64, Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn snapshot() -> (u64, u64) {
    (ALLOCS.load(Relaxed), BYTES.load(Relaxed))
}

/// Runs `requests` requests after `warm_up` and returns (allocations, bytes) per request.
fn measure<F: AsyncFnMut()>(
    rt: &tokio::runtime::Runtime,
    warm_up: u64,
    requests: u64,
    mut one: F,
) -> (f64, f64) {
    rt.block_on(async {
        for _ in 0..warm_up {
            one().await;
        }
        let (a0, b0) = snapshot();
        for _ in 0..requests {
            one().await;
        }
        let (a1, b1) = snapshot();
        (
            (a1 - a0) as f64 / requests as f64,
            (b1 - b0) as f64 / requests as f64,
        )
    })
}

fn main() {
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let (warm_up, requests) = if bench_mode { (100, 2_000) } else { (2, 5) };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let mut rows: Vec<(String, f64, f64)> = Vec::new();
    let mut run_contender = |c: Contender| {
        let app = c.app.clone();
        let (allocs, bytes) = tracing::dispatcher::with_default(&c.dispatch, || {
            measure(&rt, warm_up, requests, async || {
                std::hint::black_box(call_collect(&app).await);
            })
        });
        rows.push((format!("router/{}", c.name), allocs, bytes));
    };
    for c in peers::all_contenders() {
        run_contender(c);
    }

    let mut bare = plain::handler::<Empty<Bytes>>();
    let (a, b) = measure(&rt, warm_up, requests, async || {
        plain::call_collect_plain(&mut bare).await;
    });
    rows.push(("tower/bare".into(), a, b));
    let mut metrics = plain::with_metrics(pf_metrics::MetricsRegistry::new());
    let (a, b) = measure(&rt, warm_up, requests, async || {
        plain::call_collect_plain(&mut metrics).await;
    });
    rows.push(("tower/pf_metrics".into(), a, b));

    println!("{:<38}{:>14}{:>14}", "contender", "allocs/req", "bytes/req");
    let mut json = String::from("{\n");
    for (i, (name, allocs, bytes)) in rows.iter().enumerate() {
        println!("{name:<38}{allocs:>14.2}{bytes:>14.1}");
        let comma = if i + 1 < rows.len() { "," } else { "" };
        writeln!(
            json,
            "  \"{name}\": {{\"allocs\": {allocs:.3}, \"bytes\": {bytes:.1}}}{comma}"
        )
        .unwrap();
    }
    json.push_str("}\n");
    if let Some(path) = std::env::var_os("PF_ALLOCATIONS_OUT") {
        std::fs::write(path, json).expect("write PF_ALLOCATIONS_OUT");
    }
}
