//! Pushes through the gate: scanned, forwarded with the gate's credential,
//! refused when anything is wrong, and never leaving mirror and upstream
//! apart.

use super::harness::*;
use bottle_testkit::gitremote::{BareRepo, GitOutput, WorkTree};
use std::collections::BTreeMap;

struct Setup {
    up: BareRepo,
    gate: TestGate,
    wt: WorkTree,
}

fn setup() -> Setup {
    let up = BareRepo::with_files(&[
        ("README.md", "hello\n"),
        ("config/app.env", "NAME=app\nLEVEL=info\n"),
    ]);
    let gate = TestGate::start(vec![file_remote("origin", &up)]);
    let wt = gate.agent().clone_repo(&up.file_url());
    Setup { up, gate, wt }
}

/// The push was refused by the scan, and nothing changed anywhere.
#[track_caller]
fn assert_refused_for_secret(
    s: &Setup,
    out: &GitOutput,
    secret: &str,
    before: &BTreeMap<String, String>,
) {
    assert!(!out.success, "push should fail:\n{}", out.stderr);
    assert_contains(&out.stderr, "bottle git gate: push refused");
    assert_contains(&out.stderr, "rule github-pat");
    assert_contains(&out.stderr, "pre-receive hook declined");
    assert!(
        !out.stderr.contains(secret),
        "the secret itself was echoed:\n{}",
        out.stderr
    );
    assert_eq!(&s.up.refs(), before, "upstream changed");
    assert_eq!(
        &s.gate.mirror_refs("origin"),
        before,
        "mirror changed (it must equal the upstream)"
    );
    let audit = s.gate.audit();
    let last = audit.iter().rev().find(|r| r.event == "push").unwrap();
    assert_eq!(
        (last.decision.as_str(), last.reason.as_str()),
        ("block", "secret-found")
    );
    assert!(!last.findings.is_empty());
    let raw = serde_json::to_string(&audit).unwrap();
    assert!(!raw.contains(secret), "the secret reached the audit log");
}

#[test]
fn clean_push_is_forwarded_and_audited() {
    let s = setup();
    let c =
        s.wt.commit_files(&[("src/lib.rs", "pub fn f() {}\n")], "add lib");
    s.wt.git(&["push", "--quiet", "origin", "main"]);
    assert_eq!(s.up.rev("refs/heads/main").unwrap(), c);
    assert_eq!(s.gate.mirror_refs("origin")["refs/heads/main"], c);
    let push = s
        .gate
        .audit()
        .into_iter()
        .rev()
        .find(|r| r.event == "push")
        .unwrap();
    assert_eq!(
        (push.decision.as_str(), push.reason.as_str()),
        ("allow", "ok")
    );
    assert_eq!(push.commits, vec![c.clone()]);
    assert_eq!(push.commits_total, 1);
    assert_eq!(push.refs.len(), 1);
    assert_eq!(push.refs[0].name, "refs/heads/main");
    assert_eq!(push.refs[0].new, c);
}

/// Once the agent's git has its answer, the push is in the audit log: the
/// gate ends the response only after writing the line (it used to write it
/// after receive-pack exited, a moment after the client had its answer, and
/// a test reading the log at once found it missing under load).
#[test]
fn every_answered_push_is_already_in_the_audit_log() {
    let s = setup();
    let pushes = |s: &Setup| s.gate.audit().iter().filter(|r| r.event == "push").count();
    for i in 0..6 {
        // A refused push (a secret), then its benign twin (forwarded).
        let secret = fake_github_token();
        s.wt.commit_files(&[("deploy/t.txt", &format!("token: {secret}\n"))], "add");
        let out = s.wt.try_git(&["push", "origin", "main"]);
        assert!(!out.success, "push should fail:\n{}", out.stderr);
        assert_eq!(pushes(&s), 2 * i + 1, "refused push {i} not yet audited");
        s.wt.git(&["reset", "--quiet", "--hard", "HEAD~1"]);
        let c =
            s.wt.commit_files(&[("src/lib.rs", &format!("pub fn f{i}() {{}}\n"))], "lib");
        s.wt.git(&["push", "--quiet", "origin", "main"]);
        assert_eq!(s.up.rev("refs/heads/main").unwrap(), c);
        assert_eq!(pushes(&s), 2 * i + 2, "forwarded push {i} not yet audited");
    }
    let audit = s.gate.audit();
    let decisions: Vec<_> = audit
        .iter()
        .filter(|r| r.event == "push")
        .map(|r| (r.decision.as_str(), r.reason.as_str()))
        .collect();
    assert_eq!(
        decisions,
        [("block", "secret-found"), ("allow", "ok")].repeat(6)
    );
}

