//! The resource identifier (RFC 8707 / RFC 9728 §1.2): checked once, when the guard is built.

use url::Url;

use crate::error::ConfigError;

/// The well-known path of RFC 9728 §3.
pub(crate) const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// A checked resource identifier and where its metadata is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResourceId {
    /// The identifier exactly as configured: the metadata's `resource` and a required `aud`.
    pub(crate) uri: String,
    /// `/.well-known/oauth-protected-resource` + the resource's path (RFC 9728 §3.1).
    pub(crate) metadata_path: String,
    /// The absolute URL of the metadata, sent in `resource_metadata="…"`.
    pub(crate) metadata_url: String,
}

impl ResourceId {
    /// Checks `uri`: absolute, `https` (plain `http` only on loopback), with a host, no user
    /// info, no query and no fragment.
    pub(crate) fn parse(uri: &str) -> Result<Self, ConfigError> {
        let invalid = |reason| ConfigError::InvalidUrl { url: uri.to_owned(), reason };
        let url = Url::parse(uri).map_err(|_| invalid("resource must be an absolute URL"))?;
        if url.host().is_none() {
            return Err(invalid("resource must have a host"));
        }
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) => {}
            _ => return Err(invalid("resource must use https (plain http only on loopback)")),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("resource must not contain user information"));
        }
        if url.fragment().is_some() || uri.contains('#') {
            return Err(invalid("resource must not have a fragment"));
        }
        if url.query().is_some() {
            return Err(invalid("resource must not have a query (RFC 8707 section 2)"));
        }
        // RFC 9728 §3.1: the well-known path goes between the host and the resource's path; a
        // terminating slash right after the host is dropped.
        let path = match url.path() {
            "/" | "" => "",
            path => path,
        };
        let metadata_path = format!("{WELL_KNOWN}{path}");
        let metadata_url = format!("{}{metadata_path}", url.origin().ascii_serialization());
        Ok(Self { uri: uri.to_owned(), metadata_path, metadata_url })
    }

    /// Whether the metadata has a path-inserted form besides the root one.
    pub(crate) fn has_path(&self) -> bool {
        self.metadata_path.len() > WELL_KNOWN.len()
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(uri: &str) -> &'static str {
        match ResourceId::parse(uri) {
            Err(ConfigError::InvalidUrl { url, reason }) => {
                assert_eq!(url, uri);
                reason
            }
            other => panic!("{uri}: expected InvalidUrl, got {other:?}"),
        }
    }

    #[test]
    fn path_is_inserted_after_the_host() {
        let r = ResourceId::parse("https://api.example.com/mcp").unwrap();
        assert_eq!(r.uri, "https://api.example.com/mcp");
        assert_eq!(r.metadata_path, "/.well-known/oauth-protected-resource/mcp");
        assert_eq!(r.metadata_url, "https://api.example.com/.well-known/oauth-protected-resource/mcp");
        assert!(r.has_path());
    }

    #[test]
    fn a_resource_without_a_path_uses_the_root_form() {
        for uri in ["https://api.example.com", "https://api.example.com/"] {
            let r = ResourceId::parse(uri).unwrap();
            assert_eq!(r.uri, uri, "kept exactly as configured (it is the audience)");
            assert_eq!(r.metadata_url, "https://api.example.com/.well-known/oauth-protected-resource");
            assert!(!r.has_path());
        }
    }

    #[test]
    fn ports_and_nested_paths_are_kept() {
        let r = ResourceId::parse("http://127.0.0.1:3001/v1/mcp/").unwrap();
        assert_eq!(r.metadata_url, "http://127.0.0.1:3001/.well-known/oauth-protected-resource/v1/mcp/");
        let r = ResourceId::parse("https://api.example.com:443/x").unwrap();
        assert_eq!(r.metadata_url, "https://api.example.com/.well-known/oauth-protected-resource/x");
    }

    #[test]
    fn loopback_http_is_allowed() {
        for uri in ["http://127.0.0.1:3001/mcp", "http://localhost/mcp", "http://[::1]:8080/mcp"] {
            assert!(ResourceId::parse(uri).is_ok(), "{uri}");
        }
    }

    #[test]
    fn bad_identifiers_get_clear_errors() {
        assert_eq!(reason("/mcp"), "resource must be an absolute URL");
        assert_eq!(reason("api.example.com/mcp"), "resource must be an absolute URL");
        assert_eq!(reason("http://api.example.com/mcp"), "resource must use https (plain http only on loopback)");
        assert_eq!(reason("ftp://api.example.com/mcp"), "resource must use https (plain http only on loopback)");
        assert_eq!(reason("urn:example:mcp"), "resource must have a host");
        assert_eq!(reason("https://api.example.com/mcp#top"), "resource must not have a fragment");
        assert_eq!(reason("https://api.example.com/mcp#"), "resource must not have a fragment");
        assert_eq!(reason("https://api.example.com/mcp?v=1"), "resource must not have a query (RFC 8707 section 2)");
        assert_eq!(reason("https://u:p@api.example.com/mcp"), "resource must not contain user information");
    }
}
