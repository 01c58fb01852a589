//! URL shapes: opaque high-entropy values (an encrypted or compressed
//! payload the scanner cannot read) and the presigned-URL parameters that
//! carry an access key id or a signature by design.
//!
//! A long mixed-case alphanumeric run in a path segment or query value to
//! an allowlisted host is the classic exfiltration channel, so it blocks
//! unless it is readable once decoded (then the scanner judged its content)
//! or is one of the shapes real tools send: hex digests, `sha256:` blobs and
//! UUIDs (never mixed case, so never flagged), package-registry paths (names
//! and versions), and the signature and credential parameters of presigned
//! object-store URLs (AWS SigV4/V2, Google Cloud Storage, Azure SAS with
//! GitHub's release-asset `jwt`, CloudFront, Alibaba OSS), whose values are
//! public to whoever holds the URL.

use crate::exfil::entropy;
use base64::Engine as _;
use std::collections::HashSet;

/// Shortest run judged (18 bytes of data in base64).
const MIN_RUN: usize = 24;

/// A query split into the part the token rules scan (presigned parameters'
/// values masked) and the masked values (scanned for known secrets only).
pub(crate) struct Split {
    pub scanned: String,
    pub exempt: Vec<String>,
}

fn key_is(k: &str, names: &[&str]) -> bool {
    names.iter().any(|n| k.eq_ignore_ascii_case(n))
}

/// The parameters a recognised presigned shape carries by design.
fn presigned_params(keys: &HashSet<String>) -> Vec<&'static str> {
    let has = |k: &str| keys.contains(&k.to_ascii_lowercase());
    let mut out = Vec::new();
    if has("X-Amz-Algorithm") && has("X-Amz-Signature") && has("X-Amz-Credential") {
        out.extend([
            "X-Amz-Credential",
            "X-Amz-Signature",
            "X-Amz-Security-Token",
        ]);
    }
    if has("AWSAccessKeyId") && has("Signature") && has("Expires") {
        out.extend(["AWSAccessKeyId", "Signature", "x-amz-security-token"]);
    }
    if has("X-Goog-Algorithm") && has("X-Goog-Signature") {
        out.extend(["X-Goog-Credential", "X-Goog-Signature"]);
    }
    if has("GoogleAccessId") && has("Signature") && has("Expires") {
        out.push("Signature");
    }
    if has("sv") && has("sig") && (has("se") || has("st")) {
        // Azure SAS; GitHub's release-asset redirects add a `jwt` the
        // server issued.
        out.extend(["sig", "jwt"]);
    }
    if has("Key-Pair-Id") && has("Signature") && (has("Expires") || has("Policy")) {
        out.extend(["Signature", "Policy", "Key-Pair-Id"]);
    }
    if has("OSSAccessKeyId") && has("Signature") && has("Expires") {
        out.extend(["OSSAccessKeyId", "Signature", "security-token"]);
    }
    out
}

/// Mask the values of presigned parameters (see [`presigned_params`]).
pub(crate) fn split(path_and_query: &str) -> Split {
    let Some((path, query)) = path_and_query.split_once('?') else {
        return Split {
            scanned: path_and_query.to_string(),
            exempt: Vec::new(),
        };
    };
    let pairs: Vec<(&str, &str)> = query
        .split('&')
        .map(|kv| kv.split_once('=').unwrap_or((kv, "")))
        .collect();
    let keys: HashSet<String> = pairs.iter().map(|(k, _)| k.to_ascii_lowercase()).collect();
    let exempt_keys = presigned_params(&keys);
    if exempt_keys.is_empty() {
        return Split {
            scanned: path_and_query.to_string(),
            exempt: Vec::new(),
        };
    }
    let mut exempt = Vec::new();
    let mut scanned = format!("{path}?");
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            scanned.push('&');
        }
        scanned.push_str(k);
        scanned.push('=');
        if key_is(k, &exempt_keys) {
            exempt.push((*v).to_string());
            scanned.push_str("presigned");
        } else {
            scanned.push_str(v);
        }
    }
    Split { scanned, exempt }
}

