//! The revocation stage's cost on the hot path: a verified-token cache hit with the revocation
//! list off, on and empty, and on with 100 000 entries (none matching), all in the same run.
//!
//! ```text
//! cargo bench --bench revocation -- --warm-up-time 1 --measurement-time 5
//! ```

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use bearer_guard::revocation::RevocationConfig;
use bearer_guard::testing::TestIssuer;
use bearer_guard::{Algorithm, BearerGuard};
use criterion::{Criterion, criterion_group, criterion_main};

fn cache_hit(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let issuer = rt.block_on(TestIssuer::start_with(&[Algorithm::ES256]));
    let token = issuer.token().subject("alice").scopes(["notes:read"]).sign().expect("token");
    let guard = |revocation: Option<RevocationConfig>| {
        let builder = BearerGuard::builder()
            .issuer(issuer.issuer())
            .audience(TestIssuer::DEFAULT_AUDIENCE)
            .jwks_uri(issuer.jwks_uri());
        match revocation {
            Some(config) => builder.revocation(config),
            None => builder,
        }
        .build()
        .expect("guard")
    };
    let off = guard(None);
    let empty = guard(Some(RevocationConfig::new()));
    let full = guard(Some(RevocationConfig::new().max_entries(200_000)));
    rt.block_on(async {
        let r = full.revocations().expect("on");
        let exp = SystemTime::now() + Duration::from_secs(3600);
        for i in 0..50_000 {
            r.revoke_token(issuer.issuer(), format!("jti-{i}"), exp).await.expect("revoke");
            r.revoke_subject(issuer.issuer(), format!("user-{i}"), SystemTime::now()).await.expect("revoke");
        }
        for g in [&off, &empty, &full] {
            g.verify(&token).await.expect("verifies and is cached");
        }
    });

    let mut group = c.benchmark_group("verified-token cache hit (ES256)");
    group.bench_function("revocation list off", |b| b.iter(|| rt.block_on(off.verify(black_box(&token))).expect("ok")));
    group.bench_function("revocation list on, empty", |b| {
        b.iter(|| rt.block_on(empty.verify(black_box(&token))).expect("ok"))
    });
    group.bench_function("revocation list on, 100k entries", |b| {
        b.iter(|| rt.block_on(full.verify(black_box(&token))).expect("ok"))
    });
    group.finish();
}

criterion_group!(benches, cache_hit);
criterion_main!(benches);
