//! The agent-side config, exercised through a real git client: every
//! spelling, for fetch and push, lands at the gate.

use super::harness::*;
use bottle_testkit::sshd::keygen;

/// An scp-style upstream (port 22) the gate cannot reach: whatever spelling
/// the agent uses, the error comes from the gate, which proves the request
/// went there and not to the host.
#[test]
fn scp_style_and_ssh_spellings_route_fetch_and_push_to_the_gate() {
    let keys = tempfile::tempdir().unwrap();
    let host = keygen(&keys.path().join("host"));
    let client = keygen(&keys.path().join("client"));
    let upstream = "git@127.0.0.1:/nonexistent/bottle/app.git";
    let mut r = remote("app", upstream);
    r.identity_file = Some(client.private.clone());
    r.known_host_key = Some(host.public.clone());
    let gate = TestGate::start(vec![r]);
    let agent = gate.agent();
    let dir = tempfile::tempdir().unwrap();
    for spelling in [
        "git@127.0.0.1:/nonexistent/bottle/app.git",
        "git@127.0.0.1:/nonexistent/bottle/app",
        "ssh://git@127.0.0.1/nonexistent/bottle/app.git",
        "ssh://git@127.0.0.1:22/nonexistent/bottle/app/",
    ] {
        let out = agent.try_run(dir.path(), &["ls-remote", spelling]);
        assert!(!out.success);
        assert_contains(
            &out.stderr,
            &format!("bottle git gate: cannot fetch \"app\" from its upstream {upstream}"),
        );
    }
    let wt = agent.init_repo();
    wt.commit_files(&[("a", "a\n")], "a");
    let out = wt.try_git(&["push", upstream, "main"]);
    assert!(!out.success);
    assert_contains(&out.stderr, "bottle git gate: cannot fetch \"app\"");
}

#[test]
fn rewrites_list_pairs_for_the_preflight() {
    let rw = bottle_gitgate::agent_rewrites(
        [("origin", "git@github.com:me/app.git")],
        "http://bottle-dev-git:8080",
    )
    .unwrap();
    let pairs: Vec<(&str, &str)> = rw[0].pairs().collect();
    assert!(pairs.contains(&(
        "git@github.com:me/app.git",
        "http://bottle-dev-git:8080/origin.git"
    )));
    assert!(pairs.contains(&(
        "ssh://git@github.com/me/app",
        "http://bottle-dev-git:8080/origin.git"
    )));
    let json = serde_json::to_value(&rw).unwrap();
    assert_eq!(json[0]["gate_url"], "http://bottle-dev-git:8080/origin.git");
}
