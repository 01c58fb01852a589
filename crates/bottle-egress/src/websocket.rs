//! WebSocket relay with DLP on every message the agent sends.
//!
//! Frames from the agent are parsed and held until their message is whole
//! (fragments reassembled, bounded by the scan limit), the message is scanned
//! with the previous message's tail in front (a token split across two
//! messages is seen whole),
//! and only then are the held frames written upstream unchanged. A finding
//! closes both sides (close code 1008) and is logged as a block. Upstream to
//! agent is copied through as is, its token-shaped values remembered: one
//! the upstream issued (a session JWT) may go back to it in a message. From
//! a host the proxy injected a credential into, the upstream's frames are
//! parsed instead and the credential's forms redacted from every payload
//! (the upgrade response's headers too), as for any response of that host. Extensions are stripped from the handshake,
//! so no compressed frame can hide a secret; a frame with RSV bits set is
//! refused.

use crate::audit::{Audit, Event};
use crate::dlp::{Dlp, Issued};
use crate::reasons::{check, rule};
use crate::redact::{Redactor, Stream};
use http::Request;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
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

/// Read one frame. Client frames are masked, server frames are not
/// (RFC 6455 §5.1); the other kind is a protocol error.
async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    limit: usize,
    from_client: bool,
) -> Result<Frame, FrameError> {
    let mut head = [0u8; 2];
    r.read_exact(&mut head).await.map_err(|_| FrameError::Eof)?;
    let fin = head[0] & 0x80 != 0;
    if head[0] & 0x70 != 0 {
        // RSV bits: no extension was negotiated, so none may be used.
        return Err(FrameError::Protocol);
    }
    let opcode = head[0] & 0x0f;
    if matches!(opcode, 3..=7 | 11..=15) {
        // Reserved opcodes (RFC 6455 §5.2): nothing may use them unnegotiated.
        return Err(FrameError::Protocol);
    }
    let masked = head[1] & 0x80 != 0;
    if masked != from_client {
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
    if opcode >= 8 && (!fin || len > 125) {
        // Control frames are short and never fragmented (RFC 6455 §5.5).
        return Err(FrameError::Protocol);
    }
    if len > limit as u64 {
        return Err(FrameError::TooLarge);
    }
    let mut mask = [0u8; 4];
    if masked {
        r.read_exact(&mut mask).await.map_err(|_| FrameError::Eof)?;
        raw.extend_from_slice(&mask);
    }
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

/// A server-to-client frame (unmasked).
fn server_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(payload.len() + 10);
    f.push((u8::from(fin) << 7) | opcode);
    match payload.len() {
        n @ 0..=125 => f.push(n as u8),
        n @ 126..=0xffff => {
            f.push(126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(payload);
    f
}

/// A server-to-client close frame with code 1008 and a reason.
fn close_frame(reason: &str) -> Vec<u8> {
    let reason = &reason.as_bytes()[..reason.len().min(120)];
    let mut payload = vec![0x03, 0xf0];
    payload.extend_from_slice(reason);
    server_frame(true, 8, &payload)
}

/// Upstream to agent for a host the proxy injected a credential into:
/// every frame parsed, its payload with the credential's forms replaced
/// (streaming across the frames of a message), and sent on re-framed. A
/// frame that does not parse, or is larger than `limit`, ends the
/// connection (it cannot be redacted, so it is not passed).
async fn redact_down<R, W>(up: R, w: &Mutex<W>, r: &Redactor, issued: &Issued, limit: usize)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut up = BufReader::new(up);
    let mut stream = Stream::default();
    loop {
        let f = match read_frame(&mut up, limit, false).await {
            Ok(f) => f,
            Err(FrameError::Eof) => return,
            Err(e) => {
                let why = match e {
                    FrameError::TooLarge => rule::TOO_LARGE,
                    _ => rule::UNDECODABLE,
                };
                let reason = format!("blocked by {}:{why} (upstream frame)", check::DLP_WEBSOCKET);
                let _ = w.lock().await.write_all(&close_frame(&reason)).await;
                return;
            }
        };
        let payload = if f.opcode >= 8 {
            let mut p = r.redact(&f.payload).unwrap_or(f.payload);
            p.truncate(125);
            p
        } else {
            let mut p = stream.feed(r, &f.payload);
            if f.fin {
                p.extend_from_slice(&stream.finish(r));
            }
            p
        };
        issued.harvest(&payload);
        if f.fin {
            // A value does not run on into the next message.
            issued.harvest(b"\n");
        }
        let frame = server_frame(f.fin, f.opcode, &payload);
        if w.lock().await.write_all(&frame).await.is_err() || f.opcode == 8 {
            return;
        }
    }
}

/// Relay until either side closes or a message is blocked. With a
/// `redactor` (the host has an injected credential), what the upstream
/// sends is redacted on its way to the agent.
pub(crate) async fn relay(
    dlp: Arc<Dlp>,
    audit: Arc<Audit>,
    ev: Event,
    client: hyper::upgrade::Upgraded,
    upstream: hyper::upgrade::Upgraded,
    redactor: Option<Arc<Redactor>>,
) {
    let (client_r, client_w) = tokio::io::split(TokioIo::new(client));
    let (mut up_r, mut up_w) = tokio::io::split(TokioIo::new(upstream));
    let client_w = Arc::new(Mutex::new(client_w));
    let down_w = client_w.clone();
    let issued = Arc::new(Issued::default());
    let seen = issued.clone();
    let limit = dlp.scan_limit();
    let down = tokio::spawn(async move {
        if let Some(r) = redactor {
            redact_down(up_r, &down_w, &r, &seen, limit).await;
            let _ = down_w.lock().await.shutdown().await;
            return;
        }
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match up_r.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            // Remembered before the agent can read it, so it may go back.
            seen.harvest(&buf[..n]);
            let mut w = down_w.lock().await;
            if w.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = down_w.lock().await.shutdown().await;
    });
    let mut reader = BufReader::new(client_r);
    let mut held: Vec<u8> = Vec::new();
    let mut message: Vec<u8> = Vec::new();
    let mut in_message = false;
    // The previous message's tail, scanned again in front of the next one.
    let mut carry: Vec<u8> = Vec::new();
    let host = ev.host.clone();
    let verdict: Result<(), (&'static str, String, Option<String>)> = loop {
        let frame = match read_frame(&mut reader, limit, true).await {
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
            if let Err(h) = dlp.message(&mut carry, &message, &host, &issued) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::tests::Gen;

    /// A client frame as RFC 6455 §5.2 lays it out, with the given mask.
    fn encode(fin: bool, opcode: u8, mask: [u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut f = vec![(u8::from(fin) << 7) | opcode];
        match payload.len() {
            n @ 0..=125 => f.push(0x80 | n as u8),
            n @ 126..=0xffff => {
                f.push(0x80 | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(0x80 | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        f.extend_from_slice(&mask);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        f
    }

    fn read_all(mut input: &[u8], limit: usize) -> (Vec<Frame>, Option<FrameError>, usize) {
        let total = input.len();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut frames = Vec::new();
            loop {
                match read_frame(&mut input, limit, true).await {
                    Ok(f) => frames.push(f),
                    Err(e) => return (frames, Some(e), total - input.len()),
                }
            }
        })
    }

    struct Sample {
        fin: bool,
        opcode: u8,
        payload: Vec<u8>,
    }

    fn sample(g: &mut Gen) -> Sample {
        let opcode = *g.pick(&[0u8, 1, 2, 8, 9, 10]);
        let control = opcode >= 8;
        let len = match (control, g.below(4)) {
            (true, _) => g.below(126) as usize,
            (false, 0) => g.below(126) as usize,
            (false, 1) => 126 + g.below(0x1_0000 - 126) as usize,
            (false, 2) => 0x1_0000 + g.below(4096) as usize,
            (false, _) => *g.pick(&[0usize, 125, 126, 0xffff, 0x1_0000]),
        };
        Sample {
            fin: control || g.below(2) == 0,
            opcode,
            payload: (0..len).map(|_| g.next() as u8).collect(),
        }
    }

    #[test]
    fn every_masked_client_frame_reads_back_as_itself() {
        let mut g = Gen::new(0x5eed_f00d);
        for _ in 0..200 {
            let samples: Vec<Sample> = (0..1 + g.below(4)).map(|_| sample(&mut g)).collect();
            let mut wire = Vec::new();
            let mut encoded = Vec::new();
            for s in &samples {
                let mask = (g.next() as u32).to_be_bytes();
                let e = encode(s.fin, s.opcode, mask, &s.payload);
                wire.extend_from_slice(&e);
                encoded.push(e);
            }
            let (frames, end, used) = read_all(&wire, 1 << 20);
            assert!(matches!(end, Some(FrameError::Eof)), "ends at the end");
            assert_eq!(used, wire.len());
            assert_eq!(frames.len(), samples.len());
            for ((f, s), e) in frames.iter().zip(&samples).zip(&encoded) {
                assert_eq!((f.fin, f.opcode), (s.fin, s.opcode));
                assert_eq!(f.payload, s.payload, "unmasked payload");
                assert_eq!(&f.raw, e, "the held bytes are the frame as sent");
            }
        }
    }

    #[test]
    fn any_bytes_are_a_frame_or_a_refusal_never_a_panic() {
        let mut g = Gen::new(7);
        for round in 0..3000 {
            let mut wire = if round % 2 == 0 {
                let s = sample(&mut g);
                encode(s.fin, s.opcode, (g.next() as u32).to_be_bytes(), &s.payload)
            } else {
                (0..g.below(40)).map(|_| g.next() as u8).collect()
            };
            // Flip, cut or extend at random.
            for _ in 0..g.below(4) {
                match g.below(3) {
                    0 if !wire.is_empty() => {
                        let i = g.below(wire.len() as u64) as usize;
                        wire[i] ^= 1 << g.below(8);
                    }
                    1 => wire.truncate(g.below(wire.len() as u64 + 1) as usize),
                    _ => wire.push(g.next() as u8),
                }
            }
            let limit = 1 + g.below(70_000) as usize;
            let (frames, end, used) = read_all(&wire, limit);
            assert!(end.is_some());
            let mut at = 0;
            for f in &frames {
                // A frame read is exactly the bytes it took, within bounds.
                assert_eq!(&wire[at..at + f.raw.len()], &f.raw[..]);
                assert!(f.payload.len() <= limit);
                assert_eq!(f.raw[0] & 0x70, 0, "no RSV bit passes");
                assert!(f.raw[1] & 0x80 != 0, "no unmasked frame passes");
                assert!(matches!(f.opcode, 0..=2 | 8..=10), "opcode {}", f.opcode);
                if f.opcode >= 8 {
                    assert!(f.fin && f.payload.len() <= 125);
                }
                at += f.raw.len();
            }
            assert!(at <= used && used <= wire.len());
        }
    }

    #[test]
    fn a_declared_length_over_the_limit_is_refused_before_reading_it() {
        // Headers alone, no payload bytes: an answer other than TooLarge
        // would mean the reader waited for (or allocated) the payload.
        for (len_bytes, limit) in [
            (vec![0x80 | 126, 0x10, 0x00], 4095usize),
            (vec![0x80 | 127, 0, 0, 0, 0, 0, 1, 0, 0], 0xffff),
            (
                vec![0x80 | 127, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
                1 << 20,
            ),
            (vec![0x80 | 100], 99),
        ] {
            let mut wire = vec![0x82];
            wire.extend_from_slice(&len_bytes);
            let (frames, end, _) = read_all(&wire, limit);
            assert!(frames.is_empty());
            assert!(matches!(end, Some(FrameError::TooLarge)), "{len_bytes:?}");
        }
        // Its twin: the same length at the limit waits for the payload.
        let (_, end, _) = read_all(&[0x82, 0x80 | 100], 100);
        assert!(matches!(end, Some(FrameError::Eof)));
    }

    #[test]
    fn frames_rfc_6455_forbids_are_refused() {
        let ok = encode(true, 1, [1, 2, 3, 4], b"hi");
        assert_eq!(read_all(&ok, 100).0.len(), 1, "the benign twin reads");
        let mut rsv = ok.clone();
        rsv[0] |= 0x40;
        let mut unmasked = ok.clone();
        unmasked[1] &= 0x7f;
        for bad in [
            rsv,
            unmasked,
            encode(true, 3, [0; 4], b"x"),
            encode(true, 11, [0; 4], b"x"),
            encode(false, 9, [0; 4], b"ping"),
            encode(true, 8, [0; 4], &[0u8; 126]),
        ] {
            let (frames, end, _) = read_all(&bad, 1000);
            assert!(frames.is_empty());
            assert!(
                matches!(end, Some(FrameError::Protocol)),
                "{:x?}",
                &bad[..2]
            );
        }
    }
}
