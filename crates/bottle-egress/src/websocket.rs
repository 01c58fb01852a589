//! WebSocket relay with DLP on every message the agent sends.
//!
//! Frames from the agent are parsed and held until their message is whole
//! (fragments reassembled, bounded by the scan limit), the message is scanned
//! with the previous message's tail in front (a token split across two
//! messages is seen whole),
//! and only then are the held frames written upstream unchanged. A finding
//! closes both sides (close code 1008) and is logged as a block. Upstream to
//! agent is copied through as is. Extensions are stripped from the handshake,
//! so no compressed frame can hide a secret; a frame with RSV bits set is
//! refused.

use crate::audit::{Audit, Event};
use crate::dlp::Dlp;
use crate::reasons::{check, rule};
use http::Request;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::Mutex;

/// Whether a request asks for a WebSocket upgrade.
pub(crate) fn is_upgrade<B>(req: &Request<B>) -> bool {
    let has = |name: http::header::HeaderName, token: &str| {
        req.headers().get_all(name).iter().any(|v| {
            v.to_str()
                .map(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
                .unwrap_or(false)
        })
    };
    req.method() == http::Method::GET
        && has(http::header::UPGRADE, "websocket")
        && has(http::header::CONNECTION, "upgrade")
}

struct Frame {
    fin: bool,
    opcode: u8,
    raw: Vec<u8>,
    payload: Vec<u8>,
}

enum FrameError {
    Eof,
    Protocol,
    TooLarge,
}

async fn read_frame<R: AsyncRead + Unpin>(r: &mut R, limit: usize) -> Result<Frame, FrameError> {
    let mut head = [0u8; 2];
    r.read_exact(&mut head).await.map_err(|_| FrameError::Eof)?;
    let fin = head[0] & 0x80 != 0;
    if head[0] & 0x70 != 0 {
        // RSV bits: no extension was negotiated, so none may be used.
        return Err(FrameError::Protocol);
    }
    let opcode = head[0] & 0x0f;
    let masked = head[1] & 0x80 != 0;
    if !masked {
        // RFC 6455 §5.1: client frames are masked.
        return Err(FrameError::Protocol);
    }
    let mut raw = head.to_vec();
    let len = match head[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            r.read_exact(&mut b).await.map_err(|_| FrameError::Eof)?;
            raw.extend_from_slice(&b);
            u64::from(u16::from_be_bytes(b))
        }
        127 => {
            let mut b = [0u8; 8];
            r.read_exact(&mut b).await.map_err(|_| FrameError::Eof)?;
            raw.extend_from_slice(&b);
            u64::from_be_bytes(b)
        }
        n => u64::from(n),
    };
    if len > limit as u64 {
        return Err(FrameError::TooLarge);
    }
    let mut mask = [0u8; 4];
    r.read_exact(&mut mask).await.map_err(|_| FrameError::Eof)?;
    raw.extend_from_slice(&mask);
    let start = raw.len();
    raw.resize(start + len as usize, 0);
    r.read_exact(&mut raw[start..])
        .await
        .map_err(|_| FrameError::Eof)?;
    let payload = raw[start..]
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ mask[i % 4])
        .collect();
    Ok(Frame {
        fin,
        opcode,
        raw,
        payload,
    })
}

/// A server-to-client close frame (unmasked) with code 1008 and a reason.
fn close_frame(reason: &str) -> Vec<u8> {
    let reason = &reason.as_bytes()[..reason.len().min(120)];
    let mut f = vec![0x88, (2 + reason.len()) as u8, 0x03, 0xf0];
    f.extend_from_slice(reason);
    f
}

/// Relay until either side closes or a message is blocked.
pub(crate) async fn relay(
    dlp: Arc<Dlp>,
    audit: Arc<Audit>,
    ev: Event,
    client: hyper::upgrade::Upgraded,
    upstream: hyper::upgrade::Upgraded,
) {
    let (client_r, client_w) = tokio::io::split(TokioIo::new(client));
    let (mut up_r, mut up_w) = tokio::io::split(TokioIo::new(upstream));
    let client_w = Arc::new(Mutex::new(client_w));
    let down_w = client_w.clone();
    let down = tokio::spawn(async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match up_r.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let mut w = down_w.lock().await;
            if w.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = down_w.lock().await.shutdown().await;
    });
    let limit = dlp.scan_limit();
    let mut reader = BufReader::new(client_r);
    let mut held: Vec<u8> = Vec::new();
    let mut message: Vec<u8> = Vec::new();
    let mut in_message = false;
    // The previous message's tail, scanned again in front of the next one.
    let mut carry: Vec<u8> = Vec::new();
    let host = ev.host.clone();
    let verdict: Result<(), (&'static str, String, Option<String>)> = loop {
        let frame = match read_frame(&mut reader, limit).await {
            Ok(f) => f,
            Err(FrameError::Eof) => break Ok(()),
            Err(FrameError::TooLarge) => {
                break Err((check::DLP_WEBSOCKET, rule::TOO_LARGE.to_string(), None));
            }
            Err(FrameError::Protocol) => {
                break Err((check::DLP_WEBSOCKET, rule::UNDECODABLE.to_string(), None));
            }
        };
        if frame.opcode >= 8 {
            // Control frames may interleave with a fragmented message; their
            // payload (ping data, close reason) is scanned too.
            if let Err(h) = dlp.scan(&frame.payload, &host) {
                break Err((check::DLP_WEBSOCKET, h.rule, h.fingerprint));
            }
            if up_w.write_all(&frame.raw).await.is_err() {
                break Ok(());
            }
            if frame.opcode == 8 {
                break Ok(());
            }
            continue;
        }
        match (frame.opcode, in_message) {
            (1 | 2, false) | (0, true) => {}
            _ => break Err((check::DLP_WEBSOCKET, rule::UNDECODABLE.to_string(), None)),
        }
        in_message = !frame.fin;
        if message.len() + frame.payload.len() > limit {
            break Err((check::DLP_WEBSOCKET, rule::TOO_LARGE.to_string(), None));
        }
        message.extend_from_slice(&frame.payload);
        held.extend_from_slice(&frame.raw);
        if frame.fin {
            if let Err(h) = dlp.message(&mut carry, &message, &host) {
                break Err((check::DLP_WEBSOCKET, h.rule, h.fingerprint));
            }
            if up_w.write_all(&held).await.is_err() {
                break Ok(());
            }
            held.clear();
            message.clear();
        }
    };
    match verdict {
        Ok(()) => {
            let _ = up_w.shutdown().await;
            let _ = down.await;
        }
        Err((chk, r, fp)) => {
            down.abort();
            drop(up_w);
            audit.log_with(&ev, false, chk, &r, 0, 0, fp.as_deref());
            let mut w = client_w.lock().await;
            let _ = w
                .write_all(&close_frame(&format!("blocked by {chk}:{r}")))
                .await;
            let _ = w.shutdown().await;
        }
    }
}
