//! Each error the manifest can have: the message names file, line, column
//! and key path, and says what to do.

use bottle_manifest::{Diagnostic, Format, ManifestError, ManifestSet, SourceFile, parse_file};

fn toml_err(text: &str) -> ManifestError {
    match SourceFile::parse("bottle.toml", None, text.to_string(), Format::Toml) {
        Err(e) => e,
        Ok(f) => parse_file(&f).expect_err("manifest should be rejected"),
    }
}

fn json_err(text: &str) -> ManifestError {
    match SourceFile::parse("bottle.json", None, text.to_string(), Format::Json) {
        Err(e) => e,
        Ok(f) => parse_file(&f).expect_err("manifest should be rejected"),
    }
}

/// `file:line:column` of the first occurrence of `needle` in `text`.
fn at(file: &str, text: &str, needle: &str) -> String {
    let off = text.find(needle).expect("needle in text");
    let line = text[..off].matches('\n').count() + 1;
    let col = off - text[..off].rfind('\n').map_or(0, |p| p + 1) + 1;
    format!("{file}:{line}:{col}")
}

/// Assert one diagnostic's location, path, message and help, and that its
/// rendered form shows all of them.
#[track_caller]
fn check(d: &Diagnostic, file_line_col: &str, path: &str, message: &str, help: &str) {
    let rendered = d.to_string();
    let loc = format!("{}:{}:{}", d.file, d.line, d.column);
    assert_eq!(loc, file_line_col, "location\n{rendered}");
    assert_eq!(d.path, path, "key path\n{rendered}");
    assert!(
        d.message.contains(message),
        "message should contain {message:?}\n{rendered}"
    );
    let h = d.help.as_deref().unwrap_or("");
    assert!(h.contains(help), "help should contain {help:?}\n{rendered}");
    assert!(
        rendered.contains(&loc) && rendered.contains(path) && rendered.contains("help:"),
        "{rendered}"
    );
}

#[test]
fn unknown_key() {
    let e = toml_err("[bottles.dev]\nimage = \"x\"\nimagee = \"y\"\n");
    check(
        &e.diagnostics[0],
        "bottle.toml:3:1",
        "bottles.dev.imagee",
        "unknown field `imagee`",
        "fix its spelling",
    );
    assert!(e.diagnostics[0].message.contains("expected one of `image`"));
}

