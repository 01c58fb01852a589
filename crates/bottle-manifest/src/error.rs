//! Located, readable manifest errors.

use crate::node::{KeyPath, Span};
use std::fmt;

/// One problem in a manifest, pointing at a file, line, column and key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file (or `<embedded default>`).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// The key path, e.g. `bottles.dev.egress.allowlist[2]`; empty for a
    /// syntax error.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub help: Option<String>,
    /// The source line and the underline's start column and width.
    snippet: Option<(String, usize, usize)>,
}

impl Diagnostic {
    /// Build a diagnostic for `span` in `text`.
    pub fn new(file: &str, text: &str, span: &Span, path: &KeyPath, message: String) -> Self {
        let start = span.start.min(text.len());
        let line_start = text[..start].rfind('\n').map_or(0, |p| p + 1);
        let line_end = text[start..].find('\n').map_or(text.len(), |p| start + p);
        let line = text[..start].matches('\n').count() + 1;
        let column = text[line_start..start].chars().count() + 1;
        let line_text = text[line_start..line_end].to_string();
        let end = span.end.clamp(start, line_end);
        let width = text[start..end].chars().count().max(1);
        Self {
            file: file.to_string(),
            line,
            column,
            path: if path.0.is_empty() {
                String::new()
            } else {
                path.to_string()
            },
            message,
            help: None,
            snippet: Some((line_text, column, width)),
        }
    }

    /// Add advice on what to do.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            writeln!(f, "error: {}", self.message)?;
        } else {
            writeln!(f, "error: {}: {}", self.path, self.message)?;
        }
        let gutter = self.line.to_string().len();
        writeln!(
            f,
            "{:gutter$}--> {}:{}:{}",
            "", self.file, self.line, self.column
        )?;
        if let Some((text, col, width)) = &self.snippet {
            writeln!(f, "{:gutter$} |", "")?;
            writeln!(f, "{} | {}", self.line, text)?;
            writeln!(
                f,
                "{:gutter$} | {}{}",
                "",
                " ".repeat(col - 1),
                "^".repeat(*width)
            )?;
        }
        if let Some(h) = &self.help {
            writeln!(f, "{:gutter$} = help: {h}", "")?;
        }
        Ok(())
    }
}

/// Everything wrong with a manifest, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    /// The problems found (at least one).
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        if self.diagnostics.len() > 1 {
            write!(f, "\n{} problems in the manifest", self.diagnostics.len())?;
        }
        Ok(())
    }
}

impl std::error::Error for ManifestError {}

/// Errors finding or reading manifest files.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The manifest is invalid.
    #[error(transparent)]
    Invalid(#[from] ManifestError),
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Both bottle.toml and bottle.json exist in one directory.
    #[error("both {0} and {1} exist; keep one of them")]
    Ambiguous(String, String),
    /// The file's extension is neither .toml nor .json.
    #[error("{0}: a manifest must end in .toml or .json")]
    UnknownFormat(String),
}