#[test]
fn secret_in_new_file_is_rejected() {
    let s = setup();
    let before = s.up.refs();
    let secret = fake_github_token();
    let c = s.wt.commit_files(
        &[("deploy/token.txt", &format!("token: {secret}\n"))],
        "add deploy",
    );
    let out = s.wt.try_git(&["push", "origin", "main"]);
    assert_refused_for_secret(&s, &out, &secret, &before);
    assert_contains(&out.stderr, &format!("commit {}", &c[..12]));
    assert_contains(&out.stderr, "file deploy/token.txt  line 1");
    assert!(!s.up.has_object(&c), "the commit reached the upstream");
}

#[test]
fn secret_in_modified_line_is_rejected() {
    let s = setup();
    let before = s.up.refs();
    let secret = fake_github_token();
    s.wt.write(
        "config/app.env",
        &format!("NAME=app\nLEVEL=debug TOKEN={secret}\n"),
    );
    s.wt.commit_all("tune config");
    let out = s.wt.try_git(&["push", "origin", "main"]);
    assert_refused_for_secret(&s, &out, &secret, &before);
    assert_contains(&out.stderr, "file config/app.env  line 2");
}

#[test]
fn secret_in_commit_message_is_rejected() {
    let s = setup();
    let before = s.up.refs();
    let secret = fake_github_token();
    s.wt.write("README.md", "hello again\n");
    s.wt.commit_all(&format!("update readme\n\nused {secret} to test\n"));
    let out = s.wt.try_git(&["push", "origin", "main"]);
    assert_refused_for_secret(&s, &out, &secret, &before);
    assert_contains(&out.stderr, "commit message");
}

#[test]
fn secret_in_older_commit_of_multi_commit_push_is_rejected() {
    let s = setup();
    let before = s.up.refs();
    let secret = fake_github_token();
    let leaky =
        s.wt.commit_files(&[("notes.txt", &format!("{secret}\n"))], "notes");
    // Later commits remove it again: the history still carries it.
    s.wt.commit_files(&[("notes.txt", "nothing here\n")], "scrub notes");
    s.wt.commit_files(&[("more.txt", "more\n")], "more");
    let out = s.wt.try_git(&["push", "origin", "main"]);
    assert_refused_for_secret(&s, &out, &secret, &before);
    assert_contains(
        &out.stderr,
        &format!("commit {}  file notes.txt  line 1", &leaky[..12]),
    );
}

#[test]
fn secret_in_tag_message_is_rejected() {
    let s = setup();
    let before = s.up.refs();
    let secret = fake_github_token();
    let msg = format!("release 1\n\ndeploy key {secret}\n");
    s.wt.git(&["tag", "-a", "v1.0", "-m", &msg]);
    let out = s.wt.try_git(&["push", "origin", "v1.0"]);
    assert_refused_for_secret(&s, &out, &secret, &before);
    assert_contains(&out.stderr, "tag v1.0");
    assert_contains(&out.stderr, "message  line 3");
    assert!(s.up.rev("refs/tags/v1.0").is_none());
}

#[test]
fn secret_in_binary_file_is_rejected() {
    let s = setup();
    let before = s.up.refs();
    let secret = fake_github_token();
    let mut data = b"\x00\x01binary\x00".to_vec();
    data.extend_from_slice(format!("\nkey={secret}\n").as_bytes());
    s.wt.write_bytes("assets/blob.bin", &data);
    s.wt.commit_all("add asset");
    let out = s.wt.try_git(&["push", "origin", "main"]);
    assert_refused_for_secret(&s, &out, &secret, &before);
    assert_contains(&out.stderr, "file assets/blob.bin");
}

#[test]
fn secret_hidden_by_gitattributes_is_rejected() {
    let s = setup();
    let before = s.up.refs();
    let secret = fake_github_token();
    s.wt.write(".gitattributes", "*.dat binary\n*.txt -diff\n");
    s.wt.write("a.dat", &format!("{secret}\n"));
    s.wt.write("b.txt", &format!("{secret}\n"));
    s.wt.commit_all("data");
    let out = s.wt.try_git(&["push", "origin", "main"]);
    assert_refused_for_secret(&s, &out, &secret, &before);
    assert_contains(&out.stderr, "file a.dat");
    assert_contains(&out.stderr, "file b.txt");
}

