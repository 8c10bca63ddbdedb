//! Roles are not scopes: roles read from Keycloak, Auth0 and Entra ID claims have their own set
//! and guards, an OAuth scope named like a role never passes a role guard, and merging roles
//! into scopes happens only when asked for. Each refusal has its passing token next to it.

mod support;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bearer_guard::{
    AllOf, AnyOf, BearerGuard, BearerGuardBuilder, RequireRole, RequireScope, RoleSource, Roles, Scopes, StaticKey,
    VerifiedToken, require_any_role, require_roles,
};
use http::{Request, StatusCode, header};
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::{Value, json};
use support::send;

const SECRET: &[u8] = b"role-tests-secret-of-at-least-32-bytes!";
const ISSUER: &str = "role-tests";
const AUDIENCE: &str = "notes-api";

bearer_guard::roles! {
    pub struct Admin = "admin";
    pub struct Editor = "editor";
}

bearer_guard::scopes! {
    pub struct AdminScope = "admin";
}

fn builder() -> BearerGuardBuilder {
    BearerGuard::builder().issuer(ISSUER).audience(AUDIENCE).static_key(StaticKey::hmac_secret(SECRET).unwrap())
}

fn token(extra: Value) -> String {
    let now = jsonwebtoken::get_current_timestamp();
    let mut claims = json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "u1", "exp": now + 600, "iat": now});
    claims.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    encode(&Header::default(), &claims, &EncodingKey::from_secret(SECRET)).unwrap()
}

async fn get_status(app: &Router, uri: &str, token: &str) -> (StatusCode, Option<String>) {
    let request =
        Request::get(uri).header(header::AUTHORIZATION, format!("Bearer {token}")).body(Body::empty()).unwrap();
    let answer = send(app, request).await;
    (answer.status, answer.challenge)
}

const OK: (StatusCode, Option<String>) = (StatusCode::OK, None);

fn lacks_role() -> (StatusCode, Option<String>) {
    (
        StatusCode::FORBIDDEN,
        Some(
            "Bearer realm=\"api\", error=\"insufficient_scope\", error_description=\"token lacks a required role\""
                .to_owned(),
        ),
    )
}

fn lacks_scope(scope: &str) -> (StatusCode, Option<String>) {
    (
        StatusCode::FORBIDDEN,
        Some(format!(
            "Bearer realm=\"api\", error=\"insufficient_scope\", error_description=\"token lacks a required scope\", scope=\"{scope}\""
        )),
    )
}

async fn ok() -> &'static str {
    "ok"
}

/// `/role` (extractor), `/role-layer` (route layer), `/scope` (scope extractor) behind `guard`.
fn app(guard: &BearerGuard) -> Router {
    Router::new()
        .route("/role", get(|_: RequireRole<Admin>| async { "ok" }))
        .route("/role-layer", get(ok).route_layer(require_roles(["admin"]).unwrap()))
        .route("/role-typed-layer", get(ok).route_layer(RequireRole::<Admin>::layer()))
        .route("/scope", get(|_: RequireScope<AdminScope>| async { "ok" }))
        .route_layer(guard.layer())
}

#[tokio::test]
async fn an_oauth_scope_named_like_a_role_does_not_pass_a_role_guard() {
    // Fails on 0.1: with `.scopes_from(ScopeSource::KeycloakRealmRoles)` the scope `admin` and
    // the realm role `admin` were one set, and `RequireScope<Admin>` let this token in.
    let app = app(&builder().roles_from(RoleSource::KeycloakRealmRoles).build().unwrap());
    let scope_only = token(json!({"scope": "admin", "realm_access": {"roles": ["offline_access"]}}));
    let role = token(json!({"scope": "profile", "realm_access": {"roles": ["admin"]}}));
    for path in ["/role", "/role-layer", "/role-typed-layer"] {
        assert_eq!(get_status(&app, path, &scope_only).await, lacks_role(), "{path}");
        assert_eq!(get_status(&app, path, &role).await, OK, "{path}");
    }
    // And the other way round: a realm role is not an OAuth scope.
    assert_eq!(get_status(&app, "/scope", &role).await, lacks_scope("admin"));
    assert_eq!(get_status(&app, "/scope", &scope_only).await, OK);
}

#[tokio::test]
async fn merging_roles_into_scopes_is_an_explicit_opt_in() {
    let guard =
        builder().roles_from(RoleSource::KeycloakRealmRoles).dangerous_merge_roles_into_scopes().build().unwrap();
    let app = app(&guard);
    let role = token(json!({"realm_access": {"roles": ["admin"]}}));
    let scope_only = token(json!({"scope": "admin"}));
    // The role now passes the scope guard too…
    assert_eq!(get_status(&app, "/scope", &role).await, OK);
    assert_eq!(get_status(&app, "/scope", &scope_only).await, OK);
    // …but role guards still read roles only.
    assert_eq!(get_status(&app, "/role", &scope_only).await, lacks_role());
    assert_eq!(get_status(&app, "/role", &role).await, OK);
}

