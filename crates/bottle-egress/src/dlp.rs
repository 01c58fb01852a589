//! Secret scanning of URLs, headers, bodies and WebSocket messages, on top
//! of the shared scanner (`bottle-secrets`).

use crate::config::DlpData;
use crate::exfil::entropy;
use crate::reasons::rule;
use bottle_secrets::{DecodeError, DecodeLimits, Scanner};
use http::HeaderMap;
use std::ops::ControlFlow;

/// The scanner's rule id for registered values (credentials, env secrets).
const KNOWN_SECRET: &str = "known-secret";

/// Why DLP refused: the rule that fired (a scanner rule id, or one of
/// [`rule::TOO_LARGE`] / [`rule::UNDECODABLE`]) and, for a rule finding,
/// its fingerprint (what `dlp_allow` names; never for known secrets, which
/// no allow entry can let out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hit {
    pub rule: String,
    pub fingerprint: Option<String>,
}

impl Hit {
    fn bare(rule: &str) -> Self {
        Self {
            rule: rule.to_string(),
            fingerprint: None,
        }
    }
}

/// A DLP verdict.
pub(crate) type Verdict = Result<(), Hit>;

pub(crate) struct Dlp {
    scanner: Scanner,
    /// Financial and personal data classes switched on.
    data: DlpData,
    limits: DecodeLimits,
    /// (exact host, fingerprint) pairs the user accepted.
    allow: Vec<(String, String)>,
}

impl Dlp {
    #[cfg(test)]
    pub fn new(scanner: Scanner, scan_limit: usize, allow: Vec<(String, String)>) -> Self {
        Self::with_data(scanner, scan_limit, allow, DlpData::default())
    }

    pub fn with_data(
        scanner: Scanner,
        scan_limit: usize,
        allow: Vec<(String, String)>,
        data: DlpData,
    ) -> Self {
        Self {
            scanner: scanner.with_profile(bottle_secrets::Profile::Egress),
            data,
            limits: DecodeLimits {
                max_bytes: scan_limit,
                ..DecodeLimits::default()
            },
            allow,
        }
    }

    pub fn scan_limit(&self) -> usize {
        self.limits.max_bytes
    }

    fn allowed(&self, host: &str, fingerprint: &str) -> bool {
        self.allow
            .iter()
            .any(|(h, f)| h.eq_ignore_ascii_case(host) && f == fingerprint)
    }

    /// Scan one payload and every decoded view of it, for a request to
    /// `host`. The first view with a finding decides; among its findings
    /// the most specific names the block (a `github-pat` says more than a
    /// `generic-api-key` on the same bytes). Findings the user accepted for
    /// this host (`dlp_allow`) do not count; known secrets always do.
    pub fn scan(&self, data: &[u8], host: &str) -> Verdict {
        self.scan_filtered(data, host, false, false)
    }

    /// [`Dlp::scan`] counting known secrets only: for values that carry a
    /// token shape by design (a presigned URL's access key id).
    pub fn scan_known(&self, data: &[u8], host: &str) -> Verdict {
        self.scan_filtered(data, host, true, false)
    }

    /// `known_only`: count known secrets only; `message`: a WebSocket
    /// message, where JWTs and `Bearer` values block too.
    fn scan_filtered(&self, data: &[u8], host: &str, known_only: bool, message: bool) -> Verdict {
        let mut hit: Option<Hit> = None;
        let walked = bottle_secrets::for_each_view(data, &self.limits, &mut |view| {
            let found = self.scanner.scan(view, None);
            let counts = |f: &&bottle_secrets::Finding| {
                f.rule_id == KNOWN_SECRET || (!known_only && !self.allowed(host, &f.fingerprint))
            };
            let best = found
                .iter()
                .filter(counts)
                .find(|f| !f.rule_id.starts_with("generic"))
                .or_else(|| found.iter().find(counts));
            match best {
                Some(f) => {
                    hit = Some(Hit {
                        rule: f.rule_id.clone(),
                        fingerprint: (f.rule_id != KNOWN_SECRET).then(|| f.fingerprint.clone()),
                    });
                    ControlFlow::Break(())
                }
                None if known_only => ControlFlow::Continue(()),
                None => match crate::pii::scan(&self.data, view)
                    .or_else(|| message.then(|| crate::pii::message_token(view)).flatten())
                {
                    Some(p) => {
                        let fp = bottle_secrets::fingerprint(p.rule, &p.value);
                        if self.allowed(host, &fp) {
                            return ControlFlow::Continue(());
                        }
                        hit = Some(Hit {
                            rule: p.rule.to_string(),
                            fingerprint: Some(fp),
                        });
                        ControlFlow::Break(())
                    }
                    None => ControlFlow::Continue(()),
                },
            }
        });
        match walked {
            Err(DecodeError::TooLarge { .. }) => Err(Hit::bare(rule::TOO_LARGE)),
            Err(_) => Err(Hit::bare(rule::UNDECODABLE)),
            Ok(_) => hit.map_or(Ok(()), Err),
        }
    }

