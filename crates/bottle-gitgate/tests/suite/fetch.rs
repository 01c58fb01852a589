//! Clone, fetch, pull and ls-remote through the gate, protocol v0 and v2;
//! no request is ever answered from a stale mirror.

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
    let fetches: Vec<_> = audit.iter().filter(|r| r.event == "fetch").collect();
    assert!(!fetches.is_empty(), "{audit:?}");
    assert!(
        fetches
            .iter()
            .all(|r| r.decision == "allow" && r.reason == "ok")
    );
    assert!(
        fetches
            .iter()
            .any(|r| r.refs.iter().any(|u| u.name == "refs/heads/main")),
        "the first refresh reports the refs it brought: {fetches:?}"
    );
}

#[test]
fn clone_checks_out_the_upstreams_default_branch() {
    let up = BareRepo::new();
    up.commit_files("trunk", &[("a.txt", "on trunk\n")], "trunk commit");
    up.commit_files("other", &[("b.txt", "other\n")], "other commit");
    up.git(&["symbolic-ref", "HEAD", "refs/heads/trunk"]);
    let gate = TestGate::start(vec![file_remote("origin", &up)]);
    let wt = gate.agent().clone_repo(&up.file_url());
    assert_eq!(wt.git(&["symbolic-ref", "--short", "HEAD"]), "trunk");
    assert_eq!(wt.read("a.txt"), "on trunk\n");
}

fn fetch_and_pull_see_new_commits(protocol: &str) {
    let up = BareRepo::with_files(&[("a.txt", "1\n")]);
    let gate = TestGate::start(vec![file_remote("origin", &up)]);
    let agent = gate.agent();
    let wt = agent.clone_repo(&up.file_url());
    wt.git(&["config", "protocol.version", protocol]);

    // Someone pushes to the upstream directly; the very next fetch sees it.
    let second = up.commit_files("main", &[("a.txt", "2\n")], "second");
    wt.git(&["fetch", "--quiet"]);
    assert_eq!(wt.git(&["rev-parse", "origin/main"]), second);

    let third = up.commit_files("main", &[("a.txt", "3\n")], "third");
    wt.git(&["pull", "--quiet", "--ff-only"]);
    assert_eq!(wt.head(), third);
    assert_eq!(wt.read("a.txt"), "3\n");
    let audit = gate.audit();
    let want_protocol: u8 = protocol.parse().unwrap();
    assert!(
        audit
            .iter()
            .any(|r| r.event == "fetch" && r.protocol == want_protocol),
        "{audit:?}"
    );
}

#[test]
fn fetch_and_pull_see_new_upstream_commits_v2() {
    fetch_and_pull_see_new_commits("2");
}

#[test]
fn fetch_and_pull_see_new_upstream_commits_v0() {
    fetch_and_pull_see_new_commits("0");
}

fn ls_remote_follows_upstream(protocol: &str) {
    let up = BareRepo::with_files(&[("a.txt", "1\n")]);
    let gate = TestGate::start(vec![file_remote("origin", &up)]);
    let agent = gate.agent();
    let dir = tempfile::tempdir().unwrap();
    let ls = || {
        let cfg = format!("protocol.version={protocol}");
        agent.run(dir.path(), &["-c", &cfg, "ls-remote", &up.file_url()])
    };
    let before = ls();
    assert!(before.contains("refs/heads/main"), "{before}");
    assert!(!before.contains("refs/heads/feature"), "{before}");

    let feature = up.commit_files("feature", &[("f.txt", "f\n")], "feature");
    up.git(&["tag", "v1", "main"]);
    let after = ls();
    assert!(
        after.contains(&format!("{feature}\trefs/heads/feature")),
        "{after}"
    );
    assert!(after.contains("refs/tags/v1"), "{after}");

    // A branch deleted upstream disappears from the gate too.
    up.git(&["update-ref", "-d", "refs/heads/feature"]);
    let pruned = ls();
    assert!(!pruned.contains("refs/heads/feature"), "{pruned}");
    assert!(
        !gate
            .mirror_refs("origin")
            .contains_key("refs/heads/feature"),
        "the mirror was pruned"
    );
}

#[test]
fn ls_remote_follows_upstream_v2() {
    ls_remote_follows_upstream("2");
}

#[test]
fn ls_remote_follows_upstream_v0() {
    ls_remote_follows_upstream("0");
}

