//! A dependency-free health probe, for `bottle egress-proxy --health-check`
//! (the sidecar image has no curl) and for launchers waiting on the proxy.

use crate::error::Error;
use crate::reasons::HEALTH_PATH;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// `GET /__bottle/health` on `addr`; `Ok` when the proxy answers 200.
/// Blocking, IP addresses only (no name resolution).
pub fn health_check(addr: SocketAddr, timeout: Duration) -> Result<(), Error> {
    let err = |message: String| Error::Health { addr, message };
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(|e| err(e.to_string()))?;
    s.set_read_timeout(Some(timeout))
        .map_err(|e| err(e.to_string()))?;
    s.set_write_timeout(Some(timeout))
        .map_err(|e| err(e.to_string()))?;
    let req = format!("GET {HEALTH_PATH} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes())
        .map_err(|e| err(e.to_string()))?;
    let mut buf = [0u8; 64];
    let mut got = 0;
    while got < 12 {
        match s.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) => return Err(err(e.to_string())),
        }
    }
    let head = String::from_utf8_lossy(&buf[..got]);
    if head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200") {
        Ok(())
    } else {
        Err(err(format!(
            "unexpected answer {:?}",
            head.lines().next().unwrap_or("")
        )))
    }
}
