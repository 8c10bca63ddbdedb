//! Minting tokens: the builder and the signature.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value, json};

use super::keys::random_id;
use super::{Shared, TestIssuer, TestIssuerError};
use crate::keys::alg_name;

/// A token being minted by a [`TestIssuer`]; finish with [`sign`](Self::sign).
///
/// ```
/// # use bearer_guard::{Algorithm, testing::TestIssuer};
/// # use serde_json::json;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let issuer = TestIssuer::start_with(&[Algorithm::ES256, Algorithm::EdDSA]).await;
/// let token = issuer
///     .token()
///     .alg(Algorithm::EdDSA)
///     .subject("alice")
///     .scopes(["notes:read", "notes:write"])
///     .claim("tenant", "t1")
///     .claim("roles", json!(["admin"]))
///     .expires_in(60)
///     .sign()?;
/// assert_eq!(token.split('.').count(), 3);
/// # Ok(())
/// # }
/// ```
#[must_use]
pub struct TokenBuilder {
    shared: Arc<Shared>,
    alg: Option<Algorithm>,
    header: Map<String, Value>,
    removed_header: BTreeSet<String>,
    claims: Map<String, Value>,
    unpublished_key: bool,
}

impl TokenBuilder {
    /// The defaults described at [`TestIssuer::token`].
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        let now = now_secs();
        let mut claims = Map::new();
        claims.insert("iss".to_owned(), json!(shared.issuer));
        claims.insert("sub".to_owned(), json!(TestIssuer::DEFAULT_SUBJECT));
        claims.insert("aud".to_owned(), json!(TestIssuer::DEFAULT_AUDIENCE));
        claims.insert("client_id".to_owned(), json!(TestIssuer::DEFAULT_CLIENT_ID));
        claims.insert("iat".to_owned(), json!(now));
        claims.insert("exp".to_owned(), json!(now + TestIssuer::DEFAULT_LIFETIME_SECS));
        claims.insert("jti".to_owned(), json!(random_id(16)));
        let mut header = Map::new();
        header.insert("typ".to_owned(), json!("at+jwt"));
        Self { shared, alg: None, header, removed_header: BTreeSet::new(), claims, unpublished_key: false }
    }

    /// Sets `aud` to one audience.
    pub fn audience(self, audience: impl Into<String>) -> Self {
        self.claim("aud", Value::String(audience.into()))
    }

    /// Sets `aud` to a list of audiences.
    pub fn audiences<I, A>(self, audiences: I) -> Self
    where
        I: IntoIterator<Item = A>,
        A: Into<String>,
    {
        self.claim("aud", Value::Array(audiences.into_iter().map(|a| Value::String(a.into())).collect()))
    }

    /// Sets `sub`.
    pub fn subject(self, subject: impl Into<String>) -> Self {
        self.claim("sub", Value::String(subject.into()))
    }

    /// Sets `iss` (default: this issuer).
    pub fn issuer(self, issuer: impl Into<String>) -> Self {
        self.claim("iss", Value::String(issuer.into()))
    }

    /// Sets `scope` to these scopes, space-separated (RFC 9068).
    pub fn scopes<I, S>(self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let scopes: Vec<String> = scopes.into_iter().map(Into::into).collect();
        self.claim("scope", Value::String(scopes.join(" ")))
    }

    /// Sets any claim, replacing a default.
    pub fn claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.claims.insert(name.into(), value.into());
        self
    }

    /// Leaves a claim out, a default one included (`exp`, `iat`, `jti`, …).
    pub fn remove_claim(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self
    }

    /// Sets `exp` to now plus `secs`; negative means already expired.
    pub fn expires_in(self, secs: i64) -> Self {
        self.claim("exp", json!(now_secs().saturating_add(secs)))
    }

    /// Sets `nbf` to now plus `secs`; positive means not valid yet.
    pub fn not_before_in(self, secs: i64) -> Self {
        self.claim("nbf", json!(now_secs().saturating_add(secs)))
    }

    /// Signs with the first published key of this algorithm (default: the first key).
    pub fn alg(mut self, alg: Algorithm) -> Self {
        self.alg = Some(alg);
        self
    }

    /// Sets the header `kid` (default: the signing key's); the signing key does not change.
    pub fn kid(self, kid: impl Into<String>) -> Self {
        self.header("kid", Value::String(kid.into()))
    }

    /// Sets any header parameter, `alg` and `kid` included: the token is still signed with the
    /// chosen key's algorithm, whatever the header says.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        let name = name.into();
        self.removed_header.remove(&name);
        self.header.insert(name, value.into());
        self
    }

    /// Leaves a header parameter out, `kid`, `typ` and `alg` included.
    pub fn remove_header(mut self, name: &str) -> Self {
        self.header.remove(name);
        self.removed_header.insert(name.to_owned());
        self
    }

    /// Signs with a key of the same algorithm that is never published, keeping the published
    /// key's `kid` in the header: the signature does not verify.
    pub fn unpublished_key(mut self) -> Self {
        self.unpublished_key = true;
        self
    }

    /// The signed compact JWT.
    pub fn sign(self) -> Result<String, TestIssuerError> {
        let published = {
            let state = self.shared.state();
            let key = match self.alg {
                Some(alg) => state.keys.iter().find(|k| k.alg == alg).ok_or(TestIssuerError::NoKey(alg))?,
                None => state.keys.first().ok_or(TestIssuerError::NoKeys)?,
            };
            Arc::clone(key)
        };
        let signing =
            if self.unpublished_key { self.shared.unpublished_key(published.alg)? } else { published.clone() };

        let mut header = Map::new();
        header.insert("alg".to_owned(), json!(alg_name(published.alg)));
        header.insert("kid".to_owned(), json!(published.kid));
        header.extend(self.header);
        header.retain(|name, _| !self.removed_header.contains(name));

        let header = URL_SAFE_NO_PAD.encode(Value::Object(header).to_string());
        let claims = URL_SAFE_NO_PAD.encode(Value::Object(self.claims).to_string());
        let message = format!("{header}.{claims}");
        crate::backend::install_crypto_provider();
        let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &signing.encoding, signing.alg)
            .map_err(TestIssuerError::Signing)?;
        Ok(format!("{message}.{signature}"))
    }
}

impl fmt::Debug for TokenBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenBuilder")
            .field("alg", &self.alg)
            .field("header", &self.header)
            .field("removed_header", &self.removed_header)
            .field("claims", &self.claims)
            .field("unpublished_key", &self.unpublished_key)
            .finish_non_exhaustive()
    }
}

pub(super) fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
