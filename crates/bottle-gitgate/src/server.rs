//! The HTTP side: routing, when to refresh, the push lock, audit lines.

use crate::audit::{AuditLog, Entry};
use crate::backend::{self, CgiRequest, GateBody, ReqBody, text};
use crate::config::Config;
use crate::gitenv::{ENV_HOOK_CONFIG, ENV_HOOK_REMOTE, ENV_HOOK_RESULT, GitEnv, Paths};
use crate::hook::HookResult;
use crate::mirror::{self, Mirror};
use crate::pktline;
use crate::{Error, HEALTH_PATH, reasons};
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// Largest protocol v2 upload-pack request the gate reads whole (to see
/// which command it is). Real requests are far smaller: wants and haves.
const MAX_V2_REQUEST: usize = 64 * 1024 * 1024;

/// Oldest git the gate supports (`GIT_CONFIG_GLOBAL`, `fetch --atomic`).
const MIN_GIT: (u32, u32) = (2, 32);

/// A bound, ready-to-serve gate. [`Gate::bind`] prepares everything (data
/// directory, mirrors, hook, listener) so that errors surface before the
/// first request; [`Gate::serve`] answers requests.
pub struct Gate {
    listener: TcpListener,
    addr: SocketAddr,
    shared: Arc<Shared>,
}

struct Shared {
    config: Config,
    git: GitEnv,
    paths: Paths,
    mirrors: BTreeMap<String, Arc<Mirror>>,
    audit: AuditLog,
    timeout: Duration,
    push_seq: AtomicU64,
}

impl Gate {
    /// Validate `config`, prepare the data directory and the mirrors, write
    /// the hook, and bind the listener. Does not contact any upstream.
    pub async fn bind(config: Config) -> Result<Self, Error> {
        config.validate()?;
        let paths = Paths::new(&config.data_dir);
        for dir in [
            config.data_dir.clone(),
            paths.home(),
            paths.mirrors(),
            paths.run_dir(),
        ] {
            std::fs::create_dir_all(&dir)
                .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        }
        {
            use std::os::unix::fs::PermissionsExt;
            let _ =
                std::fs::set_permissions(paths.run_dir(), std::fs::Permissions::from_mode(0o700));
        }
        let git = GitEnv::new(&config);
        check_git_version(&git)?;

        let hook_command = if config.hook_command.is_empty() {
            let exe = std::env::current_exe()
                .map_err(|e| Error::io("finding this executable (for the hook)", e))?;
            vec![
                exe.to_string_lossy().into_owned(),
                "git-gate".into(),
                "hook".into(),
            ]
        } else {
            config.hook_command.clone()
        };
        mirror::write_hook(&paths, &hook_command)?;
        mirror::write_private_file(&paths.hook_config(), config.to_toml()?.as_bytes())?;

        let mut mirrors = BTreeMap::new();
        for r in &config.remotes {
            mirrors.insert(r.name.clone(), Arc::new(Mirror::prepare(&config, r, &git)?));
        }
        let audit = AuditLog::open(&config.audit)?;
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| Error::io(format!("listening on {}", config.listen), e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io("reading the listen address", e))?;
        Ok(Self {
            listener,
            addr,
            shared: Arc::new(Shared {
                timeout: Duration::from_secs(config.upstream_timeout_secs),
                config,
                git,
                paths,
                mirrors,
                audit,
                push_seq: AtomicU64::new(0),
            }),
        })
    }

    /// The address the gate listens on (the real port when `listen` asked
    /// for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serve forever.
    pub async fn serve(self) -> Result<(), Error> {
        self.serve_until(std::future::pending()).await
    }

    /// Serve until `shutdown` resolves; then stop accepting connections.
    /// Requests in flight finish on their own tasks.
    pub async fn serve_until(
        self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), Error> {
        tokio::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                () = &mut shutdown => return Ok(()),
                accepted = self.listener.accept() => match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        // Out of file descriptors and the like: back off, keep serving.
                        eprintln!("bottle git gate: accept: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            // git's requests and our streamed answers are small writes;
            // without this, Nagle plus delayed ACKs add ~40 ms per exchange.
            let _ = stream.set_nodelay(true);
            let shared = self.shared.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| handle(shared.clone(), peer, req));
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc);
                let _ = conn.await;
            });
        }
    }
}