#[test]
fn secret_in_merge_commit_itself_is_rejected() {
    let s = setup();
    let before = s.up.refs();
    let secret = fake_github_token();
    s.wt.git(&["checkout", "--quiet", "-b", "side"]);
    s.wt.commit_files(&[("side.txt", "side\n")], "side work");
    s.wt.git(&["checkout", "--quiet", "main"]);
    s.wt.commit_files(&[("main.txt", "main\n")], "main work");
    // A merge that slips a secret into the result ("evil merge"): neither
    // parent has the line.
    s.wt.git(&["merge", "--quiet", "--no-commit", "--no-ff", "side"]);
    s.wt.write("side.txt", &format!("side\nkey {secret}\n"));
    s.wt.git(&["add", "side.txt"]);
    s.wt.git(&["commit", "--quiet", "-m", "merge side"]);
    let merge = s.wt.head();
    let out = s.wt.try_git(&["push", "origin", "main"]);
    assert_refused_for_secret(&s, &out, &secret, &before);
    assert_contains(
        &out.stderr,
        &format!("merge commit {}  file side.txt  line 2", &merge[..12]),
    );
}

#[test]
fn secret_upstream_already_has_does_not_block() {
    let secret = fake_github_token();
    let up = BareRepo::with_files(&[("old.env", &format!("TOKEN={secret}\n"))]);
    let old = up.rev("refs/heads/main").unwrap();
    let gate = TestGate::start(vec![file_remote("origin", &up)]);
    let wt = gate.agent().clone_repo(&up.file_url());
    // New work on top of the old secret, and the secret's file touched
    // elsewhere: only what the push adds is scanned.
    wt.write("old.env", &format!("TOKEN={secret}\nMORE=1\n"));
    let c = wt.commit_files(&[("new.txt", "clean\n")], "clean work");
    wt.git(&["push", "--quiet", "origin", "main"]);
    assert_eq!(up.rev("refs/heads/main").unwrap(), c);
    // A new branch at the old commit brings nothing new at all.
    wt.git(&[
        "push",
        "--quiet",
        "origin",
        &format!("{old}:refs/heads/old-line"),
    ]);
    assert_eq!(up.rev("refs/heads/old-line").unwrap(), old);
}

#[test]
fn branches_force_pushes_deletions_and_tags_are_forwarded() {
    let s = setup();
    let wt = &s.wt;
    // New branch.
    wt.git(&["checkout", "--quiet", "-b", "feature"]);
    let f1 = wt.commit_files(&[("f.txt", "1\n")], "feature 1");
    wt.git(&["push", "--quiet", "origin", "feature"]);
    assert_eq!(s.up.rev("refs/heads/feature").unwrap(), f1);
    // Forced update (history rewritten).
    wt.git(&["commit", "--quiet", "--amend", "-m", "feature 1, amended"]);
    let f2 = wt.head();
    let plain = wt.try_git(&["push", "origin", "feature"]);
    assert!(!plain.success, "a non-fast-forward needs --force");
    wt.git(&["push", "--quiet", "--force", "origin", "feature"]);
    assert_eq!(s.up.rev("refs/heads/feature").unwrap(), f2);
    assert!(
        s.up.rev(&f1).is_some(),
        "old object may stay, the ref moved"
    );
    // Lightweight and annotated tags.
    wt.git(&["tag", "light"]);
    wt.git(&["tag", "-a", "v2.0", "-m", "release two"]);
    wt.git(&["push", "--quiet", "origin", "light", "v2.0"]);
    assert_eq!(s.up.rev("refs/tags/light").unwrap(), f2);
    let tag_obj = wt.git(&["rev-parse", "v2.0"]);
    assert_eq!(s.up.rev("refs/tags/v2.0").unwrap(), tag_obj);
    assert_eq!(s.up.git(&["cat-file", "-t", &tag_obj]), "tag");
    // Deletion of a branch and of a tag.
    wt.git(&["push", "--quiet", "origin", ":feature", ":refs/tags/light"]);
    assert!(s.up.rev("refs/heads/feature").is_none());
    assert!(s.up.rev("refs/tags/light").is_none());
    assert_eq!(s.gate.mirror_refs("origin"), s.up.refs());
}

#[test]
fn non_fast_forward_refused_by_upstream_is_rejected_and_mirror_unchanged() {
    let s = setup();
    s.up.set_config("receive.denyNonFastForwards", "true");
    s.wt.commit_files(&[("x.txt", "x\n")], "x");
    s.wt.git(&["push", "--quiet", "origin", "main"]);
    let before = s.up.refs();
    s.wt.git(&["commit", "--quiet", "--amend", "-m", "x, rewritten"]);
    let out = s.wt.try_git(&["push", "--force", "origin", "main"]);
    assert!(!out.success, "{}", out.stderr);
    assert_contains(&out.stderr, "the upstream");
    assert_contains(&out.stderr, "did not accept it");
    assert_contains(&out.stderr, "non-fast-forward");
    assert_eq!(s.up.refs(), before);
    assert_eq!(s.gate.mirror_refs("origin"), before);
    let push = s
        .gate
        .audit()
        .into_iter()
        .rev()
        .find(|r| r.event == "push")
        .unwrap();
    assert_eq!(push.reason, "upstream-rejected");
}

