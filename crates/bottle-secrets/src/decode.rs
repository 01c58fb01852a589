//! Decoders for DLP: HTTP content encodings and the text encodings an agent
//! could wrap a secret in (percent/form, JSON escapes, HTML entities, base64,
//! hex), nested to a bounded depth, with invisible characters removed.

use crate::{DecodeError, DecodeLimits, Finding, Scanner};
use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use std::borrow::Cow;
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};

/// Shortest base64 run worth decoding (12 bytes of payload).
const MIN_B64: usize = 16;
/// Shortest hex run worth decoding (8 bytes of payload).
const MIN_HEX: usize = 16;

/// Decompress an HTTP body by its `Content-Encoding` (gzip, x-gzip,
/// deflate (zlib or raw), br, zstd, identity; a comma-separated list is
/// undone in reverse order). More than `limit` output bytes is
/// [`DecodeError::TooLarge`]; corrupt input is [`DecodeError::Corrupt`].
pub fn decompress(encoding: &str, data: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
    let mut reader = decompress_reader(encoding, Box::new(data))?;
    let mut out = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => return Ok(out),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(DecodeError::Corrupt {
                    encoding: encoding.trim().to_string(),
                    message: e.to_string(),
                });
            }
        };
        if out.len() + n > limit {
            return Err(DecodeError::TooLarge { limit });
        }
        out.extend_from_slice(&chunk[..n]);
    }
}

/// Streaming form of [`decompress`]: wraps `inner` in the decoders for
/// `encoding`. Read errors from the returned reader mean corrupt data; the
/// caller enforces its own size limit while reading.
pub fn decompress_reader<'a>(
    encoding: &str,
    inner: Box<dyn Read + Send + 'a>,
) -> Result<Box<dyn Read + Send + 'a>, DecodeError> {
    let mut reader = inner;
    let codings: Vec<String> = encoding
        .split(',')
        .map(|c| c.trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty())
        .collect();
    for coding in codings.iter().rev() {
        reader = match coding.as_str() {
            "identity" => reader,
            "gzip" | "x-gzip" => Box::new(flate2::read::MultiGzDecoder::new(reader)),
            "deflate" => Box::new(Deflate::new(reader)),
            "br" => Box::new(brotli::Decompressor::new(reader, 16 * 1024)),
            "zstd" => Box::new(Zstd::new(reader)),
            other => return Err(DecodeError::UnsupportedEncoding(other.to_string())),
        };
    }
    Ok(reader)
}

/// HTTP `deflate` is meant to be zlib-wrapped, but servers send raw deflate
/// too: look at the first two bytes and pick.
struct Deflate<'a> {
    state: DeflateState<'a>,
}

enum DeflateState<'a> {
    Start(Option<BufReader<Box<dyn Read + Send + 'a>>>),
    Zlib(flate2::bufread::ZlibDecoder<BufReader<Box<dyn Read + Send + 'a>>>),
    Raw(flate2::bufread::DeflateDecoder<BufReader<Box<dyn Read + Send + 'a>>>),
}

impl<'a> Deflate<'a> {
    fn new(inner: Box<dyn Read + Send + 'a>) -> Self {
        Self {
            state: DeflateState::Start(Some(BufReader::new(inner))),
        }
    }
}

impl Read for Deflate<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            match &mut self.state {
                DeflateState::Start(r) => {
                    let Some(mut r) = r.take() else {
                        return Ok(0);
                    };
                    let head = r.fill_buf()?;
                    let zlib = head.len() >= 2
                        && head[0] & 0x0f == 8
                        && (u16::from(head[0]) << 8 | u16::from(head[1])) % 31 == 0;
                    self.state = if zlib {
                        DeflateState::Zlib(flate2::bufread::ZlibDecoder::new(r))
                    } else {
                        DeflateState::Raw(flate2::bufread::DeflateDecoder::new(r))
                    };
                }
                DeflateState::Zlib(d) => return d.read(buf),
                DeflateState::Raw(d) => return d.read(buf),
            }
        }
    }
}

type ZstdDec<'a> = ruzstd::decoding::StreamingDecoder<
    BufReader<Box<dyn Read + Send + 'a>>,
    ruzstd::decoding::FrameDecoder,
>;

/// zstd with any number of concatenated frames.
struct Zstd<'a> {
    state: Option<ZstdState<'a>>,
}

