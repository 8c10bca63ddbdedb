//! Verifying a JWS access token locally: the unverified `iss` picks a trusted issuer, the
//! header's `kid` and `alg` pick one of its keys, the signature is checked with it, then the
//! registered claims (RFC 7515, RFC 7519, RFC 8725, RFC 9068).

use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use crate::clock::now_secs;
use crate::error::{AuthError, InvalidToken};
use crate::issuer::{KeySource, TrustedIssuer};
use crate::jws::header::{Parsed, TypPolicy, parse};
use crate::jws::rules::check_claims;
use crate::keys::{AlgSet, Candidates, KeyFingerprint, Selection, VerifyingKey};
use crate::scope::set::{Roles, ScopeSources, Scopes};
use crate::verified::VerifiedToken;

/// Everything needed to verify a JWS locally, shared by all requests.
pub(crate) struct JwsVerifier {
    pub(crate) issuers: Box<[TrustedIssuer]>,
    pub(crate) allowed: AlgSet,
    pub(crate) leeway: u64,
    pub(crate) typ: TypPolicy,
    pub(crate) scopes: ScopeSources,
}

impl fmt::Debug for JwsVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwsVerifier")
            .field("issuers", &self.issuers.iter().map(|i| &*i.issuer).collect::<Vec<_>>())
            .field("allowed", &self.allowed)
            .field("leeway", &self.leeway)
            .field("typ", &self.typ)
            .finish_non_exhaustive()
    }
}

/// Which key verified a token: the issuer (by index) and the key's material, so a cached verdict
/// can be dropped as soon as that key leaves the issuer's set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeyIdentity {
    pub(crate) issuer: usize,
    pub(crate) fingerprint: KeyFingerprint,
    /// Static keys never leave their set.
    pub(crate) is_static: bool,
}

impl JwsVerifier {
    /// Whether `token` looks like a JWS whose unverified `iss` is one of the trusted issuers.
    /// Used to route tokens between local verification and introspection; never a verdict.
    pub(crate) fn is_trusted_jws(&self, token: &str) -> bool {
        parse(token, self.allowed, self.typ).is_ok_and(|parsed| {
            parsed.claims.get("iss").and_then(Value::as_str).is_some_and(|iss| self.issuer_index(iss).is_some())
        })
    }

    fn issuer_index(&self, iss: &str) -> Option<usize> {
        self.issuers.iter().position(|i| &*i.issuer == iss)
    }

    /// Verifies a token and returns its claims and scopes, and the key that verified it. Logs one
    /// DEBUG event per refusal with the reason, the (unverified, truncated) issuer and kid;
    /// never the token.
    pub(crate) async fn verify(&self, token: &str) -> Result<(VerifiedToken, KeyIdentity), AuthError> {
        let mut parsed = match parse(token, self.allowed, self.typ) {
            Ok(parsed) => parsed,
            Err(reason) => {
                tracing::debug!(target: "bearer_guard::refusal", reason = reason.description(), "token refused");
                return Err(AuthError::InvalidToken(reason));
            }
        };
        let result = self.verify_parsed(&mut parsed).await;
        if let Err(error) = &result {
            let iss = parsed.claims.get("iss").and_then(Value::as_str).map(truncated);
            let kid = parsed.kid.as_deref().map(truncated);
            tracing::debug!(target: "bearer_guard::refusal", reason = %error, iss, kid, "token refused");
            if let AuthError::InvalidToken(InvalidToken::WrongAudience) = error {
                let aud = parsed.claims.get("aud").map(|a| truncated(&a.to_string()).to_owned());
                let expected: Vec<&str> = self
                    .issuer_index(iss.unwrap_or_default())
                    .and_then(|i| self.issuers.get(i))
                    .map(|i| i.audiences.iter().map(|a| &**a).collect())
                    .unwrap_or_default();
                tracing::debug!(
                    target: "bearer_guard::refusal",
                    token_aud = aud.as_deref(),
                    ?expected,
                    "the token's aud does not contain a configured audience (Keycloak's default aud is `account`)"
                );
            }
        }
        result
    }

