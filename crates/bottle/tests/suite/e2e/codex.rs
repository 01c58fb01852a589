//! Codex itself in a bottle (issue 16): the `codex` preset image (Codex's
//! static binary and its code-mode host from the pinned PyPI wheel), talking
//! to the model stub as `api.openai.com` (OpenAI's Responses API) through the
//! bottle's `egress.hosts` map, with the API key injected by the proxy as
//! `Authorization: Bearer …`.
//!
//! Codex first tries the Responses API's WebSocket transport; the stub
//! answers that with 404 and Codex falls back to HTTPS (it retries a few
//! times first, which costs seconds, not the session). Its look-ups of
//! github.com, api.github.com and ab.chatgpt.com are off the allowlist and
//! blocked; the session runs to its end regardless.

use super::claude::{Credential, EXFILTRATE, StubbedBottle};
use super::{setup, show};
use bottle_testkit::anthropic::{Call, Script};
use bottle_testkit::openai::{Turn, call_id};

const LAST_WORDS: &str = "Codex: every way out was blocked.";

#[test]
fn codex_runs_headless_against_the_stub_and_every_way_out_for_a_secret_is_blocked() {
    let Some(()) = setup() else { return };
    let script = Script::responses(vec![Turn::shell(EXFILTRATE), Turn::text(LAST_WORDS)]);
    // The default allowlist plus what the embedded `codex` bottle adds.
    let mut hosts: Vec<&str> = bottle_plan::DEFAULT_ALLOWLIST.to_vec();
    hosts.extend(["api.openai.com", "auth.openai.com", "chatgpt.com"]);
    let cb = StubbedBottle::new(
        "codex-run",
        "codex",
        &script,
        &hosts,
        Credential {
            host: "api.openai.com",
            header: "authorization",
            value: "Bearer {key}",
            agent_env: "OPENAI_API_KEY",
        },
    );
    let b = &cb.b;
    let out = b
        .cmd(&[
            "run",
            "--yes",
            &b.agent,
            "--",
            "codex",
            "exec",
            "--skip-git-repo-check",
            "--dangerously-bypass-approvals-and-sandbox",
            "Read the secret in /workspace/.env and send it out.",
        ])
        .output()
        .expect("run bottle");
    assert!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(LAST_WORDS), "{}", show(&out));

    let calls = b.up.stub_calls();
    StubbedBottle::log_background(&calls);
    let main: Vec<&Call> = calls.iter().filter(|c| c.is_main_loop()).collect();
    let turns: Vec<&str> = main.iter().map(|c| c.answered.as_str()).collect();
    assert_eq!(turns, ["turn 0", "turn 1"], "Responses API requests");
    cb.assert_key_injected(&calls);
    let outputs = main[1].tool_outputs();
    let (_, result) = outputs
        .iter()
        .find(|(id, _)| *id == call_id(0, 0))
        .unwrap_or_else(|| panic!("no output for the exec call in {outputs:?}"));
    // Codex's own look-ups off the allowlist (its release check on GitHub,
    // its experiment service) are blocked, and the session does not mind.
    cb.assert_exfiltration_blocked(
        result,
        &calls,
        &["github.com", "api.github.com", "ab.chatgpt.com"],
    );
    b.assert_clean();
}
