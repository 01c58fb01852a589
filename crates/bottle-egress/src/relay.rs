//! The passthrough relay: bytes between the agent's socket and the
//! upstream's, once the ClientHello has been judged.
//!
//! Two ways to move the bytes, both on the bare sockets driven by tokio's
//! readiness (`readable()` / `writable()` + `try_io`):
//!
//! - **copy** (the default): a 64 KiB userspace buffer per direction, held
//!   only while bytes are moving (idle tunnels hold none, see `SPARE`).
//! - **splice** (Linux, opt-in with `BOTTLE_EGRESS_SPLICE=1`): socket →
//!   pipe → socket with `splice(2)`, through `rustix`'s safe wrapper (the
//!   crate forbids `unsafe`); the payload never enters the proxy's memory.
//!   Where the kernel refuses (no pipe can be had, e.g. out of file
//!   descriptors, or these sockets cannot be spliced) a direction falls
//!   back to the copy loop.
//!
//! Why copy is the default: measured on loopback (docs/benchmarks.md,
//! "Egress proxy"), splice cuts the proxy's own CPU per GiB by a quarter to
//! a third, but the receiving end (the agent) spends more than that saving
//! reading the spliced pages, so total CPU per GiB goes up and throughput
//! down. On a shared host the total is what counts; splice is kept for a
//! proxy that runs under its own CPU quota.
//!
//! Behaviour, both ways the same as `tokio::io::copy_bidirectional`: each
//! direction runs until its source reaches EOF, then shuts down the write
//! side of its destination (half-close) and waits for the other direction;
//! the first error ends both. No idle timeout: a tunnel lives as long as
//! its two ends keep it open. Bytes are counted as they are delivered.

use std::io;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{ReadHalf, WriteHalf};

/// Size of the copy-loop buffer: a few TLS records per call.
const CHUNK: usize = 64 * 1024;

/// How a direction moves its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `splice(2)` through a pipe where the kernel allows it, else copy.
    Splice,
    /// The userspace copy loop.
    Copy,
}

/// The environment variable that turns splice on (`1`).
pub(crate) const SPLICE_ENV: &str = "BOTTLE_EGRESS_SPLICE";

impl Mode {
    /// [`Mode::Copy`] unless `BOTTLE_EGRESS_SPLICE=1` (read once).
    pub(crate) fn configured() -> Self {
        static MODE: std::sync::OnceLock<Mode> = std::sync::OnceLock::new();
        *MODE.get_or_init(|| {
            if std::env::var_os(SPLICE_ENV).is_some_and(|v| v == "1") {
                Mode::Splice
            } else {
                Mode::Copy
            }
        })
    }
}

/// Relay between `a` and `b` until both directions have ended (or one
/// failed). `a_to_b` and `b_to_a` are incremented as bytes are delivered.
/// Returns how each direction (a → b, b → a) moved its bytes.
pub(crate) async fn relay(
    a: &mut TcpStream,
    b: &mut TcpStream,
    a_to_b: &AtomicU64,
    b_to_a: &AtomicU64,
    mode: Mode,
) -> io::Result<(Mode, Mode)> {
    let (ar, aw) = a.split();
    let (br, bw) = b.split();
    tokio::try_join!(pump(ar, bw, a_to_b, mode), pump(br, aw, b_to_a, mode))
}

/// One direction: `src` until EOF, then half-close `dst`.
async fn pump(
    src: ReadHalf<'_>,
    mut dst: WriteHalf<'_>,
    count: &AtomicU64,
    mode: Mode,
) -> io::Result<Mode> {
    let spliced = match mode {
        Mode::Splice => splice::pump(src.as_ref(), dst.as_ref(), count).await?,
        Mode::Copy => false,
    };
    if !spliced {
        copy(src.as_ref(), dst.as_ref(), count).await?;
    }
    dst.shutdown().await?;
    Ok(if spliced { Mode::Splice } else { Mode::Copy })
}

