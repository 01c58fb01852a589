//! Finding, merging and attributing manifest files.

use bottle_manifest::{EMBEDDED_NAME, LoadError, LoadOptions, ManifestSet};
use std::fs;

fn opts(project: &std::path::Path, user: Option<&std::path::Path>) -> LoadOptions {
    LoadOptions {
        explicit: None,
        project_dir: project.to_path_buf(),
        user_dir: user.map(|u| u.to_path_buf()),
    }
}

#[test]
fn embedded_default_when_no_files() {
    let dir = tempfile::tempdir().unwrap();
    let set = ManifestSet::load(&opts(dir.path(), Some(&dir.path().join("nouser")))).unwrap();
    assert_eq!(set.sources.len(), 1);
    assert_eq!(set.sources[0].name, EMBEDDED_NAME);
    assert_eq!(set.agent_names(), "claude, codex, shell");
    assert!(set.bottles.contains_key("default"));
    assert_eq!(set.default_agent.as_ref().unwrap().value, "shell");
}

#[test]
fn project_entries_win_per_bottle_and_agent() {
    let project = tempfile::tempdir().unwrap();
    let user = tempfile::tempdir().unwrap();
    fs::write(
        user.path().join("bottle.toml"),
        "[bottles.dev]\nimage = \"user-image\"\n[bottles.tools]\nimage = \"t\"\n[agents.a]\nbottle = \"dev\"\n[agents.u]\nbottle = \"tools\"\n",
    )
    .unwrap();
    fs::write(
        project.path().join("bottle.json"),
        r#"{"bottles": {"dev": {"image": "project-image"}}, "agents": {"a": {"bottle": "dev", "preset": "claude"}}}"#,
    )
    .unwrap();
    let set = ManifestSet::load(&opts(project.path(), Some(user.path()))).unwrap();
    let dev = &set.bottles["dev"];
    assert_eq!(dev.value.image.as_deref(), Some("project-image"));
    assert!(set.source(dev.source).name.ends_with("bottle.json"));
    let tools = &set.bottles["tools"];
    assert!(set.source(tools.source).name.ends_with("bottle.toml"));
    assert!(
        set.source(set.agents["u"].source)
            .name
            .ends_with("bottle.toml")
    );
    assert!(
        set.source(set.agents["a"].source)
            .name
            .ends_with("bottle.json")
    );
}

#[test]
fn agent_in_project_may_use_a_user_bottle() {
    let project = tempfile::tempdir().unwrap();
    let user = tempfile::tempdir().unwrap();
    fs::write(user.path().join("bottle.toml"), "[bottles.shared]\n").unwrap();
    fs::write(
        project.path().join("bottle.toml"),
        "[agents.x]\nbottle = \"shared\"\n",
    )
    .unwrap();
    let set = ManifestSet::load(&opts(project.path(), Some(user.path()))).unwrap();
    assert_eq!(set.agents["x"].value.bottle, "shared");
}

#[test]
fn both_formats_in_one_directory_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("bottle.toml"), "").unwrap();
    fs::write(dir.path().join("bottle.json"), "{}").unwrap();
    let e = ManifestSet::load(&opts(dir.path(), None)).unwrap_err();
    assert!(matches!(e, LoadError::Ambiguous(..)));
    assert!(e.to_string().contains("keep one"));
}

#[test]
fn explicit_file_and_unknown_extension() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.yaml");
    fs::write(&p, "").unwrap();
    let e = ManifestSet::load(&LoadOptions {
        explicit: Some(p),
        project_dir: dir.path().to_path_buf(),
        user_dir: None,
    })
    .unwrap_err();
    assert!(e.to_string().contains(".toml or .json"), "{e}");
}

#[test]
fn errors_from_both_files_are_reported_with_their_file() {
    let project = tempfile::tempdir().unwrap();
    let user = tempfile::tempdir().unwrap();
    fs::write(user.path().join("bottle.toml"), "[bottles.a]\nbogus = 1\n").unwrap();
    fs::write(
        project.path().join("bottle.toml"),
        "[bottles.b]\nimage = 2\n",
    )
    .unwrap();
    let e = ManifestSet::load(&opts(project.path(), Some(user.path()))).unwrap_err();
    let LoadError::Invalid(m) = e else {
        panic!("{e}")
    };
    assert_eq!(m.diagnostics.len(), 2);
    assert!(
        m.diagnostics[0]
            .file
            .starts_with(&user.path().display().to_string())
    );
    assert!(
        m.diagnostics[1]
            .file
            .starts_with(&project.path().display().to_string())
    );
}

#[test]
fn egress_dlp_classes_are_on_by_default_and_switched_one_by_one() {
    let project = tempfile::tempdir().unwrap();
    fs::write(
        project.path().join("bottle.toml"),
        "[bottles.on]\n[bottles.off.egress.dlp]\nssn = false\nbank_routing = false\n",
    )
    .unwrap();
    let set = ManifestSet::load(&opts(project.path(), None)).unwrap();
    let on = set.bottles["on"].value.egress.dlp;
    assert_eq!(on, bottle_manifest::DlpData::default());
    assert!(on.ssn && on.bank_routing && on.cards && on.iban);
    let off = set.bottles["off"].value.egress.dlp;
    assert_eq!(
        off,
        bottle_manifest::DlpData {
            ssn: false,
            bank_routing: false,
            ..Default::default()
        }
    );
    // A misspelt class is an error, not silently on.
    fs::write(
        project.path().join("bottle.toml"),
        "[bottles.x.egress.dlp]\nsocial_security = false\n",
    )
    .unwrap();
    assert!(ManifestSet::load(&opts(project.path(), None)).is_err());
}
