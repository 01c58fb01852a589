//! Secret scanning of URLs, headers, bodies and WebSocket messages, on top
//! of the shared scanner (`bottle-secrets`).

use crate::reasons::rule;
use bottle_secrets::{DecodeError, DecodeLimits, Scanner};
use http::HeaderMap;

/// A DLP verdict: the rule that fired (a scanner rule id, or one of
/// [`rule::TOO_LARGE`] / [`rule::UNDECODABLE`]).
pub(crate) type Verdict = Result<(), String>;

pub(crate) struct Dlp {
    scanner: Scanner,
    limits: DecodeLimits,
}

impl Dlp {
    pub fn new(scanner: Scanner, scan_limit: usize) -> Self {
        Self {
            scanner,
            limits: DecodeLimits {
                max_bytes: scan_limit,
                ..DecodeLimits::default()
            },
        }
    }

    pub fn scan_limit(&self) -> usize {
        self.limits.max_bytes
    }

    /// Scan one payload with the scanner's decoders. When several rules
    /// fire, the most specific one names the block (a `github-pat` says
    /// more than a `generic-api-key` on the same bytes).
    pub fn scan(&self, data: &[u8]) -> Verdict {
        match self.scanner.scan_payload(data, &self.limits) {
            Ok(f) => match f
                .iter()
                .find(|f| !f.rule_id.starts_with("generic"))
                .or(f.first())
            {
                Some(f) => Err(f.rule_id.clone()),
                None => Ok(()),
            },
            Err(DecodeError::TooLarge { .. }) => Err(rule::TOO_LARGE.to_string()),
            Err(_) => Err(rule::UNDECODABLE.to_string()),
        }
    }

    /// URL DLP of the path and query (the scanner's views undo percent
    /// encoding, however deep).
    pub fn url(&self, path_and_query: &str) -> Verdict {
        self.scan(path_and_query.as_bytes())
    }

    /// DLP of the host labels an agent chose (under a wildcard): each
    /// contiguous run of them joined, one per line, so a token split over
    /// labels (`AKIA1234.5678ABCD.x.example.com`) is seen whole. Bounded:
    /// at most a few labels are covered (more is refused as chunked).
    pub fn host_labels(&self, labels: &[&str]) -> Verdict {
        let n = labels.len().min(8);
        let mut text = labels.join(".");
        for i in 0..n {
            for j in (i + 2)..=n {
                text.push('\n');
                text.push_str(&labels[i..j].concat());
            }
        }
        self.scan(text.as_bytes())
    }

    /// Header DLP over `name: value` lines, leaving out `skip` (the header a
    /// credential will overwrite: what the agent put there never leaves).
    pub fn headers(&self, headers: &HeaderMap, skip: &[http::HeaderName]) -> Verdict {
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
            return Err(rule::UNDECODABLE.to_string());
        }
        self.scan(&block)?;
        // Header values are often percent-encoded (cookies, Link headers).
        let decoded = percent_decode(&block);
        if decoded != block {
            self.scan(&decoded)?;
        }
        Ok(())
    }

    /// Body DLP: decompress by `Content-Encoding`, then scan with decoders.
    pub fn body(&self, content_encoding: Option<&str>, body: &[u8]) -> Verdict {
        if body.is_empty() {
            return Ok(());
        }
        match content_encoding
            .map(str::trim)
            .filter(|e| !e.is_empty() && !e.eq_ignore_ascii_case("identity"))
        {
            None => self.scan(body),
            Some(enc) => match bottle_secrets::decompress(
                &enc.to_ascii_lowercase(),
                body,
                self.limits.max_bytes,
            ) {
                Ok(plain) => self.scan(&plain),
                Err(DecodeError::TooLarge { .. }) => Err(rule::TOO_LARGE.to_string()),
                Err(_) => Err(rule::UNDECODABLE.to_string()),
            },
        }
    }
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

/// Percent-decode (`%41` → `A`, `+` → space); invalid escapes stay as is.
pub(crate) fn percent_decode(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        match data[i] {
            b'%' if i + 2 < data.len() => match (hex(data[i + 1]), hex(data[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

fn hex(b: u8) -> Option<u8> {
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

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode(b"a%41b+c%2"), b"aAb c%2");
        assert_eq!(percent_decode(b"%"), b"%");
        assert_eq!(percent_decode(b"%zz"), b"%zz");
        assert_eq!(percent_decode(b"%2541"), b"%41");
    }
}