fn class(b: u8) -> u8 {
    match b {
        b'A'..=b'Z' => 0,
        b'a'..=b'z' => 1,
        b'0'..=b'9' => 2,
        _ => 3,
    }
}

/// Whether base64 of this run decodes to mostly readable text (its content
/// is then the scanner's to judge, as a decoded view).
fn decodes_readable(run: &[u8]) -> bool {
    let cfg = base64::engine::GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent);
    let url = base64::engine::GeneralPurpose::new(&base64::alphabet::URL_SAFE, cfg);
    let std = base64::engine::GeneralPurpose::new(&base64::alphabet::STANDARD, cfg);
    let mut r = run;
    if r.len() % 4 == 1 {
        r = &r[..r.len() - 1];
    }
    let decoded = url.decode(r).or_else(|_| std.decode(r));
    // Random bytes are 37% printable ASCII; text, even with a binary
    // field or two (GitHub's cursors), is most of it.
    decoded.is_ok_and(|d| {
        !d.is_empty()
            && d.iter()
                .filter(|&&b| b.is_ascii_graphic() || b == b' ')
                .count()
                * 10
                >= d.len() * 7
    })
}

/// A run of random-looking symbols: mixed case with digits, changing
/// character class as often as random text does (camelCase words change
/// at word boundaries only), high entropy, and not readable once decoded.
fn opaque(run: &[u8]) -> bool {
    if run.len() < MIN_RUN {
        return false;
    }
    let (mut up, mut low, mut dig) = (0, 0, 0);
    for &b in run {
        match class(b) {
            0 => up += 1,
            1 => low += 1,
            2 => dig += 1,
            _ => {}
        }
    }
    if up == 0 || low == 0 || dig == 0 {
        return false;
    }
    let changes = run
        .windows(2)
        .filter(|w| class(w[0]) != class(w[1]))
        .count();
    changes * 100 >= (run.len() - 1) * 45 && entropy(run) >= 3.8 && !decodes_readable(run)
}

/// Static-asset file names (`KFOmCnqEu92Fr1Mu4mxKKTU1Kg.woff2` on a font
/// CDN) are content ids by design.
const ASSET_EXTENSIONS: &[&str] = &[
    "woff2", "woff", "ttf", "otf", "eot", "css", "js", "mjs", "map", "png", "jpg", "jpeg", "gif",
    "svg", "webp", "avif", "ico", "wasm",
];

/// Whether a path segment or query value holds an opaque run.
pub(crate) fn opaque_value(path_and_query: &str) -> bool {
    let decoded = percent_decode(path_and_query.as_bytes());
    let (path, query) = match memchr_q(&decoded) {
        Some(q) => (&decoded[..q], &decoded[q + 1..]),
        None => (&decoded[..], &b""[..]),
    };
    let is_run = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'+');
    let asset = |seg: &[u8]| {
        seg.rsplit(|&b| b == b'.').next().is_some_and(|ext| {
            seg.contains(&b'.')
                && ASSET_EXTENSIONS
                    .iter()
                    .any(|e| ext.eq_ignore_ascii_case(e.as_bytes()))
        })
    };
    path.split(|&b| b == b'/')
        .filter(|seg| !asset(seg))
        .chain(std::iter::once(query))
        .any(|part| part.split(|&b| !is_run(b)).any(opaque))
}

/// Percent layers undone when looking for nested URLs (`%253A` is two).
const NESTED_LAYERS: usize = 4;