#[test]
fn upstream_down_fails_with_message_naming_it() {
    let up = BareRepo::with_files(&[("a.txt", "1\n")]);
    let url = up.file_url();
    let gate = TestGate::start(vec![file_remote("origin", &up)]);
    let agent = gate.agent();
    let wt = agent.clone_repo(&url);

    // The upstream goes away: nothing may be served from the mirror.
    let moved = up.path().with_extension("moved");
    std::fs::rename(up.path(), &moved).unwrap();
    for protocol in ["2", "0"] {
        let cfg = format!("protocol.version={protocol}");
        let fetch = wt.try_git(&["-c", &cfg, "fetch"]);
        assert!(!fetch.success, "fetch must fail when the upstream is down");
        assert_contains(
            &fetch.stderr,
            "bottle git gate: cannot fetch \"origin\" from its upstream",
        );
        assert_contains(&fetch.stderr, &url);
        assert_contains(&fetch.stderr, "does not appear to be a git repository");

        let ls = wt.try_git(&["-c", &cfg, "ls-remote", &url]);
        assert!(!ls.success);
        assert!(
            !ls.stdout.contains("refs/heads/main"),
            "stale refs served: {}",
            ls.stdout
        );
        assert_contains(&ls.stderr, &url);

        let dir = tempfile::tempdir().unwrap();
        let clone = agent.try_run(dir.path(), &["-c", &cfg, "clone", &url, "x"]);
        assert!(!clone.success);
        assert_contains(&clone.stderr, "cannot fetch \"origin\"");
    }
    let denied: Vec<_> = gate
        .audit()
        .into_iter()
        .filter(|r| r.decision == "block")
        .collect();
    assert!(!denied.is_empty());
    assert!(denied.iter().all(|r| r.reason == "upstream-unreachable"));
    assert!(denied[0].detail.as_deref().unwrap_or("").contains(&url));

    // Back up: served again.
    std::fs::rename(&moved, up.path()).unwrap();
    wt.git(&["fetch", "--quiet"]);
}

/// A protocol v2 client could skip the advertisement and ask `ls-refs`
/// directly; it must get fresh refs too, or an error.
#[test]
fn v2_ls_refs_alone_is_refreshed_first() {
    let up = BareRepo::with_files(&[("a.txt", "1\n")]);
    let gate = TestGate::start(vec![file_remote("origin", &up)]);
    // Prime the mirror.
    let agent = gate.agent();
    let _wt = agent.clone_repo(&up.file_url());

    let newer = up.commit_files("main", &[("a.txt", "2\n")], "newer");
    let body = b"0014command=ls-refs\n0001000csymrefs\n0000";
    let resp = http_request(
        gate.addr,
        "POST",
        "/origin.git/git-upload-pack",
        &[
            ("Content-Type", "application/x-git-upload-pack-request"),
            ("Git-Protocol", "version=2"),
        ],
        body,
    );
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert_contains(&resp, &format!("{newer} refs/heads/main"));

    std::fs::rename(up.path(), up.path().with_extension("gone")).unwrap();
    let resp = http_request(
        gate.addr,
        "POST",
        "/origin.git/git-upload-pack",
        &[
            ("Content-Type", "application/x-git-upload-pack-request"),
            ("Git-Protocol", "version=2"),
        ],
        body,
    );
    assert_contains(&resp, "ERR bottle git gate: cannot fetch \"origin\"");
    assert!(
        !resp.contains("refs/heads/main"),
        "stale refs served: {resp}"
    );
}

#[test]
fn concurrent_clones_share_refreshes_and_all_succeed() {
    let up = BareRepo::with_files(&[("a.txt", "1\n")]);
    let gate = TestGate::start(vec![file_remote("origin", &up)]);
    let agent = gate.agent();
    let url = up.file_url();
    let head = up.rev("refs/heads/main").unwrap();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|_| {
                let agent = agent.clone();
                let url = url.clone();
                s.spawn(move || agent.clone_repo(&url).head())
            })
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), head);
        }
    });
}

#[test]
fn shallow_and_partial_clones_fetch_and_push() {
    let up = BareRepo::with_files(&[("a.txt", "1\n")]);
    up.commit_files("main", &[("b.txt", "2\n")], "second");
    let gate = TestGate::start(vec![file_remote("origin", &up)]);
    let agent = gate.agent();
    let url = up.file_url();
    let dir = tempfile::tempdir().unwrap();
    agent.run(
        dir.path(),
        &["clone", "--quiet", "--depth", "1", &url, "shallow"],
    );
    agent.run(
        dir.path(),
        &["clone", "--quiet", "--filter=blob:none", &url, "partial"],
    );
    let shallow = dir.path().join("shallow");
    assert_eq!(agent.run(&shallow, &["rev-list", "--count", "HEAD"]), "1");
    std::fs::write(shallow.join("c.txt"), "3\n").unwrap();
    agent.run(&shallow, &["add", "c.txt"]);
    agent.run(
        &shallow,
        &["commit", "--quiet", "-m", "from a shallow clone"],
    );
    agent.run(&shallow, &["push", "--quiet", "origin", "main"]);
    let pushed = agent.run(&shallow, &["rev-parse", "HEAD"]);
    assert_eq!(up.rev("refs/heads/main").unwrap(), pushed);
    let partial = dir.path().join("partial");
    agent.run(&partial, &["pull", "--quiet", "--ff-only"]);
    assert_eq!(agent.run(&partial, &["rev-parse", "HEAD"]), pushed);
    assert_eq!(
        std::fs::read_to_string(partial.join("c.txt")).unwrap(),
        "3\n"
    );
}

