//! Checking a token's binding to its sender: DPoP (RFC 9449) and certificate-bound tokens
//! (RFC 8705). This runs after the token is verified (or found in the verified-token cache),
//! on every request.
//!
//! - A token with `cnf.jkt` must come with the `DPoP` scheme and a valid proof made with that
//!   key; with the `Bearer` scheme it is refused (RFC 9449 §7.2).
//! - A `DPoP` request whose token has no `cnf.jkt` is refused.
//! - A token with `cnf["x5t#S256"]` must come over a connection whose client certificate has
//!   that thumbprint.
//!
//! ```
//! use axum::{Router, body::Body, routing::get};
//! use bearer_guard::{BearerGuard, DpopMode, StaticKey};
//! use http::{Request, StatusCode};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let guard = BearerGuard::builder()
//!     .issuer("my-app")
//!     .audience("my-api")
//!     .static_key(StaticKey::hmac_secret(b"an example secret of at least 32 bytes")?)
//!     .public_url("https://api.example.com")?   // what DPoP proofs' `htu` is checked against
//!     .dpop(DpopMode::Allowed)
//!     .build()?;
//! let app = Router::new().route("/", get(|| async { "hi" })).route_layer(guard.layer());
//!
//! let response = app.oneshot(Request::get("/").body(Body::empty())?).await?;
//! assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
//! let challenges: Vec<_> = response.headers().get_all("www-authenticate").iter().collect();
//! assert_eq!(challenges[0], "Bearer realm=\"api\"");
//! assert!(challenges[1].to_str()?.starts_with("DPoP algs=\"ES256"));
//! # Ok(())
//! # }
//! ```

pub(crate) mod dpop;
pub(crate) mod mtls;
pub(crate) mod replay;

use std::sync::Arc;
use std::time::Duration;

use http::request::Parts;
use serde_json::Value;

use self::dpop::htu::PublicBase;
use self::dpop::nonce::Nonces;
use self::dpop::{DEFAULT_DPOP_IAT_AHEAD, DEFAULT_DPOP_IAT_BACK, Dpop, DpopMode};
use self::mtls::ClientCertificateSource;
use self::replay::{MemoryReplayStore, ReplayStore};
use crate::error::{AuthError, ConfigError, InvalidToken};
use crate::keys::AlgSet;
use crate::token::{Presented, Scheme};
use crate::verified::VerifiedToken;

/// How a token is bound to its sender. Read it with [`VerifiedToken::sender_constraint`]; the
/// guard has checked it for the current request (the proof's key, or the client certificate).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SenderConstraint {
    /// DPoP-bound (RFC 9449): the RFC 7638 thumbprint of the client's proof key (`cnf.jkt`).
    Dpop {
        /// base64url SHA-256 JWK thumbprint.
        jkt: String,
    },
    /// Certificate-bound (RFC 8705): the SHA-256 thumbprint of the client certificate
    /// (`cnf["x5t#S256"]`).
    Certificate {
        /// base64url SHA-256 of the certificate's DER.
        x5t_s256: String,
    },
}

impl VerifiedToken {
    /// How the token is bound to its sender (`None` for a plain bearer token). Handlers can log
    /// it for audit.
    ///
    /// ```
    /// use bearer_guard::{SenderConstraint, VerifiedToken};
    ///
    /// async fn handler(token: VerifiedToken) -> String {
    ///     match token.sender_constraint() {
    ///         Some(SenderConstraint::Dpop { jkt }) => format!("DPoP key {jkt}"),
    ///         Some(SenderConstraint::Certificate { x5t_s256 }) => format!("certificate {x5t_s256}"),
    ///         Some(_) | None => "bearer".to_owned(),
    ///     }
    /// }
    /// ```
    pub fn sender_constraint(&self) -> Option<SenderConstraint> {
        let cnf = self.claims().get("cnf")?;
        if let Some(jkt) = cnf.get("jkt").and_then(Value::as_str) {
            return Some(SenderConstraint::Dpop { jkt: jkt.to_owned() });
        }
        cnf.get("x5t#S256")
            .and_then(Value::as_str)
            .map(|x5t| SenderConstraint::Certificate { x5t_s256: x5t.to_owned() })
    }

    /// Whether the token is sender-constrained (DPoP or certificate-bound).
    pub fn is_sender_constrained(&self) -> bool {
        self.sender_constraint().is_some()
    }
}

