//! The answer sent for a refusal: RFC 6750 by default, replaceable by the user.

use std::fmt;
use std::sync::Arc;

use axum_core::response::{IntoResponse, Response};

use crate::error::AuthError;

/// Builds the response for a refused request.
///
/// Implemented for closures, so a custom answer is one line:
///
/// ```
/// use axum::response::IntoResponse;
/// use bearer_guard::{AuthError, BearerGuard};
///
/// let guard = BearerGuard::builder()
///     .issuer("https://idp.example.com")
///     .audience("https://api.example.com")
///     .on_refusal(|e: &AuthError| {
///         (e.status(), axum::Json(serde_json::json!({ "error": e.description() }))).into_response()
///     })
///     .build()?;
/// # Ok::<(), bearer_guard::ConfigError>(())
/// ```
pub trait RefusalResponder: Send + Sync + 'static {
    /// The response for `error`.
    fn respond(&self, error: &AuthError) -> Response;
}

impl<F> RefusalResponder for F
where
    F: Fn(&AuthError) -> Response + Send + Sync + 'static,
{
    fn respond(&self, error: &AuthError) -> Response {
        self(error)
    }
}

/// The RFC 6750 §3 answer with the guard's realm (and optional RFC 9728 metadata URL).
#[derive(Debug, Clone)]
pub(crate) struct Rfc6750 {
    pub(crate) realm: Option<String>,
    pub(crate) resource_metadata: Option<String>,
}

impl RefusalResponder for Rfc6750 {
    fn respond(&self, error: &AuthError) -> Response {
        error.to_response(self.realm.as_deref(), self.resource_metadata.as_deref())
    }
}

/// A refusal from an extractor or scope guard, answered the way the guard is configured to.
pub struct Refusal {
    pub(crate) error: AuthError,
    pub(crate) responder: Option<Arc<dyn RefusalResponder>>,
}

impl Refusal {
    /// Why the request was refused.
    pub fn error(&self) -> &AuthError {
        &self.error
    }

    /// The HTTP status of the default answer.
    pub fn status(&self) -> http::StatusCode {
        self.error.status()
    }

    /// The body text of the default answer.
    pub fn body_text(&self) -> String {
        self.error.body_text()
    }
}

impl From<AuthError> for Refusal {
    fn from(error: AuthError) -> Self {
        Self { error, responder: None }
    }
}

impl fmt::Debug for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Refusal").field(&self.error).finish()
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for Refusal {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self.responder {
            Some(responder) => responder.respond(&self.error),
            None => self.error.into_response(),
        }
    }
}