#[test]
fn unknown_key_in_json() {
    let e = json_err(r#"{"agents": {"a": {"bottle": "x", "promt": "hi"}}}"#);
    check(
        &e.diagnostics[0],
        "bottle.json:1:34",
        "agents.a.promt",
        "unknown field `promt`",
        "fix its spelling",
    );
}

#[test]
fn wrong_type() {
    let e = toml_err("[bottles.dev.egress]\ndefaults = \"yes\"\n");
    check(
        &e.diagnostics[0],
        "bottle.toml:2:12",
        "bottles.dev.egress.defaults",
        "expected a boolean",
        "bottle schema",
    );
    let text = "{\n  \"bottles\": {\"dev\": {\"git\": {\"name\": \"o\"}}}\n}";
    let e = json_err(text);
    check(
        &e.diagnostics[0],
        &at("bottle.json", text, "{\"name\""),
        "bottles.dev.git",
        "expected a sequence",
        "bottle schema",
    );
}

#[test]
fn wrong_enum_value() {
    let e = toml_err("[bottles.b]\n[agents.a]\nbottle = \"b\"\npreset = \"cursor\"\n");
    check(
        &e.diagnostics[0],
        "bottle.toml:4:10",
        "agents.a.preset",
        "unknown variant `cursor`",
        "listed values",
    );
}

#[test]
fn missing_required_key() {
    let e = toml_err("[[bottles.dev.credentials]]\nhost = \"api.x.com\"\nvalue = \"${K}\"\n");
    check(
        &e.diagnostics[0],
        "bottle.toml:1:1",
        "bottles.dev.credentials[0]",
        "missing field `header`",
        "add the missing key",
    );
}

#[test]
fn wildcards_over_public_suffixes_need_the_escape_hatch() {
    let text = concat!(
        "[bottles.dev.egress]\n",
        "allowlist = [\"*.crates.io\", \"*.github.io\", { host = \"*.co.uk:8443\" }]\n",
        "passthrough = [\"*.workers.dev\"]\n",
    );
    let e = toml_err(text);
    let d = &e.diagnostics;
    assert_eq!(d.len(), 3, "{e}");
    let f = "bottle.toml";
    check(
        &d[0],
        &at(f, text, "\"*.github.io\""),
        "bottles.dev.egress.allowlist[1]",
        "'*.github.io' matches anyone's site: github.io is a public suffix",
        "dangerously_allow_public_suffix_wildcards = true",
    );
    check(
        &d[1],
        &at(f, text, "\"*.co.uk:8443\""),
        "bottles.dev.egress.allowlist[2].host",
        "co.uk is a public suffix",
        "list the sites you need",
    );
    check(
        &d[2],
        &at(f, text, "\"*.workers.dev\""),
        "bottles.dev.egress.passthrough[0]",
        "workers.dev is a public suffix",
        "dangerously_allow_public_suffix_wildcards",
    );
    // The escape hatch, loudly named, accepts them.
    let ok = format!("{text}dangerously_allow_public_suffix_wildcards = true\n");
    let f = SourceFile::parse("bottle.toml", None, ok, Format::Toml).unwrap();
    parse_file(&f).unwrap();
}

#[test]
fn invalid_hostnames() {
    let text = concat!(
        "[bottles.dev.egress]\n",
        "allowlist = [\"api.github.com\", \"api.github.com/x\", { host = \"*.co m\" }, \"a.*.b\", \"h.com:99999\"]\n",
        "passthrough = [\"under_score.com\"]\n",
    );
    let e = toml_err(text);
    let d = &e.diagnostics;
    assert_eq!(d.len(), 5, "{e}");
    let f = "bottle.toml";
    check(
        &d[0],
        &at(f, text, "\"api.github.com/x\""),
        "bottles.dev.egress.allowlist[1]",
        "invalid hostname \"api.github.com/x\"",
        "api.example.com",
    );
    assert!(d[0].message.contains("'/'"), "{}", d[0]);
    check(
        &d[1],
        &at(f, text, "\"*.co m\""),
        "bottles.dev.egress.allowlist[2].host",
        "invalid hostname \"*.co m\"",
        "*.example.com",
    );
    check(
        &d[2],
        &at(f, text, "\"a.*.b\""),
        "bottles.dev.egress.allowlist[3]",
        "wildcard is only allowed as a leading",
        ":port",
    );
    check(
        &d[3],
        &at(f, text, "\"h.com:99999\""),
        "bottles.dev.egress.allowlist[4]",
        "port \"99999\"",
        ":port",
    );
    check(
        &d[4],
        &at(f, text, "\"under_score.com\""),
        "bottles.dev.egress.passthrough[0]",
        "'_'",
        "hostname",
    );
}

#[test]
fn credential_host_must_be_a_plain_host() {
    let e = toml_err(
        "[[bottles.dev.credentials]]\nhost = \"*.x.com\"\nheader = \"x-api-key\"\nvalue = \"${K}\"\n",
    );
    check(
        &e.diagnostics[0],
        "bottle.toml:2:8",
        "bottles.dev.credentials[0].host",
        "exactly one host",
        "name the one host",
    );
}

#[test]
fn duplicate_git_remote_names() {
    let e = toml_err(concat!(
        "[[bottles.dev.git]]\nname = \"origin\"\nupstream = \"https://github.com/me/a\"\n\n",
        "[[bottles.dev.git]]\nname = \"origin\"\nupstream = \"https://github.com/me/b\"\n",
    ));
    check(
        &e.diagnostics[0],
        "bottle.toml:6:8",
        "bottles.dev.git[1].name",
        "duplicate git remote name \"origin\"",
        "own name",
    );
}

#[test]
fn ssh_upstream_needs_known_host_key() {
    let e = toml_err(concat!(
        "[[bottles.dev.git]]\nname = \"origin\"\n",
        "upstream = \"git@github.com:me/app.git\"\nidentity_file = \"~/.ssh/id\"\n",
    ));
    check(
        &e.diagnostics[0],
        "bottle.toml:3:1",
        "bottles.dev.git[0].upstream",
        "has no known_host_key",
        "known_host_key = \"ssh-ed25519",
    );
}

#[test]
fn bad_git_upstream_url() {
    let e = toml_err("[[bottles.dev.git]]\nname = \"o\"\nupstream = \"ftp://x.com/a\"\n");
    check(
        &e.diagnostics[0],
        "bottle.toml:3:12",
        "bottles.dev.git[0].upstream",
        "unsupported scheme",
        "ssh://user@host",
    );
}

#[test]
fn agent_names_missing_bottle() {
    let file = SourceFile::parse(
        "bottle.toml",
        None,
        "[bottles.dev]\n\n[agents.impl]\nbottle = \"devv\"\n".to_string(),
        Format::Toml,
    )
    .unwrap();
    let m = parse_file(&file).unwrap();
    let e = ManifestSet::merge(vec![(file, m)]).unwrap_err();
    check(
        &e.diagnostics[0],
        "bottle.toml:4:10",
        "agents.impl.bottle",
        "names bottle \"devv\", which is not defined",
        "define [bottles.devv]",
    );
    assert!(e.diagnostics[0].help.as_deref().unwrap().contains("dev"));
}

#[test]
fn bottles_ssh_points_at_git() {
    let e = toml_err(
        "[bottles.x]\nimage = \"i\"\n\n[[bottles.x.ssh]]\nHost = \"gitea\"\nHostname = \"g.example.com\"\n",
    );
    let d = &e.diagnostics[0];
    check(
        d,
        "bottle.toml:4:13",
        "bottles.x.ssh",
        "`ssh` entries are no longer supported",
        "bottles.<name>.git",
    );
    assert!(d.help.as_deref().unwrap().contains("upstream"));
    let e = json_err(r#"{"bottles": {"x": {"ssh": []}}}"#);
    check(
        &e.diagnostics[0],
        "bottle.json:1:20",
        "bottles.x.ssh",
        "no longer supported",
        "git",
    );
}

#[test]
fn syntax_errors_are_located() {
    let e = toml_err("[bottles.dev]\nimage = \"unterminated\n");
    let d = &e.diagnostics[0];
    assert_eq!((d.line, d.path.as_str()), (2, ""), "{d}");
    assert!(d.help.as_deref().unwrap().contains("TOML"));
    let e = json_err("{\"bottles\": {\n  \"dev\": {,}\n}}");
    let d = &e.diagnostics[0];
    assert_eq!(format!("{}:{}", d.line, d.column), "2:11", "{d}");
    assert!(d.help.as_deref().unwrap().contains("JSON"));
}

#[test]
fn env_values_are_checked() {
    let text = "[bottles.dev]\nenv = { \"BAD-NAME\" = \"x\", OK = \"${unterminated\" }\n";
    let e = toml_err(text);
    let d = &e.diagnostics[0];
    check(
        d,
        &at("bottle.toml", text, "\"${unterminated"),
        "bottles.dev.env.OK",
        "unterminated `${`",
        "",
    );
    let text = "[bottles.dev]\nenv = { \"BAD-NAME\" = \"x\" }\n";
    let e = toml_err(text);
    check(
        &e.diagnostics[0],
        &at("bottle.toml", text, "\"BAD-NAME\""),
        "bottles.dev.env.BAD-NAME",
        "not an environment variable name",
        "letters, digits",
    );
}

#[test]
fn many_problems_are_all_reported() {
    let e = toml_err(concat!(
        "[bottles.dev]\nimage = \"a\"\ndockerfile = \"b\"\nmounts = [{ source = \".\", target = \"rel\" }]\n",
        "[[bottles.dev.credentials]]\nhost = \"api.x.com\"\nheader = \"bad header\"\nvalue = \"v\"\n",
    ));
    let paths: Vec<&str> = e.diagnostics.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "bottles.dev.dockerfile",
            "bottles.dev.credentials[0].header",
            "bottles.dev.mounts[0].target"
        ],
        "{e}"
    );
    assert!(e.to_string().ends_with("3 problems in the manifest"));
}

#[test]
fn hosts_map_and_cidrs_are_checked() {
    let text = concat!(
        "[bottles.dev.egress]\n",
        "allow_cidrs = [\"10.0.0.0/33\"]\n",
        "hosts = { \"*.x.com\" = \"1.2.3.4\", \"api.x.com\" = \"localhost:80\", \"ok.x.com\" = \"[fd00::1]:443\" }\n",
    );
    let e = toml_err(text);
    let d = &e.diagnostics;
    assert_eq!(d.len(), 3, "{e}");
    check(
        &d[0],
        &at("bottle.toml", text, "\"10.0.0.0/33\""),
        "bottles.dev.egress.allow_cidrs[0]",
        "prefix length",
        "10.1.2.0/24",
    );
    check(
        &d[1],
        &at("bottle.toml", text, "\"*.x.com\""),
        "bottles.dev.egress.hosts[\"*.x.com\"]",
        "not wildcards",
        "each name",
    );
    check(
        &d[2],
        &at("bottle.toml", text, "\"localhost:80\""),
        "bottles.dev.egress.hosts[\"api.x.com\"]",
        "not an address",
        "127.0.0.1:8443",
    );
}
