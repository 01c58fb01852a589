//! DLP: every decoder, nested decoders, limits, content encodings and known
//! secrets.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use bottle_secrets::{
    DecodeError, DecodeLimits, SampleRng, Scanner, decompress, fingerprint, render_template,
};
use std::io::Write;

/// A generated GitHub token (never a literal in the repo).
fn gh_token(seed: u64) -> String {
    render_template("ghp_{x:36}", &mut SampleRng::new(seed)).text
}

fn found_token(scanner: &Scanner, payload: &[u8], token: &str) -> bool {
    let fp = fingerprint("github-pat", token.as_bytes());
    scanner
        .scan_payload(payload, &DecodeLimits::default())
        .unwrap()
        .iter()
        .any(|f| f.rule_id == "github-pat" && f.fingerprint == fp)
}

fn percent_all(s: &[u8]) -> String {
    s.iter().map(|b| format!("%{b:02X}")).collect()
}

fn json_escape_all(s: &str) -> String {
    s.encode_utf16().map(|u| format!("\\u{u:04x}")).collect()
}

type Encoder = fn(&str) -> String;

fn encoders() -> Vec<(&'static str, Encoder)> {
    vec![
        ("percent", |t| format!("q={}", percent_all(t.as_bytes()))),
        ("form", |t| {
            format!("a=1&note=my+token+is+{}", percent_all(t.as_bytes()))
        }),
        ("json-escapes", |t| {
            format!("{{\"v\":\"{}\"}}", json_escape_all(t))
        }),
        ("html-entities", |t| {
            t.chars().map(|c| format!("&#{};", c as u32)).collect()
        }),
        ("base64-std", |t| {
            format!("data={}", STANDARD.encode(format!("token: {t}")))
        }),
        ("base64-std-nopad", |t| {
            format!("data:{}", STANDARD_NO_PAD.encode(format!("x {t} y")))
        }),
        ("base64-url", |t| {
            format!("v={}", URL_SAFE.encode(format!("{t}\u{00ff}\u{00fe}")))
        }),
        ("base64-url-nopad", |t| {
            format!("v {}", URL_SAFE_NO_PAD.encode(format!("{t}??>>")))
        }),
        ("hex", |t| format!("blob {}", hex::encode(format!("k={t}")))),
        ("zero-width", |t| {
            let mut s = String::new();
            for (i, c) in t.chars().enumerate() {
                s.push(c);
                if i % 3 == 0 {
                    s.push('\u{200B}');
                }
            }
            s
        }),
        ("tag-characters", |t| {
            let mid = t.len() / 2;
            format!("{}\u{E0041}\u{FEFF}{}", &t[..mid], &t[mid..])
        }),
    ]
}

#[test]
fn every_decoder_reveals_a_planted_secret() {
    let scanner = Scanner::builtin();
    for (i, (name, enc)) in encoders().into_iter().enumerate() {
        let token = gh_token(100 + i as u64);
        let payload = enc(&token);
        assert!(
            scanner
                .scan(payload.as_bytes(), None)
                .iter()
                .all(|f| f.rule_id != "github-pat"),
            "{name}: plain scan already sees it, the test proves nothing"
        );
        assert!(
            found_token(&scanner, payload.as_bytes(), &token),
            "{name}: not found in {payload:?}"
        );
    }
}

