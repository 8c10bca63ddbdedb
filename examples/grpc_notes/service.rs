//! The notes service (tonic) and the server stack that protects it; shared by the example's
//! `main.rs` and the gRPC tests.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use bearer_guard::grpc::{self, MethodScopes};
use bearer_guard::{BearerGuard, RequireScope};
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

/// Generated from `proto/notes.proto` (see tools/protogen).
#[allow(clippy::all, dead_code, missing_docs, unreachable_pub)]
pub mod pb {
    include!("notes.v1.rs");
}

use pb::notes_server::{Notes, NotesServer};
use pb::{
    AddNoteRequest, DeleteNoteRequest, DeleteNoteResponse, ListNotesRequest, ListNotesResponse, Note, WatchNotesRequest,
};

/// Which scope each method needs: the whole service's policy in one place.
pub fn method_scopes() -> MethodScopes {
    MethodScopes::new()
        .method("/notes.v1.Notes/List", ["notes:read"])
        .method("/notes.v1.Notes/Watch", ["notes:read"])
        .method("/notes.v1.Notes/Add", ["notes:write"])
    // Delete checks `admin` in its handler instead, to show the typed form.
}

bearer_guard::scopes! {
    /// May delete notes.
    pub struct Admin = "admin";
}

/// Serves the notes service on `listener`, behind `guard`, until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    guard: &BearerGuard,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    // The table's names are literals checked by the tests: an error here is a programming bug.
    #[allow(clippy::expect_used)]
    let scopes = method_scopes().layer().expect("valid scope table");
    tonic::transport::Server::builder()
        .layer(guard.layer()) // verifies the token (gRPC-native refusals)
        .layer(scopes) // then the method's scope
        .add_service(NotesServer::new(NotesService::default()))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}

/// The notes, in memory.
#[derive(Debug, Clone)]
pub struct NotesService {
    state: Arc<Mutex<State>>,
    added: broadcast::Sender<Note>,
}

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    notes: BTreeMap<u64, Note>,
}

impl Default for NotesService {
    fn default() -> Self {
        Self { state: Arc::default(), added: broadcast::channel(64).0 }
    }
}

impl NotesService {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

type NoteStream = Pin<Box<dyn Stream<Item = Result<Note, Status>> + Send>>;

#[tonic::async_trait]
impl Notes for NotesService {
    async fn list(&self, _request: Request<ListNotesRequest>) -> Result<Response<ListNotesResponse>, Status> {
        // `notes:read` was checked by the method-scope layer.
        let notes = self.state().notes.values().cloned().collect();
        Ok(Response::new(ListNotesResponse { notes }))
    }

    async fn add(&self, request: Request<AddNoteRequest>) -> Result<Response<Note>, Status> {
        let author = grpc::verified_token(&request)?.subject().unwrap_or_default().to_owned();
        let text = request.into_inner().text;
        if text.is_empty() || text.len() > 1000 {
            return Err(Status::invalid_argument("text must be 1 to 1000 bytes"));
        }
        let note = {
            let mut state = self.state();
            state.next_id += 1;
            let note = Note { id: state.next_id, text, author };
            state.notes.insert(note.id, note.clone());
            note
        };
        let _ = self.added.send(note.clone()); // no watchers is fine
        Ok(Response::new(note))
    }

    async fn delete(&self, request: Request<DeleteNoteRequest>) -> Result<Response<DeleteNoteResponse>, Status> {
        RequireScope::<Admin>::check(&request)?;
        let id = request.into_inner().id;
        match self.state().notes.remove(&id) {
            Some(_) => Ok(Response::new(DeleteNoteResponse {})),
            None => Err(Status::not_found(format!("no note {id}"))),
        }
    }

    type WatchStream = NoteStream;

    async fn watch(&self, _request: Request<WatchNotesRequest>) -> Result<Response<Self::WatchStream>, Status> {
        let added = BroadcastStream::new(self.added.subscribe());
        let existing: Vec<Note> = self.state().notes.values().cloned().collect();
        let stream = tokio_stream::iter(existing.into_iter().map(Ok)).chain(added.filter_map(|note| note.ok().map(Ok)));
        Ok(Response::new(Box::pin(stream)))
    }
}

/// The tiny client of `cargo run --example grpc_notes -- client …`.
pub async fn client(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let usage = "usage: grpc_notes client <http://host:port> <token> list | add <text> | delete <id> | watch [n]";
    let [url, token, command, rest @ ..] = args else {
        return Err(usage.into());
    };
    let channel = tonic::transport::Endpoint::from_shared(url.clone())?.connect().await?;
    let authorization: tonic::metadata::MetadataValue<_> = format!("Bearer {token}").parse()?;
    let mut client = pb::notes_client::NotesClient::with_interceptor(channel, move |mut request: Request<()>| {
        request.metadata_mut().insert("authorization", authorization.clone());
        Ok(request)
    });
    let result = match (command.as_str(), rest) {
        ("list", []) => client.list(ListNotesRequest {}).await.map(|r| format!("{:?}", r.into_inner().notes)),
        ("add", [text]) => {
            client.add(AddNoteRequest { text: text.clone() }).await.map(|r| format!("{:?}", r.into_inner()))
        }
        ("delete", [id]) => client.delete(DeleteNoteRequest { id: id.parse()? }).await.map(|_| "deleted".to_owned()),
        ("watch", n) => {
            let limit: usize = n.first().map(|n| n.parse()).transpose()?.unwrap_or(usize::MAX);
            match client.watch(WatchNotesRequest {}).await {
                Ok(response) => {
                    let mut stream = response.into_inner().take(limit);
                    while let Some(note) = stream.next().await {
                        println!("{:?}", note?);
                    }
                    Ok("end of stream".to_owned())
                }
                Err(status) => Err(status),
            }
        }
        _ => return Err(usage.into()),
    };
    match result {
        Ok(text) => {
            println!("OK {text}");
            Ok(())
        }
        Err(status) => {
            let challenge = status.metadata().get("www-authenticate").and_then(|v| v.to_str().ok());
            println!("{:?}: {}", status.code(), status.message());
            if let Some(challenge) = challenge {
                println!("www-authenticate: {challenge}");
            }
            std::process::exit(1)
        }
    }
}

/// The address the server listens on, for the printed commands.
pub fn url(addr: SocketAddr) -> String {
    format!("http://{addr}")
}
