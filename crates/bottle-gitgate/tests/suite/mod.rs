mod harness;

mod agent;
mod credentials;
mod fetch;
mod push;
mod server;
mod ssh;