fn check_git_version(git: &GitEnv) -> Result<(), Error> {
    let out = git.run_sync(None, &["version"])?;
    let text = String::from_utf8_lossy(&out);
    let version = text.trim().strip_prefix("git version ").unwrap_or_default();
    let mut nums = version
        .split(['.', ' '])
        .map(|n| n.parse::<u32>().unwrap_or(0));
    let (major, minor) = (nums.next().unwrap_or(0), nums.next().unwrap_or(0));
    if (major, minor) < MIN_GIT {
        return Err(Error::Git {
            args: "version".into(),
            message: format!(
                "{} is {:?}; the gate needs git {}.{} or newer",
                git.git.display(),
                text.trim(),
                MIN_GIT.0,
                MIN_GIT.1
            ),
        });
    }
    Ok(())
}

/// The service a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    UploadPack,
    ReceivePack,
}

impl Service {
    fn name(self) -> &'static str {
        match self {
            Self::UploadPack => "git-upload-pack",
            Self::ReceivePack => "git-receive-pack",
        }
    }
}

async fn handle(
    shared: Arc<Shared>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<GateBody>, Infallible> {
    Ok(route(shared, peer, req).await)
}

async fn route(
    shared: Arc<Shared>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<GateBody> {
    let path = req.uri().path().to_string();
    if path == HEALTH_PATH {
        return if req.method() == Method::GET || req.method() == Method::HEAD {
            text(StatusCode::OK, "ok")
        } else {
            text(StatusCode::METHOD_NOT_ALLOWED, "bottle git gate: use GET")
        };
    }
    let Some((repo, rest)) = path.strip_prefix('/').and_then(|p| p.split_once('/')) else {
        return not_found(&shared, &path);
    };
    let name = repo.strip_suffix(".git").unwrap_or(repo);
    let Some(mirror) = shared.mirrors.get(name).cloned() else {
        return not_found(&shared, &path);
    };
    let protocol = git_protocol(&req);
    match (req.method().clone(), rest) {
        (Method::GET, "info/refs") => {
            let service = match query_service(req.uri().query()) {
                Some(s) => s,
                None => {
                    return text(
                        StatusCode::FORBIDDEN,
                        "bottle git gate: only git's smart HTTP protocol is served (no dumb HTTP); \
                         use a git client newer than 1.6.6",
                    );
                }
            };
            advertise(shared, peer, mirror, service, protocol, req).await
        }
        (Method::POST, "git-upload-pack") => upload_pack(shared, peer, mirror, protocol, req).await,
        (Method::POST, "git-receive-pack") => {
            receive_pack(shared, peer, mirror, protocol, req).await
        }
        (_, "info/refs" | "git-upload-pack" | "git-receive-pack") => text(
            StatusCode::METHOD_NOT_ALLOWED,
            "bottle git gate: wrong method for this git URL",
        ),
        _ => not_found(&shared, &path),
    }
}

fn not_found(shared: &Shared, path: &str) -> Response<GateBody> {
    let served: Vec<String> = shared.mirrors.keys().map(|n| format!("/{n}.git")).collect();
    let path: String = path.chars().filter(|c| !c.is_control()).take(200).collect();
    text(
        StatusCode::NOT_FOUND,
        &format!(
            "bottle git gate: nothing is served at {path}; this gate serves {}",
            if served.is_empty() {
                "no repositories".to_string()
            } else {
                served.join(", ")
            }
        ),
    )
}

fn query_service(query: Option<&str>) -> Option<Service> {
    query?.split('&').find_map(|kv| match kv {
        "service=git-upload-pack" => Some(Service::UploadPack),
        "service=git-receive-pack" => Some(Service::ReceivePack),
        _ => None,
    })
}

/// The `Git-Protocol` header, passed on only when it looks like what git
/// sends (`version=2`, colon-separated `key=value`).
fn git_protocol(req: &Request<Incoming>) -> Option<String> {
    let v = req.headers().get("git-protocol")?.to_str().ok()?;
    let ok = !v.is_empty()
        && v.len() <= 256
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b':' | b'.' | b'_' | b'-'));
    ok.then(|| v.to_string())
}

fn protocol_version(p: Option<&str>) -> u8 {
    // git takes the highest version it understands among the entries.
    p.map_or(0, |p| {
        p.split(':')
            .filter_map(|kv| kv.strip_prefix("version="))
            .filter_map(|v| match v {
                "1" => Some(1),
                "2" => Some(2),
                _ => None,
            })
            .max()
            .unwrap_or(0)
    })
}

