pub mod common;

mod allowlist;
mod dlp;
mod dlpdata;
mod fpcorpus;
mod issued;
mod passthrough;
mod ssrf;
mod tls;
mod websocket;
