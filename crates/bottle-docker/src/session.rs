//! Running the agent: non-interactive (`run`: stdout and stderr kept apart,
//! the command's exit code) and interactive (`start`: a TTY in raw mode,
//! window resizes and signals passed on).

use crate::cancel::Cancel;
use crate::error::{Ctx, Error, Result};
use crate::launch::Bottle;
use bollard::container::LogOutput;
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, KillContainerOptionsBuilder, ResizeContainerTTYOptionsBuilder,
    WaitContainerOptionsBuilder,
};
use futures_util::StreamExt;
use std::io::IsTerminal;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The agent exited with this code.
    Exited(i64),
    /// A signal interrupted the session (the agent was sent SIGTERM).
    Interrupted(&'static str),
}

/// Host stdin read on a thread (reads block; the thread is abandoned when
/// the session ends) and handed over in chunks.
fn stdin_chunks() -> tokio::sync::mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
    std::thread::spawn(move || {
        use std::io::Read;
        let mut stdin = std::io::stdin();
        let mut buf = vec![0u8; 8192];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.blocking_send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

async fn exit_code(b: &Bottle) -> Result<i64> {
    let opts = WaitContainerOptionsBuilder::default()
        .condition("not-running")
        .build();
    let mut s = b.engine().long().wait_container(&b.agent, Some(opts));
    match s.next().await {
        Some(Ok(r)) => Ok(r.status_code),
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
        Some(Err(e)) => Err(Error::Api {
            context: format!("waiting for {}", b.agent),
            source: e,
        }),
        None => Err(Error::Invalid(format!(
            "the engine did not report how {} ended",
            b.agent
        ))),
    }
}

/// Start the agent and relay its output: stdout to stdout, stderr to
/// stderr. With `forward_stdin`, the host's stdin is copied to the agent
/// and closed at its end. A signal (through `cancel`) sends the agent
/// SIGTERM and ends the session.
pub async fn run_command(b: &Bottle, forward_stdin: bool, cancel: &Cancel) -> Result<Ended> {
    let docker = b.engine().long();
    let opts = AttachContainerOptionsBuilder::default()
        .stream(true)
        .stdout(true)
        .stderr(true)
        .stdin(forward_stdin)
        .build();
    let attached = docker
        .attach_container(&b.agent, Some(opts))
        .await
        .ctx(|| format!("attaching to {}", b.agent))?;
    let mut output = attached.output;
    let mut input = attached.input;
    b.engine()
        .docker()
        .start_container(&b.agent, None)
        .await
        .ctx(|| format!("starting {}", b.agent))?;

    let mut stdin_rx = if forward_stdin {
        Some(stdin_chunks())
    } else {
        None
    };
    let mut out = tokio::io::stdout();
    let mut err = tokio::io::stderr();
    loop {
        tokio::select! {
            item = output.next() => match item {
                None => break,
                Some(Ok(LogOutput::StdErr { message })) => {
                    let _ = err.write_all(&message).await;
                    let _ = err.flush().await;
                }
                Some(Ok(other)) => {
                    let _ = out.write_all(&other.into_bytes()).await;
                    let _ = out.flush().await;
                }
                Some(Err(e)) => {
                    return Err(Error::Api { context: format!("reading the output of {}", b.agent), source: e });
                }
            },
            chunk = async {
                match stdin_rx.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            } => match chunk {
                Some(data) => {
                    if input.write_all(&data).await.is_err() {
                        stdin_rx = None;
                    }
                }
                None => {
                    // EOF on our stdin: close the agent's.
                    let _ = input.shutdown().await;
                    stdin_rx = None;
                }
            },
            why = cancel.cancelled() => {
                let _ = b.engine().docker().kill_container(
                    &b.agent,
                    Some(KillContainerOptionsBuilder::default().signal("SIGTERM").build()),
                ).await;
                return Ok(Ended::Interrupted(why));
            }
        }
    }
    Ok(Ended::Exited(exit_code(b).await?))
}

/// Restores the terminal's settings on drop.
struct RawMode {
    saved: Option<rustix::termios::Termios>,
}

impl RawMode {
    fn enable() -> Self {
        use rustix::termios::{OptionalActions, tcgetattr, tcsetattr};
        let stdin = std::io::stdin();
        let Ok(saved) = tcgetattr(&stdin) else {
            return Self { saved: None };
        };
        let mut raw = saved.clone();
        raw.make_raw();
        if tcsetattr(&stdin, OptionalActions::Now, &raw).is_err() {
            return Self { saved: None };
        }
        Self { saved: Some(saved) }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            let _ = rustix::termios::tcsetattr(
                std::io::stdin(),
                rustix::termios::OptionalActions::Now,
                t,
            );
        }
    }
}

/// The terminal's size (rows, columns), if stdout or stdin is one.
pub fn window_size() -> Option<(u16, u16)> {
    let ws = rustix::termios::tcgetwinsize(std::io::stdout())
        .or_else(|_| rustix::termios::tcgetwinsize(std::io::stdin()))
        .ok()?;
    (ws.ws_row > 0 && ws.ws_col > 0).then_some((ws.ws_row, ws.ws_col))
}

async fn resize(b: &Bottle) {
    if let Some((h, w)) = window_size() {
        let opts = ResizeContainerTTYOptionsBuilder::default()
            .h(i32::from(h))
            .w(i32::from(w))
            .build();
        let _ = b
            .engine()
            .docker()
            .resize_container_tty(&b.agent, opts)
            .await;
    }
}

/// The engine's detach sequence for interactive sessions. Docker's default,
/// Ctrl-P Ctrl-Q, would swallow Ctrl-P (history in shells and agents); this
/// pair is rarely typed. Detaching ends the session and tears the bottle
/// down.
pub const DETACH_KEYS: &str = "ctrl-^,ctrl-^";
const DETACH_KEYS_QUERY: &str = "ctrl-%5E%2Cctrl-%5E";

trait Duplex: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Duplex for T {}

/// Attach to a TTY container by hand: bollard's attach guesses whether a
/// chunk is multiplexed from its first byte, which misreads raw TTY output
/// starting with 0x00–0x02. A TTY attach is never multiplexed, so we take
/// the raw upgraded stream.
async fn raw_attach(container: &str, api_version: &str) -> Result<Box<dyn Duplex>> {
    let host = crate::engine::engine_host();
    let request = format!(
        "POST /v{api_version}/containers/{container}/attach?stream=1&stdin=1&stdout=1&stderr=1&detachKeys={DETACH_KEYS_QUERY} HTTP/1.1\r\n\
         Host: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n"
    );
    let io_err = |e| Error::io(format!("attaching to {container} at {host}"), e);
    let mut conn: Box<dyn Duplex> = if let Some(path) = host.strip_prefix("unix://") {
        Box::new(
            tokio::net::UnixStream::connect(path)
                .await
                .map_err(io_err)?,
        )
    } else if let Some(addr) = host
        .strip_prefix("tcp://")
        .or_else(|| host.strip_prefix("http://"))
    {
        Box::new(
            tokio::net::TcpStream::connect(addr.trim_end_matches('/'))
                .await
                .map_err(io_err)?,
        )
    } else {
        return Err(Error::Invalid(format!(
            "cannot attach a terminal over {host}"
        )));
    };
    conn.write_all(request.as_bytes()).await.map_err(io_err)?;
    // Read the response head byte by byte: what follows it is the stream.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if conn.read(&mut byte).await.map_err(io_err)? == 0 || head.len() > 16384 {
            return Err(Error::Invalid(format!(
                "the engine closed the attach to {container}"
            )));
        }
        head.push(byte[0]);
    }
    let status = String::from_utf8_lossy(&head);
    let code = status.split_whitespace().nth(1).unwrap_or("");
    if code != "101" && code != "200" {
        return Err(Error::Invalid(format!(
            "attaching to {container}: {}",
            status.lines().next().unwrap_or("")
        )));
    }
    Ok(conn)
}