    /// Whether a cached verdict's key is still in its issuer's set. Static keys always are.
    pub(crate) async fn key_still_trusted(&self, key: &KeyIdentity) -> bool {
        if let Some(trusted) = self.key_still_trusted_now(key) {
            return trusted;
        }
        match self.issuers.get(key.issuer).map(|i| &i.keys) {
            Some(KeySource::Remote(remote)) => {
                remote.current().await.is_ok_and(|snapshot| snapshot.keys.contains_key(&key.fingerprint))
            }
            _ => false,
        }
    }

    /// [`key_still_trusted`](Self::key_still_trusted) when it can be told without waiting for a
    /// key fetch (static keys, or a cached key set before its TTL); `None` otherwise.
    pub(crate) fn key_still_trusted_now(&self, key: &KeyIdentity) -> Option<bool> {
        if key.is_static {
            return Some(true);
        }
        match self.issuers.get(key.issuer).map(|i| &i.keys) {
            Some(KeySource::Static(_)) => Some(true),
            Some(KeySource::Remote(remote)) => {
                remote.with_usable(|snapshot| snapshot.keys.contains_key(&key.fingerprint))
            }
            None => Some(false),
        }
    }

    /// Checks a JWS's header (`typ` by `typ`) and signature with a trusted issuer's keys, and
    /// no claim: for tokens that are not access tokens and have their own claim rules (a
    /// back-channel logout token). Returns the claims and the issuer.
    pub(crate) async fn verify_signature_only(
        &self,
        token: &str,
        typ: TypPolicy,
    ) -> Result<(serde_json::Map<String, Value>, &TrustedIssuer), AuthError> {
        let parsed = parse(token, self.allowed, typ).map_err(AuthError::InvalidToken)?;
        let signer = self.signer(&parsed).await?;
        let issuer = self.issuers.get(signer.issuer).ok_or(AuthError::InvalidToken(InvalidToken::UntrustedIssuer))?;
        Ok((parsed.claims, issuer))
    }

    async fn verify_parsed(&self, parsed: &mut Parsed<'_>) -> Result<(VerifiedToken, KeyIdentity), AuthError> {
        let signer = self.signer(parsed).await?;
        let issuer = self.issuers.get(signer.issuer).ok_or(AuthError::InvalidToken(InvalidToken::UntrustedIssuer))?;
        let token = self.finish(issuer, signer.kid, parsed)?;
        Ok((token, signer.identity))
    }

    /// Picks the trusted issuer by the token's unverified `iss` (it only chooses whose keys are
    /// tried), then the key by `kid` and `alg` (refetching once for an unknown `kid`), and
    /// checks the signature. No claim is checked here.
    async fn signer(&self, parsed: &Parsed<'_>) -> Result<Signer, AuthError> {
        let iss = match parsed.claims.get("iss") {
            Some(Value::String(iss)) => iss.as_str(),
            Some(_) => return Err(AuthError::InvalidToken(InvalidToken::InvalidClaim("iss"))),
            None => return Err(AuthError::InvalidToken(InvalidToken::UntrustedIssuer)),
        };
        let index = self.issuer_index(iss).ok_or(AuthError::InvalidToken(InvalidToken::UntrustedIssuer))?;
        let issuer = self.issuers.get(index).ok_or(AuthError::InvalidToken(InvalidToken::UntrustedIssuer))?;
        let kid = parsed.kid.as_deref();
        let signer = |key: &VerifyingKey, is_static| Signer {
            issuer: index,
            kid: key.kid.clone(),
            identity: KeyIdentity { issuer: index, fingerprint: key.fingerprint, is_static },
        };
        match &issuer.keys {
            KeySource::Static(snapshot) => {
                Ok(signer(signed_by(selected(snapshot.keys.select(kid, parsed.alg))?, parsed)?, true))
            }
            KeySource::Remote(remote) => {
                let snapshot = remote.current().await?;
                let fresh;
                let keys = match snapshot.keys.select(kid, parsed.alg) {
                    Selection::Unknown => {
                        // `Err`: the issuer can't be reached, the key may exist (503);
                        // `None`: no newer set within the cooldown (401).
                        fresh = remote
                            .refetch_for_unknown_key(&snapshot)
                            .await?
                            .ok_or(AuthError::InvalidToken(InvalidToken::UnknownKey))?;
                        selected(fresh.keys.select(kid, parsed.alg))?
                    }
                    other => selected(other)?,
                };
                Ok(signer(signed_by(keys, parsed)?, false))
            }
        }
    }

