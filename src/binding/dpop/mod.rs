//! DPoP (RFC 9449): checking the proof that comes with a DPoP-bound access token.
//!
//! Every check of RFC 9449 §4.3 is done, cheap ones first: exactly one `DPoP` header; a JWS
//! with `typ` `dpop+jwt`, an asymmetric allowed `alg`, a public `jwk` that verifies it; `htm`
//! equal to the method; `htu` equal to the configured external base URL plus the request path
//! (RFC 3986 normalized, query and fragment ignored); `iat` inside the window; `ath` equal to
//! the access token's hash; the token's `cnf.jkt` equal to the key's RFC 7638 thumbprint; the
//! optional server nonce; and, last, the `jti` unused within the window (so only proofs that
//! passed everything else take room in the replay store).

pub(crate) mod htu;
pub(crate) mod nonce;
pub(crate) mod proof;
pub(crate) mod thumbprint;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, Method};
use sha2::{Digest, Sha256};

use self::htu::PublicBase;
use self::nonce::{NonceCheck, Nonces};
use super::replay::{ReplayStore, ReplayStoreError};
use crate::error::{AuthError, InvalidDpopProof, InvalidRequest, InvalidToken, Unavailable};
use crate::keys::{AlgSet, alg_name};

/// Default accepted age of a proof's `iat` (60 s).
pub const DEFAULT_DPOP_IAT_BACK: Duration = Duration::from_secs(60);
/// Default accepted clock skew ahead for a proof's `iat` (5 s).
pub const DEFAULT_DPOP_IAT_AHEAD: Duration = Duration::from_secs(5);

/// How a guard treats DPoP (RFC 9449) and the `DPoP` authorization scheme.
///
/// Whatever the mode, a DPoP-bound token (`cnf.jkt`) sent with the `Bearer` scheme is refused
/// (RFC 9449 §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DpopMode {
    /// The `DPoP` scheme is not accepted (treated like any foreign scheme: no token).
    Off,
    /// `Bearer` and `DPoP` are both accepted; a 401 carries both challenges.
    Allowed,
    /// Only `DPoP` with DPoP-bound tokens.
    Required,
}

impl std::str::FromStr for DpopMode {
    type Err = &'static str;

    /// `off`, `allowed` or `required` (case-insensitive), as in the `DPOP` variable of the examples.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "off" => Ok(Self::Off),
            "allowed" => Ok(Self::Allowed),
            "required" => Ok(Self::Required),
            _ => Err("expected off, allowed or required"),
        }
    }
}

/// The DPoP configuration of a guard.
pub(crate) struct Dpop {
    pub(crate) mode: DpopMode,
    pub(crate) base: Option<PublicBase>,
    pub(crate) iat_back: f64,
    pub(crate) iat_ahead: f64,
    pub(crate) algs: AlgSet,
    pub(crate) store: Arc<dyn ReplayStore>,
    pub(crate) nonces: Option<Nonces>,
    pub(crate) retry_after: Duration,
}

impl fmt::Debug for Dpop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dpop")
            .field("mode", &self.mode)
            .field("base", &self.base)
            .field("iat_back", &self.iat_back)
            .field("iat_ahead", &self.iat_ahead)
            .field("algs", &self.algs)
            .field("store", &self.store)
            .field("nonces", &self.nonces)
            .finish()
    }
}

/// A proof that passed every check.
#[derive(Debug)]
pub(crate) struct Accepted {
    /// A fresh nonce to send with the answer (`DPoP-Nonce`), when the proof's is about to expire.
    pub(crate) fresh_nonce: Option<String>,
}

impl Dpop {
    /// The `algs` attribute of the `DPoP` challenge.
    pub(crate) fn algs_attribute(&self) -> String {
        self.algs.intersect(AlgSet::ASYMMETRIC).iter().map(alg_name).collect::<Vec<_>>().join(" ")
    }

    /// Checks the request's proof for `token` (already verified), whose `cnf.jkt` is `jkt`.
    pub(crate) async fn check(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        token: &str,
        jkt: Option<&str>,
        now: f64,
    ) -> Result<Accepted, AuthError> {
        let proof_err = |e: InvalidDpopProof| AuthError::InvalidDpopProof(e);
        let mut values = headers.get_all("dpop").iter();
        let value = values.next().ok_or(proof_err(InvalidDpopProof::Missing))?;
        if values.next().is_some() {
            return Err(AuthError::InvalidRequest(InvalidRequest::SeveralDpopProofs));
        }
        let jkt = jkt.ok_or(AuthError::InvalidToken(InvalidToken::NotDpopBound))?;
        let value = value.to_str().map_err(|_| proof_err(InvalidDpopProof::Malformed))?;
        let proof = proof::verify(value, self.algs).map_err(proof_err)?;
        if proof.htm != method.as_str() {
            return Err(proof_err(InvalidDpopProof::MethodMismatch));
        }
        let base = self.base.as_ref().ok_or(proof_err(InvalidDpopProof::UriMismatch))?;
        if htu::normalize(&proof.htu).as_ref() != Some(&base.expected(path)) {
            return Err(proof_err(InvalidDpopProof::UriMismatch));
        }
        if proof.iat < now - self.iat_back || proof.iat > now + self.iat_ahead {
            return Err(proof_err(InvalidDpopProof::IatOutOfWindow));
        }
        let ath = proof.ath.as_deref().ok_or(proof_err(InvalidDpopProof::MissingAccessTokenHash))?;
        if ath != access_token_hash(token) {
            return Err(proof_err(InvalidDpopProof::AccessTokenHashMismatch));
        }
        if proof.jkt != jkt {
            return Err(AuthError::InvalidToken(InvalidToken::KeyBindingMismatch));
        }
        let mut fresh_nonce = None;
        if let Some(nonces) = &self.nonces {
            match nonces.check(proof.nonce.as_deref(), now as u64) {
                NonceCheck::Current => {}
                NonceCheck::Rotate(fresh) => fresh_nonce = Some(fresh),
                NonceCheck::Refuse(fresh) => return Err(AuthError::UseDpopNonce { nonce: Arc::from(fresh) }),
            }
        }
        // Keyed by key and jti: a jti is unique per key (RFC 9449 §11.1).
        let mut digest = Sha256::new();
        digest.update(proof.jkt.as_bytes());
        digest.update([0]);
        digest.update(proof.jti.as_bytes());
        let key = URL_SAFE_NO_PAD.encode(digest.finalize());
        let ttl = Duration::from_secs_f64(self.iat_back + self.iat_ahead);
        match self.store.first_use(&key, ttl).await {
            Ok(true) => Ok(Accepted { fresh_nonce }),
            Ok(false) => Err(proof_err(InvalidDpopProof::Replayed)),
            Err(error) => {
                match &error {
                    ReplayStoreError::Full => tracing::warn!("DPoP replay store is full; proof refused"),
                    other => tracing::warn!(error = %other, "DPoP replay store failed; proof refused"),
                }
                Err(AuthError::unavailable(Unavailable::ReplayStore, self.retry_after))
            }
        }
    }
}

/// `ath`: base64url(SHA-256(access token)) (RFC 9449 §4.2).
pub(crate) fn access_token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}