/// Start the agent on a TTY and connect it to this terminal until it exits.
/// The terminal is in raw mode meanwhile (Ctrl-C reaches the agent as a
/// key); window resizes are passed on; SIGTERM/SIGHUP sent to `bottle` are
/// passed to the agent, which gets `grace` to exit before the session ends.
pub async fn run_interactive(b: &Bottle, grace: Duration) -> Result<Ended> {
    use tokio::signal::unix::{SignalKind, signal};
    let sig =
        |k, name: &str| signal(k).map_err(|e| Error::io(format!("installing a {name} handler"), e));
    let mut winch = sig(SignalKind::window_change(), "SIGWINCH")?;
    let mut term = sig(SignalKind::terminate(), "SIGTERM")?;
    let mut hup = sig(SignalKind::hangup(), "SIGHUP")?;
    let mut int = sig(SignalKind::interrupt(), "SIGINT")?;

    let conn = raw_attach(&b.agent, &b.engine().api_version).await?;
    let (mut rd, mut wr) = tokio::io::split(conn);
    b.engine()
        .docker()
        .start_container(&b.agent, None)
        .await
        .ctx(|| format!("starting {}", b.agent))?;
    let raw = if std::io::stdin().is_terminal() {
        Some(RawMode::enable())
    } else {
        None
    };
    resize(b).await;
    let mut stdin_rx = stdin_chunks();
    let mut stdin_open = true;
    let mut out = tokio::io::stdout();
    let mut buf = vec![0u8; 16384];
    let mut interrupted: Option<&'static str> = None;
    let mut deadline: Option<tokio::time::Instant> = None;
    let kill = |signal: &'static str| async move {
        let _ = b
            .engine()
            .docker()
            .kill_container(
                &b.agent,
                Some(
                    KillContainerOptionsBuilder::default()
                        .signal(signal)
                        .build(),
                ),
            )
            .await;
    };
    loop {
        let until_deadline = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            n = rd.read(&mut buf) => match n {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let _ = out.write_all(&buf[..n]).await;
                    let _ = out.flush().await;
                }
            },
            chunk = stdin_rx.recv(), if stdin_open => match chunk {
                Some(data) => { let _ = wr.write_all(&data).await; }
                None => { stdin_open = false; }
            },
            _ = winch.recv() => resize(b).await,
            _ = int.recv() => kill("SIGINT").await,
            _ = term.recv() => {
                interrupted.get_or_insert("SIGTERM");
                kill("SIGTERM").await;
                deadline.get_or_insert(tokio::time::Instant::now() + grace);
            }
            _ = hup.recv() => {
                interrupted.get_or_insert("SIGHUP");
                kill("SIGHUP").await;
                deadline.get_or_insert(tokio::time::Instant::now() + grace);
            }
            _ = until_deadline => break,
        }
    }
    drop(raw);
    if let Some(why) = interrupted {
        return Ok(Ended::Interrupted(why));
    }
    Ok(Ended::Exited(exit_code(b).await?))
}

/// Read a line from the terminal without echoing it (for `?question`
/// values). Fails when stdin is not a terminal.
pub fn read_hidden(prompt: &str) -> std::io::Result<String> {
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
    use std::io::{BufRead, Write};
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(std::io::Error::other("stdin is not a terminal"));
    }
    let saved = tcgetattr(&stdin)?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    quiet.local_modes.insert(LocalModes::ECHONL);
    // Echo goes off before the prompt appears (and typed-ahead input is
    // discarded, as getpass does), so nothing typed after the question is
    // ever shown.
    tcsetattr(&stdin, OptionalActions::Flush, &quiet)?;
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let r = stdin.lock().read_line(&mut line);
    let _ = tcsetattr(&stdin, OptionalActions::Now, &saved);
    r?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}