/// A v2 `fetch` naming an object the mirror does not have yet (the client
/// learned the id elsewhere, no `ls-refs` first) refreshes before answering.
#[test]
fn v2_fetch_of_an_unknown_id_refreshes_first() {
    let up = BareRepo::with_files(&[("a.txt", "1\n")]);
    let gate = TestGate::start(vec![file_remote("origin", &up)]);
    let agent = gate.agent();
    let wt = agent.clone_repo(&up.file_url());
    let newer = up.commit_files("side", &[("s.txt", "s\n")], "side");
    assert!(!gate.mirror_refs("origin").values().any(|v| *v == newer));

    let want = format!("want {newer}\n");
    let mut body = b"0012command=fetch\n0001".to_vec();
    body.extend(format!("{:04x}{want}", want.len() + 4).into_bytes());
    body.extend(b"0009done\n0000");
    let resp = http_request(
        gate.addr,
        "POST",
        "/origin.git/git-upload-pack",
        &[
            ("Content-Type", "application/x-git-upload-pack-request"),
            ("Git-Protocol", "version=2"),
        ],
        &body,
    );
    assert_contains(&resp, "packfile");
    // And through a real client: fetch by id.
    wt.git(&["fetch", "--quiet", "origin", &newer]);
    assert_eq!(wt.git(&["rev-parse", "FETCH_HEAD"]), newer);
}