#[test]
fn multi_ref_push_is_all_or_nothing_upstream() {
    let s = setup();
    s.wt.git(&["push", "--quiet", "origin", "main:refs/heads/old"]);
    // The upstream will refuse the deletion; the branch update riding along
    // must not land either.
    s.up.set_config("receive.denyDeletes", "true");
    let before = s.up.refs();
    let c = s.wt.commit_files(&[("y.txt", "y\n")], "y");
    let out = s.wt.try_git(&["push", "origin", "main", ":old"]);
    assert!(!out.success, "{}", out.stderr);
    assert_eq!(s.up.refs(), before, "upstream took part of the push");
    assert_ne!(s.up.rev("refs/heads/main"), Some(c));
    assert_eq!(s.gate.mirror_refs("origin"), before);
}

#[test]
fn push_sees_upstream_moves_first() {
    let s = setup();
    // Someone else pushes to the upstream after the agent cloned.
    let theirs =
        s.up.commit_files("main", &[("theirs.txt", "t\n")], "theirs");
    s.wt.commit_files(&[("mine.txt", "m\n")], "mine");
    let out = s.wt.try_git(&["push", "origin", "main"]);
    assert!(!out.success);
    assert_contains(&out.stderr, "fetch first");
    assert_eq!(s.up.rev("refs/heads/main").unwrap(), theirs);
    // The usual fix works through the gate.
    s.wt.git(&["pull", "--quiet", "--rebase"]);
    s.wt.git(&["push", "--quiet", "origin", "main"]);
    assert_eq!(s.up.rev("refs/heads/main").unwrap(), s.wt.head());
}

