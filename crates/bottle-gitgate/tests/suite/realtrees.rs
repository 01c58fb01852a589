//! Benign pushes of real trees pass: vendored crates from the local cargo
//! registry (a crypto one among them), this workspace's lockfile and its
//! documentation. A vendored crate whose tests ship a PEM key is refused,
//! and passes once the operator allows its path (never an in-repo file).
//!
//! The crates are the ones this workspace builds with, so they are in the
//! registry wherever these tests compile; a missing one is a failure, not
//! a skip.

use super::harness::*;
use bottle_testkit::gitremote::{BareRepo, GitOutput, WorkTree};
use std::path::{Path, PathBuf};

/// `<cargo home>/registry/src/<index>/<name>-<version>` for the first
/// version of `name` found.
fn vendored(name: &str) -> PathBuf {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
        .expect("neither CARGO_HOME nor HOME is set");
    let src = home.join("registry").join("src");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&src)
        .unwrap_or_else(|e| panic!("{}: {e}", src.display()))
        .flatten()
        .flat_map(|index| std::fs::read_dir(index.path()).into_iter().flatten())
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix(name))
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(|v| v.starts_with(|c: char| c.is_ascii_digit()))
        })
        .collect();
    found.sort();
    found
        .pop()
        .unwrap_or_else(|| panic!("crate {name} is not in {}", src.display()))
}

/// Copy a tree (regular files and directories; symlinks skipped).
fn copy_tree(from: &Path, to: &Path) -> u64 {
    std::fs::create_dir_all(to).unwrap();
    let mut bytes = 0;
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let ty = e.file_type().unwrap();
        let dst = to.join(e.file_name());
        if ty.is_dir() {
            bytes += copy_tree(&e.path(), &dst);
        } else if ty.is_file() {
            bytes += std::fs::copy(e.path(), &dst).unwrap();
        }
    }
    bytes
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn push_main(wt: &WorkTree) -> GitOutput {
    wt.try_git(&["push", "origin", "HEAD:refs/heads/main"])
}

#[test]
fn benign_pushes_of_real_trees_pass_and_a_vendored_test_key_needs_the_operators_allow() {
    let up = BareRepo::with_files(&[("README.md", "hello\n")]);
    let gate = TestGate::start(vec![file_remote("origin", &up)]);
    let wt = gate.agent().clone_repo(&up.file_url());

    // Vendored crates (ring: a crypto crate with its test vectors), the
    // lockfile and the documentation of this workspace.
    let mut bytes = 0;
    for name in ["ring", "rustls", "serde", "regex-syntax"] {
        bytes += copy_tree(&vendored(name), &wt.path().join("vendor").join(name));
    }
    for f in ["Cargo.lock", "Cargo.toml", "README.md"] {
        bytes += std::fs::copy(workspace_root().join(f), wt.path().join(f)).unwrap();
    }
    bytes += copy_tree(&workspace_root().join("docs"), &wt.path().join("docs"));
    assert!(bytes > 4 << 20, "only {bytes} bytes of real trees");
    let c = wt.commit_all("vendor crates, lockfile and docs");
    let out = push_main(&wt);
    assert!(out.success, "a benign push was refused:\n{}", out.stderr);
    assert_eq!(up.rev("refs/heads/main").as_deref(), Some(c.as_str()));

    // rcgen's sources hold a PEM private key (test data, but a real key by
    // shape): refused, naming it, upstream untouched.
    copy_tree(&vendored("rcgen"), &wt.path().join("vendor/rcgen"));
    let key = wt.commit_all("vendor rcgen");
    let out = push_main(&wt);
    assert!(!out.success, "a PEM key went through:\n{}", out.stderr);
    assert_contains(&out.stderr, "rule private-key");
    assert_contains(&out.stderr, "vendor/rcgen/");
    assert_eq!(up.rev("refs/heads/main").as_deref(), Some(c.as_str()));

    // The operator allows that crate's path for this remote: the same push
    // passes, and says what was allowed.
    let mut r = file_remote("origin", &up);
    r.allow = vec![bottle_gitgate::ScanAllow {
        path: Some("vendor/rcgen/**".into()),
        fingerprint: None,
        reason: Some("rcgen's test keys".into()),
    }];
    let allowing = TestGate::start(vec![r]);
    let wt2 = allowing.agent().clone_repo(&up.file_url());
    wt2.git(&["fetch", "--quiet", wt.path().to_str().unwrap(), "HEAD"]);
    wt2.git(&["reset", "--quiet", "--hard", "FETCH_HEAD"]);
    assert_eq!(wt2.head(), key);
    let out = push_main(&wt2);
    assert!(
        out.success,
        "the operator's allow did not apply:\n{}",
        out.stderr
    );
    assert_contains(&out.stderr, "allowed by the operator's allowlist");
    assert_eq!(up.rev("refs/heads/main").as_deref(), Some(key.as_str()));
}
