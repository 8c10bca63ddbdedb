//! [`ResponseFuture`]: the response future of every layer of the crate. A request is let
//! through to the inner service, refused on the spot, or (in [`BearerGuardService`], for a
//! token that needs a signature check or a fetch) first run through the whole pipeline.
//!
//! [`BearerGuardService`]: crate::BearerGuardService

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum_core::response::{IntoResponse, Response};
use pin_project_lite::pin_project;

use crate::body::{self, ResponseBody};
use crate::error::AuthError;

/// The pipeline at work on one request: the inner service's answer once the request is let
/// through, or the refusal.
pub(crate) type Verifying<T> = Pin<Box<dyn Future<Output = Result<T, Response>> + Send>>;

pin_project! {
    /// The response future of [`BearerGuardService`](crate::BearerGuardService) and of the
    /// scope and role services (`RequireScopeService`, `RequireRoleService`).
    pub struct ResponseFuture<F: Future> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F: Future> {
        Inner { #[pin] future: F },
        Refused { response: Option<Response> },
        Verifying { future: Verifying<F::Output> },
    }
}

impl<F: Future> ResponseFuture<F> {
    /// The request was let through: the inner service's future.
    pub(crate) fn inner(future: F) -> Self {
        Self { kind: Kind::Inner { future } }
    }

    /// The request was refused with this answer.
    pub(crate) fn refused(response: Response) -> Self {
        Self { kind: Kind::Refused { response: Some(response) } }
    }

    /// The verdict takes waiting: `future` runs the pipeline, then the inner service.
    pub(crate) fn verifying(future: Verifying<F::Output>) -> Self {
        Self { kind: Kind::Verifying { future } }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
{
    type Output = Result<http::Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future } => future.poll(cx).map(|r| r.map(body::let_through)),
            KindProj::Refused { response } => Poll::Ready(Ok(body::refused(
                // Polled again after it was ready: a misuse, answered rather than panicking.
                response.take().unwrap_or_else(|| AuthError::MissingLayer.into_response()),
            ))),
            KindProj::Verifying { future } => future.as_mut().poll(cx).map(|verdict| match verdict {
                Ok(answer) => answer.map(body::let_through),
                Err(refusal) => Ok(body::refused(refusal)),
            }),
        }
    }
}

impl<F: Future> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