    /// URL DLP of the path and query (the scanner's views undo percent
    /// encoding, however deep).
    pub fn url(&self, path_and_query: &str, host: &str) -> Verdict {
        self.scan(path_and_query.as_bytes(), host)
    }

    /// DLP of the host labels an agent chose (under a wildcard): each
    /// contiguous run of them joined, one per line, so a token split over
    /// labels (`AKIA1234.5678ABCD.x.example.com`) is seen whole. Bounded:
    /// at most a few labels are covered (more is refused as chunked).
    pub fn host_labels(&self, labels: &[&str], host: &str) -> Verdict {
        let n = labels.len().min(8);
        let mut text = labels.join(".");
        for i in 0..n {
            for j in (i + 2)..=n {
                text.push('\n');
                text.push_str(&labels[i..j].concat());
            }
        }
        self.scan(text.as_bytes(), host)
    }

    /// Header DLP over `name: value` lines, leaving out `skip` (the header a
    /// credential will overwrite: what the agent put there never leaves).
    pub fn headers(&self, headers: &HeaderMap, skip: &[http::HeaderName], host: &str) -> Verdict {
        let mut block = Vec::with_capacity(512);
        for (name, value) in headers {
            // The WebSocket key is a random nonce by protocol (and looks like
            // a key to generic rules); its shape is checked instead.
            if skip.contains(name) || name == http::header::SEC_WEBSOCKET_KEY {
                continue;
            }
            block.extend_from_slice(name.as_str().as_bytes());
            block.extend_from_slice(b": ");
            block.extend_from_slice(value.as_bytes());
            block.extend_from_slice(b"\n");
        }
        if let Some(k) = headers.get(http::header::SEC_WEBSOCKET_KEY)
            && !is_websocket_nonce(k.as_bytes())
        {
            return Err(Hit::bare(rule::UNDECODABLE));
        }
        // Percent-encoded values (cookies, Link headers) are one of the
        // scanner's views.
        self.scan(&block, host)
    }

    /// Body DLP: decompress by `Content-Encoding`, then scan with decoders.
    pub fn body(&self, content_encoding: Option<&str>, body: &[u8], host: &str) -> Verdict {
        if body.is_empty() {
            return Ok(());
        }
        match content_encoding
            .map(str::trim)
            .filter(|e| !e.is_empty() && !e.eq_ignore_ascii_case("identity"))
        {
            None => self.scan(body, host),
            Some(enc) => match bottle_secrets::decompress(
                &enc.to_ascii_lowercase(),
                body,
                self.limits.max_bytes,
            ) {
                Ok(plain) => self.scan(&plain, host),
                Err(DecodeError::TooLarge { .. }) => Err(Hit::bare(rule::TOO_LARGE)),
                Err(_) => Err(Hit::bare(rule::UNDECODABLE)),
            },
        }
    }
}

/// Bytes of the previous WebSocket message scanned again in front of the
/// next one, so a token split across two messages is seen whole. Longer
/// than any token the rules know; the first half already left, but a
/// fragment of a prefixed token blocks on its own (egress profile).
pub(crate) const MESSAGE_CARRY: usize = 256;

impl Dlp {
    /// DLP of one WebSocket message, with the tail of the previous one in
    /// front (see [`MESSAGE_CARRY`]); `carry` is then updated.
    pub fn message(&self, carry: &mut Vec<u8>, message: &[u8], host: &str) -> Verdict {
        let mut joined = Vec::with_capacity(carry.len() + message.len());
        joined.extend_from_slice(carry);
        joined.extend_from_slice(message);
        let verdict = self.scan_filtered(&joined, host, false, true);
        let keep = joined.len().min(MESSAGE_CARRY);
        carry.clear();
        carry.extend_from_slice(&joined[joined.len() - keep..]);
        verdict
    }
}

