//! Decoders for DLP: HTTP content encodings and the text encodings an agent
//! could wrap a secret in (percent/form, JSON/C escapes, HTML entities,
//! base64, base32, hex, delimited hex), nested to a bounded depth, with
//! invisible characters removed.
//!
//! Two kinds of layer are counted apart. *Escapes* (percent, JSON and C
//! string escapes, HTML entities) rewrite a whole text and legitimately nest
//! (a tool call's JSON inside a model request's JSON); *content* decoders
//! (base64, base32, hex, delimited hex) turn a run of symbols into new
//! bytes. A payload that still decodes to readable text after the last
//! content layer (or still changes after the last escape layer) is an
//! error, [`DecodeError::TooDeep`]: deeper nesting than any real client
//! sends is itself the signal, and the gates block on it.

use crate::{DecodeError, DecodeLimits, Finding, Scanner};
use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use std::borrow::Cow;
use std::collections::HashSet;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::io::{BufRead, BufReader, Read};
use std::ops::ControlFlow;

/// Shortest base64 run worth decoding (12 bytes of payload).
const MIN_B64: usize = 16;
/// Shortest hex run worth decoding (8 bytes of payload).
const MIN_HEX: usize = 16;
/// Shortest base32 run worth decoding (10 bytes of payload).
const MIN_B32: usize = 16;
/// Fewest bytes a delimited-hex run (`41-4b-…`, `\x41\x4b`) must spell.
const MIN_DELIMITED: usize = 8;
/// Escape layers (percent, JSON/C escapes, HTML entities) undone on one
/// path before a text that still changes is [`DecodeError::TooDeep`].
const MAX_ESCAPE_LAYERS: usize = 8;
/// A decoded piece this long and this readable means "still encoded".
const READABLE_MIN: usize = 8;

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
    // Every character removed here is multi-byte; ASCII text (most code)
    // is checked a word at a time.
    if data.is_ascii() {
        return Cow::Borrowed(data);
    }
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

