//! What one request records, from start to end, shared by the future and the bodies.

use std::ptr::NonNull;

use http::HeaderMap;

use crate::exemplar::Trace;
use crate::grpc::{self, Ending, NOT_GRPC};
use crate::registry::{
    FlightSeries, IN_FLIGHT_WORD, MetricsRegistry, ResponseSeries, RouteEntry,
    STATUS_CLIENT_CLOSED, Timing,
};
use crate::series::observe;

/// A pointer into the registry's series storage. Series are never freed
/// before the registry, and every holder also holds the registry.
struct SeriesPtr<T>(NonNull<T>);

impl<T> SeriesPtr<T> {
    fn new(r: &T) -> Self {
        Self(NonNull::from(r))
    }
    /// SAFETY: the caller holds the registry that owns the series.
    unsafe fn get(&self) -> &T {
        unsafe { self.0.as_ref() }
    }
}

// SAFETY: series are `Sync` (atomics only) and outlive every holder (see above).
unsafe impl<T: Sync> Send for SeriesPtr<T> {}
unsafe impl<T: Sync> Sync for SeriesPtr<T> {}

/// A request between `call` and its response head.
pub(crate) struct InFlight {
    registry: MetricsRegistry,
    route: SeriesPtr<RouteEntry>,
    flight: SeriesPtr<FlightSeries>,
    method: u8,
    start: u64,
    /// [`NOT_GRPC`] for HTTP requests; for gRPC calls their `grpc-timeout`
    /// in nanoseconds, or [`grpc::NO_DEADLINE`].
    grpc: u64,
    /// The trace of the request's span, for exemplars (zero-sized without the feature).
    trace: Trace,
}

impl InFlight {
    /// Counts the request in flight and starts its clock. `grpc` is
    /// [`NOT_GRPC`] or the call's timeout (see [`grpc::grpc_timeout`]).
    #[inline]
    pub(crate) fn start(
        registry: &MetricsRegistry,
        route: &RouteEntry,
        method: u8,
        grpc: u64,
    ) -> Self {
        let inner = &*registry.inner;
        let flight = inner.flight(route, method);
        flight.cells.local().add(IN_FLIGHT_WORD, 1);
        Self {
            route: SeriesPtr::new(route),
            flight: SeriesPtr::new(flight),
            method,
            start: inner.now(),
            grpc,
            trace: Trace::current(),
            registry: registry.clone(),
        }
    }

    /// Whether the request is a gRPC call.
    #[inline]
    pub(crate) fn is_grpc(&self) -> bool {
        self.grpc != NOT_GRPC
    }

    /// A recorder for the request body's size, or `None` when the body is
    /// already known to be empty: then zero is recorded now, which spares the
    /// registry reference a recorder holds (bodiless GETs are most requests).
    #[inline]
    pub(crate) fn request_body(&self, empty: bool) -> Option<RequestSize> {
        let inner = &*self.registry.inner;
        if empty {
            // SAFETY: `self.registry` owns the series.
            let flight = unsafe { self.flight.get() };
            observe(
                flight.cells.local(),
                inner.layout.request_size,
                &inner.size_bounds,
                0,
            );
            return None;
        }
        Some(RequestSize {
            registry: self.registry.clone(),
            flight: SeriesPtr(self.flight.0),
            bytes: 0,
        })
    }

    /// The response head is ready: pick its series and, when the duration is
    /// taken at the head, take it now. Long-lived responses (101 upgrades,
    /// server-sent events) always take it at the head, so hours-long streams
    /// never land in the request histogram.
    #[inline]
    pub(crate) fn head(self, status: u16, long_lived: bool) -> Completion {
        let inner = &*self.registry.inner;
        // SAFETY: `self.registry` owns the route.
        let route = unsafe { self.route.get() };
        let series = inner.response(route, self.method, status);
        let at_head = long_lived || inner.timing == Timing::Headers;
        let mut c = Completion {
            series: SeriesPtr::new(series),
            flight: self.flight,
            start: self.start,
            duration_taken: false,
            bytes: 0,
            grpc: None,
            trace: self.trace,
            registry: self.registry,
        };
        if at_head {
            c.observe_duration();
        }
        c
    }

    /// The response head of a gRPC call is ready. Its code is in the head
    /// (trailers-only responses, or a non-200 HTTP status), or else comes in
    /// the trailers: then the series is picked when the body ends. gRPC calls
    /// are always timed to their status, whatever the [`Timing`].
    #[cold]
    pub(crate) fn grpc_head(self, status: u16, headers: &HeaderMap) -> Completion {
        let inner = &*self.registry.inner;
        // SAFETY: `self.registry` owns the route.
        let route = unsafe { self.route.get() };
        let (series, grpc) = match grpc::head_code(status, headers) {
            Some(code) => (inner.grpc_response(route, code), None),
            // A placeholder until the code is known; never observed into.
            None => (
                &inner.overflow_response,
                Some(GrpcCall {
                    route: self.route,
                    timeout: self.grpc,
                    code: None,
                }),
            ),
        };
        Completion {
            series: SeriesPtr::new(series),
            flight: self.flight,
            start: self.start,
            duration_taken: false,
            bytes: 0,
            grpc,
            trace: self.trace,
            registry: self.registry,
        }
    }

