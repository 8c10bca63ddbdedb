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
    ///
    /// The layer on a bare `tower::Service`, served by hyper (no axum, no tonic):
    ///
    /// ```
    /// use std::convert::Infallible;
    ///
    /// use bearer_guard::{BearerGuard, StaticKey, VerifiedToken};
    /// use http::{Request, Response};
    /// use http_body_util::Full;
    /// use hyper::body::{Bytes, Incoming};
    /// use hyper_util::rt::TokioIo;
    /// use hyper_util::service::TowerToHyperService;
    /// use tower::{ServiceBuilder, service_fn};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    /// let guard = BearerGuard::builder()
    ///     .issuer("my-app")
    ///     .audience("my-api")
    ///     .static_key(StaticKey::hmac_secret(b"an example secret of at least 32 bytes")?)
    ///     .build()?;
    ///
    /// let hello = service_fn(|request: Request<Incoming>| async move {
    ///     // The layer leaves the verified token in the request extensions.
    ///     let sub = request.extensions().get::<VerifiedToken>().and_then(|t| t.subject()).unwrap_or("?");
    ///     Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(format!("hello {sub}")))))
    /// });
    /// let service = ServiceBuilder::new().layer(guard.layer()).service(hello);
    ///
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let addr = listener.local_addr()?;
    /// tokio::spawn(async move {
    ///     while let Ok((stream, _)) = listener.accept().await {
    ///         let service = TowerToHyperService::new(service.clone());
    ///         tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service));
    ///     }
    /// });
    ///
    /// let response = reqwest::get(format!("http://{addr}/")).await?;
    /// assert_eq!(response.status(), 401);
    /// assert_eq!(response.headers()["www-authenticate"], "Bearer realm=\"api\"");
    /// # Ok(())
    /// # }
    /// ```
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
