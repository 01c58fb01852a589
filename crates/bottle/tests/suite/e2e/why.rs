//! `bottle why` after a real run: one explanation per kind of block and a
//! manifest patch that, applied, lets the same run through.

use super::{Opts, TestBottle, random_alnum, setup, show};
use bottle_testkit::docker::{HTTPS_HOST, OTHER_HTTPS_HOST};

#[test]
fn why_explains_three_blocks_and_its_patch_lets_the_same_run_pass() {
    let Some(()) = setup() else { return };
    let b = TestBottle::new(
        "why",
        Opts {
            https_entry: Some(format!(
                r#"{{ host = "{HTTPS_HOST}", methods = ["GET", "POST"] }}"#
            )),
            ..Opts::default()
        },
    );
    // A test key the agent is meant to send (made now, never in the
    // repository; written into the script so both runs send the same one).
    let token = format!("{}_{}", "ghp", random_alnum(36));
    // Three different blocks: a host off the allowlist, a method its entry
    // does not cover, a DLP finding.
    let script = format!(
        r#"fail=0
curl -sS --fail-with-body https://{OTHER_HTTPS_HOST}/other || fail=1
echo
curl -sS --fail-with-body -X PUT --data x https://{HTTPS_HOST}/put || fail=1
echo
curl -sS --fail-with-body -X POST --data "note={token}" https://{HTTPS_HOST}/upload || fail=1
echo
exit $fail"#
    );
    let first = b.run(&script);
    assert!(!first.status.success(), "{}", show(&first));

    let why = b.cmd(&["why", &b.agent]).output().expect("bottle why");
    let text = String::from_utf8_lossy(&why.stdout).into_owned();
    assert!(why.status.success(), "{}", show(&why));
    assert!(text.contains("3 kinds of block"), "{}", show(&why));
    for heading in [
        "1. allowlist:host-not-allowed",
        "2. allowlist:method-or-path-not-allowed",
        "3. dlp-body:",
    ] {
        assert!(text.contains(heading), "{heading}: {}", show(&why));
    }
    assert!(
        text.contains(&format!(
            r#"+allowlist = [{{ host = "{HTTPS_HOST}", methods = ["GET", "POST"] }}, {{ host = "{OTHER_HTTPS_HOST}", methods = ["GET"], paths = ["/other"] }}, {{ host = "{HTTPS_HOST}", methods = ["PUT"], paths = ["/put"] }}]"#
        )),
        "the allowlist entries are as narrow as the traffic: {}",
        show(&why)
    );
    assert!(text.contains("+dlp_allow = [{ host ="), "{}", show(&why));
    assert!(!text.contains(&token), "bottle why printed the secret");

    let apply = b
        .cmd(&["why", &b.agent, "--apply", "--yes"])
        .output()
        .expect("bottle why --apply");
    assert!(apply.status.success(), "{}", show(&apply));
    let second = b.run(&script);
    assert!(
        second.status.success(),
        "the patched manifest still blocks: {}\n{}",
        show(&second),
        std::fs::read_to_string(b.scratch.path().join("bottle.toml")).unwrap_or_default()
    );
    let paths: Vec<String> =
        b.up.https_requests()
            .iter()
            .map(|r| r["path"].as_str().unwrap_or_default().to_string())
            .collect();
    assert_eq!(paths, ["/other", "/put", "/upload"]);
    b.assert_clean();
}

#[test]
fn a_learn_mode_run_yields_exactly_the_hosts_it_reached() {
    let Some(()) = setup() else { return };
    // Neither name of the upstream is on the allowlist.
    let b = TestBottle::new(
        "learn",
        Opts {
            https_entry: Some(r#""unused.upstream.test""#.into()),
            ..Opts::default()
        },
    );
    let script = format!(
        "set -e\ncurl -sS --fail https://{HTTPS_HOST}/a\ncurl -sS --fail https://{OTHER_HTTPS_HOST}/b"
    );
    let out = b
        .cmd(&[
            "run", "--yes", "--learn", &b.agent, "--", "bash", "-c", &script,
        ])
        .output()
        .expect("bottle run --learn");
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("LEARN MODE"),
        "the preflight says so: {}",
        show(&out)
    );
    let why = b
        .cmd(&["why", &b.agent, "--learned", "--apply", "--yes"])
        .output()
        .expect("bottle why --learned");
    assert!(why.status.success(), "{}", show(&why));
    let text = String::from_utf8_lossy(&why.stdout);
    assert!(
        text.contains(&format!(
            r#"+allowlist = ["unused.upstream.test", "{HTTPS_HOST}", "{OTHER_HTTPS_HOST}"]"#
        )),
        "exactly the two hosts: {}",
        show(&why)
    );
    assert_eq!(text.matches("allowlist += ").count(), 2, "{}", show(&why));
    // Without learn mode the patched manifest lets the same script through.
    b.run_ok(&script);
    b.assert_clean();
}
