//! [`ResponseBody`]: the body of responses that pass through the guard's layers, either the
//! inner service's own body or the guard's refusal, so no framework's body type is forced on
//! the inner service.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

/// The error type of [`ResponseBody`]: the inner body's error, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pin_project! {
    /// The response body of [`BearerGuardService`](crate::BearerGuardService) and the scope
    /// layers: the inner service's body `B` when the request was let through, or the guard's
    /// refusal. It implements [`http_body::Body`], so axum, tonic and hyper serve it as is.
    pub struct ResponseBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Inner { #[pin] body: B },
        Refusal { #[pin] body: axum_core::body::Body },
    }
}

impl<B> ResponseBody<B> {
    pub(crate) fn inner(body: B) -> Self {
        Self { kind: Kind::Inner { body } }
    }

    pub(crate) fn refusal(body: axum_core::body::Body) -> Self {
        Self { kind: Kind::Refusal { body } }
    }
}

/// Maps a response's body into [`ResponseBody`].
pub(crate) fn let_through<B>(response: http::Response<B>) -> http::Response<ResponseBody<B>> {
    response.map(ResponseBody::inner)
}

/// A refusal (an axum-core response, as [`RefusalResponder`](crate::RefusalResponder) builds
/// them) as a response of the layer.
pub(crate) fn refused<B>(response: axum_core::response::Response) -> http::Response<ResponseBody<B>> {
    response.map(ResponseBody::refusal)
}

impl<B> Body for ResponseBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.project().kind.project() {
            KindProj::Inner { body } => body.poll_frame(cx).map_err(Into::into),
            KindProj::Refusal { body } => body.poll_frame(cx).map_err(Into::into),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Refusal { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Refusal { body } => body.size_hint(),
        }
    }
}

impl<B> fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            Kind::Inner { .. } => "inner",
            Kind::Refusal { .. } => "refusal",
        };
        f.debug_tuple("ResponseBody").field(&kind).finish()
    }
}
