//! The per-request context: what the request middleware learns about a request and the
//! subscriber layers write on every line inside it.
//!
//! This is the one module both sides read. The middleware (`crate::middleware`) fills a
//! [`RequestContext`] and hands it to the span through [`WithContext`]; the subscriber layers
//! (`crate::subscriber`) provide that [`WithContext`] and read the context back from the
//! span's extensions. Neither side imports the other.
//!
//! [`WithContext`] is the pattern of `tracing-opentelemetry` and `tracing-error`: a layer
//! that wants request contexts answers `downcast_raw` for `WithContext` with a function that
//! knows the layer's subscriber type, so the middleware reaches the span's extensions under
//! any subscriber (a `Registry`, a `Layered` stack, a `fmt()` subscriber) without knowing
//! its type. Without such a layer nothing is stored.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::HeaderValue;
use pf_http_core::Route;
use tracing::{Dispatch, Subscriber, span::Id};
use tracing_subscriber::registry::LookupSpan;

/// The longest incoming request ID that is accepted (in bytes).
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// `true` when `bytes` is 1..=128 printable ASCII characters (`0x21..=0x7e`, no spaces).
///
/// ```
/// use pf_log_enrich::is_valid_request_id;
/// assert!(is_valid_request_id(b"0190a8c4-7b4e-7cc1-8f0e-1c2d3e4f5a6b"));
/// assert!(!is_valid_request_id(&[b'a'; 129]));
/// assert!(!is_valid_request_id(b"has space"));
/// ```
pub fn is_valid_request_id(bytes: &[u8]) -> bool {
    !bytes.is_empty()
        && bytes.len() <= MAX_REQUEST_ID_LEN
        && bytes.iter().all(|b| (0x21..=0x7e).contains(b))
}

/// A request ID, stored in the request extensions by
/// [`RequestIdLayer`](crate::RequestIdLayer).
///
/// ```
/// use pf_log_enrich::RequestId;
/// let id = RequestId::from_static("abc-123");
/// assert_eq!(id.as_str(), "abc-123");
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RequestId(HeaderValue);

impl RequestId {
    /// Wraps a header value. Use [`RequestId::parse`] for untrusted input.
    pub fn new(value: HeaderValue) -> Self {
        Self(value)
    }

    /// A request ID from a static string (must be valid, see [`is_valid_request_id`]).
    ///
    /// # Panics
    /// If `s` is not a valid request ID.
    pub fn from_static(s: &'static str) -> Self {
        assert!(is_valid_request_id(s.as_bytes()), "invalid request id");
        Self(HeaderValue::from_static(s))
    }

    /// Accepts `bytes` only if it is a valid request ID (1..=128 printable ASCII characters).
    ///
    /// ```
    /// use pf_log_enrich::RequestId;
    /// assert!(RequestId::parse(b"abc").is_some());
    /// assert!(RequestId::parse(b"").is_none());
    /// assert!(RequestId::parse(b"a\x01b").is_none());
    /// ```
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        if is_valid_request_id(bytes) {
            HeaderValue::from_bytes(bytes).ok().map(Self)
        } else {
            None
        }
    }

    /// The ID as a string slice.
    pub fn as_str(&self) -> &str {
        // Only constructed from printable ASCII (or a caller's header value).
        self.0.to_str().unwrap_or("")
    }

    /// The ID as a header value.
    pub fn header_value(&self) -> &HeaderValue {
        &self.0
    }

    /// The header value, without a copy.
    pub fn into_header_value(self) -> HeaderValue {
        self.0
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Trace and span ID of the request span (raw bytes), when OpenTelemetry is active.
///
/// ```
/// # fn show(identity: &pf_log_enrich::Identity) {
/// if let Some(ids) = identity.trace_ids() {
///     println!("trace {} span {}", ids.trace_id_hex(), ids.span_id_hex());
/// }
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TraceIds {
    /// W3C trace ID.
    pub trace_id: [u8; 16],
    /// W3C span ID of the request span.
    pub span_id: [u8; 8],
    /// Whether the span is sampled.
    pub sampled: bool,
}

impl TraceIds {
    /// Trace and span IDs from their raw bytes.
    pub fn new(trace_id: [u8; 16], span_id: [u8; 8], sampled: bool) -> Self {
        Self {
            trace_id,
            span_id,
            sampled,
        }
    }

    /// Lower-case hex of the trace ID.
    pub fn trace_id_hex(&self) -> String {
        pf_http_core::internal::text::hex(&self.trace_id)
    }

    /// Lower-case hex of the span ID.
    pub fn span_id_hex(&self) -> String {
        pf_http_core::internal::text::hex(&self.span_id)
    }
}

/// What is known about one request, shared by its `Identity` handle and its span.
#[derive(Clone)]
pub(crate) struct RequestContext {
    pub(crate) request_id: Option<RequestId>,
    pub(crate) method: http::Method,
    pub(crate) route: Option<Route>,
    pub(crate) user_id: OnceLock<Box<str>>,
    pub(crate) org_id: OnceLock<Box<str>>,
    pub(crate) trace: Option<TraceIds>,
}

/// The request context in a span's extensions (put there through [`WithContext`]).
#[derive(Clone)]
pub(crate) struct SpanContext(pub(crate) Arc<RequestContext>);

/// Stores a request context in a span's extensions, under whatever subscriber the layer
/// providing it runs in.
#[derive(Clone, Copy)]
pub(crate) struct WithContext(fn(&Dispatch, &Id, &Arc<RequestContext>));

impl WithContext {
    /// The function for a layer over subscriber `S`.
    pub(crate) fn new<S>() -> Self
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        Self(attach::<S>)
    }

    /// Puts `context` into the extensions of span `id` when `dispatch` holds a layer that
    /// reads request contexts, and says whether it did.
    pub(crate) fn attach(dispatch: &Dispatch, id: &Id, context: &Arc<RequestContext>) -> bool {
        match dispatch.downcast_ref::<WithContext>() {
            Some(with) => {
                (with.0)(dispatch, id, context);
                true
            }
            None => false,
        }
    }
}

