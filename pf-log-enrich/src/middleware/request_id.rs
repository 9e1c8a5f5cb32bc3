//! Request IDs: accept a well-formed incoming ID or generate a UUIDv7, store it in the request
//! extensions and echo it on every response.
//!
//! The layer goes outermost, so that responses produced by inner layers (timeouts, auth
//! rejections, [`CatchPanic`](https://docs.rs/tower-http/latest/tower_http/catch_panic/index.html)
//! answers) carry the ID too.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{HeaderName, HeaderValue, Request, Response};

use crate::context::RequestId;
use crate::middleware::identity::handle::Identity;
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

/// The default request ID header, `x-request-id`.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Makes a new request ID when the request carries no acceptable one.
///
/// Implemented for closures `FnMut(&Request<B>) -> RequestId` through [`make_request_id_fn`].
///
/// ```
/// use pf_log_enrich::{MakeRequestId, RequestId};
/// #[derive(Clone, Default)]
/// struct Counter(u64);
/// impl MakeRequestId for Counter {
///     fn make_request_id<B>(&mut self, _req: &http::Request<B>) -> RequestId {
///         self.0 += 1;
///         RequestId::parse(self.0.to_string().as_bytes()).unwrap()
///     }
/// }
/// let layer = pf_log_enrich::RequestIdLayer::new().make_request_id(Counter::default());
/// # let _ = layer;
/// ```
pub trait MakeRequestId: Clone {
    /// Returns a fresh request ID for `req`.
    fn make_request_id<B>(&mut self, req: &Request<B>) -> RequestId;
}

/// Generates UUIDv7 request IDs (time-ordered; `uuid`'s `fast-rng`, no system call per ID).
///
/// ```
/// use pf_log_enrich::{MakeRequestId, MakeRequestUuidV7};
/// let id = MakeRequestUuidV7.make_request_id(&http::Request::new(()));
/// assert_eq!(id.as_str().len(), 36);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct MakeRequestUuidV7;

impl MakeRequestId for MakeRequestUuidV7 {
    fn make_request_id<B>(&mut self, _req: &Request<B>) -> RequestId {
        // Version 7: the Unix time in milliseconds, then 74 random bits from a per-thread
        // wyrand (`fastrand`): unique without coordination and ordered by time to the
        // millisecond. Not `Uuid::now_v7`, whose ChaCha generator and in-millisecond counter
        // cost several times more per request; request IDs are not secrets.
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let random = fastrand::u128(..).to_le_bytes();
        let mut counter_random = [0u8; 10];
        counter_random.copy_from_slice(&random[..10]);
        let uuid = uuid::Builder::from_unix_timestamp_millis(millis, &counter_random).into_uuid();
        let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
        uuid.hyphenated().encode_lower(&mut buf);
        // One allocation that every clone shares (the request header, the
        // extension, the response header). A copied `Bytes` would allocate
        // again on its first clone, to become shareable.
        let value = HeaderValue::from_maybe_shared(bytes::Bytes::from_owner(buf))
            .expect("a UUID is a valid header value");
        RequestId::new(value)
    }
}

/// A [`MakeRequestId`] from a closure; see [`make_request_id_fn`].
#[derive(Clone, Copy)]
pub struct MakeRequestIdFn<F>(F);

impl<F> fmt::Debug for MakeRequestIdFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MakeRequestIdFn")
    }
}

/// Wraps a closure returning a fresh ID as a [`MakeRequestId`].
///
/// ```
/// use pf_log_enrich::{RequestId, RequestIdLayer, make_request_id_fn};
/// let layer = RequestIdLayer::new()
///     .make_request_id(make_request_id_fn(|| RequestId::from_static("fixed")));
/// # let _ = layer;
/// ```
pub fn make_request_id_fn<F>(f: F) -> MakeRequestIdFn<F>
where
    F: FnMut() -> RequestId + Clone,
{
    MakeRequestIdFn(f)
}

impl<F> MakeRequestId for MakeRequestIdFn<F>
where
    F: FnMut() -> RequestId + Clone,
{
    fn make_request_id<B>(&mut self, _req: &Request<B>) -> RequestId {
        (self.0)()
    }
}

/// Layer that sets, stores and echoes a request ID.
///
/// An incoming header is kept only when it appears exactly once and is 1..=128 printable ASCII
/// characters; otherwise a new ID is generated. The ID is inserted into the request headers
/// (replacing the rejected value), the request's [`Identity`] in its extensions (read it with
/// [`Identity::request_id`], or take the [`RequestId`] as an axum extractor) and the response
/// headers (always, including responses built by inner layers).
///
/// ```
/// use axum::{Router, routing::get};
/// use pf_log_enrich::RequestIdLayer;
/// let app: Router = Router::new()
///     .route("/", get(|| async { "hi" }))
///     .layer(RequestIdLayer::new());
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct RequestIdLayer<M = MakeRequestUuidV7> {
    header: HeaderName,
    make: M,
}

