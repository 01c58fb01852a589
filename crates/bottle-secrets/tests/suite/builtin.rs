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
