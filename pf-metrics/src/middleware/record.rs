//! What one request records, from start to end, shared by the future and the bodies.

use http::{HeaderMap, Response, StatusCode, header};

use crate::config::Timing;
use crate::middleware::grpc::{self, Ending, NOT_GRPC};
use crate::registry::MetricsRegistry;
use crate::storage::exemplar::Trace;
use crate::storage::handle::SeriesRef;
use crate::storage::intern::RouteEntry;
use crate::storage::series::observe;
use crate::storage::store::{FlightSeries, IN_FLIGHT_WORD, ResponseSeries, STATUS_CLIENT_CLOSED};

/// A request between `call` and its response head.
#[doc(hidden)]
pub struct InFlight {
    registry: MetricsRegistry,
    route: SeriesRef<RouteEntry>,
    flight: SeriesRef<FlightSeries>,
    method: u8,
    start: u64,
    /// [`NOT_GRPC`] for HTTP requests; for gRPC calls their `grpc-timeout`
    /// in milliseconds, or [`grpc::NO_DEADLINE`] (in the padding after `method`).
    grpc: u32,
    /// The trace of the request's span, for exemplars (zero-sized without the feature).
    trace: Trace,
}

impl InFlight {
    /// Counts the request in flight and starts its clock, with no exemplar trace yet
    /// ([`capture_trace`](Self::capture_trace) takes it). `grpc` is [`NOT_GRPC`] or the
    /// call's timeout (see [`grpc::grpc_timeout`]).
    #[inline]
    pub(crate) fn start(
        registry: &MetricsRegistry,
        route: &RouteEntry,
        method: u8,
        grpc: u32,
    ) -> Self {
        let inner = &*registry.inner;
        let flight = inner.flight(route, method);
        flight.cells.local().add(IN_FLIGHT_WORD, 1);
        Self {
            route: SeriesRef::new(route),
            flight: SeriesRef::new(flight),
            method,
            start: inner.now(),
            grpc,
            trace: Trace::none(),
            registry: registry.clone(),
        }
    }

    /// Takes the exemplar's trace from the context current now (one read of the
    /// OpenTelemetry context, when the registry keeps exemplars).
    #[inline]
    pub fn capture_trace(&mut self) {
        self.trace = self.registry.inner.exemplars.trace();
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
            flight: self.flight,
            bytes: 0,
        })
    }

    /// The response head is ready: settles the request's recorder
    /// ([`Settled::Done`] when the body is sent with its head).
    #[inline]
    pub fn at_head<B: http_body::Body>(self, response: &Response<B>) -> Settled {
        let status = response.status().as_u16();
        let grpc_status = if self.is_grpc() {
            grpc::status_header(response.headers())
        } else {
            None
        };
        self.head(status, is_long_lived(response), grpc_status)
            .settle(response.body())
    }

    /// The response head is ready: pick its series and, when the duration is
    /// taken at the head, take it now. Long-lived responses (101 upgrades,
    /// server-sent events) always take it at the head, so hours-long streams
    /// never land in the request histogram.
    ///
    /// For a gRPC call the code is in the head (trailers-only responses, or a
    /// non-200 HTTP status), or else comes in the trailers: then the series
    /// is picked when the body ends. gRPC calls are always timed to their
    /// status, whatever the [`Timing`]. (One construction path for both, so
    /// that the HTTP path builds the recorder in place.)
    /// `grpc_status` is the head's `grpc-status` code of a gRPC call (see
    /// [`grpc::status_header`]), `None` for HTTP requests.
    #[inline]
    pub(crate) fn head(self, status: u16, long_lived: bool, grpc_status: Option<u8>) -> Completion {
        let inner = &*self.registry.inner;
        let (series, grpc_timeout) = if self.grpc == NOT_GRPC {
            // SAFETY: `self.registry` owns the route.
            let route = unsafe { self.route.get() };
            (
                SeriesRef::new(inner.response(route, self.method, status)),
                NOT_GRPC,
            )
        } else {
            self.grpc_series(status, grpc_status)
        };
        let at_head = self.grpc == NOT_GRPC && (long_lived || inner.timing == Timing::Headers);
        let mut c = Completion {
            series,
            flight: self.flight,
            start: self.start,
            duration_taken: false,
            bytes: 0,
            grpc_timeout,
            grpc_code: NO_CODE,
            trace: self.trace,
            registry: self.registry,
        };
        if at_head {
            c.observe_duration();
        }
        c
    }

    /// The series of a gRPC call whose head is ready and, when its code comes
    /// in the trailers, its timeout (the series pointer then holds the route:
    /// see [`Completion::grpc_timeout`]).
    #[cold]
    #[inline(never)]
    fn grpc_series(
        &self,
        status: u16,
        grpc_status: Option<u8>,
    ) -> (SeriesRef<ResponseSeries>, u32) {
        let inner = &*self.registry.inner;
        // SAFETY: `self.registry` owns the route.
        let route = unsafe { self.route.get() };
        match grpc::head_code(status, grpc_status) {
            Some(code) => (SeriesRef::new(inner.grpc_response(route, code)), NOT_GRPC),
            None => (
                // SAFETY: read as a route only while waiting (`Completion::resolve_grpc`).
                unsafe { self.route.cast::<ResponseSeries>() },
                self.grpc,
            ),
        }
    }

    /// The request ended without a response head: the inner service failed,
    /// the handler panicked, or the future was dropped (client gone, or a
    /// gRPC deadline passed). HTTP requests are recorded as 500 or 499 with
    /// no body; gRPC calls with the code of `ending`.
    /// Returns the request's duration in nanoseconds (one clock read).
    pub fn abort(self, ending: Ending) -> u64 {
        if self.is_grpc() {
            let inner = &*self.registry.inner;
            let code = grpc::ending_code(ending, self.grpc, inner.elapsed_nanos(self.start));
            // SAFETY: `self.registry` owns the route.
            let route = unsafe { self.route.get() };
            let series = SeriesRef::new(inner.grpc_response(route, code));
            return Completion {
                series,
                flight: self.flight,
                start: self.start,
                duration_taken: false,
                bytes: 0,
                grpc_timeout: NOT_GRPC,
                grpc_code: NO_CODE,
                trace: self.trace,
                registry: self.registry,
            }
            .finish();
        }
        let status = match ending {
            Ending::Dropped => STATUS_CLIENT_CLOSED,
            Ending::Panic | Ending::ServiceError | Ending::NoStatus => 500,
        };
        self.head(status, false, None).finish()
    }
}

