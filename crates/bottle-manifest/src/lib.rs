//! `bottle.toml` / `bottle.json`: load, merge and validate the manifest.
//!
//! Key design choice: both formats are parsed into one span-carrying value
//! tree ([`node::Node`]) and the typed [`Manifest`] is deserialised from that
//! tree with serde. The same types derive the JSON Schema, so the schema, the
//! TOML reader and the JSON reader cannot drift apart, and every error —
//! syntax, unknown key, wrong type, invalid hostname, dangling reference —
//! names the file, line, column and key path.
#![deny(missing_docs)]

mod de;
pub mod env;
pub mod error;
pub mod model;
pub mod node;
pub mod source;
mod validate;

pub use env::EnvValue;
pub use error::{Diagnostic, LoadError, ManifestError};
pub use model::{
    Agent, AllowEntry, AllowTable, Bottle, Credential, DlpAllow, DlpData, Egress, GitAllow,
    GitRemote, Manifest, Mount, Preset,
};
pub use node::KeyPath;
pub use source::{EMBEDDED_NAME, Format, SourceFile};
pub use validate::{parse_cidr, parse_host_address};

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Parse and check one file's manifest.
pub fn parse_file(file: &SourceFile) -> Result<Manifest, ManifestError> {
    let manifest: Manifest = de::from_node(&file.root).map_err(|e| {
        let (span, path) =
            e.at.clone()
                .unwrap_or((file.root.span.clone(), KeyPath::root()));
        let help = help_for_serde(&e.message, &path);
        let message = if is_bottle_ssh(&path) {
            "`ssh` entries are no longer supported".to_string()
        } else {
            e.message
        };
        let mut d = Diagnostic::new(&file.name, &file.text, &span, &path, message);
        if let Some(h) = help {
            d = d.with_help(h);
        }
        ManifestError {
            diagnostics: vec![d],
        }
    })?;
    let mut c = validate::Checker::new(file);
    validate::check_file(&mut c, &manifest);
    if c.out.is_empty() {
        Ok(manifest)
    } else {
        Err(ManifestError { diagnostics: c.out })
    }
}

/// `bottles.<name>.ssh`: the removed key that gets its own explanation.
fn is_bottle_ssh(path: &KeyPath) -> bool {
    matches!(path.0.as_slice(), [node::Seg::Key(b), node::Seg::Key(_), node::Seg::Key(k)] if b == "bottles" && k == "ssh")
}

fn help_for_serde(message: &str, path: &KeyPath) -> Option<String> {
    if is_bottle_ssh(path) {
        return Some(
            "declare the remote under `git` instead: [[bottles.<name>.git]] with a `name` and the full `upstream` URL (plus identity_file and known_host_key for ssh); the git gate then holds the key and scans every push".into(),
        );
    }
    if message.starts_with("unknown field") {
        Some("remove the key or fix its spelling; see `bottle schema` for every key".into())
    } else if message.starts_with("invalid type") {
        Some("see `bottle schema` for the expected shape".into())
    } else if message.starts_with("missing field") {
        Some("add the missing key".into())
    } else if message.starts_with("unknown variant") {
        Some("use one of the listed values".into())
    } else if message.contains("${") || message.contains("?question") {
        Some("a value is a literal, \"${VAR}\" from the host environment, or \"?question\" asked at start".into())
    } else {
        Some("see `bottle schema` and docs/manifest.md for the expected value".into())
    }
}

/// An entry together with the file it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Sourced<T> {
    /// The entry.
    pub value: T,
    /// Index into [`ManifestSet::sources`].
    pub source: usize,
}

/// The merged manifest: project entries win per bottle and per agent over
/// the user's config file, and each entry remembers its file.
#[derive(Debug, Clone)]
pub struct ManifestSet {
    /// Bottles by name.
    pub bottles: BTreeMap<String, Sourced<Bottle>>,
    /// Agents by name.
    pub agents: BTreeMap<String, Sourced<Agent>>,
    /// The default agent and the file that set it.
    pub default_agent: Option<Sourced<String>>,
    /// The files, lowest precedence first.
    pub sources: Vec<SourceFile>,
}

/// Where to look for manifests.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `--manifest FILE`: use this instead of looking in `project_dir`.
    pub explicit: Option<PathBuf>,
    /// The project directory (usually the current directory).
    pub project_dir: PathBuf,
    /// The user's config directory (e.g. `~/.config/bottle`), if any.
    pub user_dir: Option<PathBuf>,
}

