//! One module per subcommand: its clap arguments and its `run`.

pub mod cleanup;
pub mod common;
pub mod doctor;
pub mod egress_proxy;
pub mod git_gate;
pub mod image;
pub mod init;
pub mod launch;
pub mod logs;
pub mod ls;
pub mod plan;
pub mod run;
pub mod scan;
pub mod schema;
pub mod start;
pub mod stop;
pub mod why;
