//! The header/claims decoding and verification path through `BearerGuard::verify`, on an
//! HMAC guard (cache on, lenient) and on a multi-issuer RSA/EC/Ed + HMAC guard (strict, no cache).
//!
//! Input: byte 0 = mode (mod 4), byte 1 = algorithm choice, then:
//! - 0: the rest is the token (lossy UTF-8);
//! - 1: `header \n payload \n signature`, each base64url-encoded and joined with `.`;
//! - 2: `header \n payload`, base64url-encoded and signed with the HMAC secret (HS256/384/512);
//! - 3: `payload JSON object \n header JSON object`, minted by the TestIssuer with its
//!   RSA/PSS/EC/Ed key of the chosen algorithm (claims and header parameters as given).
#![no_main]

use bearer_guard::{Algorithm, BearerGuard};
use bearer_guard_fuzz::{
    ASYM_GUARD, ASYM_ISSUER, HMAC_GUARD, HMAC_ISSUER, RT, TEST_ISSUER, b64, hmac_sign, split_parts,
};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

const HMAC_ALGS: [Algorithm; 3] = [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];
const ASYM_ALGS: [Algorithm; 5] =
    [Algorithm::RS256, Algorithm::PS256, Algorithm::ES256, Algorithm::ES384, Algorithm::EdDSA];

fn object(bytes: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice(bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

fn check(guard: &BearerGuard, token: &str, forged: bool) {
    let result = RT.block_on(guard.verify(token));
    if let Ok(verified) = result {
        // A token with a signature the fuzzer made up (mode 1; its seeds carry no valid
        // signature) must never verify.
        assert!(!forged, "forged token verified: {token:?}");
        let iss = verified.claims().get("iss").and_then(Value::as_str);
        assert_eq!(iss, Some(verified.issuer()));
        assert!([HMAC_ISSUER, ASYM_ISSUER].contains(&verified.issuer()));
        let exp = verified.claims().get("exp").and_then(Value::as_f64).expect("verified token has a numeric exp");
        assert_eq!(exp, verified.expires_at_secs());
        let _ = verified.expires_at();
        let _ = format!("{verified:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let [mode, alg, rest @ ..] = data else { return };
    let (token, forged) = match mode % 4 {
        0 => (String::from_utf8_lossy(rest).into_owned(), false),
        1 => {
            let p = split_parts(rest, 3);
            (format!("{}.{}.{}", b64(p[0]), b64(p[1]), b64(p[2])), true)
        }
        2 => {
            let p = split_parts(rest, 2);
            (hmac_sign(p[0], p[1], HMAC_ALGS[usize::from(*alg) % 3]), false)
        }
        _ => {
            let p = split_parts(rest, 2);
            let Some(claims) = object(p[0]) else { return };
            let header = object(p[1]).unwrap_or_default();
            let mut builder = TEST_ISSUER.token().alg(ASYM_ALGS[usize::from(*alg) % 5]);
            for name in ["iss", "sub", "aud", "client_id", "iat", "exp", "jti"] {
                builder = builder.remove_claim(name);
            }
            for (name, value) in claims {
                builder = builder.claim(name, value);
            }
            for (name, value) in header {
                builder = builder.header(name, value);
            }
            let Ok(token) = builder.sign() else { return };
            (token, false)
        }
    };
    check(&HMAC_GUARD, &token, forged);
    check(&ASYM_GUARD, &token, forged);
});
