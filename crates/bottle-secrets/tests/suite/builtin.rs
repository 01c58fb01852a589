//! Every built-in rule catches its generated true positive and none of its
//! near misses.

use bottle_secrets::{SampleRng, Scanner, builtin_rules, fingerprint, render_template};

const SAMPLES: u64 = 12;

#[test]
fn there_are_at_least_150_builtin_rules() {
    let n = builtin_rules().len();
    assert!(n >= 150, "only {n} built-in rules");
    let scanner = Scanner::builtin();
    assert_eq!(scanner.rule_count(), n);
    let mut ids: Vec<_> = builtin_rules().iter().map(|r| r.id).collect();
    ids.sort();
    let before = ids.len();
    ids.dedup();
    assert_eq!(before, ids.len(), "duplicate rule ids");
}

#[test]
fn every_rule_catches_its_true_positive() {
    let scanner = Scanner::builtin();
    let mut failures = Vec::new();
    for (i, rule) in builtin_rules().iter().enumerate() {
        for seed in 0..SAMPLES {
            let mut rng = SampleRng::new(seed * 1000 + i as u64);
            let sample = render_template(rule.sample, &mut rng);
            if rule.path.is_some() {
                let found = scanner.scan(b"binary", Some(&sample.text));
                if !found.iter().any(|f| f.rule_id == rule.id) {
                    failures.push(format!("{}: path {:?} not flagged", rule.id, sample.text));
                }
                continue;
            }
            let secret = sample.secret_str().expect("sample marks its secret");
            let found = scanner.scan(sample.text.as_bytes(), Some("sample.txt"));
            let want = fingerprint(rule.id, secret.as_bytes());
            if !found
                .iter()
                .any(|f| f.rule_id == rule.id && f.fingerprint == want)
            {
                failures.push(format!(
                    "{}: sample {:?} gave {:?}",
                    rule.id,
                    sample.text,
                    found
                        .iter()
                        .map(|f| (&f.rule_id, &f.redacted))
                        .collect::<Vec<_>>()
                ));
                break;
            }
        }
    }
    assert!(failures.is_empty(), "\n{}\n", failures.join("\n"));
}

#[test]
fn no_rule_matches_its_near_miss() {
    let scanner = Scanner::builtin();
    let mut failures = Vec::new();
    for (i, rule) in builtin_rules().iter().enumerate() {
        for seed in 0..SAMPLES {
            let mut rng = SampleRng::new(seed * 7919 + i as u64);
            let near = render_template(rule.near_miss, &mut rng);
            let found = if rule.path.is_some() {
                scanner.scan(b"binary", Some(&near.text))
            } else {
                scanner.scan(near.text.as_bytes(), Some("near.txt"))
            };
            if found.iter().any(|f| f.rule_id == rule.id) {
                failures.push(format!("{}: near miss {:?} matched", rule.id, near.text));
                break;
            }
        }
    }
    assert!(failures.is_empty(), "\n{}\n", failures.join("\n"));
}

/// Lines from real code that look a little like secrets and are not; each
/// one was a false positive of an earlier rule version.
#[test]
fn benign_code_is_not_flagged() {
    let sha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    let lines = [
        "pub ikeCredentials: IKEEXT_CREDENTIALS1,".to_string(),
        "pub const X509AuthAnonymous: X509EnrollmentAuthFlags = 1i32;".to_string(),
        "pub type EXTENDED_KEY_USAGE = stack_st_ASN1_OBJECT;".to_string(),
        "pub const NL80211_KEY_MAX: nl80211_key_attributes = nl80211_key_attributes::MAX;"
            .to_string(),
        "/// abc://username:password@example.com:123/path/data".to_string(),
        "DATABASE_URL=postgres://app:${DB_PASSWORD}@db:5432/app".to_string(),
        "let token = lexer.next_token();".to_string(),
        "secret_name = \"db-credentials\"".to_string(),
        "api_key = settings.API_KEY_V2".to_string(),
        "request_id: 123e4567-e89b-12d3-a456-426614174000".to_string(),
        "cache_key = \"0a1b2c3d-0a1b-4c3d-8e9f-0a1b2c3d4e5f\"".to_string(),
        "version_key = \"1.2.3-beta.4\"".to_string(),
        format!("checksum = \"{sha}\""),
        format!(
            "\"integrity\": \"sha512-{}\"",
            "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODkwYWJjZGVm"
        ),
        "github.com/acme/widget v1.2.3 h1:0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1=".to_string(),
        "password: ${{ secrets.DB_PASSWORD }}".to_string(),
        "TOKEN=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx".to_string(),
        "public_key = \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB1234567890abcdefghij\"".to_string(),
    ];
    let scanner = Scanner::builtin();
    let flagged: Vec<_> = lines
        .iter()
        .filter_map(|l| {
            let f = scanner.scan(l.as_bytes(), Some("src/lib.rs"));
            (!f.is_empty()).then(|| {
                format!(
                    "{l:?} -> {:?}",
                    f.iter().map(|f| &f.rule_id).collect::<Vec<_>>()
                )
            })
        })
        .collect();
    assert!(flagged.is_empty(), "\n{}\n", flagged.join("\n"));
}

#[test]
fn private_keys_in_comments_and_escaped_strings_are_found() {
    let mut rng = SampleRng::new(99);
    let body: Vec<String> = (0..4)
        .map(|_| render_template("{b:64}", &mut rng).text)
        .collect();
    let commented = format!(
        "// -----BEGIN RSA PRIVATE KEY-----\n// {}\n// {}\n//! {}\n// {}==\n// -----END RSA PRIVATE KEY-----\n",
        body[0], body[1], body[2], body[3]
    );
    let escaped = format!(
        "const K: &str = \"-----BEGIN RSA PRIVATE KEY-----\\r\\n{}\\r\\n{}\\r\\n-----END RSA PRIVATE KEY-----\\r\\n\";\n",
        body[0], body[1]
    );
    let encrypted = format!(
        "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,{}\n\n{}\n{}\n-----END RSA PRIVATE KEY-----\n",
        render_template("{H:32}", &mut rng).text,
        body[2],
        body[3]
    );
    let scanner = Scanner::builtin();
    for (name, text) in [
        ("commented", commented),
        ("escaped", escaped),
        ("encrypted", encrypted),
    ] {
        let found = scanner.scan(text.as_bytes(), Some("k.rs"));
        assert!(
            found
                .iter()
                .any(|f| f.rule_id == "private-key" && f.location.line == Some(1)),
            "{name}: {found:?}"
        );
    }
}
