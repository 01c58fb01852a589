//! Environment value forms: literal, `${VAR}` from the host, `?question`.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};
use std::fmt;

/// A value that may come from the host environment or the user.
///
/// `Debug` never shows a literal (it might be a secret); only variable names
/// and questions are shown.
#[derive(Clone, PartialEq, Eq, JsonSchema)]
#[schemars(with = "String")]
pub enum EnvValue {
    /// Text with `${VAR}` references substituted from the host environment.
    Template(Vec<Part>),
    /// `?question`: asked at start, input hidden.
    Ask(String),
}

/// A piece of a template.
#[derive(Clone, PartialEq, Eq)]
pub enum Part {
    /// Literal text.
    Lit(String),
    /// `${NAME}`.
    Var(String),
}

impl fmt::Debug for EnvValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ask(q) => write!(f, "Ask({q:?})"),
            Self::Template(_) => write!(f, "Template(vars: {:?})", self.vars()),
        }
    }
}

impl EnvValue {
    /// Parse the manifest's string form. `??…` is a literal starting with
    /// `?`, and `$${` a literal `${`.
    pub fn parse(s: &str) -> Result<Self, String> {
        if let Some(rest) = s.strip_prefix("??") {
            return Ok(Self::Template(vec![Part::Lit(format!("?{rest}"))]));
        }
        if let Some(q) = s.strip_prefix('?') {
            if q.trim().is_empty() {
                return Err("a `?question` value needs the question text after '?'".into());
            }
            return Ok(Self::Ask(q.to_string()));
        }
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut rest = s;
        while let Some(pos) = rest.find('$') {
            lit.push_str(&rest[..pos]);
            let after = &rest[pos..];
            if let Some(tail) = after.strip_prefix("$${") {
                lit.push_str("${");
                rest = tail;
            } else if let Some(tail) = after.strip_prefix("${") {
                let end = tail
                    .find('}')
                    .ok_or_else(|| format!("unterminated `${{` in {s:?}; write `${{NAME}}`"))?;
                let name = &tail[..end];
                if !is_env_name(name) {
                    return Err(format!(
                        "`${{{name}}}` is not a variable name (letters, digits, '_', not starting with a digit)"
                    ));
                }
                if !lit.is_empty() {
                    parts.push(Part::Lit(std::mem::take(&mut lit)));
                }
                parts.push(Part::Var(name.to_string()));
                rest = &tail[end + 1..];
            } else {
                lit.push('$');
                rest = &after[1..];
            }
        }
        lit.push_str(rest);
        if !lit.is_empty() || parts.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Ok(Self::Template(parts))
    }

    /// Host variables this value reads.
    pub fn vars(&self) -> Vec<&str> {
        match self {
            Self::Template(parts) => parts
                .iter()
                .filter_map(|p| match p {
                    Part::Var(v) => Some(v.as_str()),
                    Part::Lit(_) => None,
                })
                .collect(),
            Self::Ask(_) => Vec::new(),
        }
    }

    /// How the value is supplied, for plans (never the value itself).
    pub fn describe(&self) -> String {
        match self {
            Self::Ask(q) => format!("asked at start: {q:?}"),
            Self::Template(_) => {
                let vars = self.vars();
                if vars.is_empty() {
                    "literal".to_string()
                } else {
                    let names: Vec<String> = vars.iter().map(|v| format!("${{{v}}}")).collect();
                    format!("from host {}", names.join(", "))
                }
            }
        }
    }

    /// Resolve with a lookup for host variables. `Ask` values are resolved
    /// by the caller (it owns the terminal).
    pub fn resolve(
        &self,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<String>, String> {
        match self {
            Self::Ask(_) => Ok(None),
            Self::Template(parts) => {
                let mut out = String::new();
                for p in parts {
                    match p {
                        Part::Lit(l) => out.push_str(l),
                        Part::Var(v) => out.push_str(&lookup(v).ok_or_else(|| {
                            format!("${{{v}}} is not set in the host environment")
                        })?),
                    }
                }
                Ok(Some(out))
            }
        }
    }
}

/// Whether `s` is a valid environment variable name.
pub fn is_env_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl<'de> Deserialize<'de> for EnvValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = EnvValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string: a literal, \"${VAR}\" or \"?question\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<EnvValue, E> {
                EnvValue::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(
            EnvValue::parse("?one-time code").unwrap(),
            EnvValue::Ask("one-time code".into())
        );
        assert_eq!(
            EnvValue::parse("a-${USER}-b").unwrap(),
            EnvValue::Template(vec![
                Part::Lit("a-".into()),
                Part::Var("USER".into()),
                Part::Lit("-b".into())
            ])
        );
        assert_eq!(
            EnvValue::parse("??x")
                .unwrap()
                .resolve(&|_| None)
                .unwrap()
                .as_deref(),
            Some("?x")
        );
        assert_eq!(
            EnvValue::parse("$${X} $5")
                .unwrap()
                .resolve(&|_| None)
                .unwrap()
                .as_deref(),
            Some("${X} $5")
        );
        assert_eq!(
            EnvValue::parse("")
                .unwrap()
                .resolve(&|_| None)
                .unwrap()
                .as_deref(),
            Some("")
        );
        assert!(EnvValue::parse("${A").is_err());
        assert!(EnvValue::parse("${1A}").is_err());
        assert!(EnvValue::parse("?").is_err());
    }

    #[test]
    fn debug_hides_literals() {
        let v = EnvValue::parse("hunter2-${X}").unwrap();
        let d = format!("{v:?}");
        assert!(!d.contains("hunter2"), "{d}");
        assert!(d.contains('X'));
    }

    #[test]
    fn resolve_reports_missing_var() {
        let v = EnvValue::parse("${NOPE}").unwrap();
        assert!(v.resolve(&|_| None).unwrap_err().contains("${NOPE}"));
        assert_eq!(
            v.resolve(&|_| Some("x".into())).unwrap().as_deref(),
            Some("x")
        );
    }
}
