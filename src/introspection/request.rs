//! The introspection call (RFC 7662 §2.1): `POST` form `token=…&token_type_hint=access_token`,
//! with the same caps as key fetching: a timeout, a body cap, only a `200` with the expected
//! content type, no redirects.

use std::time::Duration;

use http::header;
use reqwest::{StatusCode, Url};

use super::client_auth::Credentials;

/// Why a call failed: the request gets `503`, the log gets this. Never contains the token.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CallError {
    #[error("introspection endpoint unreachable: {0}")]
    Transport(#[source] reqwest::Error),
    #[error("introspection endpoint timed out")]
    Timeout,
    #[error("introspection endpoint answered a redirect (status {0}); redirects are not followed")]
    Redirect(u16),
    #[error(
        "the authorization server refused this API's client credentials (HTTP {0}): check the introspection client id, secret or key, and the client authentication method"
    )]
    ClientAuthentication(u16),
    #[error("introspection endpoint answered status {0}")]
    Status(u16),
    #[error("introspection answer has content type {0:?}, not {1}")]
    ContentType(String, &'static str),
    #[error("introspection answer is larger than {0} bytes")]
    TooLarge(usize),
    #[error("introspection answer is not valid: {0}")]
    Invalid(&'static str),
    #[error("introspection endpoint could not be found: {0}")]
    Endpoint(String),
    #[error("client authentication could not be prepared: {0}")]
    Credentials(String),
    #[error("too many introspection calls in flight")]
    Busy,
}

/// What the answer's content type must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    Json,
    /// RFC 9701 §5: `application/token-introspection+jwt`.
    Jwt,
}

impl Expect {
    fn accept(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::Jwt => "application/token-introspection+jwt",
        }
    }

    fn fits(self, content_type: &str) -> bool {
        let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match self {
            Self::Json => essence == "application/json",
            Self::Jwt => essence == "application/token-introspection+jwt",
        }
    }
}

/// Posts one introspection request and returns the answer body.
pub(crate) async fn call(
    client: &reqwest::Client,
    endpoint: &Url,
    token: &str,
    credentials: Credentials,
    expect: Expect,
    timeout: Duration,
    max_body: usize,
) -> Result<Vec<u8>, CallError> {
    let body = {
        let mut form = form_urlencoded::Serializer::new(String::with_capacity(token.len() + 64));
        form.append_pair("token", token).append_pair("token_type_hint", "access_token");
        for (name, value) in &credentials.form {
            form.append_pair(name, value);
        }
        form.finish()
    };
    let mut request = client
        .post(endpoint.clone())
        .header(header::ACCEPT, expect.accept())
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
        .timeout(timeout);
    if let Some(authorization) = credentials.authorization {
        request = request.header(header::AUTHORIZATION, authorization);
    }
    let work = async {
        let mut response = request.send().await.map_err(transport)?;
        let status = response.status();
        if status.is_redirection() {
            return Err(CallError::Redirect(status.as_u16()));
        }
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(CallError::ClientAuthentication(status.as_u16()));
        }
        if status != StatusCode::OK {
            return Err(CallError::Status(status.as_u16()));
        }
        let content_type =
            response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        if !expect.fits(&content_type) {
            let shown: String = content_type.chars().take(60).collect();
            return Err(CallError::ContentType(shown, expect.accept()));
        }
        if response.content_length().is_some_and(|len| len > max_body as u64) {
            return Err(CallError::TooLarge(max_body));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > max_body {
                return Err(CallError::TooLarge(max_body));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    // Also bounds a user client built without a timeout.
    tokio::time::timeout(timeout, work).await.unwrap_or(Err(CallError::Timeout))
}

fn transport(e: reqwest::Error) -> CallError {
    // reqwest's error text may carry the URL, never the body: the token is in the body.
    if e.is_timeout() { CallError::Timeout } else { CallError::Transport(e.without_url()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert!(Expect::Json.fits("application/json; charset=utf-8"));
        assert!(!Expect::Json.fits("text/html"));
        assert!(!Expect::Json.fits("application/token-introspection+jwt"));
        assert!(Expect::Jwt.fits("application/token-introspection+jwt"));
        assert!(!Expect::Jwt.fits("application/json"));
    }
}