#[test]
fn two_decoders_nested_reveal_a_planted_secret() {
    let scanner = Scanner::builtin();
    let encs = encoders();
    let mut checked = 0;
    for (i, (outer_name, outer)) in encs.iter().enumerate() {
        for (j, (inner_name, inner)) in encs.iter().enumerate() {
            // Invisible characters inside base64/hex are not a realistic
            // wrapping; all other pairs must work.
            if outer_name.starts_with("zero") || outer_name.starts_with("tag") {
                continue;
            }
            let token = gh_token(1000 + (i * 100 + j) as u64);
            let payload = outer(&inner(&token));
            assert!(
                found_token(&scanner, payload.as_bytes(), &token),
                "{inner_name} inside {outer_name}: not found in {payload:?}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 80);
}

#[test]
fn nesting_stops_at_max_depth() {
    let scanner = Scanner::builtin();
    let token = gh_token(7);
    let once = STANDARD.encode(format!("a {token} b"));
    let twice = STANDARD.encode(format!("c {once} d"));
    let thrice = STANDARD.encode(format!("e {twice} f"));
    let limits = |d| DecodeLimits {
        max_depth: d,
        ..DecodeLimits::default()
    };
    let run = |p: &str, d| scanner.scan_payload(p.as_bytes(), &limits(d));
    let hit = |p: &str, d| run(p, d).unwrap().iter().any(|f| f.rule_id == "github-pat");
    assert!(hit(&thrice, 3));
    // One layer short, the last view still decodes to text: an error (the
    // gates block on it), not a quiet miss.
    assert_eq!(
        run(&thrice, 2).unwrap_err(),
        DecodeError::TooDeep { depth: 2 }
    );
    assert!(hit(&twice, 2));
    assert!(!hit(&once, 0));
}

#[test]
fn payload_over_the_limit_is_an_error() {
    let scanner = Scanner::builtin();
    let limits = DecodeLimits {
        max_bytes: 1000,
        max_depth: 4,
    };
    let err = scanner
        .scan_payload(&vec![b'a'; 1001], &limits)
        .unwrap_err();
    assert_eq!(err, DecodeError::TooLarge { limit: 1000 });
    assert!(scanner.scan_payload(&vec![b'a'; 1000], &limits).is_ok());
}

#[test]
fn decoded_views_exceeding_the_budget_are_an_error() {
    // Nested encodings multiply the views; the budget is 4x max_bytes.
    let scanner = Scanner::builtin();
    let mut p = "x".repeat(300);
    for _ in 0..4 {
        p = format!("{}%25{}", percent_all(p.as_bytes()), hex::encode(&p));
    }
    let limits = DecodeLimits {
        max_bytes: p.len(),
        max_depth: 8,
    };
    assert!(matches!(
        scanner.scan_payload(p.as_bytes(), &limits),
        Err(DecodeError::TooLarge { .. })
    ));
}

fn gzip(d: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(d).unwrap();
    e.finish().unwrap()
}
fn zlib(d: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(d).unwrap();
    e.finish().unwrap()
}
fn raw_deflate(d: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(d).unwrap();
    e.finish().unwrap()
}
fn br(d: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
        w.write_all(d).unwrap();
    }
    out
}
fn zstd(d: &[u8]) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(d, ruzstd::encoding::CompressionLevel::Fastest)
}

#[test]
fn content_encodings_decode_and_reveal_a_secret() {
    let scanner = Scanner::builtin();
    let token = gh_token(42);
    let body = format!("{{\"note\": \"{token}\"}}").into_bytes();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("gzip", gzip(&body)),
        ("x-gzip", gzip(&body)),
        ("deflate", zlib(&body)),
        ("deflate", raw_deflate(&body)),
        ("br", br(&body)),
        ("zstd", zstd(&body)),
        ("identity", body.clone()),
        ("gzip, br", br(&gzip(&body))),
        ("zstd,gzip", gzip(&zstd(&body))),
    ];
    for (enc, data) in cases {
        let out = decompress(enc, &data, 1 << 20).unwrap_or_else(|e| panic!("{enc}: {e}"));
        assert_eq!(out, body, "{enc}");
        assert!(found_token(&scanner, &out, &token), "{enc}");
    }
    // Two concatenated gzip members and zstd frames decode whole.
    let mut two = gzip(b"first ");
    two.extend(gzip(b"second"));
    assert_eq!(decompress("gzip", &two, 100).unwrap(), b"first second");
    let mut two = zstd(b"first ");
    two.extend(zstd(b"second"));
    assert_eq!(decompress("zstd", &two, 100).unwrap(), b"first second");
}

#[test]
fn decompression_is_bounded_and_fails_closed() {
    let bomb = gzip(&vec![b'a'; 10 << 20]);
    assert!(bomb.len() < 100_000);
    assert_eq!(
        decompress("gzip", &bomb, 1 << 20),
        Err(DecodeError::TooLarge { limit: 1 << 20 })
    );
    assert_eq!(
        decompress("br", &br(&vec![0u8; 5 << 20]), 4096),
        Err(DecodeError::TooLarge { limit: 4096 })
    );
    assert_eq!(
        decompress("identity", b"12345", 4),
        Err(DecodeError::TooLarge { limit: 4 })
    );
    for enc in ["gzip", "deflate", "br", "zstd"] {
        let r = decompress(enc, b"this is not compressed data at all, really", 1 << 20);
        assert!(
            matches!(r, Err(DecodeError::Corrupt { .. })),
            "{enc}: {r:?}"
        );
    }
    let mut truncated = gzip(b"some body that is long enough to matter");
    truncated.truncate(truncated.len() - 6);
    assert!(matches!(
        decompress("gzip", &truncated, 1 << 20),
        Err(DecodeError::Corrupt { .. })
    ));
    assert!(matches!(
        decompress("compress", b"x", 10),
        Err(DecodeError::UnsupportedEncoding(_))
    ));
}

