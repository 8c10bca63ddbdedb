//! Finding an issuer's `jwks_uri`: OpenID Connect Discovery first, then RFC 8414.
//! The document's `issuer` must equal the configured issuer exactly.
//!
//! The RFC 8414 document is tried only when the OpenID Connect one is not there (a `404`, or an
//! answer that is not JSON). A timeout, a refused connection or a server error is the issuer's
//! state, not a missing document, and asking a second URL would only spend the fetch budget.

use reqwest::Url;
use serde::Deserialize;
use tokio::time::Instant;

use super::fetch::{FetchError, Fetcher, fetchable_url};

#[derive(Deserialize)]
struct Metadata {
    issuer: String,
    jwks_uri: String,
}

/// The members RFC 7662 introspection needs from the same document.
#[derive(Deserialize)]
struct IntrospectionMetadata {
    issuer: String,
    /// RFC 8414 §2 / RFC 7662 §4.
    introspection_endpoint: Option<String>,
}

/// Discovers the RFC 7662 `introspection_endpoint` of `issuer` (same URLs, same fetch rules
/// and the same exact-`issuer` check as for `jwks_uri`). The error says why, for the logs.
pub(crate) async fn discover_introspection_endpoint(
    fetcher: &Fetcher,
    issuer: &str,
    deadline: Instant,
) -> Result<Url, String> {
    let urls = metadata_urls(issuer).map_err(str::to_owned)?;
    let mut tried = Vec::new();
    for url in urls {
        let error = match fetcher.get_json(&url, deadline).await {
            Ok(fetched) => match serde_json::from_slice::<IntrospectionMetadata>(&fetched.body) {
                Ok(meta) if meta.issuer != issuer => {
                    format!("{url}: metadata issuer `{}` is not `{issuer}`", meta.issuer)
                }
                Ok(IntrospectionMetadata { introspection_endpoint: Some(endpoint), .. }) => {
                    return fetchable_url(&endpoint)
                        .map_err(|reason| format!("introspection_endpoint `{endpoint}`: {reason}"));
                }
                Ok(_) => return Err(format!("{url}: the metadata document has no introspection_endpoint")),
                Err(_) => format!("{url}: metadata is not a JSON object"),
            },
            Err(error) => {
                let not_here = matches!(error, FetchError::Status(404) | FetchError::NotJson | FetchError::NotJsonBody);
                let text = format!("{url}: {error}");
                if !not_here {
                    return Err(text);
                }
                text
            }
        };
        tried.push(error);
    }
    Err(tried.join("; "))
}

/// The metadata URLs to try for an issuer, in order.
pub(crate) fn metadata_urls(issuer: &str) -> Result<Vec<Url>, &'static str> {
    let base = fetchable_url(issuer)?;
    let trimmed = issuer.trim_end_matches('/');
    // OpenID Connect Discovery 1.0 §4: the issuer with the well-known suffix appended.
    let oidc = fetchable_url(&format!("{trimmed}/.well-known/openid-configuration"))?;
    // RFC 8414 §3.1: the well-known segment goes between the host and the issuer's path.
    let path = base.path().trim_end_matches('/');
    let mut oauth = base.clone();
    oauth.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
    oauth.set_query(None);
    Ok(vec![oidc, oauth])
}

/// Discovers the `jwks_uri` of `issuer` before `deadline`. Each URL tried is pushed on
/// `tried` with its outcome when it fails.
pub(crate) async fn discover_jwks_uri(
    fetcher: &Fetcher,
    issuer: &str,
    deadline: Instant,
    tried: &mut Vec<(Url, FetchError)>,
) -> Option<Url> {
    let urls = metadata_urls(issuer).ok()?;
    for url in urls {
        let error = match fetcher.get_json(&url, deadline).await {
            Ok(fetched) => match read_metadata(&fetched.body, issuer) {
                Ok(jwks_uri) => return Some(jwks_uri),
                Err(error) => error,
            },
            Err(error) => error,
        };
        let not_here = matches!(error, FetchError::Status(404) | FetchError::NotJson | FetchError::NotJsonBody);
        tracing::debug!(issuer, url = %url, %error, "metadata document not usable");
        tried.push((url, error));
        if !not_here {
            return None;
        }
    }
    None
}

fn read_metadata(body: &[u8], issuer: &str) -> Result<Url, FetchError> {
    let meta: Metadata = serde_json::from_slice(body).map_err(|_| FetchError::NotJsonBody)?;
    if meta.issuer != issuer {
        return Err(FetchError::IssuerMismatch { document: meta.issuer, configured: issuer.to_owned() });
    }
    fetchable_url(&meta.jwks_uri)
        .map_err(|reason| FetchError::Invalid(format!("jwks_uri `{}`: {reason}", meta.jwks_uri)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_urls_follow_both_specs() {
        let urls = metadata_urls("https://idp.example.com/tenant/1").unwrap();
        assert_eq!(urls[0].as_str(), "https://idp.example.com/tenant/1/.well-known/openid-configuration");
        assert_eq!(urls[1].as_str(), "https://idp.example.com/.well-known/oauth-authorization-server/tenant/1");
        let urls = metadata_urls("https://idp.example.com/").unwrap();
        assert_eq!(urls[0].as_str(), "https://idp.example.com/.well-known/openid-configuration");
        assert_eq!(urls[1].as_str(), "https://idp.example.com/.well-known/oauth-authorization-server");
    }

    #[test]
    fn http_issuers_are_refused_off_loopback() {
        assert!(metadata_urls("http://idp.example.com").is_err());
        assert!(metadata_urls("http://127.0.0.1:4000").is_ok());
    }
}
