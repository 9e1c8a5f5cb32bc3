//! What one request records, from start to end, shared by the future and the bodies.

use std::ptr::NonNull;

use crate::registry::{
    FlightSeries, IN_FLIGHT_WORD, MetricsRegistry, ResponseSeries, RouteEntry, Timing,
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
}

impl InFlight {
    /// Counts the request in flight and starts its clock.
    #[inline]
    pub(crate) fn start(registry: &MetricsRegistry, route: &RouteEntry, method: u8) -> Self {
        let inner = &*registry.inner;
        let flight = inner.flight(route, method);
        flight.cells.local().add(IN_FLIGHT_WORD, 1);
        Self {
            route: SeriesPtr::new(route),
            flight: SeriesPtr::new(flight),
            method,
            start: inner.now(),
            registry: registry.clone(),
        }
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
            registry: self.registry,
        };
        if at_head {
            c.observe_duration();
        }
        c
    }

    /// The request ended without a response head (service error, panic, or
    /// the client went away): record it under `status` with no body.
    pub(crate) fn abort(self, status: u16) {
        self.head(status, false).finish();
    }
}

/// A response between its head and the end of its body.
pub(crate) struct Completion {
    registry: MetricsRegistry,
    series: SeriesPtr<ResponseSeries>,
    flight: SeriesPtr<FlightSeries>,
    start: u64,
    duration_taken: bool,
    pub(crate) bytes: u64,
}

impl Completion {
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
        self.duration_taken = true;
    }

    /// The body ended (or was dropped): count the request and leave flight.
    #[inline]
    pub(crate) fn finish(mut self) {
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
