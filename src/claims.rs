//! The typed [`Claims<T>`] extractor, and [`AccessTokenClaims`] for RFC 9068 access tokens.

use std::collections::BTreeMap;
use std::fmt;

#[cfg(feature = "axum")]
use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
#[cfg(feature = "axum")]
use http::request::Parts;
#[cfg(feature = "axum")]
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

#[cfg(feature = "axum")]
use crate::error::{AuthError, InvalidToken};
#[cfg(feature = "axum")]
use crate::response::Refusal;
use crate::scope::set::scope_tokens;
#[cfg(feature = "axum")]
use crate::verified::{AuthState, VerifiedToken, auth_state, verified_token};

/// The verified claims, deserialized into `T`.
///
/// Claims that don't fit `T` are refused with `401 invalid_token` (the token is not one this
/// route can use). `Option<Claims<T>>` is `None` for anonymous requests on a guard built with
/// [`allow_anonymous`](crate::BearerGuardBuilder::allow_anonymous).
///
/// ```
/// use bearer_guard::Claims;
/// use serde::Deserialize;
///
/// #[derive(Deserialize)]
/// struct MyClaims { sub: String }
///
/// async fn me(Claims(c): Claims<MyClaims>) -> String { c.sub }
/// ```
#[derive(Clone)]
pub struct Claims<T>(pub T);

impl<T> fmt::Debug for Claims<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `T` is the user's type; its contents are not ours to print.
        f.write_str("Claims(..)")
    }
}

#[cfg(feature = "axum")]
fn deserialize_claims<T: DeserializeOwned>(token: &VerifiedToken, state: &AuthState) -> Result<Claims<T>, Refusal> {
    token.claims_as().map(Claims).map_err(|error| {
        tracing::info!(issuer = token.issuer(), %error, "verified claims do not fit the handler's type");
        state.refuse(AuthError::InvalidToken(InvalidToken::UnexpectedClaims))
    })
}

#[cfg(feature = "axum")]
impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Claims<T> {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let (token, state) = verified_token(parts)?;
        deserialize_claims(token, state)
    }
}

#[cfg(feature = "axum")]
impl<S: Send + Sync, T: DeserializeOwned> OptionalFromRequestParts<S> for Claims<T> {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        let state = auth_state(parts)?;
        match &state.token {
            Some(token) => deserialize_claims(token, state).map(Some),
            None => Ok(None),
        }
    }
}

/// The claims of an RFC 9068 JWT access token, the rest kept in [`extra`](Self::extra).
///
/// ```
/// use bearer_guard::{AccessTokenClaims, Claims};
///
/// async fn whoami(Claims(c): Claims<AccessTokenClaims>) -> String {
///     format!("{} via {}", c.sub.unwrap_or_default(), c.client_id.unwrap_or_default())
/// }
/// ```
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[non_exhaustive]
pub struct AccessTokenClaims {
    /// Issuer.
    pub iss: String,
    /// Subject: the user, or the client for client-credentials tokens.
    #[serde(default)]
    pub sub: Option<String>,
    /// Audiences (a single string in the token becomes a one-element list).
    #[serde(default, deserialize_with = "one_or_many")]
    pub aud: Vec<String>,
    /// Expiry, seconds since the epoch.
    #[serde(deserialize_with = "numeric_date")]
    pub exp: i64,
    /// Issued at.
    #[serde(default, deserialize_with = "opt_numeric_date")]
    pub iat: Option<i64>,
    /// Not before.
    #[serde(default, deserialize_with = "opt_numeric_date")]
    pub nbf: Option<i64>,
    /// Token id.
    #[serde(default)]
    pub jti: Option<String>,
    /// The OAuth client the token was issued to.
    #[serde(default)]
    pub client_id: Option<String>,
    /// The `scope` claim's scopes: a space-separated string (RFC 9068) or an array, read as
    /// [`Scopes`](crate::Scopes) reads it (split on single spaces; entries that are not RFC 6749
    /// scope-tokens left out). Written back as a space-separated string.
    #[serde(default, deserialize_with = "opt_scopes", serialize_with = "space_separated")]
    pub scope: Option<Vec<String>>,
    /// The `scp` claim's scopes (Entra ID, Okta): an array or a string, read the same way.
    #[serde(default, deserialize_with = "opt_scopes")]
    pub scp: Option<Vec<String>>,
    /// Every other claim.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

fn numeric_date<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let v = f64::deserialize(d)?;
    // Saturating: verification already refused non-finite values.
    Ok(v as i64)
}

fn opt_numeric_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.map(|v| v as i64))
}

/// `scope`/`scp`: the one reading shared with [`Scopes`](crate::Scopes). A value of another type
/// reads as no scopes, as it does there.
fn opt_scopes<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    Ok(Option::<Value>::deserialize(d)?.map(|value| {
        let mut out = Vec::new();
        scope_tokens("scope", &value, &mut out);
        out
    }))
}

fn space_separated<S: serde::Serializer>(scopes: &Option<Vec<String>>, s: S) -> Result<S::Ok, S::Error> {
    match scopes {
        Some(scopes) => s.serialize_some(&scopes.join(" ")),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn access_token_claims_read_rfc9068_tokens() {
        let c: AccessTokenClaims = serde_json::from_value(json!({
            "iss": "https://iss", "sub": "u1", "aud": "api", "exp": 1700000000.5, "iat": 1699999000,
            "jti": "j", "client_id": "c", "scope": "a b", "scp": "x y", "tenant": "t1"
        }))
        .unwrap();
        assert_eq!(c.aud, ["api"]);
        assert_eq!(c.exp, 1_700_000_000);
        assert_eq!(c.scope.as_deref(), Some(&["a".to_owned(), "b".to_owned()][..]));
        assert_eq!(c.scp.as_deref(), Some(&["x".to_owned(), "y".to_owned()][..]));
        assert_eq!(c.extra["tenant"], "t1");
        assert_eq!(serde_json::to_value(&c).unwrap()["scope"], "a b");
    }

    fn scope_of(claims: Value) -> (Option<Vec<String>>, Option<Vec<String>>) {
        let mut base = json!({"iss": "https://iss", "exp": 1});
        base.as_object_mut().unwrap().extend(claims.as_object().unwrap().clone());
        let c: AccessTokenClaims = serde_json::from_value(base).unwrap();
        (c.scope, c.scp)
    }

    #[test]
    fn scope_reads_as_scopes_reads_it() {
        let v = |s: &[&str]| Some(s.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
        // An array `scope` (refused with 401 before) and a string give the same list.
        assert_eq!(scope_of(json!({"scope": ["a", "b"]})).0, v(&["a", "b"]));
        assert_eq!(scope_of(json!({"scope": "a b"})).0, v(&["a", "b"]));
        // A tab is not a separator: that entry is no scope; the valid one stays.
        assert_eq!(scope_of(json!({"scope": "notes:read\tadmin x"})).0, v(&["x"]));
        assert_eq!(scope_of(json!({"scp": ["notes:read\tadmin", "y", 3]})).1, v(&["y"]));
        // Another type reads as no scopes rather than refusing the token.
        assert_eq!(scope_of(json!({"scope": 5})).0, v(&[]));
        assert_eq!(scope_of(json!({})), (None, None));
    }

    #[test]
    fn debug_shows_no_claims() {
        assert_eq!(format!("{:?}", Claims(5)), "Claims(..)");
    }
}