/// A mirror built by fetches has no reachability bitmap; after serving, the
/// gate repacks it in the background so later clones need not count every
/// object.
#[test]
fn mirror_gets_a_bitmap_after_serving() {
    let up = BareRepo::with_files(&[("a.txt", "1\n")]);
    up.commit_files("main", &[("b.txt", "2\n")], "second");
    let gate = TestGate::start(vec![file_remote("origin", &up)]);
    let has_bitmap = || {
        std::fs::read_dir(gate.mirror_dir("origin").join("objects/pack"))
            .map(|rd| {
                rd.flatten()
                    .any(|e| e.file_name().to_string_lossy().ends_with(".bitmap"))
            })
            .unwrap_or(false)
    };
    assert!(!has_bitmap());
    let wt = gate.agent().clone_repo(&up.file_url());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !has_bitmap() {
        assert!(std::time::Instant::now() < deadline, "no bitmap after 30 s");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // Still serving correctly afterwards.
    let third = up.commit_files("main", &[("c.txt", "3\n")], "third");
    wt.git(&["pull", "--quiet", "--ff-only"]);
    assert_eq!(wt.head(), third);
}

/// A data directory reused with another upstream under the same name starts
/// a fresh mirror: nothing of the old upstream is served.
#[test]
fn reused_data_dir_with_another_upstream_starts_fresh() {
    let first = BareRepo::with_files(&[("first.txt", "1\n")]);
    let second = BareRepo::with_files(&[("second.txt", "2\n")]);
    let data = tempfile::tempdir().unwrap();
    let gate = TestGate::start(vec![file_remote("origin", &first)]);
    let mut config = gate.config.clone();
    drop(gate);
    let old_commit = first.rev("refs/heads/main").unwrap();
    // Prime a mirror in `data` with the first upstream.
    config.data_dir = data.path().join("d");
    config.audit = bottle_gitgate::AuditTarget::Off;
    let primed = TestGate::start_with(config.clone(), tempfile::tempdir().unwrap());
    primed.agent().clone_repo(&first.file_url());
    drop(primed);
    config.remotes = vec![file_remote("origin", &second)];
    let gate = TestGate::start_with(config, tempfile::tempdir().unwrap());
    let admin = bottle_testkit::gitremote::GitClient::new();
    let present = admin.try_run(&gate.mirror_dir("origin"), &["cat-file", "-e", &old_commit]);
    assert!(
        !present.success,
        "the old upstream's objects are still in the mirror"
    );
    let wt = gate.agent().clone_repo(&second.file_url());
    assert_eq!(wt.read("second.txt"), "2\n");
}

/// Protocol v2 requests are answered by `git upload-pack --stateless-rpc`
/// directly, not through http-backend: the capability advertisement and
/// the command answers carry http-backend's content types and no-cache
/// headers, and a gzip request body (git compresses requests over 1 KiB,
/// e.g. a fetch with many haves) is decoded before upload-pack reads it.
#[test]
fn v2_requests_are_answered_by_upload_pack_directly() {
    use std::io::Write;
    let up = BareRepo::with_files(&[("a.txt", "1\n")]);
    let gate = TestGate::start(vec![file_remote("origin", &up)]);
    let agent = gate.agent();
    let wt = agent.clone_repo(&up.file_url());

    let caps = http_request(
        gate.addr,
        "GET",
        "/origin.git/info/refs?service=git-upload-pack",
        &[("Git-Protocol", "version=2")],
        b"",
    );
    assert!(caps.starts_with("HTTP/1.1 200"), "{caps}");
    let lower = caps.to_ascii_lowercase();
    assert_contains(
        &lower,
        "content-type: application/x-git-upload-pack-advertisement",
    );
    assert_contains(&lower, "cache-control: no-cache");
    assert_contains(&caps, "version 2");
    assert_contains(&caps, "ls-refs");
    assert_contains(&caps, "fetch=");

    let newer = up.commit_files("main", &[("a.txt", "2\n")], "newer");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(b"0014command=ls-refs\n0001000csymrefs\n0000")
        .unwrap();
    let resp = http_request(
        gate.addr,
        "POST",
        "/origin.git/git-upload-pack",
        &[
            ("Content-Type", "application/x-git-upload-pack-request"),
            ("Content-Encoding", "gzip"),
            ("Git-Protocol", "version=2"),
        ],
        &gz.finish().unwrap(),
    );
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert_contains(
        &resp.to_ascii_lowercase(),
        "content-type: application/x-git-upload-pack-result",
    );
    assert_contains(&resp, &format!("{newer} refs/heads/main"));

    // A real client with many local commits (many haves, so a compressed
    // request) fetches the upstream's next commit.
    for i in 0..60 {
        wt.commit_files(&[("local.txt", &format!("{i}\n"))], &format!("local {i}"));
    }
    let newest = up.commit_files("main", &[("a.txt", "3\n")], "newest");
    wt.git(&["fetch", "--quiet"]);
    assert_eq!(wt.git(&["rev-parse", "origin/main"]), newest);
}

/// The git processes one v2 fetch of a new upstream commit costs the gate,
/// seen through a logging wrapper configured as the gate's `git`: one
/// `upload-pack` per request (no http-backend), one `fetch` (the refresh),
/// one `for-each-ref`; no `cat-file` (the wanted tip is known from the
/// refresh) and no `symbolic-ref` (HEAD is read from its file).
#[test]
fn a_v2_fetch_starts_only_the_git_processes_it_needs() {
    use std::os::unix::fs::PermissionsExt;
    let up = BareRepo::with_files(&[("a.txt", "1\n")]);
    let data = tempfile::Builder::new()
        .prefix("bottle-gate-")
        .tempdir()
        .unwrap();
    let real_git = String::from_utf8(
        std::process::Command::new("sh")
            .args(["-c", "command -v git"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_string();
    let log = data.path().join("git.log");
    let wrapper_dir = data.path().join("bin");
    std::fs::create_dir_all(&wrapper_dir).unwrap();
    let wrapper = wrapper_dir.join("git");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
            log.display(),
            real_git
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut config = TestGate::config(vec![file_remote("origin", &up)], data.path());
    config.git = wrapper;
    let gate = TestGate::start_with(config, data);
    let wt = gate.agent().clone_repo(&up.file_url());
    wt.git(&["config", "protocol.version", "2"]);
    // Let the background repack after the clone finish.
    for _ in 0..300 {
        if !std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("repack")
            || std::fs::read_dir(gate.mirror_dir("origin").join("objects/pack"))
                .unwrap()
                .flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with(".bitmap"))
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    let before = std::fs::read_to_string(&log).unwrap().lines().count();

    let newer = up.commit_files("main", &[("a.txt", "2\n")], "newer");
    wt.git(&["fetch", "--quiet"]);
    assert_eq!(wt.git(&["rev-parse", "origin/main"]), newer);
    let text = std::fs::read_to_string(&log).unwrap();
    let ran: Vec<&str> = text.lines().skip(before).collect();
    let count = |needle: &str| {
        ran.iter()
            .filter(|l| l.split_whitespace().any(|w| w == needle))
            .count()
    };
    assert_eq!(count("http-backend"), 0, "{ran:#?}");
    assert_eq!(count("upload-pack"), 3, "caps, ls-refs, fetch: {ran:#?}");
    assert_eq!(count("fetch"), 1, "one refresh: {ran:#?}");
    assert_eq!(count("for-each-ref"), 1, "{ran:#?}");
    assert_eq!(count("cat-file"), 0, "{ran:#?}");
    assert_eq!(count("symbolic-ref"), 0, "{ran:#?}");
}
