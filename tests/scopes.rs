//! Scope guards in every form: typed extractors and route-level layers, all-of and any-of,
//! nested and merged routers, and per-method requirements on one path. Each case has a
//! passing token and a failing one, and asserts the exact status and challenge.

mod support;

use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use bearer_guard::{
    AccessTokenClaims, AllOf, AnyOf, BearerGuard, Claims, RequireScope, Scopes, StaticKey, require_any_scope,
    require_scopes,
};
use http::{Request, StatusCode, header};
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::{Value, json};
use support::send;
use tower::ServiceExt;

const SECRET: &[u8] = b"scope-tests-secret-of-at-least-32-bytes";
const ISSUER: &str = "scope-tests";
const AUDIENCE: &str = "notes-api";

bearer_guard::scopes! {
    pub struct NotesRead = "notes:read";
    pub struct NotesWrite = "notes:write";
    pub struct Admin = "admin";
}

fn guard() -> BearerGuard {
    BearerGuard::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .static_key(StaticKey::hmac_secret(SECRET).unwrap())
        .allow_anonymous(false)
        .build()
        .unwrap()
}

fn token(scope: &str) -> String {
    let now = jsonwebtoken::get_current_timestamp();
    let claims = json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "u1", "exp": now + 600, "iat": now, "scope": scope});
    encode(&Header::default(), &claims, &EncodingKey::from_secret(SECRET)).unwrap()
}

/// `method uri` with the token as a Bearer header or without any: status and `WWW-Authenticate`.
async fn call_route(app: &Router, method: &str, uri: &str, token: Option<&str>) -> (StatusCode, Option<String>) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let answer = send(app, request.body(Body::empty()).unwrap()).await;
    (answer.status, answer.challenge)
}

fn forbidden(scope: &str) -> (StatusCode, Option<String>) {
    (
        StatusCode::FORBIDDEN,
        Some(format!(
            "Bearer realm=\"api\", error=\"insufficient_scope\", error_description=\"token lacks a required scope\", scope=\"{scope}\""
        )),
    )
}

const OK: (StatusCode, Option<String>) = (StatusCode::OK, None);

async fn ok() -> &'static str {
    "ok"
}

#[tokio::test]
async fn extractor_single_scope() {
    async fn h(_: RequireScope<NotesWrite>, Claims(c): Claims<Value>) -> String {
        c["sub"].as_str().unwrap_or_default().to_owned()
    }
    let app = Router::new().route("/", post(h)).route_layer(guard().layer());
    assert_eq!(call_route(&app, "POST", "/", Some(&token("notes:write"))).await, OK);
    assert_eq!(call_route(&app, "POST", "/", Some(&token("notes:read"))).await, forbidden("notes:write"));
}

#[tokio::test]
async fn extractor_all_of_and_tuple() {
    async fn h(_: RequireScope<AllOf<(NotesRead, NotesWrite)>>) -> &'static str {
        "ok"
    }
    async fn t(_: RequireScope<(NotesRead, Admin)>) -> &'static str {
        "ok"
    }
    let app = Router::new().route("/", get(h)).route("/t", get(t)).route_layer(guard().layer());
    assert_eq!(call_route(&app, "GET", "/", Some(&token("notes:write notes:read"))).await, OK);
    assert_eq!(call_route(&app, "GET", "/", Some(&token("notes:read"))).await, forbidden("notes:read notes:write"));
    assert_eq!(call_route(&app, "GET", "/t", Some(&token("admin notes:read"))).await, OK);
    assert_eq!(call_route(&app, "GET", "/t", Some(&token("admin"))).await, forbidden("notes:read admin"));
}

#[tokio::test]
async fn extractor_any_of() {
    async fn h(_: RequireScope<AnyOf<(Admin, NotesWrite)>>) -> &'static str {
        "ok"
    }
    let app = Router::new().route("/", get(h)).route_layer(guard().layer());
    assert_eq!(call_route(&app, "GET", "/", Some(&token("notes:write"))).await, OK);
    assert_eq!(call_route(&app, "GET", "/", Some(&token("admin"))).await, OK);
    assert_eq!(call_route(&app, "GET", "/", Some(&token("notes:read"))).await, forbidden("admin notes:write"));
}

