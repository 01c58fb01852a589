//! Secret scanning of URLs, headers, bodies and WebSocket messages, on top
//! of the shared scanner (`bottle-secrets`).

use crate::config::DlpData;
use crate::exfil::entropy;
use crate::reasons::rule;
use bottle_secrets::{DecodeError, DecodeLimits, Scanner};
use http::HeaderMap;
use std::ops::ControlFlow;
use std::sync::Arc;

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
    /// What each site's responses issued (may go back to that site).
    issued: IssuedStore,
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
            issued: IssuedStore::default(),
        }
    }

    /// Where to remember the tokens a response of `host` issues.
    pub fn issued_for(&self, host: &str) -> Option<Arc<Issued>> {
        self.issued.for_host(host)
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
        self.scan_filtered(data, host, false, None)
    }

    /// [`Dlp::scan`] counting known secrets only: for values that carry a
    /// token shape by design (a presigned URL's access key id).
    pub fn scan_known(&self, data: &[u8], host: &str) -> Verdict {
        self.scan_filtered(data, host, true, None)
    }

    /// `known_only`: count known secrets only; `message`: a WebSocket
    /// message (with what the upstream sent down that connection), where
    /// JWTs and `Bearer` values block too, unless the upstream issued them.
    fn scan_filtered(
        &self,
        data: &[u8],
        host: &str,
        known_only: bool,
        message: Option<&Issued>,
    ) -> Verdict {
        let mut hit: Option<Hit> = None;
        // Looked up only when a finding needs it (a clean payload pays nothing).
        let site = std::cell::OnceCell::new();
        let site = || site.get_or_init(|| self.issued.get(host));
        let issued = |rule: &str, fp: &str| {
            message.is_some_and(|i| i.has_finding(rule, fp))
                || site().as_ref().is_some_and(|i| i.has_finding(rule, fp))
        };
        let walked = bottle_secrets::for_each_view_kind(data, &self.limits, &mut |view, kind| {
            let found = self.scanner.scan_view_of(view, kind);
            let counts = |f: &&bottle_secrets::Finding| {
                f.rule_id == KNOWN_SECRET
                    || (!known_only
                        && !self.allowed(host, &f.fingerprint)
                        && !issued(&f.rule_id, &f.fingerprint))
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
                None => match crate::pii::scan(&self.data, view).or_else(|| {
                    message.and_then(|i| {
                        crate::pii::message_token(view, |v| {
                            i.contains(v) || site().as_ref().is_some_and(|s| s.contains(v))
                        })
                    })
                }) {
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
    /// front (see [`MESSAGE_CARRY`]); `carry` is then updated. Values in
    /// `issued` (sent down by the upstream) may go back to it.
    pub fn message(
        &self,
        carry: &mut Vec<u8>,
        message: &[u8],
        host: &str,
        issued: &Issued,
    ) -> Verdict {
        let mut joined = Vec::with_capacity(carry.len() + message.len());
        joined.extend_from_slice(carry);
        joined.extend_from_slice(message);
        let verdict = self.scan_filtered(&joined, host, false, Some(issued));
        let keep = joined.len().min(MESSAGE_CARRY);
        carry.clear();
        carry.extend_from_slice(&joined[joined.len() - keep..]);
        verdict
    }
}

/// Shortest value [`Issued`] remembers (shorter ones are no token).
const ISSUED_MIN: usize = 16;
/// Longest value [`Issued`] remembers; a longer run is not remembered.
const ISSUED_VALUE_MAX: usize = 16 * 1024;
/// Values [`Issued`] holds in one generation; when it is full it becomes
/// the older generation and the oldest values are forgotten (which only
/// makes the check stricter).
const ISSUED_MAX: usize = 4096;
/// Registrable domains [`IssuedStore`] remembers values for; a response of
/// one more domain is not harvested.
const ISSUED_DOMAINS: usize = 256;
/// Bytes of one response body harvested (a token endpoint's answer is
/// small); a longer body is not.
pub(crate) const HARVEST_BODY_MAX: usize = 64 * 1024;

/// Token-shaped values an upstream sent the agent: down one WebSocket
/// connection (a session id, a JWT it issued), or in the JSON bodies and
/// `Set-Cookie` headers of a registrable domain's responses (a registry's
/// or an OAuth token endpoint's access token). The agent may send such a
/// value back to where it came from: it learnt it from there, so that side
/// has it already, and real protocols authenticate later requests that
/// way. Only an exact value counts, only for findings of rules and message
/// tokens, never for a known secret (those always block).
#[derive(Default)]
pub(crate) struct Issued {
    inner: std::sync::Mutex<IssuedInner>,
}

#[derive(Default)]
struct IssuedInner {
    values: std::collections::HashSet<Vec<u8>>,
    /// The previous generation of values.
    older: std::collections::HashSet<Vec<u8>>,
    /// A run of token bytes cut by the end of the last chunk.
    pending: Vec<u8>,
    /// The pending run grew past [`ISSUED_VALUE_MAX`]: drop it.
    overflow: bool,
    /// Per rule id, the fingerprints of every value of both generations
    /// (filled on first use).
    fingerprints: std::collections::HashMap<String, std::collections::HashSet<String>>,
}

fn issued_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b)
}

impl IssuedInner {
    fn remember(&mut self, run: &[u8]) {
        self.insert(run);
        // `token=VALUE` glued in a run: the value alone too; and a value
        // that ends a sentence.
        for (i, _) in run.iter().enumerate().filter(|(_, b)| **b == b'=') {
            if run[i + 1..].iter().any(|b| *b != b'=') {
                self.insert(&run[i + 1..]);
            }
        }
        if let Some(t) = run.strip_suffix(b".") {
            self.insert(t);
        }
    }

    fn insert(&mut self, v: &[u8]) {
        if v.len() < ISSUED_MIN
            || v.len() > ISSUED_VALUE_MAX
            || self.values.contains(v)
            || self.older.contains(v)
        {
            return;
        }
        if self.values.len() >= ISSUED_MAX {
            self.older = std::mem::take(&mut self.values);
            self.fingerprints.clear();
        }
        for (rule, fps) in &mut self.fingerprints {
            fps.insert(bottle_secrets::fingerprint(rule, v));
        }
        self.values.insert(v.to_vec());
    }
}

impl Issued {
    /// Remember the token-shaped runs of one chunk of the upstream's bytes
    /// (a run may go on in the next chunk).
    pub fn harvest(&self, chunk: &[u8]) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut i = 0;
        while i < chunk.len() {
            let s = i;
            while i < chunk.len() && issued_byte(chunk[i]) {
                i += 1;
            }
            let run = &chunk[s..i];
            let goes_on = s == 0 && (!g.pending.is_empty() || g.overflow);
            if i == chunk.len() {
                // The run may go on in the next chunk.
                if !goes_on {
                    g.pending.clear();
                }
                if g.overflow || g.pending.len() + run.len() > ISSUED_VALUE_MAX {
                    g.overflow = true;
                    g.pending.clear();
                } else {
                    g.pending.extend_from_slice(run);
                }
                return;
            }
            if goes_on {
                let mut whole = std::mem::take(&mut g.pending);
                if !std::mem::take(&mut g.overflow) {
                    whole.extend_from_slice(run);
                    g.remember(&whole);
                }
            } else {
                g.remember(run);
            }
            i += 1;
        }
    }

    /// Whether the upstream sent exactly this value.
    pub fn contains(&self, value: &[u8]) -> bool {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.values.contains(value) || g.older.contains(value)
    }

    /// Whether a scanner finding (rule and fingerprint) is over a value the
    /// upstream sent.
    pub fn has_finding(&self, rule: &str, fingerprint: &str) -> bool {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if g.values.is_empty() {
            return false;
        }
        if !g.fingerprints.contains_key(rule) {
            let fps = g
                .values
                .iter()
                .chain(&g.older)
                .map(|v| bottle_secrets::fingerprint(rule, v))
                .collect();
            g.fingerprints.insert(rule.to_string(), fps);
        }
        g.fingerprints[rule].contains(fingerprint)
    }
}

/// [`Issued`] values per registrable domain, for the whole proxy run: a
/// token one host of a site issued may go to any host of that site
/// (`auth.docker.io` issues, `registry-1.docker.io` takes it).
#[derive(Default)]
pub(crate) struct IssuedStore {
    by_domain: std::sync::Mutex<std::collections::HashMap<String, Arc<Issued>>>,
}

fn site(host: &str) -> String {
    bottle_policy::registrable_domain(host)
        .unwrap_or(host)
        .to_ascii_lowercase()
}

impl IssuedStore {
    /// What `host`'s site issued so far, if anything.
    fn get(&self, host: &str) -> Option<Arc<Issued>> {
        let m = self.by_domain.lock().unwrap_or_else(|e| e.into_inner());
        m.get(&site(host)).cloned()
    }

    /// Where to remember what `host` sends (`None` when the store is full).
    pub fn for_host(&self, host: &str) -> Option<Arc<Issued>> {
        let mut m = self.by_domain.lock().unwrap_or_else(|e| e.into_inner());
        let key = site(host);
        if let Some(i) = m.get(&key) {
            return Some(i.clone());
        }
        if m.len() >= ISSUED_DOMAINS {
            return None;
        }
        let i = Arc::new(Issued::default());
        m.insert(key, i.clone());
        Some(i)
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
        let none = Issued::default();
        let mut carry = Vec::new();
        d.message(
            &mut carry,
            format!("{{\"part\":\"{a}").as_bytes(),
            "h",
            &none,
        )
        .unwrap();
        assert!(d.message(&mut carry, b.as_bytes(), "h", &none).is_err());
        // Benign twin: ordinary messages pass.
        let mut carry = Vec::new();
        for m in [
            "{\"type\":\"ping\"}",
            "{\"text\":\"hello ghp\"}",
            "_ is a prefix",
        ] {
            d.message(&mut carry, m.as_bytes(), "h", &none).unwrap();
        }
    }

    fn jwt(claims: &str) -> String {
        use base64::Engine as _;
        let e = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!(
            "{}.{}.{}",
            e(r#"{"alg":"HS256","typ":"JWT"}"#),
            e(claims),
            e("signature-bytes-0123456789")
        )
    }

    #[test]
    fn a_value_the_upstream_issued_may_go_back_to_it() {
        let d = dlp(Vec::new());
        let session = jwt(r#"{"sub":"agent","sid":"s-1"}"#);
        let bearer = "Zr8Qm2Lx9Tb4Kp7Vn3Wc";
        let issued = Issued::default();
        // Sent down in two chunks, the JWT cut in the middle.
        let down = format!(r#"{{"type":"hello","session":"{session}","auth":"Bearer {bearer}"}}"#);
        let (x, y) = down.split_at(30);
        issued.harvest(x.as_bytes());
        issued.harvest(y.as_bytes());
        let t = token();
        issued.harvest(format!("\n{{\"ticket\":\"{t}\"}}\n").as_bytes());
        let mut carry = Vec::new();
        for m in [
            format!(r#"{{"type":"auth","token":"{session}"}}"#),
            format!("Authorization: Bearer {bearer}"),
            format!(r#"{{"resume":"{t}"}}"#),
        ] {
            d.message(&mut carry, m.as_bytes(), "h", &issued)
                .unwrap_or_else(|e| panic!("{m}: {e:?}"));
        }
        // The twins: values the upstream did not send still block, and a
        // known secret blocks even when the upstream sent it.
        let other = jwt(r#"{"sub":"agent","sid":"s-2"}"#);
        for (m, rule) in [
            (format!(r#"{{"token":"{other}"}}"#), rule::JWT),
            (
                "Bearer Yq7Pn1Kw8Sa3Jo6Um2Xb".to_string(),
                rule::BEARER_TOKEN,
            ),
            (format!(r#"{{"t":"{}x"}}"#, &t[..t.len() - 1]), "github-pat"),
        ] {
            let hit = d
                .message(&mut Vec::new(), m.as_bytes(), "h", &issued)
                .unwrap_err();
            assert_eq!(hit.rule, rule, "{m}");
        }
        let mut scanner = Scanner::builtin();
        scanner.add_known_secret("KEY", t.as_bytes());
        let known = Dlp::new(scanner, 1 << 20, Vec::new());
        let hit = known
            .message(
                &mut Vec::new(),
                format!(r#"{{"resume":"{t}"}}"#).as_bytes(),
                "h",
                &issued,
            )
            .unwrap_err();
        assert_eq!(hit.rule, KNOWN_SECRET);
    }

    #[test]
    fn issued_values_are_bounded() {
        let issued = Issued::default();
        let long = "A1b2".repeat(ISSUED_VALUE_MAX);
        for chunk in long.as_bytes().chunks(1000) {
            issued.harvest(chunk);
        }
        issued.harvest(b" Zr8Qm2Lx9Tb4Kp7Vn3Wc ");
        assert!(!issued.contains(long.as_bytes()));
        assert!(
            issued.contains(b"Zr8Qm2Lx9Tb4Kp7Vn3Wc"),
            "harvest goes on after an overlong run"
        );
        for n in 0..3 * ISSUED_MAX {
            issued.harvest(format!(" value-number-{n:08} ").as_bytes());
        }
        // Two generations are kept: the newest values, never the oldest.
        assert!(issued.contains(format!("value-number-{:08}", 3 * ISSUED_MAX - 1).as_bytes()));
        assert!(issued.contains(format!("value-number-{:08}", 2 * ISSUED_MAX).as_bytes()));
        assert!(!issued.contains(b"value-number-00000000"));
    }
}
