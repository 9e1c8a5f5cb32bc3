//! One end-of-body observer: fires exactly once, with how the body ended.

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
    /// use pf_core::{BodyEnd, ObservedBody};
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
    /// Observes `inner`. A body already at its end is complete at once: the
    /// server would never poll it.
    pub fn new(inner: B, observer: O) -> Self {
        if inner.is_end_stream() {
            observer.on_body_end(BodyEnd::Complete, 0);
            return Self {
                inner,
                observer: None,
                bytes: 0,
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
