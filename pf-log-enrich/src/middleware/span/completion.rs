//! The "request completed" event: whether it is written, at which level, and what the span
//! records when the response ends.

use std::time::{Duration, Instant};

use pf_http_core::BodyEnd;
use tracing::{Level, Span};

use crate::context::millis;
use crate::fields;

/// Decides the "request completed" event of [`RequestSpanLayer`](crate::RequestSpanLayer):
/// whether there is one and at which level. The span records status and errors either way.
///
/// [`CompletionLevels`] (the default) writes one per request; [`NoCompletionEvent`] none
/// (for services that only want spans). Implement it for other rules, e.g. to log only slow
/// or failed requests' levels differently:
///
/// ```
/// use pf_log_enrich::{OnCompletion, RequestSpanLayer};
/// use tracing::Level;
///
/// /// Errors only: successful requests leave no log line (their span is still exported).
/// #[derive(Clone, Copy)]
/// struct ErrorsOnly;
///
/// impl OnCompletion for ErrorsOnly {
///     fn level(&self, status: u16, server_error: bool) -> Option<Level> {
///         if server_error { Some(Level::ERROR) } else if status >= 400 { Some(Level::WARN) } else { None }
///     }
///     fn cancelled_level(&self) -> Option<Level> {
///         Some(Level::WARN)
///     }
/// }
///
/// let layer = RequestSpanLayer::new().on_completion(ErrorsOnly);
/// # let _ = layer;
/// ```
pub trait OnCompletion: Clone + Send + Sync + 'static {
    /// The level of the event for a response with `status` (`server_error`: a 5xx, a body
    /// that failed, or a service error, reported as 500), or `None` for no event.
    fn level(&self, status: u16, server_error: bool) -> Option<Level>;

    /// The level of the "request cancelled" event (the response future was dropped before
    /// the response: the client went away, or a panic without a catch-panic layer inside),
    /// or `None` for no event.
    fn cancelled_level(&self) -> Option<Level>;
}

/// Levels of the "request completed" event by outcome: the default [`OnCompletion`].
///
/// ```
/// use pf_log_enrich::CompletionLevels;
/// use tracing::Level;
/// let levels = CompletionLevels::new().client_error(Level::INFO);
/// assert_eq!(levels.for_status(404), Level::INFO);
/// assert_eq!(levels.for_status(503), Level::ERROR);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CompletionLevels {
    /// 5xx responses, failed bodies and service errors (default `ERROR`).
    pub server_error: Level,
    /// 4xx responses (default `WARN`).
    pub client_error: Level,
    /// Everything else (default `INFO`).
    pub success: Level,
}

impl Default for CompletionLevels {
    fn default() -> Self {
        Self {
            server_error: Level::ERROR,
            client_error: Level::WARN,
            success: Level::INFO,
        }
    }
}

impl CompletionLevels {
    /// 5xx error, 4xx warn, else info.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the level of 5xx responses, failed bodies and service errors.
    pub fn server_error(mut self, level: Level) -> Self {
        self.server_error = level;
        self
    }

    /// Sets the level of 4xx responses.
    pub fn client_error(mut self, level: Level) -> Self {
        self.client_error = level;
        self
    }

    /// Sets the level of every other response.
    pub fn success(mut self, level: Level) -> Self {
        self.success = level;
        self
    }

    /// The level for a status code.
    pub fn for_status(&self, status: u16) -> Level {
        match status {
            500.. => self.server_error,
            400..=499 => self.client_error,
            _ => self.success,
        }
    }
}

impl OnCompletion for CompletionLevels {
    #[inline]
    fn level(&self, status: u16, server_error: bool) -> Option<Level> {
        Some(if server_error {
            self.server_error
        } else {
            self.for_status(status)
        })
    }

    #[inline]
    fn cancelled_level(&self) -> Option<Level> {
        Some(Level::WARN)
    }
}

/// No "request completed" event (the span is still recorded, with status and errors).
///
/// ```
/// use pf_log_enrich::{NoCompletionEvent, RequestSpanLayer};
/// let layer = RequestSpanLayer::new().on_completion(NoCompletionEvent);
/// # let _ = layer;
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoCompletionEvent;

impl OnCompletion for NoCompletionEvent {
    #[inline]
    fn level(&self, _status: u16, _server_error: bool) -> Option<Level> {
        None
    }

    #[inline]
    fn cancelled_level(&self) -> Option<Level> {
        None
    }
}