fn attach<S>(dispatch: &Dispatch, id: &Id, context: &Arc<RequestContext>)
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    if let Some(span) = dispatch
        .downcast_ref::<S>()
        .and_then(|subscriber| subscriber.span(id))
    {
        span.extensions_mut().insert(SpanContext(context.clone()));
    }
}

/// The request span's fields, borrowed from the request while its span opens. A formatter
/// that writes them itself ([`RequestFieldsHook`], the JSON layer) gets them here, instead of
/// visiting the span's attributes field by field through tracing's `Visit`.
pub(crate) struct RequestFields<'a> {
    pub(crate) method: &'a str,
    pub(crate) route: Option<&'a str>,
    pub(crate) path: &'a str,
    pub(crate) scheme: &'a str,
    pub(crate) query: Option<&'a str>,
    pub(crate) client: Option<&'a str>,
    pub(crate) user_agent: Option<&'a str>,
    pub(crate) version: &'a str,
    pub(crate) request_id: Option<&'a str>,
    pub(crate) headers: Option<&'a str>,
}

impl RequestFields<'_> {
    /// Each present field with its name, in the order of the request span's fields (the
    /// order its JSON line has always had; the enrich tests hold it).
    pub(crate) fn for_each(&self, mut f: impl FnMut(&'static str, &str)) {
        use crate::fields::*;
        f(HTTP_REQUEST_METHOD, self.method);
        if let Some(route) = self.route {
            f(HTTP_ROUTE, route);
        }
        f(URL_PATH, self.path);
        f(URL_SCHEME, self.scheme);
        if let Some(query) = self.query {
            f(URL_QUERY, query);
        }
        if let Some(client) = self.client {
            f(CLIENT_ADDRESS, client);
        }
        if let Some(user_agent) = self.user_agent {
            f(USER_AGENT_ORIGINAL, user_agent);
        }
        f(NETWORK_PROTOCOL_VERSION, self.version);
        if let Some(request_id) = self.request_id {
            f(REQUEST_ID, request_id);
        }
        if let Some(headers) = self.headers {
            f(HTTP_REQUEST_HEADERS, headers);
        }
    }
}

/// The first field of a request span whose fields reach a formatter through
/// [`RequestFieldsHook`]: declared, never recorded (so no layer ever sees a value for it).
///
/// The request middleware looks for the hook *before* it opens the span and opens it from one
/// of two callsites: with this marker when the hook is there (the formatter then skips the
/// span's attributes: its fields arrive through the hook, right after the span opened), without
/// it when the hook is hidden (a wrapper that does not forward `downcast_raw`, such as
/// tracing-subscriber's `reload::Layer`): the formatter then visits the attributes, the
/// documented fallback. Decided per span from the span's own metadata, never by a flag.
pub(crate) const REQUEST_FIELDS_MARKER: &str = "pf.request_fields";

