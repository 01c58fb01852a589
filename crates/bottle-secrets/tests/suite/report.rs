//! Output formats, baselines and the directory walker.

use bottle_secrets::report::{Baseline, Format, JsonReport, render, sarif};
use bottle_secrets::walk::{WalkOptions, scan_path};
use bottle_secrets::{SampleRng, Scanner, render_template};
use std::process::Command;

fn token(seed: u64) -> String {
    render_template("ghp_{x:36}", &mut SampleRng::new(seed)).text
}

fn sample_findings() -> (Vec<bottle_secrets::Finding>, String) {
    let t = token(77);
    let text = format!("a\nGITHUB_TOKEN={t}\n");
    (
        Scanner::builtin().scan(text.as_bytes(), Some("conf/.env")),
        t,
    )
}

#[test]
fn json_report_is_stable_and_round_trips_as_a_baseline() {
    let (found, secret) = sample_findings();
    assert_eq!(found.len(), 1);
    let mut out = Vec::new();
    render(&found, Format::Json, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(!text.contains(&secret[4..]));
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["version"], 1);
    let f = &v["findings"][0];
    for key in [
        "rule_id",
        "description",
        "redacted",
        "fingerprint",
        "path",
        "commit",
        "line",
        "column",
        "offset",
    ] {
        assert!(f.get(key).is_some(), "missing {key}");
    }
    assert_eq!(f["rule_id"], "github-pat");
    assert_eq!(f["path"], "conf/.env");
    assert_eq!(f["line"], 2);
    let _: JsonReport = serde_json::from_str(&text).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("baseline.json");
    std::fs::write(&p, &text).unwrap();
    let baseline = Baseline::load(&p).unwrap();
    assert_eq!(baseline.len(), 1);
    assert!(baseline.contains(&found[0]));
    // The same secret elsewhere is still suppressed; another one is not.
    let moved =
        Scanner::builtin().scan(format!("\n\n\nx = {secret}").as_bytes(), Some("other.txt"));
    assert!(baseline.contains(&moved[0]));
    let other = Scanner::builtin().scan(token(78).as_bytes(), None);
    assert!(!baseline.contains(&other[0]));
    std::fs::write(&p, "not json").unwrap();
    assert!(Baseline::load(&p).is_err());
}

#[test]
fn sarif_has_the_2_1_0_shape() {
    let (found, secret) = sample_findings();
    let v = sarif(&found);
    assert_eq!(v["version"], "2.1.0");
    let run = &v["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "bottle");
    assert_eq!(run["tool"]["driver"]["rules"][0]["id"], "github-pat");
    let r = &run["results"][0];
    assert_eq!(r["ruleId"], "github-pat");
    assert_eq!(
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "conf/.env"
    );
    assert_eq!(
        r["locations"][0]["physicalLocation"]["region"]["startLine"],
        2
    );
    assert!(r["partialFingerprints"]["bottleFingerprint/v1"].is_string());
    assert!(!v.to_string().contains(&secret[4..]));
}

#[test]
fn text_report_names_rule_place_and_redacted_secret_only() {
    let (found, secret) = sample_findings();
    let mut out = Vec::new();
    render(&found, Format::Text, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("github-pat"), "{text}");
    assert!(text.contains("conf/.env:2:14"), "{text}");
    assert!(text.contains("ghp_…[redacted]"), "{text}");
    assert!(!text.contains(&secret[4..]));
}

#[test]
fn walker_respects_gitignore_scans_hidden_files_and_skips_binaries() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    assert!(
        Command::new("git")
            .arg("-C")
            .arg(root)
            .args(["init", "-q"])
            .status()
            .unwrap()
            .success()
    );
    std::fs::write(root.join(".gitignore"), "ignored/\n").unwrap();
    std::fs::create_dir_all(root.join("ignored")).unwrap();
    std::fs::create_dir_all(root.join("src")).unwrap();
    std::fs::write(root.join(".env"), format!("T={}\n", token(1))).unwrap();
    std::fs::write(root.join("ignored/x.txt"), format!("T={}\n", token(2))).unwrap();
    std::fs::write(root.join("src/clean.rs"), "fn main() {}\n").unwrap();
    let mut bin = b"\x7fELF\0\0\0".to_vec();
    bin.extend_from_slice(token(3).as_bytes());
    std::fs::write(root.join("src/tool.bin"), bin).unwrap();
    // A big file is streamed, with the same result.
    let mut big = "x\n".repeat(600_000);
    big.push_str(&format!("T={}\n", token(4)));
    std::fs::write(root.join("src/big.txt"), big).unwrap();

    let opts = WalkOptions {
        stream_above: 1 << 20,
        ..WalkOptions::default()
    };
    let (found, stats) = scan_path(root, &Scanner::builtin(), &opts);
    let mut paths: Vec<_> = found
        .iter()
        .map(|f| f.location.path.clone().unwrap())
        .collect();
    paths.sort();
    let rel: Vec<_> = paths
        .iter()
        .map(|p| {
            p.strip_prefix(&root.display().to_string())
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(rel, vec!["/.env", "/src/big.txt"]);
    assert_eq!(
        found
            .iter()
            .find(|f| f.location.path.as_deref().unwrap().ends_with("big.txt"))
            .unwrap()
            .location
            .line,
        Some(600_001)
    );
    assert_eq!(stats.binary_skipped, 1);
    assert!(stats.errors.is_empty());

    let all = WalkOptions {
        respect_gitignore: false,
        ..opts
    };
    let (found, _) = scan_path(root, &Scanner::builtin(), &all);
    assert_eq!(found.len(), 3);
}

#[test]
fn a_walk_reports_findings_by_path_line_column_and_rule() {
    // Several files with several findings each, some on one line, some
    // two rules at one place (a token in a URL password): the order is
    // that of a sort of the whole list by (path, line, column, rule id).
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for (i, name) in ["b.env", "a.env", "c/d.env", "c.env", "a.env.d"]
        .iter()
        .enumerate()
    {
        let mut text = String::new();
        for l in 0..20u64 {
            let seed = i as u64 * 100 + l;
            text.push_str(&format!("A={} B={}\n", token(seed), token(seed + 50)));
            if l % 5 == 0 {
                text.push_str(&format!(
                    "url = https://u:{}@db.internal/x\n",
                    token(seed + 70)
                ));
            }
        }
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    // A second rule on the same tokens, whose id sorts before the
    // built-in one it follows in the rule order.
    let toml = "[extend]\nuseDefault = true\n[[rules]]\nid = \"aaa-token\"\nregex = '''ghp_[A-Za-z0-9]{36}'''\nkeywords = [\"ghp_\"]\n";
    let scanner = Scanner::from_gitleaks_str(toml, root).unwrap();
    let (found, _) = scan_path(root, &scanner, &WalkOptions::default());
    assert!(found.len() >= 5 * 40, "{}", found.len());
    let key = |f: &bottle_secrets::Finding| {
        (
            f.location.path.clone(),
            f.location.line,
            f.location.column,
            f.rule_id.clone(),
        )
    };
    let mut sorted = found.clone();
    sorted.sort_by_key(key);
    let got: Vec<_> = found.iter().map(key).collect();
    let want: Vec<_> = sorted.iter().map(key).collect();
    assert_eq!(got, want);
    // Two rules at one place occur, so the rule id order is exercised.
    assert!(
        want.windows(2)
            .any(|w| w[0].0 == w[1].0 && w[0].1 == w[1].1 && w[0].2 == w[1].2)
    );
}
