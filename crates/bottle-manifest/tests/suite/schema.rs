//! The shipped JSON Schema is generated from the manifest's types; the copy
//! in the repository must be current.

#[test]
fn checked_in_schema_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/bottle.schema.json");
    let generated = serde_json::to_string_pretty(&bottle_manifest::json_schema()).unwrap() + "\n";
    if std::env::var_os("BOTTLE_BLESS").is_some() {
        std::fs::write(path, &generated).unwrap();
    }
    let on_disk = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "docs/bottle.schema.json is out of date; regenerate it with `bottle schema > docs/bottle.schema.json` (or BOTTLE_BLESS=1 cargo test -p bottle-manifest)"
    );
}

#[test]
fn schema_describes_the_manifest() {
    let s = bottle_manifest::json_schema();
    let text = s.to_string();
    for key in [
        "bottles",
        "agents",
        "allowlist",
        "passthrough",
        "known_host_key",
        "agent_env",
        "upstream_ca",
    ] {
        assert!(text.contains(key), "schema lacks {key}");
    }
    assert!(
        !text.contains("\"ssh\""),
        "the removed ssh key must not be in the schema"
    );
    // deny_unknown_fields shows up as additionalProperties: false.
    assert!(text.contains("\"additionalProperties\":false"));
}
