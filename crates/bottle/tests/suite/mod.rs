pub mod cli;
mod foundation;
