//! Credential reflection: a credential's own host can echo the request
//! (debug endpoints, error pages that quote headers), and the agent would
//! then read the real value the proxy injected. Responses from a host the
//! proxy injected a credential into are rewritten before they reach the
//! agent: every form of the value (verbatim, JSON-escaped, percent-encoded,
//! hex, base64 and base64url at each alignment) becomes the same form of
//! the agent's placeholder, in headers, trailers and the body, streaming.
//!
//! Streaming: matches are replaced chunk by chunk; only a chunk's tail that
//! could be the start of a form is held back until the next chunk (usually
//! nothing: a server-sent event ends in a newline no form starts with), so
//! streamed answers are not delayed.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use bytes::Bytes;
use http::HeaderMap;
use http::header::HeaderValue;
use http_body_util::combinators::BoxBody;
use hyper::body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// What the agent reads where a credential was reflected and no
/// placeholder is configured.
pub(crate) const DEFAULT_PLACEHOLDER: &str = "bottle-redacted-credential";

/// Shortest form searched (shorter would match ordinary text).
const MIN_FORM: usize = 6;

/// The forms of the credentials of one host, each with its replacement.
pub(crate) struct Redactor {
    ac: AhoCorasick,
    patterns: Vec<Vec<u8>>,
    replacements: Vec<Vec<u8>>,
    starts: [bool; 256],
    max_len: usize,
}

/// The token part of an `Authorization`-style value (`Bearer x` → `x`),
/// so the scheme stays readable around the placeholder.
fn token_part(v: &str) -> &str {
    match v.split_once(' ') {
        Some((scheme, rest))
            if scheme.len() <= 10
                && scheme.bytes().all(|b| b.is_ascii_alphabetic())
                && rest.trim().len() >= 8 =>
        {
            rest.trim()
        }
        _ => v,
    }
}

fn json_escape(s: &[u8], slash: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for &b in s {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' if slash => out.extend_from_slice(b"\\/"),
            _ => out.push(b),
        }
    }
    out
}

