//! [`RequestSpanService`]: the service produced by [`RequestSpanLayer`](crate::RequestSpanLayer).

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use http::{HeaderName, Request, Response, Version};
use pf_http_core::{AnyBody, RouteExtractor, RouteFilter};
use tower_service::Service;
use tracing::field::Empty;

use crate::context::{RequestContext, RequestFields, RequestFieldsHook, RequestId, WithContext};
use crate::middleware::client::{TrustedProxies, peer_addr};
use crate::middleware::identity::handle::{Identity, IdentityOnSpan};
use crate::middleware::request_id::{MakeRequestUuidV7, resolve};
use crate::middleware::span::body::ResponseBody;
use crate::middleware::span::completion::{Completion, CompletionLevels, OnCompletion};
use crate::middleware::span::future::ResponseFuture;
use crate::redact::Redactor;

/// The settings of a span layer that are not type parameters, shared by its services (and
/// by pf-stack's fused layer, through `internal`).
#[doc(hidden)]
#[derive(Clone)]
pub struct Shared {
    pub(crate) proxies: TrustedProxies,
    pub(crate) redactor: Redactor,
    pub(crate) capture_headers: Vec<HeaderName>,
    pub(crate) excluded: RouteFilter,
    pub(crate) identity_on_span: IdentityOnSpan,
    pub(crate) request_id_header: Option<HeaderName>,
    #[cfg(feature = "opentelemetry")]
    pub(crate) parent: crate::middleware::otel::ParentContext,
}

/// Service that wraps each request in an `HTTP request` span.
///
/// `M` is the body handling: [`AnyBody`] (the default, for any service) or
/// `pf_http_core::AxumBody` (see `RequestSpanLayer::axum_body`, feature `axum`).
#[derive(Clone)]
pub struct RequestSpanService<
    S,
    R = pf_http_core::MatchedPathRoute,
    C = CompletionLevels,
    M = AnyBody,
> {
    pub(crate) inner: S,
    pub(crate) route: R,
    pub(crate) on_completion: C,
    pub(crate) shared: Arc<Shared>,
    pub(crate) mode: std::marker::PhantomData<fn() -> M>,
}

impl<S: fmt::Debug, R, C, M> fmt::Debug for RequestSpanService<S, R, C, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestSpanService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

/// `"{method} {route}"` (or just the method) without allocating unless someone formats it.
struct OtelName<'a>(&'a str, Option<&'a str>);

impl fmt::Display for OtelName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            Some(route) => write!(f, "{} {}", self.0, route),
            None => f.write_str(self.0),
        }
    }
}

fn version_str(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "0.9",
        Version::HTTP_10 => "1.0",
        Version::HTTP_11 => "1.1",
        Version::HTTP_2 => "2",
        Version::HTTP_3 => "3",
        _ => "",
    }
}

/// Captured request headers as one `name: value; ...` string, sensitive values redacted.
fn captured_headers(shared: &Shared, headers: &http::HeaderMap) -> Option<String> {
    if shared.capture_headers.is_empty() {
        return None;
    }
    let mut s = String::new();
    for name in &shared.capture_headers {
        for v in headers.get_all(name) {
            if !s.is_empty() {
                s.push_str("; ");
            }
            s.push_str(name.as_str());
            s.push_str(": ");
            match v.to_str() {
                Ok(v) => s.push_str(&shared.redactor.redact_header(name.as_str(), v)),
                Err(_) if shared.redactor.is_sensitive(name.as_str()) => {
                    s.push_str(pf_http_core::redact::REDACTED);
                }
                Err(_) => s.push_str("<non-ascii>"),
            }
        }
    }
    Some(s)
}

impl<S, R, C, ReqBody, ResBody> Service<Request<ReqBody>> for RequestSpanService<S, R, C, AnyBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    R: RouteExtractor,
    C: OnCompletion,
    ResBody: http_body::Body,
{
    type Response = Response<ResponseBody<ResBody, C>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        self.start(req)
    }
}

/// The axum-native path: `axum::body::Body` in and out; a response body is
/// wrapped (and boxed) only when the completion event has to wait for its end.
#[cfg(feature = "axum")]
impl<S, R, C> Service<Request<axum::body::Body>>
    for RequestSpanService<S, R, C, pf_http_core::AxumBody>
where
    S: Service<Request<axum::body::Body>, Response = Response<axum::body::Body>>,
    R: RouteExtractor,
    C: OnCompletion,
{
    type Response = Response<axum::body::Body>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, C, pf_http_core::AxumBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<axum::body::Body>) -> Self::Future {
        self.start(req)
    }
}

impl<S, R: RouteExtractor, C: OnCompletion, M> RequestSpanService<S, R, C, M> {
    /// Opens the request's span and calls the inner service inside it.
    fn start<ReqBody, M2>(&mut self, req: Request<ReqBody>) -> ResponseFuture<S::Future, C, M2>
    where
        S: Service<Request<ReqBody>>,
    {
        let start = Instant::now();
        let route = self.route.route(req.uri(), req.extensions());
        let (req, opened) = self
            .shared
            .open(req, route, &self.on_completion, Some(start));
        let fut = {
            let _enter = opened.completion.as_ref().map(|c| c.span.enter());
            self.inner.call(req)
        };
        ResponseFuture::new(fut, opened.completion, opened.head, opened.echo)
    }
}

/// What opening a request gives back: its completion (`None` for an excluded route), the
/// request ID to echo on the response, and whether it is a HEAD request.
#[doc(hidden)]
pub struct Opened<C> {
    /// The span and what its end needs.
    pub completion: Option<Completion<C>>,
    /// The response header that echoes the request ID.
    pub echo: Option<(HeaderName, RequestId)>,
    /// A HEAD response's body is never sent: the server drops it unread.
    pub head: bool,
}

