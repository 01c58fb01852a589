pub mod common;

mod allowlist;
mod dlp;
mod passthrough;
mod ssrf;
mod tls;
mod websocket;
