//! bottle's findings equal the real gitleaks 8.30.1's on the fixture cases
//! (recorded by bench/scan/record-gitleaks-fixtures.sh; gitleaks is not
//! needed here).

use super::fixture_inputs::{Case, cases, write_case};
use bottle_secrets::Scanner;
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize, PartialEq, Eq, PartialOrd, Ord, Clone)]
struct Expected {
    path: String,
    line: Option<usize>,
    rule_id: String,
    fingerprint: String,
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gitleaks")
}

fn files_under(dir: &Path, rel: &str, out: &mut Vec<String>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir.join(rel))
        .unwrap()
        .map(|e| e.unwrap())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let r = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        if e.file_type().unwrap().is_dir() {
            files_under(dir, &r, out);
        } else {
            out.push(r);
        }
    }
}

fn run_case(case: &Case) -> (Vec<Expected>, Vec<Expected>) {
    let cfg_dir = fixtures().join(case.name);
    let want: Vec<Expected> =
        serde_json::from_str(&std::fs::read_to_string(cfg_dir.join("expected.json")).unwrap())
            .unwrap();
    let scanner = Scanner::from_gitleaks_file(&cfg_dir.join("gitleaks.toml"))
        .unwrap_or_else(|e| panic!("{}: {e}", case.name))
        .with_inline_allow(true);
    let tmp = tempfile::tempdir().unwrap();
    write_case(case, tmp.path()).unwrap();
    let mut files = Vec::new();
    files_under(tmp.path(), "", &mut files);
    let mut got = Vec::new();
    for rel in files {
        let data = std::fs::read(tmp.path().join(&rel)).unwrap();
        for f in scanner.scan(&data, Some(&rel)) {
            got.push(Expected {
                path: rel.clone(),
                line: f.location.line,
                rule_id: f.rule_id,
                fingerprint: f.fingerprint,
            });
        }
    }
    let mut want = want;
    want.sort();
    got.sort();
    (want, got)
}

#[test]
fn findings_equal_gitleaks_on_every_fixture() {
    let mut failures = Vec::new();
    let all = cases();
    assert!(all.len() >= 5);
    for case in &all {
        let (want, got) = run_case(case);
        assert!(!want.is_empty(), "{}: empty fixture", case.name);
        if want != got {
            failures.push(format!(
                "case {}\n--- gitleaks\n{}\n--- bottle\n{}\n",
                case.name,
                want.iter()
                    .map(|e| format!("{e:?}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
                got.iter()
                    .map(|e| format!("{e:?}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n==========\n"));
}

#[test]
fn every_fixture_case_has_a_config_and_expectations() {
    for case in cases() {
        let dir = fixtures().join(case.name);
        assert!(dir.join("gitleaks.toml").is_file(), "{}", case.name);
        assert!(dir.join("expected.json").is_file(), "{}", case.name);
    }
}

#[test]
fn mixing_legacy_and_new_allowlists_is_an_error_as_in_gitleaks() {
    let cfg = "[[rules]]\nid = \"x\"\nregex = '''x'''\n[allowlist]\npaths = ['''a''']\n[[allowlists]]\npaths = ['''b''']\n";
    let err = Scanner::from_gitleaks_str(cfg, Path::new(".")).unwrap_err();
    assert!(err.to_string().contains("deprecated"), "{err}");
}

#[test]
fn a_rule_that_cannot_compile_is_named() {
    let cfg = "[[rules]]\nid = \"broken-rule\"\nregex = '''(unclosed'''\n";
    let err = Scanner::from_gitleaks_str(cfg, Path::new(".")).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("broken-rule"), "{msg}");
}

#[test]
fn secret_group_beyond_the_regex_is_an_error() {
    let cfg = "[[rules]]\nid = \"g\"\nregex = '''a(b)'''\nsecretGroup = 3\n";
    let err = Scanner::from_gitleaks_str(cfg, Path::new(".")).unwrap_err();
    assert!(err.to_string().contains("secretGroup"), "{err}");
}

#[test]
fn commit_allowlists_apply_to_git_findings_only() {
    let cfg = "[[rules]]\nid = \"t\"\nregex = '''tok_[a-z0-9]{12}'''\n[[rules.allowlists]]\ncommits = [\"ABC123\"]\n";
    let scanner = Scanner::from_gitleaks_str(cfg, Path::new(".")).unwrap();
    let text = format!("tok_{}", "a1b2c3d4e5f6");
    assert_eq!(
        scanner
            .scan_ctx(text.as_bytes(), None, Some("abc123"))
            .len(),
        0
    );
    assert_eq!(
        scanner
            .scan_ctx(text.as_bytes(), None, Some("def456"))
            .len(),
        1
    );
    assert_eq!(scanner.scan(text.as_bytes(), None).len(), 1);
}
