//! Manifest files: their text, their parsed tree, and how to find them.

use crate::error::{Diagnostic, LoadError, ManifestError};
use crate::node::{self, KeyPath, Node};
use std::path::{Path, PathBuf};

/// The name used for the embedded default manifest in messages and plans.
pub const EMBEDDED_NAME: &str = "<embedded default>";

/// The embedded default manifest's TOML text.
pub const EMBEDDED_TOML: &str = include_str!("default.toml");

/// The two manifest formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// TOML.
    Toml,
    /// JSON.
    Json,
}

impl Format {
    /// From a file name's extension.
    pub fn from_path(path: &Path) -> Option<Self> {
        match path.extension()?.to_str()? {
            "toml" => Some(Self::Toml),
            "json" => Some(Self::Json),
            _ => None,
        }
    }
}

/// One loaded manifest file.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// How messages and plans name it (the path, or [`EMBEDDED_NAME`]).
    pub name: String,
    /// The directory relative paths in it are resolved against; `None` for
    /// the embedded default.
    pub dir: Option<PathBuf>,
    /// Its text.
    pub text: String,
    /// Its parsed tree.
    pub root: Node,
}

impl SourceFile {
    /// Parse `text` in `format`; a syntax error becomes a located diagnostic.
    pub fn parse(
        name: &str,
        dir: Option<PathBuf>,
        text: String,
        format: Format,
    ) -> Result<Self, ManifestError> {
        let parsed = match format {
            Format::Toml => node::parse_toml(&text),
            Format::Json => node::parse_json(&text),
        };
        match parsed {
            Ok(root) => Ok(Self {
                name: name.to_string(),
                dir,
                text,
                root,
            }),
            Err(e) => Err(ManifestError {
                diagnostics: vec![
                    Diagnostic::new(name, &text, &e.span, &KeyPath::root(), e.message).with_help(
                        match format {
                            Format::Toml => "fix the TOML syntax",
                            Format::Json => "fix the JSON syntax",
                        },
                    ),
                ],
            }),
        }
    }

    /// Read and parse a file.
    pub fn read(path: &Path) -> Result<Self, LoadError> {
        let format = Format::from_path(path)
            .ok_or_else(|| LoadError::UnknownFormat(path.display().to_string()))?;
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let dir = path.parent().map(|d| {
            if d.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                d.to_path_buf()
            }
        });
        Ok(Self::parse(&path.display().to_string(), dir, text, format)?)
    }

    /// The embedded default.
    pub fn embedded() -> Result<Self, ManifestError> {
        Self::parse(EMBEDDED_NAME, None, EMBEDDED_TOML.to_string(), Format::Toml)
    }

    /// A diagnostic about `path` in this file.
    pub fn diagnostic(&self, path: &KeyPath, message: String) -> Diagnostic {
        Diagnostic::new(
            &self.name,
            &self.text,
            &self.root.span_of(path),
            path,
            message,
        )
    }
}

/// Find `bottle.toml` or `bottle.json` in `dir`.
pub fn find_in(dir: &Path) -> Result<Option<PathBuf>, LoadError> {
    let toml = dir.join("bottle.toml");
    let json = dir.join("bottle.json");
    match (toml.is_file(), json.is_file()) {
        (true, true) => Err(LoadError::Ambiguous(
            toml.display().to_string(),
            json.display().to_string(),
        )),
        (true, false) => Ok(Some(toml)),
        (false, true) => Ok(Some(json)),
        (false, false) => Ok(None),
    }
}
