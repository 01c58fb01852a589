mod harness;

mod agent;
mod credentials;
mod fetch;
mod push;
mod realtrees;
mod scan;
mod server;
mod ssh;
mod unreachable;
