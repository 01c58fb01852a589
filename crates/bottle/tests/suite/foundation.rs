//! The foundation (issue 2): plan, start --dry-run, init, schema, errors,
//! and the static binary.

use super::cli::{Scratch, bottle_bin};

const DEFAULT_AS_JSON: &str = r#"{
  "default_agent": "shell",
  "bottles": {
    "default": {},
    "codex": { "egress": { "allowlist": ["api.openai.com", "auth.openai.com", "chatgpt.com"] } }
  },
  "agents": {
    "claude": { "bottle": "default", "preset": "claude" },
    "codex": { "bottle": "codex", "preset": "codex" },
    "shell": { "bottle": "default", "preset": "shell" }
  }
}
"#;

/// Drop the lines and fields that name the source file: the only thing that
/// differs between the same manifest in different files.
fn without_source(text: &str) -> String {
    text.lines()
        .filter(|l| {
            !l.trim_start().starts_with("bottle from") && !l.trim_start().starts_with("\"source\"")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn plan_is_identical_for_default_toml_and_json() {
    let s = Scratch::new();
    let default_dir = Scratch::new();
    s.write(
        "default.toml",
        include_str!("../../../bottle-manifest/src/default.toml"),
    );
    s.write("default.json", DEFAULT_AS_JSON);
    for agent in [vec![], vec!["codex"], vec!["shell"]] {
        for json in [false, true] {
            let mut args = vec!["plan"];
            args.extend(agent.iter().copied());
            if json {
                args.push("--json");
            }
            let embedded = default_dir.stdout(&args);
            let mut with_toml = args.clone();
            with_toml.extend(["-f", "default.toml"]);
            let mut with_json = args.clone();
            with_json.extend(["-f", "default.json"]);
            let t = s.stdout(&with_toml);
            let j = s.stdout(&with_json);
            assert_eq!(without_source(&embedded), without_source(&t), "{args:?}");
            assert_eq!(without_source(&t), without_source(&j), "{args:?}");
            assert!(embedded.contains("<embedded default>"));
            assert!(t.contains("default.toml") && j.contains("default.json"));
        }
    }
}

/// The documented shape of `bottle plan --json` (docs/plan.md).
const PLAN_KEYS: [&str; 13] = [
    "instance",
    "agent",
    "bottle",
    "networks",
    "containers",
    "image",
    "egress",
    "credentials",
    "git",
    "env",
    "mounts",
    "runtime",
    "labels",
];

#[test]
fn plan_json_matches_the_documented_shape() {
    let s = Scratch::new();
    let out = s.stdout(&["plan", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let obj = v.as_object().unwrap();
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort();
    let mut want = PLAN_KEYS.to_vec();
    want.sort();
    assert_eq!(keys, want);
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/plan.md"))
        .unwrap();
    for k in PLAN_KEYS {
        assert!(
            doc.contains(&format!("`{k}`")),
            "docs/plan.md does not document `{k}`"
        );
    }
    assert_eq!(v["egress"]["allowlist"].as_array().unwrap().len(), 7);
    assert_eq!(v["containers"][1]["role"], "agent");
    assert_eq!(v["agent"]["preset"], "shell");
    assert_eq!(v["image"]["kind"], "preset");
}

#[test]
fn start_dry_run_shows_the_preflight_and_creates_nothing() {
    // An agent name of its own, so the engine can be asked about it alone.
    let agent = format!("impl-{}", &bottle_testkit::docker::random_id()[..6]);
    let s = Scratch::new();
    s.write(
        "bottle.toml",
        &format!(
            concat!(
                "[bottles.dev]\nenv = {{ RUST_LOG = \"info\" }}\n",
                "egress.allowlist = [\"api.github.com\", \"*.crates.io\"]\n",
                "[[bottles.dev.credentials]]\nhost = \"api.anthropic.com\"\nheader = \"x-api-key\"\nvalue = \"lit\"\nagent_env = \"ANTHROPIC_API_KEY\"\n",
                "[agents.{agent}]\nbottle = \"dev\"\npreset = \"claude\"\n",
            ),
            agent = agent
        ),
    );
    let engine = bottle_testkit::docker::engine();
    let out = s.stdout(&["start", &agent, "--dry-run"]);
    assert!(
        out.contains("9 hosts allowed (*.crates.io, api.anthropic.com, api.github.com, +6 more)"),
        "{out}"
    );
    assert!(
        out.contains("bottle.toml (a project file can widen its own sandbox"),
        "{out}"
    );
    assert!(
        out.contains("api.anthropic.com header \"x-api-key\""),
        "{out}"
    );
    assert!(out.contains("ANTHROPIC_API_KEY (placeholder"), "{out}");
    assert!(out.contains("RUST_LOG (literal)"), "{out}");
    assert!(out.contains(&format!("bottle-{agent}-egress")), "{out}");
    assert!(out.contains("dry run: nothing was created"), "{out}");
    assert!(!out.contains("lit\""), "a credential value leaked: {out}");
    // Nothing was written next to the manifest either.
    let entries: Vec<_> = std::fs::read_dir(s.path()).unwrap().collect();
    assert_eq!(entries.len(), 1);
    // And the engine, when there is one, holds nothing of it: no container
    // (not even the name's reservation), network or volume.
    if engine.is_some() {
        let made = bottle_testkit::docker::labelled(&format!("bottle.agent={agent}"));
        assert!(made.is_empty(), "the dry run created {made:?}");
        let named = bottle_testkit::docker::labelled("bottle.instance")
            .into_iter()
            .filter(|r| r.contains(&agent))
            .collect::<Vec<_>>();
        assert!(named.is_empty(), "the dry run created {named:?}");
    }
}

#[test]
fn init_writes_a_starter_that_plans() {
    let s = Scratch::new();
    s.run(&["init"], 0);
    let text = std::fs::read_to_string(s.path().join("bottle.toml")).unwrap();
    assert!(text.contains("# bottle.toml"));
    let out = s.stdout(&["plan"]);
    assert!(out.contains("agent \"claude\" in bottle \"dev\""), "{out}");
    let again = s.run(&["init"], 2);
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    s.run(&["init", "--force"], 0);
}

#[test]
fn schema_prints_the_checked_in_schema() {
    let s = Scratch::new();
    let out = s.stdout(&["schema"]);
    let on_disk = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/bottle.schema.json"
    ))
    .unwrap();
    assert_eq!(out, on_disk);
}

#[test]
fn manifest_errors_exit_2_and_name_the_place() {
    let s = Scratch::new();
    s.write(
        "bottle.toml",
        "[bottles.x]\n[[bottles.x.ssh]]\nHost = \"a\"\n",
    );
    let out = s.run(&["plan"], 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bottle.toml:2:13"), "{err}");
    assert!(err.contains("bottles.x.ssh"), "{err}");
    assert!(err.contains("bottles.<name>.git"), "{err}");
    // The error is printed once, not repeated through the cause chain.
    assert_eq!(err.matches("no longer supported").count(), 1, "{err}");
}

#[test]
fn unknown_agent_lists_the_defined_ones() {
    let s = Scratch::new();
    let out = s.run(&["plan", "nope"], 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no agent named \"nope\"; defined agents: claude, codex, shell"),
        "{err}"
    );
}

#[test]
fn default_allowlist_comes_from_the_host_environment() {
    let s = Scratch::new();
    let out = s
        .cmd(&["plan", "shell"])
        .env("BOTTLE_DEFAULT_ALLOWLIST", "a.example.com,b.example.com")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("2 hosts allowed (a.example.com, b.example.com)"),
        "{text}"
    );
}

#[test]
fn version() {
    let s = Scratch::new();
    let out = s.stdout(&["--version"]);
    assert_eq!(out.trim(), format!("bottle {}", env!("CARGO_PKG_VERSION")));
}

/// The binary must run in an empty root filesystem (FROM-scratch sidecars):
/// it has no ELF interpreter, i.e. it is statically linked.
#[test]
fn binary_is_statically_linked() {
    let bytes = std::fs::read(bottle_bin()).unwrap();
    assert_eq!(&bytes[..4], b"\x7fELF");
    assert_eq!(bytes[4], 2, "64-bit ELF expected");
    let phoff = u64::from_le_bytes(bytes[0x20..0x28].try_into().unwrap()) as usize;
    let phentsize = u16::from_le_bytes(bytes[0x36..0x38].try_into().unwrap()) as usize;
    let phnum = u16::from_le_bytes(bytes[0x38..0x3a].try_into().unwrap()) as usize;
    let mut types = Vec::new();
    for i in 0..phnum {
        let at = phoff + i * phentsize;
        types.push(u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()));
    }
    const PT_INTERP: u32 = 3;
    const PT_DYNAMIC: u32 = 2;
    assert!(
        !types.contains(&PT_INTERP),
        "bottle has an ELF interpreter: not static"
    );
    assert!(
        !types.contains(&PT_DYNAMIC),
        "bottle has a dynamic section: not static"
    );
}
