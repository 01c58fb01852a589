//! gitleaks-compatible configuration: `[[rules]]` with per-rule allowlists,
//! global allowlists with `targetRules`, and `[extend]` (`useDefault`,
//! `path`, `disabledRules`), merged the way gitleaks merges them.

use crate::ConfigError;
use crate::engine::RuleSet;
use crate::rule::{
    AllowKind, Allowlist, Dialect, RegexTarget, Rule, RuleRegex, SecretSpan, compile,
};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// gitleaks follows `[extend]` at most this deep.
const MAX_EXTEND_DEPTH: usize = 2;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawConfig {
    #[serde(default)]
    extend: Option<RawExtend>,
    #[serde(default)]
    rules: Vec<RawRule>,
    #[serde(default)]
    allowlist: Option<RawAllowlist>,
    #[serde(default)]
    allowlists: Vec<RawAllowlist>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawExtend {
    #[serde(default)]
    use_default: bool,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    disabled_rules: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawRule {
    #[serde(default)]
    id: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    regex: Option<String>,
    #[serde(default)]
    secret_group: Option<usize>,
    #[serde(default)]
    entropy: Option<f64>,
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    allowlist: Option<RawAllowlist>,
    #[serde(default)]
    allowlists: Vec<RawAllowlist>,
    #[serde(default)]
    required: Option<toml::Value>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawAllowlist {
    #[serde(default)]
    condition: Option<String>,
    #[serde(default)]
    commits: Vec<String>,
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    regex_target: Option<String>,
    #[serde(default)]
    regexes: Vec<String>,
    #[serde(default)]
    stopwords: Vec<String>,
    #[serde(default)]
    target_rules: Vec<String>,
}

/// An uncompiled rule, so configs can be merged before compiling.
#[derive(Clone)]
pub(crate) struct RuleDef {
    pub id: String,
    pub description: String,
    pub regex: Option<(String, Dialect)>,
    pub secret_group: usize,
    pub entropy: f64,
    pub keywords: Vec<String>,
    pub path: Option<(String, Dialect)>,
    pub allowlists: Vec<AllowDef>,
    pub line_local: bool,
    /// A built-in rule: the code profile's placeholder checks apply.
    pub builtin: bool,
    /// A fragment rule: runs in the egress profile only.
    pub egress_only: bool,
    /// Runs on decoded DLP views only (see [`crate::Scanner::scan_view_of`]).
    pub decoded_only: bool,
}

/// An uncompiled allowlist.
#[derive(Clone)]
pub(crate) struct AllowDef {
    pub and: bool,
    pub commits: Vec<String>,
    pub paths: Vec<String>,
    pub target: RegexTarget,
    pub regexes: Vec<String>,
    pub stopwords: Vec<String>,
    pub target_rules: Vec<String>,
    pub dialect: Dialect,
    pub kind: AllowKind,
}

/// A whole configuration before compiling.
#[derive(Clone, Default)]
pub(crate) struct ConfigDef {
    pub rules: Vec<RuleDef>,
    pub allowlists: Vec<AllowDef>,
}

fn file_err(path: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::File {
        path: path.to_string(),
        message: message.into(),
    }
}

pub(crate) fn load_file(path: &Path) -> Result<RuleSet, ConfigError> {
    compile_config(load_def_file(path, 0)?)
}

pub(crate) fn load_str(
    text: &str,
    name: &str,
    base: &Path,
    depth: usize,
) -> Result<RuleSet, ConfigError> {
    compile_config(load_def(text, name, base, depth)?)
}

fn load_def_file(path: &Path, depth: usize) -> Result<ConfigDef, ConfigError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| file_err(&name, e.to_string()))?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    load_def(&text, &name, &base, depth)
}

fn allow_def(raw: RawAllowlist, name: &str, owner: &str) -> Result<AllowDef, ConfigError> {
    let and = match raw
        .condition
        .as_deref()
        .map(str::to_ascii_uppercase)
        .as_deref()
    {
        None | Some("") | Some("OR") => false,
        Some("AND") => true,
        Some(other) => {
            return Err(file_err(
                name,
                format!("{owner}: allowlist condition {other:?} is not OR or AND"),
            ));
        }
    };
    let target = match raw.regex_target.as_deref() {
        None | Some("") | Some("secret") => RegexTarget::Secret,
        Some("match") => RegexTarget::Match,
        Some("line") => RegexTarget::Line,
        Some(other) => {
            return Err(file_err(
                name,
                format!("{owner}: allowlist regexTarget {other:?} is not secret, match or line"),
            ));
        }
    };
    let def = AllowDef {
        and,
        commits: raw.commits.iter().map(|c| c.to_ascii_lowercase()).collect(),
        paths: raw.paths,
        target,
        regexes: raw.regexes,
        stopwords: raw.stopwords.iter().map(|w| w.to_lowercase()).collect(),
        target_rules: raw.target_rules,
        dialect: Dialect::Re2,
        kind: AllowKind::Config,
    };
    if def.commits.is_empty()
        && def.paths.is_empty()
        && def.regexes.is_empty()
        && def.stopwords.is_empty()
    {
        return Err(file_err(
            name,
            format!(
                "{owner}: an allowlist must contain at least one check (commits, paths, regexes or stopwords)"
            ),
        ));
    }
    Ok(def)
}

fn load_def(text: &str, name: &str, base: &Path, depth: usize) -> Result<ConfigDef, ConfigError> {
    let raw: RawConfig = toml::from_str(text).map_err(|e| file_err(name, e.to_string()))?;
    let mut cfg = ConfigDef::default();
    for r in raw.rules {
        if r.id.trim().is_empty() {
            return Err(file_err(name, "a [[rules]] entry has no id"));
        }
        if r.required.is_some() {
            return Err(file_err(
                name,
                format!(
                    "rule {:?}: composite rules ([[rules.required]]) are not supported",
                    r.id
                ),
            ));
        }
        if r.allowlist.is_some() && !r.allowlists.is_empty() {
            return Err(file_err(
                name,
                format!(
                    "rule {:?}: [rules.allowlist] is deprecated, it cannot be used alongside [[rules.allowlists]]",
                    r.id
                ),
            ));
        }
        let mut allowlists = Vec::new();
        for a in r.allowlist.into_iter().chain(r.allowlists) {
            if !a.target_rules.is_empty() {
                return Err(file_err(
                    name,
                    format!(
                        "rule {:?}: targetRules is only valid in a global allowlist",
                        r.id
                    ),
                ));
            }
            allowlists.push(allow_def(a, name, &format!("rule {:?}", r.id))?);
        }
        cfg.rules.push(RuleDef {
            description: r.description,
            regex: r.regex.filter(|s| !s.is_empty()).map(|s| (s, Dialect::Re2)),
            secret_group: r.secret_group.unwrap_or(0),
            entropy: r.entropy.unwrap_or(0.0),
            keywords: r.keywords.iter().map(|k| k.to_lowercase()).collect(),
            path: r.path.filter(|s| !s.is_empty()).map(|s| (s, Dialect::Re2)),
            allowlists,
            line_local: false,
            builtin: false,
            egress_only: false,
            decoded_only: false,
            id: r.id,
        });
    }
    if raw.allowlist.is_some() && !raw.allowlists.is_empty() {
        return Err(file_err(
            name,
            "[allowlist] is deprecated, it cannot be used alongside [[allowlists]]",
        ));
    }
    for a in raw.allowlist.into_iter().chain(raw.allowlists) {
        cfg.allowlists.push(allow_def(a, name, "global")?);
    }
    if let Some(ext) = raw.extend
        && depth < MAX_EXTEND_DEPTH
    {
        let base_cfg = match (&ext.path, ext.use_default) {
            (Some(p), true) if !p.is_empty() => {
                return Err(file_err(
                    name,
                    "[extend] cannot set both path and useDefault",
                ));
            }
            (Some(p), false) if !p.is_empty() => {
                // gitleaks resolves a relative path against the working
                // directory; the config's own directory is tried first.
                let mut target = PathBuf::from(p);
                if target.is_relative() && base.join(&target).is_file() {
                    target = base.join(target);
                }
                Some(load_def_file(&target, depth + 1)?)
            }
            (_, true) => Some(crate::builtin::builtin_def()),
            _ => None,
        };
        if let Some(b) = base_cfg {
            extend(&mut cfg, b, &ext.disabled_rules);
        }
    }
    Ok(cfg)
}

/// Merge `base` into `cfg` as gitleaks does: new rules are added (unless
/// disabled); a rule present in both inherits the unset description,
/// entropy, secretGroup, regex and path from the base, and appends its
/// keywords and allowlists; global allowlists are appended.
fn extend(cfg: &mut ConfigDef, base: ConfigDef, disabled: &[String]) {
    for b in base.rules {
        // A disabled rule takes its fragment rule with it.
        let base_id =
            b.id.strip_suffix(crate::builtin::FRAGMENT_SUFFIX)
                .or_else(|| b.id.strip_suffix(crate::builtin::VARIANT_SUFFIX));
        if disabled
            .iter()
            .any(|d| d == &b.id || (b.egress_only && Some(d.as_str()) == base_id))
        {
            continue;
        }
        match cfg.rules.iter_mut().find(|r| r.id == b.id) {
            None => cfg.rules.push(b),
            Some(cur) => {
                if cur.description.is_empty() {
                    cur.description = b.description;
                }
                if cur.entropy == 0.0 {
                    cur.entropy = b.entropy;
                }
                if cur.secret_group == 0 {
                    cur.secret_group = b.secret_group;
                }
                if cur.regex.is_none() {
                    cur.regex = b.regex;
                    cur.line_local = b.line_local;
                }
                if cur.path.is_none() {
                    cur.path = b.path;
                }
                cur.keywords.extend(b.keywords);
                cur.allowlists.extend(b.allowlists);
            }
        }
    }
    cfg.allowlists.extend(base.allowlists);
}

fn compile_allow(a: &AllowDef, owner: &str) -> Result<Allowlist, ConfigError> {
    let re = |p: &String| compile(p, a.dialect, owner);
    Ok(Allowlist {
        and: a.and,
        commits: a.commits.clone(),
        paths: a.paths.iter().map(re).collect::<Result<_, _>>()?,
        target: a.target,
        regexes: a.regexes.iter().map(re).collect::<Result<_, _>>()?,
        stopwords: a.stopwords.clone(),
        target_rules: a.target_rules.clone(),
        kind: a.kind,
    })
}

/// Compile rule definitions on all CPUs (a gitleaks config's few hundred
/// regexes take tens of milliseconds on one, paid by every `bottle scan`;
/// built-in regexes are only parsed here, see `RuleRegex::lazy`). Rules are
/// returned in order; the first failing rule's error wins.
fn compile_rules(defs: &[RuleDef]) -> Result<Vec<Rule>, ConfigError> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(defs.len().div_ceil(16))
        .max(1);
    if threads == 1 {
        return defs.iter().map(compile_rule).collect();
    }
    // Thread t takes rules t, t + threads, ... (neighbours in id order have
    // similar regexes, so striding balances the work).
    let stride = move |t: usize| {
        (t..defs.len())
            .step_by(threads)
            .map(|i| (i, compile_rule(&defs[i])))
            .collect::<Vec<_>>()
    };
    let mut done: Vec<(usize, Result<Rule, ConfigError>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (1..threads).map(|t| s.spawn(move || stride(t))).collect();
        let mut all = stride(0);
        for h in handles {
            all.extend(h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
        }
        all
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

/// Compile one rule definition.
fn compile_rule(d: &RuleDef) -> Result<Rule, ConfigError> {
    if d.regex.is_none() && d.path.is_none() {
        return Err(ConfigError::BadRegex {
            rule: d.id.clone(),
            message: "both regex and path are empty, the rule would have no effect".into(),
        });
    }
    let regex = d
        .regex
        .as_ref()
        .map(|(p, dialect)| match dialect {
            Dialect::Builtin if d.builtin => RuleRegex::lazy(p, &d.id),
            _ => RuleRegex::eager(p, *dialect, &d.id),
        })
        .transpose()?;
    let groups = regex.as_ref().map_or(0, RuleRegex::groups);
    if d.secret_group > groups {
        return Err(ConfigError::BadRegex {
            rule: d.id.clone(),
            message: format!(
                "secretGroup {} but the regex has {groups} group(s)",
                d.secret_group
            ),
        });
    }
    let path = d
        .path
        .as_ref()
        .map(|(p, dialect)| compile(p, *dialect, &d.id))
        .transpose()?;
    let mut keywords = d.keywords.clone();
    keywords.retain(|k| !k.is_empty());
    keywords.sort();
    keywords.dedup();
    // Built-in rules whose secret is group 1 by position (see
    // `SecretSpan`); gitleaks configs keep gitleaks' re-run.
    let span = match &d.regex {
        Some((p, Dialect::Builtin)) if d.builtin && d.secret_group <= 1 && groups > 0 => {
            SecretSpan::of(p)
        }
        _ => SecretSpan::Groups,
    };
    Ok(Rule {
        id: d.id.clone(),
        description: d.description.clone(),
        has_groups: groups > 0,
        span,
        regex,
        path,
        secret_group: d.secret_group,
        entropy: d.entropy,
        line_local: d.line_local && !keywords.is_empty(),
        builtin: d.builtin,
        egress_only: d.egress_only,
        decoded_only: d.decoded_only,
        keywords,
        allowlists: d
            .allowlists
            .iter()
            .map(|a| compile_allow(a, &d.id))
            .collect::<Result<_, _>>()?,
    })
}

/// Compile a merged configuration (a rule that cannot compile is an error
/// naming it).
pub(crate) fn compile_config(mut cfg: ConfigDef) -> Result<RuleSet, ConfigError> {
    cfg.rules.sort_by(|a, b| a.id.cmp(&b.id));
    let rules = compile_rules(&cfg.rules)?;
    let global = cfg
        .allowlists
        .iter()
        .map(|a| compile_allow(a, "global allowlist"))
        .collect::<Result<_, _>>()?;
    RuleSet::new(rules, global)
}