impl RequestIdLayer {
    /// `x-request-id`, UUIDv7 generation.
    pub fn new() -> Self {
        Self {
            header: X_REQUEST_ID,
            make: MakeRequestUuidV7,
        }
    }
}

impl Default for RequestIdLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<M> RequestIdLayer<M> {
    /// Uses another header name (e.g. `x-correlation-id`).
    pub fn header_name(mut self, header: HeaderName) -> Self {
        self.header = header;
        self
    }

    /// Uses another ID generator.
    pub fn make_request_id<M2: MakeRequestId>(self, make: M2) -> RequestIdLayer<M2> {
        RequestIdLayer {
            header: self.header,
            make,
        }
    }
}

impl<S, M: Clone> Layer<S> for RequestIdLayer<M> {
    type Service = RequestIdService<S, M>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestIdService {
            inner,
            header: self.header.clone(),
            make: self.make.clone(),
        }
    }
}

/// Service produced by [`RequestIdLayer`].
#[derive(Clone, Debug)]
pub struct RequestIdService<S, M = MakeRequestUuidV7> {
    inner: S,
    header: HeaderName,
    make: M,
}

impl<S, M, ReqBody, ResBody> Service<Request<ReqBody>> for RequestIdService<S, M>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    M: MakeRequestId,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = RequestIdFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let id = assign(&mut req, &self.header, &mut self.make);
        RequestIdFuture {
            inner: self.inner.call(req),
            header: Some((self.header.clone(), id)),
        }
    }
}

/// The request's ID: its incoming one when valid, or a new one from `make`,
/// written into the request's `header` (replacing an invalid or duplicated
/// value) and its extensions. One header-map lookup when the incoming ID is
/// kept, two when one is made.
pub(crate) fn assign<B>(
    req: &mut Request<B>,
    header: &HeaderName,
    make: &mut impl MakeRequestId,
) -> RequestId {
    let id = resolve(req, header, make);
    Identity::store_request_id(req.extensions_mut(), id.clone());
    id
}

/// The request's ID: a well-formed incoming one, or a new one, written into the request's
/// header. Not stored in the extensions: for a caller that stores it with the rest of the
/// request's context.
pub(crate) fn resolve<B>(
    req: &mut Request<B>,
    header: &HeaderName,
    make: &mut impl MakeRequestId,
) -> RequestId {
    match accept_incoming(req, header) {
        Some(id) => id,
        None => {
            let id = make.make_request_id(req);
            req.headers_mut()
                .insert(header.clone(), id.header_value().clone());
            id
        }
    }
}

fn accept_incoming<B>(req: &Request<B>, header: &HeaderName) -> Option<RequestId> {
    let mut values = req.headers().get_all(header).iter();
    let first = values.next()?;
    if values.next().is_some() {
        return None; // duplicates are ambiguous: replace
    }
    crate::context::is_valid_request_id(first.as_bytes()).then(|| RequestId::new(first.clone()))
}

pin_project! {
    /// Response future of [`RequestIdService`]: copies the ID onto the response.
    pub struct RequestIdFuture<F> {
        #[pin]
        inner: F,
        header: Option<(HeaderName, RequestId)>,
    }
}

impl<F, B, E> Future for RequestIdFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut res = ready!(this.inner.poll(cx))?;
        if let Some((name, id)) = this.header.take() {
            res.headers_mut().insert(name, id.into_header_value());
        }
        Poll::Ready(Ok(res))
    }
}

impl<F> fmt::Debug for RequestIdFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestIdFuture")
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity() {
        use crate::context::is_valid_request_id;
        assert!(is_valid_request_id(&[b'x'; 128]));
        assert!(!is_valid_request_id(&[b'x'; 129]));
        assert!(!is_valid_request_id(b""));
        assert!(!is_valid_request_id("é".as_bytes()));
        assert!(!is_valid_request_id(b"a\tb"));
    }

    #[test]
    fn uuid_v7() {
        let a = MakeRequestUuidV7.make_request_id(&Request::new(()));
        let b = MakeRequestUuidV7.make_request_id(&Request::new(()));
        assert_ne!(a, b);
        assert_eq!(&a.as_str()[14..15], "7");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let id = MakeRequestUuidV7.make_request_id(&Request::new(()));
            let uuid = uuid::Uuid::parse_str(id.as_str()).expect("a hyphenated UUID");
            assert_eq!(uuid.get_version_num(), 7);
            assert_eq!(uuid.get_variant(), uuid::Variant::RFC4122);
            let (secs, nanos) = uuid.get_timestamp().expect("v7 has a time").to_unix();
            let millis = secs * 1000 + u64::from(nanos) / 1_000_000;
            assert!(millis.abs_diff(now) < 60_000, "{id} is not from now");
            assert!(seen.insert(uuid), "{id} generated twice");
        }
    }
}