/// Whether an environment value the bottle gives its agent (from the host's
/// `${VAR}` or asked at start) looks like a secret, so the launcher makes it
/// a known secret of the DLP (blocked toward every host): 12 or more
/// characters without whitespace, random-looking (character entropy of 3.2
/// bits or more, at least two of lower case, upper case and digits), and
/// not one of the shapes ordinary settings have — a path, an e-mail
/// address, a URL without a password, a name of short lower-case words
/// (`xterm-256color`, `eu-west-1.example.com`). A URL with a password in it
/// is a secret.
pub fn looks_secret(value: &str) -> bool {
    let v = value.trim();
    if v.len() < 12 || v.chars().any(char::is_whitespace) {
        return false;
    }
    if let Some((_, rest)) = v.split_once("://") {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        return authority
            .rsplit_once('@')
            .is_some_and(|(userinfo, _)| userinfo.contains(':'));
    }
    if v.starts_with(['/', '~', '.']) {
        return false;
    }
    if let Some((local, domain)) = v.split_once('@')
        && !local.is_empty()
        && domain.contains('.')
        && !domain.contains(['@', ':', '/'])
    {
        return false;
    }
    let b = v.as_bytes();
    let lower = b.iter().any(u8::is_ascii_lowercase);
    let upper = b.iter().any(u8::is_ascii_uppercase);
    let digit = b.iter().any(u8::is_ascii_digit);
    // Words, numbers and short lower-case ids between separators
    // (`Europe/Berlin`, `en_US.UTF-8`, `xterm-256color`).
    let seps: &[char] = &['.', '-', '_', '/', ':', '+', ',', '='];
    let wordy = b
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || seps.contains(&char::from(*c)))
        && v.split(seps).all(|w| {
            let wb = w.as_bytes();
            let letters = wb.iter().all(u8::is_ascii_alphabetic)
                && (wb.iter().skip(1).all(u8::is_ascii_lowercase)
                    || wb.iter().all(u8::is_ascii_uppercase));
            let digits = wb.iter().all(u8::is_ascii_digit);
            let lower_id = wb
                .iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
            (letters && w.len() <= 12) || (digits && w.len() <= 12) || (lower_id && w.len() <= 10)
        });
    if wordy {
        return false;
    }
    [lower, upper, digit].iter().filter(|x| **x).count() >= 2 && entropy(b) >= 3.2
}

/// A `Sec-WebSocket-Key`: base64 of exactly 16 bytes (RFC 6455 §4.1), so it
/// can carry no more than a nonce's worth of data.
fn is_websocket_nonce(v: &[u8]) -> bool {
    v.len() == 24
        && v.ends_with(b"==")
        && v[..22]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dlp(allow: Vec<(String, String)>) -> Dlp {
        Dlp::new(Scanner::builtin(), 1 << 20, allow)
    }

    fn token() -> String {
        // Made at run time: no token-shaped literal in the repository.
        format!("{}_{}", "ghp", "q8Zr2LkPw4XmN7vB1cD9eF3gH5jK6lM0nO2p")
    }

    #[test]
    fn findings_carry_a_fingerprint_that_dlp_allow_accepts_per_host() {
        let body = format!("fixture = \"{}\"", token());
        let hit = dlp(Vec::new())
            .scan(body.as_bytes(), "api.example.com")
            .unwrap_err();
        let fp = hit.fingerprint.clone().unwrap();
        assert_eq!(fp.len(), 64);
        let allowed = dlp(vec![("api.example.com".into(), fp.clone())]);
        allowed.scan(body.as_bytes(), "api.example.com").unwrap();
        // Only for that host.
        assert_eq!(allowed.scan(body.as_bytes(), "other.example.com"), Err(hit));
    }

    #[test]
    fn known_secrets_have_no_fingerprint_and_no_allow() {
        let mut scanner = Scanner::builtin();
        scanner.add_known_secret("OTP", b"correct-horse-battery-staple");
        let d = Dlp::new(scanner, 1 << 20, Vec::new());
        let hit = d.scan(b"x=correct-horse-battery-staple", "h").unwrap_err();
        assert_eq!(hit.rule, KNOWN_SECRET);
        assert_eq!(hit.fingerprint, None);
    }

    #[test]
    fn env_values_that_look_secret() {
        for v in [
            "sk-proj-4fQ9zR2kLm8XwP1vB7nC",
            "a81f3c9d2e7b4a60f1c8d9e2b3a47f50",
            "postgres://app:hunter2hunter2@db.internal/app",
            "Zq8vR2mK4pLx",
        ] {
            assert!(looks_secret(v), "{v}");
        }
        for v in [
            "short1A",
            "/home/alice/projects/app",
            "alice.smith@example.com",
            "https://registry.example.com/simple",
            "xterm-256color",
            "eu-west-1.example.com",
            "en_US.UTF-8",
            "Europe/Berlin",
            "correct horse battery staple",
            "aaaaaaaaaaaaaaaaAAAA",
        ] {
            assert!(!looks_secret(v), "{v}");
        }
    }

    #[test]
    fn a_token_split_across_websocket_messages_is_caught() {
        let d = dlp(Vec::new());
        let t = token();
        let (a, b) = t.split_at(5);
        let mut carry = Vec::new();
        d.message(&mut carry, format!("{{\"part\":\"{a}").as_bytes(), "h")
            .unwrap();
        assert!(d.message(&mut carry, b.as_bytes(), "h").is_err());
        // Benign twin: ordinary messages pass.
        let mut carry = Vec::new();
        for m in [
            "{\"type\":\"ping\"}",
            "{\"text\":\"hello ghp\"}",
            "_ is a prefix",
        ] {
            d.message(&mut carry, m.as_bytes(), "h").unwrap();
        }
    }
}