fn cgi(
    shared: &Shared,
    peer: SocketAddr,
    mirror: &Mirror,
    method: &'static str,
    what: &str,
    query: &str,
    req: &Request<Incoming>,
) -> CgiRequest {
    let header = |h: http::header::HeaderName| {
        req.headers()
            .get(h)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    CgiRequest {
        method,
        path_info: format!("/{}.git/{what}", mirror.name),
        query: query.to_string(),
        content_type: header(http::header::CONTENT_TYPE),
        content_encoding: header(http::header::CONTENT_ENCODING),
        content_length: header(http::header::CONTENT_LENGTH).and_then(|v| v.parse().ok()),
        git_protocol: git_protocol(req),
        remote_addr: peer.ip().to_string(),
        project_root: shared.paths.mirrors(),
        extra_env: Vec::new(),
    }
}

/// An `ERR` answer git shows as `fatal: remote error: <msg>`.
fn err_response(content_type: &'static str, msg: &str) -> Response<GateBody> {
    let mut r = Response::new(backend::full(pktline::err_pkt(msg)));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    r.headers_mut().insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    r
}

async fn advertise(
    shared: Arc<Shared>,
    peer: SocketAddr,
    mirror: Arc<Mirror>,
    service: Service,
    protocol: Option<String>,
    req: Request<Incoming>,
) -> Response<GateBody> {
    let started = Instant::now();
    let version = protocol_version(protocol.as_deref());
    let (event, content_type) = match service {
        Service::UploadPack => ("fetch", "application/x-git-upload-pack-advertisement"),
        Service::ReceivePack => ("push", "application/x-git-receive-pack-advertisement"),
    };
    let mut rec = Entry::new(
        &shared.config.bottle,
        event,
        &mirror.name,
        &mirror.access.url,
        "info/refs",
    );
    rec.git.client = Some(peer.to_string());
    rec.git.protocol = version;
    let query = format!("service={}", service.name());
    if service == Service::UploadPack && version == 2 {
        // A v2 `GET info/refs` only lists capabilities; the refs come with
        // `ls-refs`, which refreshes (see upload_pack).
        return backend::upload_pack_v2(
            &shared.git,
            &mirror.dir,
            protocol.as_deref().unwrap_or("version=2"),
            true,
            Bytes::new(),
            Box::new(|_| {}),
        )
        .await;
    }
    match mirror.refresh(&shared.git, shared.timeout).await {
        Err(e) => {
            rec.deny(reasons::UPSTREAM_UNREACHABLE, e.message.clone());
            rec.duration = started.elapsed();
            shared.audit.write(rec);
            err_response(content_type, &e.message)
        }
        Ok(updates) => {
            // A push's advertisement is logged with the push itself.
            if service == Service::UploadPack {
                rec.git.refs = updates;
                rec.duration = started.elapsed();
                shared.audit.write(rec);
            }
            let cgi = cgi(&shared, peer, &mirror, "GET", "info/refs", &query, &req);
            backend::run(&shared.git, cgi, ReqBody::Empty, Box::new(|_| {})).await
        }
    }
}

async fn upload_pack(
    shared: Arc<Shared>,
    peer: SocketAddr,
    mirror: Arc<Mirror>,
    protocol: Option<String>,
    req: Request<Incoming>,
) -> Response<GateBody> {
    let version = protocol_version(protocol.as_deref());
    let cgi = cgi(&shared, peer, &mirror, "POST", "git-upload-pack", "", &req);
    if version < 2 {
        // v0/v1: this is negotiation after an advertisement that refreshed.
        let done = after_serving(&shared, &mirror);
        return backend::run(&shared.git, cgi, ReqBody::Stream(req.into_body()), done).await;
    }
    // v2: `ls-refs` is the ref advertisement, so it must see a fresh mirror.
    let started = Instant::now();
    let body = match read_limited(req.into_body(), MAX_V2_REQUEST).await {
        Ok(b) => b,
        Err(msg) => {
            return text(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("bottle git gate: {msg}"),
            );
        }
    };
    let plain = match cgi.content_encoding.as_deref() {
        Some("gzip" | "x-gzip") => match pktline::gunzip(&body, MAX_V2_REQUEST) {
            Ok(p) => p,
            Err(e) => {
                return text(
                    StatusCode::BAD_REQUEST,
                    &format!("bottle git gate: bad gzip request body: {e}"),
                );
            }
        },
        _ => body.to_vec(),
    };
    // `ls-refs` is the v2 ref advertisement: always from a fresh mirror. A
    // `fetch` only names objects; it refreshes when it wants one the mirror
    // does not have (a client fetching an id it learned elsewhere).
    let command = pktline::v2_command(&plain);
    let must_refresh = match command.as_deref() {
        Some("ls-refs") => true,
        Some("fetch") => {
            let wants = pktline::v2_wants(&plain);
            !wants.is_empty() && mirror.missing(&shared.git, &wants).await
        }
        _ => false,
    };
    if must_refresh {
        let request = command.as_deref().unwrap_or("upload-pack");
        let mut rec = Entry::new(
            &shared.config.bottle,
            "fetch",
            &mirror.name,
            &mirror.access.url,
            request,
        );
        rec.git.client = Some(peer.to_string());
        rec.git.protocol = version;
        match mirror.refresh(&shared.git, shared.timeout).await {
            Err(e) => {
                rec.deny(reasons::UPSTREAM_UNREACHABLE, e.message.clone());
                rec.duration = started.elapsed();
                shared.audit.write(rec);
                return err_response("application/x-git-upload-pack-result", &e.message);
            }
            Ok(updates) => {
                rec.git.refs = updates;
                rec.duration = started.elapsed();
                shared.audit.write(rec);
            }
        }
    }
    let done = after_serving(&shared, &mirror);
    backend::upload_pack_v2(
        &shared.git,
        &mirror.dir,
        protocol.as_deref().unwrap_or("version=2"),
        false,
        Bytes::from(plain),
        done,
    )
    .await
}

/// Once a pack has been served: background maintenance of the mirror, if
/// it needs any (after the answer, so it never slows the request down).
fn after_serving(
    shared: &Arc<Shared>,
    mirror: &Arc<Mirror>,
) -> Box<dyn FnOnce(backend::Done) + Send> {
    let git = shared.git.clone();
    let mirror = mirror.clone();
    Box::new(move |_| mirror.maybe_repack(&git))
}

async fn read_limited(body: Incoming, limit: usize) -> Result<Bytes, String> {
    let limited = http_body_util::Limited::new(body, limit);
    match limited.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) => Err(format!("cannot read the request body: {e}")),
    }
}

