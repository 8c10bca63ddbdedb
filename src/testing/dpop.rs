//! DPoP and certificate-bound tokens for tests: a client key ([`DpopKey`]) that signs proofs,
//! and [`TokenBuilder`] methods that bind tokens to it or to a certificate thumbprint.
//!
//! ```
//! use axum::{Router, body::Body, routing::get};
//! use bearer_guard::testing::{DpopKey, TestIssuer};
//! use bearer_guard::BearerGuard;
//! use http::{Request, StatusCode};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let issuer = TestIssuer::start_with(&[jsonwebtoken::Algorithm::ES256]).await;
//! let guard = BearerGuard::builder()
//!     .issuer(issuer.issuer())
//!     .audience(TestIssuer::DEFAULT_AUDIENCE)
//!     .public_url("https://api.example.com")?
//!     .build()?;
//! let app = Router::new().route("/notes", get(|| async { "notes" })).route_layer(guard.layer());
//!
//! let key = DpopKey::generate(jsonwebtoken::Algorithm::ES256)?;
//! let token = issuer.token().dpop_bound(&key).sign()?;
//! let proof = key.proof("GET", "https://api.example.com/notes").access_token(&token).sign()?;
//! let request = Request::get("/notes")
//!     .header("authorization", format!("DPoP {token}"))
//!     .header("dpop", proof)
//!     .body(Body::empty())?;
//! assert_eq!(app.oneshot(request).await?.status(), StatusCode::OK);
//! # Ok(())
//! # }
//! ```

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::keys::{TestKey, random_id};
use super::tokens::now_secs;
use super::{TestIssuerError, TokenBuilder};
use crate::backend::install_crypto_provider;
use crate::keys::alg_name;

/// A DPoP client key: signs proofs and names itself by its RFC 7638 thumbprint.
pub struct DpopKey {
    key: TestKey,
    public_jwk: Map<String, Value>,
    thumbprint: String,
}

impl fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopKey").field("alg", &self.key.alg).field("thumbprint", &self.thumbprint).finish()
    }
}

impl DpopKey {
    /// A fresh key for `alg` (ES256, ES384, RS*/PS* with RSA 2048, or EdDSA).
    pub fn generate(alg: Algorithm) -> Result<Self, TestIssuerError> {
        let key = TestKey::generate(alg)?;
        let members: &[&str] = match key.jwk["kty"].as_str() {
            Some("RSA") => &["kty", "n", "e"],
            Some("EC") => &["kty", "crv", "x", "y"],
            _ => &["kty", "crv", "x"],
        };
        let public_jwk: Map<String, Value> =
            members.iter().filter_map(|m| Some(((*m).to_owned(), key.jwk.get(*m)?.clone()))).collect();
        let thumbprint = crate::binding::dpop::thumbprint::jwk_thumbprint(&public_jwk)
            .ok_or_else(|| TestIssuerError::KeyGeneration("no thumbprint for this key".to_owned()))?;
        Ok(Self { key, public_jwk, thumbprint })
    }

    /// The key's RFC 7638 thumbprint (the `cnf.jkt` of tokens bound to it).
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// The public JWK put in proofs.
    pub fn public_jwk(&self) -> Value {
        Value::Object(self.public_jwk.clone())
    }

    /// Starts a proof for a request: `htm` = `method`, `htu` = `url`; a fresh `jti`, `iat` now.
    pub fn proof(&self, method: &str, url: &str) -> ProofBuilder<'_> {
        let mut header = Map::new();
        header.insert("typ".to_owned(), json!("dpop+jwt"));
        header.insert("alg".to_owned(), json!(alg_name(self.key.alg)));
        header.insert("jwk".to_owned(), Value::Object(self.public_jwk.clone()));
        let mut claims = Map::new();
        claims.insert("jti".to_owned(), json!(random_id(16)));
        claims.insert("htm".to_owned(), json!(method));
        claims.insert("htu".to_owned(), json!(url));
        claims.insert("iat".to_owned(), json!(now_secs()));
        ProofBuilder { key: self, header, claims }
    }
}

/// A DPoP proof being built; [`sign`](Self::sign) makes the compact JWS.
#[must_use]
pub struct ProofBuilder<'k> {
    key: &'k DpopKey,
    header: Map<String, Value>,
    claims: Map<String, Value>,
}

impl fmt::Debug for ProofBuilder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProofBuilder").field("header", &self.header).field("claims", &self.claims).finish()
    }
}

impl ProofBuilder<'_> {
    /// Sets `ath` to the hash of `token`.
    pub fn access_token(self, token: &str) -> Self {
        self.claim("ath", URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes())))
    }

    /// Moves `iat` by `secs` from now (negative: in the past).
    pub fn iat_offset(self, secs: i64) -> Self {
        self.claim("iat", now_secs() + secs)
    }

    /// Sets the `jti`.
    pub fn jti(self, jti: impl Into<String>) -> Self {
        self.claim("jti", jti.into())
    }

    /// Sets the server `nonce`.
    pub fn nonce(self, nonce: impl Into<String>) -> Self {
        self.claim("nonce", nonce.into())
    }

    /// Sets or replaces a claim.
    pub fn claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.claims.insert(name.into(), value.into());
        self
    }

    /// Removes a claim.
    pub fn remove_claim(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self
    }

    /// Sets or replaces a header parameter (`typ`, `alg`, `jwk`, …).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.header.insert(name.into(), value.into());
        self
    }

    /// Removes a header parameter.
    pub fn remove_header(mut self, name: &str) -> Self {
        self.header.remove(name);
        self
    }

    /// The signed proof (signed with the key's own algorithm, whatever the header says).
    pub fn sign(self) -> Result<String, TestIssuerError> {
        let header = URL_SAFE_NO_PAD.encode(Value::Object(self.header).to_string());
        let claims = URL_SAFE_NO_PAD.encode(Value::Object(self.claims).to_string());
        let message = format!("{header}.{claims}");
        install_crypto_provider();
        let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &self.key.key.encoding, self.key.key.alg)
            .map_err(TestIssuerError::Signing)?;
        Ok(format!("{message}.{signature}"))
    }
}

impl TokenBuilder {
    /// Binds the token to a DPoP key: `cnf.jkt` = its thumbprint (RFC 9449 §6.1).
    pub fn dpop_bound(self, key: &DpopKey) -> Self {
        self.claim("cnf", json!({ "jkt": key.thumbprint() }))
    }

    /// Binds the token to a client certificate: `cnf["x5t#S256"]` = base64url(SHA-256(`der`))
    /// (RFC 8705 §3.1).
    pub fn certificate_bound(self, der: &[u8]) -> Self {
        self.claim("cnf", json!({ "x5t#S256": URL_SAFE_NO_PAD.encode(Sha256::digest(der)) }))
    }
}
