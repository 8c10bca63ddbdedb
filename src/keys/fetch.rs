//! Fetching JSON documents (discovery, JWKS) over HTTP with the caps of STANDARDS.md: a
//! timeout, a body cap, only a `200` with a JSON content type, no redirects, HTTPS except on
//! loopback. Also the pure `Cache-Control: max-age` parser.

use std::error::Error as _;
use std::net::IpAddr;
use std::time::Duration;

use http::header;
use reqwest::{StatusCode, Url};
use tokio::time::Instant;

/// Why fetching one URL failed. Shown in logs and in [`KeyError`](super::KeyError), never to
/// clients. The texts name the cause a reader can act on ("connection refused", "timed out
/// after 5 s"), not the layers of the HTTP stack.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FetchError {
    #[error("connection refused")]
    ConnectionRefused,
    #[error("could not connect: {0}")]
    Connect(String),
    #[error("request failed: {0}")]
    Transport(String),
    #[error("timed out after {}", human(*.0))]
    Timeout(Duration),
    #[error("redirects are not followed (status {0})")]
    Redirect(u16),
    #[error("unexpected status {0}")]
    Status(u16),
    #[error("content type is not JSON")]
    NotJson,
    #[error("body is not a JSON document of the expected shape")]
    NotJsonBody,
    #[error("body is larger than {0} bytes")]
    TooLarge(usize),
    #[error("issuer mismatch: document says `{document}`, configured `{configured}`")]
    IssuerMismatch { document: String, configured: String },
    #[error("the JWK Set has no key usable with the allowed algorithms {allowed} ({published} published)")]
    NoUsableKey { published: usize, allowed: String },
    #[error("{0}")]
    Invalid(String),
}

impl FetchError {
    /// The answer contradicts the configuration: retrying will not help until one of them changes.
    pub(crate) fn is_permanent(&self) -> bool {
        matches!(self, Self::IssuerMismatch { .. } | Self::NoUsableKey { .. })
    }
}

/// `5 s`, `300 ms`.
pub(crate) fn human(d: Duration) -> String {
    if d.subsec_millis() == 0 && d.as_secs() > 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// A fetched body and its `Cache-Control: max-age`, if any.
#[derive(Debug)]
pub(crate) struct Fetched {
    pub(crate) body: Vec<u8>,
    pub(crate) max_age: Option<Duration>,
}

/// The HTTP side of key fetching.
#[derive(Debug, Clone)]
pub(crate) struct Fetcher {
    pub(crate) client: reqwest::Client,
    /// The budget of one whole fetch: discovery and JWKS together.
    pub(crate) timeout: Duration,
    pub(crate) max_body: usize,
}

impl Fetcher {
    /// The client used when the user gives none: no redirects, rustls, the fetch timeout.
    pub(crate) fn default_client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .user_agent(concat!("bearer-guard/", env!("CARGO_PKG_VERSION")))
            .build()
    }

    /// Fetches a JSON document. `deadline` ends the whole cold fetch (discovery and JWKS share
    /// one budget of [`timeout`](Self::timeout)).
    pub(crate) async fn get_json(&self, url: &Url, deadline: Instant) -> Result<Fetched, FetchError> {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(FetchError::Timeout(self.timeout));
        }
        let request = self.client.get(url.clone()).header(header::ACCEPT, "application/json").timeout(remaining);
        let transport = |e: reqwest::Error| transport(e, self.timeout);
        let work = async {
            let mut response = request.send().await.map_err(transport)?;
            let status = response.status();
            if status.is_redirection() {
                return Err(FetchError::Redirect(status.as_u16()));
            }
            if status != StatusCode::OK {
                return Err(FetchError::Status(status.as_u16()));
            }
            let headers = response.headers();
            let is_json =
                headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(is_json_content_type);
            if !is_json {
                return Err(FetchError::NotJson);
            }
            let max_age =
                headers.get_all(header::CACHE_CONTROL).iter().filter_map(|v| v.to_str().ok()).find_map(max_age);
            if response.content_length().is_some_and(|len| len > self.max_body as u64) {
                return Err(FetchError::TooLarge(self.max_body));
            }
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(transport)? {
                if body.len() + chunk.len() > self.max_body {
                    return Err(FetchError::TooLarge(self.max_body));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(Fetched { body, max_age })
        };
        // The per-request timeout covers reqwest's part; this one also covers a user client
        // that was built without one.
        tokio::time::timeout_at(deadline, work).await.unwrap_or(Err(FetchError::Timeout(self.timeout)))
    }
}

/// Names the cause of a transport error: its innermost source, with "connection refused" said
/// as such, rather than reqwest's and hyper's wrappers.
fn transport(e: reqwest::Error, budget: Duration) -> FetchError {
    if e.is_timeout() {
        return FetchError::Timeout(budget);
    }
    let mut innermost: &dyn std::error::Error = &e;
    let mut source = e.source();
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return FetchError::ConnectionRefused,
                std::io::ErrorKind::TimedOut => return FetchError::Timeout(budget),
                _ => {}
            }
        }
        innermost = cause;
        source = cause.source();
    }
    let text = innermost.to_string();
    if e.is_connect() { FetchError::Connect(text) } else { FetchError::Transport(text) }
}

