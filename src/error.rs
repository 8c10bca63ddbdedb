//! Errors: [`ConfigError`] when building a guard, [`AuthError`] when a request is refused.
//! How a refusal is answered over HTTP is decided once, in `response.rs`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;

/// A guard could not be built from its configuration.
///
/// Each message says what is wrong and how to fix it, naming the builder method to call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No issuer was configured; `iss` is always checked, so one is required.
    #[error(
        "no issuer configured: set `.issuer(..)` to the exact `iss` of your tokens, or add one with `.trust(Issuer::new(..))`"
    )]
    MissingIssuer,
    /// An issuer has no audience and was not told to skip the audience check.
    #[error(
        "issuer `{0}` has no audience: set `.audience(..)` to a value your tokens carry in `aud`, \
         or `.dangerous_accept_any_audience(true)` if this issuer mints tokens for this API alone"
    )]
    MissingAudience(String),
    /// The same issuer was configured twice.
    #[error("issuer `{0}` is configured twice: configure it once and give it every audience it needs")]
    DuplicateIssuer(String),
    /// A URL did not parse or is not allowed (HTTPS is required except on loopback).
    #[error(
        "invalid url `{url}`: {reason} (give an absolute `https://` URL; plain `http://` only on 127.0.0.1, [::1] or localhost)"
    )]
    #[non_exhaustive]
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
    #[error("invalid {}: {reason}", setting_label(name))]
    #[non_exhaustive]
    InvalidSetting {
        /// The setting's builder method.
        name: &'static str,
        /// Why it was refused and what is allowed.
        reason: &'static str,
    },
    /// The `reqwest` client could not be built.
    #[error(
        "the default http client could not be built (is a TLS root store available?): pass your own with `.http_client(..)`"
    )]
    HttpClient(#[source] reqwest::Error),
    /// A scope or role guard was given no names, or a name no token can carry.
    #[error("invalid {kind} requirement: {reason}")]
    InvalidRequirement {
        /// `"scope"` or `"role"`.
        kind: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// How a setting is named in a message: the builder method (`.leeway(..)`), or the
/// `KeyCachePolicy` field path (`key_cache_policy.min_ttl`) as it is.
fn setting_label(name: &str) -> String {
    if name.contains('.') || name.contains("::") { format!("`{name}`") } else { format!("`.{name}(..)`") }
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
    #[non_exhaustive]
    InsufficientScope {
        /// The scopes the route needs, in the order they were declared.
        required: Arc<[Arc<str>]>,
        /// Whether all of them or any one of them is needed.
        matching: ScopeMatch,
    },
    /// The token is valid but lacks the roles the route needs: `403 insufficient_scope`
    /// (RFC 6750's code for "needs higher privileges"), without a `scope` attribute: roles are
    /// granted by the identity provider, not requested by the client.
    #[non_exhaustive]
    InsufficientRole {
        /// The roles the route needs, in the order they were declared.
        required: Arc<[Arc<str>]>,
        /// Whether all of them or any one of them is needed.
        matching: ScopeMatch,
    },
    /// Something the verdict depends on can't be reached (the issuer's keys on a cold cache,
    /// the introspection endpoint, the replay store): `503` + `Retry-After`. The client did
    /// nothing wrong.
    #[non_exhaustive]
    Unavailable {
        /// How long the client should wait before retrying.
        retry_after: Duration,
        /// What could not be reached.
        cause: Unavailable,
    },
    /// An extractor ran on a route without the guard's layer: a server bug, `500`.
    MissingLayer,
    /// The DPoP proof (RFC 9449) is missing or failed a check: `401` with a `DPoP` challenge,
    /// `error="invalid_dpop_proof"`.
    InvalidDpopProof(InvalidDpopProof),
    /// The DPoP proof lacks the server nonce or carries a stale one (RFC 9449 §9): `401`,
    /// `DPoP error="use_dpop_nonce"` and a `DPoP-Nonce` header with a fresh nonce.
    UseDpopNonce {
        /// The nonce the client must put in its next proof.
        nonce: Arc<str>,
    },
}

/// Why a DPoP proof was refused (`401 invalid_dpop_proof`, RFC 9449 §4.3, §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidDpopProof {
    /// The request uses the `DPoP` scheme without a `DPoP` header.
    Missing,
    /// The proof is longer than the limit (8 KiB).
    TooLarge,
    /// Not a compact JWS of JSON objects.
    Malformed,
    /// `typ` is not `dpop+jwt`.
    WrongType,
    /// `alg` is missing, symmetric, `none` or not in the allow-list.
    UnsupportedAlgorithm,
    /// The header lists `crit` extensions.
    UnsupportedCritical,
    /// `jwk` is missing or not a usable public key for `alg`.
    BadKey,
    /// `jwk` contains private key members.
    PrivateKey,
    /// The signature does not verify with `jwk`.
    BadSignature,
    /// A required claim (`jti`, `htm`, `htu`, `iat`) is missing or has the wrong type.
    MissingClaim(&'static str),
    /// `htm` is not the request method.
    MethodMismatch,
    /// `htu` is not the request URI (external base URL + path).
    UriMismatch,
    /// `iat` is outside the accepted window.
    IatOutOfWindow,
    /// The proof (its `jti`) was used before.
    Replayed,
    /// `ath` is missing.
    MissingAccessTokenHash,
    /// `ath` is not the hash of the access token.
    AccessTokenHashMismatch,
}

impl InvalidDpopProof {
    /// The `error_description` sent to the client.
    pub fn description(self) -> &'static str {
        match self {
            Self::Missing => "DPoP proof is missing",
            Self::TooLarge => "DPoP proof is too large",
            Self::Malformed => "DPoP proof is not a well-formed JWT",
            Self::WrongType => "DPoP proof typ is not dpop+jwt",
            Self::UnsupportedAlgorithm => "DPoP proof algorithm is not accepted",
            Self::UnsupportedCritical => "DPoP proof has unsupported critical header parameters",
            Self::BadKey => "DPoP proof jwk is not a usable public key",
            Self::PrivateKey => "DPoP proof jwk contains a private key",
            Self::BadSignature => "DPoP proof signature is invalid",
            Self::MissingClaim("jti") => "DPoP proof jti is missing or invalid",
            Self::MissingClaim("htm") => "DPoP proof htm is missing or invalid",
            Self::MissingClaim("htu") => "DPoP proof htu is missing or invalid",
            Self::MissingClaim("iat") => "DPoP proof iat is missing or invalid",
            Self::MissingClaim(_) => "DPoP proof lacks a required claim",
            Self::MethodMismatch => "DPoP proof htm does not match the request method",
            Self::UriMismatch => "DPoP proof htu does not match the request URI",
            Self::IatOutOfWindow => "DPoP proof iat is outside the accepted window",
            Self::Replayed => "DPoP proof has already been used",
            Self::MissingAccessTokenHash => "DPoP proof ath is missing",
            Self::AccessTokenHashMismatch => "DPoP proof ath does not match the access token",
        }
    }
}

/// How a list of required scopes (or roles) is matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScopeMatch {
    /// Every one of them is needed.
    All,
    /// Any one of them is enough.
    Any,
}

