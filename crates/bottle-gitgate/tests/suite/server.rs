//! Health, routing, refusal of anything but smart HTTP, and the config file.

use super::harness::*;
use bottle_gitgate::{Config, Secret};
use bottle_testkit::gitremote::BareRepo;
use std::time::Duration;

#[test]
fn health_endpoint_and_health_check() {
    let up = BareRepo::with_files(&[("a", "a\n")]);
    let gate = TestGate::start(vec![file_remote("origin", &up)]);
    bottle_gitgate::health_check(gate.addr, Duration::from_secs(5)).unwrap();
    let resp = http_request(gate.addr, "GET", "/__bottle/health", &[], b"");
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.ends_with("ok\n"), "{resp}");
    // An unspecified listen address is checked on loopback.
    let mut any = gate.addr;
    any.set_ip("0.0.0.0".parse().unwrap());
    bottle_gitgate::health_check(any, Duration::from_secs(5)).unwrap();
    // Nothing listening: an error that says where.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let err = bottle_gitgate::health_check(addr, Duration::from_secs(2)).unwrap_err();
    assert_contains(&err.to_string(), &addr.to_string());
}

#[test]
fn only_smart_http_for_declared_remotes_is_served() {
    let up = BareRepo::with_files(&[("a", "a\n")]);
    let gate = TestGate::start(vec![file_remote("origin", &up)]);
    // Prime the mirror so there would be files to serve.
    let _wt = gate.agent().clone_repo(&up.file_url());

    let dumb = http_request(gate.addr, "GET", "/origin.git/info/refs", &[], b"");
    assert!(dumb.starts_with("HTTP/1.1 403"), "{dumb}");
    assert_contains(&dumb, "no dumb HTTP");
    for path in [
        "/origin.git/HEAD",
        "/origin.git/objects/info/packs",
        "/origin.git/config",
        "/origin.git/../../run/gate.toml",
    ] {
        let r = http_request(gate.addr, "GET", path, &[], b"");
        assert!(r.starts_with("HTTP/1.1 404"), "{path}: {r}");
    }
    let unknown = http_request(
        gate.addr,
        "GET",
        "/other.git/info/refs?service=git-upload-pack",
        &[],
        b"",
    );
    assert!(unknown.starts_with("HTTP/1.1 404"), "{unknown}");
    assert_contains(&unknown, "this gate serves /origin.git");
    let wrong_method = http_request(gate.addr, "GET", "/origin.git/git-receive-pack", &[], b"");
    assert!(wrong_method.starts_with("HTTP/1.1 405"), "{wrong_method}");
}

const SAMPLE: &str = r#"
listen = "0.0.0.0:8080"
bottle = "dev"
data_dir = "/var/lib/bottle-git"
audit = { file = "/var/log/bottle/git.jsonl" }

[[remotes]]
name = "origin"
upstream = "ssh://git@git.example.com:2222/me/app.git"
identity_file = "/etc/bottle/git/origin.key"
known_host_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"

[[remotes]]
name = "tools"
upstream = "https://github.com/me/tools.git"
token = "not-a-real-token-0123456789"
"#;

#[test]
fn config_file_parses_round_trips_and_hides_the_token() {
    let c = Config::from_toml(SAMPLE).unwrap();
    assert_eq!(c.listen.port(), 8080);
    assert_eq!(c.git.to_str(), Some("git"));
    assert_eq!(c.remotes.len(), 2);
    assert_eq!(
        c.remotes[1].token.as_ref().map(Secret::expose),
        Some("not-a-real-token-0123456789")
    );
    let debug = format!("{c:?}");
    assert!(!debug.contains("not-a-real-token"), "{debug}");
    assert_contains(&debug, "[redacted]");
    let again = Config::from_toml(&c.to_toml().unwrap()).unwrap();
    assert_eq!(again, c);
}

#[test]
fn config_errors_say_what_is_wrong() {
    let cases: [(&str, &str, &str); 7] = [
        ("unknown key", "bogus = 1\n", "unknown field `bogus`"),
        (
            "ssh without pinned key",
            "[[remotes]]\nname = \"o\"\nupstream = \"git@h.example:me/a.git\"\nidentity_file = \"/k\"\n",
            "needs known_host_key",
        ),
        (
            "ssh without key",
            "[[remotes]]\nname = \"o\"\nupstream = \"git@h.example:me/a.git\"\nknown_host_key = \"ssh-ed25519 AAAA\"\n",
            "needs identity_file",
        ),
        (
            "plain http",
            "[[remotes]]\nname = \"o\"\nupstream = \"http://h.example/me/a.git\"\n",
            "dangerously_allow_plain_http",
        ),
        (
            "bad name",
            "[[remotes]]\nname = \"../x\"\nupstream = \"https://h.example/me/a.git\"\n",
            "must start with a letter or a digit",
        ),
        (
            "duplicate upstream",
            "[[remotes]]\nname = \"a\"\nupstream = \"https://h.example/me/a.git\"\n[[remotes]]\nname = \"b\"\nupstream = \"https://h.example/me/a\"\n",
            "declared twice",
        ),
        (
            "token on ssh",
            "[[remotes]]\nname = \"o\"\nupstream = \"ssh://h.example/a\"\nidentity_file = \"/k\"\nknown_host_key = \"ssh-ed25519 AAAA\"\ntoken = \"x\"\n",
            "are for https upstreams",
        ),
    ];
    let base = "listen = \"127.0.0.1:0\"\nbottle = \"b\"\ndata_dir = \"/tmp/x\"\n";
    for (what, extra, want) in cases {
        let text = if extra.starts_with("[[") {
            format!("{base}{extra}")
        } else {
            format!("{extra}{base}")
        };
        let err = Config::from_toml(&text).unwrap_err().to_string();
        assert!(err.contains(want), "{what}: {err}");
    }
    let host_name =
        Config::from_toml("listen = \"gate:8080\"\nbottle = \"b\"\ndata_dir = \"/tmp/x\"\n");
    assert!(
        host_name.is_err(),
        "host names must not be accepted for listen"
    );
}