#[tokio::test]
#[allow(deprecated)]
async fn the_deprecated_scopes_from_fills_roles_not_scopes() {
    let app = app(&builder().scopes_from(bearer_guard::ScopeSource::KeycloakRealmRoles).build().unwrap());
    let role = token(json!({"realm_access": {"roles": ["admin"]}}));
    assert_eq!(get_status(&app, "/role", &role).await, OK);
    assert_eq!(get_status(&app, "/scope", &role).await, lacks_scope("admin"));
    assert_eq!(get_status(&app, "/role", &token(json!({"scope": "admin"}))).await, lacks_role());
}

#[tokio::test]
async fn identity_provider_presets_fill_roles() {
    let cases = [
        (RoleSource::KeycloakRealmRoles, json!({"realm_access": {"roles": ["admin"]}})),
        (
            RoleSource::KeycloakClientRoles("notes-api".into()),
            json!({"resource_access": {"notes-api": {"roles": ["admin"]}}}),
        ),
        (RoleSource::Auth0Permissions, json!({"permissions": ["admin"]})),
        (RoleSource::EntraIdRoles, json!({"roles": ["admin"]})),
        (
            RoleSource::ClaimPath(vec!["https://example.com/claims".into(), "roles".into()]),
            json!({"https://example.com/claims": {"roles": ["admin"]}}),
        ),
    ];
    for (source, claims) in cases {
        let app = app(&builder().roles_from(source.clone()).build().unwrap());
        assert_eq!(get_status(&app, "/role", &token(claims.clone())).await, OK, "{source:?}");
        assert_eq!(get_status(&app, "/scope", &token(claims)).await, lacks_scope("admin"), "{source:?}");
        assert_eq!(get_status(&app, "/role", &token(json!({"scope": "admin"}))).await, lacks_role(), "{source:?}");
    }
    // Keycloak client roles of another client are not read.
    let app = app(&builder().roles_from(RoleSource::KeycloakClientRoles("notes-api".into())).build().unwrap());
    let other = token(json!({"resource_access": {"billing": {"roles": ["admin"]}}}));
    assert_eq!(get_status(&app, "/role", &other).await, lacks_role());
}

#[tokio::test]
async fn all_of_and_any_of_roles_in_both_styles() {
    let guard = builder().roles_from(RoleSource::EntraIdRoles).build().unwrap();
    let app = Router::new()
        .route("/all", get(|_: RequireRole<AllOf<(Admin, Editor)>>| async { "ok" }))
        .route("/tuple", get(|_: RequireRole<(Admin, Editor)>| async { "ok" }))
        .route("/any", get(|_: RequireRole<AnyOf<(Admin, Editor)>>| async { "ok" }))
        .route("/all-layer", get(ok).route_layer(require_roles(["admin", "editor"]).unwrap()))
        .route("/any-layer", get(ok).route_layer(require_any_role(["admin", "editor"]).unwrap()))
        .route("/any-typed-layer", get(ok).route_layer(RequireRole::<AnyOf<(Admin, Editor)>>::layer()))
        .route_layer(guard.layer());
    let both = token(json!({"roles": ["admin", "editor"]}));
    let editor = token(json!({"roles": ["editor"]}));
    let none = token(json!({"roles": ["viewer"], "scope": "admin editor"}));
    for path in ["/all", "/tuple", "/all-layer"] {
        assert_eq!(get_status(&app, path, &both).await, OK, "{path}");
        assert_eq!(get_status(&app, path, &editor).await, lacks_role(), "{path}");
    }
    for path in ["/any", "/any-layer", "/any-typed-layer"] {
        assert_eq!(get_status(&app, path, &editor).await, OK, "{path}");
        assert_eq!(get_status(&app, path, &none).await, lacks_role(), "{path}");
    }
}

#[tokio::test]
async fn handlers_see_roles_and_scopes_apart() {
    async fn sets(roles: Roles, scopes: Scopes, token: VerifiedToken) -> String {
        assert_eq!(&roles, token.roles());
        format!("{:?} {:?}", roles, scopes)
    }
    let guard = builder().roles_from(RoleSource::KeycloakRealmRoles).build().unwrap();
    let app = Router::new().route("/", get(sets)).route_layer(guard.layer());
    let request = Request::get("/")
        .header(
            header::AUTHORIZATION,
            format!(
                "Bearer {}",
                token(json!({"scope": "notes:read", "realm_access": {"roles": ["admin", "Notes Editor"]}}))
            ),
        )
        .body(Body::empty())
        .unwrap();
    let answer = send(&app, request).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, "{\"Notes Editor\", \"admin\"} {\"notes:read\"}");
}

#[test]
fn empty_role_lists_are_refused_where_they_are_built() {
    // Control: a non-empty list builds.
    assert!(require_roles(["admin"]).is_ok());
    let error = require_roles(Vec::<&str>::new()).unwrap_err();
    assert!(error.to_string().starts_with("invalid role requirement: no roles given"), "{error}");
    assert!(require_any_role(Vec::<&str>::new()).is_err());
}