/// Undo JSON string escapes wherever they occur, and the C / Python /
/// JavaScript ones JSON lacks (`\x41`, `\u{41}`, octal `\101`).
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
        // C, Python and JavaScript escapes: `\x41`, `\u{41}`, `\101`.
        if data[i + 1] == b'x'
            && let (Some(h), Some(l)) = (
                data.get(i + 2).and_then(|&b| unhex(b)),
                data.get(i + 3).and_then(|&b| unhex(b)),
            )
        {
            out.push(h << 4 | l);
            i += 4;
            continue;
        }
        if data[i + 1] == b'u'
            && data.get(i + 2) == Some(&b'{')
            && let Some(len) = data[i + 3..].iter().take(7).position(|&b| b == b'}')
            && len > 0
            && let Some(cp) = data[i + 3..i + 3 + len]
                .iter()
                .try_fold(0u32, |v, &b| Some(v << 4 | u32::from(unhex(b)?)))
        {
            let ch = char::from_u32(cp).unwrap_or('\u{FFFD}');
            let mut tmp = [0u8; 4];
            out.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
            i += 4 + len;
            continue;
        }
        if let [a @ b'0'..=b'3', b @ b'0'..=b'7', c @ b'0'..=b'7', ..] = data[i + 1..] {
            out.push((a - b'0') << 6 | (b - b'0') << 3 | (c - b'0'));
            i += 4;
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

fn b32_value(b: u8) -> Option<u8> {
    match b {
        b'A'..=b'Z' => Some(b - b'A'),
        b'a'..=b'z' => Some(b - b'a'),
        b'2'..=b'7' => Some(b - b'2' + 26),
        _ => None,
    }
}

fn decode_b32(run: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(run.len() * 5 / 8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in run {
        let Some(v) = b32_value(c) else { break };
        acc = (acc << 5 | u32::from(v)) & 0x1fff;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// Every base32 (RFC 4648) run of at least 16 characters in one case,
/// padded or not, decoded, one per line. Runs that mix cases are words or
/// identifiers, not base32 (whose encoders emit one case).
pub(crate) fn base32_view(data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < data.len() {
        if b32_value(data[i]).is_none() {
            i += 1;
            continue;
        }
        let s = i;
        while i < data.len() && (b32_value(data[i]).is_some() || data[i].is_ascii_alphanumeric()) {
            i += 1;
        }
        let run = &data[s..i];
        // A run holding 0, 1, 8 or 9 is not base32 (hex or base64 views
        // take it).
        if run.len() < MIN_B32 || !run.iter().all(|&b| b32_value(b).is_some()) {
            continue;
        }
        let upper = run.iter().any(u8::is_ascii_uppercase);
        let lower = run.iter().any(u8::is_ascii_lowercase);
        if upper && lower {
            continue;
        }
        out.extend_from_slice(&decode_b32(run));
        out.push(b'\n');
    }
    (!out.is_empty()).then_some(out)
}

/// One byte written as two hex digits with an optional `0x`, `\x` or `%`
/// prefix at `data[i..]`: (byte, bytes used, had a prefix).
fn hex_element(data: &[u8], i: usize) -> Option<(u8, usize, bool)> {
    let (skip, prefixed) = match data.get(i..i + 2) {
        Some([b'0', b'x' | b'X']) | Some([b'\\', b'x']) => (2, true),
        _ => (0, false),
    };
    let h = unhex(*data.get(i + skip)?)?;
    let l = unhex(*data.get(i + skip + 1)?)?;
    // Exactly two digits: a longer group (`dead`, a UUID part) is not a byte.
    if data.get(i + skip + 2).is_some_and(u8::is_ascii_hexdigit) {
        return None;
    }
    Some((h << 4 | l, skip + 2, prefixed))
}

/// Bytes written as hex pairs with delimiters or prefixes: `41-4b-49-41`,
/// `41:4b:…`, `41 4b …`, `0x41, 0x4b`, `\x41\x4b`. At least 8 bytes, so
/// MAC addresses and times are left alone. (Plain runs are [`hex_view`]'s.)
pub(crate) fn delimited_hex_view(data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < data.len() {
        let starts = (i == 0 || !data[i - 1].is_ascii_alphanumeric())
            && (data[i].is_ascii_hexdigit() || data[i] == b'\\');
        let Some(first) = starts.then(|| hex_element(data, i)).flatten() else {
            i += 1;
            continue;
        };
        let mut bytes = vec![first.0];
        let mut j = i + first.1;
        let mut delimited = false;
        loop {
            // Up to two delimiter characters (", "), or none before a prefix.
            let mut k = j;
            while k < data.len() && k - j < 2 && matches!(data[k], b'-' | b':' | b' ' | b',') {
                k += 1;
            }
            match hex_element(data, k) {
                Some((b, used, prefixed)) if k > j || prefixed => {
                    delimited |= k > j;
                    bytes.push(b);
                    j = k + used;
                }
                _ => break,
            }
        }
        let prefixed = matches!(
            data.get(i..i + 2),
            Some([b'0', b'x' | b'X']) | Some([b'\\', b'x'])
        );
        if bytes.len() >= MIN_DELIMITED && (delimited || prefixed) {
            out.extend_from_slice(&bytes);
            out.push(b'\n');
        }
        i = j.max(i + 1);
    }
    (!out.is_empty()).then_some(out)
}

/// The base64 alphabet (both variants), as a table: one load per byte.
const B64_BYTE: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'-' | b'_');
        b += 1;
    }
    t
};

/// The stretches of `data` made only of base64-alphabet bytes and at least
/// as long as the shortest run [`base64_view`], [`hex_view`] or
/// [`base32_view`] decodes. Every run those views decode lies inside one:
/// hex digits and base32's letters and digits are base64 bytes too, and
/// each view's runs end at any other byte. A shorter stretch holds no run
/// long enough. So the three views over these stretches alone, joined in
/// order, are exactly the views of the whole text, and they look at a
/// fraction of the bytes of ordinary text and code (one table pass instead
/// of three branchy ones over everything).
fn long_b64_stretches(data: &[u8]) -> Vec<std::ops::Range<usize>> {
    let min = MIN_B64.min(MIN_HEX).min(MIN_B32);
    let in_alphabet = |b: &u8| B64_BYTE[usize::from(*b)];
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(s) = data[i..].iter().position(in_alphabet).map(|p| i + p) {
        let e = data[s..]
            .iter()
            .position(|b| !in_alphabet(b))
            .map_or(data.len(), |p| s + p);
        if e - s >= min {
            out.push(s..e);
        }
        i = e;
    }
    out
}

/// `view` over each stretch, joined (see [`long_b64_stretches`]).
fn over_stretches(
    data: &[u8],
    stretches: &[std::ops::Range<usize>],
    view: fn(&[u8]) -> Option<Vec<u8>>,
) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for r in stretches {
        if let Some(v) = view(&data[r.clone()]) {
            out.extend_from_slice(&v);
        }
    }
    (!out.is_empty()).then_some(out)
}

/// What kind of layer produced a view (they are counted apart).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layer {
    /// Percent, JSON/C escapes, HTML entities: rewrites of a whole text.
    Escape,
    /// base64, base32, hex, delimited hex: runs turned into new bytes.
    Content,
}

