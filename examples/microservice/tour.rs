//! The ready-to-paste `curl` commands the example prints when it runs its own test issuer, each
//! with the answer it promises (the example's test runs every one of them).

use bearer_guard::testing::{TestIssuer, TestIssuerError};

/// One request to try, and what it answers.
#[derive(Debug, Clone)]
pub struct Try {
    /// What it shows, printed as a `#` comment.
    pub what: &'static str,
    /// The status it answers (the example's test checks it; `what` says it to the reader).
    #[allow(dead_code)]
    pub status: u16,
    pub method: &'static str,
    pub path: &'static str,
    pub token: Option<String>,
    /// A JSON body, sent with `Content-Type: application/json`.
    pub body: Option<&'static str>,
}

impl Try {
    /// The `curl` command for it, against `base` (`http://host:port`).
    pub fn curl(&self, base: &str) -> String {
        let mut command = String::from("curl -i");
        if self.method != "GET" && self.body.is_none() {
            command.push_str(&format!(" -X {}", self.method));
        }
        command.push_str(&format!(" {base}{}", self.path));
        if let Some(token) = &self.token {
            command.push_str(&format!(" -H 'Authorization: Bearer {token}'"));
        }
        if let Some(body) = self.body {
            command.push_str(&format!(" -H 'Content-Type: application/json' -d '{body}'"));
        }
        command
    }
}

/// The tour, in the order it is printed: tokens for `alice` minted by `issuer` for `audience`.
pub fn tour(issuer: &TestIssuer, audience: &str) -> Result<Vec<Try>, TestIssuerError> {
    let token = |scopes: &[&str], lifetime: i64| {
        issuer.token().audience(audience).subject("alice").scopes(scopes.iter().copied()).expires_in(lifetime).sign()
    };
    let read = token(&["notes:read"], 3600)?;
    let write = token(&["notes:read", "notes:write"], 3600)?;
    let admin = token(&["notes:read", "notes:write", "admin"], 3600)?;
    let expired = token(&["notes:read"], -3600)?;
    // An opaque token: the guard asks the test issuer's RFC 7662 endpoint, then caches the answer.
    let opaque =
        issuer.opaque_token().audience(audience).subject("alice").scopes(["notes:read"]).expires_in(3600).issue();
    let hello = Some(r#"{"text":"hello"}"#);
    let t = |what, status, method, path, token: Option<&String>, body| Try {
        what,
        status,
        method,
        path,
        token: token.cloned(),
        body,
    };
    Ok(vec![
        t("read only: GET /notes -> 200 (pages: ?limit=&after=)", 200, "GET", "/notes", Some(&read), None),
        t(
            "read only: POST /notes -> 403 insufficient_scope, scope=\"notes:write\"",
            403,
            "POST",
            "/notes",
            Some(&read),
            hello,
        ),
        t("read+write: POST /notes -> 201", 201, "POST", "/notes", Some(&write), hello),
        t("admin: DELETE /notes/1 -> 204 (404 if there is no note 1)", 204, "DELETE", "/notes/1", Some(&admin), None),
        t("expired: -> 401 invalid_token \"token has expired\"", 401, "GET", "/me", Some(&expired), None),
        t("opaque token (introspected, then cached): GET /notes -> 200", 200, "GET", "/notes", Some(&opaque), None),
        t("no token: -> 401 with a Bearer challenge (and a DPoP one unless DPOP=off)", 401, "GET", "/me", None, None),
    ])
}
