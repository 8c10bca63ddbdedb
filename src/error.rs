//! Errors: [`ConfigError`] when building a guard, [`AuthError`] when a request is refused, and
//! the RFC 6750 §3 answer for each refusal.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum_core::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

/// A guard could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No issuer was configured; `iss` is always checked, so one is required.
    #[error("no issuer configured")]
    MissingIssuer,
    /// An issuer has no audience and was not told to skip the audience check.
    #[error("issuer `{0}` has no audience configured")]
    MissingAudience(String),
    /// An issuer has neither a JWKS URL, a discoverable issuer URL nor static keys.
    #[error("issuer `{0}` has no key source")]
    MissingKeySource(String),
    /// The same issuer was configured twice.
    #[error("issuer `{0}` is configured twice")]
    DuplicateIssuer(String),
    /// A URL did not parse or is not allowed (HTTPS is required except on loopback).
    #[error("invalid url `{url}`: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A static key could not be imported.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// A setting is out of its allowed range.
    #[error("invalid setting `{name}`: {reason}")]
    InvalidSetting {
        /// The setting's builder method.
        name: &'static str,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The `reqwest` client could not be built.
    #[error("http client could not be built")]
    HttpClient(#[source] reqwest::Error),
}

/// Why a request was refused. Each kind maps to one RFC 6750 §3 answer.
///
/// The descriptions are short, fixed, safe to show to clients (RFC 6750 `error_description`
/// characters only) and never contain the token, key material or an upstream URL.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthError {
    /// The request carries no bearer token: `401` with a bare challenge (§3.1).
    MissingToken,
    /// The request is malformed (two tokens, bad grammar): `400 invalid_request`.
    InvalidRequest(InvalidRequest),
    /// The token was rejected: `401 invalid_token`.
    InvalidToken(InvalidToken),
    /// The token is valid but lacks the scopes the route needs: `403 insufficient_scope`.
    InsufficientScope {
        /// The scopes the route needs, in the order they were declared.
        required: Arc<[Arc<str>]>,
        /// Whether all of them or any one of them is needed.
        any_of: bool,
    },
    /// The issuer's keys can't be obtained (issuer down, cold cache): `503` + `Retry-After`.
    KeysUnavailable {
        /// How long the client should wait before retrying.
        retry_after: Duration,
    },
    /// An extractor ran on a route without the guard's layer: a server bug, `500`.
    MissingLayer,
}

/// Why a request was malformed (`400 invalid_request`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidRequest {
    /// More than one `Authorization` header.
    SeveralAuthorizationHeaders,
    /// A token in more than one place (header, query, cookie).
    SeveralTokenSources,
    /// The `access_token` query parameter or the token cookie appears more than once.
    RepeatedToken,
    /// `Bearer` with nothing after it.
    EmptyToken,
    /// The token is not token68 (RFC 7235) or the header is not visible ASCII.
    BadTokenSyntax,
}

/// Why a token was rejected (`401 invalid_token`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidToken {
    /// The token is longer than the configured limit.
    TooLarge,
    /// Not three base64url segments of JSON objects.
    Malformed,
    /// Five segments: a JWE, which this crate does not decrypt.
    Encrypted,
    /// `alg` is missing, `none`, unknown or not allowed.
    UnsupportedAlgorithm,
    /// `alg` does not fit the key the token names.
    AlgorithmKeyMismatch,
    /// The header lists `crit` extensions this crate does not understand.
    UnsupportedCritical,
    /// `typ` is not an accepted type (for example `dpop+jwt`).
    UnacceptableType,
    /// `iss` is missing or not a trusted issuer.
    UntrustedIssuer,
    /// No key of the issuer matches the token's `kid`.
    UnknownKey,
    /// The token has no `kid` and the issuer has several suitable keys.
    AmbiguousKey,
    /// The signature does not verify.
    BadSignature,
    /// `exp` is missing.
    MissingExpiry,
    /// `exp` has passed (beyond the leeway).
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    IssuedInFuture,
    /// `aud` does not contain a configured audience.
    WrongAudience,
    /// A registered claim has the wrong type.
    InvalidClaim(&'static str),
    /// A claim required by strict RFC 9068 mode is missing.
    MissingClaim(&'static str),
    /// The claims do not have the shape the handler asked for.
    UnexpectedClaims,
}

impl InvalidRequest {
    /// The `error_description` sent to the client.
    pub fn description(self) -> &'static str {
        match self {
            Self::SeveralAuthorizationHeaders => "more than one Authorization header",
            Self::SeveralTokenSources => "access token sent in more than one place",
            Self::RepeatedToken => "access token parameter is repeated",
            Self::EmptyToken => "Bearer scheme without a token",
            Self::BadTokenSyntax => "access token is not valid token68 syntax",
        }
    }
}

