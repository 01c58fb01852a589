//! Scanning git history with a real git: added lines with new-file line
//! numbers, commit messages, ranges, merges, tags, quarantine-style env.

use bottle_secrets::git::{GitScanOptions, MergeDiffs, scan_revs, scan_revs_with, scan_tag};
use bottle_secrets::{SampleRng, Scanner, fingerprint, render_template};
use std::path::Path;
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.test",
            "-c",
            "commit.gpgsign=false",
            "-c",
            "tag.gpgsign=false",
        ])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn commit_file(dir: &Path, path: &str, content: &str, msg: &str) -> String {
    let p = dir.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, content).unwrap();
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", msg]);
    git(dir, &["rev-parse", "HEAD"])
}

fn token(seed: u64) -> String {
    render_template("ghp_{x:36}", &mut SampleRng::new(seed)).text
}

fn repo() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    git(d.path(), &["init", "-q", "-b", "main"]);
    d
}

#[test]
fn added_lines_messages_and_line_numbers() {
    let d = repo();
    let dir = d.path();
    let t1 = token(1);
    let t2 = token(2);
    let t3 = token(3);
    let c1 = commit_file(dir, "src/a.txt", "one\ntwo\nthree\nfour\n", "initial");
    let c2 = commit_file(
        dir,
        "src/a.txt",
        &format!("one\ntwo\nkey {t1}\nthree\nfour\nfive {t2}\n"),
        "add keys",
    );
    let c3 = commit_file(
        dir,
        "dir with space/q\"uote.txt",
        &format!("x\n{t3}\n"),
        "weird path",
    );
    let m = token(4);
    git(
        dir,
        &[
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            &format!("subject\n\nbody mentions {m}\n"),
        ],
    );
    let c4 = git(dir, &["rev-parse", "HEAD"]);

    let found = scan_revs(dir, &["HEAD"], &Scanner::builtin()).unwrap();
    let got: Vec<_> = found
        .iter()
        .map(|f| {
            (
                f.location.commit.clone().unwrap(),
                f.location.path.clone(),
                f.location.line,
                f.fingerprint.clone(),
            )
        })
        .collect();
    let fp = |t: &str| fingerprint("github-pat", t.as_bytes());
    let want = vec![
        (c4.clone(), None, Some(3), fp(&m)),
        (
            c3.clone(),
            Some("dir with space/q\"uote.txt".to_string()),
            Some(2),
            fp(&t3),
        ),
        (c2.clone(), Some("src/a.txt".to_string()), Some(3), fp(&t1)),
        (c2.clone(), Some("src/a.txt".to_string()), Some(6), fp(&t2)),
    ];
    assert_eq!(got, want);
    let _ = c1;
}

#[test]
fn ranges_select_commits_and_deletions_are_not_findings() {
    let d = repo();
    let dir = d.path();
    let t = token(11);
    let base = commit_file(dir, "a.txt", &format!("{t}\n"), "leak");
    commit_file(dir, "a.txt", "clean\n", "remove it");
    let found = scan_revs(dir, &[&format!("{base}..HEAD")], &Scanner::builtin()).unwrap();
    assert!(found.is_empty(), "{found:?}");
    let all = scan_revs(dir, &["HEAD"], &Scanner::builtin()).unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].location.commit.as_deref(), Some(base.as_str()));
}

#[test]
fn pre_receive_style_revs_scan_only_new_commits() {
    let d = repo();
    let dir = d.path();
    commit_file(
        dir,
        "old.txt",
        &format!("{}\n", token(21)),
        "already upstream",
    );
    git(dir, &["branch", "upstream"]);
    git(dir, &["checkout", "-q", "-b", "feature"]);
    let new = commit_file(dir, "new.txt", &format!("{}\n", token(22)), "new work");
    // As a pre-receive hook: the new tip, and nothing reachable from refs.
    git(dir, &["update-ref", "-d", "refs/heads/feature"]);
    git(dir, &["checkout", "-q", "--detach", "upstream"]);
    git(dir, &["update-ref", "-d", "refs/heads/main"]);
    let found = scan_revs(dir, &[&new, "--not", "--all"], &Scanner::builtin()).unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].location.path.as_deref(), Some("new.txt"));
}

#[test]
fn evil_merges_need_first_parent_mode() {
    let d = repo();
    let dir = d.path();
    commit_file(dir, "base.txt", "base\n", "base");
    git(dir, &["checkout", "-q", "-b", "side"]);
    commit_file(dir, "side.txt", "side\n", "side");
    git(dir, &["checkout", "-q", "main"]);
    commit_file(dir, "main.txt", "main\n", "main");
    git(dir, &["merge", "-q", "--no-commit", "side"]);
    // The merge commit itself adds a secret found in neither parent.
    std::fs::write(dir.join("evil.txt"), format!("{}\n", token(31))).unwrap();
    git(dir, &["add", "evil.txt"]);
    git(dir, &["commit", "-q", "-m", "merge side"]);
    let skip = scan_revs(dir, &["HEAD"], &Scanner::builtin()).unwrap();
    assert!(
        skip.is_empty(),
        "gitleaks-compatible default skips merge diffs: {skip:?}"
    );
    let opts = GitScanOptions {
        merge_diffs: MergeDiffs::FirstParent,
    };
    let (found, stats) = scan_revs_with(dir, &["HEAD"], &Scanner::builtin(), &opts).unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].location.path.as_deref(), Some("evil.txt"));
    assert_eq!(stats.commits, 4);
}