enum ZstdState<'a> {
    Between(BufReader<Box<dyn Read + Send + 'a>>),
    // Boxed: the frame decoder is large.
    Frame(Box<ZstdDec<'a>>),
}

impl<'a> Zstd<'a> {
    fn new(inner: Box<dyn Read + Send + 'a>) -> Self {
        Self {
            state: Some(ZstdState::Between(BufReader::new(inner))),
        }
    }
}

impl Read for Zstd<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            match self.state.take() {
                None => return Ok(0),
                Some(ZstdState::Between(mut r)) => {
                    if r.fill_buf()?.is_empty() {
                        return Ok(0);
                    }
                    let d = ruzstd::decoding::StreamingDecoder::new(r)
                        .map_err(std::io::Error::other)?;
                    self.state = Some(ZstdState::Frame(Box::new(d)));
                }
                Some(ZstdState::Frame(mut d)) => {
                    let n = d.read(buf)?;
                    if n > 0 || buf.is_empty() {
                        self.state = Some(ZstdState::Frame(d));
                        return Ok(n);
                    }
                    if !d.decoder.is_finished() {
                        return Err(std::io::Error::other("truncated zstd frame"));
                    }
                    self.state = Some(ZstdState::Between(d.into_inner()));
                }
            }
        }
    }
}

/// Remove zero-width, bidi-control, soft-hyphen, variation-selector and tag
/// characters (UTF-8), which can hide a secret from a plain matcher.
pub fn strip_invisible(data: &[u8]) -> Cow<'_, [u8]> {
    let first = match data
        .iter()
        .position(|&b| matches!(b, 0xC2 | 0xCD | 0xE1 | 0xE2 | 0xEF | 0xF3))
    {
        None => return Cow::Borrowed(data),
        Some(p) => p,
    };
    let mut out: Option<Vec<u8>> = None;
    let mut i = first;
    let mut copied = 0;
    while i < data.len() {
        let n = invisible_len(&data[i..]);
        if n > 0 {
            let o = out.get_or_insert_with(|| Vec::with_capacity(data.len()));
            o.extend_from_slice(&data[copied..i]);
            i += n;
            copied = i;
        } else {
            i += 1;
        }
    }
    match out {
        None => Cow::Borrowed(data),
        Some(mut o) => {
            o.extend_from_slice(&data[copied..]);
            Cow::Owned(o)
        }
    }
}

fn invisible_len(s: &[u8]) -> usize {
    match s {
        [0xC2, 0xAD, ..] => 2,              // U+00AD soft hyphen
        [0xCD, 0x8F, ..] => 2,              // U+034F grapheme joiner
        [0xE1, 0xA0, 0x8E, ..] => 3,        // U+180E
        [0xE2, 0x80, 0x8B..=0x8F, ..] => 3, // U+200B..U+200F
        [0xE2, 0x80, 0xAA..=0xAE, ..] => 3, // U+202A..U+202E
        [0xE2, 0x81, 0xA0..=0xA4, ..] | [0xE2, 0x81, 0xA6..=0xAF, ..] => 3, // U+2060..
        [0xEF, 0xBB, 0xBF, ..] => 3,        // U+FEFF
        [0xEF, 0xB8, 0x80..=0x8F, ..] => 3, // U+FE00..U+FE0F
        [0xF3, 0xA0, 0x80..=0x81, 0x80..=0xBF, ..] => 4, // U+E0000..U+E007F tags
        _ => 0,
    }
}

fn unhex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decode (`plus` also turns `+` into a space, as forms do).
pub(crate) fn percent_decode(data: &[u8], plus: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        let b = data[i];
        if b == b'%'
            && i + 2 < data.len()
            && let (Some(h), Some(l)) = (unhex(data[i + 1]), unhex(data[i + 2]))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(if plus && b == b'+' { b' ' } else { b });
        i += 1;
    }
    out
}

