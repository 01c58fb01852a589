//! Clone, fetch, pull and ls-remote through the gate.

use super::harness::*;
use bottle_testkit::gitremote::BareRepo;

#[test]
fn clone_through_gate_with_agent_config_only() {
    let up = BareRepo::with_files(&[("README.md", "hello\n")]);
    let gate = TestGate::start(vec![file_remote("origin", &up)]);
    let agent = gate.agent();
    let wt = agent.clone_repo(&up.file_url());
    assert_eq!(wt.read("README.md"), "hello\n");
    assert_eq!(wt.head(), up.rev("refs/heads/main").unwrap());
    let url = wt.git(&["config", "remote.origin.url"]);
    assert_eq!(
        url,
        up.file_url(),
        "the agent's remote keeps the upstream URL"
    );
    let audit = gate.audit();
    assert!(
        audit
            .iter()
            .any(|r| r.event == "fetch" && r.decision == "allow"),
        "{audit:?}"
    );
}