fn is_json_content_type(value: &str) -> bool {
    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// `max-age` of a `Cache-Control` value (RFC 9111 §5.2.2.1). `no-store`/`no-cache` count as 0.
pub(crate) fn max_age(cache_control: &str) -> Option<Duration> {
    let mut found = None;
    for directive in cache_control.split(',') {
        let directive = directive.trim();
        let (name, value) = directive.split_once('=').unwrap_or((directive, ""));
        match name.trim().to_ascii_lowercase().as_str() {
            "no-store" | "no-cache" => return Some(Duration::ZERO),
            "max-age" => {
                let secs: u64 = value.trim().trim_matches('"').parse().ok()?;
                found = Some(Duration::from_secs(secs));
            }
            _ => {}
        }
    }
    found
}

/// Parses a URL we may fetch from: HTTPS, or HTTP to a loopback address.
pub(crate) fn fetchable_url(url: &str) -> Result<Url, &'static str> {
    let parsed = Url::parse(url).map_err(|_| "not a URL")?;
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if is_loopback(&parsed) => Ok(parsed),
        "http" => Err("HTTPS is required except for loopback addresses"),
        _ => Err("only https URLs are fetched"),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_read() {
        assert_eq!(max_age("public, max-age=300"), Some(Duration::from_secs(300)));
        assert_eq!(max_age("max-age=\"60\""), Some(Duration::from_secs(60)));
        assert_eq!(max_age("no-store"), Some(Duration::ZERO));
        assert_eq!(max_age("public"), None);
        assert_eq!(max_age("max-age=abc"), None);
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(human(Duration::from_secs(5)), "5 s");
        assert_eq!(human(Duration::from_millis(300)), "300 ms");
        assert_eq!(FetchError::Timeout(Duration::from_secs(5)).to_string(), "timed out after 5 s");
    }

    #[test]
    fn json_content_types() {
        assert!(is_json_content_type("application/json"));
        assert!(is_json_content_type("application/json; charset=utf-8"));
        assert!(is_json_content_type("application/jwk-set+json"));
        assert!(!is_json_content_type("text/html"));
        assert!(!is_json_content_type(""));
    }

    #[test]
    fn https_is_required_except_on_loopback() {
        assert!(fetchable_url("https://idp.example.com/jwks").is_ok());
        assert!(fetchable_url("http://127.0.0.1:8080/jwks").is_ok());
        assert!(fetchable_url("http://[::1]:8080/jwks").is_ok());
        assert!(fetchable_url("http://localhost/jwks").is_ok());
        assert!(fetchable_url("http://idp.example.com/jwks").is_err());
        assert!(fetchable_url("file:///etc/passwd").is_err());
        assert!(fetchable_url("nope").is_err());
    }
}
