//! The notes API of the example microservice, as a router any test can mount in-process.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use bearer_guard::{AccessTokenClaims, BearerGuard, Claims, RequireScope, Scopes};
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

/// A note.
#[derive(Debug, Clone, Serialize)]
pub struct Note {
    pub id: u64,
    pub text: String,
    pub author: String,
}

#[derive(Debug, Deserialize)]
pub struct NewNote {
    pub text: String,
}

#[derive(Clone, Default)]
struct Notes {
    next_id: Arc<AtomicU64>,
    notes: Arc<Mutex<BTreeMap<u64, Note>>>,
}

impl Notes {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Note>> {
        self.notes.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The notes API: `/health` is open, everything else goes through `guard`.
pub fn router(guard: &BearerGuard) -> Router {
    let protected = Router::new()
        .route("/me", get(me))
        .route("/notes", get(list_notes).post(create_note))
        .route("/notes/{id}", delete(delete_note))
        .route_layer(guard.layer())
        .with_state(Notes::default());
    Router::new().route("/health", get(|| async { "ok" })).merge(protected)
}

async fn me(Claims(claims): Claims<AccessTokenClaims>, scopes: Scopes) -> Json<serde_json::Value> {
    Json(json!({
        "sub": claims.sub,
        "client_id": claims.client_id,
        "scopes": scopes.iter().collect::<Vec<_>>(),
    }))
}

async fn list_notes(_: RequireScope<NotesRead>, State(notes): State<Notes>) -> Json<Vec<Note>> {
    Json(notes.lock().values().cloned().collect())
}

async fn create_note(
    _: RequireScope<NotesWrite>,
    Claims(claims): Claims<AccessTokenClaims>,
    State(notes): State<Notes>,
    body: Result<Json<NewNote>, JsonRejection>,
) -> Response {
    let Json(new) = match body {
        Ok(body) => body,
        Err(rejection) => {
            let message = format!("expected a JSON body like {{\"text\": \"...\"}}: {}", rejection.body_text());
            return (rejection.status(), Json(json!({ "error": message }))).into_response();
        }
    };
    let id = notes.next_id.fetch_add(1, Ordering::Relaxed) + 1;
    let note = Note { id, text: new.text, author: claims.sub.unwrap_or_default() };
    notes.lock().insert(id, note.clone());
    (StatusCode::CREATED, Json(note)).into_response()
}

async fn delete_note(_: RequireScope<Admin>, State(notes): State<Notes>, Path(id): Path<u64>) -> StatusCode {
    match notes.lock().remove(&id) {
        Some(_) => StatusCode::NO_CONTENT,
        None => StatusCode::NOT_FOUND,
    }
}
