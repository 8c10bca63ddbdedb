//! Serving the metadata: [`BearerGuard::metadata_router`].

use axum::Router;
use axum::routing::get;
use axum_core::body::Body;
use axum_core::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};

use super::WELL_KNOWN;
use crate::guard::BearerGuard;

impl BearerGuard {
    /// An axum router serving the RFC 9728 document at `/.well-known/oauth-protected-resource`
    /// and, for a resource with a path, at the path-inserted form (`…/oauth-protected-resource/mcp`
    /// for `https://api.example.com/mcp`, RFC 9728 §3.1). Merge it into the app at the origin's
    /// root; it needs no token.
    ///
    /// Answers: `200 application/json` with `Cache-Control`, readable from any origin
    /// (`Access-Control-Allow-Origin: *`, `OPTIONS` preflight answered); any other path under
    /// the prefix is `404`. Without a configured [`resource`](crate::BearerGuardBuilder::resource)
    /// there is no document: the root path answers `500` saying so (and an error is logged).
    pub fn metadata_router<S>(&self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let document = {
            let guard = self.clone();
            move || {
                let guard = guard.clone();
                async move { document_response(&guard) }
            }
        };
        let route = get(document).options(preflight);
        let mut router = Router::new()
            .route(WELL_KNOWN, route.clone())
            .route(&format!("{WELL_KNOWN}/{{*unknown}}"), get(not_found).options(not_found));
        match &self.pipeline.resource {
            Some(state) if state.id.has_path() => router = router.route(&state.id.metadata_path, route),
            Some(_) => {}
            None => tracing::error!("metadata_router() on a guard without BearerGuardBuilder::resource"),
        }
        router
    }
}

fn document_response(guard: &BearerGuard) -> Response {
    let (Some(state), Some(doc)) = (&guard.pipeline.resource, guard.pipeline.metadata_document()) else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "no resource configured: see BearerGuardBuilder::resource")
            .into_response();
    };
    let body = match serde_json::to_vec(&doc) {
        Ok(body) => body,
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let mut response = Response::new(Body::from(body));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(value) = HeaderValue::from_str(&state.metadata.cache_control()) {
        headers.insert(header::CACHE_CONTROL, value);
    }
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    response
}

/// CORS preflight (browser clients send `MCP-Protocol-Version` and the like with their GET).
async fn preflight(request_headers: HeaderMap) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, HEAD, OPTIONS"));
    let allow_headers = request_headers
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("*"));
    headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, allow_headers);
    headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    response
}

async fn not_found() -> StatusCode {
    StatusCode::NOT_FOUND
}

#[cfg(test)]
mod tests {
    use axum::body::to_bytes;
    use http::Request;
    use serde_json::{Value, json};
    use tower::ServiceExt;

    use crate::{BearerGuard, Issuer, ResourceMetadata};

    fn guard(resource: &str, metadata: ResourceMetadata) -> BearerGuard {
        BearerGuard::builder()
            .issuer("https://idp.example.com")
            .trust(Issuer::new("https://other-idp.example.com").audience("legacy"))
            .resource(resource)
            .metadata(metadata)
            .build()
            .unwrap()
    }

    async fn get(router: &axum::Router, path: &str) -> (StatusCode, HeaderMap, Vec<u8>) {
        let response = router.clone().oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
        let (parts, body) = response.into_parts();
        (parts.status, parts.headers, to_bytes(body, 1 << 20).await.unwrap().to_vec())
    }

    use super::*;

    #[tokio::test]
    async fn both_well_known_forms_serve_the_same_json_document() {
        let router = guard("https://api.example.com/mcp", ResourceMetadata::new()).metadata_router();
        let (status, headers, root) = get(&router, "/.well-known/oauth-protected-resource").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        assert_eq!(headers[header::CACHE_CONTROL], "public, max-age=3600");
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        let (status, headers, inserted) = get(&router, "/.well-known/oauth-protected-resource/mcp").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        assert_eq!(root, inserted);
        let doc: Value = serde_json::from_slice(&root).unwrap();
        assert_eq!(
            doc,
            json!({
                "resource": "https://api.example.com/mcp",
                "authorization_servers": ["https://idp.example.com", "https://other-idp.example.com"],
                "bearer_methods_supported": ["header"],
            })
        );
    }

