//! Labels on every resource a launch creates, and the owner check that lets
//! `bottle cleanup` tell a live bottle from one whose `bottle` process died.
//!
//! There is no state file: the labels are the state. A resource belongs to
//! the instance in `bottle.instance`, to the launch in `bottle.launch` (a
//! random id, so a launch never removes what another launch with the same
//! names created), and to the process in `bottle.owner`.

use std::collections::HashMap;

pub use bottle_plan::labels::{AGENT, BOTTLE, INSTANCE, ROLE};

/// Random id of one launch.
pub const LAUNCH: &str = "bottle.launch";
/// The `bottle` process that owns the launch: `<boot id>/<pid>/<start time>`.
pub const OWNER: &str = "bottle.owner";
/// On images bottle builds: which image it is (`base`, `egress`, `git-gate`,
/// `agent-shell`, ...).
pub const IMAGE: &str = "bottle.image";
/// On images bottle builds: hash of the recipe they were built from.
pub const RECIPE: &str = "bottle.recipe";

/// Resource roles for networks (containers use the plan's roles).
pub mod role {
    /// The agent container.
    pub const AGENT: &str = "agent";
    /// The egress proxy sidecar.
    pub const EGRESS: &str = "egress";
    /// The git gate sidecar.
    pub const GIT: &str = "git";
    /// The container that holds the instance name for one launch (created
    /// first, never started, removed last; see
    /// [`crate::launch::reservation_name`]).
    pub const RESERVATION: &str = "reservation";
}

/// The process that owns a launch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// `/proc/sys/kernel/random/boot_id` of the machine it runs on.
    pub boot_id: String,
    /// Process id.
    pub pid: u32,
    /// Start time in clock ticks since boot (tells a reused pid apart).
    pub start_time: u64,
}

/// Whether an owner process still runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// It runs.
    Alive,
    /// It is gone.
    Dead,
    /// It ran on another machine (or before a reboot): cannot tell.
    Unknown,
}

impl Owner {
    /// This process.
    pub fn current() -> Self {
        let pid = std::process::id();
        Self {
            boot_id: boot_id(),
            pid,
            start_time: start_time(pid).unwrap_or(0),
        }
    }

    /// The label value.
    pub fn to_label(&self) -> String {
        format!("{}/{}/{}", self.boot_id, self.pid, self.start_time)
    }

    /// Parse a label value.
    pub fn parse(s: &str) -> Option<Self> {
        let mut it = s.split('/');
        let boot_id = it.next()?.to_string();
        let pid = it.next()?.parse().ok()?;
        let start_time = it.next()?.parse().ok()?;
        if it.next().is_some() || boot_id.is_empty() {
            return None;
        }
        Some(Self {
            boot_id,
            pid,
            start_time,
        })
    }

    /// Whether the owner still runs. Only answerable on the machine (and
    /// boot) it ran on.
    pub fn liveness(&self) -> Liveness {
        if self.boot_id != boot_id() || self.boot_id == "unknown" {
            return Liveness::Unknown;
        }
        match start_time(self.pid) {
            Some(t) if t == self.start_time => Liveness::Alive,
            _ => Liveness::Dead,
        }
    }
}

fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty() && !s.contains('/'))
        .unwrap_or_else(|| "unknown".to_string())
}

/// Field 22 of `/proc/<pid>/stat`.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses; the
    // fields after its closing parenthesis are plain.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Labels of one launch's resources: the plan's labels, the role, the launch
/// id and the owner.
pub fn resource_labels(
    plan_labels: &std::collections::BTreeMap<String, String>,
    role: &str,
    launch_id: &str,
    owner: &Owner,
) -> HashMap<String, String> {
    let mut l: HashMap<String, String> = plan_labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    l.insert(ROLE.to_string(), role.to_string());
    l.insert(LAUNCH.to_string(), launch_id.to_string());
    l.insert(OWNER.to_string(), owner.to_label());
    l
}

/// A random hex id (16 bytes from the kernel).
pub fn random_id() -> String {
    use std::io::Read;
    let mut buf = [0u8; 16];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .is_ok();
    if !ok {
        // No /dev/urandom: fall back to something unique per process and
        // time (ids only keep launches apart; they are not secrets).
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        buf[..8].copy_from_slice(&(now as u64).to_le_bytes());
        buf[8..12].copy_from_slice(&std::process::id().to_le_bytes());
    }
    hex::encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_dead_pid_is_not() {
        let me = Owner::current();
        assert!(me.start_time > 0);
        assert_eq!(Owner::parse(&me.to_label()), Some(me.clone()));
        assert_eq!(me.liveness(), Liveness::Alive);
        let reused = Owner {
            start_time: me.start_time + 1,
            ..me.clone()
        };
        assert_eq!(reused.liveness(), Liveness::Dead);
        let elsewhere = Owner {
            boot_id: "another-machine".into(),
            ..me
        };
        assert_eq!(elsewhere.liveness(), Liveness::Unknown);
    }

    #[test]
    fn owner_labels_reject_garbage() {
        assert_eq!(Owner::parse("x/1"), None);
        assert_eq!(Owner::parse("x/y/1"), None);
        assert_eq!(Owner::parse("/1/2"), None);
        assert_eq!(Owner::parse("a/1/2/3"), None);
    }

    #[test]
    fn random_ids_differ() {
        let a = random_id();
        assert_eq!(a.len(), 32);
        assert_ne!(a, random_id());
    }
}