impl InvalidToken {
    /// The `error_description` sent to the client.
    pub fn description(self) -> &'static str {
        match self {
            Self::TooLarge => "access token is too large",
            Self::Malformed => "access token is not a well-formed JWT",
            Self::Encrypted => "encrypted tokens are not accepted",
            Self::UnsupportedAlgorithm => "signing algorithm is not accepted",
            Self::AlgorithmKeyMismatch => "signing algorithm does not match the key",
            Self::UnsupportedCritical => "token has unsupported critical header parameters",
            Self::UnacceptableType => "token type is not accepted",
            Self::UntrustedIssuer => "issuer is not trusted",
            Self::UnknownKey => "signing key is not known",
            Self::AmbiguousKey => "token has no kid and the issuer has several keys",
            Self::BadSignature => "signature is invalid",
            Self::MissingExpiry => "token has no expiry",
            Self::Expired => "token has expired",
            Self::NotYetValid => "token is not valid yet",
            Self::IssuedInFuture => "token is issued in the future",
            Self::WrongAudience => "token is not meant for this audience",
            Self::InvalidClaim("iss") => "iss claim is invalid",
            Self::InvalidClaim("aud") => "aud claim is invalid",
            Self::InvalidClaim("exp") => "exp claim is invalid",
            Self::InvalidClaim("nbf") => "nbf claim is invalid",
            Self::InvalidClaim("iat") => "iat claim is invalid",
            Self::InvalidClaim("sub") => "sub claim is invalid",
            Self::InvalidClaim(_) => "a claim has an invalid type",
            Self::MissingClaim("sub") => "sub claim is required",
            Self::MissingClaim("client_id") => "client_id claim is required",
            Self::MissingClaim("iat") => "iat claim is required",
            Self::MissingClaim("jti") => "jti claim is required",
            Self::MissingClaim(_) => "a required claim is missing",
            Self::UnexpectedClaims => "token claims do not have the expected shape",
        }
    }
}

impl AuthError {
    /// The HTTP status of the RFC 6750 answer.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingToken | Self::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Self::InsufficientScope { .. } => StatusCode::FORBIDDEN,
            Self::KeysUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::MissingLayer => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The RFC 6750 `error` code, if the answer carries one.
    pub fn error_code(&self) -> Option<&'static str> {
        match self {
            Self::InvalidRequest(_) => Some("invalid_request"),
            Self::InvalidToken(_) => Some("invalid_token"),
            Self::InsufficientScope { .. } => Some("insufficient_scope"),
            _ => None,
        }
    }

    /// A short, client-safe description of what failed.
    pub fn description(&self) -> &'static str {
        match self {
            Self::MissingToken => "no bearer token",
            Self::InvalidRequest(r) => r.description(),
            Self::InvalidToken(r) => r.description(),
            Self::InsufficientScope { .. } => "token lacks a required scope",
            Self::KeysUnavailable { .. } => "signing keys are temporarily unavailable",
            Self::MissingLayer => "bearer-guard extractor used without BearerGuardLayer",
        }
    }

    /// The text of the response body of the default answer.
    pub fn body_text(&self) -> String {
        match self {
            Self::MissingLayer => "internal error: is `BearerGuardLayer` applied to this route? \
                                   (bearer-guard extractor used without the layer)"
                .to_owned(),
            _ => self.description().to_owned(),
        }
    }

    /// The `WWW-Authenticate` challenge of the RFC 6750 answer, if it has one.
    ///
    /// `realm` is included when given. Scopes with characters outside RFC 6750's
    /// `scope-token` set are left out of the `scope` attribute.
    pub fn challenge(&self, realm: Option<&str>, resource_metadata: Option<&str>) -> Option<String> {
        let mut attrs: Vec<String> = Vec::with_capacity(5);
        if let Some(realm) = realm {
            attrs.push(format!("realm=\"{}\"", quoted_safe(realm)));
        }
        match self {
            Self::KeysUnavailable { .. } | Self::MissingLayer => return None,
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
        let mut response = (self.status(), self.body_text()).into_response();
        let headers = response.headers_mut();
        if let Some(challenge) = self.challenge(realm, resource_metadata)
            && let Ok(value) = HeaderValue::from_str(&challenge)
        {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        if let Self::KeysUnavailable { retry_after } = self {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after.as_secs().max(1)));
        }
        response
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.error_code() {
            Some(code) => write!(f, "{code}: {}", self.description()),
            None => f.write_str(self.description()),
        }
    }
}

impl std::error::Error for AuthError {}

impl IntoResponse for AuthError {
    /// The RFC 6750 answer with `realm="api"`. Inside the layer, the guard's configured realm
    /// and refusal responder are used instead.
    fn into_response(self) -> Response {
        self.to_response(Some("api"), None)
    }
}

/// RFC 6750 `scope-token`: `%x21 / %x23-5B / %x5D-7E`.
pub(crate) fn is_scope_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// Drops characters that can't stand in an RFC 6750 quoted attribute value.
fn quoted_safe(s: &str) -> String {
    s.chars().filter(|&c| c == ' ' || c == '!' || (('#'..='~').contains(&c) && c != '\\')).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
            any_of: false,
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
        let e = AuthError::KeysUnavailable { retry_after: Duration::from_secs(7) };
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
