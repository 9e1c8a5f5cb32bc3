//! [`HealthBody`]: the response body of [`HealthService`](crate::HealthService).

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use pin_project_lite::pin_project;

pin_project! {
    /// Either a probe's health+json body or the application's body, passed through untouched.
    pub struct HealthBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Health { body: Full<Bytes> },
        Inner { #[pin] body: B },
    }
}

impl<B> HealthBody<B> {
    pub(crate) fn health(body: Full<Bytes>) -> Self {
        Self {
            kind: Kind::Health { body },
        }
    }

    pub(crate) fn inner(body: B) -> Self {
        Self {
            kind: Kind::Inner { body },
        }
    }
}

impl<B> std::fmt::Debug for HealthBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthBody").finish_non_exhaustive()
    }
}

impl<B> Body for HealthBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match self.project().kind.project() {
            KindProj::Health { body } => Pin::new(body)
                .poll_frame(cx)
                .map_err(|never: Infallible| match never {}),
            KindProj::Inner { body } => body.poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Health { body } => body.is_end_stream(),
            Kind::Inner { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Health { body } => body.size_hint(),
            Kind::Inner { body } => body.size_hint(),
        }
    }
}
