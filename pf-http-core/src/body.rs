//! One end-of-body observer: fires exactly once, with how the body ended; one
//! rule for which bodies end with their head; and the markers that choose how a
//! layer hands bodies back ([`AnyBody`], [`AxumBody`]).

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

/// How a response body ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyEnd {
    /// Every byte was handed to the server, or there was nothing to send: a
    /// body already at its end (404 fallback, 405, 204, 304) is never polled,
    /// and a HEAD response's body is never sent.
    Complete,
    /// The body yielded an error.
    Errored,
    /// The body was dropped before its end: the client went away mid-stream.
    Aborted,
}

/// The largest body of exact, known size that counts as handed to the server
/// together with its head (64 KiB): see [`sent_with_head`].
pub const SENT_WITH_HEAD_LIMIT: u64 = 64 * 1024;

/// The data bytes a response body hands to the server together with its head,
/// or `None` when the body has to be observed to its end.
///
/// A body already at its end (404 fallback, 405, 204, 304) sends nothing and
/// is never polled. A body of exact known size up to
/// [`SENT_WITH_HEAD_LIMIT`] is a buffered response (JSON, a string, bytes):
/// every byte of it exists when the head does, and hyper polls it in the same
/// turn as it writes the head, so its end is its head. Streams (no exact size)
/// and large bodies are observed to their end. This is the one rule every pf
/// layer applies, so that a request's duration in the metrics and in its log
/// line end at the same moment, and so that buffered responses need no body
/// wrapper at all (no allocation when axum re-boxes bodies).
///
/// ```
/// use bytes::Bytes;
/// use http_body_util::{Empty, Full, StreamBody};
/// use pf_http_core::sent_with_head;
///
/// assert_eq!(sent_with_head(&Empty::<Bytes>::new()), Some(0));
/// assert_eq!(sent_with_head(&Full::new(Bytes::from_static(b"{\"id\":7}"))), Some(8));
/// let big = Full::new(Bytes::from(vec![0u8; 1 << 20]));
/// assert_eq!(sent_with_head(&big), None);
/// let stream = StreamBody::new(futures_util::stream::empty::<
///     Result<http_body::Frame<Bytes>, std::io::Error>,
/// >());
/// assert_eq!(sent_with_head(&stream), None);
/// ```
#[inline]
pub fn sent_with_head<B: Body>(body: &B) -> Option<u64> {
    if body.is_end_stream() {
        return Some(0);
    }
    body.size_hint()
        .exact()
        .filter(|&n| n <= SENT_WITH_HEAD_LIMIT)
}

/// The default body handling of the pf layers: each wraps the bodies it
/// observes in its own types, for any inner service (hyper, tonic, tower).
/// See `AxumBody` (feature `axum`) for axum routers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AnyBody;

/// Body handling for services that speak `axum::body::Body` (feature `axum`):
/// the layer hands back `axum::body::Body` itself, wrapping a body only when
/// it must observe it (a request body that is not empty, a response streamed
/// past its head), so that `Router::layer` does not box it again and
/// `axum::middleware::from_fn` composes after the layer as it is. Chosen with
/// each layer's `axum_body()` setter.
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AxumBody;

/// Told once how a body ended and how many data bytes passed. Closures
/// `FnOnce(BodyEnd, u64)` implement it.
pub trait OnBodyEnd {
    /// The body ended.
    fn on_body_end(self, end: BodyEnd, bytes: u64);
}

impl<F: FnOnce(BodyEnd, u64)> OnBodyEnd for F {
    fn on_body_end(self, end: BodyEnd, bytes: u64) {
        self(end, bytes)
    }
}

pin_project! {
    /// A response body that counts the data bytes passing through and tells its
    /// [`OnBodyEnd`] exactly once how it ended.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use http_body_util::{BodyExt, Full};
    /// use pf_http_core::{BodyEnd, ObservedBody};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let seen = Arc::new(Mutex::new(None));
    /// let record = { let seen = seen.clone(); move |end, bytes| *seen.lock().unwrap() = Some((end, bytes)) };
    /// let body = ObservedBody::new(Full::new(bytes::Bytes::from_static(b"hello")), record);
    /// body.collect().await.unwrap();
    /// assert_eq!(*seen.lock().unwrap(), Some((BodyEnd::Complete, 5)));
    /// # }
    /// ```
    pub struct ObservedBody<B, O: OnBodyEnd> {
        #[pin]
        inner: B,
        observer: Option<O>,
        bytes: u64,
    }

    impl<B, O: OnBodyEnd> PinnedDrop for ObservedBody<B, O> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(observer) = this.observer.take() {
                observer.on_body_end(BodyEnd::Aborted, *this.bytes);
            }
        }
    }
}

impl<B: Body, O: OnBodyEnd> ObservedBody<B, O> {
    /// Observes `inner`. A body [sent with its head](sent_with_head) (empty,
    /// or buffered) is complete at once.
    pub fn new(inner: B, observer: O) -> Self {
        if let Some(bytes) = sent_with_head(&inner) {
            observer.on_body_end(BodyEnd::Complete, bytes);
            return Self {
                inner,
                observer: None,
                bytes,
            };
        }
        Self {
            inner,
            observer: Some(observer),
            bytes: 0,
        }
    }

