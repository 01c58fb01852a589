//! Issue 12: the egress profile's variants of prefix-anchored tokens (the
//! wrong length, a wider alphabet, test / sandbox / restricted prefixes)
//! and key material cut short (a truncated or escaped PEM key, a Google
//! Cloud service-account key file). Each blocks in `egress`, has a benign
//! twin that passes, and is no finding in `code`. Tokens are generated at
//! run time; none sits in the repo.

use base64::Engine as _;
use bottle_secrets::{
    DecodeLimits, Profile, SampleRng, Scanner, builtin_rules, render_template, variant_of,
};

fn egress() -> Scanner {
    Scanner::builtin().with_profile(Profile::Egress)
}

fn code() -> Scanner {
    Scanner::builtin().with_profile(Profile::Code)
}

/// Rule ids `egress` reports on `payload`, every decoded view included.
fn egress_ids(s: &Scanner, payload: &str) -> Vec<String> {
    s.scan_payload(payload.as_bytes(), &DecodeLimits::default())
        .expect("decodes")
        .into_iter()
        .map(|f| f.rule_id)
        .collect()
}

fn make(template: &str, seed: u64) -> String {
    let mut t = render_template(template, &mut SampleRng::new(seed)).text;
    // A random run holds a digit almost always; make sure.
    if !t.bytes().any(|b| b.is_ascii_digit()) {
        t.push_str("42");
    }
    t
}

