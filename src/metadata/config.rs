//! What the metadata says besides what the guard knows: [`ResourceMetadata`], and the resource
//! state a guard carries.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use super::resource::ResourceId;
use crate::error::ConfigError;
use crate::scope::ScopeRequirement;

/// Members the guard computes itself; [`ResourceMetadata::member`] may not set them.
const COMPUTED: &[&str] = &[
    "resource",
    "authorization_servers",
    "scopes_supported",
    "bearer_methods_supported",
    "resource_signing_alg_values_supported",
    "resource_name",
    "resource_documentation",
    "resource_policy_uri",
    "resource_tos_uri",
    "dpop_signing_alg_values_supported",
    "dpop_bound_access_tokens_required",
];

/// Default `Cache-Control: max-age` of the metadata document.
pub const DEFAULT_METADATA_MAX_AGE: Duration = Duration::from_secs(3600);

/// What the RFC 9728 document says besides what the guard already knows (its resource, its
/// issuers, its token sources and the scopes its layers require).
///
/// ```
/// use bearer_guard::{BearerGuard, ResourceMetadata};
///
/// bearer_guard::scopes! {
///     pub struct NotesRead = "notes:read";
///     pub struct NotesWrite = "notes:write";
/// }
///
/// let guard = BearerGuard::builder()
///     .issuer("https://idp.example.com")
///     .resource("https://api.example.com/mcp")
///     .metadata(
///         ResourceMetadata::new()
///             .scopes_of::<(NotesRead, NotesWrite)>()
///             .resource_name("Notes MCP server")
///             .resource_documentation("https://docs.example.com/notes")
///             .member("x_contact", serde_json::json!("ops@example.com")),
///     )
///     .build()?;
/// let doc = guard.metadata_document().expect("a resource is configured");
/// assert_eq!(doc["scopes_supported"], serde_json::json!(["notes:read", "notes:write"]));
/// assert_eq!(doc["x_contact"], "ops@example.com");
/// # Ok::<(), bearer_guard::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct ResourceMetadata {
    pub(crate) authorization_servers: Option<Vec<String>>,
    pub(crate) scopes: Vec<Arc<str>>,
    pub(crate) resource_name: Option<String>,
    pub(crate) resource_documentation: Option<String>,
    pub(crate) resource_policy_uri: Option<String>,
    pub(crate) resource_tos_uri: Option<String>,
    pub(crate) signing_algs: Option<Vec<Algorithm>>,
    pub(crate) extra: Map<String, Value>,
    max_age: Duration,
}

impl Default for ResourceMetadata {
    fn default() -> Self {
        Self {
            authorization_servers: None,
            scopes: Vec::new(),
            resource_name: None,
            resource_documentation: None,
            resource_policy_uri: None,
            resource_tos_uri: None,
            signing_algs: None,
            extra: Map::new(),
            max_age: DEFAULT_METADATA_MAX_AGE,
        }
    }
}

impl ResourceMetadata {
    /// Nothing beyond what the guard knows.
    pub fn new() -> Self {
        Self::default()
    }

    /// `authorization_servers`: these issuer identifiers instead of the guard's trusted issuers
    /// (for example when tokens come through a gateway's own authorization server).
    pub fn authorization_servers<I, S>(mut self, issuers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.authorization_servers = Some(issuers.into_iter().map(Into::into).collect());
        self
    }

    /// Adds scopes to `scopes_supported` (besides those the guard's scope layers declare).
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Arc<str>>,
    {
        self.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// Adds the scopes of a requirement declared with [`scopes!`](crate::scopes):
    /// `.scopes_of::<NotesRead>()`, `.scopes_of::<(NotesRead, NotesWrite)>()`.
    pub fn scopes_of<R: ScopeRequirement>(self) -> Self {
        self.scopes(R::NAMES.iter().copied())
    }

    /// `resource_name`: a human-readable name of the resource.
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// `resource_documentation`: a URL of human-readable documentation for developers.
    pub fn resource_documentation(mut self, url: impl Into<String>) -> Self {
        self.resource_documentation = Some(url.into());
        self
    }

    /// `resource_policy_uri`: a URL of the resource's data-use policy.
    pub fn resource_policy_uri(mut self, url: impl Into<String>) -> Self {
        self.resource_policy_uri = Some(url.into());
        self
    }

    /// `resource_tos_uri`: a URL of the resource's terms of service.
    pub fn resource_tos_uri(mut self, url: impl Into<String>) -> Self {
        self.resource_tos_uri = Some(url.into());
        self
    }

    /// `resource_signing_alg_values_supported`: the algorithms the resource signs its
    /// *responses* with (RFC 9728 §2). Left out unless given: it says nothing about the
    /// algorithms of access tokens, and bearer-guard signs no responses itself.
    pub fn resource_signing_alg_values_supported(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.signing_algs = Some(algorithms.into_iter().collect());
        self
    }

    /// Any further member (an extension, or one of RFC 9728's that has no setter here).
    /// Members the guard computes (`resource`, `scopes_supported`, …) are refused by
    /// [`build`](crate::BearerGuardBuilder::build): use their setters.
    pub fn member(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.extra.insert(name.into(), value.into());
        self
    }

    /// `Cache-Control: public, max-age=…` of the document (default one hour).
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// Checks what `build` can check: URLs of the human-facing members and extension names.
    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        if let Some(name) = self.extra.keys().find(|k| COMPUTED.contains(&k.as_str())) {
            return Err(ConfigError::InvalidSetting { name: "metadata.member", reason: computed_member_reason(name) });
        }
        for scope in &self.scopes {
            if !crate::scope::set::is_scope_token(scope) {
                return Err(ConfigError::InvalidSetting {
                    name: "metadata.scopes",
                    reason: "a scope is not a valid RFC 6749 scope token",
                });
            }
        }
        for url in
            [&self.resource_documentation, &self.resource_policy_uri, &self.resource_tos_uri].into_iter().flatten()
        {
            if url::Url::parse(url).is_err() {
                return Err(ConfigError::InvalidUrl { url: url.clone(), reason: "metadata URLs must be absolute" });
            }
        }
        if self.authorization_servers.as_ref().is_some_and(Vec::is_empty) {
            return Err(ConfigError::InvalidSetting {
                name: "metadata.authorization_servers",
                reason: "lists no authorization server",
            });
        }
        Ok(())
    }

    pub(crate) fn cache_control(&self) -> String {
        format!("public, max-age={}", self.max_age.as_secs())
    }
}

fn computed_member_reason(name: &str) -> &'static str {
    match name {
        "resource" => "`resource` is set with BearerGuardBuilder::resource",
        "scopes_supported" => "`scopes_supported` is set with ResourceMetadata::scopes",
        "authorization_servers" => "`authorization_servers` is set with ResourceMetadata::authorization_servers",
        _ => "this member is computed by the guard or has its own setter",
    }
}

/// The resource state a guard carries when [`resource`](crate::BearerGuardBuilder::resource)
/// is configured.
#[derive(Debug)]
pub(crate) struct ResourceState {
    pub(crate) id: ResourceId,
    pub(crate) metadata: ResourceMetadata,
}