fn known_value(seed: u64) -> String {
    render_template("{x:12}-{x:12}", &mut SampleRng::new(seed)).text
}

#[test]
fn known_secrets_match_verbatim_and_encoded() {
    let value = known_value(5);
    let mut scanner = Scanner::builtin();
    scanner.add_known_secret("ANTHROPIC_API_KEY", value.as_bytes());
    let v = value.as_bytes();
    let forms = vec![
        value.clone(),
        STANDARD.encode(v),
        STANDARD_NO_PAD.encode(v),
        URL_SAFE.encode(v),
        hex::encode(v),
        hex::encode_upper(v),
        percent_all(v),
        percent_all(v).to_lowercase(),
        // Inside a larger base64 text at each byte alignment.
        STANDARD.encode(format!("a:{value}")),
        STANDARD.encode(format!("ab:{value}")),
        STANDARD.encode(format!("abc:{value}")),
    ];
    for form in forms {
        let payload = format!("GET /?q={form} HTTP/1.1");
        let found = scanner.scan(payload.as_bytes(), None);
        let f = found.iter().find(|f| f.rule_id == "known-secret");
        let f = f.unwrap_or_else(|| panic!("form {form:?} not found"));
        assert_eq!(f.description, "ANTHROPIC_API_KEY");
        assert!(!format!("{f:?}").contains(&value));
        assert!(!f.redacted.contains(&value[4..]));
        // And through the DLP entry point.
        assert!(
            scanner
                .scan_payload(payload.as_bytes(), &DecodeLimits::default())
                .unwrap()
                .iter()
                .any(|f| f.rule_id == "known-secret")
        );
    }
    assert!(scanner.scan(b"nothing to see", None).is_empty());
}

#[test]
fn known_secrets_survive_nested_encodings_in_payloads() {
    let value = known_value(6);
    let mut scanner = Scanner::builtin();
    scanner.add_known_secret("TOKEN", value.as_bytes());
    let payload = percent_all(
        STANDARD
            .encode(format!("{{\"t\":\"{}\"}}", json_escape_all(&value)))
            .as_bytes(),
    );
    assert!(scanner.scan(payload.as_bytes(), None).is_empty());
    let found = scanner
        .scan_payload(payload.as_bytes(), &DecodeLimits::default())
        .unwrap();
    assert!(
        found
            .iter()
            .any(|f| f.rule_id == "known-secret" && f.description == "TOKEN")
    );
}

#[test]
fn debug_output_never_shows_known_secrets() {
    let value = known_value(8);
    let mut scanner = Scanner::builtin();
    scanner.add_known_secret("DB_PASSWORD", value.as_bytes());
    let dbg = format!("{scanner:?} {scanner:#?}");
    assert!(!dbg.contains(&value), "{dbg}");
    assert!(dbg.contains("known_secrets: 1"), "{dbg}");
}

#[test]
fn inline_allow_is_off_by_default_and_never_applies_to_dlp() {
    let token = gh_token(9);
    let line = format!("t = {token} # bottle:allow");
    let mut scanner = Scanner::builtin();
    assert_eq!(scanner.scan(line.as_bytes(), None).len(), 1);
    scanner.set_inline_allow(true);
    assert_eq!(scanner.scan(line.as_bytes(), None).len(), 0);
    let gl = format!("t = {token} # gitleaks:allow");
    assert_eq!(scanner.scan(gl.as_bytes(), None).len(), 0);
    assert_eq!(
        scanner
            .scan_payload(line.as_bytes(), &DecodeLimits::default())
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn findings_are_redacted_and_located() {
    let token = gh_token(10);
    let text = format!("line one\n  x = \"{token}\"\n");
    let found = Scanner::builtin().scan(text.as_bytes(), Some("a/b.rs"));
    assert_eq!(found.len(), 1);
    let f = &found[0];
    assert_eq!(f.location.line, Some(2));
    assert_eq!(f.location.column, Some(8));
    assert_eq!(f.location.offset, text.find(&token).unwrap());
    assert_eq!(f.location.path.as_deref(), Some("a/b.rs"));
    assert_eq!(f.redacted, "ghp_…[redacted]");
    assert!(!format!("{f:?}").contains(&token[4..]));
    assert_eq!(f.fingerprint, fingerprint("github-pat", token.as_bytes()));
}

#[test]
fn scanner_is_send_sync_and_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Scanner>();
    let scanner = std::sync::Arc::new(Scanner::builtin());
    let handles: Vec<_> = (0..4u64)
        .map(|i| {
            let s = scanner.clone();
            std::thread::spawn(move || s.scan(gh_token(500 + i).as_bytes(), None).len())
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 1);
    }
}