#[tokio::test]
async fn layer_all_of_and_any_of() {
    let app = Router::new()
        .route("/all", get(ok).route_layer(require_scopes(["notes:read", "notes:write"]).unwrap()))
        .route("/any", get(ok).route_layer(require_any_scope(["admin", "notes:write"]).unwrap()))
        .route_layer(guard().layer());
    assert_eq!(call_route(&app, "GET", "/all", Some(&token("notes:read notes:write"))).await, OK);
    assert_eq!(call_route(&app, "GET", "/all", Some(&token("notes:write"))).await, forbidden("notes:read notes:write"));
    assert_eq!(call_route(&app, "GET", "/any", Some(&token("admin"))).await, OK);
    assert_eq!(call_route(&app, "GET", "/any", Some(&token("notes:read"))).await, forbidden("admin notes:write"));
}

#[tokio::test]
async fn per_method_requirements_on_one_path_in_both_styles() {
    async fn create(_: RequireScope<NotesWrite>) -> &'static str {
        "created"
    }
    // Route-level style.
    let layered = Router::new()
        .route(
            "/notes",
            get(ok)
                .route_layer(require_scopes(["notes:read"]).unwrap())
                .merge(post(ok).route_layer(require_scopes(["notes:write"]).unwrap())),
        )
        .route_layer(guard().layer());
    // Extractor style.
    async fn list(_: RequireScope<NotesRead>) -> &'static str {
        "[]"
    }
    let typed = Router::new().route("/notes", get(list).post(create)).route_layer(guard().layer());
    for app in [&layered, &typed] {
        assert_eq!(call_route(app, "GET", "/notes", Some(&token("notes:read"))).await, OK);
        assert_eq!(call_route(app, "GET", "/notes", Some(&token("notes:write"))).await, forbidden("notes:read"));
        assert_eq!(call_route(app, "POST", "/notes", Some(&token("notes:write"))).await, OK);
        assert_eq!(call_route(app, "POST", "/notes", Some(&token("notes:read"))).await, forbidden("notes:write"));
    }
}

#[tokio::test]
async fn nested_and_merged_routers_keep_their_requirements() {
    let admin = Router::new().route("/purge", post(ok)).route_layer(require_scopes(["admin"]).unwrap());
    let reports = Router::new().route("/reports", get(ok)).route_layer(require_scopes(["notes:read"]).unwrap());
    let app = Router::new().nest("/admin", admin).merge(reports).route_layer(guard().layer());
    assert_eq!(call_route(&app, "POST", "/admin/purge", Some(&token("admin"))).await, OK);
    assert_eq!(call_route(&app, "POST", "/admin/purge", Some(&token("notes:read"))).await, forbidden("admin"));
    assert_eq!(call_route(&app, "GET", "/reports", Some(&token("notes:read"))).await, OK);
    assert_eq!(call_route(&app, "GET", "/reports", Some(&token("admin"))).await, forbidden("notes:read"));
    // Unknown paths stay 404: route_layer does not turn them into 401.
    assert_eq!(call_route(&app, "GET", "/nope", None).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn no_token_is_401_never_403() {
    async fn h(_: RequireScope<NotesWrite>) -> &'static str {
        "ok"
    }
    let strict = Router::new()
        .route("/typed", get(h))
        .route("/layer", get(ok).route_layer(require_scopes(["notes:write"]).unwrap()))
        .route_layer(guard().layer());
    let anonymous_ok = BearerGuard::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .static_key(StaticKey::hmac_secret(SECRET).unwrap())
        .allow_anonymous(true)
        .build()
        .unwrap();
    let lenient = Router::new()
        .route("/typed", get(h))
        .route("/layer", get(ok).route_layer(require_scopes(["notes:write"]).unwrap()))
        .route_layer(anonymous_ok.layer());
    for app in [&strict, &lenient] {
        for path in ["/typed", "/layer"] {
            assert_eq!(
                call_route(app, "GET", path, None).await,
                (StatusCode::UNAUTHORIZED, Some("Bearer realm=\"api\"".to_owned())),
                "{path}"
            );
            assert_eq!(call_route(app, "GET", path, Some(&token("notes:write"))).await, OK, "{path}");
        }
    }
}

#[tokio::test]
async fn scope_layer_without_the_guard_is_a_500_naming_the_layer() {
    let app = Router::new().route("/", get(ok).route_layer(require_scopes(["admin"]).unwrap()));
    let response = app
        .oneshot(Request::get("/").header(header::AUTHORIZATION, "Bearer x").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
    assert!(String::from_utf8_lossy(&body).contains("BearerGuardLayer"));
}

fn token_with(extra: Value) -> String {
    let now = jsonwebtoken::get_current_timestamp();
    let mut claims = json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "u1", "exp": now + 600, "iat": now});
    claims.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    encode(&Header::default(), &claims, &EncodingKey::from_secret(SECRET)).unwrap()
}

