//! Every byte a push brings is scanned: object headers, names, encodings,
//! whole files, compressed and encoded content. Each attempt is checked to
//! leave the upstream untouched, and each has a benign twin that passes.

use super::harness::*;
use bottle_testkit::gitremote::{BareRepo, GitOutput, WorkTree};
use std::collections::BTreeMap;
use std::io::Write as _;

struct Setup {
    up: BareRepo,
    gate: TestGate,
    wt: WorkTree,
    before: BTreeMap<String, String>,
}

fn setup_with(files: &[(&str, &str)]) -> Setup {
    let up = BareRepo::with_files(files);
    let gate = TestGate::start(vec![file_remote("origin", &up)]);
    let wt = gate.agent().clone_repo(&up.file_url());
    let before = up.refs();
    Setup {
        up,
        gate,
        wt,
        before,
    }
}

fn setup() -> Setup {
    setup_with(&[("README.md", "hello\n")])
}

/// Refused by the scan (rule `rule`), the secret never echoed by the gate
/// nor logged, upstream and mirror unchanged.
#[track_caller]
fn assert_blocked(s: &Setup, out: &GitOutput, secret: &str, rule: &str) {
    assert!(!out.success, "push should fail:\n{}", out.stderr);
    assert_contains(&out.stderr, "bottle git gate: push refused");
    assert_contains(&out.stderr, &format!("rule {rule}"));
    let gate_lines: String = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("remote:"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        !gate_lines.contains(secret),
        "the gate echoed the secret:\n{gate_lines}"
    );
    assert_eq!(s.up.refs(), s.before, "upstream changed");
    assert_eq!(s.gate.mirror_refs("origin"), s.before, "mirror changed");
    let audit = s.gate.audit();
    let last = audit.iter().rev().find(|r| r.event == "push").unwrap();
    assert_eq!(
        (last.decision.as_str(), last.reason.as_str()),
        ("block", "secret-found")
    );
    let raw = serde_json::to_string(&audit).unwrap();
    assert!(!raw.contains(secret), "the secret reached the audit log");
}

/// Refused as unscannable (fail closed), naming why.
#[track_caller]
fn assert_unscannable(s: &Setup, out: &GitOutput, why: &str) {
    assert!(!out.success, "push should fail:\n{}", out.stderr);
    assert_contains(&out.stderr, "the secret scan failed");
    assert_contains(&out.stderr, why);
    assert_eq!(s.up.refs(), s.before, "upstream changed");
    let audit = s.gate.audit();
    let last = audit.iter().rev().find(|r| r.event == "push").unwrap();
    assert_eq!(
        (last.decision.as_str(), last.reason.as_str()),
        ("block", "scan-failed")
    );
}

/// Pushed and landed upstream.
#[track_caller]
fn assert_pushed(s: &Setup, out: &GitOutput, refname: &str, oid: &str) {
    assert!(out.success, "push should pass:\n{}", out.stderr);
    assert_eq!(s.up.rev(refname).as_deref(), Some(oid));
}

/// Write an object with `git hash-object` (so headers are exactly ours).
fn hash_object(wt: &WorkTree, kind: &str, data: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("obj");
    std::fs::write(&p, data).unwrap();
    wt.git(&["hash-object", "-t", kind, "-w", p.to_str().unwrap()])
}

/// A commit on top of HEAD with HEAD's tree, raw headers in between.
fn raw_commit(wt: &WorkTree, extra_headers: &str, message: &[u8]) -> String {
    let tree = wt.git(&["rev-parse", "HEAD^{tree}"]);
    let parent = wt.head();
    let mut obj = format!(
        "tree {tree}\nparent {parent}\nauthor A U Thor <a@example.com> 1700000000 +0000\n\
         committer A U Thor <a@example.com> 1700000000 +0000\n{extra_headers}\n"
    )
    .into_bytes();
    obj.extend_from_slice(message);
    hash_object(wt, "commit", &obj)
}

/// [`raw_commit`] without git's object checks (for objects fsck refuses).
fn raw_commit_literally(wt: &WorkTree, extra_headers: &str, message: &[u8]) -> String {
    let tree = wt.git(&["rev-parse", "HEAD^{tree}"]);
    let parent = wt.head();
    let mut obj = format!(
        "tree {tree}\nparent {parent}\nauthor A U Thor <a@example.com> 1700000000 +0000\n\
         committer A U Thor <a@example.com> 1700000000 +0000\n{extra_headers}\n"
    )
    .into_bytes();
    obj.extend_from_slice(message);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("obj");
    std::fs::write(&p, obj).unwrap();
    wt.git(&[
        "hash-object",
        "--literally",
        "-t",
        "commit",
        "-w",
        p.to_str().unwrap(),
    ])
}

