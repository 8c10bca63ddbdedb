//! The notes API of the example microservice, as a router any test can mount in-process.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use bearer_guard::revocation::{DEFAULT_MAX_TOKEN_LIFETIME, RevocationError};
use bearer_guard::{AccessTokenClaims, BearerGuard, Claims, RequireScope, Scopes, VerifiedToken};
use serde::{Deserialize, Serialize};
use serde_json::json;

bearer_guard::scopes! {
    /// Read notes.
    pub struct NotesRead = "notes:read";
    /// Create notes.
    pub struct NotesWrite = "notes:write";
    /// Delete notes.
    pub struct Admin = "admin";
}

/// The longest note, in characters.
pub const MAX_TEXT_CHARS: usize = 1000;
/// How many notes the store keeps; `POST /notes` answers `507` beyond.
pub const MAX_NOTES: usize = 1000;
/// Notes per page of `GET /notes` without `?limit=`.
pub const DEFAULT_PAGE: usize = 50;
/// The largest accepted `?limit=`.
pub const MAX_PAGE: usize = 100;

/// A note.
#[derive(Debug, Clone, Serialize)]
pub struct Note {
    pub id: u64,
    pub text: String,
    pub author: String,
}

#[derive(Clone)]
struct Notes {
    next_id: Arc<AtomicU64>,
    notes: Arc<Mutex<BTreeMap<u64, Note>>>,
    capacity: usize,
}

impl Notes {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Note>> {
        self.notes.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The notes API: `/health` and `/backchannel-logout` are open, everything else goes through
/// `guard`.
pub fn router(guard: &BearerGuard) -> Router {
    router_with_capacity(guard, MAX_NOTES)
}

/// [`router`] with a store that holds at most `capacity` notes.
pub fn router_with_capacity(guard: &BearerGuard, capacity: usize) -> Router {
    let notes = Notes { next_id: Arc::default(), notes: Arc::default(), capacity };
    let admin = guard.clone();
    let protected = Router::new()
        .route("/me", get(me))
        .route("/notes", get(list_notes).post(create_note))
        .route("/notes/{id}", delete(delete_note))
        .route(
            "/admin/revoke",
            post(move |scope: RequireScope<Admin>, token: VerifiedToken, body: Result<Json<Revoke>, JsonRejection>| {
                admin_revoke(admin.clone(), scope, token, body)
            }),
        )
        .route_layer(guard.layer())
        .with_state(notes);
    let public = Router::new()
        .route("/health", get(|| async { "ok" }))
        // OpenID Connect Back-Channel Logout 1.0: the identity provider calls it, with no access token.
        .route("/backchannel-logout", guard.backchannel_logout());
    // RFC 9728: `GET /.well-known/oauth-protected-resource`, when the guard names its resource.
    let public = match guard.metadata_document() {
        Some(_) => public.merge(guard.metadata_router()),
        None => public,
    };
    public.merge(protected)
}

/// The body of `POST /admin/revoke`: exactly one of `jti` (that token) or `sub` (every token
/// of that subject issued until now), for the service's issuer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revoke {
    jti: Option<String>,
    sub: Option<String>,
}

fn json_error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": "invalid_request", "error_description": message }))).into_response()
}

async fn admin_revoke(
    guard: BearerGuard,
    _: RequireScope<Admin>,
    admin: VerifiedToken,
    body: Result<Json<Revoke>, JsonRejection>,
) -> Response {
    let Some(revocations) = guard.revocations() else {
        return json_error(StatusCode::BAD_REQUEST, "revocation is not enabled");
    };
    let Ok(Json(request)) = body else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "expected a JSON body like {\"jti\": \"...\"} or {\"sub\": \"...\"}",
        );
    };
    let now = std::time::SystemTime::now();
    let result = match (request.jti, request.sub) {
        // The token's exp is not known here: keep the entry as long as any token may live.
        (Some(jti), None) => revocations.revoke_token(admin.issuer(), jti, now + DEFAULT_MAX_TOKEN_LIFETIME).await,
        (None, Some(sub)) => revocations.revoke_subject(admin.issuer(), sub, now).await,
        _ => return json_error(StatusCode::BAD_REQUEST, "give exactly one of jti or sub"),
    };
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(RevocationError::InvalidEntry) => json_error(StatusCode::BAD_REQUEST, "jti or sub is empty or too long"),
        Err(error @ (RevocationError::Full | RevocationError::NotShared(_))) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "error": "temporarily_unavailable", "error_description": error.to_string() })),
        )
            .into_response(),
        Err(error) => json_error(StatusCode::BAD_REQUEST, &error.to_string()),
    }
}

/// A `4xx`/`5xx` with a JSON body `{"error": code, "message": text}`. The texts are fixed: no
/// parser internals, nothing echoed from the request.
fn refuse(status: StatusCode, error: &str, message: &str) -> Response {
    (status, Json(json!({ "error": error, "message": message }))).into_response()
}