/// The decoded views of `data` (each already stripped of invisible
/// characters), excluding views identical to `data`.
fn derive(data: &[u8]) -> Vec<(Vec<u8>, Layer)> {
    let mut views: Vec<(Vec<u8>, Layer)> = Vec::new();
    let mut push = |v: Vec<u8>, layer: Layer| {
        let v = match strip_invisible(&v) {
            Cow::Borrowed(_) => v,
            Cow::Owned(o) => o,
        };
        if v != data && !v.is_empty() && !views.iter().any(|(w, _)| *w == v) {
            views.push((v, layer));
        }
    };
    if memchr::memchr(b'%', data).is_some() {
        push(percent_decode(data, false), Layer::Escape);
        if memchr::memchr(b'+', data).is_some() {
            push(percent_decode(data, true), Layer::Escape);
        }
    } else if memchr::memchr(b'+', data).is_some() && memchr::memchr2(b'=', b'&', data).is_some() {
        push(percent_decode(data, true), Layer::Escape);
    }
    if memchr::memchr(b'\\', data).is_some() {
        push(json_unescape(data), Layer::Escape);
    }
    if memchr::memmem::find(data, b"&#").is_some() {
        push(html_unescape(data), Layer::Escape);
    }
    let stretches = long_b64_stretches(data);
    if let Some(v) = over_stretches(data, &stretches, base64_view) {
        push(v, Layer::Content);
    }
    if let Some(v) = over_stretches(data, &stretches, hex_view) {
        push(v, Layer::Content);
    }
    if let Some(v) = over_stretches(data, &stretches, base32_view) {
        push(v, Layer::Content);
    }
    if let Some(v) = delimited_hex_view(data) {
        push(v, Layer::Content);
    }
    views
}

/// Whether a content view holds decoded text rather than noise: some line
/// of it is at least [`READABLE_MIN`] bytes and almost all printable. (Every
/// alphanumeric run "decodes" as base64 to something; only readable output
/// means the run really was an encoding.)
fn readable(view: &[u8]) -> bool {
    view.split(|&b| b == b'\n')
        .any(|line| line.len() >= READABLE_MIN && printable_ratio(line) >= 0.95)
}

/// What a DLP view is, for callers whose checks differ by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewKind {
    /// The payload itself (also with invisible characters removed).
    Raw,
    /// Rewritten by escape layers only (percent, JSON/C escapes, HTML).
    Escaped,
    /// Below at least one content layer (base64, base32, hex, delimited
    /// hex): bytes the sender encoded.
    Decoded,
}

/// [`for_each_view_kind`] without the kind.
pub fn for_each_view(
    data: &[u8],
    limits: &DecodeLimits,
    visit: &mut dyn FnMut(&[u8]) -> ControlFlow<()>,
) -> Result<ControlFlow<()>, DecodeError> {
    for_each_view_kind(data, limits, &mut |v, _| visit(v))
}

