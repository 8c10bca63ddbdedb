//! Stage 1 of the request path: taking the token from a request (RFC 6750 §2).
//!
//! The `Authorization: Bearer` header is always read; the query parameter `access_token` and a
//! cookie are read only when enabled. The token must be token68 (RFC 7235) and no longer than
//! the size limit, which is checked before anything else looks at it.

use http::{HeaderMap, Uri, header};

use crate::error::{AuthError, InvalidRequest, InvalidToken};

/// Default limit on the token's length in bytes (16 KiB).
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 16 * 1024;

/// The authentication scheme a token came with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// `Authorization: Bearer` (or a query/cookie source, which are bearer tokens too).
    Bearer,
    /// `Authorization: DPoP` (RFC 9449), with a proof in the `DPoP` header.
    Dpop,
}

/// Where in the request the token was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// The `Authorization` header.
    Header,
    /// The `access_token` query parameter.
    Query,
    /// The configured cookie.
    Cookie,
}

/// The one token a request presents, with how and where it came. Borrowed from the request.
#[derive(Clone, Copy)]
pub(crate) struct Presented<'r> {
    pub(crate) scheme: Scheme,
    pub(crate) source: Source,
    pub(crate) token: &'r str,
}

impl std::fmt::Debug for Presented<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token itself.
        f.debug_struct("Presented").field("scheme", &self.scheme).field("source", &self.source).finish_non_exhaustive()
    }
}

/// Where tokens are looked for, and how large they may be.
#[derive(Debug, Clone)]
pub(crate) struct TokenSources {
    pub(crate) max_bytes: usize,
    pub(crate) query: bool,
    pub(crate) cookie: Option<String>,
    /// Whether `Authorization: DPoP` is read (RFC 9449); when off it is a foreign scheme.
    pub(crate) dpop: bool,
}

impl Default for TokenSources {
    fn default() -> Self {
        Self { max_bytes: DEFAULT_MAX_TOKEN_BYTES, query: false, cookie: None, dpop: false }
    }
}

impl TokenSources {
    /// Finds the one token of a request and checks its size. The token68 grammar is checked by
    /// the verifier ([`check_syntax`]), after the verified-token cache: a token found there
    /// passed it when it was verified, so the hot path need not scan it again.
    ///
    /// `Ok(None)` means no token anywhere (or only credentials of another scheme).
    pub(crate) fn extract<'r>(&self, headers: &'r HeaderMap, uri: &'r Uri) -> Result<Option<Presented<'r>>, AuthError> {
        let mut found =
            self.header_token(headers)?.map(|(scheme, token)| Presented { scheme, source: Source::Header, token });
        if self.query
            && let Some(token) = at_most_one(from_query(uri))?
        {
            found = one_source(found, Presented { scheme: Scheme::Bearer, source: Source::Query, token })?;
        }
        if let Some(name) = &self.cookie
            && let Some(token) = at_most_one(from_cookie(headers, name))?
        {
            found = one_source(found, Presented { scheme: Scheme::Bearer, source: Source::Cookie, token })?;
        }
        match found {
            Some(presented) => self.check(presented.token).map(|_| Some(presented)),
            None => Ok(None),
        }
    }

    fn header_token<'a>(&self, headers: &'a HeaderMap) -> Result<Option<(Scheme, &'a str)>, AuthError> {
        let mut values = headers.get_all(header::AUTHORIZATION).iter();
        let Some(value) = values.next() else { return Ok(None) };
        if values.next().is_some() {
            return Err(AuthError::InvalidRequest(InvalidRequest::SeveralAuthorizationHeaders));
        }
        let value = value
            .to_str()
            .map_err(|_| AuthError::InvalidRequest(InvalidRequest::BadTokenSyntax))?
            .trim_matches(|c| c == ' ' || c == '\t');
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        let scheme = if scheme.eq_ignore_ascii_case("bearer") {
            Scheme::Bearer
        } else if self.dpop && scheme.eq_ignore_ascii_case("dpop") {
            Scheme::Dpop
        } else {
            // Credentials of another scheme are not ours: answer as if there were no token.
            return Ok(None);
        };
        let token = rest.trim_start_matches(' ');
        if token.is_empty() {
            return Err(AuthError::InvalidRequest(InvalidRequest::EmptyToken));
        }
        Ok(Some((scheme, token)))
    }

    /// The size limit, before any other look at the token.
    pub(crate) fn check<'a>(&self, token: &'a str) -> Result<&'a str, AuthError> {
        if token.len() > self.max_bytes {
            return Err(AuthError::InvalidToken(InvalidToken::TooLarge));
        }
        Ok(token)
    }
}