    #[tokio::test]
    async fn unknown_paths_under_the_prefix_are_404() {
        let router = guard("https://api.example.com/mcp", ResourceMetadata::new()).metadata_router();
        for path in [
            "/.well-known/oauth-protected-resource/other",
            "/.well-known/oauth-protected-resource/mcp/extra",
            "/.well-known/oauth-protected-resource/m",
        ] {
            assert_eq!(get(&router, path).await.0, StatusCode::NOT_FOUND, "{path}");
        }
        // A resource without a path has only the root form.
        let router = guard("https://api.example.com", ResourceMetadata::new()).metadata_router();
        assert_eq!(get(&router, "/.well-known/oauth-protected-resource").await.0, StatusCode::OK);
        assert_eq!(get(&router, "/.well-known/oauth-protected-resource/mcp").await.0, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn preflight_allows_get_from_any_origin() {
        let router = guard("https://api.example.com/mcp", ResourceMetadata::new()).metadata_router();
        for path in ["/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"] {
            let request = Request::options(path)
                .header(header::ORIGIN, "https://app.example.org")
                .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
                .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "mcp-protocol-version")
                .body(Body::empty())
                .unwrap();
            let response = router.clone().oneshot(request).await.unwrap();
            assert_eq!(response.status(), StatusCode::NO_CONTENT);
            let h = response.headers();
            assert_eq!(h[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
            assert_eq!(h[header::ACCESS_CONTROL_ALLOW_METHODS], "GET, HEAD, OPTIONS");
            assert_eq!(h[header::ACCESS_CONTROL_ALLOW_HEADERS], "mcp-protocol-version");
            assert_eq!(h[header::ACCESS_CONTROL_MAX_AGE], "86400");
        }
    }

    #[tokio::test]
    async fn other_methods_are_not_allowed() {
        let router = guard("https://api.example.com/mcp", ResourceMetadata::new()).metadata_router();
        let request = Request::post("/.well-known/oauth-protected-resource/mcp").body(Body::empty()).unwrap();
        let response = router.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    }

    #[tokio::test]
    async fn every_member_is_rendered() {
        crate::scopes! {
            struct Admin = "admin";
        }
        let metadata = ResourceMetadata::new()
            .authorization_servers(["https://as.example.com"])
            .scopes(["notes:read", "notes:write"])
            .scopes_of::<Admin>()
            .resource_name("Notes")
            .resource_documentation("https://docs.example.com/notes")
            .resource_policy_uri("https://example.com/policy")
            .resource_tos_uri("https://example.com/tos")
            .resource_signing_alg_values_supported([jsonwebtoken::Algorithm::ES256, jsonwebtoken::Algorithm::PS256])
            .member("x_extension", json!({"a": 1}))
            .max_age(std::time::Duration::from_secs(60));
        let guard = BearerGuard::builder()
            .issuer("https://idp.example.com")
            .resource("https://api.example.com/mcp")
            .insecure_token_from_query(true)
            .metadata(metadata)
            .build()
            .unwrap();
        // A scope layer built from the guard adds its scopes, once.
        let _layer = guard.require_scopes(["notes:read", "files:read"]).unwrap();
        let router = guard.metadata_router();
        let (status, headers, body) = get(&router, "/.well-known/oauth-protected-resource/mcp").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CACHE_CONTROL], "public, max-age=60");
        let doc: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            doc,
            json!({
                "resource": "https://api.example.com/mcp",
                "authorization_servers": ["https://as.example.com"],
                "scopes_supported": ["admin", "files:read", "notes:read", "notes:write"],
                "bearer_methods_supported": ["header", "query"],
                "resource_signing_alg_values_supported": ["ES256", "PS256"],
                "resource_name": "Notes",
                "resource_documentation": "https://docs.example.com/notes",
                "resource_policy_uri": "https://example.com/policy",
                "resource_tos_uri": "https://example.com/tos",
                "x_extension": {"a": 1},
            })
        );
        assert_eq!(guard.metadata_document(), Some(doc));
    }

    #[tokio::test]
    async fn without_a_resource_the_router_says_what_is_missing() {
        let guard = BearerGuard::builder().issuer("https://idp.example.com").audience("api").build().unwrap();
        assert_eq!(guard.metadata_document(), None);
        assert_eq!(guard.resource_metadata_url(), None);
        let (status, _, body) = get(&guard.metadata_router(), "/.well-known/oauth-protected-resource").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(String::from_utf8(body).unwrap().contains("BearerGuardBuilder::resource"));
    }
}
