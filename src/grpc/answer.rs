//! The gRPC form of a refusal: a trailers-only response (HTTP 200 with `grpc-status` and
//! `grpc-message` in the headers, no body), with the RFC 6750 challenge as `www-authenticate`
//! metadata.

use axum_core::body::Body;
use axum_core::response::Response;
use http::{HeaderMap, HeaderValue, StatusCode, header};

use crate::error::AuthError;

/// gRPC status codes the guard answers with (`google.rpc.Code`).
pub(crate) mod code {
    pub(crate) const INVALID_ARGUMENT: u8 = 3;
    pub(crate) const PERMISSION_DENIED: u8 = 7;
    pub(crate) const INTERNAL: u8 = 13;
    pub(crate) const UNAVAILABLE: u8 = 14;
    pub(crate) const UNAUTHENTICATED: u8 = 16;
}

/// Whether the request is a gRPC call: `content-type: application/grpc`, `application/grpc+proto`,
/// `application/grpc-web…` and so on.
pub(crate) fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.as_bytes().get(..16))
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case(b"application/grpc"))
}

/// The gRPC status code for a refusal: 401 → `UNAUTHENTICATED`, 403 → `PERMISSION_DENIED`,
/// 503 → `UNAVAILABLE`, 400 → `INVALID_ARGUMENT`, a misconfigured server → `INTERNAL`.
pub(crate) fn status_code(error: &AuthError) -> u8 {
    match error.status() {
        StatusCode::UNAUTHORIZED => code::UNAUTHENTICATED,
        StatusCode::FORBIDDEN => code::PERMISSION_DENIED,
        StatusCode::SERVICE_UNAVAILABLE => code::UNAVAILABLE,
        StatusCode::BAD_REQUEST => code::INVALID_ARGUMENT,
        _ => code::INTERNAL,
    }
}

/// The trailers-only gRPC answer for `error`.
pub(crate) fn refusal(error: &AuthError, realm: Option<&str>, resource_metadata: Option<&str>) -> Response {
    let mut response = Response::new(Body::empty());
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert("grpc-status", HeaderValue::from(u16::from(status_code(error))));
    if let Ok(message) = HeaderValue::from_str(&percent_encode(error.description())) {
        headers.insert("grpc-message", message);
    }
    if let Some(challenge) = error.challenge(realm, resource_metadata)
        && let Ok(value) = HeaderValue::from_str(&challenge)
    {
        headers.insert(header::WWW_AUTHENTICATE, value);
    }
    if let AuthError::Unavailable { retry_after, .. } = error {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after.as_secs().max(1)));
    }
    response
}

/// `grpc-message` encoding (gRPC over HTTP/2, "Responses"): bytes outside `%x20-7E`, and `%`
/// itself, as `%XX`.
fn percent_encode(message: &str) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(message.len());
    for b in message.bytes() {
        if (0x20..=0x7E).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::error::{InvalidRequest, InvalidToken, ScopeMatch, Unavailable};

    fn grpc_headers(content_type: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap());
        h
    }

    #[test]
    fn grpc_content_types_are_recognised() {
        for ct in ["application/grpc", "application/grpc+proto", "Application/GRPC+json", "application/grpc-web"] {
            assert!(is_grpc(&grpc_headers(ct)), "{ct}");
        }
        for ct in ["application/json", "application/grp", "text/plain"] {
            assert!(!is_grpc(&grpc_headers(ct)), "{ct}");
        }
        assert!(!is_grpc(&HeaderMap::new()));
    }

    #[test]
    fn each_refusal_maps_to_its_grpc_code() {
        let scope =
            AuthError::InsufficientScope { required: vec![Arc::from("notes:write")].into(), matching: ScopeMatch::All };
        let cases = [
            (AuthError::MissingToken, 16),
            (AuthError::InvalidToken(InvalidToken::Expired), 16),
            (scope, 7),
            (AuthError::unavailable(Unavailable::Keys, Duration::from_secs(5)), 14),
            (AuthError::InvalidRequest(InvalidRequest::SeveralAuthorizationHeaders), 3),
            (AuthError::MissingLayer, 13),
        ];
        for (error, code) in cases {
            assert_eq!(status_code(&error), code, "{error}");
        }
    }

    #[test]
    fn refusal_is_trailers_only_with_the_challenge_as_metadata() {
        let error =
            AuthError::InsufficientScope { required: vec![Arc::from("notes:write")].into(), matching: ScopeMatch::All };
        let r = refusal(&error, Some("api"), None);
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/grpc");
        assert_eq!(r.headers()["grpc-status"], "7");
        assert_eq!(r.headers()["grpc-message"], "token lacks a required scope");
        assert_eq!(
            r.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"api\", error=\"insufficient_scope\", \
             error_description=\"token lacks a required scope\", scope=\"notes:write\""
        );
    }

    #[test]
    fn unavailable_has_retry_after_and_no_challenge() {
        let r = refusal(&AuthError::unavailable(Unavailable::Keys, Duration::from_secs(9)), Some("api"), None);
        assert_eq!(r.headers()["grpc-status"], "14");
        assert_eq!(r.headers()[header::RETRY_AFTER], "9");
        assert!(r.headers().get(header::WWW_AUTHENTICATE).is_none());
    }

    #[test]
    fn grpc_message_is_percent_encoded() {
        assert_eq!(percent_encode("100% ok\n"), "100%25 ok%0A");
        assert_eq!(percent_encode("é"), "%C3%A9");
    }
}