/// The hosts of `http://` and `https://` URLs nested in a path or query
/// (`/proxy?target=http://169.254.169.254/…`, percent-encoded however
/// deep), as written (brackets kept, userinfo and port dropped). A fetch
/// or relay service on an allowed host would connect to them for the
/// agent, so the SSRF address check applies to the literal ones.
pub(crate) fn nested_hosts(path_and_query: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut layer = path_and_query.as_bytes().to_vec();
    for _ in 0..NESTED_LAYERS {
        let lower = layer.to_ascii_lowercase();
        let mut i = 0;
        while let Some(at) = find(&lower[i..], b"://").map(|p| p + i) {
            i = at + 3;
            let scheme_ok = [&b"http"[..], b"https"]
                .iter()
                .any(|s| lower[..at].ends_with(s));
            if !scheme_ok {
                continue;
            }
            let end = layer[i..]
                .iter()
                .position(|b| matches!(b, b'/' | b'?' | b'#' | b'&' | b'\\' | b'"' | b'\'' | b' '))
                .map_or(layer.len(), |p| p + i);
            let authority = String::from_utf8_lossy(&layer[i..end]);
            let hostport = authority.rsplit('@').next().unwrap_or_default();
            if let Some((host, _)) = crate::target::split_authority(hostport)
                && !host.is_empty()
                && !out.iter().any(|h| h == host)
            {
                out.push(host.to_string());
            }
        }
        let next = percent_decode(&layer);
        if next == layer {
            break;
        }
        layer = next;
    }
    out
}

/// The labels of the names a DNS-over-HTTPS GET asks for (RFC 8484: the
/// `dns` parameter is a DNS message in unpadded base64url). A lookup made
/// through an allowed resolver carries its name to that name's zone as a
/// direct one does, so the names get the host-label DLP. Empty when there
/// is no such parameter or it is not a DNS query.
pub(crate) fn doh_query_labels(path_and_query: &str) -> Vec<Vec<String>> {
    let Some((_, query)) = path_and_query.split_once('?') else {
        return Vec::new();
    };
    let Some(value) = query.split('&').find_map(|kv| kv.strip_prefix("dns=")) else {
        return Vec::new();
    };
    let value = percent_decode(value.as_bytes());
    let trimmed: Vec<u8> = value.iter().copied().filter(|&b| b != b'=').collect();
    let Ok(msg) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&trimmed) else {
        return Vec::new();
    };
    if msg.len() < 12 {
        return Vec::new();
    }
    let questions = usize::from(u16::from_be_bytes([msg[4], msg[5]])).min(8);
    let mut names = Vec::new();
    let mut i = 12;
    for _ in 0..questions {
        let mut labels = Vec::new();
        loop {
            let Some(&len) = msg.get(i) else {
                return names;
            };
            i += 1;
            // A query's names are written out; a compression pointer or a
            // reserved length ends the parse.
            if len == 0 || len > 63 {
                break;
            }
            let Some(label) = msg.get(i..i + usize::from(len)) else {
                return names;
            };
            labels.push(String::from_utf8_lossy(label).into_owned());
            i += usize::from(len);
        }
        i += 4; // type and class
        if !labels.is_empty() {
            names.push(labels);
        }
    }
    names
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn memchr_q(data: &[u8]) -> Option<usize> {
    data.iter().position(|&b| b == b'?')
}

