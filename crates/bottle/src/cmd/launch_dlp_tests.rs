//! The manifest's DLP keys reach the egress proxy's config: `egress.dlp`
//! switches, `egress.dlp_allow`, the bottle's own secret env values
//! (`secret_env`, or from `${VAR}` / `?question` and secret-looking), and
//! each credential's placeholder (what a reflected value becomes).

use super::*;
use bottle_manifest::{Format, SourceFile, parse_file};
use std::collections::BTreeSet;
use std::path::PathBuf;

const MANIFEST: &str = r#"
[bottles.b]
env = { PASSWORD = "${PW}", TOKEN = "${TOK}", TERM = "${TERM}", LIT = "plain-literal-Value-123", PIN = "${PIN}" }
[bottles.b.egress]
allowlist = ["api.example.com"]
secret_env = ["PIN"]
dlp_allow = [{ host = "api.example.com", fingerprint = "AB12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12" }]
[bottles.b.egress.dlp]
cards = false
crypto_addresses = false
[[bottles.b.credentials]]
host = "api.example.com"
header = "authorization"
value = "${KEY}"
agent_env = "EXAMPLE_KEY"
[agents.a]
bottle = "b"
preset = "shell"
"#;

fn egress_config(manifest: &str, values: &Values) -> bottle_egress::Config {
    let file = SourceFile::parse(
        "bottle.toml",
        Some(PathBuf::from("/proj")),
        manifest.to_string(),
        Format::Toml,
    )
    .unwrap();
    let m = parse_file(&file).unwrap_or_else(|e| panic!("{e}"));
    let set = ManifestSet::merge(vec![(file, m)]).unwrap();
    let inputs = bottle_plan::PlanInputs {
        agent: None,
        running: BTreeSet::new(),
        default_allowlist: Vec::new(),
        home: None,
        host_env: ["PW", "TOK", "TERM", "KEY", "PIN"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        sidecar_tag: "t".into(),
    };
    let plan = bottle_plan::plan(&set, &inputs).unwrap_or_else(|e| panic!("{e}"));
    let ca = bottle_egress::ca::generate("b").unwrap();
    let files = egress_files(&plan, values, &ca).unwrap();
    let f = files
        .iter()
        .find(|f| f.path == paths::EGRESS_CONFIG)
        .unwrap();
    bottle_egress::Config::from_toml(std::str::from_utf8(&f.contents).unwrap()).unwrap()
}

#[test]
fn manifest_dlp_keys_reach_the_proxy_config() {
    let values = Values {
        env: vec![
            ("PASSWORD".into(), "hunter2".into()),
            ("TOKEN".into(), "tok-9fQ2zR7kLm4XwP1vB8nC".into()),
            ("TERM".into(), "xterm-256color".into()),
            ("LIT".into(), "plain-literal-Value-123".into()),
            ("PIN".into(), "1234".into()),
            ("EXAMPLE_KEY".into(), placeholder("EXAMPLE_KEY")),
        ],
        credentials: vec![(
            "api.example.com".into(),
            "authorization".into(),
            "Bearer real-key-value-0123456789".into(),
        )],
        git_tokens: BTreeMap::new(),
        learn: false,
    };
    let cfg = egress_config(MANIFEST, &values);
    assert_eq!(
        cfg.dlp,
        bottle_egress::DlpData {
            cards: false,
            iban: true,
            crypto_keys: true,
            crypto_addresses: false,
        }
    );
    assert_eq!(cfg.dlp_allow.len(), 1);
    assert_eq!(cfg.dlp_allow[0].host, "api.example.com");
    assert_eq!(cfg.dlp_allow[0].fingerprint, "ab12".repeat(16));
    // Secret-looking values from the host and listed ones; not short
    // ones, settings, literals or the credential's placeholder.
    let names: Vec<&str> = cfg.known_secrets.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, vec!["env TOKEN", "env PIN"], "{names:?}");
    assert_eq!(
        cfg.credentials[0].placeholder.as_deref(),
        Some("bottle-placeholder-example-key")
    );
    // Defaults: everything on, nothing accepted.
    let plain = MANIFEST
        .replace("cards = false\ncrypto_addresses = false\n", "")
        .replace("secret_env = [\"PIN\"]\n", "");
    let cfg = egress_config(&plain, &values);
    assert_eq!(cfg.dlp, bottle_egress::DlpData::default());
    let names: Vec<&str> = cfg.known_secrets.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, vec!["env TOKEN"]);
}