/// The binding stage of a guard.
#[derive(Debug)]
pub(crate) struct Binding {
    pub(crate) dpop: Dpop,
    pub(crate) certificates: ClientCertificateSource,
}

/// What a passed binding check adds to the answer.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// A `DPoP-Nonce` to send with the (successful) answer.
    pub(crate) dpop_nonce: Option<String>,
}

impl Binding {
    /// The RFC 9728 members that describe this binding configuration:
    /// `dpop_signing_alg_values_supported` and `dpop_bound_access_tokens_required` when DPoP is
    /// on (RFC 9449 §5.1), `tls_client_certificate_bound_access_tokens` when client
    /// certificates come from a named proxy header (RFC 8705 §3.4). A TLS acceptor that sets the
    /// extension is invisible to the guard: then set the member yourself with
    /// `ResourceMetadata::member`.
    pub(crate) fn metadata_members(&self) -> Vec<(&'static str, Value)> {
        let mut members = Vec::new();
        if self.dpop.mode != DpopMode::Off {
            let algs: Vec<Value> =
                self.dpop.algs_attribute().split(' ').filter(|a| !a.is_empty()).map(|a| a.into()).collect();
            members.push(("dpop_signing_alg_values_supported", Value::Array(algs)));
            members.push(("dpop_bound_access_tokens_required", (self.dpop.mode == DpopMode::Required).into()));
        }
        if matches!(self.certificates, ClientCertificateSource::TrustedProxyHeader { .. }) {
            members.push(("tls_client_certificate_bound_access_tokens", true.into()));
        }
        members
    }

    /// Checks that `token` (verified, as `presented` in `request`) is used by its sender.
    pub(crate) async fn check(
        &self,
        token: &VerifiedToken,
        presented: &Presented<'_>,
        request: &Parts,
    ) -> Result<Outcome, AuthError> {
        let cnf = Cnf::of(token)?;
        let mut outcome = Outcome::default();
        match presented.scheme {
            Scheme::Bearer => self.check_bearer(&cnf)?,
            Scheme::Dpop => {
                let (method, path, headers) = (&request.method, request.uri.path(), &request.headers);
                let accepted =
                    self.dpop.check(method, path, headers, presented.token, cnf.jkt, crate::clock::now_secs()).await?;
                outcome.dpop_nonce = accepted.fresh_nonce;
            }
        }
        self.check_certificate(&cnf, request)?;
        Ok(outcome)
    }

    /// [`check`](Self::check) when it needs no waiting: every request with the Bearer scheme
    /// (which adds nothing to the answer). `None` for a DPoP proof, whose `jti` must be
    /// recorded.
    pub(crate) fn check_now(
        &self,
        token: &VerifiedToken,
        presented: &Presented<'_>,
        request: &Parts,
    ) -> Option<Result<(), AuthError>> {
        match presented.scheme {
            Scheme::Dpop => None,
            Scheme::Bearer => Some(Cnf::of(token).and_then(|cnf| {
                self.check_bearer(&cnf)?;
                self.check_certificate(&cnf, request)
            })),
        }
    }

    /// A token presented with the Bearer scheme: not DPoP-bound, and DPoP not required.
    fn check_bearer(&self, cnf: &Cnf<'_>) -> Result<(), AuthError> {
        if cnf.jkt.is_some() {
            return Err(AuthError::InvalidToken(InvalidToken::DpopBoundTokenAsBearer));
        }
        if self.dpop.mode == DpopMode::Required {
            return Err(AuthError::InvalidToken(InvalidToken::DpopRequired));
        }
        Ok(())
    }

    /// A certificate-bound token: the connection's client certificate must be the one bound.
    fn check_certificate(&self, cnf: &Cnf<'_>, request: &Parts) -> Result<(), AuthError> {
        match cnf.x5t_s256 {
            None => Ok(()),
            Some(x5t) => self.certificates.check(x5t, &request.headers, &request.extensions),
        }
    }
}

/// The confirmation (`cnf`) members of a verified token, RFC 7800.
struct Cnf<'t> {
    /// RFC 9449: the thumbprint of the DPoP key the token is bound to.
    jkt: Option<&'t str>,
    /// RFC 8705: the thumbprint of the client certificate the token is bound to.
    x5t_s256: Option<&'t str>,
}