fn push(wt: &WorkTree, src: &str, dst: &str) -> GitOutput {
    wt.try_git(&["push", "origin", &format!("{src}:{dst}")])
}

/// A PEM private key made at run time (random base64 body).
fn fake_pem_body() -> String {
    use std::hash::{BuildHasher, Hasher};
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let mut body = String::new();
    for line in 0..12u64 {
        for i in 0..64u64 {
            h.write_u64(line * 64 + i);
            body.push(B64[(h.finish() % 64) as usize] as char);
        }
        body.push('\n');
    }
    body
}

const PEM_BEGIN: &str = "-----BEGIN RSA PRIVATE KEY-----\n";
const PEM_END: &str = "-----END RSA PRIVATE KEY-----\n";

// ---- 1. metadata ----

#[test]
fn secret_in_author_email_is_rejected_and_a_plain_author_passes() {
    let s = setup();
    let secret = fake_github_token();
    s.wt.write("a.txt", "a\n");
    s.wt.git(&["add", "a.txt"]);
    s.wt.git(&[
        "-c",
        "user.name=Agent",
        "-c",
        &format!("user.email={secret}@example.com"),
        "commit",
        "--quiet",
        "-m",
        "work",
    ]);
    let out = push(&s.wt, "HEAD", "refs/heads/main");
    assert_blocked(&s, &out, &secret, "github-pat");
    assert_contains(&out.stderr, "header  line");
    // Twin: the same commit with an ordinary identity.
    s.wt.git(&["reset", "--quiet", "--hard", "HEAD~1"]);
    s.wt.write("a.txt", "a\n");
    let c = s.wt.commit_all("work");
    let out = push(&s.wt, "HEAD", "refs/heads/main");
    assert_pushed(&s, &out, "refs/heads/main", &c);
}

#[test]
fn secret_in_an_extra_commit_header_is_rejected_and_a_plain_one_passes() {
    let s = setup();
    let secret = fake_github_token();
    let c = raw_commit(&s.wt, &format!("x-note {secret}\n"), b"note\n");
    let out = push(&s.wt, &c, "refs/heads/main");
    assert_blocked(&s, &out, &secret, "github-pat");
    assert_contains(&out.stderr, &format!("commit {}  header  line 5", &c[..12]));
    let c = raw_commit(&s.wt, "x-note reviewed by the team\n", b"note\n");
    let out = push(&s.wt, &c, "refs/heads/main");
    assert_pushed(&s, &out, "refs/heads/main", &c);
}

#[test]
fn secret_in_a_tag_objects_name_line_is_rejected_and_a_plain_tag_passes() {
    let s = setup();
    let secret = fake_github_token();
    let head = s.wt.head();
    let tag = |name: &str| {
        hash_object(
            &s.wt,
            "tag",
            format!(
                "object {head}\ntype commit\ntag {name}\ntagger T <t@example.com> 1700000000 +0000\n\nrelease\n"
            )
            .as_bytes(),
        )
    };
    let t = tag(&secret);
    let out = push(&s.wt, &t, "refs/tags/v2");
    assert_blocked(&s, &out, &secret, "github-pat");
    assert_contains(&out.stderr, "tag <name withheld");
    assert_contains(&out.stderr, "header  line 3");
    let t = tag("v2");
    let out = push(&s.wt, &t, "refs/tags/v2");
    assert_pushed(&s, &out, "refs/tags/v2", &t);
}

#[test]
fn secret_in_a_new_file_or_directory_name_is_rejected_and_plain_names_pass() {
    let s = setup();
    let secret = fake_github_token();
    for name in [format!("notes-{secret}.txt"), format!("{secret}/notes.txt")] {
        s.wt.write(&name, "nothing secret in here\n");
        let c = s.wt.commit_all("notes");
        let out = push(&s.wt, "HEAD", "refs/heads/main");
        assert_blocked(&s, &out, &secret, "github-pat");
        assert_contains(
            &out.stderr,
            &format!("commit {}  the name of a new file or directory", &c[..12]),
        );
        s.wt.git(&["reset", "--quiet", "--hard", "HEAD~1"]);
    }
    // Twin.
    let c =
        s.wt.commit_files(&[("docs/notes.txt", "nothing secret in here\n")], "notes");
    let out = push(&s.wt, "HEAD", "refs/heads/main");
    assert_pushed(&s, &out, "refs/heads/main", &c);
}

