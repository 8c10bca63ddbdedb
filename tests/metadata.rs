//! RFC 9728 from the outside: the resource as the required audience, the exact challenges every
//! refusal carries once a resource is configured, CORS on protected routes, per-tool MCP scopes,
//! `scopes_supported` coverage, configuration errors, and a property: the `resource_metadata`
//! URL of any challenge resolves to a 200 document of the same resource.

use std::sync::OnceLock;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::routing::{get, post};
use bearer_guard::testing::TestIssuer;
use bearer_guard::{BearerGuard, ConfigError, RequireScope, ResourceMetadata, StaticKey, require_scopes};
use http::{HeaderMap, Request, StatusCode, header};
use proptest::prelude::*;
use serde_json::{Value, json};
use tower::ServiceExt;

const RESOURCE: &str = "https://api.example.com/mcp";
const METADATA_URL: &str = "https://api.example.com/.well-known/oauth-protected-resource/mcp";

bearer_guard::scopes! {
    pub struct NotesRead = "notes:read";
    pub struct NotesWrite = "notes:write";
    pub struct Admin = "admin";
}

async fn issuer() -> TestIssuer {
    TestIssuer::start().await
}

fn guard(issuer: &TestIssuer, metadata: ResourceMetadata) -> BearerGuard {
    BearerGuard::builder()
        .issuer(issuer.issuer())
        .jwks_uri(issuer.jwks_uri())
        .resource(RESOURCE)
        .metadata(metadata)
        .build()
        .expect("guard")
}

async fn call(app: &Router, request: Request<Body>) -> (StatusCode, HeaderMap, String) {
    let response = app.clone().oneshot(request).await.expect("infallible");
    let (parts, body) = response.into_parts();
    let body = to_bytes(body, 1 << 20).await.expect("body");
    (parts.status, parts.headers, String::from_utf8_lossy(&body).into_owned())
}

fn get_with(path: &str, token: Option<&str>) -> Request<Body> {
    let mut request = Request::get(path);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    request.body(Body::empty()).expect("request")
}

fn challenge(headers: &HeaderMap) -> &str {
    headers.get(header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// Routes covering every way a scope is required.
fn app(guard: &BearerGuard) -> Router {
    async fn ok() -> &'static str {
        "ok"
    }
    async fn write(_: RequireScope<NotesWrite>) -> &'static str {
        "written"
    }
    Router::new()
        .route("/plain", get(ok))
        .route("/extractor", get(write))
        .route("/free-layer", get(ok).route_layer(require_scopes(["admin"]).unwrap()))
        .route("/guard-layer", get(ok).route_layer(guard.require_scopes(["notes:write"]).unwrap()))
        .route_layer(guard.layer())
        .merge(
            Router::new().route("/scoped", get(ok)).route_layer(guard.layer().require_scopes(["notes:read"]).unwrap()),
        )
        .merge(
            Router::new()
                .route("/advertised", get(ok))
                .route_layer(guard.layer().advertise_scopes(["notes:read"]).unwrap()),
        )
        .merge(guard.metadata_router())
}

