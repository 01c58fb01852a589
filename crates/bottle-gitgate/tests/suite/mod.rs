mod harness;

mod agent;
mod fetch;
mod push;
mod server;
mod ssh;
