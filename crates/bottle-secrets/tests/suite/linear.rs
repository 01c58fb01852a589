//! Scanning cost is linear in the input whatever the density of findings:
//! the engine's work counter (bytes examined) per input byte stays flat as
//! a dense line or file grows, and every finding is reported.

use bottle_secrets::{Profile, SampleRng, Scanner, render_template, testing};

/// JSON with `n` records, each holding a token of one of a few kinds
/// (about one token every 150 bytes), on one line or one record per line.
fn dense(n: usize, one_line: bool, seed: u64) -> (String, usize) {
    let mut rng = SampleRng::new(seed);
    let kinds = [
        "ghp_{x:36}",
        "AKIA{U:6}2{U:5}7{U:3}",
        "xoxb-{d:12}-{d:13}-{x:24}",
        "glpat-{u:20}",
        "npm_{x:36}",
    ];
    let sep = if one_line { "" } else { "\n" };
    let mut out = String::from("[");
    for i in 0..n {
        let t = render_template(kinds[i % kinds.len()], &mut rng).text;
        let pad = render_template("{l:40}", &mut rng).text;
        if i > 0 {
            out.push(',');
        }
        out.push_str(sep);
        out.push_str(&format!(
            "{{\"id\": {i}, \"note\": \"{pad}\", \"value\": \"{t}\", \"kind\": \"token\"}}"
        ));
    }
    out.push_str("]\n");
    (out, n)
}

fn work_of(scanner: &Scanner, data: &str) -> (u64, usize) {
    let before = testing::work();
    let found = scanner.scan(data.as_bytes(), Some("data.json"));
    (testing::work() - before, found.len())
}

fn check(scanner: &Scanner, one_line: bool) {
    let mut per_byte = Vec::new();
    for n in [500, 2000, 8000] {
        let (data, tokens) = dense(n, one_line, n as u64);
        let (work, found) = work_of(scanner, &data);
        assert_eq!(
            found, tokens,
            "every finding is reported (one_line {one_line})"
        );
        per_byte.push(work as f64 / data.len() as f64);
    }
    let (first, last) = (per_byte[0], per_byte[per_byte.len() - 1]);
    assert!(
        last <= first * 1.25,
        "work per byte grows with size (one_line {one_line}): {per_byte:?}"
    );
}

#[test]
fn a_dense_line_costs_linear_work_in_both_profiles() {
    for profile in [Profile::Code, Profile::Egress] {
        let s = Scanner::builtin()
            .with_profile(profile)
            .with_inline_allow(true);
        check(&s, true);
        check(&s, false);
    }
}

#[test]
fn line_allowlists_and_generic_dedup_stay_linear() {
    // A config whose global allowlist targets the line, and a generic
    // rule that overlaps the specific ones: both used to re-read the line
    // per finding.
    let toml = r#"
[extend]
useDefault = true
[[allowlists]]
regexTarget = "line"
regexes = ['''nothing-matches-this''']
[[rules]]
id = "generic-token-value"
regex = '''"value": "([A-Za-z0-9_-]{20,})"'''
keywords = ["value"]
"#;
    let s = Scanner::from_gitleaks_str(toml, std::path::Path::new("."))
        .unwrap()
        .with_inline_allow(true);
    let mut per_byte = Vec::new();
    for n in [500, 2000, 8000] {
        let (data, tokens) = dense(n, true, 3);
        let (work, found) = work_of(&s, &data);
        assert!(found >= tokens, "{found} < {tokens}");
        per_byte.push(work as f64 / data.len() as f64);
    }
    assert!(per_byte[2] <= per_byte[0] * 1.25, "{per_byte:?}");
}

#[test]
fn the_counter_sees_quadratic_work_if_there_were_any() {
    // The counter is not blind: scanning twice the data counts twice the
    // work (so a per-finding rescan of the line would show).
    let s = Scanner::builtin();
    let (a, _) = dense(1000, true, 1);
    let b = format!("{}{}", a.trim_end(), a);
    let (wa, _) = work_of(&s, &a);
    let (wb, _) = work_of(&s, &b);
    assert!(wb > wa * 19 / 10 && wb < wa * 21 / 10, "{wa} {wb}");
}

#[test]
fn a_long_match_on_a_long_line_is_found_whole() {
    // Windows on long lines end a little after the keyword; a match that
    // runs on is followed to its true end, so the secret (and fingerprint)
    // is the whole token, not a window's share of it.
    let mut rng = SampleRng::new(11);
    let jwt = render_template("eyJhbGciOiJIUzI1NiJ9.eyJ{u:6000}.{u:43}", &mut rng).text;
    let pad = render_template("{l:30000}", &mut rng).text;
    let line = format!("{{\"a\": \"{pad}\", \"jwt\": \"{jwt}\", \"b\": \"{pad}\"}}\n");
    for profile in [Profile::Code, Profile::Egress] {
        let found = Scanner::builtin()
            .with_profile(profile)
            .scan(line.as_bytes(), None);
        let want = bottle_secrets::fingerprint("jwt", jwt.as_bytes());
        assert!(
            found
                .iter()
                .any(|f| f.rule_id == "jwt" && f.fingerprint == want),
            "{profile:?}: {:?}",
            found.iter().map(|f| &f.rule_id).collect::<Vec<_>>()
        );
    }
}
