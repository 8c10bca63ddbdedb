//! RFC 7638 JWK thumbprints: base64url(SHA-256) of the key's required members, in
//! lexicographic order, as JSON without whitespace.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The thumbprint of a public JWK, or `None` when a required member is missing or not a
/// string, or the `kty` is not RSA, EC or OKP.
pub(crate) fn jwk_thumbprint(jwk: &Map<String, Value>) -> Option<String> {
    let members: &[&str] = match jwk.get("kty")?.as_str()? {
        "EC" => &["crv", "kty", "x", "y"],
        "RSA" => &["e", "kty", "n"],
        "OKP" => &["crv", "kty", "x"],
        _ => return None,
    };
    let mut canonical = String::with_capacity(256);
    canonical.push('{');
    for (i, name) in members.iter().enumerate() {
        let value = jwk.get(*name)?.as_str()?;
        if i > 0 {
            canonical.push(',');
        }
        canonical.push('"');
        canonical.push_str(name);
        canonical.push_str("\":");
        // serde_json escapes exactly as RFC 7638 §3.3 asks (RFC 8259 string rules).
        canonical.push_str(&serde_json::to_string(value).ok()?);
    }
    canonical.push('}');
    Some(URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc7638_section_3_1_example() {
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(
            jwk_thumbprint(jwk.as_object().unwrap()).as_deref(),
            Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
        );
    }

    #[test]
    fn optional_members_do_not_change_it_and_missing_ones_fail() {
        let a = json!({"kty": "EC", "crv": "P-256", "x": "eA", "y": "eQ"});
        let b = json!({"y": "eQ", "kid": "k", "x": "eA", "crv": "P-256", "kty": "EC", "use": "sig"});
        assert_eq!(jwk_thumbprint(a.as_object().unwrap()), jwk_thumbprint(b.as_object().unwrap()));
        let c = json!({"kty": "EC", "crv": "P-256", "x": "eA"});
        assert_eq!(jwk_thumbprint(c.as_object().unwrap()), None);
        let d = json!({"kty": "oct", "k": "eA"});
        assert_eq!(jwk_thumbprint(d.as_object().unwrap()), None);
    }
}