#[test]
fn annotated_tag_messages() {
    let d = repo();
    let dir = d.path();
    commit_file(dir, "a.txt", "a\n", "a");
    let t = token(41);
    git(
        dir,
        &["tag", "-a", "v1", "-m", &format!("release\n\nleaked {t}")],
    );
    let sha = git(dir, &["rev-parse", "v1"]);
    let found = scan_tag(dir, &sha, &Scanner::builtin()).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].location.commit.as_deref(), Some(sha.as_str()));
    assert_eq!(
        found[0].fingerprint,
        fingerprint("github-pat", t.as_bytes())
    );
    assert!(scan_tag(dir, "--help", &Scanner::builtin()).is_err());
}

#[test]
fn errors_fail_closed() {
    let d = repo();
    let dir = d.path();
    commit_file(dir, "a.txt", "a\n", "a");
    let e = scan_revs(dir, &["no-such-rev"], &Scanner::builtin()).unwrap_err();
    assert!(e.to_string().contains("no-such-rev"), "{e}");
    let e = scan_revs(dir, &["--output=/tmp/x"], &Scanner::builtin()).unwrap_err();
    assert!(e.to_string().contains("not allowed"), "{e}");
    let missing = dir.join("missing");
    let e = scan_revs(&missing, &["HEAD"], &Scanner::builtin()).unwrap_err();
    // Which run failed, and the directory it could not use.
    assert!(e.args.contains("HEAD"), "{e}");
    assert!(
        e.message.contains(&missing.display().to_string()),
        "the error does not name the missing repository: {e}"
    );
}

#[test]
fn inline_allow_in_history_only_when_enabled() {
    let d = repo();
    let dir = d.path();
    commit_file(
        dir,
        "a.txt",
        &format!("{} # gitleaks:allow\n", token(51)),
        "a",
    );
    assert_eq!(
        scan_revs(dir, &["HEAD"], &Scanner::builtin())
            .unwrap()
            .len(),
        1
    );
    let s = Scanner::builtin().with_inline_allow(true);
    assert_eq!(scan_revs(dir, &["HEAD"], &s).unwrap().len(), 0);
}

#[test]
fn long_ranges_split_between_git_processes_find_everything_in_order() {
    // 400 commits through fast-import; secrets in a few of them.
    let d = repo();
    let dir = d.path();
    let mut script = Vec::new();
    let mut planted = Vec::new();
    let mut content = String::new();
    for i in 1..=400u64 {
        let line = if i % 97 == 1 {
            let t = token(1000 + i);
            planted.push((i, t.clone()));
            format!("key{i} = {t}\n")
        } else {
            format!("line {i} of plain text\n")
        };
        content.push_str(&line);
        script.extend_from_slice(
            format!("commit refs/heads/main\nmark :{i}\ncommitter T <t@example.test> {} +0000\ndata 3\nc{}\n", 1_700_000_000 + i, i % 10).as_bytes(),
        );
        if i > 1 {
            script.extend_from_slice(format!("from :{}\n", i - 1).as_bytes());
        }
        script.extend_from_slice(
            format!(
                "M 100644 inline f.txt\ndata {}\n{}\n",
                content.len(),
                content
            )
            .as_bytes(),
        );
    }
    let mut child = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["fast-import", "--quiet"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child.stdin.take().unwrap().write_all(&script).unwrap();
    assert!(child.wait().unwrap().success());
    let ids: Vec<String> = git(dir, &["rev-list", "--reverse", "main"])
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(ids.len(), 400);
    let (found, stats) = scan_revs_with(
        dir,
        &["main"],
        &Scanner::builtin(),
        &GitScanOptions::default(),
    )
    .unwrap();
    assert_eq!(stats.commits, 400);
    let got: Vec<_> = found
        .iter()
        .map(|f| {
            (
                f.location.commit.clone().unwrap(),
                f.location.line,
                f.fingerprint.clone(),
            )
        })
        .collect();
    let want: Vec<_> = planted
        .iter()
        .rev()
        .map(|(i, t)| {
            (
                ids[*i as usize - 1].clone(),
                Some(*i as usize),
                fingerprint("github-pat", t.as_bytes()),
            )
        })
        .collect();
    assert_eq!(got, want);
}