/// [`Completion::grpc_code`] before the trailers passed.
const NO_CODE: u8 = u8::MAX;

/// A response between its head and the end of its body.
#[doc(hidden)]
pub struct Completion {
    registry: MetricsRegistry,
    /// The response's series; for a gRPC call waiting for its trailers
    /// (`grpc_timeout != NOT_GRPC`), its [`RouteEntry`] instead. Kept in one
    /// word so that plain HTTP responses carry no more than before.
    series: SeriesRef<ResponseSeries>,
    flight: SeriesRef<FlightSeries>,
    start: u64,
    pub(crate) bytes: u64,
    duration_taken: bool,
    /// [`NOT_GRPC`] for HTTP requests and gRPC calls whose code is known;
    /// for a gRPC call waiting for its trailers, its timeout in
    /// milliseconds (with `grpc_code`, in the padding after `duration_taken`).
    grpc_timeout: u32,
    /// The trailers' code of a waiting gRPC call, or [`NO_CODE`].
    grpc_code: u8,
    trace: Trace,
}

impl Completion {
    /// Nanoseconds since the request started (one clock read): for a caller that ends
    /// something else of the request before its body ends.
    #[inline]
    pub fn elapsed_nanos(&self) -> u64 {
        self.registry.inner.elapsed_nanos(self.start)
    }

    /// The response body's data bytes counted by the caller's body wrapper.
    #[inline]
    pub fn set_bytes(&mut self, bytes: u64) {
        self.bytes = bytes;
    }

    /// Whether this is a gRPC call whose code comes in the trailers.
    #[inline]
    pub fn wants_trailers(&self) -> bool {
        self.grpc_timeout != NOT_GRPC
    }

    /// Completes the request now when its body is sent with its head
    /// ([`pf_http_core::sent_with_head`]: empty or buffered), and otherwise hands
    /// the recorder back for the body wrapper. A gRPC call waiting for its
    /// trailers is only complete at once when its body is empty.
    #[inline]
    pub(crate) fn settle<B: http_body::Body>(mut self, body: &B) -> Settled {
        let sent = if self.wants_trailers() {
            body.is_end_stream().then_some(0)
        } else {
            pf_http_core::sent_with_head(body)
        };
        match sent {
            Some(bytes) => {
                self.bytes = bytes;
                Settled::Done {
                    nanos: self.finish_ended(),
                }
            }
            None => Settled::Due(self),
        }
    }