/// The token68 grammar (RFC 7235), as a request error.
pub(crate) fn check_syntax(token: &str) -> Result<(), AuthError> {
    if is_token68(token) { Ok(()) } else { Err(AuthError::InvalidRequest(InvalidRequest::BadTokenSyntax)) }
}

fn one_source<'a>(found: Option<Presented<'a>>, another: Presented<'a>) -> Result<Option<Presented<'a>>, AuthError> {
    match found {
        Some(_) => Err(AuthError::InvalidRequest(InvalidRequest::SeveralTokenSources)),
        None => Ok(Some(another)),
    }
}

/// The one value of a source, or `invalid_request` when it repeats (RFC 6750 §3.1: "repeats
/// the same parameter").
fn at_most_one<'a>(mut values: impl Iterator<Item = &'a str>) -> Result<Option<&'a str>, AuthError> {
    let first = values.next();
    if values.next().is_some() {
        return Err(AuthError::InvalidRequest(InvalidRequest::RepeatedToken));
    }
    Ok(first)
}

fn from_query(uri: &Uri) -> impl Iterator<Item = &str> {
    // token68 characters need no percent-decoding except `+`, `/` and `=`, which JWTs
    // (base64url without padding) do not use; a percent-encoded token fails the grammar check.
    uri.query().into_iter().flat_map(|q| q.split('&')).filter_map(|pair| pair.strip_prefix("access_token="))
}

fn from_cookie<'h, 'n>(headers: &'h HeaderMap, name: &'n str) -> impl Iterator<Item = &'h str> + use<'h, 'n> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).filter_map(
        move |pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then_some(v)
        },
    )
}

/// RFC 7235 token68: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
pub(crate) fn is_token68(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    !body.is_empty() && body.bytes().all(|b| TOKEN68.get(usize::from(b)).copied().unwrap_or(false))
}