async fn receive_pack(
    shared: Arc<Shared>,
    peer: SocketAddr,
    mirror: Arc<Mirror>,
    protocol: Option<String>,
    req: Request<Incoming>,
) -> Response<GateBody> {
    let started = Instant::now();
    // Held until receive-pack (hook and upstream push included) has exited.
    let guard = mirror.lock_for_push().await;
    let id = shared.push_seq.fetch_add(1, Ordering::SeqCst);
    let result_path: PathBuf = shared
        .paths
        .run_dir()
        .join(format!("push-{}-{id}.json", mirror.name));
    let _ = std::fs::remove_file(&result_path);
    let mut cgi = cgi(&shared, peer, &mirror, "POST", "git-receive-pack", "", &req);
    cgi.extra_env = vec![
        (ENV_HOOK_CONFIG.into(), shared.paths.hook_config().into()),
        (ENV_HOOK_REMOTE.into(), mirror.name.clone().into()),
        (ENV_HOOK_RESULT.into(), result_path.clone().into()),
    ];
    let mut rec = Entry::new(
        &shared.config.bottle,
        "push",
        &mirror.name,
        &mirror.access.url,
        "receive-pack",
    );
    rec.git.client = Some(peer.to_string());
    rec.git.protocol = protocol_version(protocol.as_deref());
    let shared2 = shared.clone();
    let mirror2 = mirror.clone();
    let on_done = Box::new(move |done: backend::Done| {
        let mut guard = guard;
        guard.refs_changed();
        match std::fs::read(&result_path)
            .ok()
            .and_then(|b| serde_json::from_slice::<HookResult>(&b).ok())
        {
            Some(r) => r.fill(&mut rec),
            // No hook run, no complaint: an empty request, such as the
            // probe git sends before a large chunked push. Nothing to log.
            None if done.stderr.is_empty() && done.status.is_some_and(|s| s.success()) => {
                return;
            }
            None => {
                let mut why = if done.stderr.is_empty() {
                    "the pre-receive hook did not run (no ref to update, or receive-pack stopped first)"
                        .to_string()
                } else {
                    crate::gitenv::summarize_stderr(&done.stderr)
                };
                match done.status {
                    Some(s) if !s.success() => why.push_str(&format!(" (git http-backend: {s})")),
                    None => why.push_str(" (git http-backend did not finish normally)"),
                    _ => {}
                }
                rec.deny(reasons::RECEIVE_PACK_REFUSED, why);
            }
        }
        let _ = std::fs::remove_file(&result_path);
        rec.duration = started.elapsed();
        shared2.audit.write(rec);
        drop(guard);
        mirror2.maybe_repack(&shared2.git);
    });
    backend::run(&shared.git, cgi, ReqBody::Stream(req.into_body()), on_done).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_versions() {
        assert_eq!(protocol_version(None), 0);
        assert_eq!(protocol_version(Some("version=2")), 2);
        assert_eq!(protocol_version(Some("version=1:version=2")), 2);
        assert_eq!(protocol_version(Some("version=3")), 0);
        assert_eq!(
            query_service(Some("service=git-upload-pack")),
            Some(Service::UploadPack)
        );
        assert_eq!(query_service(Some("service=git-upload-packs")), None);
        assert_eq!(query_service(None), None);
    }
}
