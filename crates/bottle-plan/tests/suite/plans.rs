use bottle_manifest::{Format, ManifestSet, SourceFile, parse_file};
use bottle_plan::*;
use bottle_policy::Transport;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

fn set(name: &str, text: &str) -> ManifestSet {
    let format = if name.ends_with(".json") {
        Format::Json
    } else {
        Format::Toml
    };
    let file =
        SourceFile::parse(name, Some(PathBuf::from("/proj")), text.to_string(), format).unwrap();
    let m = parse_file(&file).unwrap_or_else(|e| panic!("{e}"));
    ManifestSet::merge(vec![(file, m)]).unwrap()
}

fn inputs(agent: Option<&str>) -> PlanInputs {
    PlanInputs {
        agent: agent.map(str::to_string),
        running: BTreeSet::new(),
        default_allowlist: default_allowlist(None),
        home: Some(PathBuf::from("/home/me")),
        host_env: ["ANTHROPIC_API_KEY", "GH_TOKEN", "USER"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        sidecar_tag: "t1".into(),
    }
}

fn rule(host: &str) -> AllowRulePlan {
    AllowRulePlan {
        host: host.into(),
        port: None,
        methods: vec![],
        paths: vec![],
    }
}

const FULL: &str = r#"
[bottles.dev]
env = { RUST_LOG = "info", GH_USER = "${USER}", OTP = "?one-time code" }
runtime = "runsc"
mounts = [{ source = ".", target = "/workspace" }, { source = "~/cache", target = "/cache", readonly = true }]

[bottles.dev.egress]
allowlist = ["api.github.com", "*.crates.io", "api.github.com",
             { host = "api.example.com", methods = ["get"], paths = ["/v1/*"] },
             "git.example.com:2222"]
passthrough = ["static.crates.io"]
upstream_ca = ["certs/corp.pem"]
allow_cidrs = ["10.1.2.0/24"]
hosts = { "api.github.com" = "127.0.0.1:8443" }

[[bottles.dev.credentials]]
host = "api.anthropic.com"
header = "X-Api-Key"
value = "${ANTHROPIC_API_KEY}"
agent_env = "ANTHROPIC_API_KEY"

[[bottles.dev.git]]
name = "origin"
upstream = "ssh://git@git.example.com:2222/me/app.git"
identity_file = "~/.ssh/bottle_ed25519"
known_host_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample"

[[bottles.dev.git]]
name = "gh"
upstream = "https://github.com/me/lib"
token = "${GH_TOKEN}"

[agents.implementer]
bottle = "dev"
preset = "claude"
prompt = "Fix the failing test"
"#;

#[test]
fn full_manifest_plan() {
    let s = set("/proj/bottle.toml", FULL);
    let p = plan(&s, &inputs(Some("implementer"))).unwrap();
    let mut allow: Vec<AllowRulePlan> = DEFAULT_ALLOWLIST.iter().map(|h| rule(h)).collect();
    allow.push(rule("api.github.com"));
    allow.push(AllowRulePlan {
        host: "*.crates.io".into(),
        ..rule("")
    });
    allow.push(AllowRulePlan {
        host: "api.example.com".into(),
        port: None,
        methods: vec!["GET".into()],
        paths: vec!["/v1/*".into()],
    });
    allow.push(AllowRulePlan {
        host: "git.example.com".into(),
        port: Some(2222),
        ..rule("")
    });
    allow.push(rule("static.crates.io"));
    allow.sort();
    let expected = LaunchPlan {
        instance: "implementer".into(),
        agent: AgentPlan {
            name: "implementer".into(),
            preset: Preset::Claude,
            command: vec!["claude".into(), "--dangerously-skip-permissions".into()],
            has_prompt: true,
            prompt: Some("Fix the failing test".into()),
            source: "/proj/bottle.toml".into(),
        },
        bottle: BottleRef {
            name: "dev".into(),
            source: "/proj/bottle.toml".into(),
        },
        networks: vec![
            NetworkPlan {
                name: "bottle-implementer-int".into(),
                role: NetworkRole::Internal,
                internal: true,
            },
            NetworkPlan {
                name: "bottle-implementer-out".into(),
                role: NetworkRole::Egress,
                internal: false,
            },
            NetworkPlan {
                name: "bottle-implementer-git-out".into(),
                role: NetworkRole::GitEgress,
                internal: false,
            },
        ],
        containers: vec![
            ContainerPlan {
                name: "bottle-implementer-egress".into(),
                role: Role::Egress,
                image: "bottle/egress:t1".into(),
                networks: vec![
                    "bottle-implementer-int".into(),
                    "bottle-implementer-out".into(),
                ],
            },
            ContainerPlan {
                name: "bottle-implementer-git".into(),
                role: Role::Git,
                image: "bottle/git-gate:t1".into(),
                networks: vec![
                    "bottle-implementer-int".into(),
                    "bottle-implementer-git-out".into(),
                ],
            },
            ContainerPlan {
                name: "bottle-implementer-agent".into(),
                role: Role::Agent,
                image: "bottle/agent-claude:latest".into(),
                networks: vec!["bottle-implementer-int".into()],
            },
        ],
        image: ImagePlan::Preset {
            preset: Preset::Claude,
            reference: "bottle/agent-claude:latest".into(),
        },
        egress: EgressPlan {
            proxy_url: "http://bottle-implementer-egress:3128".into(),
            no_proxy: vec![
                "localhost".into(),
                "127.0.0.1".into(),
                "::1".into(),
                "bottle-implementer-git".into(),
            ],
            defaults: true,
            allowlist: allow,
            passthrough: vec!["static.crates.io".into()],
            upstream_ca: vec!["/proj/certs/corp.pem".into()],
            allow_cidrs: vec!["10.1.2.0/24".into()],
            hosts: BTreeMap::from([("api.github.com".to_string(), "127.0.0.1:8443".to_string())]),
            dlp: DlpPlan {
                cards: true,
                iban: true,
                ssn: true,
                bank_routing: true,
                crypto_keys: true,
                crypto_addresses: true,
            },
            dlp_allow: vec![],
            dangerously_allow_public_suffix_wildcards: false,
        },
        credentials: vec![CredentialPlan {
            host: "api.anthropic.com".into(),
            header: "x-api-key".into(),
            agent_env: Some("ANTHROPIC_API_KEY".into()),
            value_from: "from host ${ANTHROPIC_API_KEY}".into(),
        }],
        git: vec![
            GitRemotePlan {
                name: "origin".into(),
                upstream: "ssh://git@git.example.com:2222/me/app.git".into(),
                transport: Transport::Ssh,
                gate_url: "http://bottle-implementer-git:8080/origin.git".into(),
                rewrites: vec![
                    "ssh://git@git.example.com:2222/me/app.git/".into(),
                    "ssh://git@git.example.com:2222/me/app.git".into(),
                    "ssh://git@git.example.com:2222/me/app/".into(),
                    "ssh://git@git.example.com:2222/me/app".into(),
                ],
                credential: GitCredential::IdentityFile {
                    path: "/home/me/.ssh/bottle_ed25519".into(),
                },
                known_host_key: Some("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample".into()),
                allow: vec![],
            },
            GitRemotePlan {
                name: "gh".into(),
                upstream: "https://github.com/me/lib".into(),
                transport: Transport::Https,
                gate_url: "http://bottle-implementer-git:8080/gh.git".into(),
                rewrites: vec![
                    "https://github.com:443/me/lib.git/".into(),
                    "https://github.com:443/me/lib.git".into(),
                    "https://github.com/me/lib.git/".into(),
                    "https://github.com:443/me/lib/".into(),
                    "https://github.com/me/lib.git".into(),
                    "https://github.com:443/me/lib".into(),
                    "https://github.com/me/lib/".into(),
                    "https://github.com/me/lib".into(),
                ],
                credential: GitCredential::Token {
                    from: "from host ${GH_TOKEN}".into(),
                },
                known_host_key: None,
                allow: vec![],
            },
        ],
        env: vec![
            EnvPlan {
                name: "ANTHROPIC_API_KEY".into(),
                from: "placeholder (credential for api.anthropic.com)".into(),
                known_secret: KnownSecret::No,
                placeholder: true,
            },
            EnvPlan {
                name: "GH_USER".into(),
                from: "from host ${USER}".into(),
                known_secret: KnownSecret::IfSecretLooking,
                placeholder: false,
            },
            EnvPlan {
                name: "OTP".into(),
                from: "asked at start: \"one-time code\"".into(),
                known_secret: KnownSecret::IfSecretLooking,
                placeholder: false,
            },
            EnvPlan {
                name: "RUST_LOG".into(),
                from: "literal".into(),
                known_secret: KnownSecret::No,
                placeholder: false,
            },
        ],
        mounts: vec![
            MountPlan {
                source: "/proj".into(),
                target: "/workspace".into(),
                readonly: false,
            },
            MountPlan {
                source: "/home/me/cache".into(),
                target: "/cache".into(),
                readonly: true,
            },
        ],
        runtime: Some("runsc".into()),
        labels: BTreeMap::from([
            ("bottle.agent".to_string(), "implementer".to_string()),
            ("bottle.bottle".to_string(), "dev".to_string()),
            ("bottle.instance".to_string(), "implementer".to_string()),
        ]),
    };
    assert_eq!(p, expected);
    let text = render_text(&p);
    assert!(
        text.contains(
            "12 hosts allowed (*.crates.io, api.anthropic.com, api.example.com, +9 more)"
        ),
        "{text}"
    );
    assert!(
        text.contains("api.anthropic.com header \"x-api-key\""),
        "{text}"
    );
    assert!(text.contains("origin ssh://git@git.example.com:2222/me/app.git -> http://bottle-implementer-git:8080/origin.git"), "{text}");
    assert!(
        text.contains("/proj/bottle.toml (a project file can widen its own sandbox"),
        "{text}"
    );
}

#[test]
fn plan_never_contains_values() {
    // Literal and host values must not leak into the plan (text or JSON).
    let s = set(
        "/proj/bottle.toml",
        "[bottles.b]\nenv = { TOKEN = \"literal-s3cr3t-value\" }\n[agents.a]\nbottle = \"b\"\n",
    );
    let p = plan(&s, &inputs(None)).unwrap();
    let json = serde_json::to_string(&p).unwrap();
    assert!(!json.contains("s3cr3t"), "{json}");
    assert!(!render_text(&p).contains("s3cr3t"));
}

#[test]
fn instance_gets_a_suffix_when_running() {
    let s = set("/proj/bottle.toml", FULL);
    let mut i = inputs(Some("implementer"));
    i.running = ["implementer".to_string(), "implementer-2".to_string()].into();
    let p = plan(&s, &i).unwrap();
    assert_eq!(p.instance, "implementer-3");
    assert_eq!(p.containers[2].name, "bottle-implementer-3-agent");
    assert_eq!(p.labels["bottle.instance"], "implementer-3");
}

#[test]
fn default_allowlist_can_be_replaced_or_dropped() {
    let s = set(
        "/proj/bottle.toml",
        "[bottles.b]\negress.allowlist = [\"x.com\"]\n[agents.a]\nbottle = \"b\"\n",
    );
    let mut i = inputs(None);
    i.default_allowlist = default_allowlist(Some("one.com, two.com"));
    let p = plan(&s, &i).unwrap();
    assert_eq!(
        p.egress.allowlist,
        vec![rule("one.com"), rule("two.com"), rule("x.com")]
    );

    let s = set(
        "/proj/bottle.toml",
        "[bottles.b]\negress = { allowlist = [\"x.com\"], defaults = false }\n[agents.a]\nbottle = \"b\"\n",
    );
    let p = plan(&s, &inputs(None)).unwrap();
    assert_eq!(p.egress.allowlist, vec![rule("x.com")]);
    assert!(!p.egress.defaults);

    let mut i = inputs(None);
    i.default_allowlist = default_allowlist(Some("bad host!"));
    let s = set(
        "/proj/bottle.toml",
        "[bottles.b]\n[agents.a]\nbottle = \"b\"\n",
    );
    let e = plan(&s, &i).unwrap_err();
    assert!(e.to_string().contains("BOTTLE_DEFAULT_ALLOWLIST"), "{e}");
}

#[test]
fn unset_host_variable_is_a_located_error() {
    let text = "[bottles.b]\nenv = { A = \"${NOT_SET_ANYWHERE}\" }\n[agents.a]\nbottle = \"b\"\n";
    let s = set("/proj/bottle.toml", text);
    let e = plan(&s, &inputs(None)).unwrap_err();
    let PlanError::Manifest(m) = e else {
        panic!("{e}")
    };
    let d = &m.diagnostics[0];
    assert_eq!(
        (d.file.as_str(), d.line, d.column),
        ("/proj/bottle.toml", 2, 13)
    );
    assert_eq!(d.path, "bottles.b.env.A");
    assert!(d.message.contains("${NOT_SET_ANYWHERE} is not set"));
    assert!(
        d.help
            .as_deref()
            .unwrap()
            .contains("export NOT_SET_ANYWHERE")
    );
}

#[test]
fn credential_host_must_be_allowlisted_and_intercepted() {
    let text = concat!(
        "[bottles.b]\negress = { defaults = false, allowlist = [\"x.com\"], passthrough = [\"p.com\"] }\n",
        "[[bottles.b.credentials]]\nhost = \"y.com\"\nheader = \"authorization\"\nvalue = \"${GH_TOKEN}\"\n",
        "[[bottles.b.credentials]]\nhost = \"p.com\"\nheader = \"authorization\"\nvalue = \"${GH_TOKEN}\"\n",
        "[agents.a]\nbottle = \"b\"\n"
    );
    let e = plan(&set("/proj/bottle.toml", text), &inputs(None)).unwrap_err();
    let PlanError::Manifest(m) = e else {
        panic!("{e}")
    };
    assert_eq!(m.diagnostics.len(), 2, "{m}");
    assert_eq!(m.diagnostics[0].path, "bottles.b.credentials[0].host");
    assert!(
        m.diagnostics[0]
            .help
            .as_deref()
            .unwrap()
            .contains("add \"y.com\" to bottles.b.egress.allowlist")
    );
    assert_eq!(m.diagnostics[1].path, "bottles.b.credentials[1].host");
    assert!(m.diagnostics[1].message.contains("passthrough"));
}

#[test]
fn agent_choice() {
    let s = set(
        "/proj/bottle.toml",
        "[bottles.b]\n[agents.x]\nbottle = \"b\"\n[agents.y]\nbottle = \"b\"\n",
    );
    let e = plan(&s, &inputs(None)).unwrap_err();
    assert!(e.to_string().contains("defined agents: x, y"), "{e}");
    let e = plan(&s, &inputs(Some("z"))).unwrap_err();
    assert!(e.to_string().contains("no agent named \"z\""), "{e}");
    let one = set(
        "/proj/bottle.toml",
        "[bottles.b]\n[agents.only]\nbottle = \"b\"\npreset = \"shell\"\ncommand = [\"sh\"]\n",
    );
    let p = plan(&one, &inputs(None)).unwrap();
    assert_eq!(
        (p.agent.name.as_str(), p.agent.command.clone()),
        ("only", vec!["sh".to_string()])
    );
}

#[test]
fn embedded_default_as_toml_and_json_plan_identically() {
    let default = ManifestSet::embedded().unwrap();
    let toml = set("/proj/bottle.toml", bottle_manifest::source::EMBEDDED_TOML);
    let json = set(
        "/proj/bottle.json",
        r#"{"default_agent": "shell",
            "bottles": {"default": {}, "codex": {"egress": {"allowlist": ["api.openai.com", "auth.openai.com", "chatgpt.com"]}}},
            "agents": {"claude": {"bottle": "default", "preset": "claude"},
                       "codex": {"bottle": "codex", "preset": "codex"},
                       "shell": {"bottle": "default", "preset": "shell"}}}"#,
    );
    for agent in [None, Some("codex"), Some("shell")] {
        let strip = |mut p: LaunchPlan| {
            p.bottle.source = String::new();
            p.agent.source = String::new();
            p
        };
        let a = strip(plan(&default, &inputs(agent)).unwrap());
        let b = strip(plan(&toml, &inputs(agent)).unwrap());
        let c = strip(plan(&json, &inputs(agent)).unwrap());
        assert_eq!(a, b);
        assert_eq!(b, c);
    }
}

