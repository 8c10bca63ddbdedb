//! Python `grpcio` (installed from PyPI into a venv under `target/` by
//! `tests/support/python_grpc.rs`) calls the `grpc_notes` example, started as a process, and
//! sees the same gRPC status codes as the tonic client in `tests/grpc.rs`.

#[path = "support/python_grpc.rs"]
mod python_grpc;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bearer_guard::testing::{Failure, TestIssuer};
use python_grpc::PythonGrpc;
use serde_json::{Value, json};

/// The example binary: built by `cargo test` with the tests; built here when it is missing or
/// older than the example's or the crate's sources (a `cargo test --test interop_grpcio` run).
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap().to_owned();
    let binary = profile_dir.join("examples").join("grpc_notes");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let built = std::fs::metadata(&binary).and_then(|m| m.modified()).ok();
    let stale = built.is_none_or(|built| {
        ["examples/grpc_notes", "src", "src/grpc"].iter().any(|dir| {
            std::fs::read_dir(root.join(dir))
                .into_iter()
                .flatten()
                .flatten()
                .any(|entry| entry.metadata().and_then(|m| m.modified()).is_ok_and(|modified| modified > built))
        })
    });
    if stale {
        let status =
            Command::new(env!("CARGO")).args(["build", "--example", "grpc_notes"]).current_dir(&root).status().unwrap();
        assert!(status.success(), "cargo build --example grpc_notes failed");
    }
    binary
}

/// The example running as a process; killed on drop.
struct Example {
    child: Child,
    address: String,
    tokens: HashMap<String, String>,
}

impl Example {
    fn start(env: &[(&str, &str)]) -> Example {
        let mut child = Command::new(example_binary())
            .env("LISTEN", "127.0.0.1:0")
            .env_remove("ISSUER")
            .env_remove("JWKS_URI")
            .env_remove("AUDIENCE")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut tokens = HashMap::new();
        let started = Instant::now();
        let address = loop {
            let Some(Ok(line)) = lines.next() else {
                let _ = child.kill();
                panic!("grpc_notes exited before READY");
            };
            if let Some(url) = line.strip_prefix("READY http://") {
                break url.to_owned();
            }
            if let Some((name, token)) = line.split_once('=')
                && name.ends_with("_TOKEN")
            {
                tokens.insert(name.to_owned(), token.to_owned());
            }
            assert!(started.elapsed() < Duration::from_secs(60), "grpc_notes not READY after 60 s");
        };
        // Keep draining stdout so the example never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Example { child, address, tokens }
    }

    fn token(&self, name: &str) -> &str {
        self.tokens.get(name).unwrap_or_else(|| panic!("the example printed no {name}"))
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn assert_answer(answer: &Value, code: &str, details: &str) {
    assert_eq!(answer["code"], code, "{answer}");
    assert_eq!(answer["details"], details, "{answer}");
}

#[test]
fn grpcio_client_sees_the_guards_status_codes() {
    let python = PythonGrpc::get();
    let example = Example::start(&[]);
    let (read, write, admin, expired) = (
        example.token("READ_TOKEN"),
        example.token("WRITE_TOKEN"),
        example.token("ADMIN_TOKEN"),
        example.token("EXPIRED_TOKEN"),
    );
    let answers = python.call(
        &example.address,
        &json!([
            {"method": "Add", "token": write, "text": "from python"},
            {"method": "List", "token": read},
            {"method": "List", "token": null},
            {"method": "List", "token": expired},
            {"method": "List", "token": "not-a-jwt"},
            {"method": "List", "token": read, "twice": true},
            {"method": "Add", "token": read, "text": "denied"},
            {"method": "Delete", "token": write, "id": 1},
            {"method": "Watch", "token": read, "take": 1},
            {"method": "Watch", "token": null, "take": 1},
            {"method": "Watch", "token": write, "take": 1},
            {"method": "Delete", "token": admin, "id": 1},
            {"method": "List", "token": read},
        ]),
    );
    assert_eq!(answers.len(), 13);
    let note = json!({"id": 1, "text": "from python", "author": "alice"});

    assert_answer(&answers[0], "OK", "");
    assert_eq!(answers[0]["result"], note);
    assert_answer(&answers[1], "OK", "");
    assert_eq!(answers[1]["result"], json!([note]));

    assert_answer(&answers[2], "UNAUTHENTICATED", "no bearer token");
    assert_eq!(answers[2]["www_authenticate"], "Bearer realm=\"api\"");
    assert_answer(&answers[3], "UNAUTHENTICATED", "token has expired");
    assert_eq!(
        answers[3]["www_authenticate"],
        "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"token has expired\""
    );
    assert_answer(&answers[4], "UNAUTHENTICATED", "access token is not a well-formed JWT");
    assert_answer(&answers[5], "INVALID_ARGUMENT", "more than one Authorization header");

    assert_answer(&answers[6], "PERMISSION_DENIED", "token lacks a required scope");
    assert_eq!(
        answers[6]["www_authenticate"],
        "Bearer realm=\"api\", error=\"insufficient_scope\", \
         error_description=\"token lacks a required scope\", scope=\"notes:write\""
    );
    assert_answer(&answers[7], "PERMISSION_DENIED", "token lacks a required scope");
    assert!(answers[7]["www_authenticate"].as_str().unwrap().ends_with("scope=\"admin\""));

    // Server streaming: the same rules.
    assert_answer(&answers[8], "OK", "");
    assert_eq!(answers[8]["result"], json!([note]));
    assert_answer(&answers[9], "UNAUTHENTICATED", "no bearer token");
    assert_answer(&answers[10], "OK", ""); // WRITE_TOKEN also has notes:read

    assert_answer(&answers[11], "OK", "");
    assert_eq!(answers[12]["result"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcio_client_sees_unavailable_while_the_issuer_is_down_on_a_cold_cache() {
    let python = PythonGrpc::get();
    let issuer = TestIssuer::start().await;
    let token = issuer.token().subject("bob").scopes(["notes:read"]).sign().unwrap();
    issuer.set_failure(Failure::Down);
    let jwks_uri = issuer.jwks_uri();
    let example = Example::start(&[
        ("ISSUER", issuer.issuer()),
        ("JWKS_URI", &jwks_uri),
        ("AUDIENCE", TestIssuer::DEFAULT_AUDIENCE),
    ]);
    let list = json!([{"method": "List", "token": token}]);
    let answers = python.call(&example.address, &list);
    assert_answer(&answers[0], "UNAVAILABLE", "signing keys are temporarily unavailable");

    // The issuer comes back: after the Retry-After (5 s by default) the same token passes.
    issuer.set_failure(Failure::None);
    let started = Instant::now();
    loop {
        let answers = python.call(&example.address, &list);
        if answers[0]["code"] == "OK" {
            break;
        }
        assert_answer(&answers[0], "UNAVAILABLE", "signing keys are temporarily unavailable");
        assert!(started.elapsed() < Duration::from_secs(20), "still UNAVAILABLE 20 s after the issuer came back");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