/// The token68 characters before the padding, as a table: this runs over every byte of every
/// token, and a lookup is several times faster than a chain of comparisons.
#[allow(clippy::indexing_slicing)] // `b < 256` is the loop condition; evaluated at compile time.
static TOKEN68: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0usize;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
        b += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    /// Extraction followed by the grammar check, as a request goes through them.
    fn extract(src: &TokenSources, values: &[&str], uri: &str) -> Result<Option<String>, AuthError> {
        let (headers, uri) = (headers(values), uri.parse().unwrap());
        let token = src.extract(&headers, &uri)?.map(|p| p.token);
        if let Some(t) = token {
            check_syntax(t)?;
        }
        Ok(token.map(str::to_owned))
    }

    #[test]
    fn scheme_is_case_insensitive() {
        let s = TokenSources::default();
        for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
            assert_eq!(extract(&s, &[&format!("{scheme} a.b.c")], "/").unwrap().as_deref(), Some("a.b.c"));
        }
    }

    #[test]
    fn no_header_is_no_token() {
        assert_eq!(extract(&TokenSources::default(), &[], "/").unwrap(), None);
    }

    #[test]
    fn other_schemes_are_no_token() {
        let s = TokenSources::default();
        assert_eq!(extract(&s, &["Basic dXNlcjpwYXNz"], "/").unwrap(), None);
        assert_eq!(extract(&s, &["DPoP a.b.c"], "/").unwrap(), None);
        assert_eq!(extract(&s, &["Bearera.b.c"], "/").unwrap(), None);
    }

    #[test]
    fn two_authorization_headers_are_invalid_request() {
        let e = extract(&TokenSources::default(), &["Bearer a.b.c", "Bearer a.b.c"], "/").unwrap_err();
        assert_eq!(e, AuthError::InvalidRequest(InvalidRequest::SeveralAuthorizationHeaders));
    }

    #[test]
    fn empty_bearer_is_invalid_request() {
        let e = extract(&TokenSources::default(), &["Bearer"], "/").unwrap_err();
        assert_eq!(e, AuthError::InvalidRequest(InvalidRequest::EmptyToken));
        let e = extract(&TokenSources::default(), &["Bearer    "], "/").unwrap_err();
        assert_eq!(e, AuthError::InvalidRequest(InvalidRequest::EmptyToken));
    }

    #[test]
    fn bad_grammar_is_invalid_request() {
        for bad in ["Bearer a b", "Bearer a,b", "Bearer a\"b", "Bearer ===", "Bearer a=b"] {
            let e = extract(&TokenSources::default(), &[bad], "/").unwrap_err();
            assert_eq!(e, AuthError::InvalidRequest(InvalidRequest::BadTokenSyntax), "{bad}");
        }
    }

    #[test]
    fn token68_table_matches_the_grammar() {
        for b in 0u8..=255 {
            let expected = b.is_ascii_alphanumeric() || b"-._~+/".contains(&b);
            assert_eq!(is_token68(std::str::from_utf8(&[b]).unwrap_or("\u{0}")), expected && b < 128, "{b}");
        }
    }

    #[test]
    fn padding_at_the_end_is_token68() {
        assert!(is_token68("abc=="));
        assert!(!is_token68("=abc"));
    }

    #[test]
    fn size_limit_is_checked_before_grammar() {
        let s = TokenSources { max_bytes: 8, ..TokenSources::default() };
        let e = extract(&s, &["Bearer 123456789 with spaces"], "/").unwrap_err();
        assert_eq!(e, AuthError::InvalidToken(InvalidToken::TooLarge));
        let e = extract(&s, &["Bearer 123456789"], "/").unwrap_err();
        assert_eq!(e, AuthError::InvalidToken(InvalidToken::TooLarge));
        assert!(extract(&s, &["Bearer 12345678"], "/").unwrap().is_some());
    }

    #[test]
    fn query_token_is_ignored_unless_enabled() {
        let off = TokenSources::default();
        assert_eq!(extract(&off, &[], "/x?access_token=a.b.c").unwrap(), None);
        let on = TokenSources { query: true, ..TokenSources::default() };
        assert_eq!(extract(&on, &[], "/x?y=1&access_token=a.b.c").unwrap().as_deref(), Some("a.b.c"));
        let e = extract(&on, &["Bearer a.b.c"], "/x?access_token=a.b.c").unwrap_err();
        assert_eq!(e, AuthError::InvalidRequest(InvalidRequest::SeveralTokenSources));
    }

    #[test]
    fn a_repeated_query_or_cookie_token_is_invalid_request() {
        let on = TokenSources { query: true, cookie: Some("at".into()), ..TokenSources::default() };
        let e = extract(&on, &[], "/x?access_token=a.b.c&access_token=d.e.f").unwrap_err();
        assert_eq!(e, AuthError::InvalidRequest(InvalidRequest::RepeatedToken));
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("at=a.b.c; at=d.e.f"));
        let e = on.extract(&h, &"/".parse().unwrap()).unwrap_err();
        assert_eq!(e, AuthError::InvalidRequest(InvalidRequest::RepeatedToken));
    }

    #[test]
    fn cookie_token_is_read_when_enabled() {
        let on = TokenSources { cookie: Some("at".into()), ..TokenSources::default() };
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("theme=dark; at=a.b.c"));
        let root: Uri = "/".parse().unwrap();
        let found = on.extract(&h, &root).unwrap().unwrap();
        assert_eq!((found.token, found.source), ("a.b.c", Source::Cookie));
        assert!(TokenSources::default().extract(&h, &"/".parse().unwrap()).unwrap().is_none());
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer a.b.c"));
        let e = on.extract(&h, &"/".parse().unwrap()).unwrap_err();
        assert_eq!(e, AuthError::InvalidRequest(InvalidRequest::SeveralTokenSources));
    }
}
