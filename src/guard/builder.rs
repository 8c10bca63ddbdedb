//! [`BearerGuardBuilder`]: the settings of a guard, checked once by `build`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Algorithm;

use crate::authenticate::Authenticator;
use crate::backend::install_crypto_provider;
use crate::binding::BindingSettings;
use crate::binding::dpop::DpopMode;
use crate::binding::dpop::htu::PublicBase;
use crate::binding::mtls::ClientCertificateSource;
use crate::binding::replay::ReplayStore;
use crate::error::ConfigError;
use crate::guard::BearerGuard;
use crate::issuer::Issuer;
use crate::jws::header::TypPolicy;
use crate::jws::rules::{DEFAULT_LEEWAY_SECS, MAX_LEEWAY_SECS};
use crate::jws::verifier::JwsVerifier;
use crate::keys::fetch::Fetcher;
use crate::keys::{AlgSet, KeyCachePolicy, StaticKey};
use crate::metadata::config::{ResourceMetadata, ResourceState};
use crate::metadata::resource::ResourceId;
use crate::pipeline::Pipeline;
use crate::response::{DpopChallenge, RefusalResponder, Rfc6750};
use crate::revocation::{Revocation, RevocationConfig};
use crate::scope::set::{RoleSource, ScopeSources};
use crate::token::TokenSources;
use crate::verified_cache::{DEFAULT_VERIFIED_CACHE_CAPACITY, VerifiedCache};

/// Builds a [`BearerGuard`]. Setters read as a sentence; `build` checks everything and does
/// no network I/O. `Clone`, so a base configuration can be shared by several guards.
///
/// Every on/off switch takes a `bool` and is off by default (the shape of reqwest's
/// `danger_accept_invalid_certs(bool)`); risky ones say so in their name:
/// [`dangerous_accept_any_audience`](Self::dangerous_accept_any_audience),
/// [`insecure_token_from_query`](Self::insecure_token_from_query),
/// [`allow_anonymous`](Self::allow_anonymous).
#[derive(Clone)]
#[must_use]
pub struct BearerGuardBuilder {
    primary: Issuer,
    others: Vec<Issuer>,
    algorithms: Option<AlgSet>,
    leeway: Duration,
    typ: TypPolicy,
    realm: Option<String>,
    resource_metadata: Option<String>,
    sources: TokenSources,
    allow_anonymous: bool,
    responder: Option<Arc<dyn RefusalResponder>>,
    policy: KeyCachePolicy,
    client: Option<reqwest::Client>,
    scopes: ScopeSources,
    verified_cache: Option<u64>,
    binding: BindingSettings,
    /// A setting refused by its setter, reported by `build`: (setting, reason).
    binding_error: Option<(&'static str, &'static str)>,
    resource: Option<String>,
    metadata: Option<ResourceMetadata>,
    revocation: Option<RevocationConfig>,
}

impl Default for BearerGuardBuilder {
    fn default() -> Self {
        Self {
            primary: Issuer::new(""),
            others: Vec::new(),
            algorithms: None,
            leeway: Duration::from_secs(DEFAULT_LEEWAY_SECS),
            typ: TypPolicy::default(),
            realm: Some("api".to_owned()),
            resource_metadata: None,
            sources: TokenSources::default(),
            allow_anonymous: false,
            responder: None,
            policy: KeyCachePolicy::default(),
            client: None,
            scopes: ScopeSources::default(),
            verified_cache: Some(DEFAULT_VERIFIED_CACHE_CAPACITY),
            binding: BindingSettings::default(),
            binding_error: None,
            resource: None,
            metadata: None,
            revocation: None,
        }
    }
}

impl fmt::Debug for BearerGuardBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerGuardBuilder")
            .field("primary", &self.primary)
            .field("others", &self.others)
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

