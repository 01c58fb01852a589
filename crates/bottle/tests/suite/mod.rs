pub mod cli;
mod e2e;
mod foundation;
mod scan;