#[test]
fn secret_in_a_pushed_ref_name_is_rejected_and_withheld_from_the_audit() {
    let s = setup();
    let secret = fake_github_token();
    let c = s.wt.commit_files(&[("a.txt", "a\n")], "work");
    let out = push(&s.wt, "HEAD", &format!("refs/heads/feature-{secret}"));
    assert_blocked(&s, &out, &secret, "github-pat");
    assert_contains(&out.stderr, "the name of a pushed ref");
    let out = push(&s.wt, "HEAD", "refs/heads/feature-notes");
    assert_pushed(&s, &out, "refs/heads/feature-notes", &c);
}

// ---- 2. commit encodings ----

#[test]
fn message_behind_a_utf16_encoding_header_is_scanned_raw_and_decoded() {
    let s = setup();
    let secret = fake_github_token();
    // Raw ASCII bytes that git log would re-encode as UTF-16LE.
    let c = raw_commit(
        &s.wt,
        "encoding UTF-16LE\n",
        format!("deploy {secret}\n").as_bytes(),
    );
    let out = push(&s.wt, &c, "refs/heads/main");
    assert_blocked(&s, &out, &secret, "github-pat");
    assert_contains(&out.stderr, "commit message  line 1");
    // The message really in UTF-16LE (NUL bytes): git's own object check
    // (receive.fsckObjects) refuses it before the scan; the decoded view is
    // covered by the unit tests of `scan`.
    let wide: Vec<u8> = format!("deploy {secret}\n")
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let c = raw_commit_literally(&s.wt, "encoding UTF-16LE\n", &wide);
    let out = push(&s.wt, &c, "refs/heads/main");
    assert!(!out.success, "{}", out.stderr);
    assert_eq!(s.up.refs(), s.before, "upstream changed");
    // Twins: a benign message under the same header, and a Latin-1 one.
    let c = raw_commit(&s.wt, "encoding UTF-16LE\n", b"release notes\n");
    let out = push(&s.wt, &c, "refs/heads/main");
    assert_pushed(&s, &out, "refs/heads/main", &c);
    s.wt.git(&["fetch", "--quiet", "origin"]);
    s.wt.git(&["reset", "--quiet", "--hard", "origin/main"]);
    let c = raw_commit(&s.wt, "encoding ISO-8859-1\n", b"caf\xe9\n");
    let out = push(&s.wt, &c, "refs/heads/main");
    assert_pushed(&s, &out, "refs/heads/main", &c);
}

#[test]
fn message_in_an_encoding_the_gate_cannot_decode_is_refused() {
    let s = setup();
    let c = raw_commit(&s.wt, "encoding UTF-7\n", b"+AGcAaABwAF8-\n");
    let out = push(&s.wt, &c, "refs/heads/main");
    assert_unscannable(&s, &out, "declares the encoding \"UTF-7\"");
}

// ---- 3. multi-line secrets ----

#[test]
fn key_body_added_between_kept_pem_lines_is_rejected() {
    let s = setup_with(&[("keys/deploy.pem", &format!("{PEM_BEGIN}{PEM_END}"))]);
    let secret = fake_pem_body();
    s.wt.write("keys/deploy.pem", &format!("{PEM_BEGIN}{secret}{PEM_END}"));
    let c = s.wt.commit_all("fill in the key");
    let out = push(&s.wt, "HEAD", "refs/heads/main");
    let first_line = secret.lines().next().unwrap();
    assert_blocked(&s, &out, first_line, "private-key");
    assert_contains(
        &out.stderr,
        &format!("commit {}  file keys/deploy.pem  line 1", &c[..12]),
    );
    // Twin: an edit next to the placeholder key file.
    s.wt.git(&["reset", "--quiet", "--hard", "HEAD~1"]);
    let c =
        s.wt.commit_files(&[("keys/README.md", "keys go here\n")], "docs");
    let out = push(&s.wt, "HEAD", "refs/heads/main");
    assert_pushed(&s, &out, "refs/heads/main", &c);
}

#[test]
fn key_across_the_old_8_mib_fragment_boundary_is_rejected() {
    let s = setup();
    let mut filler = String::new();
    while filler.len() < (8 << 20) - 40 {
        filler.push_str("let value = compute(input, offset, length);\n");
    }
    let secret = fake_pem_body();
    s.wt.write(
        "big/generated.rs",
        &format!("{filler}{PEM_BEGIN}{secret}{PEM_END}"),
    );
    s.wt.commit_all("generated");
    let out = push(&s.wt, "HEAD", "refs/heads/main");
    assert_blocked(&s, &out, secret.lines().next().unwrap(), "private-key");
    assert_contains(&out.stderr, "file big/generated.rs");
    // Twin: the same file without the key.
    s.wt.git(&["reset", "--quiet", "--hard", "HEAD~1"]);
    let c =
        s.wt.commit_files(&[("big/generated.rs", &filler)], "generated");
    let out = push(&s.wt, "HEAD", "refs/heads/main");
    assert_pushed(&s, &out, "refs/heads/main", &c);
}

