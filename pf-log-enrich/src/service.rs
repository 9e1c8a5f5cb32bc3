//! [`RequestSpan`]: the service produced by [`RequestSpanLayer`](crate::RequestSpanLayer).

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use http::{Method, Request, Response, Version};
use tower_service::Service;
use tracing::field::Empty;

use crate::RequestId;
use crate::client::peer_addr;
use crate::future::ResponseFuture;
use crate::identity::{ContextInner, Identity};
use crate::layer::Config;

/// Service that wraps each request in an `HTTP request` span.
#[derive(Clone)]
pub struct RequestSpan<S> {
    pub(crate) inner: S,
    pub(crate) config: Arc<Config>,
}

impl<S: fmt::Debug> fmt::Debug for RequestSpan<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestSpan")
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

/// Marker stored in the span's extensions, read by this crate's formatters.
#[derive(Clone)]
pub(crate) struct SpanContextExt(pub(crate) Arc<ContextInner>);

fn method_str(m: &Method) -> &str {
    match *m {
        Method::GET
        | Method::POST
        | Method::PUT
        | Method::DELETE
        | Method::PATCH
        | Method::HEAD
        | Method::OPTIONS
        | Method::TRACE
        | Method::CONNECT => m.as_str(),
        _ => "_OTHER",
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

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequestSpan<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: http_body::Body,
{
    type Response = Response<crate::ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let start = Instant::now();
        let cfg = &*self.config;
        let echo = cfg.request_id_header.as_ref().map(|name| {
            let id = crate::request_id::accept_incoming(&req, name).unwrap_or_else(|| {
                crate::MakeRequestId::make_request_id(&mut crate::MakeRequestUuidV7, &req)
            });
            if req.headers().get(name) != Some(id.header_value()) {
                req.headers_mut()
                    .insert(name.clone(), id.header_value().clone());
            }
            req.extensions_mut().insert(id.clone());
            (name.clone(), id)
        });
        let route = cfg.route.route(req.extensions(), req.uri());
        let method = method_str(req.method());
        let query = req.uri().query().map(|q| cfg.redactor.redact_query(q));
        let scheme = req.uri().scheme_str().unwrap_or("http");
        let user_agent = req
            .headers()
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok());
        let client = cfg
            .proxies
            .client_address(req.headers(), peer_addr(req.extensions()));
        let request_id = req.extensions().get::<RequestId>().cloned();
        let captured = if cfg.capture_headers.is_empty() {
            None
        } else {
            let mut s = String::new();
            for name in &cfg.capture_headers {
                for v in req.headers().get_all(name) {
                    if !s.is_empty() {
                        s.push_str("; ");
                    }
                    s.push_str(name.as_str());
                    s.push_str(": ");
                    if cfg.redactor.is_sensitive(name.as_str()) {
                        s.push_str(crate::redact::REDACTED);
                    } else {
                        s.push_str(v.to_str().unwrap_or("<non-ascii>"));
                    }
                }
            }
            Some(s)
        };

        let span = tracing::info_span!(
            target: "pf_log_enrich::request",
            "HTTP request",
            otel.name = %OtelName(method, route.as_deref()),
            otel.kind = "server",
            http.request.method = method,
            http.route = route.as_deref(),
            url.path = req.uri().path(),
            url.scheme = scheme,
            url.query = query.as_deref(),
            client.address = client.as_deref(),
            user_agent.original = user_agent,
            network.protocol.version = version_str(req.version()),
            request_id = request_id.as_ref().map(RequestId::as_str),
            http.request.headers = captured.as_deref(),
            http.response.status_code = Empty,
            error.type = Empty,
            otel.status_code = Empty,
            user.id = Empty,
            pf.organization.id = Empty,
        );

        #[allow(unused_mut)]
        let mut trace = None;
        #[cfg(feature = "opentelemetry")]
        if !span.is_disabled() {
            trace = crate::otel::attach_parent(&span, &cfg.parent, req.headers());
        }

        let inner = Arc::new(ContextInner {
            request_id,
            method: req.method().clone(),
            route,
            user_id: OnceLock::new(),
            org_id: OnceLock::new(),
            trace,
        });
        if !span.is_disabled() {
            span.with_subscriber(|(id, dispatch)| {
                if let Some(registry) = dispatch.downcast_ref::<tracing_subscriber::Registry>() {
                    use tracing_subscriber::registry::LookupSpan;
                    if let Some(data) = registry.span(id) {
                        data.extensions_mut().insert(SpanContextExt(inner.clone()));
                    }
                }
            });
        }

        let emit = cfg.completion_event && !is_excluded(cfg, &inner, req.uri().path());
        req.extensions_mut().insert(Identity {
            inner: inner.clone(),
            span: span.clone(),
            record_on_span: cfg.record_identity_on_span,
        });

        // A HEAD response's body is never sent: the server drops it unread.
        let head = req.method() == http::Method::HEAD;
        let fut = {
            let _enter = span.enter();
            self.inner.call(req)
        };
        ResponseFuture::new(
            fut,
            span,
            inner,
            self.config.clone(),
            start,
            emit,
            head,
            echo,
        )
    }
}

fn is_excluded(cfg: &Config, ctx: &ContextInner, path: &str) -> bool {
    if cfg.excluded.is_empty() {
        return false;
    }
    let key = ctx.route.as_deref().unwrap_or(path);
    cfg.excluded.iter().any(|e| e == key || e == path)
}