/// Call `visit` on `data` and on every decoded view of it, nested up to
/// `limits.max_depth` content layers (base64, base32, hex, delimited hex)
/// and eight escape layers (percent, JSON/C escapes, HTML
/// entities), each view once, invisible characters removed. `visit`
/// returning `Break` stops the walk (and is returned).
///
/// Errors: `data` larger than `limits.max_bytes`, or all views together
/// more than four times that, is [`DecodeError::TooLarge`]; a view that
/// still decodes to readable text after the last content layer, or still
/// changes after the last escape layer, is [`DecodeError::TooDeep`].
pub fn for_each_view_kind(
    data: &[u8],
    limits: &DecodeLimits,
    visit: &mut dyn FnMut(&[u8], ViewKind) -> ControlFlow<()>,
) -> Result<ControlFlow<()>, DecodeError> {
    if data.len() > limits.max_bytes {
        return Err(DecodeError::TooLarge {
            limit: limits.max_bytes,
        });
    }
    if visit(data, ViewKind::Raw).is_break() {
        return Ok(ControlFlow::Break(()));
    }
    let stripped = strip_invisible(data);
    if let Cow::Owned(s) = &stripped
        && visit(s, ViewKind::Raw).is_break()
    {
        return Ok(ControlFlow::Break(()));
    }
    if limits.max_depth == 0 {
        return Ok(ControlFlow::Continue(()));
    }
    let mut budget = limits.max_bytes.saturating_mul(4);
    // Views reached twice (percent then JSON, JSON then percent) are
    // scanned once.
    let hasher = BuildHasherDefault::<DefaultHasher>::default();
    let mut seen: HashSet<u64> = HashSet::new();
    seen.insert(hasher.hash_one(&*stripped));
    // (view, content layers, escape layers) below it.
    let mut stack: Vec<(Vec<u8>, usize, usize)> = Vec::new();
    let mut push_children = |stack: &mut Vec<(Vec<u8>, usize, usize)>,
                             view: &[u8],
                             content: usize,
                             escapes: usize|
     -> Result<(), DecodeError> {
        for (v, layer) in derive(view) {
            let (c, e) = match layer {
                Layer::Content => (content + 1, escapes),
                Layer::Escape => (content, escapes + 1),
            };
            let too_deep = match layer {
                Layer::Content => c > limits.max_depth && readable(&v),
                Layer::Escape => e > MAX_ESCAPE_LAYERS,
            };
            if too_deep {
                return Err(DecodeError::TooDeep {
                    depth: c.max(e) - 1,
                });
            }
            if c <= limits.max_depth && seen.insert(hasher.hash_one(&v)) {
                stack.push((v, c, e));
            }
        }
        Ok(())
    };
    push_children(&mut stack, &stripped, 0, 0)?;
    while let Some((view, content, escapes)) = stack.pop() {
        budget = budget
            .checked_sub(view.len())
            .ok_or(DecodeError::TooLarge {
                limit: limits.max_bytes,
            })?;
        let kind = if content > 0 {
            ViewKind::Decoded
        } else {
            ViewKind::Escaped
        };
        if visit(&view, kind).is_break() {
            return Ok(ControlFlow::Break(()));
        }
        push_children(&mut stack, &view, content, escapes)?;
    }
    Ok(ControlFlow::Continue(()))
}