/// Undo JSON string escapes wherever they occur.
pub(crate) fn json_unescape(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    let hex4 = |s: &[u8]| -> Option<u32> {
        if s.len() < 4 {
            return None;
        }
        let mut v = 0u32;
        for &b in &s[..4] {
            v = v << 4 | u32::from(unhex(b)?);
        }
        Some(v)
    };
    while i < data.len() {
        if data[i] != b'\\' || i + 1 >= data.len() {
            out.push(data[i]);
            i += 1;
            continue;
        }
        let simple = match data[i + 1] {
            b'n' => Some(b'\n'),
            b't' => Some(b'\t'),
            b'r' => Some(b'\r'),
            b'b' => Some(8),
            b'f' => Some(12),
            b'/' => Some(b'/'),
            b'\\' => Some(b'\\'),
            b'"' => Some(b'"'),
            b'\'' => Some(b'\''),
            _ => None,
        };
        if let Some(c) = simple {
            out.push(c);
            i += 2;
            continue;
        }
        if data[i + 1] == b'u'
            && let Some(mut cp) = hex4(&data[i + 2..])
        {
            let mut used = 6;
            if (0xD800..0xDC00).contains(&cp)
                && data.get(i + 6) == Some(&b'\\')
                && data.get(i + 7) == Some(&b'u')
                && let Some(lo) = hex4(&data[(i + 8).min(data.len())..])
                && (0xDC00..0xE000).contains(&lo)
            {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                used = 12;
            }
            let ch = char::from_u32(cp).unwrap_or('\u{FFFD}');
            let mut tmp = [0u8; 4];
            out.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
            i += used;
            continue;
        }
        out.push(data[i]);
        i += 1;
    }
    out
}

/// Decode numeric HTML entities (`&#65;`, `&#x41;`).
pub(crate) fn html_unescape(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        if data[i] == b'&' && data.get(i + 1) == Some(&b'#') {
            let (hexa, start) = match data.get(i + 2) {
                Some(b'x' | b'X') => (true, i + 3),
                _ => (false, i + 2),
            };
            let mut j = start;
            let mut v: u32 = 0;
            while j < data.len() && j - start < 8 {
                let d = if hexa {
                    unhex(data[j]).map(u32::from)
                } else {
                    data[j].is_ascii_digit().then(|| u32::from(data[j] - b'0'))
                };
                match d {
                    Some(d) => {
                        v = v
                            .saturating_mul(if hexa { 16 } else { 10 })
                            .saturating_add(d)
                    }
                    None => break,
                }
                j += 1;
            }
            if j > start
                && data.get(j) == Some(&b';')
                && let Some(ch) = char::from_u32(v)
            {
                let mut tmp = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
                i = j + 1;
                continue;
            }
        }
        out.push(data[i]);
        i += 1;
    }
    out
}

fn is_b64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_')
}

const B64_CFG: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_allow_trailing_bits(true)
    .with_decode_padding_mode(DecodePaddingMode::Indifferent);
const B64_STD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, B64_CFG);
const B64_URL: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, B64_CFG);

fn printable_ratio(d: &[u8]) -> f64 {
    if d.is_empty() {
        return 0.0;
    }
    let n = d
        .iter()
        .filter(|&&b| b.is_ascii_graphic() || b == b' ' || b == b'\n' || b == b'\t' || b >= 0x80)
        .count();
    n as f64 / d.len() as f64
}

fn decode_b64_run(run: &[u8]) -> Option<Vec<u8>> {
    let url = run.iter().any(|&b| b == b'-' || b == b'_');
    let std = run.iter().any(|&b| b == b'+' || b == b'/');
    if url && std {
        return None;
    }
    let engine = if url { &B64_URL } else { &B64_STD };
    let mut best: Option<Vec<u8>> = None;
    // A run glued to a word ("tokenQUJD...") is misaligned: try the shifts.
    for skip in 0..4 {
        if run.len() < skip + MIN_B64 {
            break;
        }
        let mut r = &run[skip..];
        if r.len() % 4 == 1 {
            r = &r[..r.len() - 1];
        }
        if let Ok(d) = engine.decode(r) {
            let good = printable_ratio(&d) >= 0.9;
            if best
                .as_ref()
                .is_none_or(|b| printable_ratio(&d) > printable_ratio(b))
            {
                best = Some(d);
            }
            if good {
                break;
            }
        }
    }
    best
}