    /// Observes the body of a response to a HEAD request: complete at once,
    /// since the server never sends it.
    pub fn head(inner: B, observer: O) -> Self {
        observer.on_body_end(BodyEnd::Complete, 0);
        Self {
            inner,
            observer: None,
            bytes: 0,
        }
    }

    /// Whether the observer has been told already.
    pub fn is_observed(&self) -> bool {
        self.observer.is_none()
    }

    /// The wrapped body.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }
}

impl<B: Body, O: OnBodyEnd> Body for ObservedBody<B, O> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        let end = match &frame {
            Some(Ok(f)) => {
                if let Some(data) = f.data_ref() {
                    *this.bytes += data.remaining() as u64;
                }
                this.inner.is_end_stream().then_some(BodyEnd::Complete)
            }
            Some(Err(_)) => Some(BodyEnd::Errored),
            None => Some(BodyEnd::Complete),
        };
        if let Some(end) = end
            && let Some(observer) = this.observer.take()
        {
            observer.on_body_end(end, *this.bytes);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B, O: OnBodyEnd> std::fmt::Debug for ObservedBody<B, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObservedBody")
            .field("bytes", &self.bytes)
            .field("observed", &self.observer.is_none())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use bytes::Bytes;
    use http_body_util::{BodyExt, Empty, Full, StreamBody};

    use super::*;

    type Seen = Arc<Mutex<Vec<(BodyEnd, u64)>>>;

    fn recorder(seen: &Seen) -> impl FnOnce(BodyEnd, u64) + use<> {
        let seen = seen.clone();
        move |end, bytes| seen.lock().unwrap().push((end, bytes))
    }

    #[test]
    fn an_empty_body_is_complete_without_being_polled() {
        let seen = Seen::default();
        let body = ObservedBody::new(Empty::<Bytes>::new(), recorder(&seen));
        drop(body);
        assert_eq!(*seen.lock().unwrap(), vec![(BodyEnd::Complete, 0)]);
    }

    #[test]
    fn a_buffered_body_is_complete_with_its_head_and_a_large_one_at_its_end() {
        let seen = Seen::default();
        let body = ObservedBody::new(Full::new(Bytes::from_static(b"{}")), recorder(&seen));
        assert!(body.is_observed());
        drop(body);
        let large = Full::new(Bytes::from(vec![b'x'; SENT_WITH_HEAD_LIMIT as usize + 1]));
        let body = ObservedBody::new(large, recorder(&seen));
        assert!(!body.is_observed());
        futures_util::FutureExt::now_or_never(body.collect())
            .unwrap()
            .unwrap();
        assert_eq!(
            *seen.lock().unwrap(),
            vec![
                (BodyEnd::Complete, 2),
                (BodyEnd::Complete, SENT_WITH_HEAD_LIMIT + 1)
            ]
        );
    }

    #[test]
    fn a_head_body_is_complete_without_being_sent() {
        let seen = Seen::default();
        let body = ObservedBody::head(Full::new(Bytes::from_static(b"abc")), recorder(&seen));
        drop(body);
        assert_eq!(*seen.lock().unwrap(), vec![(BodyEnd::Complete, 0)]);
    }

    #[test]
    fn a_body_dropped_mid_stream_is_aborted_once() {
        let seen = Seen::default();
        let frames = futures_util::stream::iter([
            Ok::<_, std::io::Error>(Frame::data(Bytes::from_static(b"ab"))),
            Ok(Frame::data(Bytes::from_static(b"cd"))),
        ]);
        let mut body = ObservedBody::new(StreamBody::new(frames), recorder(&seen));
        let first = futures_util::FutureExt::now_or_never(body.frame()).unwrap();
        assert!(first.is_some());
        drop(body);
        assert_eq!(*seen.lock().unwrap(), vec![(BodyEnd::Aborted, 2)]);
    }

    #[test]
    fn an_error_frame_is_errored_and_a_full_stream_complete() {
        let seen = Seen::default();
        let frames = futures_util::stream::iter([
            Ok(Frame::data(Bytes::from_static(b"abc"))),
            Err(std::io::Error::other("boom")),
        ]);
        let body = ObservedBody::new(StreamBody::new(frames), recorder(&seen));
        assert!(
            futures_util::FutureExt::now_or_never(body.collect())
                .unwrap()
                .is_err()
        );
        let frames = futures_util::stream::iter([Ok::<_, std::io::Error>(Frame::data(
            Bytes::from_static(b"xyz"),
        ))]);
        let body = ObservedBody::new(StreamBody::new(frames), recorder(&seen));
        futures_util::FutureExt::now_or_never(body.collect())
            .unwrap()
            .unwrap();
        assert_eq!(
            *seen.lock().unwrap(),
            vec![(BodyEnd::Errored, 3), (BodyEnd::Complete, 3)]
        );
    }
}