pub(crate) fn scan_payload(
    scanner: &Scanner,
    data: &[u8],
    limits: &DecodeLimits,
) -> Result<Vec<Finding>, DecodeError> {
    let mut seen: HashSet<(String, String)> = HashSet::new();
    let mut out = Vec::new();
    let _ = for_each_view_kind(data, limits, &mut |view, kind| {
        for f in scanner.scan_view(view, kind) {
            if seen.insert((f.rule_id.clone(), f.fingerprint.clone())) {
                out.push(f);
            }
        }
        ControlFlow::Continue(())
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The views over long base64 stretches are exactly the views over the
    /// whole text (what `derive` relies on), on text built from the bytes
    /// that start, continue and end runs.
    #[test]
    fn views_over_long_stretches_equal_views_over_everything() {
        let pieces: [&[u8]; 16] = [
            b"QUtJQUlPU0ZPRE5ON0VYQU1QTEU",
            b"deadbeefcafef00d",
            b"MFRGGZDFMZTWQ2LK",
            b"JBSWY3DPEHPK3PXP",
            b"_",
            b"-",
            b"+",
            b"/",
            b"=",
            b"==",
            b" ",
            b"\n",
            b".",
            b"aGVsbG8gd29ybGQgaGVsbG8",
            b"0123456789abcdefABCDEF",
            b"let x = f(1);",
        ];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut checked = 0;
        for _ in 0..400 {
            let mut text = Vec::new();
            for _ in 0..(next() % 40) {
                let p = pieces[(next() % pieces.len() as u64) as usize];
                let cut = (next() % (p.len() as u64 + 1)) as usize;
                text.extend_from_slice(if next() % 3 == 0 { &p[..cut] } else { p });
                if next() % 4 == 0 {
                    text.push(b'\n');
                }
            }
            let st = long_b64_stretches(&text);
            for view in [base64_view, hex_view, base32_view] {
                let whole = view(&text);
                checked += usize::from(whole.is_some());
                assert_eq!(
                    over_stretches(&text, &st, view),
                    whole,
                    "{:?}",
                    String::from_utf8_lossy(&text)
                );
            }
        }
        // The generator does make decodable runs (the test can fail).
        assert!(checked > 100, "{checked}");
        assert!(long_b64_stretches(b"short words only, and_ids_like_this: x").len() == 1);
        assert!(long_b64_stretches(b"a b c").is_empty());
    }

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
    fn c_and_js_escapes() {
        assert_eq!(json_unescape(br"\x41\x4b\u{49}\101\x4"), b"AKIA\\x4");
        assert_eq!(json_unescape(br"\u{zz}"), br"\u{zz}");
    }

    #[test]
    fn base32_runs() {
        assert_eq!(
            base32_view(b"x MZXW6YTBOIQGM33PMJQXE=== y").unwrap(),
            b"foobar foobar\n"
        );
        // Too short to be worth it.
        assert_eq!(base32_view(b"MZXW6YTBOI"), None);
        let lower = b"k=mzxw6ytboiqgs4zanzxxiidbebzwky3smv2a";
        assert_eq!(base32_view(lower).unwrap(), b"foobar is not a secret\n");
        // Mixed case is an identifier; digits 0, 1, 8, 9 are not base32.
        assert_eq!(base32_view(b"HttpServerConnectionBuilder"), None);
        assert_eq!(base32_view(b"MZXW6YTBOI0MZXW6YTBOI1"), None);
    }

    #[test]
    fn delimited_hex_runs() {
        let aws = b"AKIAIOSFODNN7";
        let dash: Vec<String> = aws.iter().map(|b| format!("{b:02x}")).collect();
        for text in [
            dash.join("-"),
            dash.join(":"),
            dash.join(" "),
            dash.iter()
                .map(|h| format!("0x{h}"))
                .collect::<Vec<_>>()
                .join(", "),
            dash.iter().map(|h| format!("\\x{h}")).collect::<String>(),
        ] {
            let v = delimited_hex_view(format!("k = [{text}];").as_bytes());
            assert_eq!(v.as_deref(), Some(&b"AKIAIOSFODNN7\n"[..]), "{text}");
        }
        // Too short to be data, or not byte pairs.
        for benign in [
            "aa:bb:cc:dd:ee:ff",
            "12:34:56",
            "123e4567-e89b-12d3-a456-426614174000",
            "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
            "deadbeefcafebabe00112233",
        ] {
            assert_eq!(delimited_hex_view(benign.as_bytes()), None, "{benign}");
        }
    }

    fn views(data: &[u8], depth: usize) -> Result<Vec<Vec<u8>>, DecodeError> {
        let mut out = Vec::new();
        let limits = DecodeLimits {
            max_depth: depth,
            ..DecodeLimits::default()
        };
        let _ = for_each_view(data, &limits, &mut |v| {
            out.push(v.to_vec());
            ControlFlow::Continue(())
        })?;
        Ok(out)
    }

    #[test]
    fn mixed_chains_are_undone() {
        use base64::engine::general_purpose::STANDARD;
        // percent over base64 over hex.
        let secret = "the secret is AKIAIOSFODNN7EXAMPLE";
        let hexed = hex::encode(secret);
        let b64 = STANDARD.encode(hexed);
        let pct: String = b64
            .bytes()
            .map(|b| match b {
                b'+' | b'/' | b'=' => format!("%{b:02X}"),
                _ => (b as char).to_string(),
            })
            .collect();
        let all = views(format!("q={pct}").as_bytes(), 4).unwrap();
        assert!(
            all.iter()
                .any(|v| memchr::memmem::find(v, secret.as_bytes()).is_some())
        );
    }

    #[test]
    fn still_encoded_after_the_last_layer_is_an_error() {
        use base64::engine::general_purpose::STANDARD;
        let mut text = "the payload nobody should read".to_string();
        for _ in 0..5 {
            text = STANDARD.encode(&text);
        }
        assert!(views(text.as_bytes(), 5).is_ok());
        assert_eq!(
            views(text.as_bytes(), 4).unwrap_err(),
            DecodeError::TooDeep { depth: 4 }
        );
        // Escapes nest legitimately, but not without end.
        let mut pct = "AKIAIOSFODNN7EXAMPLE/x".to_string();
        for _ in 0..MAX_ESCAPE_LAYERS + 1 {
            pct = pct.replace('%', "%25").replace('/', "%2F");
        }
        assert!(matches!(
            views(pct.as_bytes(), 4),
            Err(DecodeError::TooDeep { .. })
        ));
    }

    #[test]
    fn benign_text_is_not_too_deep() {
        // Identifiers, hashes and JSON inside JSON inside JSON.
        let inner = r#"{\"cmd\":\"grep -E \\\"\\\\d+\\\" src/HttpServerConnectionBuilder.rs\"}"#;
        let body = format!(
            r#"{{"model":"x","messages":[{{"role":"user","content":"{inner} sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 d41d8cd98f00b204e9800998ecf8427e"}}]}}"#
        );
        assert!(views(body.as_bytes(), 4).is_ok());
    }

    #[test]
    fn invisible() {
        let s = "ab\u{200B}c\u{FEFF}d\u{E0041}e";
        assert_eq!(&*strip_invisible(s.as_bytes()), b"abcde");
        assert!(matches!(strip_invisible(b"plain"), Cow::Borrowed(_)));
    }
}
