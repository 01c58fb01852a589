//! Pure policy data and matching for bottle, with no I/O.
//!
//! The manifest loader, the launch planner and the egress proxy all need to
//! agree on what a hostname is, what an allowlist entry means and how a git
//! upstream URL can be spelled. Keeping those rules in one dependency-free
//! crate means the preflight shown to the user and the proxy enforcing it can
//! never drift apart.
#![deny(missing_docs)]

pub mod allow;
pub mod giturl;
pub mod host;
pub mod secret;

pub use allow::{AllowRule, Allowlist, PathGlob};
pub use giturl::{GitUrl, GitUrlError, Transport};
pub use host::{HostError, HostPattern};
pub use secret::Secret;
