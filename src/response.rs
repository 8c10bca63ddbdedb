//! The answer sent for a refusal, rendered here and nowhere else: the RFC 6750 §3 challenge and
//! status by default, replaceable by the user through [`RefusalResponder`].

use std::fmt;
use std::sync::Arc;

use axum_core::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

use crate::binding::dpop::{Dpop, DpopMode};
use crate::error::{AuthError, InvalidRequest, InvalidToken};
use crate::grpc::answer as grpc;
use crate::scope::set::is_scope_token;

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

    /// The response for `error` on a route whose layer declared `route_scopes`
    /// ([`BearerGuardLayer::require_scopes`](crate::BearerGuardLayer::require_scopes)). The RFC 6750
    /// answer puts them in a 401's `scope` attribute; by default this is [`respond`](Self::respond).
    fn respond_on_route(&self, error: &AuthError, route_scopes: &[Arc<str>]) -> Response {
        let _ = route_scopes;
        self.respond(error)
    }
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
    /// The `DPoP` challenge, when the guard accepts DPoP.
    pub(crate) dpop: Option<DpopChallenge>,
}

impl RefusalResponder for Rfc6750 {
    fn respond(&self, error: &AuthError) -> Response {
        let mut response = error.to_response(self.realm.as_deref(), self.resource_metadata.as_deref());
        if let Some(dpop) = &self.dpop {
            dpop.amend(error, &mut response, self.resource_metadata.as_deref());
        }
        response
    }

    fn respond_on_route(&self, error: &AuthError, route_scopes: &[Arc<str>]) -> Response {
        let mut response =
            error.to_response_on_route(self.realm.as_deref(), self.resource_metadata.as_deref(), route_scopes);
        if let Some(dpop) = &self.dpop {
            dpop.amend(error, &mut response, self.resource_metadata.as_deref());
        }
        response
    }
}

/// The `DPoP` challenge of RFC 9449 §7.1: `DPoP algs="…"` plus the error. In allowed mode it
/// follows the `Bearer` challenge as a second `WWW-Authenticate` value; in required mode, and
/// for errors only a DPoP request can have, it is the only one.
#[derive(Debug, Clone)]
pub(crate) struct DpopChallenge {
    algs: String,
    required: bool,
}

impl DpopChallenge {
    pub(crate) fn of(dpop: &Dpop) -> Option<Self> {
        match dpop.mode {
            DpopMode::Off => None,
            mode => Some(Self { algs: dpop.algs_attribute(), required: mode == DpopMode::Required }),
        }
    }

    /// The challenge for `error`.
    pub(crate) fn challenge(&self, error: &AuthError, resource_metadata: Option<&str>) -> String {
        let mut out = format!("DPoP algs=\"{}\"", self.algs);
        if !matches!(error, AuthError::MissingToken)
            && let Some(code) = error.error_code()
        {
            out.push_str(&format!(", error=\"{code}\", error_description=\"{}\"", error.description()));
        }
        if let AuthError::InsufficientScope { required, .. } = error {
            let scopes: Vec<&str> = required.iter().map(|s| &**s).filter(|s| is_scope_token(s)).collect();
            out.push_str(&format!(", scope=\"{}\"", scopes.join(" ")));
        }
        if let Some(url) = resource_metadata {
            out.push_str(&format!(", resource_metadata=\"{}\"", quoted_safe(url)));
        }
        out
    }

    fn amend(&self, error: &AuthError, response: &mut Response, resource_metadata: Option<&str>) {
        if !matches!(response.status(), StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::BAD_REQUEST) {
            return;
        }
        let dpop_only = self.required
            || matches!(
                error,
                AuthError::InvalidDpopProof(_)
                    | AuthError::UseDpopNonce { .. }
                    | AuthError::InvalidRequest(InvalidRequest::SeveralDpopProofs)
                    | AuthError::InvalidToken(InvalidToken::NotDpopBound | InvalidToken::KeyBindingMismatch)
            );
        let Ok(value) = HeaderValue::from_str(&self.challenge(error, resource_metadata)) else { return };
        let headers = response.headers_mut();
        if dpop_only {
            headers.insert(header::WWW_AUTHENTICATE, value);
        } else if headers.contains_key(header::WWW_AUTHENTICATE) {
            headers.append(header::WWW_AUTHENTICATE, value);
        }
    }
}