/// The userspace copy loop on the bare sockets.
async fn copy(src: &TcpStream, dst: &TcpStream, count: &AtomicU64) -> io::Result<()> {
    copy_with(&SPARE, src, dst, count).await
}

/// [`copy`] with buffers from `spare`: leased once the socket is readable
/// and handed back as soon as it is drained (`WouldBlock`), so an idle
/// direction holds no buffer.
async fn copy_with(
    spare: &Spare,
    src: &TcpStream,
    dst: &TcpStream,
    count: &AtomicU64,
) -> io::Result<()> {
    let mut lease = Lease { spare, buf: None };
    loop {
        src.readable().await?;
        let n = match src.try_read(lease.buf()) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                lease.release();
                continue;
            }
            Err(e) => return Err(e),
        };
        let buf = lease.buf();
        let mut off = 0;
        while off < n {
            dst.writable().await?;
            match dst.try_write(&buf[off..n]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(w) => {
                    off += w;
                    count.fetch_add(w as u64, Ordering::Relaxed);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// Copy buffers not in use, shared by every tunnel. Each direction of a
/// tunnel used to own a 64 KiB buffer for its whole life, idle or not
/// (issue 12: 1,000 idle passthrough tunnels held 125 MiB of them, a few
/// touched pages each); now a direction holds one only while its socket
/// has bytes to move. A busy direction keeps its buffer across reads until
/// the socket is drained, so bulk transfers take one from here per drain,
/// not per read.
static SPARE: Spare = Spare::new();

/// At most this many idle buffers are kept (1 MiB); more are freed.
const SPARE_MAX: usize = 16;

/// A stack of idle copy buffers.
struct Spare(Mutex<Vec<Vec<u8>>>);

impl Spare {
    const fn new() -> Self {
        Self(Mutex::new(Vec::new()))
    }

    fn take(&self) -> Vec<u8> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
            .unwrap_or_else(|| vec![0u8; CHUNK])
    }

    /// Keep `buf` for the next borrower. It may still hold this tunnel's
    /// bytes: a borrower only ever sends what it has just read into it.
    fn give(&self, buf: Vec<u8>) {
        let mut spare = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if spare.len() < SPARE_MAX {
            spare.push(buf);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// A copy buffer borrowed from a [`Spare`]; given back when released or
/// dropped (the tunnel ended or was cancelled).
struct Lease<'a> {
    spare: &'a Spare,
    buf: Option<Vec<u8>>,
}

impl Lease<'_> {
    /// The buffer, taken on first use.
    fn buf(&mut self) -> &mut [u8] {
        self.buf.get_or_insert_with(|| self.spare.take())
    }

    fn release(&mut self) {
        if let Some(b) = self.buf.take() {
            self.spare.give(b);
        }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(target_os = "linux")]
mod splice {
    use super::CHUNK;

    /// Asked of the kernel for each pipe (it may give less): with the
    /// top-up below, fewer and larger sends than 64 KiB gave.
    const PIPE_SIZE: usize = 256 * 1024;
    use rustix::pipe::{PipeFlags, SpliceFlags, fcntl_setpipe_size, pipe_with, splice};
    use std::io;
    use std::os::fd::{AsFd, OwnedFd};
    use std::sync::atomic::{AtomicU64, Ordering};
    use tokio::io::Interest;
    use tokio::net::TcpStream;

    const FLAGS: SpliceFlags = SpliceFlags::MOVE.union(SpliceFlags::NONBLOCK);

    /// Move `src` to `dst` through a pipe until `src` reaches EOF
    /// (`Ok(true)`). `Ok(false)`: splice is not available here and nothing
    /// was moved yet, so the caller copies instead.
    pub(super) async fn pump(
        src: &TcpStream,
        dst: &TcpStream,
        count: &AtomicU64,
    ) -> io::Result<bool> {
        let Ok((rd, wr)) = pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK) else {
            return Ok(false);
        };
        // The default (64 KiB on Linux) is kept when the kernel refuses.
        let cap = fcntl_setpipe_size(&wr, PIPE_SIZE)
            .unwrap_or(CHUNK)
            .max(4096);
        let mut first = true;
        loop {
            // Fill: whatever the socket holds, up to the pipe's capacity.
            let n = loop {
                src.readable().await?;
                match src.try_io(Interest::READABLE, || fill(src, &wr, cap)) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) if first && unsupported(&e) => return Ok(false),
                    Err(e) => return Err(e),
                }
            };
            first = false;
            if n == 0 {
                return Ok(true);
            }
            // Top the pipe up while the socket has more, so that each drain
            // is one large send (an EOF seen here is seen again next round).
            let mut n = n;
            while n < cap {
                match src.try_io(Interest::READABLE, || fill(src, &wr, cap - n)) {
                    Ok(0) => break,
                    Ok(m) => n += m,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
            drain(&rd, dst, n, count).await?;
        }
    }

    fn fill(src: &TcpStream, wr: &OwnedFd, cap: usize) -> io::Result<usize> {
        Ok(splice(src.as_fd(), None, wr, None, cap, FLAGS)?)
    }

    /// Write the `n` bytes in the pipe to `dst`.
    async fn drain(
        rd: &OwnedFd,
        dst: &TcpStream,
        mut n: usize,
        count: &AtomicU64,
    ) -> io::Result<()> {
        while n > 0 {
            dst.writable().await?;
            match dst.try_io(Interest::WRITABLE, || {
                Ok(splice(rd, None, dst.as_fd(), None, n, FLAGS)?)
            }) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(w) => {
                    n -= w;
                    count.fetch_add(w as u64, Ordering::Relaxed);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The kernel will not splice these descriptors.
    fn unsupported(e: &io::Error) -> bool {
        matches!(
            rustix::io::Errno::from_io_error(e),
            Some(
                rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS | rustix::io::Errno::OPNOTSUPP
            )
        )
    }
}

#[cfg(not(target_os = "linux"))]
mod splice {
    use std::io;
    use std::sync::atomic::AtomicU64;
    use tokio::net::TcpStream;

    /// No splice off Linux: always the copy loop.
    pub(super) async fn pump(_: &TcpStream, _: &TcpStream, _: &AtomicU64) -> io::Result<bool> {
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    const SIZE: usize = 12 * 1024 * 1024 + 12_345;

    /// Bytes that differ at every offset and between seeds, so a lost,
    /// doubled or reordered chunk shows.
    fn pattern(seed: u64, len: usize) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    /// A connected loopback pair.
    async fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (s, _) = l.accept().await.unwrap();
        (c, s)
    }

    /// agent <-> (a | relay | b) <-> upstream. `agent_first`: the agent
    /// sends everything and half-closes before the upstream sends a byte;
    /// otherwise both send at once and the upstream half-closes first
    /// while the agent is still sending.
    async fn run(mode: Mode, agent_first: bool) {
        let (mut agent, mut a) = pair().await;
        let (mut b, mut up) = pair().await;
        let up_data = pattern(1, SIZE);
        let down_data = pattern(2, SIZE + 777);
        let (a_to_b, b_to_a) = (AtomicU64::new(0), AtomicU64::new(0));
        let relay_task = async { relay(&mut a, &mut b, &a_to_b, &b_to_a, mode).await.unwrap() };
        let agent_task = async {
            let (mut r, mut w) = agent.split();
            let send = async {
                w.write_all(&up_data).await.unwrap();
                w.shutdown().await.unwrap();
            };
            let mut got = Vec::new();
            if agent_first {
                send.await;
                r.read_to_end(&mut got).await.unwrap();
            } else {
                let recv = async {
                    r.read_to_end(&mut got).await.unwrap();
                };
                tokio::join!(send, recv);
            }
            got
        };
        let up_task = async {
            let (mut r, mut w) = up.split();
            let mut got = Vec::new();
            if agent_first {
                // Answer only once the agent's EOF came through.
                r.read_to_end(&mut got).await.unwrap();
                w.write_all(&down_data).await.unwrap();
                w.shutdown().await.unwrap();
            } else {
                let send = async {
                    w.write_all(&down_data).await.unwrap();
                    w.shutdown().await.unwrap();
                };
                let recv = async {
                    r.read_to_end(&mut got).await.unwrap();
                };
                tokio::join!(send, recv);
            }
            got
        };
        let (used, agent_got, up_got) =
            tokio::time::timeout(std::time::Duration::from_secs(120), async {
                tokio::join!(relay_task, agent_task, up_task)
            })
            .await
            .expect("the relay finished");
        assert!(
            up_got == up_data,
            "upstream received {} bytes, not the agent's {}",
            up_got.len(),
            up_data.len()
        );
        assert!(
            agent_got == down_data,
            "agent received {} bytes, not the upstream's {}",
            agent_got.len(),
            down_data.len()
        );
        assert_eq!(a_to_b.load(Ordering::Relaxed), up_data.len() as u64);
        assert_eq!(b_to_a.load(Ordering::Relaxed), down_data.len() as u64);
        // On Linux the splice path must really be the one that ran.
        let expected = if cfg!(target_os = "linux") {
            mode
        } else {
            Mode::Copy
        };
        assert_eq!(used, (expected, expected));
    }

    #[tokio::test]
    async fn splice_relays_both_ways_with_half_close() {
        run(Mode::Splice, true).await;
        run(Mode::Splice, false).await;
    }

    #[tokio::test]
    async fn copy_relays_both_ways_with_half_close() {
        run(Mode::Copy, true).await;
        run(Mode::Copy, false).await;
    }

    /// Wait (bounded) until `spare` holds `n` buffers; its count then.
    async fn spare_settles(spare: &Spare, n: usize) -> usize {
        for _ in 0..500 {
            if spare.len() == n {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        spare.len()
    }

    /// Issue 12: an idle direction hands its copy buffer back, and the next
    /// burst borrows that one rather than a new one; the bytes still arrive
    /// whole.
    #[tokio::test]
    async fn an_idle_copy_direction_holds_no_buffer_issue_12() {
        let (mut agent, a) = pair().await;
        let (b, mut up) = pair().await;
        let spare = Spare::new();
        let count = AtomicU64::new(0);
        let data = pattern(3, 3 * CHUNK + 100);
        let copying = async { copy_with(&spare, &a, &b, &count).await.unwrap() };
        let talk = async {
            for burst in 1..=2 {
                agent.write_all(&data).await.unwrap();
                let mut got = vec![0u8; data.len()];
                up.read_exact(&mut got).await.unwrap();
                assert!(got == data, "burst {burst} arrived altered");
                assert_eq!(
                    spare_settles(&spare, 1).await,
                    1,
                    "after burst {burst} the idle direction must have handed its one buffer back"
                );
            }
            agent.shutdown().await.unwrap();
        };
        tokio::time::timeout(std::time::Duration::from_secs(60), async {
            tokio::join!(copying, talk)
        })
        .await
        .expect("the copy finished");
        assert_eq!(count.load(Ordering::Relaxed), 2 * data.len() as u64);
        assert_eq!(spare.len(), 1, "the buffer is back once the copy ended");
    }

    #[tokio::test]
    async fn a_reset_ends_the_relay_with_an_error() {
        let (agent, mut a) = pair().await;
        let (mut b, _up) = pair().await;
        let (x, y) = (AtomicU64::new(0), AtomicU64::new(0));
        // The agent vanishes with unread data: RST rather than FIN.
        agent.set_zero_linger().unwrap();
        drop(agent);
        let r = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            relay(&mut a, &mut b, &x, &y, Mode::Splice),
        )
        .await
        .expect("the relay ended");
        assert!(r.is_err(), "a reset must end the relay with an error");
    }
}
