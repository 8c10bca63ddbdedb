//! Token extraction: one or two `Authorization` values, a `Cookie` value and a query string,
//! all arbitrary bytes. `authenticate` must answer, never panic.
//!
//! Input: byte 0 = flags (bits 0-1: number of Authorization headers 0..=2, bit 2: a Cookie
//! header, bit 3: the query), then `auth1 \n auth2 \n cookie \n query`.
#![no_main]

use bearer_guard::AuthError;
use bearer_guard_fuzz::{HEADER_GUARD, RT, split_parts};
use http::header::{AUTHORIZATION, COOKIE};
use http::{HeaderMap, HeaderValue, Uri};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else { return };
    let parts = split_parts(rest, 4);
    let mut headers = HeaderMap::new();
    for value in parts.iter().take(usize::from(flags & 3).min(2)) {
        let Ok(value) = HeaderValue::from_bytes(value) else { return };
        headers.append(AUTHORIZATION, value);
    }
    if flags & 4 != 0 {
        let Ok(value) = HeaderValue::from_bytes(parts[2]) else { return };
        headers.append(COOKIE, value);
    }
    let uri: Uri = if flags & 8 != 0 {
        let Ok(query) = std::str::from_utf8(parts[3]) else { return };
        match format!("/p?{query}").parse() {
            Ok(uri) => uri,
            Err(_) => return,
        }
    } else {
        Uri::from_static("/p")
    };
    let guard = &*HEADER_GUARD;
    let result = RT.block_on(guard.authenticate(&headers, &uri));
    // Oracles beyond "no panic": two Authorization headers are always refused as such, and a
    // request without any credential is a MissingToken (anonymous access is off).
    if headers.get_all(AUTHORIZATION).iter().count() == 2 {
        assert!(matches!(result, Err(AuthError::InvalidRequest(_))), "{result:?}");
    }
    if headers.is_empty() && uri.query().is_none() {
        assert_eq!(result.as_ref().err(), Some(&AuthError::MissingToken));
    }
});
