pub mod common;

mod allowlist;
mod dlp;
mod dlpdata;
mod passthrough;
mod ssrf;
mod tls;
mod websocket;