impl Shared {
    /// Echoes the request ID in `header` unless a header was chosen already
    /// ([`RequestSpanLayer::request_id`](crate::RequestSpanLayer::request_id)).
    pub fn echo_request_id(&mut self, header: HeaderName) {
        self.request_id_header.get_or_insert(header);
    }

    /// Assigns the request ID (when the layer echoes one), opens the request's span with
    /// `route` (extracted once by the caller) and stores the request's context in its
    /// extensions. `start` is when the request began (`None`: the caller times it and hands
    /// the durations to the completion's `*_after` methods).
    pub fn open<ReqBody, C: OnCompletion>(
        &self,
        mut req: Request<ReqBody>,
        route: Option<pf_http_core::Route>,
        on_completion: &C,
        start: Option<Instant>,
    ) -> (Request<ReqBody>, Opened<C>) {
        let shared = self;
        // Resolved here, stored below with the rest of the request's context (one
        // extension, written once).
        let echo = shared.request_id_header.as_ref().map(|name| {
            let id = resolve(&mut req, name, &mut MakeRequestUuidV7);
            (name.clone(), id)
        });
        // An excluded route gets no span and no completion event (only its request ID).
        if let Some(r) = &route
            && !shared.excluded.is_empty()
            && shared.excluded.matches(r)
        {
            if let Some((_, id)) = &echo {
                Identity::store_request_id(req.extensions_mut(), id.clone());
            }
            let opened = Opened {
                completion: None,
                echo,
                head: false,
            };
            return (req, opened);
        }
        // The request's parts apart, so that the extensions can be updated while the span's
        // fields still borrow the URI and headers.
        let (mut parts, body) = req.into_parts();
        let method = pf_http_core::method_label(&parts.method);
        let query = parts.uri.query().map(|q| shared.redactor.redact_query(q));
        let scheme = parts.uri.scheme_str().unwrap_or("http");
        // The one value policy (pf-http-core's `RedactionPolicy`): borrowed when clean.
        let path = shared.redactor.redact_path(parts.uri.path());
        let user_agent = parts
            .headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| shared.redactor.redact_header("user-agent", ua));
        let client = shared
            .proxies
            .client_address(&parts.headers, peer_addr(&parts.extensions));
        let request_id = match &echo {
            Some((_, id)) => Some(id.clone()),
            // A `RequestIdLayer` in front stored it.
            None => Identity::from_extensions(&parts.extensions)
                .and_then(Identity::request_id)
                .cloned(),
        };
        let captured = captured_headers(shared, &parts.headers);

        // Two callsites with the same fields: with the marker first when a formatter takes
        // the fields through its hook (it then skips the attributes), without it otherwise.
        macro_rules! request_span {
            ($($marker:ident)?) => {
                tracing::info_span!(
                    target: "pf_log_enrich::request",
                    "HTTP request",
                    $(pf.$marker = Empty,)?
                    otel.name = %OtelName(method, route.as_deref()),
                    otel.kind = "server",
                    http.request.method = method,
                    http.route = route.as_deref(),
                    url.path = &*path,
                    url.scheme = scheme,
                    url.query = query.as_deref(),
                    client.address = client.as_deref(),
                    user_agent.original = user_agent.as_deref(),
                    network.protocol.version = version_str(parts.version),
                    request_id = request_id.as_ref().map(RequestId::as_str),
                    http.request.headers = captured.as_deref(),
                    http.response.status_code = Empty,
                    error.type = Empty,
                    otel.status_code = Empty,
                    user.id = Empty,
                    pf.organization.id = Empty,
                )
            };
        }
        let through_hook = RequestFieldsHook::visible();
        let span = if through_hook {
            request_span!(request_fields)
        } else {
            request_span!()
        };

        #[allow(unused_mut)]
        let mut trace = None;
        #[cfg(feature = "opentelemetry")]
        if !span.is_disabled() {
            trace = crate::middleware::otel::attach_parent(&span, &shared.parent, &parts.headers);
        }

        // One extension per request: the request ID layer's `Identity`, completed here.
        let context = Identity::open(
            &mut parts.extensions,
            RequestContext {
                request_id,
                method: parts.method.clone(),
                route,
                user_id: OnceLock::new(),
                org_id: OnceLock::new(),
                trace,
            },
            &span,
            shared.identity_on_span,
        );
        if !span.is_disabled() {
            span.with_subscriber(|(id, dispatch)| {
                if !WithContext::attach(dispatch, id, &context) || !through_hook {
                    // No pf formatter in this subscriber, or none that takes the fields
                    // through its hook (it visited the span's attributes).
                    return;
                }
                // The same values as the span's fields above, for a formatter that writes
                // them itself.
                let fields = RequestFields {
                    method,
                    route: context.route.as_deref(),
                    path: &path,
                    scheme,
                    query: query.as_deref(),
                    client: client.as_deref(),
                    user_agent: user_agent.as_deref(),
                    version: version_str(parts.version),
                    request_id: context.request_id.as_ref().map(RequestId::as_str),
                    headers: captured.as_deref(),
                };
                RequestFieldsHook::render(dispatch, id, &fields);
            });
        }
        let req = Request::from_parts(parts, body);
        let head = req.method() == http::Method::HEAD;
        let completion = Completion {
            span,
            start,
            on_completion: on_completion.clone(),
        };
        let opened = Opened {
            completion: Some(completion),
            echo,
            head,
        };
        (req, opened)
    }
}