/// The answer to a refused request: the gRPC form for gRPC calls (`content-type:
/// application/grpc*`), otherwise the configured responder's (RFC 6750 by default), with the
/// route's scopes when the layer has them.
pub(crate) fn answer_on_route(
    error: &AuthError,
    headers: &http::HeaderMap,
    responder: &dyn RefusalResponder,
    rfc6750: &Rfc6750,
    route_scopes: &[Arc<str>],
) -> Response {
    if grpc::is_grpc(headers) {
        grpc::refusal(error, rfc6750.realm.as_deref(), rfc6750.resource_metadata.as_deref())
    } else if route_scopes.is_empty() {
        responder.respond(error)
    } else {
        responder.respond_on_route(error, route_scopes)
    }
}

/// [`answer_on_route`] without route scopes.
pub(crate) fn answer(
    error: &AuthError,
    headers: &http::HeaderMap,
    responder: &dyn RefusalResponder,
    rfc6750: &Rfc6750,
) -> Response {
    answer_on_route(error, headers, responder, rfc6750, &[])
}

/// The answer when a scope layer or helper finds no guard state: the layer is missing (a
/// server bug, 500 / gRPC `INTERNAL`).
pub(crate) fn answer_without_layer(headers: &http::HeaderMap) -> Response {
    if grpc::is_grpc(headers) {
        grpc::refusal(&AuthError::MissingLayer, None, None)
    } else {
        AuthError::MissingLayer.into_response()
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

/// The RFC 6750 rendering of a refusal.
impl AuthError {
    /// The `WWW-Authenticate` challenge of the RFC 6750 answer, if it has one.
    ///
    /// `realm` is included when given. Scopes with characters outside RFC 6750's
    /// `scope-token` set are left out of the `scope` attribute.
    pub fn challenge(&self, realm: Option<&str>, resource_metadata: Option<&str>) -> Option<String> {
        self.challenge_on_route(realm, resource_metadata, &[])
    }

    /// The challenge on a route that declared `route_scopes`: a `401` carries them as `scope`
    /// (RFC 6750 §3, RFC 9728 §5.1: what a token for this route needs); a `403` lists its own
    /// missing scopes.
    pub(crate) fn challenge_on_route(
        &self,
        realm: Option<&str>,
        resource_metadata: Option<&str>,
        route_scopes: &[Arc<str>],
    ) -> Option<String> {
        let mut attrs: Vec<String> = Vec::with_capacity(5);
        if let Some(realm) = realm {
            attrs.push(format!("realm=\"{}\"", quoted_safe(realm)));
        }
        match self {
            Self::Unavailable { .. } | Self::MissingLayer => return None,
            Self::MissingToken => {}
            Self::InsufficientScope { required, .. } => {
                attrs.push("error=\"insufficient_scope\"".to_owned());
                attrs.push(format!("error_description=\"{}\"", self.description()));
                let scopes: Vec<&str> = required.iter().map(|s| &**s).filter(|s| is_scope_token(s)).collect();
                attrs.push(format!("scope=\"{}\"", scopes.join(" ")));
            }
            _ => {
                if let Some(code) = self.error_code() {
                    attrs.push(format!("error=\"{code}\""));
                    attrs.push(format!("error_description=\"{}\"", self.description()));
                }
            }
        }
        if self.status() == http::StatusCode::UNAUTHORIZED {
            let scopes: Vec<&str> = route_scopes.iter().map(|s| &**s).filter(|s| is_scope_token(s)).collect();
            if !scopes.is_empty() {
                attrs.push(format!("scope=\"{}\"", scopes.join(" ")));
            }
        }
        if let Some(url) = resource_metadata {
            attrs.push(format!("resource_metadata=\"{}\"", quoted_safe(url)));
        }
        if attrs.is_empty() {
            // RFC 6750 §3: a Bearer challenge carries at least one attribute.
            attrs.push("realm=\"api\"".to_owned());
        }
        Some(format!("Bearer {}", attrs.join(", ")))
    }

    /// The default RFC 6750 answer for this refusal.
    pub fn to_response(&self, realm: Option<&str>, resource_metadata: Option<&str>) -> Response {
        self.to_response_on_route(realm, resource_metadata, &[])
    }

    /// The default answer on a route that declared `route_scopes` (see `challenge_on_route`).
    pub(crate) fn to_response_on_route(
        &self,
        realm: Option<&str>,
        resource_metadata: Option<&str>,
        route_scopes: &[Arc<str>],
    ) -> Response {
        let mut response = (self.status(), self.body_text()).into_response();
        let headers = response.headers_mut();
        if let Some(challenge) = self.challenge_on_route(realm, resource_metadata, route_scopes)
            && let Ok(value) = HeaderValue::from_str(&challenge)
        {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        if let Self::UseDpopNonce { nonce } = self
            && let Ok(value) = HeaderValue::from_str(nonce)
        {
            headers.insert("dpop-nonce", value);
        }
        if let Self::Unavailable { retry_after, .. } = self {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after.as_secs().max(1)));
        }
        response
    }
}

impl IntoResponse for AuthError {
    /// The RFC 6750 answer with `realm="api"`. Inside the layer, the guard's configured realm
    /// and refusal responder are used instead.
    fn into_response(self) -> Response {
        self.to_response(Some("api"), None)
    }
}

/// Drops characters that can't stand in an RFC 6750 quoted attribute value.
fn quoted_safe(s: &str) -> String {
    s.chars().filter(|&c| c == ' ' || c == '!' || (('#'..='~').contains(&c) && c != '\\')).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{InvalidRequest, InvalidToken, Unavailable};
    use http::StatusCode;
    use std::time::Duration;

    fn challenge(e: &AuthError) -> Option<String> {
        e.challenge(Some("api"), None)
    }

    #[test]
    fn missing_token_is_a_bare_challenge() {
        assert_eq!(challenge(&AuthError::MissingToken).as_deref(), Some("Bearer realm=\"api\""));
        assert_eq!(AuthError::MissingToken.status(), StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn missing_token_without_realm_still_has_an_attribute() {
        assert_eq!(AuthError::MissingToken.challenge(None, None).as_deref(), Some("Bearer realm=\"api\""));
    }

    #[test]
    fn invalid_token_has_error_and_description() {
        let e = AuthError::InvalidToken(InvalidToken::Expired);
        assert_eq!(
            challenge(&e).as_deref(),
            Some("Bearer realm=\"api\", error=\"invalid_token\", error_description=\"token has expired\"")
        );
    }

    #[test]
    fn insufficient_scope_lists_the_required_scopes() {
        let e = AuthError::InsufficientScope {
            required: vec![Arc::from("notes:read"), Arc::from("notes:write")].into(),
            matching: crate::error::ScopeMatch::All,
        };
        assert_eq!(e.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            challenge(&e).as_deref(),
            Some(
                "Bearer realm=\"api\", error=\"insufficient_scope\", \
                 error_description=\"token lacks a required scope\", scope=\"notes:read notes:write\""
            )
        );
    }

    #[test]
    fn keys_unavailable_is_503_with_retry_after_and_no_challenge() {
        let e = AuthError::unavailable(Unavailable::Keys, Duration::from_secs(7));
        let r = e.to_response(Some("api"), None);
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[header::RETRY_AFTER], "7");
        assert!(r.headers().get(header::WWW_AUTHENTICATE).is_none());
    }

    #[test]
    fn every_description_uses_only_rfc6750_characters() {
        let mut all: Vec<&str> = vec![AuthError::MissingToken.description(), AuthError::MissingLayer.description()];
        for r in [
            InvalidRequest::SeveralAuthorizationHeaders,
            InvalidRequest::SeveralTokenSources,
            InvalidRequest::RepeatedToken,
            InvalidRequest::EmptyToken,
            InvalidRequest::BadTokenSyntax,
        ] {
            all.push(r.description());
        }
        for r in [
            InvalidToken::TooLarge,
            InvalidToken::Malformed,
            InvalidToken::Encrypted,
            InvalidToken::UnsupportedAlgorithm,
            InvalidToken::AlgorithmKeyMismatch,
            InvalidToken::UnsupportedCritical,
            InvalidToken::UnacceptableType,
            InvalidToken::UntrustedIssuer,
            InvalidToken::UnknownKey,
            InvalidToken::AmbiguousKey,
            InvalidToken::BadSignature,
            InvalidToken::MissingExpiry,
            InvalidToken::Expired,
            InvalidToken::NotYetValid,
            InvalidToken::IssuedInFuture,
            InvalidToken::WrongAudience,
            InvalidToken::InvalidClaim("aud"),
            InvalidToken::InvalidClaim("other"),
            InvalidToken::MissingClaim("jti"),
            InvalidToken::MissingClaim("other"),
            InvalidToken::UnexpectedClaims,
            InvalidToken::Revoked,
        ] {
            all.push(r.description());
        }
        for d in all {
            assert!(
                d.bytes().all(|b| b == 0x20 || b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b)),
                "{d}"
            );
        }
    }

    #[test]
    fn realm_with_quotes_is_sanitised() {
        let c = AuthError::MissingToken.challenge(Some("a\"b\\c"), None);
        assert_eq!(c.as_deref(), Some("Bearer realm=\"abc\""));
    }
}