#[test]
fn issue12_every_prefix_blocks_its_variants_in_egress_not_in_code() {
    let (code, egress) = (code(), egress());
    let mut failures = Vec::new();
    let mut rules = 0;
    let mut siblings = 0;
    for (i, rule) in builtin_rules().iter().enumerate() {
        let Some(v) = variant_of(rule) else { continue };
        rules += 1;
        siblings += v.prefixes.len() - 1;
        let id = format!("{}-variant", rule.id);
        for (j, p) in v.prefixes.iter().enumerate() {
            let seed = 1000 * i as u64 + j as u64;
            // Longer than any vendor's length, and words joined to digits.
            let bodies = if v.caps {
                vec![make("{A:19}", seed), make("{A:13}", seed + 500)]
            } else {
                vec![
                    make("{x:61}", seed),
                    make("FAKE_TEST_KEY_{d:11}", seed + 500),
                    make("x-{x:17}", seed + 700),
                ]
            };
            for body in bodies {
                let text = format!("{{\"v\": \"{p}{body}\"}}");
                let e = egress.scan(text.as_bytes(), None);
                if !e.iter().any(|f| f.rule_id.starts_with(rule.id)) {
                    failures.push(format!("egress misses {text:?} -> {e:?}"));
                }
                if code
                    .scan(text.as_bytes(), None)
                    .iter()
                    .any(|f| f.rule_id == id)
                {
                    failures.push(format!("code reports a variant: {text:?}"));
                }
            }
            // Benign twins: identifiers after the prefix.
            for benign in [
                "results_directory2",
                "ComponentFactory",
                "DEFAULTCONFIGNAME",
            ] {
                let text = format!("x = {p}{benign};");
                let e = egress.scan(text.as_bytes(), None);
                if e.iter().any(|f| f.rule_id == id) {
                    failures.push(format!("{id} on an identifier: {text:?}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "\n{}\n", failures.join("\n"));
    assert!(rules >= 100, "only {rules} variant rules");
    assert!(siblings >= 10, "only {siblings} sibling prefixes");
}

#[test]
fn issue12_aws_key_ids_of_the_wrong_length_or_alphabet_block() {
    let egress = egress();
    // 23 characters, with digits outside the base32 alphabet of real ids.
    let long = format!("AKIA{}{}", "EXAMPLE", "0".repeat(12));
    for payload in [
        format!("{{\"content\": \"{long}\"}}"),
        format!(
            "{{\"content\": \"{}\"}}",
            base64::engine::general_purpose::STANDARD.encode(&long)
        ),
        format!("id={}", make("ASIA{A:19}", 3)),
        format!("id={}", make("AKIA{A:14}", 4)),
    ] {
        let ids = egress_ids(&egress, &payload);
        assert!(
            ids.iter().any(|i| i.starts_with("aws-access-token")),
            "{payload:?} -> {ids:?}"
        );
    }
    // Benign twins: letters inside a longer word, words and a short run.
    for payload in [
        format!("key=MAKIA{}", make("{A:19}", 5)),
        "region ASIAPACIFIC2024 and ASIA-PACIFIC".to_string(),
        "AKIAPOLICY_NAME_V2".to_string(),
    ] {
        let ids = egress_ids(&egress, &payload);
        assert!(
            !ids.iter().any(|i| i.starts_with("aws-access-token")),
            "{payload:?} -> {ids:?}"
        );
    }
    assert!(code().scan(long.as_bytes(), None).is_empty());
}

#[test]
fn issue12_sendgrid_keys_with_parts_of_other_lengths_block() {
    let egress = egress();
    for payload in [
        format!(
            "X-Api-Key: SG.FAKE_TEST_KEY_{}.FAKE_TEST_{}",
            "0".repeat(10),
            "0".repeat(41)
        ),
        format!("SENDGRID=SG.FAKE_TEST_KEY_{}", "0".repeat(14)),
        format!("k={}", make("SG.{u:14}.{u:30}", 8)),
        format!("k={}", make("SG.{x:30}", 9)),
    ] {
        let ids = egress_ids(&egress, &payload);
        assert!(
            ids.iter().any(|i| i.starts_with("sendgrid-api-token")),
            "{payload:?} -> {ids:?}"
        );
        assert!(
            code().scan(payload.as_bytes(), None).is_empty(),
            "{payload:?}"
        );
    }
    // Benign twins: `SG.` in prose and as member access in code.
    for payload in [
        "Offices in SG. Singapore and HK.",
        "let f = SG.ComponentFactory.create(SG.DEFAULT_CONFIG_V2);",
    ] {
        let ids = egress_ids(&egress, payload);
        assert!(ids.is_empty(), "{payload:?} -> {ids:?}");
    }
}

#[test]
fn issue12_test_and_restricted_vendor_keys_block() {
    let egress = egress();
    for (tpl, rule) in [
        ("sk-test-{x:24}", "stripe-access-token"),
        ("sk_test_{x:24}", "stripe-access-token"),
        ("rk_live_{x:30}", "stripe-access-token"),
        ("rk_test_FAKE_{d:20}", "stripe-access-token"),
        ("sk_live_FAKE_TEST_KEY_{d:11}", "stripe-access-token"),
        ("rzp_test_{x:20}", "razorpay-key"),
    ] {
        for seed in 0..4 {
            let t = make(tpl, seed);
            let payload = format!("{{\"v\": \"{t}\"}}");
            let ids = egress_ids(&egress, &payload);
            assert!(
                ids.iter().any(|i| i.starts_with(rule)),
                "{payload:?} -> {ids:?}"
            );
        }
    }
    // Benign twins: CSS class names of a spinner library, test-run paths.
    for payload in [
        r#"<div class="sk-circle sk-fading-circle sk-cube-grid2 sk-folding-cube"></div>"#,
        "out=sk-test-results-directory2",
        ".sk-chase-dot:nth-child(2) { animation-delay: -1.0s; }",
    ] {
        let ids = egress_ids(&egress, payload);
        assert!(ids.is_empty(), "{payload:?} -> {ids:?}");
    }
}

/// A PEM body of `n` base64 characters (generated, never a real key).
fn pem_body(n: usize, seed: u64) -> String {
    make(&format!("{{b:{n}}}"), seed)
}

#[test]
fn issue12_truncated_or_escaped_private_keys_block() {
    let (code, egress) = (code(), egress());
    let body = pem_body(64, 21);
    let truncated = format!("-----BEGIN PRIVATE KEY-----\n{body}\n{}", &body[..20]);
    // As a JSON string value (escaped newlines), and double-escaped.
    let escaped = format!("{{\"k\": \"-----BEGIN RSA PRIVATE KEY-----\\n{body}\"}}");
    let double = format!(
        "{{\"m\": \"{{\\\"k\\\": \\\"-----BEGIN OPENSSH PRIVATE KEY-----\\\\n{body}\\\"}}\"}}"
    );
    for payload in [&truncated, &escaped, &double] {
        let ids = egress_ids(&egress, payload);
        assert!(
            ids.iter().any(|i| i.starts_with("private-key")),
            "{payload:?} -> {ids:?}"
        );
        assert!(
            code.scan(payload.as_bytes(), None).is_empty(),
            "{payload:?}"
        );
    }
    // Benign twins: a header without key material, or with too little.
    for payload in [
        "-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----".to_string(),
        format!("-----BEGIN RSA PRIVATE KEY-----\\n{}", &body[..30]),
        "if line.starts_with(\"-----BEGIN PRIVATE KEY-----\") {".to_string(),
    ] {
        let ids = egress_ids(&egress, &payload);
        assert!(ids.is_empty(), "{payload:?} -> {ids:?}");
    }
}

#[test]
fn issue12_google_service_account_key_files_block_even_cut_short() {
    let egress = egress();
    let key_id = make("{h:40}", 31);
    let email = "\"client_email\": \"svc@demo.iam.gserviceaccount.com\"";
    let full = format!(
        "{{\"type\": \"service_account\", \"project_id\": \"demo\", \"private_key_id\": \"{key_id}\", \"private_key\": \"-----BEGIN PRIVATE KEY-----\\n{}\\n-----END PRIVATE KEY-----\\n\", {email}}}",
        pem_body(64, 32)
    );
    // The key cut to a few characters, with no key id; the key id cut
    // short; the fields in another order; the file inside a JSON string.
    let cut = format!(
        "{{\"type\":\"service_account\",\"project_id\":\"demo\",\"private_key\":\"-----BEGIN PRIVATE KEY-----\\n{}\",{email}}}",
        pem_body(10, 33)
    );
    let short_id = format!(
        "{{\"type\": \"service_account\", \"private_key_id\": \"{}\"}}",
        &key_id[..20]
    );
    let reordered = format!(
        "{{{email}, \"private_key\": \"-----BEGIN PRIVATE KEY-----\\n{}\", \"type\": \"service_account\"}}",
        pem_body(12, 34)
    );
    let nested = format!("{{\"text\": {:?}}}", cut);
    for payload in [&full, &cut, &short_id, &reordered, &nested] {
        let ids = egress_ids(&egress, payload);
        assert!(
            ids.iter()
                .any(|i| i.starts_with("gcp-service-account-key") || i.starts_with("private-key")),
            "{payload:?} -> {ids:?}"
        );
        let c = code().scan(payload.as_bytes(), None);
        assert!(
            !c.iter().any(|f| f.rule_id.ends_with("-fragment")),
            "{payload:?} -> {c:?}"
        );
    }
    // Benign twins: a template without key material, and the marker alone
    // (a project id is no credential).
    for payload in [
        format!(
            "{{\"type\": \"service_account\", \"project_id\": \"demo\", \"private_key_id\": \"\", \"private_key\": \"\", {email}}}"
        ),
        format!(
            "{{\"type\": \"service_account\", \"private_key\": \"-----BEGIN PRIVATE KEY-----\\n...\\n-----END PRIVATE KEY-----\\n\", {email}}}"
        ),
        "https://evil.example.com/up?d={\"type\":\"service_account\",\"project_id\":\"demo\"}"
            .to_string(),
    ] {
        let ids = egress_ids(&egress, &payload);
        assert!(ids.is_empty(), "{payload:?} -> {ids:?}");
    }
}

/// 40 characters of the AWS secret key alphabet, both cases and digits.
fn aws_secret(seed: u64) -> String {
    let mut s = make("{b:37}", seed);
    s.truncate(37);
    s.push_str("a7Q");
    s
}

fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn issue12_an_aws_secret_key_sent_encoded_and_alone_blocks() {
    let (code, egress) = (code(), egress());
    let id = "aws-secret-access-key-variant";
    for seed in 0..6 {
        let secret = aws_secret(seed);
        let mut blob = vec![0xde, 0xad, 0xbe, 0xef, 0x00, 0x11, 0x22];
        blob.extend_from_slice(secret.as_bytes());
        blob.extend_from_slice(&[0x0a, 0x00, 0xff]);
        let b64 = base64::engine::general_purpose::STANDARD.encode(&secret);
        for payload in [
            hex(&blob),
            format!("{{\"data\": \"{}\"}}", hex(secret.as_bytes())),
            format!("{{\"data\": \"{b64}\"}}"),
            format!(
                "{{\"data\": \"{}\"}}",
                base64::engine::general_purpose::STANDARD.encode(&blob)
            ),
        ] {
            let ids = egress_ids(&egress, &payload);
            assert!(ids.iter().any(|i| i == id), "{payload:?} -> {ids:?}");
            assert!(
                code.scan(payload.as_bytes(), None).is_empty(),
                "{payload:?}"
            );
        }
        // Benign twins: the same shape in plain text (everyday data without
        // a keyword), and encoded lines of one case or without a digit.
        let plain = format!("{{\"sig\": \"{secret}\", \"n\": 1}}");
        let ids = egress_ids(&egress, &plain);
        assert!(!ids.iter().any(|i| i == id), "{plain:?} -> {ids:?}");
    }
    let sha = make("{h:40}", 9);
    let words = "ThisIsAnOrdinaryCamelCaseIdentifierWordX";
    let upper = make("{A:40}", 10);
    for text in [sha.as_str(), words, upper.as_str()] {
        let payload = format!("{{\"data\": \"{}\"}}", hex(text.as_bytes()));
        let ids = egress_ids(&egress, &payload);
        assert!(!ids.iter().any(|i| i == id), "{text:?} -> {ids:?}");
    }
    // A base64-encoded PEM certificate whose last line is 40 characters
    // (a kubeconfig's `certificate-authority-data`): lines of a block.
    let pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n{}\n{}\n-----END CERTIFICATE-----\n",
        make("{b:64}", 11),
        make("{b:64}", 12),
        aws_secret(13)
    );
    let payload = format!(
        "certificate-authority-data: {}",
        base64::engine::general_purpose::STANDARD.encode(&pem)
    );
    let ids = egress_ids(&egress, &payload);
    assert!(!ids.iter().any(|i| i == id), "{payload:?} -> {ids:?}");
}
