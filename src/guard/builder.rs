//! [`BearerGuardBuilder`]: the settings of a guard, checked once by `build`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Algorithm;

use crate::authenticate::Authenticator;
use crate::backend::install_crypto_provider;
use crate::binding::Binding;
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
use crate::response::{RefusalResponder, Rfc6750};
use crate::revocation::Revocation;
use crate::scope::set::{RoleSource, ScopeSources};
use crate::token::TokenSources;
use crate::verified_cache::{DEFAULT_VERIFIED_CACHE_CAPACITY, VerifiedCache};

/// Builds a [`BearerGuard`]. Setters read as a sentence; `build` checks everything and does
/// no network I/O.
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
    resource: Option<String>,
    metadata: Option<ResourceMetadata>,
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
            resource: None,
            metadata: None,
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

    /// Accepts any `aud`. Only for issuers that mint tokens for this API alone.
    pub fn dangerous_accept_any_audience(mut self) -> Self {
        self.primary = self.primary.dangerous_accept_any_audience();
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

    /// The `realm` of the `WWW-Authenticate` challenge (default `api`; `None` leaves it out).
    pub fn realm(mut self, realm: Option<impl Into<String>>) -> Self {
        self.realm = realm.map(Into::into);
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

    /// Also reads `?access_token=` from the query string. Off by default: query strings end up
    /// in logs and browser history (RFC 6750 §5.3).
    pub fn insecure_token_from_query(mut self, enabled: bool) -> Self {
        self.sources.query = enabled;
        self
    }

    /// Also reads the token from this cookie (BFF and same-site SPA setups).
    pub fn token_from_cookie(mut self, name: impl Into<String>) -> Self {
        self.sources.cookie = Some(name.into());
        self
    }

    /// Lets requests without any token through, so `Option<Claims<T>>` is `None` for them.
    /// Requests with a bad token are still refused.
    pub fn allow_anonymous(mut self, allow: bool) -> Self {
        self.allow_anonymous = allow;
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

    /// Checks the configuration and builds the guard. No network I/O.
    pub fn build(self) -> Result<BearerGuard, ConfigError> {
        install_crypto_provider();
        if self.leeway > Duration::from_secs(MAX_LEEWAY_SECS) {
            return Err(ConfigError::InvalidSetting { name: "leeway", reason: "at most 5 minutes" });
        }
        if self.sources.max_bytes == 0 {
            return Err(ConfigError::InvalidSetting { name: "max_token_bytes", reason: "must be positive" });
        }
        let mut issuers: Vec<Issuer> = Vec::with_capacity(1 + self.others.len());
        let primary_used = !self.primary.audiences.is_empty()
            || self.primary.jwks_uri.is_some()
            || !self.primary.static_keys.is_empty()
            || self.primary.any_audience;
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
            return Err(ConfigError::InvalidSetting { name: "algorithms", reason: "no algorithm allowed" });
        }
        let client = match self.client {
            Some(client) => client,
            None => Fetcher::default_client(self.policy.fetch_timeout).map_err(ConfigError::HttpClient)?,
        };
        let issuers =
            issuers.into_iter().map(|i| i.build(allowed, &self.policy, &client)).collect::<Result<Box<[_]>, _>>()?;
        let resource_metadata =
            self.resource_metadata.clone().or_else(|| resource.as_ref().map(|r| r.id.metadata_url.clone()));
        let responder =
            self.responder.unwrap_or_else(|| Arc::new(Rfc6750 { realm: self.realm.clone(), resource_metadata }));
        Ok(BearerGuard {
            pipeline: Arc::new(Pipeline {
                sources: self.sources,
                authenticator: Authenticator {
                    jws: JwsVerifier {
                        issuers,
                        allowed,
                        leeway: self.leeway.as_secs(),
                        typ: self.typ,
                        scopes: self.scopes,
                    },
                    cache: self.verified_cache.map(VerifiedCache::new),
                    introspection: None,
                },
                binding: Binding::default(),
                revocation: Revocation::default(),
                allow_anonymous: self.allow_anonymous,
                responder,
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
        let ok = BearerGuard::builder().issuer("https://idp.example.com").dangerous_accept_any_audience().build();
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
}
