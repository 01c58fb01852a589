//! Running git for one request and streaming its answer.
//!
//! `git http-backend` (CGI) owns the protocol: it runs upload-pack /
//! receive-pack with `--stateless-rpc`, handles gzip request bodies,
//! protocol v2 (through `GIT_PROTOCOL`) and content types. The gate only
//! sets the CGI variables, pipes the body in and the answer out, and learns
//! when the process ended (for the audit line and to release the push
//! lock). Protocol v2 upload-pack requests, which the gate reads whole
//! anyway, skip http-backend and run `git upload-pack --stateless-rpc`
//! directly ([`upload_pack_v2`]): a fetch is three such requests, and each
//! saves two process starts.

use crate::gitenv::{GitEnv, summarize_stderr};
use bytes::Bytes;
use futures_util::StreamExt as _;
use http::{HeaderName, HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

/// The response body type of the gate.
pub(crate) type GateBody = BoxBody<Bytes, std::io::Error>;

/// A complete body.
pub(crate) fn full(data: impl Into<Bytes>) -> GateBody {
    Full::new(data.into())
        .map_err(|never| match never {})
        .boxed()
}

/// A plain-text response (git prints `text/plain` error bodies as
/// `remote: ...` lines).
pub(crate) fn text(status: StatusCode, msg: &str) -> Response<GateBody> {
    let mut r = Response::new(full(format!("{msg}\n")));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r.headers_mut().insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    r
}

/// The request body handed to http-backend.
pub(crate) enum ReqBody {
    Empty,
    Bytes(Bytes),
    Stream(Incoming),
}

/// What http-backend needs to know about the request.
pub(crate) struct CgiRequest {
    pub(crate) method: &'static str,
    pub(crate) path_info: String,
    pub(crate) query: String,
    pub(crate) content_type: Option<String>,
    pub(crate) content_encoding: Option<String>,
    pub(crate) content_length: Option<u64>,
    pub(crate) git_protocol: Option<String>,
    pub(crate) remote_addr: String,
    pub(crate) project_root: PathBuf,
    pub(crate) extra_env: Vec<(OsString, OsString)>,
}

/// How the backend ended.
pub(crate) struct Done {
    pub(crate) status: Option<ExitStatus>,
    pub(crate) stderr: Vec<u8>,
}

type OnDone = Box<dyn FnOnce(Done) + Send>;

const MAX_HEADER_BYTES: usize = 64 * 1024;
const MAX_STDERR_BYTES: usize = 64 * 1024;

/// Run http-backend for one request. `on_done` runs once the process has
/// exited, whether or not the client is still listening: a push always runs
/// to completion once it started, so the mirror and the audit log agree
/// with what was sent upstream.
pub(crate) async fn run(
    git: &GitEnv,
    req: CgiRequest,
    body: ReqBody,
    on_done: OnDone,
) -> Response<GateBody> {
    let mut cmd = git.tokio_command();
    cmd.arg("http-backend")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .env("REQUEST_METHOD", req.method)
        .env("PATH_INFO", &req.path_info)
        .env("QUERY_STRING", &req.query)
        .env("REMOTE_ADDR", &req.remote_addr)
        .env("REMOTE_USER", "agent")
        .env("GIT_PROJECT_ROOT", &req.project_root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .envs(req.extra_env.iter().cloned());
    if let Some(ct) = &req.content_type {
        cmd.env("CONTENT_TYPE", ct);
    }
    if let Some(ce) = &req.content_encoding {
        cmd.env("HTTP_CONTENT_ENCODING", ce);
    }
    if let Some(len) = req.content_length {
        cmd.env("CONTENT_LENGTH", len.to_string());
    }
    if let Some(p) = &req.git_protocol {
        cmd.env("HTTP_GIT_PROTOCOL", p).env("GIT_PROTOCOL", p);
    }
    serve(cmd, "git http-backend", None, body, on_done).await
}

/// A protocol v2 upload-pack request, answered by `git upload-pack
/// --stateless-rpc` itself rather than through http-backend: one process
/// instead of three (`git`, `git-http-backend`, `git upload-pack`) per
/// request, and a fetch over HTTP makes three such requests. What
/// http-backend would add for these requests is done here: the request
/// body is already decoded (`plain`), `GIT_PROTOCOL` is set, and the
/// content type and no-cache headers are those http-backend sends.
/// `advertise`: the `GET info/refs` capability advertisement
/// (`--http-backend-info-refs`), else a POST command (`ls-refs`, `fetch`).
pub(crate) async fn upload_pack_v2(
    git: &GitEnv,
    mirror: &std::path::Path,
    git_protocol: &str,
    advertise: bool,
    body: Bytes,
    on_done: OnDone,
) -> Response<GateBody> {
    let mut cmd = git.tokio_command();
    cmd.args(["upload-pack", "--stateless-rpc"]);
    if advertise {
        cmd.arg("--http-backend-info-refs");
    }
    cmd.arg(mirror).env("GIT_PROTOCOL", git_protocol);
    let content_type = if advertise {
        "application/x-git-upload-pack-advertisement"
    } else {
        "application/x-git-upload-pack-result"
    };
    serve(
        cmd,
        "git upload-pack",
        Some(content_type),
        ReqBody::Bytes(body),
        on_done,
    )
    .await
}

/// Run `cmd`, feed it `body`, stream its stdout back. With `content_type`
/// the whole output is the body; without, it is CGI output (headers first).
async fn serve(
    mut cmd: tokio::process::Command,
    what: &'static str,
    content_type: Option<&'static str>,
    body: ReqBody,
    on_done: OnDone,
) -> Response<GateBody> {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(false);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            on_done(Done {
                status: None,
                stderr: format!("cannot run {what}: {e}").into_bytes(),
            });
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("bottle git gate: cannot run {what}: {e}"),
            );
        }
    };
    let (Some(mut stdin), Some(mut stdout), Some(mut stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        on_done(Done {
            status: None,
            stderr: format!("{what} has no pipes").into_bytes(),
        });
        return text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "bottle git gate: internal error (pipes)",
        );
    };

    // Feed the body; a client that stops sending just closes stdin early.
    tokio::spawn(async move {
        match body {
            ReqBody::Empty => {}
            ReqBody::Bytes(b) => {
                let _ = stdin.write_all(&b).await;
            }
            ReqBody::Stream(mut incoming) => {
                while let Some(frame) = incoming.frame().await {
                    let Ok(frame) = frame else { break };
                    if let Ok(data) = frame.into_data()
                        && stdin.write_all(&data).await.is_err()
                    {
                        break;
                    }
                }
            }
        }
        let _ = stdin.shutdown().await;
    });

    let stderr_task = tokio::spawn(async move {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            match stderr.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if buf.len() < MAX_STDERR_BYTES {
                        buf.extend_from_slice(&chunk[..n]);
                    }
                }
            }
        }
        buf
    });

    let (head_tx, head_rx) = oneshot::channel::<Result<(Vec<(String, String)>, Vec<u8>), String>>();
    // Without CGI headers to wait for, the head is known now.
    let head_tx = match content_type {
        Some(ct) => {
            let _ = head_tx.send(Ok((
                vec![
                    ("Content-Type".to_string(), ct.to_string()),
                    (
                        "Cache-Control".to_string(),
                        "no-cache, max-age=0, must-revalidate".to_string(),
                    ),
                    ("Pragma".to_string(), "no-cache".to_string()),
                    (
                        "Expires".to_string(),
                        "Fri, 01 Jan 1980 00:00:00 GMT".to_string(),
                    ),
                ],
                Vec::new(),
            )));
            None
        }
        None => Some(head_tx),
    };
    let (data_tx, data_rx) = mpsc::channel::<Bytes>(16);
    tokio::spawn(async move {
        let mut buf = Vec::new();
        // Read straight into reference-counted buffers: each read becomes a
        // body frame without another copy.
        const READ_SIZE: usize = 256 * 1024;
        let mut chunk = bytes::BytesMut::with_capacity(READ_SIZE);
        let mut head_tx = head_tx;
        let mut client_gone = false;
        loop {
            if chunk.capacity() - chunk.len() < READ_SIZE / 4 {
                chunk.reserve(READ_SIZE);
            }
            match stdout.read_buf(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let data = chunk.split().freeze();
            if let Some(tx) = head_tx.take() {
                buf.extend_from_slice(&data);
                match split_cgi_head(&buf) {
                    Some((headers, rest)) => {
                        let rest = rest.to_vec();
                        buf.clear();
                        let _ = tx.send(Ok((headers, rest)));
                    }
                    None if buf.len() > MAX_HEADER_BYTES => {
                        let _ = tx.send(Err(format!("{what} sent an oversized header")));
                        client_gone = true;
                    }
                    None => head_tx = Some(tx),
                }
                continue;
            }
            if !client_gone && data_tx.send(data).await.is_err() {
                // Keep draining so the process runs to completion.
                client_gone = true;
            }
        }
        let status = child.wait().await.ok();
        let stderr = stderr_task.await.unwrap_or_default();
        if let Some(tx) = head_tx.take() {
            let _ = tx.send(Err(summarize_stderr(&stderr)));
        }
        if !stderr.is_empty() {
            eprintln!("bottle git gate: {what}: {}", summarize_stderr(&stderr));
        }
        on_done(Done { status, stderr });
        // The response ends only now: a client that sees its push answered
        // finds the push's audit line already written (the audit never lags
        // an answer, and a gate that dies in between leaves no answered push
        // unlogged).
        drop(data_tx);
    });

    match head_rx.await {
        Ok(Ok((headers, rest))) => {
            let mut status = StatusCode::OK;
            let mut resp = Response::builder();
            for (k, v) in headers {
                if k.eq_ignore_ascii_case("status") {
                    if let Some(code) = v
                        .split_whitespace()
                        .next()
                        .and_then(|c| c.parse::<u16>().ok())
                    {
                        status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY);
                    }
                    continue;
                }
                if let (Ok(name), Ok(value)) = (
                    HeaderName::try_from(k.as_str()),
                    HeaderValue::try_from(v.as_str()),
                ) {
                    resp = resp.header(name, value);
                }
            }
            let first = futures_util::stream::iter((!rest.is_empty()).then(|| Bytes::from(rest)));
            let tail = futures_util::stream::unfold(data_rx, |mut rx| async move {
                rx.recv().await.map(|b| (b, rx))
            });
            let stream = first
                .chain(tail)
                .map(|b| Ok::<_, std::io::Error>(Frame::data(b)));
            match resp
                .status(status)
                .body(BodyExt::boxed(StreamBody::new(stream)))
            {
                Ok(r) => r,
                Err(e) => text(
                    StatusCode::BAD_GATEWAY,
                    &format!("bottle git gate: bad backend response: {e}"),
                ),
            }
        }
        Ok(Err(why)) => text(
            StatusCode::BAD_GATEWAY,
            &format!("bottle git gate: {what} failed: {why}"),
        ),
        Err(_) => text(
            StatusCode::BAD_GATEWAY,
            &format!("bottle git gate: {what} ended unexpectedly"),
        ),
    }
}

/// Split CGI output into headers and the start of the body.
/// CGI headers and the first bytes of the body.
type CgiHead<'a> = (Vec<(String, String)>, &'a [u8]);

fn split_cgi_head(buf: &[u8]) -> Option<CgiHead<'_>> {
    let (end, skip) = find(buf, b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| find(buf, b"\n\n").map(|i| (i, 2)))?;
    let head = String::from_utf8_lossy(&buf[..end]);
    let headers = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Some((headers, &buf[end + skip..]))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_cgi_output() {
        let (h, rest) =
            split_cgi_head(b"Status: 403 Forbidden\r\nContent-Type: text/plain\r\n\r\nbody")
                .unwrap();
        assert_eq!(h[0], ("Status".to_string(), "403 Forbidden".to_string()));
        assert_eq!(h[1].1, "text/plain");
        assert_eq!(rest, b"body");
        assert!(split_cgi_head(b"Content-Type: x\r\n").is_none());
    }
}
