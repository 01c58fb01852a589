//! One module per subcommand: its clap arguments and its `run`.

pub mod egress_proxy;
pub mod git_gate;
pub mod scan;
