pub mod common;

mod allowlist;
mod dlp;
mod ssrf;
mod tls;
mod websocket;
