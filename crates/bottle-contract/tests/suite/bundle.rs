//! Plan → bundle as whole values; each config through its own loader; one
//! test per manifest key that affects a sidecar.

use bottle_contract::*;
use bottle_manifest::{Format, ManifestSet, SourceFile, parse_file};
use bottle_plan::{LaunchPlan, MountPlan, PlanInputs};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

fn plan_of(text: &str) -> LaunchPlan {
    let file = SourceFile::parse(
        "bottle.toml",
        Some(PathBuf::from("/proj")),
        text.to_string(),
        Format::Toml,
    )
    .unwrap();
    let m = parse_file(&file).unwrap_or_else(|e| panic!("{e}"));
    let set = ManifestSet::merge(vec![(file, m)]).unwrap_or_else(|e| panic!("{e}"));
    let inputs = PlanInputs {
        agent: None,
        running: BTreeSet::new(),
        default_allowlist: Vec::new(),
        home: Some(PathBuf::from("/home/me")),
        host_env: ["KEY", "TOK", "GH", "LAB", "PW", "TERM"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        sidecar_tag: "t1".into(),
    };
    bottle_plan::plan(&set, &inputs).unwrap_or_else(|e| panic!("{e}"))
}

fn ca() -> Ca {
    Ca {
        cert_pem: "-----BEGIN CERTIFICATE-----\ncert\n-----END CERTIFICATE-----\n".into(),
        key_pem: Secret::new("-----BEGIN PRIVATE KEY-----\nkey\n-----END PRIVATE KEY-----\n"),
    }
}

fn s(v: &str) -> Secret {
    Secret::new(v)
}

/// Values for every manifest below (extra ones are ignored).
fn values() -> Values {
    let mut v = Values::new(ca());
    v.env = BTreeMap::from([
        ("TOKEN".to_string(), s("tok-9fQ2zR7kLm4XwP1vB8nC")),
        ("LEVEL".to_string(), s("info")),
        ("PIN".to_string(), s("1234")),
        ("HTTP_PROXY".to_string(), s("http://evil:1")),
    ]);
    v.credentials = BTreeMap::from([(
        ("api.example.com".to_string(), "authorization".to_string()),
        s("Bearer real-key-value-0123456789"),
    )]);
    v.git_tokens = BTreeMap::from([
        ("gh".to_string(), s("ghp_token_of_gh")),
        ("lab".to_string(), s("glpat_token_of_lab")),
    ]);
    v.host_files = BTreeMap::from([
        ("/proj/certs/corp.pem".to_string(), b"CORP PEM".to_vec()),
        ("/home/me/.ssh/gate".to_string(), b"SSH KEY".to_vec()),
    ]);
    v
}

const FULL: &str = r#"
[bottles.b]
env = { TOKEN = "${TOK}", LEVEL = "info", PIN = "${PW}", HTTP_PROXY = "http://evil:1" }
runtime = "runsc"
mounts = [{ source = ".", target = "/workspace" }]

[bottles.b.egress]
defaults = false
allowlist = ["api.example.com", { host = "up.example.com", methods = ["put"], paths = ["/v1/*"] }, "*.github.io"]
passthrough = ["pass.example.com"]
upstream_ca = ["certs/corp.pem"]
allow_cidrs = ["10.1.2.0/24"]
hosts = { "api.example.com" = "10.1.2.3" }
secret_env = ["PIN"]
dangerously_allow_public_suffix_wildcards = true
dlp_allow = [{ host = "api.example.com", fingerprint = "AB12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12" }]
[bottles.b.egress.dlp]
cards = false
ssn = false

[[bottles.b.credentials]]
host = "API.example.com"
header = "Authorization"
value = "${KEY}"
agent_env = "EXAMPLE_KEY"

[[bottles.b.git]]
name = "origin"
upstream = "ssh://git@git.example.com:2222/me/app.git"
identity_file = "~/.ssh/gate"
known_host_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample"
allow = [{ path = "vendor/**", reason = "vectors" }]

[[bottles.b.git]]
name = "gh"
upstream = "https://github.com/me/lib"
token = "${GH}"

[agents.a]
bottle = "b"
preset = "claude"
prompt = "Fix the test"
"#;

fn expected_egress_config() -> bottle_egress::Config {
    let mut c = bottle_egress::Config::new("a", "/etc/bottle/ca.pem", "/etc/bottle/ca.key");
    c.listen = "0.0.0.0:3128".parse().unwrap();
    c.allowlist = vec![
        bottle_egress::AllowEntry::Host("*.github.io".into()),
        bottle_egress::AllowEntry::Host("api.example.com".into()),
        bottle_egress::AllowEntry::Host("pass.example.com".into()),
        bottle_egress::AllowEntry::Rule {
            host: "up.example.com".into(),
            methods: vec!["PUT".into()],
            paths: vec!["/v1/*".into()],
        },
    ];
    c.passthrough = vec!["pass.example.com".into()];
    c.allow_cidrs = vec!["10.1.2.0/24".into()];
    c.hosts = BTreeMap::from([("api.example.com".to_string(), "10.1.2.3".to_string())]);
    c.dangerously_allow_public_suffix_wildcards = true;
    c.credentials = vec![bottle_egress::Credential {
        host: "api.example.com".into(),
        header: "authorization".into(),
        value: s("Bearer real-key-value-0123456789"),
        placeholder: Some("bottle-placeholder-example-key".into()),
    }];
    c.known_secrets = vec![
        bottle_egress::KnownSecret {
            name: "env PIN".into(),
            value: s("1234"),
        },
        bottle_egress::KnownSecret {
            name: "env TOKEN".into(),
            value: s("tok-9fQ2zR7kLm4XwP1vB8nC"),
        },
    ];
    c.dlp = bottle_egress::DlpData {
        cards: false,
        ssn: false,
        ..Default::default()
    };
    c.dlp_allow = vec![bottle_egress::DlpAllow {
        host: "api.example.com".into(),
        fingerprint: "ab12".repeat(16),
    }];
    c.upstream_ca = vec!["/etc/bottle/upstream-ca/0.pem".into()];
    c
}

fn expected_git_config() -> bottle_gitgate::Config {
    bottle_gitgate::Config {
        listen: "0.0.0.0:8080".parse().unwrap(),
        bottle: "a".into(),
        data_dir: "/var/lib/bottle-gate/mirrors".into(),
        git: "git".into(),
        ssh: "ssh".into(),
        audit: bottle_gitgate::AuditTarget::Stdout,
        scan: Default::default(),
        upstream_timeout_secs: 600,
        hook_command: vec![
            "/usr/local/bin/bottle".into(),
            "git-gate".into(),
            "hook".into(),
        ],
        remotes: vec![
            bottle_gitgate::Remote {
                name: "origin".into(),
                upstream: "ssh://git@git.example.com:2222/me/app.git".into(),
                identity_file: Some("/etc/bottle/git/origin.key".into()),
                known_host_key: Some("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample".into()),
                token: None,
                token_file: None,
                username: None,
                ca_file: None,
                dangerously_allow_plain_http: false,
                allow: vec![bottle_gitgate::ScanAllow {
                    path: Some("vendor/**".into()),
                    fingerprint: None,
                    reason: Some("vectors".into()),
                }],
            },
            bottle_gitgate::Remote {
                name: "gh".into(),
                upstream: "https://github.com/me/lib".into(),
                identity_file: None,
                known_host_key: None,
                token: Some(s("ghp_token_of_gh")),
                token_file: None,
                username: None,
                ca_file: None,
                dangerously_allow_plain_http: false,
                allow: vec![],
            },
        ],
    }
}

fn file<'a>(files: &'a [File], path: &str) -> &'a File {
    files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("no {path} in {files:?}"))
}