/// Percent-decode once (`+` stays: it is base64's).
fn percent_decode(data: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        if data[i] == b'%'
            && let (Some(h), Some(l)) = (
                data.get(i + 1).copied().and_then(hex),
                data.get(i + 2).copied().and_then(hex),
            )
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(data[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::pii::samples::doh_query as doh;

    #[test]
    fn doh_query_names_are_read() {
        let q = doh(&["www", "example", "com"]);
        assert_eq!(
            doh_query_labels(&format!("/dns-query?dns={q}")),
            [vec!["www", "example", "com"]]
        );
        assert!(doh_query_labels("/dns-query?name=example.com&type=A").is_empty());
        assert!(doh_query_labels("/search?dns=not-a-message").is_empty());
        // Truncated: what was read is returned, nothing past the end.
        let short = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode([0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 9, b'a']);
        assert!(doh_query_labels(&format!("/dns-query?dns={short}")).is_empty());
    }

    #[test]
    fn nested_urls_are_found_through_percent_layers() {
        assert_eq!(
            nested_hosts("/api/remote/proxy?target=http://169.254.169.254/latest/meta-data/"),
            ["169.254.169.254"]
        );
        assert_eq!(
            nested_hosts("/proxy?url=http%3A%2F%2F10.0.0.12%3A8500%2Fv1%2Fkv"),
            ["10.0.0.12"]
        );
        assert_eq!(
            nested_hosts("/p?u=HTTPS%253A%252F%252Fuser%3Apw%40%5B%3A%3A1%5D%3A8080%252F"),
            ["[::1]"]
        );
        assert_eq!(
            nested_hosts("/web/2020/https://example.com/x"),
            ["example.com"]
        );
        // Other schemes and bare text are not fetch targets.
        assert!(nested_hosts("/q?dsn=postgres://db.internal:5432/prod").is_empty());
        assert!(nested_hosts("/search?q=how+to+use+http+proxies").is_empty());
    }

    fn random62(n: usize, seed: u64) -> String {
        const C: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let mut x = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                C[(x % 62) as usize] as char
            })
            .collect()
    }

    #[test]
    fn opaque_values_are_caught() {
        for seed in 1..40 {
            let v = random62(32, seed);
            assert!(opaque_value(&format!("/upload?d={v}")), "{v}");
            assert!(opaque_value(&format!("/p/{v}/x")), "{v}");
        }
    }

    #[test]
    fn real_tool_urls_pass() {
        for u in [
            "/packages/3d/5b/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08/requests-2.32.3-py3-none-any.whl",
            "/@types%2fnode/-/node-22.10.1.tgz",
            "/api/v1/crates/serde_json/1.0.133/download",
            "/crates/tokio/tokio-1.54.1.crate",
            "/debian/pool/main/c/curl/curl_7.88.1-10+deb12u8_amd64.deb",
            "/debian/dists/bookworm/main/binary-amd64/by-hash/SHA256/0b4c9a1f3d5e7a9b8c6d4e2f0a1b3c5d7e9f1a3b5c7d9e1f3a5b7c9d1e3f5a7b",
            "/v2/library/ubuntu/blobs/sha256:3c5d7e9f1a3b5c7d9e1f3a5b7c9d1e3f5a7b0b4c9a1f3d5e7a9b8c6d4e2f0a1b",
            "/v2/library/ubuntu/manifests/24.04",
            "/token?scope=repository%3Alibrary%2Fubuntu%3Apull&service=registry.docker.io",
            "/repos/rust-lang/rust/commits/1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b",
            "/repos/o/r/pulls?state=open&per_page=100&page=2",
            "/graphql?after=Y3Vyc29yOnYyOpK5MjAyNC0wMS0wMVQwMDowMDowMCswMDowMM4AAAAA",
            "/repos/o/r/actions/runs/123e4567-e89b-12d3-a456-426614174000",
            "/v1/messages?beta=true",
            "/search?q=HttpServerConnectionBuilder%20getUserProfileById",
            "/ajax/libs/jquery/3.7.1/jquery.min.js",
            "/npm/bootstrap@5.3.3/dist/css/bootstrap.min.css",
            "/s/roboto/v32/KFOmCnqEu92Fr1Mu4mxKKTU1Kg.woff2",
        ] {
            assert!(!opaque_value(u), "{u}");
        }
    }

    #[test]
    fn presigned_parameters_are_masked_and_only_in_their_shape() {
        let key = format!("{}{}", "AKIA", "IOSFODNN7EXAMPL3");
        let q = format!(
            "/o/asset?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={key}%2F20250101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20250101T000000Z&X-Amz-Expires=300&X-Amz-Signature=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08&X-Amz-SignedHeaders=host"
        );
        let s = split(&q);
        assert!(!s.scanned.contains(&key), "{}", s.scanned);
        assert!(s.exempt.iter().any(|v| v.contains(&key)));
        // The id elsewhere, or without the shape, is scanned as usual.
        let s = split(&format!("/o?X-Amz-Credential={key}&x=1"));
        assert!(s.scanned.contains(&key));
        let sas = format!(
            "/github-production-release-asset/1/abc?sp=r&sv=2018-11-09&sr=b&spr=https&se=2025-01-01T00%3A00%3A00Z&sig={}%3D&jwt=eyJhbGciOi",
            random62(43, 7)
        );
        let s = split(&sas);
        assert!(!opaque_value(&s.scanned), "{}", s.scanned);
        assert!(opaque_value(&sas));
    }
}