fn percent(s: &[u8], all: bool, lower: bool) -> Vec<u8> {
    let mut out = String::new();
    for &b in s {
        if !all && (b.is_ascii_alphanumeric() || b"-._~".contains(&b)) {
            out.push(b as char);
        } else if lower {
            out.push_str(&format!("%{b:02x}"));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out.into_bytes()
}

/// Pairs (form of the secret, same form of the placeholder).
fn forms(secret: &[u8], placeholder: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = vec![(secret.to_vec(), placeholder.to_vec())];
    for slash in [false, true] {
        out.push((json_escape(secret, slash), json_escape(placeholder, slash)));
    }
    for all in [false, true] {
        for lower in [false, true] {
            out.push((
                percent(secret, all, lower),
                percent(placeholder, all, lower),
            ));
        }
    }
    out.push((
        hex::encode(secret).into_bytes(),
        hex::encode(placeholder).into_bytes(),
    ));
    out.push((
        hex::encode_upper(secret).into_bytes(),
        hex::encode_upper(placeholder).into_bytes(),
    ));
    for (pad, nopad) in [(&STANDARD, &STANDARD_NO_PAD), (&URL_SAFE, &URL_SAFE_NO_PAD)] {
        // The whole value encoded on its own, padded (longest first).
        out.push((
            pad.encode(secret).into_bytes(),
            pad.encode(placeholder).into_bytes(),
        ));
        // Inside a larger encoded text (`user:token` in Basic auth), at
        // each byte alignment: the characters whose bits all come from
        // the secret.
        for k in 0..3usize {
            let inner = |v: &[u8]| -> Vec<u8> {
                let mut buf = vec![0u8; k];
                buf.extend_from_slice(v);
                let enc = nopad.encode(&buf).into_bytes();
                let first = (8 * k).div_ceil(6);
                let last = (8 * (k + v.len())) / 6;
                enc[first.min(last)..last].to_vec()
            };
            out.push((inner(secret), inner(placeholder)));
        }
    }
    out.retain(|(f, _)| f.len() >= MIN_FORM.min(secret.len()));
    out
}

impl Redactor {
    /// For `(value, placeholder)` pairs; `None` without any.
    pub fn new(creds: &[(String, Option<String>)]) -> Option<Self> {
        let mut patterns: Vec<Vec<u8>> = Vec::new();
        let mut replacements = Vec::new();
        for (value, placeholder) in creds {
            let p = placeholder.as_deref().unwrap_or(DEFAULT_PLACEHOLDER);
            // `Bearer x`: the token's forms (every form of the whole value
            // holds one of them), so the scheme stays around the placeholder.
            let s = token_part(value);
            for (f, r) in forms(s.as_bytes(), p.as_bytes()) {
                if !patterns.contains(&f) {
                    patterns.push(f);
                    replacements.push(r);
                }
            }
        }
        if patterns.is_empty() {
            return None;
        }
        let ac = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&patterns)
            .ok()?;
        let mut starts = [false; 256];
        for p in &patterns {
            starts[usize::from(p[0])] = true;
        }
        let max_len = patterns.iter().map(Vec::len).max().unwrap_or(0);
        Some(Self {
            ac,
            patterns,
            replacements,
            starts,
            max_len,
        })
    }

    /// Replace every form in `data`; `None` when there is none. Returns the
    /// end of the last match too (for streaming).
    fn replace(&self, data: &[u8]) -> (Vec<u8>, usize) {
        let mut out = Vec::with_capacity(data.len());
        let mut at = 0;
        for m in self.ac.find_iter(data) {
            out.extend_from_slice(&data[at..m.start()]);
            out.extend_from_slice(&self.replacements[m.pattern().as_usize()]);
            at = m.end();
        }
        let last = at;
        out.extend_from_slice(&data[at..]);
        (out, last)
    }

    /// Whole values (headers): the redacted bytes, or `None` when clean.
    pub fn redact(&self, data: &[u8]) -> Option<Vec<u8>> {
        self.ac.is_match(data).then(|| self.replace(data).0)
    }

    /// Redact header values in place.
    pub fn headers(&self, h: &mut HeaderMap) {
        for v in h.values_mut() {
            if let Some(new) = self.redact(v.as_bytes())
                && let Ok(nv) = HeaderValue::from_bytes(&new)
            {
                *v = nv;
            } else if self.ac.is_match(v.as_bytes()) {
                // Cannot happen (replacements are header-safe); never pass
                // the value through.
                *v = HeaderValue::from_static(DEFAULT_PLACEHOLDER);
            }
        }
    }

    /// Where the held-back tail of `data` starts: the earliest position
    /// after `from` whose rest is a proper prefix of some form.
    fn hold_from(&self, data: &[u8], from: usize) -> usize {
        let lo = from.max(data.len().saturating_sub(self.max_len.saturating_sub(1)));
        for q in lo..data.len() {
            if !self.starts[usize::from(data[q])] {
                continue;
            }
            let rest = &data[q..];
            if self
                .patterns
                .iter()
                .any(|p| p.len() > rest.len() && p.starts_with(rest))
            {
                return q;
            }
        }
        data.len()
    }
}

/// Streaming state: bytes held back from the previous chunk.
#[derive(Default)]
pub(crate) struct Stream {
    carry: Vec<u8>,
}

impl Stream {
    /// Redact one chunk; what may be sent now.
    pub fn feed(&mut self, r: &Redactor, chunk: &[u8]) -> Vec<u8> {
        let mut buf = std::mem::take(&mut self.carry);
        buf.extend_from_slice(chunk);
        // Matches are replaced; a tail that may begin a form waits.
        let cut = {
            let mut last_end = 0;
            for m in r.ac.find_iter(&buf) {
                last_end = m.end();
            }
            r.hold_from(&buf, last_end)
        };
        self.carry = buf.split_off(cut);
        r.replace(&buf).0
    }

    /// The end of the body: the held tail, redacted.
    pub fn finish(&mut self, r: &Redactor) -> Vec<u8> {
        let rest = std::mem::take(&mut self.carry);
        r.replace(&rest).0
    }
}

/// A response body with credential forms replaced (see the module doc).
pub(crate) struct RedactedBody {
    inner: BoxBody<Bytes, crate::body::BoxError>,
    redactor: Arc<Redactor>,
    stream: Stream,
    done: bool,
    trailers: Option<HeaderMap>,
}

impl RedactedBody {
    pub fn new(inner: BoxBody<Bytes, crate::body::BoxError>, redactor: Arc<Redactor>) -> Self {
        Self {
            inner,
            redactor,
            stream: Stream::default(),
            done: false,
            trailers: None,
        }
    }
}

impl Body for RedactedBody {
    type Data = Bytes;
    type Error = crate::body::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        loop {
            if this.done {
                return Poll::Ready(this.trailers.take().map(|t| Ok(Frame::trailers(t))));
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => {
                        let out = this.stream.feed(&this.redactor, &data);
                        if !out.is_empty() {
                            return Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))));
                        }
                    }
                    Err(frame) => {
                        // Trailers end the body: flush the held tail first.
                        if let Ok(mut t) = frame.into_trailers() {
                            this.redactor.headers(&mut t);
                            this.trailers = Some(t);
                        }
                        this.done = true;
                        let out = this.stream.finish(&this.redactor);
                        if !out.is_empty() {
                            return Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))));
                        }
                    }
                },
                Poll::Ready(None) => {
                    this.done = true;
                    let out = this.stream.finish(&this.redactor);
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))));
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        // Replacements change the length: never announce one.
        SizeHint::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn red() -> Redactor {
        Redactor::new(&[(
            "Bearer sk-real-Q8zR2kLm8XwP1vB7nC4d".to_string(),
            Some("bottle-placeholder-openai-api-key".to_string()),
        )])
        .unwrap()
    }

    const TOKEN: &str = "sk-real-Q8zR2kLm8XwP1vB7nC4d";

    #[test]
    fn every_form_becomes_the_placeholder() {
        let r = red();
        let b64 = STANDARD.encode(format!("user:{TOKEN}"));
        let text = format!(
            "{{\"authorization\":\"Bearer {TOKEN}\",\"q\":\"{}\",\"h\":\"{}\",\"basic\":\"{b64}\"}}",
            percent(TOKEN.as_bytes(), true, false).escape_ascii(),
            hex::encode(TOKEN),
        );
        let out = String::from_utf8(r.redact(text.as_bytes()).unwrap()).unwrap();
        assert!(
            !out.contains(TOKEN) && !out.contains(&hex::encode(TOKEN)),
            "{out}"
        );
        assert!(
            out.contains("Bearer bottle-placeholder-openai-api-key"),
            "{out}"
        );
        let decoded = STANDARD
            .decode(
                out.split("\"basic\":\"")
                    .nth(1)
                    .unwrap()
                    .trim_end_matches("\"}"),
            )
            .unwrap_or_default();
        assert!(!String::from_utf8_lossy(&decoded).contains(TOKEN));
        // Benign twin: other text passes unchanged.
        assert!(r.redact(b"{\"authorization\":\"Bearer other\"}").is_none());
    }

    #[test]
    fn a_value_split_over_chunks_is_redacted_and_clean_tails_are_not_held() {
        let r = red();
        let text = format!("data: {{\"echo\":\"{TOKEN}\"}}\n\n");
        for cut in 1..text.len() {
            let mut s = Stream::default();
            let mut out = s.feed(&r, &text.as_bytes()[..cut]);
            out.extend(s.feed(&r, &text.as_bytes()[cut..]));
            out.extend(s.finish(&r));
            let out = String::from_utf8(out).unwrap();
            assert!(!out.contains(TOKEN), "cut {cut}: {out}");
            assert!(
                out.contains("bottle-placeholder-openai-api-key"),
                "cut {cut}: {out}"
            );
        }
        let mut s = Stream::default();
        assert_eq!(
            s.feed(&r, b"data: {\"text\":\"hello\"}\n\n"),
            b"data: {\"text\":\"hello\"}\n\n"
        );
        assert!(s.carry.is_empty());
    }
}