fn text(f: &File) -> &str {
    std::str::from_utf8(&f.contents).unwrap()
}

#[test]
fn full_manifest_bundle_as_whole_values() {
    let plan = plan_of(FULL);
    let b = bundle(&plan, &values()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(b.egress_config, expected_egress_config());
    assert_eq!(b.git_config.as_ref(), Some(&expected_git_config()));

    let egress_toml = expected_egress_config().to_toml().unwrap();
    assert_eq!(
        b.egress,
        Sidecar {
            role: Role::Egress,
            name: "bottle-a-egress".into(),
            image: "bottle/egress:t1".into(),
            networks: vec!["bottle-a-int".into(), "bottle-a-out".into()],
            uid: 65534,
            argv: vec![
                "/bottle".into(),
                "egress-proxy".into(),
                "--config".into(),
                "/etc/bottle/egress.toml".into()
            ],
            health: vec![
                "/bottle".into(),
                "egress-proxy".into(),
                "--health-check".into(),
                "127.0.0.1:3128".into()
            ],
            init: false,
            files: vec![
                File::new("/etc/bottle/upstream-ca/0.pem", "CORP PEM", 0o444, 65534),
                File::new("/etc/bottle/egress.toml", egress_toml, 0o400, 65534),
                File::new("/etc/bottle/ca.pem", ca().cert_pem, 0o444, 65534),
                File::new("/etc/bottle/ca.key", ca().key_pem.expose(), 0o400, 65534),
            ],
        }
    );

    let git_toml = expected_git_config().to_toml().unwrap();
    assert_eq!(
        b.git,
        Some(Sidecar {
            role: Role::Git,
            name: "bottle-a-git".into(),
            image: "bottle/git-gate:t1".into(),
            networks: vec!["bottle-a-int".into(), "bottle-a-git-out".into()],
            uid: 999,
            argv: vec![
                "/usr/local/bin/bottle".into(),
                "git-gate".into(),
                "--config".into(),
                "/etc/bottle/git-gate.toml".into()
            ],
            health: vec![
                "/usr/local/bin/bottle".into(),
                "git-gate".into(),
                "health".into(),
                "--addr".into(),
                "127.0.0.1:8080".into()
            ],
            init: true,
            files: vec![
                File::new("/etc/bottle/git/origin.key", "SSH KEY", 0o400, 999),
                File::new("/etc/bottle/git-gate.toml", git_toml, 0o400, 999),
            ],
        })
    );

    let gitconfig = bottle_gitgate::agent_gitconfig(
        [
            ("origin", "ssh://git@git.example.com:2222/me/app.git"),
            ("gh", "https://github.com/me/lib"),
        ],
        "http://bottle-a-git:8080",
    )
    .unwrap();
    let proxy = "http://bottle-a-egress:3128";
    let no_proxy = "localhost,127.0.0.1,::1,bottle-a-git";
    let bundle_path = "/etc/ssl/certs/ca-certificates.crt";
    let env: Vec<(&str, &str)> = vec![
        // The manifest's, sorted, the reserved HTTP_PROXY dropped; the
        // credential's placeholder.
        ("EXAMPLE_KEY", "bottle-placeholder-example-key"),
        ("LEVEL", "info"),
        ("PIN", "1234"),
        ("TOKEN", "tok-9fQ2zR7kLm4XwP1vB8nC"),
        // The launcher's own.
        ("HTTP_PROXY", proxy),
        ("HTTPS_PROXY", proxy),
        ("http_proxy", proxy),
        ("https_proxy", proxy),
        ("NO_PROXY", no_proxy),
        ("no_proxy", no_proxy),
        ("SSL_CERT_FILE", bundle_path),
        ("REQUESTS_CA_BUNDLE", bundle_path),
        ("CURL_CA_BUNDLE", bundle_path),
        ("GIT_SSL_CAINFO", bundle_path),
        ("PIP_CERT", bundle_path),
        ("CARGO_HTTP_CAINFO", bundle_path),
        ("NODE_EXTRA_CA_CERTS", "/etc/bottle/ca.pem"),
        ("GIT_CONFIG_SYSTEM", "/etc/bottle/gitconfig"),
        ("BOTTLE_INSTANCE", "a"),
    ];
    assert_eq!(
        b.agent,
        Agent {
            name: "bottle-a-agent".into(),
            image: "bottle/agent-claude:latest".into(),
            networks: vec!["bottle-a-int".into()],
            uid: 1000,
            argv: vec![
                "claude".into(),
                "--dangerously-skip-permissions".into(),
                "Fix the test".into()
            ],
            env: env.iter().map(|(k, v)| (k.to_string(), s(v))).collect(),
            files: vec![
                File::new("/etc/bottle/ca.pem", ca().cert_pem, 0o644, 0),
                File::new("/etc/bottle/gitconfig", gitconfig, 0o644, 0),
                File::new("/etc/bottle/policy.md", policy_md(&plan), 0o644, 0),
            ],
            ca_cert_pem: ca().cert_pem,
            ca_bundle: bundle_path.into(),
            workdir: Some("/workspace".into()),
            mounts: vec![MountPlan {
                source: "/proj".into(),
                target: "/workspace".into(),
                readonly: false,
            }],
            runtime: Some("runsc".into()),
        }
    );
}

#[test]
fn each_config_round_trips_through_its_own_loader() {
    let b = bundle(&plan_of(FULL), &values()).unwrap();
    let dir = std::env::temp_dir().join(format!("bottle-contract-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let egress = file(&b.egress.files, paths::EGRESS_CONFIG);
    let p = dir.join("egress.toml");
    std::fs::write(&p, &egress.contents).unwrap();
    assert_eq!(bottle_egress::Config::load(&p).unwrap(), b.egress_config);

    let git = file(&b.git.as_ref().unwrap().files, paths::GIT_CONFIG);
    let p = dir.join("git-gate.toml");
    std::fs::write(&p, &git.contents).unwrap();
    let loaded = bottle_gitgate::Config::load(&p).unwrap();
    assert_eq!(Some(loaded), b.git_config);
    let _ = std::fs::remove_dir_all(&dir);

    // Twin: a config that differs is told apart.
    let mut other = b.egress_config.clone();
    other.hosts.clear();
    assert_ne!(
        bottle_egress::Config::from_toml(text(egress)).unwrap(),
        other
    );
}

const BASE: &str = r#"
[bottles.b]
env = { LEVEL = "info" }
[bottles.b.egress]
defaults = false
allowlist = ["api.example.com"]
[agents.a]
bottle = "b"
preset = "shell"
"#;

/// The bundle of `BASE` with `extra` TOML inserted after `anchor` (or,
/// when it starts with `=`, in place of it).
fn variant(anchor: &str, extra: &str) -> Bundle {
    assert!(BASE.contains(anchor), "{anchor}");
    let text = match extra.strip_prefix('=') {
        Some(instead) => BASE.replacen(anchor, instead, 1),
        None => BASE.replacen(anchor, &format!("{anchor}\n{extra}"), 1),
    };
    bundle(&plan_of(&text), &values()).unwrap_or_else(|e| panic!("{extra}: {e}"))
}

fn base() -> Bundle {
    bundle(&plan_of(BASE), &values()).unwrap()
}

/// Every manifest key that affects a sidecar changes the bundle, in the
/// place it should; the base bundle is the benign twin of each.
#[test]
fn every_sidecar_key_reaches_its_sidecar() {
    let base = base();
    let egress_anchor = "[bottles.b.egress]";
    let bottle_anchor = "[bottles.b]";
    type Check = fn(&Bundle, &Bundle);
    let cases: Vec<(&str, &str, &str, Check)> = vec![
        (
            "egress.hosts",
            egress_anchor,
            r#"hosts = { "api.example.com" = "10.9.9.9" }"#,
            |b, base| {
                assert_eq!(
                    b.egress_config.hosts,
                    BTreeMap::from([("api.example.com".into(), "10.9.9.9".into())])
                );
                assert!(base.egress_config.hosts.is_empty());
            },
        ),
        (
            "egress.passthrough",
            egress_anchor,
            r#"passthrough = ["p.example.com"]"#,
            |b, _| assert_eq!(b.egress_config.passthrough, vec!["p.example.com"]),
        ),
        (
            "egress.allow_cidrs",
            egress_anchor,
            r#"allow_cidrs = ["10.0.0.0/8"]"#,
            |b, _| assert_eq!(b.egress_config.allow_cidrs, vec!["10.0.0.0/8"]),
        ),
        (
            "egress.upstream_ca",
            egress_anchor,
            r#"upstream_ca = ["certs/corp.pem"]"#,
            |b, _| {
                assert_eq!(
                    b.egress_config.upstream_ca,
                    vec![PathBuf::from("/etc/bottle/upstream-ca/0.pem")]
                );
                assert_eq!(
                    file(&b.egress.files, "/etc/bottle/upstream-ca/0.pem").contents,
                    b"CORP PEM"
                );
            },
        ),
        (
            "egress.dlp",
            "",
            "[bottles.b.egress.dlp]\niban = false\ncrypto_keys = false",
            |b, _| {
                assert_eq!(
                    b.egress_config.dlp,
                    bottle_egress::DlpData {
                        iban: false,
                        crypto_keys: false,
                        ..Default::default()
                    }
                )
            },
        ),
        (
            "egress.dlp ssn and bank_routing",
            "",
            "[bottles.b.egress.dlp]\nssn = false\nbank_routing = false",
            |b, _| {
                assert_eq!(
                    b.egress_config.dlp,
                    bottle_egress::DlpData {
                        ssn: false,
                        bank_routing: false,
                        ..Default::default()
                    }
                );
                assert!(b.egress_config.dlp.cards && b.egress_config.dlp.crypto_keys);
            },
        ),
        (
            "egress.dlp_allow",
            egress_anchor,
            r#"dlp_allow = [{ host = "api.example.com", fingerprint = "00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff" }]"#,
            |b, _| {
                assert_eq!(
                    b.egress_config.dlp_allow,
                    vec![bottle_egress::DlpAllow {
                        host: "api.example.com".into(),
                        fingerprint: "00ff".repeat(16),
                    }]
                )
            },
        ),
        (
            "egress.secret_env",
            egress_anchor,
            r#"secret_env = ["LEVEL"]"#,
            |b, base| {
                assert_eq!(
                    b.egress_config.known_secrets,
                    vec![bottle_egress::KnownSecret {
                        name: "env LEVEL".into(),
                        value: s("info"),
                    }]
                );
                assert!(base.egress_config.known_secrets.is_empty());
            },
        ),
        (
            "egress.dangerously_allow_public_suffix_wildcards",
            "allowlist = [\"api.example.com\"]",
            "=allowlist = [\"*.github.io\"]\ndangerously_allow_public_suffix_wildcards = true",
            |b, _| assert!(b.egress_config.dangerously_allow_public_suffix_wildcards),
        ),
        (
            "env",
            r#"env = { LEVEL = "info" }"#,
            r#"=env = { LEVEL = "info", TOKEN = "${TOK}" }"#,
            |b, _| {
                assert_eq!(
                    b.agent.env[1],
                    ("TOKEN".into(), s("tok-9fQ2zR7kLm4XwP1vB8nC"))
                );
                // From the host and secret-looking: a known secret too.
                assert_eq!(b.egress_config.known_secrets[0].name, "env TOKEN");
            },
        ),
        (
            "credentials",
            "",
            "[[bottles.b.credentials]]\nhost = \"api.example.com\"\nheader = \"authorization\"\nvalue = \"${KEY}\"\nagent_env = \"K\"",
            |b, _| {
                assert_eq!(
                    b.egress_config.credentials,
                    vec![bottle_egress::Credential {
                        host: "api.example.com".into(),
                        header: "authorization".into(),
                        value: s("Bearer real-key-value-0123456789"),
                        placeholder: Some("bottle-placeholder-k".into()),
                    }]
                );
                assert!(
                    b.agent
                        .env
                        .contains(&("K".into(), s("bottle-placeholder-k")))
                );
            },
        ),
        (
            "git",
            "",
            "[[bottles.b.git]]\nname = \"lab\"\nupstream = \"https://gitlab.com/me/x\"\ntoken = \"${LAB}\"",
            |b, base| {
                let cfg = b.git_config.as_ref().unwrap();
                assert_eq!(cfg.remotes.len(), 1);
                assert_eq!(cfg.remotes[0].token, Some(s("glpat_token_of_lab")));
                assert!(
                    b.agent
                        .env
                        .contains(&("GIT_CONFIG_SYSTEM".into(), s("/etc/bottle/gitconfig")))
                );
                assert!(base.git.is_none() && base.git_config.is_none());
            },
        ),
        (
            "git.allow",
            "",
            "[[bottles.b.git]]\nname = \"lab\"\nupstream = \"https://gitlab.com/me/x\"\nallow = [{ fingerprint = \"00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff\" }]",
            |b, _| {
                assert_eq!(
                    b.git_config.as_ref().unwrap().remotes[0].allow,
                    vec![bottle_gitgate::ScanAllow {
                        path: None,
                        fingerprint: Some("00ff".repeat(16)),
                        reason: None,
                    }]
                );
            },
        ),
        (
            "git.identity_file and known_host_key",
            "",
            "[[bottles.b.git]]\nname = \"o\"\nupstream = \"ssh://git@h.example.com/x.git\"\nidentity_file = \"~/.ssh/gate\"\nknown_host_key = \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample\"",
            |b, _| {
                let r = &b.git_config.as_ref().unwrap().remotes[0];
                assert_eq!(
                    r.identity_file,
                    Some(PathBuf::from("/etc/bottle/git/o.key"))
                );
                assert_eq!(
                    r.known_host_key.as_deref(),
                    Some("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample")
                );
                let key = file(&b.git.as_ref().unwrap().files, "/etc/bottle/git/o.key");
                assert_eq!(key.contents, b"SSH KEY");
            },
        ),
        (
            "mounts and runtime",
            bottle_anchor,
            "runtime = \"runsc\"\nmounts = [{ source = \"/src\", target = \"/w\", readonly = true }]",
            |b, _| {
                assert_eq!(b.agent.runtime.as_deref(), Some("runsc"));
                assert_eq!(b.agent.workdir.as_deref(), Some("/w"));
            },
        ),
    ];
    for (key, anchor, extra, check) in cases {
        let b = if anchor.is_empty() {
            let text = format!("{BASE}\n{extra}\n");
            bundle(&plan_of(&text), &values()).unwrap_or_else(|e| panic!("{key}: {e}"))
        } else {
            variant(anchor, extra)
        };
        assert_ne!(b, base, "{key} did not change the bundle");
        check(&b, &base);
    }
}

#[test]
fn the_allowlist_reaches_the_proxy() {
    let b = base();
    assert_eq!(
        b.egress_config.allowlist,
        vec![bottle_egress::AllowEntry::Host("api.example.com".into())]
    );
    let other = bundle(
        &plan_of(&BASE.replace("api.example.com", "other.example.com")),
        &values(),
    )
    .unwrap();
    assert_eq!(
        other.egress_config.allowlist,
        vec![bottle_egress::AllowEntry::Host("other.example.com".into())]
    );
}

#[test]
fn git_tokens_are_paired_by_name_not_position() {
    let two = |first: &str, second: &str| {
        let remote = |n: &str, var: &str| {
            format!(
                "[[bottles.b.git]]\nname = \"{n}\"\nupstream = \"https://{n}.example.com/me/x\"\ntoken = \"${{{var}}}\"\n"
            )
        };
        let text = format!(
            "{BASE}\n{}{}",
            remote(first, &first.to_uppercase()),
            remote(second, &second.to_uppercase())
        );
        let b = bundle(&plan_of(&text), &values()).unwrap();
        b.git_config
            .unwrap()
            .remotes
            .into_iter()
            .map(|r| (r.name, r.token.unwrap().expose().to_string()))
            .collect::<Vec<_>>()
    };
    let expect = |order: [&str; 2]| {
        order
            .iter()
            .map(|n| {
                (
                    n.to_string(),
                    match *n {
                        "gh" => "ghp_token_of_gh".to_string(),
                        _ => "glpat_token_of_lab".to_string(),
                    },
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(two("gh", "lab"), expect(["gh", "lab"]));
    assert_eq!(two("lab", "gh"), expect(["lab", "gh"]));
}

#[test]
fn learn_mode_reaches_the_proxy() {
    let mut v = values();
    v.learn = true;
    let b = bundle(&plan_of(BASE), &v).unwrap();
    assert!(b.egress_config.learn);
    assert!(!base().egress_config.learn);
}

#[test]
fn an_overridden_command_drops_the_prompt() {
    let mut plan = plan_of(FULL);
    assert_eq!(
        plan.agent.argv().last().map(String::as_str),
        Some("Fix the test")
    );
    plan.agent.override_command(vec!["true".into()]);
    let b = bundle(&plan, &values()).unwrap();
    assert_eq!(b.agent.argv, vec!["true".to_string()]);
}

#[test]
fn what_is_not_resolved_is_an_error_naming_it() {
    let plan = plan_of(FULL);
    let mut v = values();
    v.git_tokens.remove("gh");
    let e = bundle(&plan, &v).unwrap_err();
    assert_eq!(e.to_string(), "token of git remote gh: no value");

    let mut v = values();
    v.host_files.remove("/home/me/.ssh/gate");
    let e = bundle(&plan, &v).unwrap_err();
    assert_eq!(
        e.to_string(),
        "the identity_file of git remote origin: not read"
    );

    let mut v = values();
    v.credentials
        .insert(("api.example.com".into(), "authorization".into()), s(""));
    let e = bundle(&plan, &v).unwrap_err();
    assert_eq!(
        e.to_string(),
        "credential for api.example.com: the value is empty"
    );

    let mut v = values();
    v.env.remove("TOKEN");
    let e = bundle(&plan, &v).unwrap_err();
    assert_eq!(e.to_string(), "env TOKEN: no value");
    // Twin: with every value, it builds.
    assert!(bundle(&plan, &values()).is_ok());
}

#[test]
fn host_files_lists_what_the_plan_reads() {
    let plan = plan_of(FULL);
    assert_eq!(
        host_files(&plan),
        vec![
            HostFile {
                path: "/proj/certs/corp.pem".into(),
                what: "egress.upstream_ca /proj/certs/corp.pem".into(),
            },
            HostFile {
                path: "/home/me/.ssh/gate".into(),
                what: "the identity_file of git remote origin".into(),
            },
        ]
    );
    assert!(host_files(&plan_of(BASE)).is_empty());
}

/// Only values that are secrets become the proxy's known secrets: listed
/// ones and secret-looking ones from the host; not short values, settings,
/// literals or placeholders.
#[test]
fn known_secrets_are_the_secret_env_values_only() {
    let text = BASE.replace(
        r#"env = { LEVEL = "info" }"#,
        r#"env = { LEVEL = "info", PASSWORD = "${PW}", TERM = "${TERM}", TOKEN = "${TOK}", LIT = "plain-literal-Value-123" }"#,
    ) + "[[bottles.b.credentials]]\nhost = \"api.example.com\"\nheader = \"authorization\"\nvalue = \"${KEY}\"\nagent_env = \"EXAMPLE_KEY\"\n";
    let mut v = values();
    v.env.insert("PASSWORD".into(), s("hunter2"));
    v.env.insert("TERM".into(), s("xterm-256color"));
    v.env.insert("LIT".into(), s("plain-literal-Value-123"));
    let b = bundle(&plan_of(&text), &v).unwrap();
    let names: Vec<&str> = b
        .egress_config
        .known_secrets
        .iter()
        .map(|k| k.name.as_str())
        .collect();
    assert_eq!(names, vec!["env TOKEN"]);
    // Twin: listed in secret_env, the short one is a known secret too.
    let listed = text.replace(
        "defaults = false",
        "defaults = false\nsecret_env = [\"PASSWORD\"]",
    );
    let b = bundle(&plan_of(&listed), &v).unwrap();
    let names: Vec<&str> = b
        .egress_config
        .known_secrets
        .iter()
        .map(|k| k.name.as_str())
        .collect();
    assert_eq!(names, vec!["env PASSWORD", "env TOKEN"]);
}

#[test]
fn debug_output_holds_no_value() {
    let v = values();
    let b = bundle(&plan_of(FULL), &v).unwrap();
    let shown = format!("{v:?}\n{b:?}");
    for secret in [
        "tok-9fQ2zR7kLm4XwP1vB8nC",
        "real-key-value-0123456789",
        "ghp_token_of_gh",
        "SSH KEY",
        "PRIVATE KEY",
    ] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    // Twin: the names are there.
    assert!(shown.contains("TOKEN") && shown.contains("/home/me/.ssh/gate"));
}

#[test]
fn the_manifest_cannot_set_a_variable_the_launcher_owns() {
    let reserved: Vec<&str> = reserved_env().collect();
    assert_eq!(reserved.len(), 15, "{reserved:?}");
    let entries: Vec<String> = reserved
        .iter()
        .map(|k| format!("{k} = \"from-the-manifest\""))
        .collect();
    let text = BASE.replace(
        r#"env = { LEVEL = "info" }"#,
        &format!("env = {{ LEVEL = \"info\", {} }}", entries.join(", ")),
    );
    let mut v = values();
    for k in &reserved {
        v.env.insert(k.to_string(), s("from-the-manifest"));
    }
    let b = bundle(&plan_of(&text), &v).unwrap();
    for (k, val) in &b.agent.env {
        assert_ne!(
            val.expose(),
            "from-the-manifest",
            "{k} kept the manifest's value"
        );
    }
    // Every variable the launcher sets is one the manifest cannot.
    let set: BTreeSet<&str> = b.agent.env.iter().map(|(k, _)| k.as_str()).collect();
    for k in &set {
        assert!(
            reserved.contains(k) || *k == "LEVEL",
            "{k} is set but not reserved"
        );
    }
    // Twin: an ordinary name the manifest sets is kept.
    assert!(
        b.agent
            .env
            .iter()
            .any(|(k, val)| k == "LEVEL" && val.expose() == "info")
    );
}
