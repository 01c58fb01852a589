//! Pure policy data and matching for bottle, with no I/O.
//!
//! The manifest loader, the launch planner and the egress proxy all need to
//! agree on what a hostname is, what an allowlist entry means and how a git
//! upstream URL can be spelled. Keeping those rules in one dependency-free
//! crate means the preflight shown to the user and the proxy enforcing it can
//! never drift apart. The one audit schema both sidecars write
//! ([`audit::AuditRecord`]) lives here for the same reason: the proxy, the
//! gate and `bottle logs` read one type. The one dependency beyond serde is the
//! Public Suffix List (`psl`, compiled in), which decides what a registrable
//! domain is.
#![deny(missing_docs)]

pub mod allow;
pub mod audit;
pub mod giturl;
pub mod host;
pub mod preset;
pub mod secret;
pub mod suggest;

pub use allow::{AllowRule, Allowlist, PathGlob};
pub use audit::{AuditRecord, Decision, SidecarAudit};
pub use giturl::{GitUrl, GitUrlError, Transport};
pub use host::{
    HostError, HostPattern, check_wildcard_base, is_public_suffix, public_suffix_wildcard,
    registrable_domain,
};
pub use preset::Preset;
pub use secret::Secret;