/// Whether a span's fields come through [`RequestFieldsHook`]: its first field is
/// [`REQUEST_FIELDS_MARKER`] (one string compare).
pub(crate) fn fields_come_through_hook(meta: &tracing::Metadata<'_>) -> bool {
    meta.fields()
        .iter()
        .next()
        .is_some_and(|field| field.name() == REQUEST_FIELDS_MARKER)
        && meta.target() == crate::fields::REQUEST_TARGET
}

/// Hands a request span's [`RequestFields`] to the one layer that formats them itself (the
/// JSON layer), found like [`WithContext`].
///
/// The fields reach the JSON line through this hook only, on every request span the
/// middleware opened while the hook was visible (see [`REQUEST_FIELDS_MARKER`]). The span's
/// attributes are visited instead only where the hook is hidden from the middleware.
pub(crate) struct RequestFieldsHook {
    render: fn(&Dispatch, &Id, &RequestFields<'_>, &crate::redact::Redactor),
    redactor: crate::redact::Redactor,
}

impl RequestFieldsHook {
    pub(crate) fn new(
        render: fn(&Dispatch, &Id, &RequestFields<'_>, &crate::redact::Redactor),
        redactor: crate::redact::Redactor,
    ) -> Self {
        Self { render, redactor }
    }

    /// Whether the current dispatcher exposes a hook: asked before the request span opens.
    pub(crate) fn visible() -> bool {
        tracing::dispatcher::get_default(|dispatch| {
            dispatch.downcast_ref::<RequestFieldsHook>().is_some()
        })
    }

    /// Gives span `id`'s fields to the layer of `dispatch` that formats them, if any.
    pub(crate) fn render(dispatch: &Dispatch, id: &Id, fields: &RequestFields<'_>) {
        if let Some(hook) = dispatch.downcast_ref::<RequestFieldsHook>() {
            (hook.render)(dispatch, id, fields, &hook.redactor);
        }
    }
}

/// `on_layer` and `downcast_raw` of a subscriber layer holding a
/// `with_context: Option<WithContext>` field: the field is set for the subscriber `$s` the
/// layer is added to, and `downcast_raw` answers for the layer itself and for [`WithContext`].
/// (The one place of this crate that implements an `unsafe` trait method.)
///
/// With `request_fields = make`, the layer also holds a `request_fields` field set to
/// `make::<$s>(self.redactor.clone())` and answers for [`RequestFieldsHook`].
macro_rules! with_context_hooks {
    ($s:ty) => {
        fn on_layer(&mut self, _subscriber: &mut $s) {
            self.with_context = Some(crate::context::WithContext::new::<$s>());
        }

        crate::context::with_context_hooks!(@downcast);
    };
    ($s:ty, request_fields = $make:ident) => {
        fn on_layer(&mut self, _subscriber: &mut $s) {
            self.with_context = Some(crate::context::WithContext::new::<$s>());
            self.request_fields = Some($make::<$s>(self.redactor.clone()));
        }

        crate::context::with_context_hooks!(@downcast request_fields);
    };
    (@downcast $($field:ident)?) => {
        // SAFETY: the pointers are to `self`, to the `WithContext` in its `with_context` field
        // and (with `request_fields`) to the `RequestFieldsHook` in that field, each returned
        // only for its own `TypeId`, as `Layer::downcast_raw` requires.
        #[allow(unsafe_code)]
        unsafe fn downcast_raw(&self, id: std::any::TypeId) -> Option<*const ()> {
            if id == std::any::TypeId::of::<Self>() {
                Some(std::ptr::from_ref(self).cast())
            } else if id == std::any::TypeId::of::<crate::context::WithContext>() {
                self.with_context
                    .as_ref()
                    .map(|with| std::ptr::from_ref(with).cast())
            }
            $(else if id == std::any::TypeId::of::<crate::context::RequestFieldsHook>() {
                self.$field
                    .as_ref()
                    .map(|hook| std::ptr::from_ref(hook).cast())
            })?
            else {
                None
            }
        }
    };
}
pub(crate) use with_context_hooks;

/// Milliseconds with microsecond resolution (short decimal output: `0.5`, `12.345`).
pub(crate) fn millis(d: Duration) -> f64 {
    (d.as_micros() as f64) / 1000.0
}