    /// The request ended without a response head: the inner service failed,
    /// the handler panicked, or the future was dropped (client gone, or a
    /// gRPC deadline passed). HTTP requests are recorded as 500 or 499 with
    /// no body; gRPC calls with the code of `ending`.
    pub(crate) fn abort(self, ending: Ending) {
        if self.is_grpc() {
            let inner = &*self.registry.inner;
            let code = grpc::ending_code(ending, self.grpc, inner.elapsed_nanos(self.start));
            // SAFETY: `self.registry` owns the route.
            let route = unsafe { self.route.get() };
            let series = SeriesPtr::new(inner.grpc_response(route, code));
            Completion {
                series,
                flight: self.flight,
                start: self.start,
                duration_taken: false,
                bytes: 0,
                grpc: None,
                trace: self.trace,
                registry: self.registry,
            }
            .finish();
            return;
        }
        let status = match ending {
            Ending::Dropped => STATUS_CLIENT_CLOSED,
            Ending::Panic | Ending::ServiceError | Ending::NoStatus => 500,
        };
        self.head(status, false).finish();
    }
}

/// A gRPC call whose code comes in the trailers.
struct GrpcCall {
    route: SeriesPtr<RouteEntry>,
    timeout: u64,
    /// The trailers' code, once they passed.
    code: Option<u8>,
}

/// A response between its head and the end of its body.
pub(crate) struct Completion {
    registry: MetricsRegistry,
    series: SeriesPtr<ResponseSeries>,
    flight: SeriesPtr<FlightSeries>,
    start: u64,
    duration_taken: bool,
    pub(crate) bytes: u64,
    /// A gRPC call waiting for its trailers; `None` for HTTP requests.
    grpc: Option<GrpcCall>,
    trace: Trace,
}

impl Completion {
    /// Whether this is a gRPC call whose code comes in the trailers.
    #[inline]
    pub(crate) fn wants_trailers(&self) -> bool {
        self.grpc.is_some()
    }

    /// A trailers frame passed: keep its `grpc-status`.
    #[cold]
    pub(crate) fn trailers(&mut self, trailers: &HeaderMap) {
        if let Some(g) = &mut self.grpc
            && let Some(v) = trailers.get(grpc::GRPC_STATUS)
        {
            g.code = Some(grpc::parse_code(v.as_bytes()));
        }
    }

    /// Picks the series of a gRPC call from its trailers' code, or from how
    /// it ended without one. `ended` is whether the body reached its end.
    #[cold]
    fn resolve_grpc(&mut self, call: GrpcCall, ended: bool) {
        let inner = &*self.registry.inner;
        let code = call.code.unwrap_or_else(|| {
            let ending = if ended {
                Ending::NoStatus
            } else {
                Ending::Dropped
            };
            grpc::ending_code(ending, call.timeout, inner.elapsed_nanos(self.start))
        });
        // SAFETY: `self.registry` owns the route.
        let route = unsafe { call.route.get() };
        self.series = SeriesPtr::new(inner.grpc_response(route, code));
    }

    /// A panic unwound through the body of a gRPC call waiting for its trailers.
    #[cold]
    pub(crate) fn finish_panicked(mut self) {
        if let Some(call) = self.grpc.take() {
            let inner = &*self.registry.inner;
            // SAFETY: `self.registry` owns the route.
            let route = unsafe { call.route.get() };
            let code = grpc::ending_code(Ending::Panic, call.timeout, 0);
            self.series = SeriesPtr::new(inner.grpc_response(route, code));
        }
        self.finish();
    }

    /// The body of a gRPC call ended (or failed): record it.
    #[inline]
    pub(crate) fn finish_ended(mut self) {
        if let Some(call) = self.grpc.take() {
            self.resolve_grpc(call, true);
        }
        self.finish();
    }

    #[inline]
    fn observe_duration(&mut self) {
        let inner = &*self.registry.inner;
        let nanos = inner.elapsed_nanos(self.start);
        // SAFETY: `self.registry` owns the series.
        let series = unsafe { self.series.get() };
        observe(
            series.cells.local(),
            inner.layout.duration,
            &inner.duration_bounds,
            nanos,
        );
        self.trace.record(series, &inner.duration_bounds, nanos);
        self.duration_taken = true;
    }

    /// The body ended (or was dropped): count the request and leave flight.
    #[inline]
    pub(crate) fn finish(mut self) {
        if let Some(call) = self.grpc.take() {
            self.resolve_grpc(call, false);
        }
        if !self.duration_taken {
            self.observe_duration();
        }
        let inner = &*self.registry.inner;
        // SAFETY: `self.registry` owns both series.
        let (series, flight) = unsafe { (self.series.get(), self.flight.get()) };
        observe(
            series.cells.local(),
            inner.layout.response_size,
            &inner.size_bounds,
            self.bytes,
        );
        // Wrapping add of -1: shards may go below zero individually (a task can
        // move threads); their sum is right.
        flight.cells.local().add(IN_FLIGHT_WORD, u64::MAX);
    }
}

/// Counts request body bytes as the application reads them.
pub(crate) struct RequestSize {
    registry: MetricsRegistry,
    flight: SeriesPtr<FlightSeries>,
    pub(crate) bytes: u64,
}

impl RequestSize {
    #[inline]
    pub(crate) fn finish(self) {
        let inner = &*self.registry.inner;
        // SAFETY: `self.registry` owns the series.
        let flight = unsafe { self.flight.get() };
        observe(
            flight.cells.local(),
            inner.layout.request_size,
            &inner.size_bounds,
            self.bytes,
        );
    }
}