#[tokio::test]
async fn the_resource_is_the_required_audience() {
    let issuer = issuer().await;
    let app = app(&guard(&issuer, ResourceMetadata::new()));
    let good = issuer.token().audience(RESOURCE).sign().unwrap();
    assert_eq!(call(&app, get_with("/plain", Some(&good))).await.0, StatusCode::OK);

    let other = issuer.token().audience("https://other.example.com/mcp").sign().unwrap();
    let (status, headers, _) = call(&app, get_with("/plain", Some(&other))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge(&headers),
        format!(
            "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"token is not meant for this audience\", \
             resource_metadata=\"{METADATA_URL}\""
        )
    );

    // Another audience is accepted only when added explicitly; the resource stays accepted.
    let guard = BearerGuard::builder()
        .issuer(issuer.issuer())
        .jwks_uri(issuer.jwks_uri())
        .resource(RESOURCE)
        .audience("account")
        .build()
        .unwrap();
    let app = Router::new().route("/plain", get(|| async { "ok" })).route_layer(guard.layer());
    let account = issuer.token().audience("account").sign().unwrap();
    assert_eq!(call(&app, get_with("/plain", Some(&account))).await.0, StatusCode::OK);
    assert_eq!(call(&app, get_with("/plain", Some(&good))).await.0, StatusCode::OK);
    assert_eq!(call(&app, get_with("/plain", Some(&other))).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn every_challenge_carries_resource_metadata_and_401s_carry_the_route_scopes() {
    let issuer = issuer().await;
    let app = app(&guard(&issuer, ResourceMetadata::new()));
    let rm = format!("resource_metadata=\"{METADATA_URL}\"");
    let read = issuer.token().audience(RESOURCE).scopes(["notes:read"]).sign().unwrap();
    let write = issuer.token().audience(RESOURCE).scopes(["notes:read", "notes:write", "admin"]).sign().unwrap();
    let no_scope = issuer.token().audience(RESOURCE).sign().unwrap();
    let expired = issuer.token().audience(RESOURCE).scopes(["notes:read"]).expires_in(-3600).sign().unwrap();
    let insufficient = |scope: &str| {
        format!(
            "Bearer realm=\"api\", error=\"insufficient_scope\", error_description=\"token lacks a required scope\", \
             scope=\"{scope}\", {rm}"
        )
    };
    let cases: Vec<(&str, Option<&str>, StatusCode, String)> = vec![
        // No token.
        ("/plain", None, StatusCode::UNAUTHORIZED, format!("Bearer realm=\"api\", {rm}")),
        ("/scoped", None, StatusCode::UNAUTHORIZED, format!("Bearer realm=\"api\", scope=\"notes:read\", {rm}")),
        ("/advertised", None, StatusCode::UNAUTHORIZED, format!("Bearer realm=\"api\", scope=\"notes:read\", {rm}")),
        // A rejected token.
        (
            "/scoped",
            Some(&expired),
            StatusCode::UNAUTHORIZED,
            format!(
                "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"token has expired\", \
                 scope=\"notes:read\", {rm}"
            ),
        ),
        (
            "/plain",
            Some("not-a-jwt"),
            StatusCode::UNAUTHORIZED,
            format!(
                "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"access token is not a well-formed JWT\", {rm}"
            ),
        ),
        // A malformed request.
        (
            "/plain",
            Some("a b"),
            StatusCode::BAD_REQUEST,
            format!(
                "Bearer realm=\"api\", error=\"invalid_request\", \
                 error_description=\"access token is not valid token68 syntax\", {rm}"
            ),
        ),
        // Missing scopes, from each kind of scope guard: the step-up scopes.
        ("/extractor", Some(&read), StatusCode::FORBIDDEN, insufficient("notes:write")),
        ("/free-layer", Some(&read), StatusCode::FORBIDDEN, insufficient("admin")),
        ("/guard-layer", Some(&read), StatusCode::FORBIDDEN, insufficient("notes:write")),
        ("/scoped", Some(&no_scope), StatusCode::FORBIDDEN, insufficient("notes:read")),
    ];
    for (path, token, status, expected) in &cases {
        let (got, headers, _) = call(&app, get_with(path, *token)).await;
        assert_eq!(got, *status, "{path} {token:?}");
        assert_eq!(challenge(&headers), expected, "{path} {token:?}");
    }
    // The same requests with a token that has every scope pass.
    for path in ["/plain", "/scoped", "/advertised", "/extractor", "/free-layer", "/guard-layer"] {
        assert_eq!(call(&app, get_with(path, Some(&write))).await.0, StatusCode::OK, "{path}");
    }
    // An advertised scope is not enforced there.
    assert_eq!(
        call(&app, get_with("/advertised", Some(&issuer.token().audience(RESOURCE).sign().unwrap()))).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_explicit_resource_metadata_url_wins_and_a_custom_realm_is_kept() {
    let issuer = issuer().await;
    let guard = BearerGuard::builder()
        .issuer(issuer.issuer())
        .jwks_uri(issuer.jwks_uri())
        .resource(RESOURCE)
        .resource_metadata("https://meta.example.com/prm")
        .realm("notes")
        .build()
        .unwrap();
    let app = Router::new().route("/", get(|| async { "ok" })).route_layer(guard.layer());
    let (_, headers, _) = call(&app, get_with("/", None)).await;
    assert_eq!(challenge(&headers), "Bearer realm=\"notes\", resource_metadata=\"https://meta.example.com/prm\"");
}

#[tokio::test]
async fn protected_routes_expose_www_authenticate_through_tower_http_cors() {
    use tower_http::cors::{Any, CorsLayer};
    let issuer = issuer().await;
    let guard = guard(&issuer, ResourceMetadata::new());
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods(Any)
        .allow_headers(Any)
        .expose_headers([header::WWW_AUTHENTICATE]);
    let app = Router::new().route("/mcp", post(|| async { "ok" })).route_layer(guard.layer()).layer(cors);
    let request = Request::post("/mcp").header(header::ORIGIN, "https://app.example.org").body(Body::empty()).unwrap();
    let (status, headers, _) = call(&app, request).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    assert_eq!(headers[header::ACCESS_CONTROL_EXPOSE_HEADERS], "www-authenticate");
    assert!(challenge(&headers).contains("resource_metadata="));
}

#[tokio::test]
async fn mcp_tool_calls_need_their_tools_scopes() {
    let issuer = issuer().await;
    let guard = guard(&issuer, ResourceMetadata::new());
    let app = Router::new()
        .route("/mcp", post(|body: String| async move { body }))
        .route_layer(
            guard
                .mcp_tool_scopes()
                .tool("list_notes", ["notes:read"])
                .unwrap()
                .tool("add_note", ["notes:write"])
                .unwrap(),
        )
        .route_layer(guard.layer().advertise_scopes(["notes:read"]).unwrap());
    let read = issuer.token().audience(RESOURCE).scopes(["notes:read"]).sign().unwrap();
    let write = issuer.token().audience(RESOURCE).scopes(["notes:write"]).sign().unwrap();
    let send = |token: &str, body: Value| {
        Request::post("/mcp")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let tool = |name: &str| json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": {}}});
    let step_up = |scope: &str| {
        format!(
            "Bearer realm=\"api\", error=\"insufficient_scope\", error_description=\"token lacks a required scope\", \
             scope=\"{scope}\", resource_metadata=\"{METADATA_URL}\""
        )
    };

    // Refused: the tool's scope is missing (single message and batch).
    let (status, headers, _) = call(&app, send(&read, tool("add_note"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(challenge(&headers), step_up("notes:write"));
    let (status, headers, _) = call(&app, send(&write, json!([tool("add_note"), tool("list_notes")]))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(challenge(&headers), step_up("notes:read"));

    // Passed, with the body intact: the right scope, other methods, unlisted tools, non-JSON.
    for (token, body) in [
        (&read, tool("list_notes")),
        (&write, tool("add_note")),
        (&read, json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})),
        (&read, tool("unlisted")),
    ] {
        let (status, _, echoed) = call(&app, send(token, body.clone())).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(echoed, body.to_string());
    }
    let garbage = Request::post("/mcp")
        .header(header::AUTHORIZATION, format!("Bearer {read}"))
        .body(Body::from("{not json"))
        .unwrap();
    assert_eq!(call(&app, garbage).await.2, "{not json");

    // A body over the limit is 413, not passed on half-read.
    let small = Router::new()
        .route("/mcp", post(|| async { "ok" }))
        .route_layer(guard.mcp_tool_scopes().tool("add_note", ["notes:write"]).unwrap().max_message_bytes(16))
        .route_layer(guard.layer());
    assert_eq!(call(&small, send(&write, tool("add_note"))).await.0, StatusCode::PAYLOAD_TOO_LARGE);

    // The tools' scopes are in the metadata.
    assert_eq!(guard.metadata_document().unwrap()["scopes_supported"], json!(["notes:read", "notes:write"]));
}

#[tokio::test]
async fn a_scope_used_by_a_guard_but_missing_from_the_metadata_is_detectable() {
    let issuer = issuer().await;
    // Forgetting `admin` (only on a plain `require_scopes` layer) and `notes:write` (only on an extractor).
    let guard = guard(&issuer, ResourceMetadata::new().scopes_of::<NotesRead>());
    let app = app(&guard);
    let token = issuer.token().audience(RESOURCE).scopes(["notes:read"]).sign().unwrap();
    for path in ["/plain", "/scoped", "/extractor", "/free-layer", "/guard-layer"] {
        call(&app, get_with(path, Some(&token))).await;
    }
    // `notes:write` of `guard.require_scopes` is declared; the extractor's use of it is covered.
    assert_eq!(guard.undeclared_scopes(), ["admin"]);
    let doc = guard.metadata_document().unwrap();
    assert_eq!(doc["scopes_supported"], json!(["notes:read", "notes:write"]));

    // Listing it fixes it.
    let guard = self::guard(&issuer, ResourceMetadata::new().scopes_of::<(NotesRead, Admin)>());
    let app = self::app(&guard);
    for path in ["/extractor", "/free-layer"] {
        call(&app, get_with(path, Some(&token))).await;
    }
    assert!(guard.undeclared_scopes().is_empty(), "{:?}", guard.undeclared_scopes());
}

#[test]
fn configuration_errors_are_clear() {
    let base = || BearerGuard::builder().issuer("https://idp.example.com");
    let reason = |r: Result<BearerGuard, ConfigError>| match r {
        Err(e) => e.to_string(),
        Ok(_) => "built".to_owned(),
    };
    // Each message names the problem first; ConfigError may append how to fix it.
    let assert_starts =
        |got: String, want: &str| assert!(got.starts_with(want), "{got:?} does not start with {want:?}");
    assert_starts(
        reason(base().resource("http://api.example.com/mcp").build()),
        "invalid url `http://api.example.com/mcp`: resource must use https (plain http only on loopback)",
    );
    assert_starts(
        reason(base().resource("https://api.example.com/mcp#x").build()),
        "invalid url `https://api.example.com/mcp#x`: resource must not have a fragment",
    );
    assert_starts(reason(base().resource("/mcp").build()), "invalid url `/mcp`: resource must be an absolute URL");
    assert_starts(
        reason(base().audience("a").metadata(ResourceMetadata::new()).build()),
        "invalid `.metadata(..)`: needs a resource identifier (BearerGuardBuilder::resource)",
    );
    assert_starts(
        reason(base().resource(RESOURCE).metadata(ResourceMetadata::new().member("resource", "x")).build()),
        "invalid `metadata.member`: `resource` is set with BearerGuardBuilder::resource",
    );
    assert_starts(
        reason(base().resource(RESOURCE).metadata(ResourceMetadata::new().scopes(["a b"])).build()),
        "invalid `metadata.scopes`: a scope is not a valid RFC 6749 scope token",
    );
    assert_starts(
        reason(base().resource(RESOURCE).metadata(ResourceMetadata::new().resource_documentation("docs")).build()),
        "invalid url `docs`: metadata URLs must be absolute",
    );
    // With a resource, no other audience is needed.
    assert!(base().resource(RESOURCE).build().is_ok());
    assert!(base().resource("http://127.0.0.1:3001/mcp").build().is_ok());
}

// The property: whatever the resource and whatever the refusal, the challenge's
// `resource_metadata` resolves (on the router the guard serves) to a 200 JSON document whose
// `resource` is that resource.

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime"))
}

fn resource_strategy() -> impl Strategy<Value = String> {
    let host = prop_oneof![
        Just("api.example.com".to_owned()),
        Just("localhost".to_owned()),
        "[a-z]{1,8}\\.example\\.org".prop_map(|h| h),
    ];
    let port = prop_oneof![Just(String::new()), (1u16..=65535).prop_map(|p| format!(":{p}"))];
    let segments = prop::collection::vec("[a-zA-Z0-9_~.-]{1,8}", 0..4);
    let slash = any::<bool>();
    (host, port, segments, slash).prop_filter_map("dot segments", |(host, port, segments, slash)| {
        if segments.iter().any(|s| s == "." || s == "..") {
            return None;
        }
        let mut path = segments.iter().map(|s| format!("/{s}")).collect::<String>();
        if slash && !path.is_empty() {
            path.push('/');
        }
        Some(format!("https://{host}{port}{path}"))
    })
}

fn attribute<'a>(challenge: &'a str, name: &str) -> Option<&'a str> {
    let start = challenge.find(&format!("{name}=\""))? + name.len() + 2;
    let rest = challenge.get(start..)?;
    rest.get(..rest.find('"')?)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn resource_metadata_in_challenges_resolves_to_the_same_resource(
        resource in resource_strategy(),
        case in 0usize..4,
        route_scopes in prop::collection::vec("[a-z]{1,6}:(read|write)", 0..3),
    ) {
        runtime().block_on(async {
            let guard = BearerGuard::builder()
                .issuer("my-app")
                .static_key(StaticKey::hmac_secret([7u8; 32]).unwrap())
                .resource(resource.clone())
                .build()
                .unwrap();
            let layer = if route_scopes.is_empty() { guard.layer() } else { guard.layer().require_scopes(route_scopes.clone()).unwrap() };
            let app = Router::new()
                .route("/api", get(|| async { "ok" }))
                .route_layer(layer)
                .merge(guard.metadata_router());
            let token = match case {
                0 => None,
                1 => Some("not-a-jwt"),
                2 => Some("a b"),
                _ => Some("eyJhbGciOiJub25lIn0.e30."),
            };
            let mut request = Request::get("/api");
            if let Some(token) = token {
                request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
            }
            let (status, headers, _) = call(&app, request.body(Body::empty()).unwrap()).await;
            prop_assert!(status == StatusCode::UNAUTHORIZED || status == StatusCode::BAD_REQUEST, "{status}");
            let challenge = challenge(&headers).to_owned();
            let url = attribute(&challenge, "resource_metadata").map(str::to_owned);
            prop_assert!(url.is_some(), "no resource_metadata in {challenge:?}");
            let url = url.unwrap_or_default();
            prop_assert_eq!(Some(url.as_str()), guard.resource_metadata_url());
            if status == StatusCode::UNAUTHORIZED && !route_scopes.is_empty() {
                let joined = route_scopes.join(" ");
                prop_assert_eq!(attribute(&challenge, "scope"), Some(joined.as_str()));
            }
            // Same origin as the resource, and the path form of RFC 9728 §3.1.
            let parsed = url::Url::parse(&url).unwrap();
            let resource_url = url::Url::parse(&resource).unwrap();
            prop_assert_eq!(parsed.origin(), resource_url.origin());
            prop_assert!(parsed.path().starts_with("/.well-known/oauth-protected-resource"));
            let (status, headers, body) = call(&app, get_with(parsed.path(), None)).await;
            prop_assert_eq!(status, StatusCode::OK, "{} for {}", parsed.path(), resource);
            prop_assert_eq!(headers[header::CONTENT_TYPE].to_str().unwrap(), "application/json");
            let doc: Value = serde_json::from_str(&body).unwrap();
            prop_assert_eq!(doc["resource"].as_str(), Some(resource.as_str()));
            Ok(())
        })?;
    }
}

#[tokio::test]
async fn dpop_settings_appear_in_the_metadata_and_an_explicit_mtls_member_is_kept() {
    let issuer = issuer().await;
    let build = |mode: bearer_guard::DpopMode| {
        BearerGuard::builder()
            .issuer(issuer.issuer())
            .jwks_uri(issuer.jwks_uri())
            .resource(RESOURCE)
            .metadata(ResourceMetadata::new().member("tls_client_certificate_bound_access_tokens", true))
            .public_url("https://api.example.com")
            .expect("public url")
            .dpop(mode)
            .dpop_algorithms([bearer_guard::Algorithm::ES256, bearer_guard::Algorithm::EdDSA])
            .build()
            .expect("guard")
    };
    let doc = build(bearer_guard::DpopMode::Required).metadata_document().unwrap();
    assert_eq!(doc["dpop_signing_alg_values_supported"], json!(["ES256", "EdDSA"]));
    assert_eq!(doc["dpop_bound_access_tokens_required"], json!(true));
    assert_eq!(doc["tls_client_certificate_bound_access_tokens"], json!(true));
    let doc = build(bearer_guard::DpopMode::Allowed).metadata_document().unwrap();
    assert_eq!(doc["dpop_bound_access_tokens_required"], json!(false));
    let doc = build(bearer_guard::DpopMode::Off).metadata_document().unwrap();
    assert!(doc.get("dpop_signing_alg_values_supported").is_none(), "{doc}");
    assert!(doc.get("dpop_bound_access_tokens_required").is_none(), "{doc}");
}
