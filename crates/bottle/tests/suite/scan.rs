//! `bottle scan` through the real binary: inputs, formats, exit codes.

use super::cli::Scratch;
use std::io::Write;
use std::process::{Command, Stdio};

/// A GitHub classic token built at run time (no secret in the repository).
fn github_token(seed: u64) -> String {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let body: String = (0..36)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            alphabet[(x % alphabet.len() as u64) as usize] as char
        })
        .collect();
    // Split so that no token-shaped literal sits in the source.
    let prefix = ["gh", "p_"].concat();
    format!("{prefix}{body}")
}

fn git(dir: &std::path::Path, args: &[&str]) {
    let st = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .status()
        .unwrap();
    assert!(st.success(), "git {args:?}");
}

#[test]
fn stdin_with_a_secret_exits_1_and_redacts() {
    let s = Scratch::new();
    let token = github_token(1);
    let mut child = s
        .cmd(&["scan", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("line one\nexport GH={token}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("github-pat"), "{stdout}");
    assert!(!stdout.contains(&token), "the secret was printed: {stdout}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains(&token));
}

#[test]
fn clean_directory_exits_0_and_gitignore_is_respected() {
    let s = Scratch::new();
    s.write("main.rs", "fn main() { println!(\"hello\"); }\n");
    s.write(".gitignore", "ignored.txt\n");
    s.write("ignored.txt", &format!("token = {}\n", github_token(2)));
    git(s.path(), &["init", "-q"]);
    s.run(&["scan", "."], 0);
    // Without .gitignore the ignored file is scanned and found.
    let out = s.run(&["scan", ".", "--no-gitignore", "--format", "json"], 1);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["version"], 1);
    let f = &v["findings"][0];
    assert_eq!(f["rule_id"], "github-pat");
    assert!(f["path"].as_str().unwrap().ends_with("ignored.txt"), "{f}");
    assert_eq!(f["line"], 1);
}

#[test]
fn json_and_sarif_formats() {
    let s = Scratch::new();
    s.write(
        "config.env",
        &format!("\n\nGITHUB_TOKEN={}\n", github_token(3)),
    );
    let out = s.run(&["scan", "config.env", "--format", "sarif"], 1);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["version"], "2.1.0");
    let result = &v["runs"][0]["results"][0];
    assert_eq!(result["ruleId"], "github-pat");
    assert_eq!(
        result["locations"][0]["physicalLocation"]["region"]["startLine"],
        3
    );
    let out = s.run(&["scan", "config.env", "--format", "json"], 1);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["findings"].as_array().unwrap().len(), 1);
}

#[test]
fn baseline_suppresses_known_findings() {
    let s = Scratch::new();
    s.write("a.env", &format!("T={}\n", github_token(4)));
    let out = s.run(&["scan", "a.env", "--format", "json"], 1);
    std::fs::write(s.path().join("baseline.json"), &out.stdout).unwrap();
    s.run(&["scan", "a.env", "--baseline", "baseline.json"], 0);
    // A new secret is still reported.
    s.write(
        "a.env",
        &format!("T={}\nU={}\n", github_token(4), github_token(5)),
    );
    s.run(&["scan", "a.env", "--baseline", "baseline.json"], 1);
}

#[test]
fn git_history_scan_reports_the_commit() {
    let s = Scratch::new();
    git(s.path(), &["init", "-q", "-b", "main"]);
    s.write("README", "hello\n");
    git(s.path(), &["add", "."]);
    git(s.path(), &["commit", "-q", "-m", "first"]);
    s.write(
        "deploy.sh",
        &format!(
            "#!/bin/sh\ncurl -H 'Authorization: token {}' x\n",
            github_token(6)
        ),
    );
    git(s.path(), &["add", "."]);
    git(s.path(), &["commit", "-q", "-m", "add deploy"]);
    // The secret is removed again: a file scan is clean, history is not.
    std::fs::remove_file(s.path().join("deploy.sh")).unwrap();
    git(s.path(), &["commit", "-q", "-am", "remove"]);
    s.run(&["scan", "."], 0);
    let out = s.run(&["scan", ".", "--git", "--format", "json"], 1);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = &v["findings"][0];
    assert_eq!(f["path"], "deploy.sh");
    assert_eq!(f["line"], 2);
    assert_eq!(f["commit"].as_str().unwrap().len(), 40, "{f}");
    // A range that excludes the commit is clean.
    s.run(&["scan", ".", "--git", "HEAD~1..HEAD"], 0);
}

#[test]
fn errors_exit_2() {
    let s = Scratch::new();
    s.write("bad.toml", "[[rules]]\nid = \"x\"\nregex = \"(unclosed\"\n");
    s.write("f.txt", "nothing\n");
    let out = s.run(&["scan", "f.txt", "--config", "bad.toml"], 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains('x') && err.to_lowercase().contains("regex"),
        "{err}"
    );
    s.run(&["scan", "does-not-exist"], 2);
}
