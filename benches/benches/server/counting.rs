//! What a request does, counted in the server process (`--count`): allocations and frees (a
//! counting global allocator), polls of each layer's inner future (a [`CountPolls`] wrapper
//! between the layers), response body frames polled, and span creations, enters, exits,
//! closes and events (a [`CountSpans`] subscriber layer). The counters are process-wide
//! atomics, read by the driver through the control listener before and after a phase.

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::http::Response;
use http_body::{Body as HttpBody, Frame, SizeHint};
use tracing::span;
use tracing_subscriber::layer::Context as LayerContext;

/// Counting switch: off in the timed runs (one relaxed load per allocation in every mode).
pub static COUNTING: AtomicBool = AtomicBool::new(false);

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static FREES: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

/// The global allocator of the bench binary: the system allocator, counting when
/// [`COUNTING`] is on.
pub struct CountingAlloc;

// SAFETY: forwards every call to the system allocator unchanged; the counters are atomics.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Relaxed) {
            ALLOCS.fetch_add(1, Relaxed);
            BYTES.fetch_add(layout.size() as u64, Relaxed);
        }
        // SAFETY: the caller's layout, passed through.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if COUNTING.load(Relaxed) {
            FREES.fetch_add(1, Relaxed);
        }
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Relaxed) {
            ALLOCS.fetch_add(1, Relaxed);
            BYTES.fetch_add(layout.size() as u64, Relaxed);
        }
        // SAFETY: the caller's layout, passed through.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Relaxed) {
            // a realloc is an allocation and a free
            ALLOCS.fetch_add(1, Relaxed);
            FREES.fetch_add(1, Relaxed);
            BYTES.fetch_add(new_size as u64, Relaxed);
        }
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Poll counters of the wrappers between the layers: `POLLS[k]` counts polls of the future
/// below wrapper `k` (0 is the outermost).
pub static POLLS: [AtomicU64; 6] = [const { AtomicU64::new(0) }; 6];
/// Response body frames polled (`poll_frame` calls on the outermost body).
pub static BODY_POLLS: AtomicU64 = AtomicU64::new(0);
static SPANS_NEW: AtomicU64 = AtomicU64::new(0);
static ENTERS: AtomicU64 = AtomicU64::new(0);
static EXITS: AtomicU64 = AtomicU64::new(0);
static CLOSES: AtomicU64 = AtomicU64::new(0);
static EVENTS: AtomicU64 = AtomicU64::new(0);
static RECORDS: AtomicU64 = AtomicU64::new(0);

/// Every counter as JSON (the control listener's `/counters`).
pub fn counters_json() -> String {
    let polls: Vec<String> = POLLS.iter().map(|p| p.load(Relaxed).to_string()).collect();
    format!(
        "{{\"allocs\":{},\"frees\":{},\"bytes\":{},\"polls\":[{}],\"body_polls\":{},\
         \"spans\":{},\"enters\":{},\"exits\":{},\"closes\":{},\"events\":{},\"records\":{}}}",
        ALLOCS.load(Relaxed),
        FREES.load(Relaxed),
        BYTES.load(Relaxed),
        polls.join(","),
        BODY_POLLS.load(Relaxed),
        SPANS_NEW.load(Relaxed),
        ENTERS.load(Relaxed),
        EXITS.load(Relaxed),
        CLOSES.load(Relaxed),
        EVENTS.load(Relaxed),
        RECORDS.load(Relaxed),
    )
}

/// Counts polls of the inner service's future in `POLLS[k]`.
#[derive(Clone, Copy)]
pub struct CountPollsLayer(pub usize);

impl<S> tower::Layer<S> for CountPollsLayer {
    type Service = CountPolls<S>;
    fn layer(&self, inner: S) -> CountPolls<S> {
        CountPolls { inner, k: self.0 }
    }
}

/// The service of [`CountPollsLayer`].
#[derive(Clone)]
pub struct CountPolls<S> {
    inner: S,
    k: usize,
}

impl<S: tower::Service<R>, R> tower::Service<R> for CountPolls<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = Counted<S::Future>;
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }
    fn call(&mut self, req: R) -> Self::Future {
        Counted {
            inner: self.inner.call(req),
            k: self.k,
        }
    }
}

/// The future of [`CountPolls`] (no allocation of its own).
pub struct Counted<F> {
    inner: F,
    k: usize,
}

impl<F: Future> Future for Counted<F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        POLLS[self.k].fetch_add(1, Relaxed);
        // SAFETY: `inner` is structurally pinned: never moved out of `self`, and `Counted`
        // has no `Drop` of its own and is not `Unpin` unless `F` is.
        unsafe { self.map_unchecked_mut(|s| &mut s.inner) }.poll(cx)
    }
}

/// Counts the response body frames hyper polls (the outermost body).
pub fn count_body(res: Response<Body>) -> Response<Body> {
    res.map(|b| Body::new(CountBody(b)))
}

struct CountBody(Body);

impl HttpBody for CountBody {
    type Data = Bytes;
    type Error = axum::Error;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        BODY_POLLS.fetch_add(1, Relaxed);
        Pin::new(&mut self.0).poll_frame(cx)
    }
    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }
    fn size_hint(&self) -> SizeHint {
        self.0.size_hint()
    }
}

/// A subscriber layer counting span creations, enters, exits, closes, records and events.
pub struct CountSpans;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CountSpans {
    fn on_new_span(&self, _: &span::Attributes<'_>, _: &span::Id, _: LayerContext<'_, S>) {
        SPANS_NEW.fetch_add(1, Relaxed);
    }
    fn on_record(&self, _: &span::Id, _: &span::Record<'_>, _: LayerContext<'_, S>) {
        RECORDS.fetch_add(1, Relaxed);
    }
    fn on_event(&self, _: &tracing::Event<'_>, _: LayerContext<'_, S>) {
        EVENTS.fetch_add(1, Relaxed);
    }
    fn on_enter(&self, _: &span::Id, _: LayerContext<'_, S>) {
        ENTERS.fetch_add(1, Relaxed);
    }
    fn on_exit(&self, _: &span::Id, _: LayerContext<'_, S>) {
        EXITS.fetch_add(1, Relaxed);
    }
    fn on_close(&self, _: span::Id, _: LayerContext<'_, S>) {
        CLOSES.fetch_add(1, Relaxed);
    }
}
