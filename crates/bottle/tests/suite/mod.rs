pub mod cli;
mod foundation;
mod e2e;