/// The completion event, a child of the request span given explicitly: the span is not
/// entered and exited around it (two subscriber calls and a span-stack push and pop saved),
/// and formatters find it through the event's scope all the same.
macro_rules! completion_event {
    ($span:expr, $level:expr, $($fields:tt)*) => {
        match $level {
            Level::ERROR => tracing::event!(target: "pf_log_enrich::request", parent: $span, Level::ERROR, $($fields)*),
            Level::WARN => tracing::event!(target: "pf_log_enrich::request", parent: $span, Level::WARN, $($fields)*),
            Level::INFO => tracing::event!(target: "pf_log_enrich::request", parent: $span, Level::INFO, $($fields)*),
            Level::DEBUG => tracing::event!(target: "pf_log_enrich::request", parent: $span, Level::DEBUG, $($fields)*),
            _ => tracing::event!(target: "pf_log_enrich::request", parent: $span, Level::TRACE, $($fields)*),
        }
    };
}

/// What a request's end needs: its span, its start, and the completion rule.
#[doc(hidden)]
pub struct Completion<C> {
    pub(crate) span: Span,
    /// `None` when the caller times the request and hands the duration to the `*_after`
    /// methods (pf-stack: the metrics' clock, read once at each end).
    pub(crate) start: Option<Instant>,
    pub(crate) on_completion: C,
}

impl<C: OnCompletion> Completion<C> {
    /// The request's span.
    pub fn span(&self) -> &Span {
        &self.span
    }

    /// The request's duration: `given`, or the time since its start.
    fn elapsed(&self, given: Option<Duration>) -> Duration {
        given
            .or_else(|| self.start.map(|s| s.elapsed()))
            .unwrap_or_default()
    }

    /// The response body ended (or there was none to send).
    pub fn response(self, status: u16, end: BodyEnd, bytes: u64) {
        self.response_after(status, end, bytes, None);
    }

    /// [`response`](Self::response), `elapsed` after the start when given.
    pub fn response_after(self, status: u16, end: BodyEnd, bytes: u64, elapsed: Option<Duration>) {
        let ms = millis(self.elapsed(elapsed));
        let body_error = end == BodyEnd::Errored;
        let error_type = if status >= 500 {
            Some(status_str(status))
        } else if body_error {
            Some("body_error")
        } else {
            None
        };
        let incomplete = (end != BodyEnd::Complete).then_some(true);
        if let Some(level) = self
            .on_completion
            .level(status, status >= 500 || body_error)
        {
            completion_event!(
                &self.span,
                level,
                http.response.status_code = i64::from(status),
                error.type = error_type,
                duration_ms = ms,
                http.response.body.size = bytes,
                pf.response.incomplete = incomplete,
                "request completed"
            );
        }
        // Recorded after the event so human formats do not print them twice.
        self.span
            .record(fields::HTTP_RESPONSE_STATUS_CODE, i64::from(status));
        if let Some(error_type) = error_type {
            self.span.record(fields::ERROR_TYPE, error_type);
            self.span.record("otel.status_code", "ERROR");
        }
    }

    /// The inner service returned an error instead of a response.
    pub fn service_error(self) {
        self.service_error_after(None);
    }

    /// [`service_error`](Self::service_error), `elapsed` after the start when given.
    pub fn service_error_after(self, elapsed: Option<Duration>) {
        if let Some(level) = self.on_completion.level(500, true) {
            let ms = millis(self.elapsed(elapsed));
            completion_event!(
                &self.span,
                level,
                error.type = "_OTHER",
                duration_ms = ms,
                "request completed"
            );
        }
        self.span.record(fields::ERROR_TYPE, "_OTHER");
        self.span.record("otel.status_code", "ERROR");
    }

    /// The response future was dropped before the response.
    pub fn cancelled(self) {
        self.cancelled_after(None);
    }

    /// [`cancelled`](Self::cancelled), `elapsed` after the start when given.
    pub fn cancelled_after(self, elapsed: Option<Duration>) {
        if let Some(level) = self.on_completion.cancelled_level() {
            let ms = millis(self.elapsed(elapsed));
            completion_event!(&self.span, level, duration_ms = ms, "request cancelled");
        }
    }
}

/// `error.type` of a 5xx: the status code as a string (semantic conventions).
fn status_str(status: u16) -> &'static str {
    const CODES: [&str; 12] = [
        "500", "501", "502", "503", "504", "505", "506", "507", "508", "509", "510", "511",
    ];
    CODES
        .get(usize::from(status.saturating_sub(500)))
        .copied()
        .unwrap_or("5xx")
}