// ---- 4. encoded content ----

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A zip archive with one deflated member.
fn zip_one(name: &str, data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    let comp = e.finish().unwrap();
    let crc = {
        let mut c = flate2::Crc::new();
        c.update(data);
        c.sum()
    };
    let mut z = Vec::new();
    let le16 = |v: &mut Vec<u8>, x: u16| v.extend_from_slice(&x.to_le_bytes());
    let le32 = |v: &mut Vec<u8>, x: u32| v.extend_from_slice(&x.to_le_bytes());
    z.extend_from_slice(b"PK\x03\x04");
    le16(&mut z, 20);
    le16(&mut z, 0);
    le16(&mut z, 8);
    le32(&mut z, 0);
    le32(&mut z, crc);
    le32(&mut z, comp.len() as u32);
    le32(&mut z, data.len() as u32);
    le16(&mut z, name.len() as u16);
    le16(&mut z, 0);
    z.extend_from_slice(name.as_bytes());
    z.extend_from_slice(&comp);
    let cd = z.len();
    z.extend_from_slice(b"PK\x01\x02");
    le16(&mut z, 20);
    le16(&mut z, 20);
    le16(&mut z, 0);
    le16(&mut z, 8);
    le32(&mut z, 0);
    le32(&mut z, crc);
    le32(&mut z, comp.len() as u32);
    le32(&mut z, data.len() as u32);
    le16(&mut z, name.len() as u16);
    le16(&mut z, 0);
    le16(&mut z, 0);
    le16(&mut z, 0);
    le16(&mut z, 0);
    le32(&mut z, 0);
    le32(&mut z, 0);
    z.extend_from_slice(name.as_bytes());
    let cd_len = z.len() - cd;
    z.extend_from_slice(b"PK\x05\x06");
    le16(&mut z, 0);
    le16(&mut z, 0);
    le16(&mut z, 1);
    le16(&mut z, 1);
    le32(&mut z, cd_len as u32);
    le32(&mut z, cd as u32);
    le16(&mut z, 0);
    z
}

fn b64(data: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn secrets_in_compressed_and_encoded_files_are_rejected_and_benign_ones_pass() {
    let s = setup();
    let secret = fake_github_token();
    // Enough ordinary text around it that the compressors really compress.
    let line = format!(
        "{}token = {secret}\n{}",
        "name = app\n".repeat(50),
        "level = info\n".repeat(50)
    );
    let hex: String = line.bytes().map(|b| format!("{b:02x}")).collect();
    let utf16: Vec<u8> = line.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("data/cfg.gz", gzip(line.as_bytes()), "gzip content"),
        (
            "dist/app.zip",
            zip_one("conf/app.env", line.as_bytes()),
            "zip member conf/app.env",
        ),
        (
            "fixtures/blob.txt",
            format!("payload: {}\n", b64(line.as_bytes())).into_bytes(),
            "decoded content",
        ),
        (
            "fixtures/hex.txt",
            format!("data {hex}\n").into_bytes(),
            "decoded content",
        ),
        ("notes/wide.txt", utf16, "UTF-16LE text"),
    ];
    for (path, data, via) in &cases {
        s.wt.write_bytes(path, data);
        s.wt.commit_all("data");
        let out = push(&s.wt, "HEAD", "refs/heads/main");
        assert_blocked(&s, &out, &secret, "github-pat");
        assert_contains(&out.stderr, &format!("file {path} ({via})"));
        s.wt.git(&["reset", "--quiet", "--hard", "HEAD~1"]);
    }
    // Twins: the same containers with ordinary content.
    let benign = "name = app\nlevel = info\n".repeat(20);
    let hex: String = benign.bytes().map(|b| format!("{b:02x}")).collect();
    s.wt.write_bytes("data/cfg.gz", &gzip(benign.as_bytes()));
    s.wt.write_bytes("dist/app.zip", &zip_one("conf/app.env", benign.as_bytes()));
    s.wt.write(
        "fixtures/blob.txt",
        &format!("payload: {}\n", b64(benign.as_bytes())),
    );
    s.wt.write("fixtures/hex.txt", &format!("data {hex}\n"));
    let wide: Vec<u8> = benign.encode_utf16().flat_map(u16::to_le_bytes).collect();
    s.wt.write_bytes("notes/wide.txt", &wide);
    let c = s.wt.commit_all("data");
    let out = push(&s.wt, "HEAD", "refs/heads/main");
    assert_pushed(&s, &out, "refs/heads/main", &c);
}