/// What a `503` refusal could not reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unavailable {
    /// The issuer's signing keys (cold cache, issuer down).
    Keys,
    /// The authorization server's introspection endpoint.
    Introspection,
    /// The DPoP replay store.
    ReplayStore,
    /// The shared revocation list (only with a fail-closed policy).
    Revocations,
}

impl AuthError {
    /// A `503` refusal: `cause` could not be reached; retry after `retry_after`.
    pub fn unavailable(cause: Unavailable, retry_after: Duration) -> Self {
        Self::Unavailable { retry_after, cause }
    }
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
    /// More than one `DPoP` header (RFC 9449 §4.3).
    SeveralDpopProofs,
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
    /// A DPoP-bound token (`cnf.jkt`) was sent with the `Bearer` scheme (RFC 9449 §7.2).
    DpopBoundTokenAsBearer,
    /// A `DPoP` request carries a token that is not DPoP-bound (no `cnf.jkt`).
    NotDpopBound,
    /// The token's `cnf.jkt` is not the thumbprint of the proof's key.
    KeyBindingMismatch,
    /// The guard requires DPoP and the token came with the `Bearer` scheme.
    DpopRequired,
    /// The token is bound to a client certificate (`cnf["x5t#S256"]`) and none was presented.
    CertificateRequired,
    /// The token is bound to another client certificate than the one presented.
    CertificateMismatch,
    /// The authorization server's introspection answer says the token is not active
    /// (RFC 7662: unknown, expired, revoked, or `active` not the JSON boolean `true`).
    Inactive,
    /// The token, its subject or its session has been revoked.
    Revoked,
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
            Self::SeveralDpopProofs => "more than one DPoP header",
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
            Self::DpopBoundTokenAsBearer => "token is DPoP-bound and must be sent with the DPoP scheme",
            Self::NotDpopBound => "token is not DPoP-bound",
            Self::KeyBindingMismatch => "token is bound to another key than the DPoP proof",
            Self::DpopRequired => "a DPoP-bound token is required",
            Self::CertificateRequired => "token is bound to a client certificate that was not presented",
            Self::CertificateMismatch => "token is bound to another client certificate",
            Self::Inactive => "token is not active",
            Self::Revoked => "token has been revoked",
        }
    }
}

impl AuthError {
    /// The HTTP status of the RFC 6750 answer.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingToken | Self::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            Self::InvalidDpopProof(_) | Self::UseDpopNonce { .. } => StatusCode::UNAUTHORIZED,
            Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Self::InsufficientScope { .. } | Self::InsufficientRole { .. } => StatusCode::FORBIDDEN,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::MissingLayer => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The RFC 6750 `error` code, if the answer carries one.
    pub fn error_code(&self) -> Option<&'static str> {
        match self {
            Self::InvalidRequest(_) => Some("invalid_request"),
            Self::InvalidToken(_) => Some("invalid_token"),
            Self::InsufficientScope { .. } | Self::InsufficientRole { .. } => Some("insufficient_scope"),
            Self::InvalidDpopProof(_) => Some("invalid_dpop_proof"),
            Self::UseDpopNonce { .. } => Some("use_dpop_nonce"),
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
            Self::InsufficientRole { .. } => "token lacks a required role",
            Self::Unavailable { cause: Unavailable::Keys, .. } => "signing keys are temporarily unavailable",
            Self::Unavailable { cause: Unavailable::Introspection, .. } => {
                "token introspection is temporarily unavailable"
            }
            Self::Unavailable { cause: Unavailable::ReplayStore, .. } => {
                "DPoP replay protection is temporarily unavailable"
            }
            Self::Unavailable { cause: Unavailable::Revocations, .. } => "revocation list is temporarily unavailable",
            Self::MissingLayer => "bearer-guard extractor used without BearerGuardLayer",
            Self::InvalidDpopProof(r) => r.description(),
            Self::UseDpopNonce { .. } => "DPoP proof must carry the server nonce",
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