#[tokio::test]
async fn a_tab_or_newline_does_not_separate_scopes() {
    // Fails on 0.1: `scope` was split on any ASCII whitespace, so `notes:read\tadmin` granted `admin`.
    async fn h(_: RequireScope<Admin>) -> &'static str {
        "ok"
    }
    async fn list(scopes: Scopes) -> String {
        scopes.iter().collect::<Vec<_>>().join(",")
    }
    let app = Router::new()
        .route("/typed", get(h))
        .route("/layer", get(ok).route_layer(require_scopes(["admin"]).unwrap()))
        .route("/list", get(list))
        .route_layer(guard().layer());
    for bad in ["notes:read\tadmin", "notes:read\nadmin", "notes:read\r\nadmin", "notes:read\u{0b}admin"] {
        for t in [token(bad), token_with(json!({ "scp": [bad] })), token_with(json!({ "scp": bad }))] {
            for path in ["/typed", "/layer"] {
                assert_eq!(call_route(&app, "GET", path, Some(&t)).await, forbidden("admin"), "{bad:?} {path}");
            }
            let answer = send(
                &app,
                Request::get("/list").header(header::AUTHORIZATION, format!("Bearer {t}")).body(Body::empty()).unwrap(),
            )
            .await;
            assert_eq!(answer.body, "", "{bad:?}: the whole entry counts as no scope");
        }
    }
    // Control: separated by a space, both scopes are granted.
    for path in ["/typed", "/layer"] {
        assert_eq!(call_route(&app, "GET", path, Some(&token("notes:read admin"))).await, OK, "{path}");
    }
}

#[tokio::test]
async fn a_scope_array_reads_the_same_in_claims_and_guards() {
    // Fails on 0.1: the guards honoured `"scope": [..]` but `Claims<AccessTokenClaims>` refused
    // the same token with 401 "token claims do not have the expected shape".
    async fn h(_: RequireScope<NotesWrite>, Claims(c): Claims<AccessTokenClaims>) -> String {
        format!("{:?} {:?}", c.scope, c.scp)
    }
    let app = Router::new().route("/", get(h)).route_layer(guard().layer());
    let call = |t: String| {
        let app = app.clone();
        async move {
            send(
                &app,
                Request::get("/").header(header::AUTHORIZATION, format!("Bearer {t}")).body(Body::empty()).unwrap(),
            )
            .await
        }
    };
    let array = call(token_with(json!({"scope": ["notes:read", "notes:write", "bad\tentry"]}))).await;
    assert_eq!((array.status, array.body.as_str()), (StatusCode::OK, "Some([\"notes:read\", \"notes:write\"]) None"));
    // Control: the RFC 9068 string form gives the same list.
    let string = call(token("notes:read notes:write")).await;
    assert_eq!((string.status, string.body.as_str()), (StatusCode::OK, "Some([\"notes:read\", \"notes:write\"]) None"));
    let scp = call(token_with(json!({"scp": "notes:write"}))).await;
    assert_eq!((scp.status, scp.body.as_str()), (StatusCode::OK, "None Some([\"notes:write\"])"));
}

#[test]
fn empty_scope_lists_are_refused_where_they_are_built() {
    // Fails on 0.1: `require_scopes([])` let every token in and `require_any_scope([])` none.
    let error = require_scopes(Vec::<&str>::new()).unwrap_err();
    assert!(error.to_string().starts_with("invalid scope requirement: no scopes given"), "{error}");
    assert!(require_any_scope(Vec::<&str>::new()).is_err());
    assert!(require_scopes(["notes read"]).is_err(), "a name no token can carry");
    // Control: a non-empty list of scope-tokens builds.
    assert!(require_scopes(["notes:read"]).is_ok() && require_any_scope(["admin", "notes:write"]).is_ok());
}

#[tokio::test]
async fn typed_route_layer_and_new_module_paths() {
    use bearer_guard::scope::{RequireScopeLayer, ScopeMatch};
    let layer: RequireScopeLayer = RequireScope::<AnyOf<(Admin, NotesWrite)>>::layer();
    let app = Router::new().route("/", get(ok).route_layer(layer)).route_layer(guard().layer());
    assert_eq!(call_route(&app, "GET", "/", Some(&token("notes:write"))).await, OK);
    assert_eq!(call_route(&app, "GET", "/", Some(&token("notes:read"))).await, forbidden("admin notes:write"));
    assert_eq!(<AnyOf<(Admin, NotesWrite)> as bearer_guard::ScopeRequirement>::MATCH, ScopeMatch::Any);
}