    /// The claims of a token whose signature a key of `issuer` (named `kid`) has verified.
    fn finish(
        &self,
        issuer: &TrustedIssuer,
        kid: Option<Arc<str>>,
        parsed: &mut Parsed<'_>,
    ) -> Result<VerifiedToken, AuthError> {
        let expires_at = check_claims(&parsed.claims, issuer, self.leeway, now_secs(), self.typ, parsed.typ_is_at_jwt)
            .map_err(AuthError::InvalidToken)?;
        let scopes = Scopes::from_claims(&parsed.claims, &self.scopes);
        let roles = Roles::from_claims(&parsed.claims, &self.scopes);
        Ok(VerifiedToken::new(
            Value::Object(std::mem::take(&mut parsed.claims)),
            scopes,
            roles,
            Arc::clone(&issuer.issuer),
            kid,
            expires_at,
        ))
    }
}

/// Who signed a token: the issuer (by index), the key's `kid` and identity.
struct Signer {
    issuer: usize,
    kid: Option<Arc<str>>,
    identity: KeyIdentity,
}

fn selected(selection: Selection<'_>) -> Result<Candidates<'_>, AuthError> {
    match selection {
        Selection::Found(keys) => Ok(keys),
        Selection::Unknown => Err(AuthError::InvalidToken(InvalidToken::UnknownKey)),
        Selection::AlgorithmMismatch => Err(AuthError::InvalidToken(InvalidToken::AlgorithmKeyMismatch)),
        Selection::Ambiguous => Err(AuthError::InvalidToken(InvalidToken::AmbiguousKey)),
    }
}

/// The first candidate whose signature verifies: a set may hold several keys under one `kid`
/// during a rotation, and each (at most 64) is tried.
fn signed_by<'k>(mut keys: Candidates<'k>, parsed: &Parsed<'_>) -> Result<&'k VerifyingKey, AuthError> {
    keys.find(|key| check_signature(key, parsed).is_ok()).ok_or(AuthError::InvalidToken(InvalidToken::BadSignature))
}

/// The signature check, with the algorithm tied to the key.
pub(crate) fn check_signature(key: &VerifyingKey, parsed: &Parsed<'_>) -> Result<(), InvalidToken> {
    if !key.algorithms.contains(parsed.alg) {
        return Err(InvalidToken::AlgorithmKeyMismatch);
    }
    match jsonwebtoken::crypto::verify(parsed.signature, parsed.signing_input.as_bytes(), &key.key, parsed.alg) {
        Ok(true) => Ok(()),
        _ => Err(InvalidToken::BadSignature),
    }
}

/// Attacker-controlled values are logged at most this long.
const LOGGED_VALUE_CHARS: usize = 64;

/// The first [`LOGGED_VALUE_CHARS`] characters of an attacker-controlled value.
pub(crate) fn truncated(value: &str) -> &str {
    match value.char_indices().nth(LOGGED_VALUE_CHARS) {
        Some((end, _)) => value.get(..end).unwrap_or(value),
        None => value,
    }
}
