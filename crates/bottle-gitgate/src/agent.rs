//! The agent side: the git config that sends every spelling of each upstream
//! URL to the gate, for fetches (`insteadOf`) and pushes (`pushInsteadOf`).
//!
//! git applies the longest matching `insteadOf` prefix, so listing
//! `…/app.git/`, `…/app.git`, `…/app/` and `…/app` maps each spelling to the
//! gate URL without leaving a stray suffix behind.

use crate::Error;
use bottle_policy::GitUrl;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// How one upstream is reached from the agent: every spelling of its URL and
/// the gate URL they are rewritten to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rewrite {
    /// The remote's name (the gate serves it at `/<name>.git`).
    pub remote: String,
    /// The upstream URL as declared.
    pub upstream: String,
    /// The URL the agent's git really talks to.
    pub gate_url: String,
    /// Every spelling of the upstream that is rewritten, longest first.
    pub spellings: Vec<String>,
}

impl Rewrite {
    /// `(spelling, gate URL)` pairs, for display in the preflight.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.spellings
            .iter()
            .map(|s| (s.as_str(), self.gate_url.as_str()))
    }
}

/// Compute the rewrites for `remotes` (`(name, upstream URL)` pairs) served by
/// the gate at `gate_base` (e.g. `http://bottle-dev-git:8080`).
///
/// Errors when a name or URL is invalid, when the base URL is not an
/// `http(s)://host[:port]` URL, or when two remotes share a spelling (the
/// agent's git could not know which one is meant).
pub fn agent_rewrites<'a, I>(remotes: I, gate_base: &str) -> Result<Vec<Rewrite>, Error>
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let base = validate_base(gate_base)?;
    let mut out = Vec::new();
    let mut owner: BTreeMap<String, String> = BTreeMap::new();
    for (name, upstream) in remotes {
        crate::config::validate_remote_name(name)
            .map_err(|m| Error::Invalid(format!("remote name {name:?}: {m}")))?;
        let url = GitUrl::parse(upstream).map_err(|e| Error::Invalid(e.to_string()))?;
        let spellings = url.spellings();
        for s in &spellings {
            if let Some(other) = owner.insert(s.clone(), name.to_string()) {
                return Err(Error::Invalid(format!(
                    "remotes {other:?} and {name:?} both match {s:?}; declare each upstream once"
                )));
            }
        }
        out.push(Rewrite {
            remote: name.to_string(),
            upstream: upstream.to_string(),
            gate_url: format!("{base}/{name}.git"),
            spellings,
        });
    }
    Ok(out)
}

/// The agent's git config text (for `~/.gitconfig` or `/etc/gitconfig`):
/// one `[url "<gate>/<name>.git"]` section per remote with an `insteadOf`
/// and a `pushInsteadOf` line for every spelling of its upstream.
pub fn agent_gitconfig<'a, I>(remotes: I, gate_base: &str) -> Result<String, Error>
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    Ok(render_gitconfig(&agent_rewrites(remotes, gate_base)?))
}

/// Render already computed rewrites as git config text.
pub fn render_gitconfig(rewrites: &[Rewrite]) -> String {
    let mut s = String::from(
        "# Written by bottle. Every git remote below is reached through the bottle's\n\
         # git gate, which holds the credentials and scans each push for secrets.\n",
    );
    for r in rewrites {
        let _ = writeln!(s, "# {} = {}", r.remote, r.upstream);
        let _ = writeln!(s, "[url {}]", quote(&r.gate_url));
        for sp in &r.spellings {
            let _ = writeln!(s, "\tinsteadOf = {}", quote(sp));
        }
        for sp in &r.spellings {
            let _ = writeln!(s, "\tpushInsteadOf = {}", quote(sp));
        }
    }
    s
}

/// A git config value or subsection name in double quotes.
fn quote(v: &str) -> String {
    let mut q = String::with_capacity(v.len() + 2);
    q.push('"');
    for c in v.chars() {
        if matches!(c, '"' | '\\') {
            q.push('\\');
        }
        q.push(c);
    }
    q.push('"');
    q
}

fn validate_base(base: &str) -> Result<String, Error> {
    let bad = |why: &str| Error::Invalid(format!("gate base URL {base:?}: {why}"));
    let rest = base
        .strip_prefix("http://")
        .or_else(|| base.strip_prefix("https://"))
        .ok_or_else(|| bad("must start with http:// or https://"))?;
    let authority = rest.trim_end_matches('/');
    if authority.is_empty() || authority.contains('/') {
        return Err(bad("must be scheme://host[:port] with no path"));
    }
    if authority
        .chars()
        .any(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']' | '_')))
    {
        return Err(bad(
            "the host part has characters that do not belong in a host name",
        ));
    }
    Ok(base.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_every_spelling_to_the_gate() {
        let r = agent_rewrites(
            [
                ("origin", "git@github.com:me/app.git"),
                ("tools", "https://example.com/me/tools"),
            ],
            "http://bottle-dev-git:8080/",
        )
        .unwrap();
        assert_eq!(r[0].gate_url, "http://bottle-dev-git:8080/origin.git");
        assert!(
            r[0].spellings
                .contains(&"ssh://git@github.com/me/app".to_string())
        );
        assert_eq!(r[1].gate_url, "http://bottle-dev-git:8080/tools.git");
        let text = render_gitconfig(&r);
        assert!(text.contains("[url \"http://bottle-dev-git:8080/origin.git\"]\n"));
        assert!(text.contains("\tinsteadOf = \"git@github.com:me/app.git\"\n"));
        assert!(text.contains("\tpushInsteadOf = \"https://example.com/me/tools.git/\"\n"));
        assert_eq!(r[0].pairs().count(), r[0].spellings.len());
    }

    #[test]
    fn rejects_duplicates_and_bad_bases() {
        let dup = agent_rewrites(
            [
                ("a", "https://h.example/x"),
                ("b", "https://h.example/x.git"),
            ],
            "http://g:1",
        );
        assert!(dup.unwrap_err().to_string().contains("both match"));
        for base in ["ftp://g", "http://g/path", "http://", "http://g h"] {
            assert!(
                agent_rewrites([("a", "https://h.example/x")], base).is_err(),
                "{base}"
            );
        }
        assert!(agent_rewrites([("../x", "https://h.example/x")], "http://g").is_err());
    }

    #[test]
    fn quoting_escapes_quotes_and_backslashes() {
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
    }
}