/// A refusal of a request body, answered with [`refuse`].
struct Refused(StatusCode, &'static str, String);

impl Refused {
    fn new(status: StatusCode, error: &'static str, message: &str) -> Self {
        Self(status, error, message.to_owned())
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        refuse(self.0, self.1, &self.2)
    }
}

async fn me(Claims(claims): Claims<AccessTokenClaims>, scopes: Scopes) -> Json<serde_json::Value> {
    Json(json!({
        "sub": claims.sub,
        "client_id": claims.client_id,
        "scopes": scopes.iter().collect::<Vec<_>>(),
    }))
}

/// `GET /notes?limit=&after=`: the page of notes with ids above `after`.
#[derive(Debug, Deserialize)]
struct Page {
    limit: Option<usize>,
    after: Option<u64>,
}

/// Lists notes in id order, a page at a time. When more follow, a `Link: <…>; rel="next"`
/// header (RFC 8288) gives the next page; the body stays a plain array.
async fn list_notes(
    _: RequireScope<NotesRead>,
    State(notes): State<Notes>,
    page: Result<Query<Page>, QueryRejection>,
) -> Response {
    let bad_page = || {
        let message = format!("`limit` must be a whole number from 1 to {MAX_PAGE}, `after` a note id");
        refuse(StatusCode::BAD_REQUEST, "invalid_query", &message)
    };
    let Ok(Query(page)) = page else { return bad_page() };
    let limit = page.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return bad_page();
    }
    let after = page.after.unwrap_or(0);
    let store = notes.lock();
    let mut rest = store.range((Bound::Excluded(after), Bound::Unbounded)).map(|(_, note)| note);
    let listed: Vec<Note> = rest.by_ref().take(limit).cloned().collect();
    let more = rest.next().is_some();
    drop(store);
    let mut response = Json(&listed).into_response();
    if let (true, Some(last)) = (more, listed.last()) {
        let link = format!("</notes?after={}&limit={limit}>; rel=\"next\"", last.id);
        if let Ok(value) = HeaderValue::from_str(&link) {
            response.headers_mut().insert(header::LINK, value);
        }
    }
    response
}

/// Reads `{"text": "…"}` and nothing else: an object (not an array, which serde would read as
/// a struct), one string member `text` of 1 to [`MAX_TEXT_CHARS`] characters, no other member
/// (a typo like `"txt"` is refused rather than silently dropped).
fn new_note_text(body: Result<Json<serde_json::Value>, JsonRejection>) -> Result<String, Refused> {
    const SHAPE: &str = "body must be a JSON object like {\"text\": \"...\"}";
    let value = match body {
        Ok(Json(value)) => value,
        Err(rejection) => {
            return Err(match rejection.status() {
                StatusCode::UNSUPPORTED_MEDIA_TYPE => Refused::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "send the body with `Content-Type: application/json`",
                ),
                StatusCode::PAYLOAD_TOO_LARGE => {
                    Refused::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", "the body is too large")
                }
                _ => Refused::new(StatusCode::BAD_REQUEST, "invalid_json", "body is not valid JSON"),
            });
        }
    };
    let serde_json::Value::Object(mut members) = value else {
        return Err(Refused::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", SHAPE));
    };
    let text = match members.remove("text") {
        Some(serde_json::Value::String(text)) => text,
        Some(_) => {
            return Err(Refused::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", "`text` must be a string"));
        }
        None => return Err(Refused::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", SHAPE)),
    };
    if !members.is_empty() {
        let message = "unknown member: only `text` is accepted";
        return Err(Refused::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", message));
    }
    if text.is_empty() {
        return Err(Refused::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", "`text` must not be empty"));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        let message = format!("`text` is longer than {MAX_TEXT_CHARS} characters");
        return Err(Refused::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", &message));
    }
    Ok(text)
}

async fn create_note(
    _: RequireScope<NotesWrite>,
    Claims(claims): Claims<AccessTokenClaims>,
    State(notes): State<Notes>,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Response {
    let text = match new_note_text(body) {
        Ok(text) => text,
        Err(refusal) => return refusal.into_response(),
    };
    let mut store = notes.lock();
    if store.len() >= notes.capacity {
        let message = format!("the store holds {} notes, its maximum: delete some first", notes.capacity);
        return refuse(StatusCode::INSUFFICIENT_STORAGE, "store_full", &message);
    }
    let id = notes.next_id.fetch_add(1, Ordering::Relaxed) + 1;
    let note = Note { id, text, author: claims.sub.unwrap_or_default() };
    store.insert(id, note.clone());
    drop(store);
    (StatusCode::CREATED, Json(note)).into_response()
}

async fn delete_note(_: RequireScope<Admin>, State(notes): State<Notes>, Path(id): Path<u64>) -> StatusCode {
    match notes.lock().remove(&id) {
        Some(_) => StatusCode::NO_CONTENT,
        None => StatusCode::NOT_FOUND,
    }
}
