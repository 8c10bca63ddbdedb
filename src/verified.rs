//! What a verified token hands to handlers: [`VerifiedToken`] (also an extractor), and the
//! state the layer leaves in the request extensions for every extractor to read.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[cfg(feature = "axum")]
use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
#[cfg(feature = "axum")]
use http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::AuthError;
#[cfg(feature = "axum")]
use crate::response::Refusal;
use crate::response::{RefusalResponder, Rfc6750};
use crate::scope::set::{Roles, Scopes};

/// What the layer leaves in the request extensions: the verified token (`None` for an
/// anonymous request the guard lets through) and how to answer refusals.
#[derive(Clone)]
pub(crate) struct AuthState {
    pub(crate) token: Option<VerifiedToken>,
    pub(crate) responder: Arc<dyn RefusalResponder>,
    /// Where scope guards note the scopes they check (RFC 9728 `scopes_supported` coverage).
    pub(crate) scope_log: Arc<crate::metadata::scopes::ScopeLog>,
    /// Realm and metadata URL of the challenges (also sent with gRPC answers).
    pub(crate) rfc6750: Arc<Rfc6750>,
}

impl AuthState {
    /// The answer to `error` for a request with these headers (gRPC or HTTP).
    pub(crate) fn answer(&self, error: &AuthError, headers: &http::HeaderMap) -> axum_core::response::Response {
        crate::response::answer(error, headers, &*self.responder, &self.rfc6750)
    }

    #[cfg(feature = "axum")]
    pub(crate) fn refuse(&self, error: AuthError) -> Refusal {
        Refusal { error, responder: Some(Arc::clone(&self.responder)) }
    }
}

/// A token that passed every check: its claims, scopes, roles, issuer and key id.
///
/// It is also an extractor. The raw token is not kept, so neither `Debug` nor anything else
/// can print it.
#[derive(Clone)]
pub struct VerifiedToken(Arc<Inner>);

struct Inner {
    claims: Value,
    scopes: Scopes,
    roles: Roles,
    issuer: Arc<str>,
    kid: Option<Arc<str>>,
    expires_at: f64,
    /// The revocation-list generation this token was last found not revoked at (0: never).
    revocation_checked: std::sync::atomic::AtomicU64,
}

impl VerifiedToken {
    pub(crate) fn new(
        claims: Value,
        scopes: Scopes,
        roles: Roles,
        issuer: Arc<str>,
        kid: Option<Arc<str>>,
        expires_at: f64,
    ) -> Self {
        let revocation_checked = std::sync::atomic::AtomicU64::new(0);
        Self(Arc::new(Inner { claims, scopes, roles, issuer, kid, expires_at, revocation_checked }))
    }

    /// Memo of the revocation stage, shared by every verified-token cache hit of this token.
    pub(crate) fn revocation_checked(&self) -> &std::sync::atomic::AtomicU64 {
        &self.0.revocation_checked
    }

    /// All claims, as JSON.
    pub fn claims(&self) -> &Value {
        &self.0.claims
    }

    /// The claims deserialized into `T`.
    pub fn claims_as<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(&self.0.claims)
    }

    /// The `sub` claim, if it has one.
    pub fn subject(&self) -> Option<&str> {
        self.0.claims.get("sub").and_then(Value::as_str)
    }

    /// The OAuth scopes (`scope`, `scp`); roles only if the guard merges them in.
    pub fn scopes(&self) -> &Scopes {
        &self.0.scopes
    }

    /// The roles, read from the claims the guard was told to read them from
    /// ([`roles_from`](crate::BearerGuardBuilder::roles_from)); empty otherwise.
    pub fn roles(&self) -> &Roles {
        &self.0.roles
    }

    /// The trusted issuer that signed it.
    pub fn issuer(&self) -> &str {
        &self.0.issuer
    }

    /// The `kid` of the key that verified it.
    pub fn key_id(&self) -> Option<&str> {
        self.0.kid.as_deref()
    }

    /// Its `exp`, in seconds since the Unix epoch.
    pub fn expires_at_secs(&self) -> f64 {
        self.0.expires_at
    }

    /// Its `exp`.
    pub fn expires_at(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs_f64(self.0.expires_at.clamp(0.0, 1e12))
    }
}

impl fmt::Debug for VerifiedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedToken")
            .field("issuer", &self.issuer())
            .field("subject", &self.subject())
            .field("key_id", &self.key_id())
            .field("scopes", self.scopes())
            .field("roles", self.roles())
            .field("expires_at", &self.0.expires_at)
            .finish_non_exhaustive()
    }
}

/// Reads the layer's verdict; a missing one means the layer is not applied.
#[cfg(feature = "axum")]
pub(crate) fn auth_state(parts: &Parts) -> Result<&AuthState, Refusal> {
    parts.extensions.get::<AuthState>().ok_or_else(|| {
        tracing::error!("bearer-guard extractor used on a route without BearerGuardLayer");
        Refusal::from(AuthError::MissingLayer)
    })
}

/// The verified token of this request; anonymous requests get the core layer's 401.
#[cfg(feature = "axum")]
pub(crate) fn verified_token(parts: &Parts) -> Result<(&VerifiedToken, &AuthState), Refusal> {
    let state = auth_state(parts)?;
    match &state.token {
        Some(token) => Ok((token, state)),
        None => Err(state.refuse(AuthError::MissingToken)),
    }
}

#[cfg(feature = "axum")]
impl<S: Send + Sync> FromRequestParts<S> for VerifiedToken {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        verified_token(parts).map(|(t, _)| t.clone())
    }
}

#[cfg(feature = "axum")]
impl<S: Send + Sync> OptionalFromRequestParts<S> for VerifiedToken {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(auth_state(parts)?.token.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn debug_shows_no_token_material() {
        let t = VerifiedToken::new(
            json!({"sub": "u1"}),
            Scopes::default(),
            Roles::default(),
            Arc::from("https://iss"),
            Some(Arc::from("k1")),
            1.0,
        );
        let d = format!("{t:?}");
        assert!(d.contains("u1") && d.contains("k1"));
    }
}