#[test]
fn compressed_content_over_the_bound_is_refused_as_unscannable() {
    let s = setup();
    // 80 MiB of zeros in a ~80 KiB gzip: over the 64 MiB decompression bound.
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..80 {
        e.write_all(&zeros).unwrap();
    }
    s.wt.write_bytes("data/huge.gz", &e.finish().unwrap());
    s.wt.commit_all("data");
    let out = push(&s.wt, "HEAD", "refs/heads/main");
    assert_unscannable(&s, &out, "file data/huge.gz");
    assert_contains(&out.stderr, "decompresses to more than");
}

// ---- 6. operator-side allows ----

#[test]
fn operator_allowlist_allows_by_path_and_fingerprint_and_in_repo_allows_stay_ignored() {
    let up = BareRepo::with_files(&[("README.md", "hello\n")]);
    let vendored = fake_github_token();
    let documented = fake_github_token();
    let mut r = file_remote("origin", &up);
    r.allow = vec![
        bottle_gitgate::ScanAllow {
            path: Some("vendor/crypto/tests/**".into()),
            fingerprint: None,
            reason: Some("test vectors".into()),
        },
        bottle_gitgate::ScanAllow {
            path: None,
            fingerprint: Some(bottle_secrets::fingerprint(
                "github-pat",
                documented.as_bytes(),
            )),
            reason: None,
        },
    ];
    let gate = TestGate::start(vec![r]);
    let wt = gate.agent().clone_repo(&up.file_url());
    let s = Setup {
        before: up.refs(),
        up,
        gate,
        wt,
    };
    // Allowed by path, and by fingerprint anywhere.
    let c = s.wt.commit_files(
        &[
            (
                "vendor/crypto/tests/vectors.txt",
                &format!("Key = {vendored}\n"),
            ),
            ("docs/example.md", &format!("token: {documented}\n")),
        ],
        "vendor crypto",
    );
    let out = push(&s.wt, "HEAD", "refs/heads/main");
    assert_pushed(&s, &out, "refs/heads/main", &c);
    assert_contains(
        &out.stderr,
        "2 findings allowed by the operator's allowlist",
    );
    let s = Setup {
        before: s.up.refs(),
        ..s
    };
    // The same vendored secret outside the allowed path blocks.
    s.wt.commit_files(&[("src/app.env", &format!("KEY={vendored}\n"))], "app");
    let out = push(&s.wt, "HEAD", "refs/heads/main");
    assert_blocked(&s, &out, &vendored, "github-pat");
    s.wt.git(&["reset", "--quiet", "--hard", "HEAD~1"]);
    // In-repo allows (inline comments, .gitleaksignore) are the agent's
    // writing: ignored.
    let other = fake_github_token();
    let fp = bottle_secrets::fingerprint("github-pat", other.as_bytes());
    s.wt.commit_files(
        &[
            (
                "src/b.env",
                &format!("TOKEN={other} # gitleaks:allow bottle:allow\n"),
            ),
            (
                ".gitleaksignore",
                &format!("{fp}\nsrc/b.env:github-pat:1\n"),
            ),
        ],
        "allow it myself",
    );
    let out = push(&s.wt, "HEAD", "refs/heads/main");
    assert_blocked(&s, &out, &other, "github-pat");
}

// ---- 5. tokens glued to other text ----

#[test]
fn token_glued_to_other_text_is_rejected_and_prefix_like_words_pass() {
    let s = setup();
    let secret = fake_github_token();
    s.wt.write("data.txt", &format!("blob=xyz{secret}\n"));
    s.wt.commit_all("data");
    let out = push(&s.wt, "HEAD", "refs/heads/main");
    assert_blocked(&s, &out, &secret, "github-pat");
    s.wt.git(&["reset", "--quiet", "--hard", "HEAD~1"]);
    // Twin: the prefix glued to words, no token after it.
    let c = s.wt.commit_files(
        &[("data.txt", "see xyzghp_docs and napi_get_value_string\n")],
        "words",
    );
    let out = push(&s.wt, "HEAD", "refs/heads/main");
    assert_pushed(&s, &out, "refs/heads/main", &c);
}
