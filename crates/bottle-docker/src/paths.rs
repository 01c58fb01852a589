//! Where bottle keeps files on the host: a cache (the binary's hash) and a
//! state directory (the audit logs of bottles that have stopped).
//!
//! Logs are kept per launch and never overwritten:
//!
//! ```text
//! <state>/logs/<instance>/<launch id>/launch.json   LaunchRecord (JSON)
//!                                     egress.jsonl  the proxy's audit lines
//!                                     egress.log    its stderr
//!                                     git.jsonl     the gate's audit lines
//!                                     git.log       its stderr
//! ```
//!
//! `<launch id>` is the launch's `bottle.launch` label (32 hex digits). The
//! latest launch of an instance is the one whose record has the greatest
//! `started` (see [`launches`]).

use std::path::{Path, PathBuf};

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

fn env_dir(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
}

/// `$BOTTLE_STATE_DIR`, else `$XDG_STATE_HOME/bottle`, else
/// `~/.local/state/bottle`.
pub fn state_dir() -> Option<PathBuf> {
    env_dir("BOTTLE_STATE_DIR")
        .or_else(|| env_dir("XDG_STATE_HOME").map(|d| d.join("bottle")))
        .or_else(|| home().map(|h| h.join(".local/state/bottle")))
}

/// `$XDG_CACHE_HOME/bottle`, else `~/.cache/bottle`.
pub fn cache_dir() -> Option<PathBuf> {
    env_dir("XDG_CACHE_HOME")
        .map(|d| d.join("bottle"))
        .or_else(|| home().map(|h| h.join(".cache/bottle")))
}

/// The logs directory: `<state>/logs`.
pub fn logs_root() -> Option<PathBuf> {
    state_dir().map(|d| d.join("logs"))
}

/// Where the logs of every launch of an instance are kept:
/// `<logs root>/<instance>/`.
pub fn instance_log_dir(root: &Path, instance: &str) -> PathBuf {
    root.join(instance)
}

/// Where one launch's logs are kept: `<logs root>/<instance>/<launch id>/`.
pub fn launch_log_dir(root: &Path, instance: &str, launch: &str) -> PathBuf {
    instance_log_dir(root, instance).join(launch)
}

/// `launch.json` in a launch's log directory: what the launch was.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LaunchRecord {
    /// The launch id (the directory's name, the `bottle.launch` label).
    pub launch: String,
    /// The instance name.
    pub instance: String,
    /// The agent.
    pub agent: String,
    /// The bottle.
    pub bottle: String,
    /// Unix time the launch began.
    pub started: u64,
    /// Unix time its logs were saved (teardown).
    pub ended: u64,
    /// The sidecars whose logs are here (`egress`, `git`).
    pub sidecars: Vec<String>,
}

/// The record's file name.
pub const LAUNCH_RECORD: &str = "launch.json";

impl LaunchRecord {
    /// Write `launch.json` into `dir`.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(dir.join(LAUNCH_RECORD), text + "\n")
    }

    /// Read `launch.json` from `dir`.
    pub fn read(dir: &Path) -> std::io::Result<Self> {
        let text = std::fs::read_to_string(dir.join(LAUNCH_RECORD))?;
        serde_json::from_str(&text).map_err(std::io::Error::other)
    }
}

/// The saved launches of `instance` under `root`, oldest first (by
/// `started`, then id). Directories without a readable record are skipped.
pub fn launches(root: &Path, instance: &str) -> Vec<(PathBuf, LaunchRecord)> {
    let Ok(entries) = std::fs::read_dir(instance_log_dir(root, instance)) else {
        return Vec::new();
    };
    let mut out: Vec<(PathBuf, LaunchRecord)> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .filter_map(|p| LaunchRecord::read(&p).ok().map(|r| (p, r)))
        .collect();
    out.sort_by(|a, b| (a.1.started, &a.1.launch).cmp(&(b.1.started, &b.1.launch)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(launch: &str, started: u64) -> LaunchRecord {
        LaunchRecord {
            launch: launch.into(),
            instance: "a".into(),
            agent: "a".into(),
            bottle: "b".into(),
            started,
            ended: started + 1,
            sidecars: vec!["egress".into()],
        }
    }

    #[test]
    fn launches_of_an_instance_sort_by_start_and_keep_each_other() {
        let root = tempfile::tempdir().unwrap();
        for (id, t) in [("ffff", 10), ("0000", 30), ("aaaa", 20)] {
            record(id, t)
                .write(&launch_log_dir(root.path(), "a", id))
                .unwrap();
        }
        // Not a launch: no record.
        std::fs::create_dir_all(launch_log_dir(root.path(), "a", "junk")).unwrap();
        let got: Vec<String> = launches(root.path(), "a")
            .into_iter()
            .map(|(p, r)| {
                assert_eq!(p, launch_log_dir(root.path(), "a", &r.launch));
                r.launch
            })
            .collect();
        assert_eq!(got, ["ffff", "aaaa", "0000"]);
        assert!(launches(root.path(), "other").is_empty());
        assert_eq!(
            LaunchRecord::read(&launch_log_dir(root.path(), "a", "aaaa")).unwrap(),
            record("aaaa", 20)
        );
    }
}
