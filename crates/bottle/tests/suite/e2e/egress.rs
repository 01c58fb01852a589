//! Through the egress proxy: what is allowed answers, what is not is
//! blocked with a reason in the response and in the audit log, secrets do
//! not leave, credentials are injected on the way out.

use super::{Opts, TestBottle, random_alnum, setup, show};
use bottle_testkit::docker::{HTTPS_HOST, MAPPED_HOST};

#[test]
fn allowlisted_https_host_answers_and_every_stack_trusts_the_bottle_ca() {
    let Some(()) = setup() else { return };
    let b = TestBottle::new("allow", Opts::default());
    // curl (OpenSSL via the system bundle) and Python (ssl's default
    // context, the same bundle), both through the proxy variables.
    let out = b.run_ok(&format!(
        r#"set -e
curl -sS --fail https://{HTTPS_HOST}/hello-curl
echo
python3 -c 'import urllib.request; print(urllib.request.urlopen("https://{HTTPS_HOST}/hello-python").read().decode())'
"#
    ));
    assert!(out.contains(r#""path": "/hello-curl""#), "{out}");
    assert!(out.contains(r#""path": "/hello-python""#), "{out}");
    let paths: Vec<String> =
        b.up.https_requests()
            .iter()
            .map(|r| r["path"].as_str().unwrap_or_default().to_string())
            .collect();
    assert_eq!(paths, ["/hello-curl", "/hello-python"]);
    let audit = b.audit();
    let allowed: Vec<&serde_json::Value> = audit
        .iter()
        .filter(|l| l["host"] == HTTPS_HOST && l["decision"] == "allow")
        .collect();
    assert!(allowed.len() >= 2, "audit: {audit:#?}");
    b.assert_clean();
}

#[test]
fn non_allowlisted_host_is_blocked_with_403_and_the_audit_log_says_why() {
    let Some(()) = setup() else { return };
    let b = TestBottle::new("block", Opts::default());
    // Plain HTTP and HTTPS: both answered by the proxy with a readable 403
    // (the refused CONNECT is accepted and TLS completed with a leaf of
    // the bottle CA); curl shows the reason, and so do Python (the reason
    // phrase is in its exception) and git (it prints a text/plain error
    // body as `remote:` lines).
    let out = b.run(
        r#"curl -sS -o /dev/null -D - http://blocked.upstream.test/x; echo "http-exit=$?"
curl -sS https://blocked.upstream.test/y; echo "https-exit=$?"
curl -sS --fail-with-body https://blocked.upstream.test/z; echo "fail-exit=$?"
python3 -c 'import urllib.request; urllib.request.urlopen("https://blocked.upstream.test/py")' 2>&1 | tail -1
git ls-remote https://blocked.upstream.test/repo.git 2>&1; echo "git-exit=$?""#,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("HTTP/1.1 403"), "{}", show(&out));
    assert!(
        text.to_ascii_lowercase()
            .contains("x-bottle-block: allowlist:"),
        "{}",
        show(&out)
    );
    // HTTPS: the body names the host, the check and rule, and the line.
    assert!(text.contains("https-exit=0"), "{}", show(&out));
    assert!(
        text.contains("blocked by allowlist:host-not-allowed"),
        "{}",
        show(&out)
    );
    assert!(
        text.contains("blocked.upstream.test is not on this bottle's allowlist"),
        "{}",
        show(&out)
    );
    assert!(
        text.contains(r#"allowlist = ["blocked.upstream.test"]"#),
        "{}",
        show(&out)
    );
    assert!(text.contains("fail-exit=22"), "{}", show(&out));
    assert!(
        text.contains("HTTP Error 403: Blocked by bottle (allowlist:host-not-allowed)"),
        "python: {}",
        show(&out)
    );
    assert!(
        text.contains("remote: bottle egress proxy: blocked by allowlist:host-not-allowed"),
        "git: {}",
        show(&out)
    );
    let audit = b.audit();
    let blocked: Vec<&serde_json::Value> = audit
        .iter()
        .filter(|l| l["host"] == "blocked.upstream.test")
        .collect();
    // The plain request, and for each HTTPS client its CONNECT line and
    // the request(s) inside.
    assert!(blocked.len() >= 9, "audit: {audit:#?}");
    for l in &blocked {
        assert_eq!(l["decision"], "block", "{l}");
        assert_eq!(l["check"], "allowlist", "{l}");
        assert_eq!(l["status"], 403, "{l}");
        assert_eq!(l["rule"], "host-not-allowed", "{l}");
    }
    assert!(
        blocked
            .iter()
            .any(|l| l["method"] == "GET" && l["path"] == "/y"),
        "audit: {audit:#?}"
    );
    assert!(
        b.up.https_requests().is_empty(),
        "the upstream saw a request"
    );
    b.assert_clean();
}

#[test]
fn a_post_carrying_a_planted_github_token_is_blocked_and_without_it_succeeds() {
    let Some(()) = setup() else { return };
    let mut b = TestBottle::new(
        "dlp",
        Opts {
            extra: r#"env = { PLANTED = "${E2E_PLANTED}" }"#.into(),
            ..Opts::default()
        },
    );
    let token = format!("{}_{}", "ghp", random_alnum(36));
    b.env.push(("E2E_PLANTED".into(), token.clone()));
    let out = b.run(&format!(
        r#"curl -sS -o /dev/null -w 'with-token=%{{http_code}}\n' -X POST --data "note=$PLANTED" https://{HTTPS_HOST}/upload
curl -sS -o /dev/null -w 'without-token=%{{http_code}}\n' -X POST --data "note=hello" https://{HTTPS_HOST}/upload"#
    ));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("with-token=403"), "{}", show(&out));
    assert!(text.contains("without-token=200"), "{}", show(&out));
    let reqs = b.up.https_requests();
    assert_eq!(reqs.len(), 1, "{reqs:#?}");
    assert_eq!(reqs[0]["body"], "note=hello");
    for r in &reqs {
        assert!(
            !r.to_string().contains(&token),
            "the token reached the upstream"
        );
    }
    let audit = b.audit();
    let block = audit
        .iter()
        .find(|l| l["decision"] == "block" && l["path"] == "/upload")
        .unwrap_or_else(|| panic!("no block in {audit:#?}"));
    assert_eq!(block["check"], "dlp-body", "{block}");
    let all = serde_json::to_string(&audit).unwrap();
    assert!(!all.contains(&token), "the audit log holds the token");
    b.assert_clean();
}

#[test]
fn a_credential_is_injected_on_the_way_out_and_the_agent_holds_only_a_placeholder() {
    let Some(()) = setup() else { return };
    let mut b = TestBottle::new(
        "cred",
        Opts {
            extra: format!(
                r#"
[[bottles.b.credentials]]
host = "{HTTPS_HOST}"
header = "x-api-key"
value = "${{E2E_SECRET}}"
agent_env = "E2E_API_KEY"
"#
            ),
            ..Opts::default()
        },
    );
    let secret = format!("e2e-{}", random_alnum(32));
    b.env.push(("E2E_SECRET".into(), secret.clone()));
    let out = b.run_ok(&format!(
        r#"set -e
echo "agent-sees=$E2E_API_KEY"
env | sort
curl -sS --fail -H "x-api-key: $E2E_API_KEY" https://{HTTPS_HOST}/with-placeholder
curl -sS --fail https://{HTTPS_HOST}/without-header"#
    ));
    assert!(
        !out.contains(&secret),
        "the agent saw the real credential:\n{out}"
    );
    assert!(out.contains("agent-sees=bottle-placeholder-"), "{out}");
    let reqs = b.up.https_requests();
    assert_eq!(reqs.len(), 2, "{reqs:#?}");
    for r in &reqs {
        assert_eq!(r["headers"]["x-api-key"], secret.as_str(), "{r}");
    }
    b.assert_clean();
}

/// The manifest's `egress.hosts` map reaches the proxy: a real, public name
/// mapped to the local upstream is answered by it (without the map the
/// proxy resolves the name itself and the local upstream never sees it).
#[test]
fn a_hosts_map_sends_a_real_hostname_to_a_local_upstream() {
    let Some(()) = setup() else { return };
    // The upstream's address is known only once it runs: start it first.
    let up = bottle_testkit::docker::Upstreams::start_with(false, false);
    let b = TestBottle::with_upstreams(
        "hosts",
        up,
        Opts {
            allow: vec![format!("{MAPPED_HOST:?}")],
            ..Opts::default()
        },
        |up| format!("hosts = {{ {MAPPED_HOST:?} = {:?} }}", up.https_ip),
    );
    let out = b.run_ok(&format!(
        "curl -sS --fail https://{MAPPED_HOST}/through-the-hosts-map"
    ));
    assert!(out.contains(r#""path": "/through-the-hosts-map""#), "{out}");
    let reqs = b.up.https_requests();
    assert_eq!(reqs.len(), 1, "{reqs:#?}");
    assert_eq!(reqs[0]["headers"]["host"], MAPPED_HOST, "{:#}", reqs[0]);
    let audit = b.audit();
    assert!(
        audit
            .iter()
            .any(|l| l["host"] == MAPPED_HOST && l["decision"] == "allow" && l["status"] == 200),
        "audit: {audit:#?}"
    );
    b.assert_clean();
}

#[test]
fn the_agent_can_read_its_sandbox_policy() {
    let Some(()) = setup() else { return };
    let b = TestBottle::new("policy", Opts::default());
    let out = b.run_ok("cat /etc/bottle/policy.md");
    assert!(out.contains(&format!("`{HTTPS_HOST}`")), "{out}");
    assert!(out.contains("DNS does not resolve"), "{out}");
    assert!(out.contains("egress proxy at http://"), "{out}");
    b.assert_clean();
}

/// Issue 12: the credential's own host reflects the request headers (a
/// debug endpoint); the agent reads its placeholder there, in the body
/// (also base64-encoded) and in response headers, never the injected value.
#[test]
fn a_credential_reflected_by_its_host_reaches_the_agent_as_its_placeholder() {
    let Some(()) = setup() else { return };
    let mut b = TestBottle::new(
        "reflect",
        Opts {
            extra: format!(
                r#"
[[bottles.b.credentials]]
host = "{HTTPS_HOST}"
header = "authorization"
value = "Bearer ${{E2E_SECRET}}"
agent_env = "E2E_API_KEY"
"#
            ),
            ..Opts::default()
        },
    );
    let secret = format!("e2e-{}", random_alnum(32));
    b.env.push(("E2E_SECRET".into(), secret.clone()));
    let out = b.run_ok(&format!(
        r#"set -e
curl -sS --fail -D - -H "authorization: Bearer $E2E_API_KEY" https://{HTTPS_HOST}/reflect/headers
echo
echo "agent-holds=$E2E_API_KEY""#
    ));
    assert!(
        !out.contains(&secret),
        "the agent read the real credential:\n{out}"
    );
    let placeholder = "bottle-placeholder-e2e-api-key";
    assert!(out.contains(&format!("agent-holds={placeholder}")), "{out}");
    assert!(
        out.contains(&format!("\"authorization\": \"Bearer {placeholder}\"")),
        "the reflected body shows the placeholder:\n{out}"
    );
    assert!(
        out.to_ascii_lowercase()
            .contains(&format!("x-echo-authorization: bearer {placeholder}")),
        "the reflected header shows the placeholder:\n{out}"
    );
    // The upstream itself got the real value.
    let reqs = b.up.https_requests();
    assert_eq!(reqs.len(), 1, "{reqs:#?}");
    assert_eq!(
        reqs[0]["headers"]["authorization"],
        format!("Bearer {secret}").as_str()
    );
    b.assert_clean();
}
