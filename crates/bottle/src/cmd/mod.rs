//! One module per subcommand: its clap arguments and its `run`.

pub mod common;
pub mod egress_proxy;
pub mod git_gate;
pub mod init;
pub mod plan;
pub mod scan;
pub mod schema;
pub mod start;