impl ManifestSet {
    /// Merge parsed files, lowest precedence first, then check cross
    /// references.
    pub fn merge(files: Vec<(SourceFile, Manifest)>) -> Result<Self, ManifestError> {
        let mut set = ManifestSet {
            bottles: BTreeMap::new(),
            agents: BTreeMap::new(),
            default_agent: None,
            sources: Vec::new(),
        };
        for (i, (file, m)) in files.into_iter().enumerate() {
            for (k, v) in m.bottles {
                set.bottles.insert(
                    k,
                    Sourced {
                        value: v,
                        source: i,
                    },
                );
            }
            for (k, v) in m.agents {
                set.agents.insert(
                    k,
                    Sourced {
                        value: v,
                        source: i,
                    },
                );
            }
            if let Some(d) = m.default_agent {
                set.default_agent = Some(Sourced {
                    value: d,
                    source: i,
                });
            }
            set.sources.push(file);
        }
        set.check_references()?;
        Ok(set)
    }

    fn check_references(&self) -> Result<(), ManifestError> {
        let mut diags = Vec::new();
        for (name, agent) in &self.agents {
            if !self.bottles.contains_key(&agent.value.bottle) {
                let file = &self.sources[agent.source];
                let path = KeyPath::root().key("agents").key(name).key("bottle");
                diags.push(
                    file.diagnostic(
                        &path,
                        format!(
                            "agent {name:?} names bottle {:?}, which is not defined",
                            agent.value.bottle
                        ),
                    )
                    .with_help(format!(
                        "define [bottles.{}] or use one of: {}",
                        agent.value.bottle,
                        self.bottle_names()
                    )),
                );
            }
        }
        if let Some(d) = &self.default_agent
            && !self.agents.contains_key(&d.value)
        {
            let file = &self.sources[d.source];
            diags.push(
                file.diagnostic(
                    &KeyPath::root().key("default_agent"),
                    format!("default_agent {:?} is not defined", d.value),
                )
                .with_help(format!("use one of: {}", self.agent_names())),
            );
        }
        if diags.is_empty() {
            Ok(())
        } else {
            Err(ManifestError { diagnostics: diags })
        }
    }

    /// Comma-separated bottle names, for messages.
    pub fn bottle_names(&self) -> String {
        names(self.bottles.keys())
    }

    /// Comma-separated agent names, for messages.
    pub fn agent_names(&self) -> String {
        names(self.agents.keys())
    }

    /// The embedded default manifest alone.
    pub fn embedded() -> Result<Self, ManifestError> {
        let file = SourceFile::embedded()?;
        let m = parse_file(&file)?;
        Self::merge(vec![(file, m)])
    }

    /// Find, parse and merge the user's and the project's manifests; the
    /// embedded default when there are none.
    pub fn load(opts: &LoadOptions) -> Result<Self, LoadError> {
        let mut paths = Vec::new();
        if let Some(dir) = &opts.user_dir
            && let Some(p) = source::find_in(dir)?
        {
            paths.push(p);
        }
        match &opts.explicit {
            Some(p) => paths.push(p.clone()),
            None => {
                if let Some(p) = source::find_in(&opts.project_dir)? {
                    paths.push(p);
                }
            }
        }
        if paths.is_empty() {
            return Ok(Self::embedded()?);
        }
        let mut files = Vec::new();
        let mut diags = Vec::new();
        for p in paths {
            let file = SourceFile::read(&p)?;
            match parse_file(&file) {
                Ok(m) => files.push((file, m)),
                Err(e) => diags.extend(e.diagnostics),
            }
        }
        if !diags.is_empty() {
            return Err(ManifestError { diagnostics: diags }.into());
        }
        Ok(Self::merge(files)?)
    }

    /// The file an entry came from.
    pub fn source(&self, index: usize) -> &SourceFile {
        &self.sources[index]
    }
}

fn names<'a>(it: impl Iterator<Item = &'a String>) -> String {
    let v: Vec<&str> = it.map(String::as_str).collect();
    if v.is_empty() {
        "(none defined)".into()
    } else {
        v.join(", ")
    }
}

/// The manifest's JSON Schema, generated from the same types serde reads.
pub fn json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(Manifest);
    serde_json::to_value(&schema).unwrap_or(serde_json::Value::Null)
}
