//! Finding an issuer's `jwks_uri`: OpenID Connect Discovery first, then RFC 8414.
//! The document's `issuer` must equal the configured issuer exactly.

use reqwest::Url;
use serde::Deserialize;

use super::fetch::{FetchError, Fetcher, fetchable_url};

#[derive(Deserialize)]
struct Metadata {
    issuer: String,
    jwks_uri: String,
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

/// Discovers the `jwks_uri` of `issuer`.
pub(crate) async fn discover_jwks_uri(fetcher: &Fetcher, issuer: &str) -> Result<Url, FetchError> {
    let urls = metadata_urls(issuer).map_err(FetchError::Invalid)?;
    let mut last = FetchError::Invalid("no metadata URL");
    for url in urls {
        match fetcher.get_json(&url).await {
            Ok(fetched) => {
                let meta: Metadata = serde_json::from_slice(&fetched.body)
                    .map_err(|_| FetchError::Invalid("metadata is not valid JSON"))?;
                if meta.issuer != issuer {
                    return Err(FetchError::Invalid("metadata issuer does not match the configured issuer"));
                }
                return fetchable_url(&meta.jwks_uri).map_err(FetchError::Invalid);
            }
            Err(e) => {
                tracing::debug!(issuer, url = %url, error = %e, "metadata document not found here");
                last = e;
            }
        }
    }
    Err(last)
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
