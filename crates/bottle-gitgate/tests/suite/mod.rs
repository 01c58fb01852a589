mod harness;

mod agent;
mod credentials;
mod fetch;
mod push;
mod scan;
mod server;
mod ssh;
mod unreachable;