    /// A trailers frame passed: keep its `grpc-status`.
    #[cold]
    pub fn trailers(&mut self, trailers: &HeaderMap) {
        if let Some(v) = trailers.get(grpc::GRPC_STATUS) {
            self.grpc_code = grpc::parse_code(v.as_bytes());
        }
    }

    /// Picks the series of a waiting gRPC call: its trailers' code, or how it
    /// ended without one.
    #[cold]
    fn resolve_grpc(&mut self, ending: Ending, nanos: u64) {
        let inner = &*self.registry.inner;
        let code = if self.grpc_code == NO_CODE || ending == Ending::Panic {
            grpc::ending_code(ending, self.grpc_timeout, nanos)
        } else {
            self.grpc_code
        };
        // SAFETY: while waiting, `series` holds the route (see the field), owned by `self.registry`.
        let route = unsafe { self.series.cast::<RouteEntry>().get() };
        self.series = SeriesRef::new(inner.grpc_response(route, code));
        self.grpc_timeout = NOT_GRPC;
    }

    /// A panic unwound through the body of a gRPC call waiting for its trailers.
    #[cold]
    pub fn finish_panicked(mut self) -> u64 {
        self.complete(Ending::Panic)
    }

    /// The body ended (or failed): record the request. Returns its duration in nanoseconds
    /// (one clock read, shared with the caller).
    #[inline]
    pub fn finish_ended(mut self) -> u64 {
        self.complete(Ending::NoStatus)
    }

    #[inline]
    fn observe_duration(&mut self) {
        let nanos = self.registry.inner.elapsed_nanos(self.start);
        self.observe_duration_nanos(nanos);
    }

    #[inline]
    fn observe_duration_nanos(&mut self, nanos: u64) {
        let inner = &*self.registry.inner;
        // SAFETY: `self.registry` owns the series.
        let series = unsafe { self.series.get() };
        observe(
            series.cells.local(),
            inner.layout.duration,
            &inner.duration_bounds,
            nanos,
        );
        self.trace
            .record(&series.exemplars, &inner.duration_bounds, nanos);
        self.duration_taken = true;
    }

    /// The body was dropped (or ended): count the request and leave flight.
    /// Returns the request's duration in nanoseconds.
    #[inline]
    pub fn finish(mut self) -> u64 {
        self.complete(Ending::Dropped)
    }

    /// Counts the request and leaves flight; `ending` says how a gRPC call
    /// still waiting for its trailers ended. Takes `&mut self` so that the
    /// recorder is not moved again on the way.
    #[inline]
    fn complete(&mut self, ending: Ending) -> u64 {
        // One clock read for the duration, a gRPC deadline and the caller.
        let nanos = self.registry.inner.elapsed_nanos(self.start);
        if self.wants_trailers() {
            self.resolve_grpc(ending, nanos);
        }
        if !self.duration_taken {
            self.observe_duration_nanos(nanos);
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
        nanos
    }
}

/// A recorder at its response head: still due at the end of the body, or done.
#[doc(hidden)]
pub enum Settled {
    /// The body has to be observed to its end.
    Due(Completion),
    /// The request was recorded (its body was sent with its head), `nanos` after its start.
    Done {
        /// The request's duration.
        nanos: u64,
    },
}

impl Settled {
    /// The recorder still due, if any.
    #[inline]
    pub fn due(self) -> Option<Completion> {
        match self {
            Settled::Due(c) => Some(c),
            Settled::Done { .. } => None,
        }
    }
}

/// Counts request body bytes as the application reads them.
#[doc(hidden)]
pub struct RequestSize {
    registry: MetricsRegistry,
    flight: SeriesRef<FlightSeries>,
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

/// Protocol switches and server-sent event streams live as long as the client
/// likes: their duration is taken at the response head.
#[inline]
fn is_long_lived<B: http_body::Body>(response: &Response<B>) -> bool {
    response.status() == StatusCode::SWITCHING_PROTOCOLS
        // A body of known length is no stream: skip the header lookup (most responses).
        || (response.body().size_hint().exact().is_none()
            && response
                .headers()
                .get(header::CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream")))
}