#[test]
fn concurrent_pushes_to_different_branches_all_land() {
    let up = BareRepo::with_files(&[("README.md", "hello\n")]);
    let gate = TestGate::start(vec![file_remote("origin", &up)]);
    let agent = gate.agent();
    let url = up.file_url();
    let pushed: Vec<(String, String)> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..5)
            .map(|i| {
                let agent = agent.clone();
                let url = url.clone();
                sc.spawn(move || {
                    let wt = agent.clone_repo(&url);
                    let branch = format!("agent-{i}");
                    wt.git(&["checkout", "--quiet", "-b", &branch]);
                    let c =
                        wt.commit_files(&[(&format!("f{i}.txt"), "work\n")], &format!("work {i}"));
                    wt.git(&["push", "--quiet", "origin", &branch]);
                    (branch, c)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (branch, c) in &pushed {
        assert_eq!(up.rev(&format!("refs/heads/{branch}")).as_ref(), Some(c));
    }
    assert_eq!(gate.mirror_refs("origin"), up.refs());
    let pushes = gate
        .audit()
        .into_iter()
        .filter(|r| r.event == "push")
        .count();
    assert_eq!(pushes, 5);
}

#[test]
fn push_outside_forwarded_namespaces_is_refused() {
    let s = setup();
    let before = s.up.refs();
    let out = s.wt.try_git(&["push", "origin", "main:refs/meta/config"]);
    assert!(!out.success);
    assert_contains(
        &out.stderr,
        "1 ref is outside refs/heads/, refs/tags/ and refs/notes/, the only refs the gate \
         forwards: refs/meta/config.",
    );
    assert_eq!(s.up.refs(), before);
    let push = s
        .gate
        .audit()
        .into_iter()
        .rev()
        .find(|r| r.event == "push")
        .unwrap();
    assert_eq!(push.reason, "ref-not-allowed");
}

#[test]
fn first_push_to_an_empty_upstream_then_clone() {
    let up = BareRepo::new();
    let gate = TestGate::start(vec![file_remote("origin", &up)]);
    let agent = gate.agent();
    let wt = agent.init_repo();
    wt.git(&["remote", "add", "origin", &up.file_url()]);
    let c = wt.commit_files(&[("a.txt", "first\n")], "first");
    wt.git(&["push", "--quiet", "origin", "main"]);
    assert_eq!(up.rev("refs/heads/main").unwrap(), c);
    let again = agent.clone_repo(&up.file_url());
    assert_eq!(again.head(), c);
    assert_eq!(again.read("a.txt"), "first\n");
}

#[test]
fn hook_without_the_gate_environment_refuses() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bottle-gitgate-hook"))
        .env_remove("BOTTLE_GITGATE_CONFIG")
        .env_remove("BOTTLE_GITGATE_REMOTE")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_contains(
        &String::from_utf8_lossy(&out.stderr),
        "the hook runs only inside the gate",
    );
}

/// A push larger than git's post buffer is sent chunked, after an empty
/// probe request; the audit log still has one line for it.
#[test]
fn large_push_is_forwarded_and_logged_once() {
    let s = setup();
    // Incompressible (hex of a xorshift stream), so the pack is > 1 MiB.
    let mut text = String::new();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..60_000 {
        let mut words = Vec::new();
        for _ in 0..4 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            words.push(format!("{x:016x}"));
        }
        text.push_str(&format!("row {i}: {}\n", words.join(" ")));
    }
    let c =
        s.wt.commit_files(&[("big/generated.txt", &text)], "large file");
    s.wt.git(&["push", "--quiet", "origin", "main"]);
    assert_eq!(s.up.rev("refs/heads/main").unwrap(), c);
    let pushes: Vec<_> = s
        .gate
        .audit()
        .into_iter()
        .filter(|r| r.event == "push")
        .collect();
    assert_eq!(pushes.len(), 1, "{pushes:?}");
    assert_eq!(pushes[0].decision, "allow");
}

#[test]
fn ref_pointing_straight_at_a_secret_blob_is_rejected() {
    let s = setup();
    let before = s.up.refs();
    let secret = fake_github_token();
    s.wt.write("loose.txt", &format!("{secret}\n"));
    let blob = s.wt.git(&["hash-object", "-w", "loose.txt"]);
    std::fs::remove_file(s.wt.path().join("loose.txt")).unwrap();
    s.wt.git(&["tag", "blobtag", &blob]);
    let out = s.wt.try_git(&["push", "origin", "refs/tags/blobtag"]);
    assert_refused_for_secret(&s, &out, &secret, &before);
    assert_contains(
        &out.stderr,
        &format!("object {} (blob)  line 1  rule github-pat", &blob[..12]),
    );
}

#[test]
fn ref_pointing_straight_at_a_tree_is_scanned_whole() {
    let s = setup();
    let before = s.up.refs();
    let secret = fake_github_token();
    s.wt.write("dir/inner.txt", &format!("x\n{secret}\n"));
    s.wt.git(&["add", "dir/inner.txt"]);
    let tree = s.wt.git(&["write-tree"]);
    s.wt.git(&["tag", "treetag", &tree]);
    let out = s.wt.try_git(&["push", "origin", "refs/tags/treetag"]);
    assert_refused_for_secret(&s, &out, &secret, &before);
    assert_contains(
        &out.stderr,
        &format!("object {} (tree)  file dir/inner.txt  line 2", &tree[..12]),
    );
}

#[test]
fn mirror_push_is_refused_naming_every_ref_and_why_while_all_and_tags_pass() {
    let s = setup();
    let before = s.up.refs();
    let wt = &s.wt;
    wt.git(&["checkout", "--quiet", "-b", "topic"]);
    let topic = wt.commit_files(&[("t.txt", "t\n")], "topic");
    wt.git(&["checkout", "--quiet", "main"]);
    let main = wt.commit_files(&[("m.txt", "m\n")], "main");
    wt.git(&["tag", "-a", "v1", "-m", "v1"]);
    let out = wt.try_git(&["push", "--mirror", "origin"]);
    assert!(!out.success, "{}", out.stderr);
    assert_contains(
        &out.stderr,
        "outside refs/heads/, refs/tags/ and refs/notes/",
    );
    assert_contains(&out.stderr, "refs/remotes/origin/main");
    assert_contains(&out.stderr, "`git push --mirror` pushes every local ref");
    assert_contains(&out.stderr, "git push origin --all");
    assert_eq!(s.up.refs(), before, "upstream changed");
    assert_eq!(s.gate.mirror_refs("origin"), before, "mirror changed");
    // Twin: what the message suggests works.
    wt.git(&["push", "--quiet", "origin", "--all"]);
    wt.git(&["push", "--quiet", "origin", "--tags"]);
    assert_eq!(s.up.rev("refs/heads/main").unwrap(), main);
    assert_eq!(s.up.rev("refs/heads/topic").unwrap(), topic);
    assert!(s.up.rev("refs/tags/v1").is_some());
}
