//! Where bottle keeps files on the host: a cache (the binary's hash) and a
//! state directory (the audit logs of bottles that have stopped).

use std::path::PathBuf;

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

/// Where the logs of a stopped bottle are kept: `<state>/logs/<instance>/`.
pub fn instance_log_dir(instance: &str) -> Option<PathBuf> {
    state_dir().map(|d| d.join("logs").join(instance))
}
