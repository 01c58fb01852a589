//! A refusal and the response that carries it.

use crate::body::{self, ProxyBody};
use crate::reasons::{BLOCK_HEADER, check, rule};
use http::header::{self, HeaderName, HeaderValue};
use http::{Response, StatusCode};

/// A refusal: status, check, rule and a human detail (never secret content).
#[derive(Debug, Clone)]
pub(crate) struct Block {
    pub status: StatusCode,
    pub check: &'static str,
    pub rule: String,
    pub detail: String,
    /// The DLP finding's fingerprint (what `dlp_allow` names), when the
    /// block is a scanner rule's finding.
    pub fingerprint: Option<String>,
    /// The refused address, for `ssrf` blocks (what `allow_cidrs` names).
    pub address: Option<std::net::IpAddr>,
}

impl Block {
    pub fn new(
        status: StatusCode,
        check: &'static str,
        rule: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            check,
            rule: rule.into(),
            detail: detail.into(),
            fingerprint: None,
            address: None,
        }
    }

    /// A DLP block for `hit` on a request to `host`: names the finding's
    /// fingerprint and how to accept it, when it has one.
    pub fn dlp(check: &'static str, hit: crate::dlp::Hit, what: &str, host: &str) -> Self {
        let detail = match &hit.fingerprint {
            Some(fp) => format!(
                "{what}\nfinding fingerprint: {fp}\nif this is expected (a test key the agent must send to {host}), accept it for this host in the bottle's egress table:\n  dlp_allow = [{{ host = \"{host}\", fingerprint = \"{fp}\" }}]"
            ),
            None if hit.rule == "known-secret" => format!(
                "{what}: a value this bottle knows as secret (a credential or an env value); to let the agent use a key with one host, declare it a credential of that host (the proxy injects it)"
            ),
            None => what.to_string(),
        };
        let mut b = Self::forbidden(check, hit.rule, detail);
        b.fingerprint = hit.fingerprint;
        b
    }

    pub fn forbidden(
        check: &'static str,
        rule: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Self::new(StatusCode::FORBIDDEN, check, rule, detail)
    }

    /// The plain-text body: check, rule and the detail.
    pub fn body_text(&self) -> String {
        format!(
            "bottle egress proxy: blocked by {}:{}\n{}\n",
            self.check, self.rule, self.detail
        )
    }

    pub fn header_value(&self) -> String {
        format!("{}:{}", self.check, self.rule)
    }

    /// The HTTP/1 reason phrase: the check, rule and the detail's first
    /// line, printable ASCII only. Clients that show only the status line
    /// (Python's urllib and `requests`, many libraries' exceptions) then
    /// still tell the reason: `403 Blocked by bottle (allowlist:host-not-allowed):
    /// example.com is not on this bottle's allowlist`.
    pub fn reason_phrase(&self) -> String {
        let first = self.detail.lines().next().unwrap_or("");
        let mut s: String = format!("Blocked by bottle ({}): {first}", self.header_value())
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() || c == ' ' {
                    c
                } else {
                    '?'
                }
            })
            .collect();
        if s.len() > 200 {
            s.truncate(197);
            s.push_str("...");
        }
        s
    }

    pub fn response(&self) -> Response<ProxyBody> {
        let text = self.body_text();
        let mut resp = Response::new(body::full(text));
        *resp.status_mut() = self.status;
        if let Ok(r) = hyper::ext::ReasonPhrase::try_from(self.reason_phrase().into_bytes()) {
            resp.extensions_mut().insert(r);
        }
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        if let Ok(v) = HeaderValue::from_str(&self.header_value()) {
            h.insert(HeaderName::from_static(BLOCK_HEADER), v);
        }
        resp
    }
}

/// The answer to a body over the scan limit.
pub(crate) fn too_large(limit: usize) -> Block {
    Block::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        check::DLP_BODY,
        rule::TOO_LARGE,
        format!("the request body exceeds the scan limit of {limit} bytes and cannot be checked"),
    )
}