/// Every base64 (std or url-safe, padded or not) run of at least 16
/// characters, decoded, one per line.
pub(crate) fn base64_view(data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < data.len() {
        if !is_b64(data[i]) {
            i += 1;
            continue;
        }
        let s = i;
        while i < data.len() && is_b64(data[i]) {
            i += 1;
        }
        let run = &data[s..i];
        while i < data.len() && data[i] == b'=' {
            i += 1;
        }
        if run.len() >= MIN_B64
            && run
                .iter()
                .any(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
            && let Some(d) = decode_b64_run(run)
        {
            out.extend_from_slice(&d);
            out.push(b'\n');
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Every run of at least 16 hex digits, decoded, one per line.
pub(crate) fn hex_view(data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < data.len() {
        if !data[i].is_ascii_hexdigit() {
            i += 1;
            continue;
        }
        let s = i;
        while i < data.len() && data[i].is_ascii_hexdigit() {
            i += 1;
        }
        let mut run = &data[s..i];
        if run.len() < MIN_HEX {
            continue;
        }
        if run.len() % 2 == 1 {
            run = &run[..run.len() - 1];
        }
        for pair in run.chunks_exact(2) {
            if let (Some(h), Some(l)) = (unhex(pair[0]), unhex(pair[1])) {
                out.push(h << 4 | l);
            }
        }
        out.push(b'\n');
    }
    (!out.is_empty()).then_some(out)
}

/// The decoded views of `data` (each already stripped of invisible
/// characters), excluding views identical to `data`.
fn derive(data: &[u8]) -> Vec<Vec<u8>> {
    let mut views: Vec<Vec<u8>> = Vec::new();
    let mut push = |v: Vec<u8>| {
        let v = match strip_invisible(&v) {
            Cow::Borrowed(_) => v,
            Cow::Owned(o) => o,
        };
        if v != data && !v.is_empty() && !views.contains(&v) {
            views.push(v);
        }
    };
    if memchr::memchr(b'%', data).is_some() {
        push(percent_decode(data, false));
        if memchr::memchr(b'+', data).is_some() {
            push(percent_decode(data, true));
        }
    } else if memchr::memchr(b'+', data).is_some() && memchr::memchr2(b'=', b'&', data).is_some() {
        push(percent_decode(data, true));
    }
    if memchr::memchr(b'\\', data).is_some() {
        push(json_unescape(data));
    }
    if memchr::memmem::find(data, b"&#").is_some() {
        push(html_unescape(data));
    }
    if let Some(v) = base64_view(data) {
        push(v);
    }
    if let Some(v) = hex_view(data) {
        push(v);
    }
    views
}

pub(crate) fn scan_payload(
    scanner: &Scanner,
    data: &[u8],
    limits: &DecodeLimits,
) -> Result<Vec<Finding>, DecodeError> {
    if data.len() > limits.max_bytes {
        return Err(DecodeError::TooLarge {
            limit: limits.max_bytes,
        });
    }
    let mut budget = limits.max_bytes.saturating_mul(4);
    let mut seen: HashSet<(String, String)> = HashSet::new();
    let mut out = Vec::new();
    let mut add = |found: Vec<Finding>, out: &mut Vec<Finding>| {
        for f in found {
            if seen.insert((f.rule_id.clone(), f.fingerprint.clone())) {
                out.push(f);
            }
        }
    };
    add(scanner.scan_view(data), &mut out);
    let mut stack: Vec<(Vec<u8>, usize)> = Vec::new();
    let stripped = strip_invisible(data);
    if let Cow::Owned(s) = &stripped {
        add(scanner.scan_view(s), &mut out);
    }
    if limits.max_depth > 0 {
        for v in derive(&stripped) {
            stack.push((v, 1));
        }
    }
    while let Some((view, depth)) = stack.pop() {
        budget = budget
            .checked_sub(view.len())
            .ok_or(DecodeError::TooLarge {
                limit: limits.max_bytes,
            })?;
        add(scanner.scan_view(&view), &mut out);
        if depth < limits.max_depth {
            for v in derive(&view) {
                stack.push((v, depth + 1));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_and_form() {
        assert_eq!(percent_decode(b"a%41b+c%zz", false), b"aAb+c%zz");
        assert_eq!(percent_decode(b"a%41b+c", true), b"aAb c");
        assert_eq!(percent_decode(b"%4", false), b"%4");
    }

    #[test]
    fn json_escapes() {
        assert_eq!(
            json_unescape(br#"a\u0041\n\"\/\ud83d\ude00"#),
            "aA\n\"/😀".as_bytes()
        );
    }

    #[test]
    fn html_entities() {
        assert_eq!(html_unescape(b"&#65;&#x42;&#xZ;"), b"AB&#xZ;");
    }

    #[test]
    fn invisible() {
        let s = "ab\u{200B}c\u{FEFF}d\u{E0041}e";
        assert_eq!(&*strip_invisible(s.as_bytes()), b"abcde");
        assert!(matches!(strip_invisible(b"plain"), Cow::Borrowed(_)));
    }
}
