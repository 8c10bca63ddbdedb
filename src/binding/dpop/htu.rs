//! `htu` comparison (RFC 9449 §4.3 check 9): the proof's `htu` against the configured external
//! base URL plus the request path, both without query and fragment, after RFC 3986 §6.2.2
//! syntax-based normalization (case of scheme and host, percent-encoding of unreserved
//! characters and the case of hex digits, dot segments) and §6.2.3 scheme-based normalization
//! (default port, empty path is `/`).
//!
//! The request's `Host` header is never used: behind a proxy it is whatever the client sent.

use url::Url;

/// A normalized absolute URI without query and fragment, as compared for `htu`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Normalized(pub(crate) String);

/// The configured external base URL, normalized once.
#[derive(Debug, Clone)]
pub(crate) struct PublicBase {
    /// `scheme://host[:port]` plus the base path without its trailing `/`.
    prefix: String,
}

impl PublicBase {
    /// Parses `https://api.example.com` or `https://api.example.com/prefix`. Only `http` and
    /// `https`; no query, fragment or user info.
    pub(crate) fn parse(base: &str) -> Result<Self, &'static str> {
        let url = Url::parse(base).map_err(|_| "not an absolute URL")?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("scheme must be http or https");
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("no host");
        }
        if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
            return Err("query, fragment or user info are not allowed");
        }
        let normalized = normalize_url(&url);
        let prefix = normalized.0.trim_end_matches('/').to_owned();
        Ok(Self { prefix })
    }

    /// The normalized `htu` a request to `path` (as received, percent-encoded) must carry.
    pub(crate) fn expected(&self, path: &str) -> Normalized {
        let mut out = String::with_capacity(self.prefix.len() + path.len() + 1);
        out.push_str(&self.prefix);
        if !path.starts_with('/') {
            out.push('/');
        }
        out.push_str(path);
        // Dot segments and percent-encoding of the path are normalized like the proof's.
        match Url::parse(&out) {
            Ok(url) => normalize_url(&url),
            Err(_) => Normalized(out),
        }
    }
}

/// Normalizes a proof's `htu`; `None` when it is not an absolute http(s) URI.
pub(crate) fn normalize(htu: &str) -> Option<Normalized> {
    let url = Url::parse(htu).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return None;
    }
    Some(normalize_url(&url))
}

/// `Url` lowercases scheme and host, drops the default port, resolves dot segments and makes
/// an empty path `/`; this adds the percent-encoding rules of RFC 3986 §6.2.2.2 and §6.2.2.1
/// (decode unreserved characters, uppercase the hex digits of the rest).
fn normalize_url(url: &Url) -> Normalized {
    let mut out = String::with_capacity(url.as_str().len());
    out.push_str(url.scheme());
    out.push_str("://");
    if let Some(host) = url.host_str() {
        out.push_str(host);
    }
    if let Some(port) = url.port() {
        out.push(':');
        out.push_str(&port.to_string());
    }
    normalize_percent(url.path(), &mut out);
    Normalized(out)
}

fn normalize_percent(path: &str, out: &mut String) {
    let bytes = path.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%'
            && let (Some(h), Some(l)) = (bytes.get(i + 1).and_then(hex), bytes.get(i + 2).and_then(hex))
        {
            let c = h * 16 + l;
            if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') {
                out.push(char::from(c));
            } else {
                out.push('%');
                out.push(char::from(b"0123456789ABCDEF".get(usize::from(h)).copied().unwrap_or(b'0')));
                out.push(char::from(b"0123456789ABCDEF".get(usize::from(l)).copied().unwrap_or(b'0')));
            }
            i += 3;
            continue;
        }
        // `Url` keeps its path ASCII (it percent-encodes everything else).
        out.push(char::from(b));
        i += 1;
    }
}