impl<'t> Cnf<'t> {
    fn of(token: &'t VerifiedToken) -> Result<Self, AuthError> {
        let invalid = || AuthError::InvalidToken(InvalidToken::InvalidClaim("cnf"));
        let cnf = match token.claims().get("cnf") {
            None => return Ok(Self { jkt: None, x5t_s256: None }),
            Some(Value::Object(cnf)) => cnf,
            Some(_) => return Err(invalid()),
        };
        let member = |name| match cnf.get(name) {
            None => Ok(None),
            Some(Value::String(value)) => Ok(Some(value.as_str())),
            Some(_) => Err(invalid()),
        };
        Ok(Self { jkt: member("jkt")?, x5t_s256: member("x5t#S256")? })
    }
}

impl Default for Binding {
    /// DPoP off (no public URL), certificates from the TLS acceptor.
    fn default() -> Self {
        Binding {
            dpop: Dpop {
                mode: DpopMode::Off,
                base: None,
                iat_back: DEFAULT_DPOP_IAT_BACK.as_secs_f64(),
                iat_ahead: DEFAULT_DPOP_IAT_AHEAD.as_secs_f64(),
                algs: AlgSet::ASYMMETRIC,
                store: Arc::new(MemoryReplayStore::default()),
                nonces: None,
                retry_after: Duration::from_secs(1),
            },
            certificates: ClientCertificateSource::default(),
        }
    }
}

/// The binding settings of a guard builder.
#[derive(Clone)]
pub(crate) struct BindingSettings {
    pub(crate) mode: Option<DpopMode>,
    pub(crate) public_url: Option<PublicBase>,
    pub(crate) iat_back: Duration,
    pub(crate) iat_ahead: Duration,
    pub(crate) algs: Option<AlgSet>,
    pub(crate) store: Option<Arc<dyn ReplayStore>>,
    pub(crate) nonces: Option<(Vec<u8>, Duration)>,
    pub(crate) certificates: ClientCertificateSource,
}

impl Default for BindingSettings {
    fn default() -> Self {
        Self {
            mode: None,
            public_url: None,
            iat_back: DEFAULT_DPOP_IAT_BACK,
            iat_ahead: DEFAULT_DPOP_IAT_AHEAD,
            algs: None,
            store: None,
            nonces: None,
            certificates: ClientCertificateSource::default(),
        }
    }
}

impl BindingSettings {
    /// Checks the settings. Without a public URL the default mode is `Off` (a proof's `htu`
    /// can't be checked against the `Host` header, which the client chooses).
    pub(crate) fn build(self, guard_algs: AlgSet) -> Result<Binding, ConfigError> {
        let mode = match (self.mode, &self.public_url) {
            (Some(DpopMode::Off), _) | (None, None) => DpopMode::Off,
            (Some(mode), Some(_)) => mode,
            (None, Some(_)) => DpopMode::Allowed,
            (Some(_), None) => {
                return Err(ConfigError::InvalidSetting {
                    name: "dpop",
                    reason: "DPoP needs public_url (the external base URL proofs are checked against)",
                });
            }
        };
        if self.iat_back > Duration::from_secs(3600) || self.iat_ahead > Duration::from_secs(300) {
            return Err(ConfigError::InvalidSetting {
                name: "dpop_iat_window",
                reason: "at most 1 hour back and 5 minutes ahead",
            });
        }
        let algs = self.algs.unwrap_or(guard_algs.union(AlgSet::ASYMMETRIC)).intersect(AlgSet::ASYMMETRIC);
        if mode != DpopMode::Off && algs.is_empty() {
            return Err(ConfigError::InvalidSetting { name: "dpop_algorithms", reason: "no asymmetric algorithm" });
        }
        let nonces = match self.nonces {
            Some((secret, _)) if secret.len() < 32 => {
                return Err(ConfigError::InvalidSetting {
                    name: "dpop_nonces",
                    reason: "secret shorter than 32 bytes",
                });
            }
            Some((secret, period)) => Some(Nonces::new(&secret, period)),
            None => None,
        };
        Ok(Binding {
            dpop: Dpop {
                mode,
                base: self.public_url,
                iat_back: self.iat_back.as_secs_f64(),
                iat_ahead: self.iat_ahead.as_secs_f64(),
                algs,
                store: self.store.unwrap_or_else(|| Arc::new(MemoryReplayStore::default())),
                nonces,
                retry_after: Duration::from_secs(1),
            },
            certificates: self.certificates,
        })
    }
}
