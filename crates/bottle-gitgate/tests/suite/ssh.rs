//! ssh upstreams, through a real OpenSSH server on loopback. The agent has
//! no ssh key at all: only the gate can reach the upstream.

use super::harness::*;
use bottle_gitgate::Remote;
use bottle_testkit::gitremote::BareRepo;
use bottle_testkit::sshd::{Sshd, keygen};

fn ssh_remote(name: &str, url: &str, sshd: &Sshd, host_key: &str) -> Remote {
    let mut r = remote(name, url);
    r.identity_file = Some(sshd.client_key().to_path_buf());
    r.known_host_key = Some(host_key.to_string());
    r
}

#[test]
fn ssh_upstream_clone_fetch_pull_push_through_gate() {
    let sshd = Sshd::start();
    let up = BareRepo::with_files(&[("a.txt", "1\n")]);
    let url = sshd.url(up.path());
    let gate = TestGate::start(vec![ssh_remote(
        "origin",
        &url,
        &sshd,
        sshd.host_public_key(),
    )]);
    let agent = gate.agent();

    let wt = agent.clone_repo(&url);
    assert_eq!(wt.read("a.txt"), "1\n");
    let ls = agent.run(wt.path(), &["ls-remote", &url]);
    assert!(ls.contains("refs/heads/main"), "{ls}");

    let theirs = up.commit_files("main", &[("a.txt", "2\n")], "upstream change");
    wt.git(&["-c", "protocol.version=0", "fetch", "--quiet"]);
    assert_eq!(wt.git(&["rev-parse", "origin/main"]), theirs);
    wt.git(&["pull", "--quiet", "--ff-only"]);
    assert_eq!(wt.read("a.txt"), "2\n");

    let mine = wt.commit_files(&[("b.txt", "b\n")], "agent change");
    wt.git(&["push", "--quiet", "origin", "main"]);
    assert_eq!(up.rev("refs/heads/main").unwrap(), mine);

    // A secret is stopped before it reaches the ssh upstream too.
    let secret = fake_github_token();
    wt.commit_files(&[("c.txt", &format!("{secret}\n"))], "oops");
    let out = wt.try_git(&["push", "origin", "main"]);
    assert!(!out.success);
    assert_contains(&out.stderr, "push refused");
    assert_eq!(up.rev("refs/heads/main").unwrap(), mine);
}

#[test]
fn every_spelling_of_an_ssh_upstream_reaches_the_gate() {
    let sshd = Sshd::start();
    let up = BareRepo::with_files(&[("a.txt", "1\n")]);
    let url = sshd.url(up.path()); // ends in .git
    let gate = TestGate::start(vec![ssh_remote(
        "origin",
        &url,
        &sshd,
        sshd.host_public_key(),
    )]);
    let agent = gate.agent();
    let dir = tempfile::tempdir().unwrap();
    let bare = url.trim_end_matches(".git").to_string();
    let spellings = [
        url.clone(),
        format!("{url}/"),
        bare.clone(),
        format!("{bare}/"),
    ];
    for (i, sp) in spellings.iter().enumerate() {
        let out = agent.run(dir.path(), &["ls-remote", sp, "refs/heads/main"]);
        assert!(out.contains("refs/heads/main"), "{sp}: {out}");
        let fetches = gate.audit().iter().filter(|r| r.event == "fetch").count();
        assert!(fetches > i, "{sp} did not go through the gate");
    }
    // Without the gate's config the agent cannot reach the upstream at all.
    let plain = bottle_testkit::gitremote::GitClient::new();
    let mut cmd = plain.command(dir.path());
    cmd.args(["ls-remote", &url])
        .env("GIT_SSH_COMMAND", "ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=/dev/null");
    let direct = cmd.output().unwrap();
    assert!(
        !direct.status.success(),
        "the agent reached the upstream directly"
    );
    // pushInsteadOf: pushes go through the gate as well.
    let wt = agent.clone_repo(&bare);
    let c = wt.commit_files(&[("p.txt", "p\n")], "via push spelling");
    wt.git(&["push", "--quiet", &format!("{bare}/"), "main"]);
    assert_eq!(up.rev("refs/heads/main").unwrap(), c);
}

#[test]
fn wrong_host_key_fails_closed() {
    let sshd = Sshd::start();
    let up = BareRepo::with_files(&[("a.txt", "1\n")]);
    let url = sshd.url(up.path());
    let impostor = keygen(&sshd.dir().join("impostor"));
    let gate = TestGate::start(vec![ssh_remote("origin", &url, &sshd, &impostor.public)]);
    let agent = gate.agent();
    let dir = tempfile::tempdir().unwrap();
    let out = agent.try_run(dir.path(), &["clone", &url, "x"]);
    assert!(!out.success, "cloned despite a host key mismatch");
    assert_contains(&out.stderr, "cannot fetch \"origin\"");
    assert_contains(
        &out.stderr,
        "host key does not match the pinned known_host_key",
    );
    assert!(!dir.path().join("x").join("a.txt").exists());
    let audit = gate.audit();
    assert!(audit.iter().all(|r| r.decision == "block"), "{audit:?}");
    assert!(
        gate.mirror_refs("origin").is_empty(),
        "nothing may be fetched from a host that failed verification"
    );
}