fn hex(b: &u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> String {
        normalize(s).unwrap().0
    }

    #[test]
    fn scheme_and_host_case_default_port_and_empty_path() {
        assert_eq!(n("HTTPS://API.Example.COM:443"), "https://api.example.com/");
        assert_eq!(n("http://api.example.com:80/x"), "http://api.example.com/x");
        assert_eq!(n("https://api.example.com:8443/x"), "https://api.example.com:8443/x");
    }

    #[test]
    fn query_and_fragment_are_ignored() {
        assert_eq!(n("https://a.example/x?y=1#z"), "https://a.example/x");
    }

    #[test]
    fn percent_encoding_is_normalized() {
        assert_eq!(n("https://a.example/%7euser/%2f/%2F/a%2db"), "https://a.example/~user/%2F/%2F/a-b");
        assert_eq!(n("https://a.example/a/./b/../c"), "https://a.example/a/c");
    }

    #[test]
    fn path_case_is_significant() {
        assert_ne!(n("https://a.example/Notes"), n("https://a.example/notes"));
    }

    #[test]
    fn non_http_is_refused() {
        assert!(normalize("urn:x:y").is_none());
        assert!(normalize("/relative").is_none());
        assert!(normalize("ftp://a.example/").is_none());
    }

    #[test]
    fn base_with_a_prefix() {
        let base = PublicBase::parse("https://API.example.com:443/v1/").unwrap();
        assert_eq!(base.expected("/notes").0, "https://api.example.com/v1/notes");
        assert_eq!(base.expected("/notes").0, n("https://api.example.com/v1/notes?x"));
        assert!(PublicBase::parse("https://a.example/?q").is_err());
        assert!(PublicBase::parse("ws://a.example/").is_err());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn segment() -> impl Strategy<Value = String> {
            "[A-Za-z0-9._~!$&'()*+,;=:@-]{1,8}".prop_filter("no dot segments", |s| s != "." && s != "..")
        }

        fn path() -> impl Strategy<Value = String> {
            prop::collection::vec(segment(), 0..4).prop_map(|s| format!("/{}", s.join("/")))
        }

        fn host() -> impl Strategy<Value = String> {
            "[a-z][a-z0-9]{0,10}(\\.[a-z][a-z0-9]{0,5}){0,2}"
        }

        fn flip_case(s: &str, mask: u64) -> String {
            s.chars()
                .enumerate()
                .map(|(i, c)| if mask >> (i % 64) & 1 == 1 { c.to_ascii_uppercase() } else { c })
                .collect()
        }

        /// Percent-encodes the unreserved characters selected by `mask`, with hex digits in
        /// either case.
        fn encode_unreserved(path: &str, mask: u64) -> String {
            path.chars()
                .enumerate()
                .map(|(i, c)| {
                    if (c.is_ascii_alphanumeric() || "-._~".contains(c)) && mask >> (i % 64) & 1 == 1 {
                        if i % 2 == 0 { format!("%{:02X}", c as u8) } else { format!("%{:02x}", c as u8) }
                    } else {
                        c.to_string()
                    }
                })
                .collect()
        }

        proptest! {
            #[test]
            fn normalization_is_idempotent(scheme in "https?", host in host(), path in path()) {
                let once = n(&format!("{scheme}://{host}{path}"));
                prop_assert_eq!(n(&once), once);
            }

            #[test]
            fn scheme_and_host_case_do_not_matter(host in host(), path in path(), mask in any::<u64>()) {
                let plain = n(&format!("https://{host}{path}"));
                let mixed = n(&format!("{}://{}{path}", flip_case("https", mask), flip_case(&host, mask.rotate_left(7))));
                prop_assert_eq!(mixed, plain);
            }

            #[test]
            fn the_default_port_does_not_matter(host in host(), path in path()) {
                prop_assert_eq!(n(&format!("https://{host}:443{path}")), n(&format!("https://{host}{path}")));
                prop_assert_eq!(n(&format!("http://{host}:80{path}")), n(&format!("http://{host}{path}")));
                prop_assert_ne!(n(&format!("https://{host}:8443{path}")), n(&format!("https://{host}{path}")));
            }

            #[test]
            fn encoding_unreserved_characters_does_not_matter(host in host(), path in path(), mask in any::<u64>()) {
                let encoded = encode_unreserved(&path, mask);
                prop_assert_eq!(n(&format!("https://{host}{encoded}")), n(&format!("https://{host}{path}")));
            }

            #[test]
            fn query_and_fragment_never_matter(host in host(), path in path(), q in "[a-z0-9=&]{0,10}", f in "[a-z0-9]{0,6}") {
                prop_assert_eq!(n(&format!("https://{host}{path}?{q}#{f}")), n(&format!("https://{host}{path}")));
            }

            #[test]
            fn different_paths_stay_different(host in host(), a in path(), b in path()) {
                prop_assume!(a.trim_end_matches('/') != b.trim_end_matches('/') && a != b);
                prop_assert_ne!(n(&format!("https://{host}{a}")), n(&format!("https://{host}{b}")));
            }

            #[test]
            fn the_expected_htu_is_the_normalized_public_url(host in host(), prefix in path(), path in path(), mask in any::<u64>()) {
                let base = PublicBase::parse(&format!("https://{host}{prefix}")).unwrap();
                let joined = format!("https://{host}{}{path}", prefix.trim_end_matches('/'));
                prop_assert_eq!(base.expected(&encode_unreserved(&path, mask)).0, n(&joined));
            }
        }
    }
}
