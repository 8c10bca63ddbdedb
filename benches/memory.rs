//! Peak memory under hostile and heavy load, read from `/proc/self/status` (Linux).
//!
//! ```text
//! cargo bench --bench memory                 # 100k tokens per phase, 60 s flood
//! TOKENS=20000 FLOOD_SECS=10 cargo bench --bench memory
//! ```
//!
//! Phases, one process, RSS read after each: (1) 100k distinct valid tokens through a guard with
//! the verified-token cache on (bounded at its default 10 000 entries); (2) 100k tokens with
//! random unknown `kid`s (the random-kid flood); (3) distinct invalid tokens (random
//! signatures) for FLOOD_SECS seconds. Prints a Markdown table.

use std::time::{Duration, Instant};

use bearer_guard::testing::TestIssuer;
use bearer_guard::{Algorithm, BearerGuard, KeyCachePolicy};

fn status(field: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).map(|l| l[field.len()..].trim().to_owned()))
        .unwrap_or_else(|| "n/a".to_owned())
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return; // `cargo test --benches` / `cargo bench --no-run` probes: nothing to do.
    }
    let tokens = env("TOKENS", 100_000);
    let flood = Duration::from_secs(env("FLOOD_SECS", 60));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let issuer = TestIssuer::start_with(&[Algorithm::EdDSA]).await;
        let mut policy = KeyCachePolicy::default();
        policy.cooldown = Duration::from_secs(30);
        let guard = BearerGuard::builder()
            .issuer(issuer.issuer())
            .audience(TestIssuer::DEFAULT_AUDIENCE)
            .jwks_uri(issuer.jwks_uri())
            .key_cache_policy(policy)
            .build()
            .expect("guard");
        let mut rows = vec![("start (issuer, guard, runtime)".to_owned(), status("VmRSS:"), status("VmHWM:"))];

        let started = Instant::now();
        for i in 0..tokens {
            let token = issuer.token().subject(format!("user-{i}")).sign().expect("token");
            guard.verify(&token).await.expect("valid token verifies");
        }
        rows.push((
            format!("{tokens} distinct valid tokens ({:.1?})", started.elapsed()),
            status("VmRSS:"),
            status("VmHWM:"),
        ));

        let started = Instant::now();
        let mut refused = 0u64;
        for i in 0..tokens {
            let token = issuer.token().kid(format!("random-{i}-{}", i.wrapping_mul(2654435761))).sign().expect("token");
            refused += u64::from(guard.verify(&token).await.is_err());
        }
        assert_eq!(refused, tokens, "every random-kid token is refused");
        rows.push((
            format!(
                "{tokens} random-kid tokens ({:.1?}, {} JWKS fetches in all)",
                started.elapsed(),
                issuer.jwks_requests()
            ),
            status("VmRSS:"),
            status("VmHWM:"),
        ));

        let good = issuer.token().sign().expect("token");
        let (head, _) = good.rsplit_once('.').expect("three segments");
        let started = Instant::now();
        let mut sent = 0u64;
        while started.elapsed() < flood {
            let forged = format!("{head}.{}", base64_of(sent));
            assert!(guard.verify(&forged).await.is_err());
            sent += 1;
        }
        rows.push((format!("{sent} distinct invalid tokens over {flood:?}"), status("VmRSS:"), status("VmHWM:")));

        println!("| phase | RSS after | peak RSS so far |\n|---|---:|---:|");
        for (phase, rss, hwm) in rows {
            println!("| {phase} | {rss} | {hwm} |");
        }
    });
}

/// A distinct, well-formed base64url "signature" of Ed25519 length for each counter value.
fn base64_of(n: u64) -> String {
    use base64::Engine;
    let mut bytes = [0u8; 64];
    bytes[..8].copy_from_slice(&n.to_le_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