#[test]
fn resolve_paths() {
    let home = Some(std::path::Path::new("/home/me"));
    let base = Some(std::path::Path::new("/proj"));
    assert_eq!(resolve_path("~/.ssh/k", base, home), "/home/me/.ssh/k");
    assert_eq!(resolve_path("./a/b", base, home), "/proj/a/b");
    assert_eq!(resolve_path("/abs", base, home), "/abs");
    assert_eq!(resolve_path(".", base, home), "/proj");
}

/// Issue 13: the preflight shows each git remote's operator allow entries
/// (path globs, fingerprints, reasons); a remote without any shows none.
#[test]
fn git_remote_allow_entries_show_in_the_preflight() {
    let fp = "1d2f2560adf2485d5bcffec49ccee81063c37e04c7eab4a1a544bebb9946eb89";
    let text = format!(
        r#"
[[bottles.b.git]]
name = "origin"
upstream = "https://github.com/me/app.git"
allow = [
  {{ path = "vendor/ring/tests/**", reason = "crypto test vectors" }},
  {{ fingerprint = "{fp}" }},
  {{ path = "docs/*.md", fingerprint = "{fp}", reason = "example key\u001b[2J" }},
]

[[bottles.b.git]]
name = "tools"
upstream = "https://github.com/me/tools.git"

[agents.a]
bottle = "b"
"#
    );
    let s = set("/proj/bottle.toml", &text);
    let p = plan(&s, &inputs(None)).unwrap();
    assert_eq!(
        p.git[0]
            .allow
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>(),
        vec![
            "path vendor/ring/tests/** (reason: \"crypto test vectors\")".to_string(),
            format!("fingerprint {fp}"),
            format!("path docs/*.md and fingerprint {fp} (reason: \"example key\\u{{1b}}[2J\")"),
        ]
    );
    assert!(p.git[1].allow.is_empty());
    let out = render_text(&p);
    for line in [
        "origin push scan allows path vendor/ring/tests/** (reason: \"crypto test vectors\")"
            .to_string(),
        format!("origin push scan allows fingerprint {fp}\n"),
        format!("origin push scan allows path docs/*.md and fingerprint {fp} (reason: "),
    ] {
        assert!(out.contains(&line), "{line}\n---\n{out}");
    }
    // The escape sequence from the file is shown, not sent to the terminal.
    assert!(!out.contains('\u{1b}'), "{out:?}");
    // Benign twin: the remote without allow entries lists none.
    assert!(
        out.contains("tools https://github.com/me/tools.git -> "),
        "{out}"
    );
    assert!(!out.contains("tools push scan allows"), "{out}");
    assert_eq!(out.matches("push scan allows").count(), 3, "{out}");
}

#[test]
fn dlp_classes_reach_the_plan_and_the_preflight_names_those_off() {
    let s = set(
        "/proj/bottle.toml",
        "[bottles.b.egress.dlp]\nssn = false\nbank_routing = false\n[agents.a]\nbottle = \"b\"\n",
    );
    let p = plan(&s, &inputs(None)).unwrap();
    assert_eq!(
        p.egress.dlp,
        DlpPlan {
            cards: true,
            iban: true,
            ssn: false,
            bank_routing: false,
            crypto_keys: true,
            crypto_addresses: true,
        }
    );
    let text = render_text(&p);
    assert!(
        text.contains("DLP does not look for: Social Security numbers, bank routing numbers"),
        "{text}"
    );
    // Benign twin: all on by default, nothing named.
    let s = set(
        "/proj/bottle.toml",
        "[bottles.b]\n[agents.a]\nbottle = \"b\"\n",
    );
    let p = plan(&s, &inputs(None)).unwrap();
    assert!(p.egress.dlp.ssn && p.egress.dlp.bank_routing);
    assert!(!render_text(&p).contains("DLP does not look for"));
}