impl BearerGuardBuilder {
    /// The trusted issuer: `iss` must equal it exactly. Without [`jwks_uri`](Self::jwks_uri)
    /// or a [`static_key`](Self::static_key), its keys are found by discovery from this URL
    /// (OpenID Connect, then RFC 8414).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.primary.issuer = issuer.into();
        self
    }

    /// An accepted audience: `aud` must contain one of them. Required unless
    /// [`dangerous_accept_any_audience`](Self::dangerous_accept_any_audience).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.primary = self.primary.audience(audience);
        self
    }

    /// Fetches the issuer's keys from this JWKS URL (no discovery). HTTPS, or HTTP on loopback.
    pub fn jwks_uri(mut self, url: impl Into<String>) -> Self {
        self.primary = self.primary.jwks_uri(url);
        self
    }

    /// Verifies with a configured key instead of a JWKS. May be given several times.
    pub fn static_key(mut self, key: StaticKey) -> Self {
        self.primary = self.primary.static_key(key);
        self
    }

    /// `true` accepts any `aud` (default `false`). Only for issuers that mint tokens for this
    /// API alone.
    pub fn dangerous_accept_any_audience(mut self, enabled: bool) -> Self {
        self.primary = self.primary.dangerous_accept_any_audience(enabled);
        self
    }

    /// Trusts a further issuer, with its own audiences and key source. The token's
    /// unverified `iss` only picks which trusted issuer's keys are tried.
    pub fn trust(mut self, issuer: Issuer) -> Self {
        self.others.push(issuer);
        self
    }

    /// The algorithm allow-list. Default: RS256/384/512, PS256/384/512, ES256, ES384, EdDSA,
    /// plus HS256/384/512 when an HMAC secret is configured. `none` is never accepted.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = Some(AlgSet::of(algorithms));
        self
    }

    /// Clock leeway for `exp`, `nbf` and `iat` (default 30 s, at most 5 min).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Strict RFC 9068: `typ` must be `at+jwt`, and `sub`, `client_id`, `iat`, `jti` present.
    pub fn strict_rfc9068(mut self, strict: bool) -> Self {
        self.typ = if strict { TypPolicy::StrictRfc9068 } else { TypPolicy::Lenient };
        self
    }

    /// The `realm` of the `WWW-Authenticate` challenge (default `api`).
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(realm.into());
        self
    }

    /// Leaves `realm` out of the challenges. A request without any token still gets an
    /// attribute (RFC 6750 §3 wants at least one): `resource_metadata` when it is set, else
    /// `realm="api"`.
    pub fn without_realm(mut self) -> Self {
        self.realm = None;
        self
    }

    /// Adds RFC 9728 `resource_metadata="…"` to the challenges. Not needed with
    /// [`resource`](Self::resource), which derives it; this URL then takes precedence.
    pub fn resource_metadata(mut self, url: impl Into<String>) -> Self {
        self.resource_metadata = Some(url.into());
        self
    }

    /// This API's resource identifier (RFC 8707, RFC 9728), for example
    /// `https://api.example.com/mcp`: tokens must carry it in `aud` (as well as any
    /// [`audience`](Self::audience) added explicitly), it is the `resource` of the
    /// [metadata document](BearerGuard::metadata_router), and every challenge carries
    /// `resource_metadata="…"` pointing there.
    ///
    /// `build` checks it: an absolute `https` URL (plain `http` only on loopback) without user
    /// information, query or fragment. It is compared with `aud` exactly as written.
    pub fn resource(mut self, uri: impl Into<String>) -> Self {
        self.resource = Some(uri.into());
        self
    }

    /// The RFC 9728 document's further members (name, documentation, extra scopes, …).
    /// Needs a [`resource`](Self::resource).
    pub fn metadata(mut self, metadata: ResourceMetadata) -> Self {
        self.metadata = Some(metadata);
        self
    }

    /// Largest accepted token in bytes (default 16 KiB), checked before any decoding.
    pub fn max_token_bytes(mut self, bytes: usize) -> Self {
        self.sources.max_bytes = bytes;
        self
    }

    /// `true` also reads `?access_token=` from the query string (default `false`: query
    /// strings end up in logs and browser history, RFC 6750 §5.3).
    pub fn insecure_token_from_query(mut self, enabled: bool) -> Self {
        self.sources.query = enabled;
        self
    }

    /// Also reads the token from this cookie (BFF and same-site SPA setups).
    pub fn token_from_cookie(mut self, name: impl Into<String>) -> Self {
        self.sources.cookie = Some(name.into());
        self
    }

    /// `true` lets requests without any token through (default `false`), so
    /// `Option<Claims<T>>` is `None` for them. Requests with a bad token are still refused.
    pub fn allow_anonymous(mut self, enabled: bool) -> Self {
        self.allow_anonymous = enabled;
        self
    }

    /// Replaces the RFC 6750 answer for refusals.
    pub fn on_refusal(mut self, responder: impl RefusalResponder) -> Self {
        self.responder = Some(Arc::new(responder));
        self
    }

    /// Timing and size rules of remote key sets.
    pub fn key_cache_policy(mut self, policy: KeyCachePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The `reqwest::Client` for every discovery and JWKS fetch (custom CA, proxy). Give it a
    /// no-redirect policy: redirects are refused, but only after the client followed them.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Reads roles from this claim (Keycloak realm or client roles, Auth0 permissions, Entra ID
    /// app roles, or any claim path) into the token's [`Roles`](crate::Roles), checked with
    /// [`RequireRole`](crate::RequireRole). May be given several times. Roles are never
    /// [`Scopes`](crate::Scopes) unless [`dangerous_merge_roles_into_scopes`](Self::dangerous_merge_roles_into_scopes).
    pub fn roles_from(mut self, source: RoleSource) -> Self {
        self.scopes.roles.push(source.path());
        self
    }

    /// Reads roles from this claim. Renamed [`roles_from`](Self::roles_from): it now fills
    /// [`Roles`](crate::Roles), not [`Scopes`](crate::Scopes), so `RequireScope` no longer
    /// passes on a role; use `RequireRole`, or add
    /// [`dangerous_merge_roles_into_scopes`](Self::dangerous_merge_roles_into_scopes) to keep
    /// the old behaviour.
    #[deprecated(since = "0.2.0", note = "roles are not scopes: use `roles_from` and `RequireRole`")]
    pub fn scopes_from(self, source: RoleSource) -> Self {
        self.roles_from(source)
    }

    /// Also puts the roles (those that are valid RFC 6749 scope-tokens) into the token's
    /// [`Scopes`](crate::Scopes), so `RequireScope<Admin>` passes for the role `admin`.
    ///
    /// Dangerous: `RequireScope` then cannot tell a role the identity provider granted from an
    /// OAuth scope the client asked for, and clients can often ask for any scope they like (a
    /// token with the *scope* `admin` passes a check meant for the *role* `admin`). Prefer
    /// [`RequireRole`](crate::RequireRole); this is for migrating code that checked roles as
    /// scopes. [`RequireRole`](crate::RequireRole) is not affected.
    pub fn dangerous_merge_roles_into_scopes(mut self) -> Self {
        self.scopes.merge_roles_into_scopes = true;
        self
    }

    /// Keeps verified tokens (keyed by their SHA-256, never past their `exp`, never after their
    /// key leaves the issuer's set) so a token presented again skips the signature check.
    /// On by default with room for 10 000 tokens; `false` turns it off.
    pub fn verified_token_cache(mut self, enabled: bool) -> Self {
        self.verified_cache = enabled.then_some(self.verified_cache.unwrap_or(DEFAULT_VERIFIED_CACHE_CAPACITY));
        self
    }

    /// The verified-token cache's capacity in tokens (default 10 000); turns the cache on.
    pub fn verified_token_cache_capacity(mut self, tokens: u64) -> Self {
        self.verified_cache = Some(tokens);
        self
    }

    /// The external base URL of this API (`https://api.example.com`, optionally with a path
    /// prefix), as clients see it through proxies. DPoP proofs' `htu` is checked against it plus
    /// the request path; the `Host` header is never trusted for that. Setting it turns DPoP on
    /// in [`DpopMode::Allowed`] unless [`dpop`](Self::dpop) says otherwise.
    pub fn public_url(mut self, url: impl AsRef<str>) -> Result<Self, ConfigError> {
        let url = url.as_ref();
        let base = PublicBase::parse(url).map_err(|reason| ConfigError::InvalidUrl { url: url.to_owned(), reason })?;
        self.binding.public_url = Some(base);
        Ok(self)
    }

    /// How DPoP (RFC 9449) is treated: off, allowed next to `Bearer` (the default once a
    /// [`public_url`](Self::public_url) is set), or required. Allowed and required need a
    /// public URL. A DPoP-bound token sent as `Bearer` is refused in every mode.
    pub fn dpop(mut self, mode: DpopMode) -> Self {
        self.binding.mode = Some(mode);
        self
    }

    /// The accepted age of a DPoP proof's `iat` (default 60 s back, 5 s ahead). The replay
    /// store keeps each proof for `back + ahead`.
    pub fn dpop_iat_window(mut self, back: Duration, ahead: Duration) -> Self {
        self.binding.iat_back = back;
        self.binding.iat_ahead = ahead;
        self
    }

    /// The algorithms accepted for DPoP proofs (asymmetric only; default: ES256, ES384,
    /// RS256/384/512, PS256/384/512, EdDSA). Listed in the `DPoP` challenge's `algs`.
    pub fn dpop_algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.binding.algs = Some(AlgSet::of(algorithms));
        self
    }

    /// Where used DPoP proofs are remembered (default: [`MemoryReplayStore`](crate::MemoryReplayStore)
    /// with room for 200 000 proofs). Replicas behind one load balancer need a shared store.
    pub fn dpop_replay_store(mut self, store: impl ReplayStore) -> Self {
        self.binding.store = Some(Arc::new(store));
        self
    }

    /// Requires server nonces in DPoP proofs (RFC 9449 §9): stateless, an HMAC of a time step
    /// under `secret` (at least 32 bytes; replicas sharing it agree), rotated every 5 minutes
    /// by default and accepted for two periods. Off by default.
    pub fn dpop_nonces(mut self, secret: impl AsRef<[u8]>) -> Self {
        let period = self.binding.nonces.as_ref().map_or(crate::DEFAULT_DPOP_NONCE_PERIOD, |(_, p)| *p);
        self.binding.nonces = Some((secret.as_ref().to_vec(), period));
        self
    }

    /// How often the DPoP server nonce rotates (default 5 minutes); needs
    /// [`dpop_nonces`](Self::dpop_nonces) first.
    pub fn dpop_nonce_period(mut self, period: Duration) -> Self {
        match &mut self.binding.nonces {
            Some((_, p)) => *p = period,
            None => {
                self.binding_error = Some(("dpop_nonce_period", "set `.dpop_nonces(..)` first"));
            }
        }
        self
    }

    /// Where the client certificate of RFC 8705 certificate-bound tokens comes from (default:
    /// a [`ClientCertificate`](crate::ClientCertificate) request extension set by the TLS
    /// acceptor).
    pub fn client_certificate_source(mut self, source: ClientCertificateSource) -> Self {
        self.binding.certificates = source;
        self
    }

    /// Introspects opaque tokens of the [`issuer`](Self::issuer) at its RFC 7662 endpoint
    /// (see [`Introspection`](crate::Introspection)).
    pub fn introspection(mut self, introspection: crate::introspection::Introspection) -> Self {
        self.primary = self.primary.introspection(introspection);
        self
    }

    /// Turns on the revocation list ([`revocation`](crate::revocation)): revoked tokens get
    /// `401 invalid_token`. With a store in `config`, the list is shared between replicas and
    /// the guard must be built inside a Tokio runtime.
    pub fn revocation(mut self, config: RevocationConfig) -> Self {
        self.revocation = Some(config);
        self
    }

    /// Checks the configuration and builds the guard. No network I/O.
    pub fn build(self) -> Result<BearerGuard, ConfigError> {
        install_crypto_provider();
        if let Some((name, reason)) = self.binding_error {
            return Err(ConfigError::InvalidSetting { name, reason });
        }
        if self.leeway > Duration::from_secs(MAX_LEEWAY_SECS) {
            return Err(ConfigError::InvalidSetting {
                name: "leeway",
                reason: "must be at most 5 minutes, e.g. `Duration::from_secs(60)`",
            });
        }
        if self.sources.max_bytes == 0 {
            return Err(ConfigError::InvalidSetting {
                name: "max_token_bytes",
                reason: "must be at least 1 byte (default 16 KiB)",
            });
        }
        let mut issuers: Vec<Issuer> = Vec::with_capacity(1 + self.others.len());
        let primary_used = !self.primary.audiences.is_empty()
            || self.primary.jwks_uri.is_some()
            || !self.primary.static_keys.is_empty()
            || self.primary.any_audience
            || self.primary.introspection.is_some();
        if !self.primary.issuer.is_empty() {
            issuers.push(self.primary);
        } else if primary_used {
            return Err(ConfigError::MissingIssuer);
        }
        issuers.extend(self.others);
        if issuers.is_empty() {
            return Err(ConfigError::MissingIssuer);
        }
        let resource = match (self.resource, self.metadata) {
            (Some(uri), metadata) => {
                let id = ResourceId::parse(&uri)?;
                let metadata = metadata.unwrap_or_default();
                metadata.check()?;
                // RFC 8707 §2: the resource identifier is the audience a token must carry.
                for issuer in &mut issuers {
                    if !issuer.audiences.contains(&id.uri) {
                        issuer.audiences.push(id.uri.clone());
                    }
                }
                Some(ResourceState { id, metadata })
            }
            (None, Some(_)) => {
                return Err(ConfigError::InvalidSetting {
                    name: "metadata",
                    reason: "needs a resource identifier (BearerGuardBuilder::resource)",
                });
            }
            (None, None) => None,
        };
        for (i, issuer) in issuers.iter().enumerate() {
            if issuer.issuer.is_empty() {
                return Err(ConfigError::MissingIssuer);
            }
            if issuers.iter().take(i).any(|other| other.issuer == issuer.issuer) {
                return Err(ConfigError::DuplicateIssuer(issuer.issuer.clone()));
            }
        }
        let has_secret =
            issuers.iter().flat_map(|i| i.static_keys.iter()).any(|k| !k.family.intersect(AlgSet::HMAC).is_empty());
        let default_allowed = if has_secret { AlgSet::ASYMMETRIC.union(AlgSet::HMAC) } else { AlgSet::ASYMMETRIC };
        let allowed = self.algorithms.unwrap_or(default_allowed);
        if allowed.is_empty() {
            return Err(ConfigError::InvalidSetting {
                name: "algorithms",
                reason: "allows no algorithm: list at least one, e.g. `[Algorithm::RS256]`, or leave the default",
            });
        }
        let client = match self.client {
            Some(client) => client,
            None => Fetcher::default_client(self.policy.fetch_timeout).map_err(ConfigError::HttpClient)?,
        };
        let mut introspections: Vec<(usize, crate::introspection::Introspection)> = issuers
            .iter_mut()
            .enumerate()
            .filter_map(|(i, issuer)| issuer.introspection.take().map(|c| (i, c)))
            .collect();
        if introspections.len() > 1 {
            return Err(ConfigError::InvalidSetting {
                name: "introspection",
                reason: "only one trusted issuer may introspect: an opaque token carries no iss to choose by",
            });
        }
        let issuers =
            issuers.into_iter().map(|i| i.build(allowed, &self.policy, &client)).collect::<Result<Box<[_]>, _>>()?;
        let binding = self.binding.build(allowed)?;
        let dpop_challenge = DpopChallenge::of(&binding.dpop);
        let introspection = match introspections.pop() {
            Some((index, config)) => {
                let issuer = issuers.get(index).ok_or(ConfigError::MissingIssuer)?;
                Some(Arc::new(crate::introspection::Introspector::new(
                    config,
                    issuer,
                    self.leeway.as_secs(),
                    self.scopes.clone(),
                    &client,
                    &self.policy,
                )?))
            }
            None => None,
        };
        let resource_metadata =
            self.resource_metadata.clone().or_else(|| resource.as_ref().map(|r| r.id.metadata_url.clone()));
        let rfc6750 = Arc::new(Rfc6750 { realm: self.realm.clone(), resource_metadata, dpop: dpop_challenge });
        let responder = self.responder.unwrap_or_else(|| Arc::clone(&rfc6750) as Arc<dyn RefusalResponder>);
        let mut sources = self.sources;
        sources.dpop = binding.dpop.mode != DpopMode::Off;
        let revocation = Revocation::new(self.revocation)?;
        Ok(BearerGuard {
            pipeline: Arc::new(Pipeline {
                sources,
                authenticator: Authenticator {
                    jws: JwsVerifier {
                        issuers,
                        allowed,
                        leeway: self.leeway.as_secs(),
                        typ: self.typ,
                        scopes: self.scopes,
                    },
                    cache: self.verified_cache.map(VerifiedCache::new),
                    introspection: introspection.map(|i| i as Arc<dyn crate::authenticate::Introspect>),
                },
                binding,
                revocation,
                allow_anonymous: self.allow_anonymous,
                responder,
                rfc6750,
                resource,
                scope_log: Arc::default(),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_is_required() {
        assert!(matches!(BearerGuard::builder().audience("a").build(), Err(ConfigError::MissingIssuer)));
        assert!(matches!(BearerGuard::builder().build(), Err(ConfigError::MissingIssuer)));
    }

    #[test]
    fn audience_is_required_by_default() {
        let e = BearerGuard::builder().issuer("https://idp.example.com").build();
        assert!(matches!(e, Err(ConfigError::MissingAudience(_))));
        let ok = BearerGuard::builder().issuer("https://idp.example.com").dangerous_accept_any_audience(true).build();
        assert!(ok.is_ok());
    }

    #[test]
    fn leeway_is_capped_at_five_minutes() {
        let e = BearerGuard::builder()
            .issuer("https://idp.example.com")
            .audience("a")
            .leeway(Duration::from_secs(301))
            .build();
        assert!(matches!(e, Err(ConfigError::InvalidSetting { name: "leeway", .. })));
    }

    #[test]
    fn plain_http_is_refused_off_loopback() {
        let e = BearerGuard::builder().issuer("http://idp.example.com").audience("a").build();
        assert!(matches!(e, Err(ConfigError::InvalidUrl { .. })));
        let e = BearerGuard::builder()
            .issuer("https://idp.example.com")
            .audience("a")
            .jwks_uri("http://idp.example.com/jwks")
            .build();
        assert!(matches!(e, Err(ConfigError::InvalidUrl { .. })));
        let ok = BearerGuard::builder().issuer("http://127.0.0.1:1").audience("a").build();
        assert!(ok.is_ok());
    }

    #[test]
    fn duplicate_issuers_are_refused() {
        let e = BearerGuard::builder()
            .issuer("https://a.example.com")
            .audience("x")
            .trust(Issuer::new("https://a.example.com").audience("y"))
            .build();
        assert!(matches!(e, Err(ConfigError::DuplicateIssuer(_))));
    }

    #[test]
    fn hmac_is_allowed_only_with_a_secret() {
        let guard = BearerGuard::builder().issuer("https://a.example.com").audience("x").build().unwrap();
        assert!(!guard.pipeline.authenticator.jws.allowed.contains(Algorithm::HS256));
        let guard = BearerGuard::builder()
            .issuer("my-app")
            .audience("x")
            .static_key(StaticKey::hmac_secret([9u8; 32]).unwrap())
            .build()
            .unwrap();
        assert!(guard.pipeline.authenticator.jws.allowed.contains(Algorithm::HS256));
    }

    /// The message of a configuration error, which must name the fix.
    fn message(result: Result<BearerGuard, ConfigError>) -> String {
        match result {
            Ok(_) => panic!("the configuration was accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn missing_issuer_message_names_issuer_and_trust() {
        let m = message(BearerGuard::builder().audience("a").build());
        assert_eq!(
            m,
            "no issuer configured: set `.issuer(..)` to the exact `iss` of your tokens, \
             or add one with `.trust(Issuer::new(..))`"
        );
    }

    #[test]
    fn missing_audience_message_names_audience_and_the_dangerous_switch() {
        let m = message(BearerGuard::builder().issuer("https://idp.example.com").build());
        assert_eq!(
            m,
            "issuer `https://idp.example.com` has no audience: set `.audience(..)` to a value your \
             tokens carry in `aud`, or `.dangerous_accept_any_audience(true)` if this issuer mints \
             tokens for this API alone"
        );
    }

    #[test]
    fn duplicate_issuer_message_says_to_configure_it_once() {
        let m = message(
            BearerGuard::builder()
                .issuer("https://a.example.com")
                .audience("x")
                .trust(Issuer::new("https://a.example.com").audience("y"))
                .build(),
        );
        assert_eq!(
            m,
            "issuer `https://a.example.com` is configured twice: configure it once and give it every \
             audience it needs"
        );
    }

    #[test]
    fn plain_http_message_says_https_or_loopback() {
        let m = message(BearerGuard::builder().issuer("http://idp.example.com").audience("a").build());
        assert_eq!(
            m,
            "invalid url `http://idp.example.com`: HTTPS is required except for loopback addresses \
             (give an absolute `https://` URL; plain `http://` only on 127.0.0.1, [::1] or localhost)"
        );
        let m = message(BearerGuard::builder().issuer("idp.example.com").audience("a").build());
        assert_eq!(
            m,
            "invalid url `idp.example.com`: not a URL (give an absolute `https://` URL; plain \
             `http://` only on 127.0.0.1, [::1] or localhost)"
        );
    }

    #[test]
    fn invalid_key_message_says_what_was_expected() {
        let Err(e) = StaticKey::rsa_pem("nope") else { panic!("garbage PEM was accepted") };
        // The reason names what was expected: the constructor's key kind.
        assert_eq!(e.to_string(), "invalid key: not an RSA public key PEM");
        let Err(e) = StaticKey::hmac_secret(b"short") else { panic!("a short secret was accepted") };
        assert_eq!(e.to_string(), "invalid key: HMAC secret shorter than 32 bytes");
    }

    #[test]
    fn setting_messages_name_the_method_and_the_allowed_range() {
        let base = || BearerGuard::builder().issuer("https://idp.example.com").audience("a");
        assert_eq!(
            message(base().leeway(Duration::from_secs(301)).build()),
            "invalid `.leeway(..)`: must be at most 5 minutes, e.g. `Duration::from_secs(60)`"
        );
        assert_eq!(
            message(base().max_token_bytes(0).build()),
            "invalid `.max_token_bytes(..)`: must be at least 1 byte (default 16 KiB)"
        );
        assert_eq!(
            message(base().algorithms([]).build()),
            "invalid `.algorithms(..)`: allows no algorithm: list at least one, e.g. \
             `[Algorithm::RS256]`, or leave the default"
        );
        let key = StaticKey::hmac_secret([7u8; 32]).unwrap();
        assert_eq!(
            message(base().static_key(key).jwks_uri("https://idp.example.com/jwks").build()),
            "invalid `.static_key(..)`: an issuer takes either static keys or a JWKS, not both: drop \
             `.jwks_uri(..)` or the static keys"
        );
    }

    #[test]
    fn key_cache_policy_messages_name_the_field() {
        let policy = KeyCachePolicy {
            min_ttl: Duration::from_secs(600),
            max_ttl: Duration::from_secs(60),
            ..KeyCachePolicy::default()
        };
        let m = message(
            BearerGuard::builder().issuer("https://idp.example.com").audience("a").key_cache_policy(policy).build(),
        );
        assert_eq!(m, "invalid `key_cache_policy.min_ttl`: must not exceed max_ttl");
    }

    #[test]
    fn builder_is_clone_and_a_clone_builds_the_same_guard() {
        let base = BearerGuard::builder().issuer("https://idp.example.com").audience("a").realm("notes");
        let other = base.clone().audience("b");
        assert!(base.build().is_ok());
        assert!(other.build().is_ok());
        let issuer = Issuer::new("https://b.example.com").audience("x");
        assert_eq!(format!("{:?}", issuer.clone()), format!("{issuer:?}"));
        let key = StaticKey::hmac_secret([7u8; 32]).unwrap().with_kid("k1");
        assert_eq!(format!("{:?}", key.clone()), format!("{key:?}"));
    }

    #[test]
    fn dangerous_accept_any_audience_false_keeps_the_audience_required() {
        let e = BearerGuard::builder().issuer("https://idp.example.com").dangerous_accept_any_audience(false).build();
        assert!(matches!(e, Err(ConfigError::MissingAudience(_))));
    }

    /// The `WWW-Authenticate` value a guard answers `authorization` with on `GET /`.
    async fn challenge_of(builder: BearerGuardBuilder, authorization: Option<&str>) -> Option<String> {
        use tower::ServiceExt;
        let guard =
            builder.issuer("my-app").audience("x").static_key(StaticKey::hmac_secret([7u8; 32]).unwrap()).build();
        let app =
            axum::Router::new().route("/", axum::routing::get(|| async { "ok" })).route_layer(guard.unwrap().layer());
        let mut request = http::Request::get("/");
        if let Some(value) = authorization {
            request = request.header(http::header::AUTHORIZATION, value);
        }
        let response = app.oneshot(request.body(axum::body::Body::empty()).unwrap()).await.unwrap();
        assert_eq!(response.status(), http::StatusCode::UNAUTHORIZED);
        response.headers().get(http::header::WWW_AUTHENTICATE).map(|v| v.to_str().unwrap().to_owned())
    }

    #[tokio::test]
    async fn realm_takes_a_plain_string_and_without_realm_leaves_it_out() {
        let bad = Some("Bearer not-a-jwt");
        assert_eq!(
            challenge_of(BearerGuard::builder().realm("notes"), bad).await.as_deref(),
            Some(
                "Bearer realm=\"notes\", error=\"invalid_token\", error_description=\"access token is not a well-formed JWT\""
            )
        );
        assert_eq!(
            challenge_of(BearerGuard::builder().without_realm(), bad).await.as_deref(),
            Some("Bearer error=\"invalid_token\", error_description=\"access token is not a well-formed JWT\"")
        );
        // realm(..) after without_realm() puts it back.
        assert_eq!(
            challenge_of(BearerGuard::builder().without_realm().realm("api"), None).await.as_deref(),
            Some("Bearer realm=\"api\"")
        );
    }

    #[tokio::test]
    async fn without_realm_a_bare_challenge_still_carries_one_attribute() {
        let metadata = "https://api.example.com/.well-known/oauth-protected-resource";
        assert_eq!(
            challenge_of(BearerGuard::builder().without_realm().resource_metadata(metadata), None).await,
            Some(format!("Bearer resource_metadata=\"{metadata}\""))
        );
        assert_eq!(
            challenge_of(BearerGuard::builder().without_realm(), None).await.as_deref(),
            Some("Bearer realm=\"api\"")
        );
    }
}