#[test]
fn ssh_upstream_down_names_it() {
    let mut sshd = Sshd::start();
    let up = BareRepo::with_files(&[("a.txt", "1\n")]);
    let url = sshd.url(up.path());
    let gate = TestGate::start(vec![ssh_remote(
        "origin",
        &url,
        &sshd,
        sshd.host_public_key(),
    )]);
    let agent = gate.agent();
    let wt = agent.clone_repo(&url);
    sshd.stop();
    let out = wt.try_git(&["fetch"]);
    assert!(!out.success);
    assert_contains(
        &out.stderr,
        &format!("cannot fetch \"origin\" from its upstream {url}"),
    );
    assert_contains(&out.stderr, "Connection refused");
}

#[test]
fn one_shared_ssh_connection_per_remote() {
    let sshd = Sshd::start();
    // A second key that may log in too: remote "b" authenticates with it.
    let other = keygen(&sshd.dir().join("other_ed25519"));
    let authorized = sshd.dir().join("authorized_keys");
    let keys = std::fs::read_to_string(&authorized).unwrap();
    std::fs::write(&authorized, format!("{keys}{}\n", other.public)).unwrap();

    let up_a = BareRepo::with_files(&[("a.txt", "a\n")]);
    let up_b = BareRepo::with_files(&[("b.txt", "b\n")]);
    let (url_a, url_b) = (sshd.url(up_a.path()), sshd.url(up_b.path()));
    let a = ssh_remote("a", &url_a, &sshd, sshd.host_public_key());
    let mut b = ssh_remote("b", &url_b, &sshd, sshd.host_public_key());
    b.identity_file = Some(other.private.clone());
    let gate = TestGate::start(vec![a, b]);
    let agent = gate.agent();

    let wa = agent.clone_repo(&url_a);
    up_a.commit_files("main", &[("a.txt", "a2\n")], "upstream change");
    wa.git(&["pull", "--quiet", "--ff-only"]);
    assert_eq!(wa.read("a.txt"), "a2\n");
    let mine = wa.commit_files(&[("c.txt", "c\n")], "agent change");
    wa.git(&["push", "--quiet", "origin", "main"]);
    assert_eq!(up_a.rev("refs/heads/main").unwrap(), mine);
    agent.run(wa.path(), &["ls-remote", &url_a]);

    let wb = agent.clone_repo(&url_b);
    wb.git(&["fetch", "--quiet"]);
    assert_eq!(wb.read("b.txt"), "b\n");

    // Every refresh and the forwarded push rode one connection per remote;
    // the two remotes (two keys) never shared one.
    let logins = sshd.accepted_logins();
    assert_eq!(logins, 2, "sshd log:\n{}", sshd.log());
    assert!(
        sshd.log().contains(&fingerprint_of(&other.public)),
        "{}",
        sshd.log()
    );
}

/// The SHA256 fingerprint sshd logs for a public key line.
fn fingerprint_of(public: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("k.pub");
    std::fs::write(&f, format!("{public}\n")).unwrap();
    let out = std::process::Command::new("ssh-keygen")
        .arg("-lf")
        .arg(&f)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    text.split_whitespace()
        .find(|w| w.starts_with("SHA256:"))
        .unwrap_or_else(|| panic!("no fingerprint in {text:?}"))
        .to_string()
}

/// An upstream host that takes the TCP connection and then says nothing (a
/// hung or firewalled host): the gate gives up after its ssh connect
/// timeout, the agent's git gets the gate's reason, and git's generic
/// "make sure you have the correct access rights" is not the last word.
#[test]
fn hung_ssh_upstream_fails_with_the_gates_reason_not_git_s_generic_one() {
    let sshd = Sshd::start();
    let up = BareRepo::with_files(&[("a.txt", "1\n")]);
    // Accepts (the kernel completes the handshake) but never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let real = sshd.url(up.path());
    let url = real.replacen(&format!(":{}/", sshd.port()), &format!(":{port}/"), 1);
    assert_ne!(url, real, "{real}");
    let gate = TestGate::start(vec![ssh_remote(
        "origin",
        &url,
        &sshd,
        sshd.host_public_key(),
    )]);
    let dir = tempfile::tempdir().unwrap();
    let out = gate.agent().try_run(dir.path(), &["clone", &url, "x"]);
    assert!(!out.success, "{}", out.stderr);
    assert_contains(
        &out.stderr,
        &format!("cannot fetch \"origin\" from its upstream {url}"),
    );
    assert_contains(&out.stderr, "timed out");
    let last = out.stderr.trim_end().lines().last().unwrap_or("");
    assert!(!last.contains("access rights"), "{}", out.stderr);
    assert!(!out.stderr.contains("access rights"), "{}", out.stderr);
    drop(silent);
}
