//! End-to-end helpers on a real Docker Engine: the engine check (missing is
//! a failure in CI, a skip elsewhere), image bootstrapping once per test
//! run, and upstream servers in containers on a network only the bottle's
//! sidecars join: an HTTPS echo server with a throwaway CA, an sshd git
//! upstream, and a trap listening on the metadata address.
//!
//! Everything here carries the label `bottle-e2e` (never `bottle.instance`,
//! so `bottle ls` and `bottle cleanup` do not see it) and is removed on drop.
//! Helpers panic on failure: they are test fixtures.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use bollard::models::{
    ContainerCreateBody, EndpointIpamConfig, EndpointSettings, HostConfig, Ipam, IpamConfig,
    NetworkCreateRequest, NetworkingConfig,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, ListNetworksOptionsBuilder,
};
use bottle_docker::Engine;
use bottle_docker::launch::{File as FileSpec, container_ip, exec_ok, read_file, upload};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Image the upstream containers run: the base packages plus openssh-server,
/// bootstrapped like the base image.
pub const UPSTREAM_IMAGE: &str = "bottle-test/upstream:latest";
/// Label on every test resource (value: the fixture id).
pub const TEST_LABEL: &str = "bottle-e2e";
/// Name the HTTPS upstream answers to (network alias).
pub const HTTPS_HOST: &str = "https.upstream.test";
/// A second name of the same HTTPS upstream (its certificate names both):
/// a host a test can leave off the allowlist and allow later.
pub const OTHER_HTTPS_HOST: &str = "other.upstream.test";
/// A real, public name the HTTPS upstream's certificate also covers, so a
/// bottle's `egress.hosts` map can send it there instead of the Internet.
pub const MAPPED_HOST: &str = "example.com";
/// Name the git upstream answers to.
pub const GIT_HOST: &str = "git.upstream.test";
/// The cloud metadata address, where the trap listens.
pub const METADATA_IP: &str = "169.254.169.254";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The engine, or `None` to skip. When `CI` is set a missing engine panics:
/// CI must run these tests, not skip them.
pub fn engine() -> Option<Engine> {
    match runtime().block_on(Engine::connect()) {
        Ok(e) => Some(e),
        Err(e) if std::env::var_os("CI").is_some() => {
            panic!("CI is set but the Docker Engine is not usable: {e}")
        }
        Err(e) => {
            eprintln!("skipping: no usable Docker Engine ({e})");
            None
        }
    }
}

static IMAGES_READY: Mutex<bool> = Mutex::new(false);

fn run_bottle(bottle: &Path, args: &[&str]) {
    let started = Instant::now();
    let out = Command::new(bottle)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running bottle {args:?}: {e}"));
    assert!(
        out.status.success(),
        "bottle {args:?} failed ({:?})\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("bottle {args:?}: {:.1}s", started.elapsed().as_secs_f64());
}

/// Bootstrap the base and upstream images (skipped when present: `bottle
/// image bootstrap` checks, and holds a lock so parallel test binaries wait
/// for one build), then build the sidecar and shell images from `bottle`.
/// Once per process.
pub fn ensure_images(bottle: &Path) {
    let mut ready = IMAGES_READY.lock().unwrap_or_else(|p| p.into_inner());
    if *ready {
        return;
    }
    run_bottle(bottle, &["image", "bootstrap"]);
    run_bottle(
        bottle,
        &[
            "image",
            "bootstrap",
            "--include",
            "openssh-server",
            "--tag",
            UPSTREAM_IMAGE,
        ],
    );
    run_bottle(bottle, &["image", "build", "--preset", "shell"]);
    // Each build of bottle makes new sidecar images; drop those of other
    // builds so repeated runs do not fill the disk — only old ones, so a
    // run of another build going on at the same time keeps its images.
    let tag = bottle_docker::images::tag_of(bottle).expect("hash the bottle binary");
    runtime().block_on(async {
        let engine = Engine::connect().await.expect("engine");
        let stale =
            bottle_docker::images::stale_sidecar_images(&engine, &tag, Duration::from_secs(3600))
                .await
                .expect("list images");
        for img in stale {
            // In use by a container, or removed meanwhile: keep going.
            let _ = bottle_docker::images::remove(&engine, &img).await;
        }
    });
    *ready = true;
}

/// A random hex id.
pub fn random_id() -> String {
    bottle_docker::labels::random_id()[..10].to_string()
}

const HTTPS_SERVER: &str = r#"
import http.server, json, ssl, sys, threading
lock = threading.Lock()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def handle_one(self):
        n = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(n) if n else b""
        rec = {"method": self.command, "path": self.path,
               "headers": {k.lower(): v for k, v in self.headers.items()},
               "body": body.decode("utf-8", "replace")}
        with lock, open("/srv/requests.jsonl", "a") as f:
            f.write(json.dumps(rec) + "\n")
        # The reply names the headers but never echoes their values (an
        # injected credential must not come back to the agent through us),
        # except under /reflect, which echoes them as debug endpoints do:
        # in the body, base64-encoded, and as x-echo-<name> headers.
        reflect = self.path.startswith("/reflect")
        reply = {"method": rec["method"], "path": rec["path"],
                 "header_names": sorted(rec["headers"]), "body": rec["body"]}
        if reflect:
            import base64
            reply["headers"] = rec["headers"]
            reply["headers_b64"] = {k: base64.b64encode(v.encode()).decode()
                                    for k, v in rec["headers"].items()}
        out = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(out)))
        if reflect:
            for k, v in rec["headers"].items():
                self.send_header("x-echo-" + k, v)
        self.end_headers()
        self.wfile.write(out)
    do_GET = do_POST = do_PUT = do_DELETE = handle_one
    def log_message(self, fmt, *args):
        sys.stderr.write((fmt % args) + "\n")
srv = http.server.ThreadingHTTPServer(("0.0.0.0", 443), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain("/srv/tls/cert.pem", "/srv/tls/key.pem")
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
open("/srv/ready", "w").close()
srv.serve_forever()
"#;

const SSHD_SETUP: &str = r#"
set -e
useradd --create-home --shell /bin/bash git
usermod -p '*' git
mkdir -p /srv/ssh /run/sshd /home/git/.ssh
ssh-keygen -q -t ed25519 -N '' -f /srv/ssh/host_ed25519
ssh-keygen -q -t ed25519 -N '' -f /srv/ssh/client
cp /srv/ssh/client.pub /home/git/.ssh/authorized_keys
chown -R git:git /home/git/.ssh
chmod 700 /home/git/.ssh
chmod 600 /home/git/.ssh/authorized_keys
mkdir -p /srv/git
git init -q --bare -b main /srv/git/app.git
seed=$(mktemp -d)
git -C "$seed" init -q -b main
echo hello > "$seed/README"
git -C "$seed" add README
git -C "$seed" -c user.name=seed -c user.email=seed@upstream.test commit -q -m 'first commit'
git -C "$seed" push -q /srv/git/app.git main
chown -R git:git /srv/git
touch /srv/ready
exec /usr/sbin/sshd -D -e -o HostKey=/srv/ssh/host_ed25519 -o PasswordAuthentication=no -o PermitRootLogin=no
"#;

const TRAP: &str = r#"
import socket, threading
def serve(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(16)
    while True:
        c, a = s.accept()
        with open("/srv/hits", "a") as f:
            f.write("%d %s\n" % (port, a[0]))
        c.close()
for p in (80, 443):
    threading.Thread(target=serve, args=(p,), daemon=True).start()
open("/srv/ready", "w").close()
threading.Event().wait()
"#;

/// Upstream servers for one test, on networks only the sidecars join.
pub struct Upstreams {
    engine: Engine,
    /// Fixture id (in every name).
    pub id: String,
    /// The upstream network (pass to the sidecars).
    pub network: String,
    /// Its subnet (for `egress.allow_cidrs`).
    pub subnet: String,
    /// The metadata trap's network (169.254.169.0/24, no route on the host).
    pub trap_network: String,
    /// The HTTPS echo server's address.
    pub https_ip: String,
    /// The git upstream's address (when started with git).
    pub git_ip: Option<String>,
    /// Files: the upstream CA (`upstream-ca.pem`), the git client key.
    pub dir: tempfile::TempDir,
    /// PEM of the CA that signed the HTTPS upstream's certificate.
    pub ca_path: PathBuf,
    /// The git upstream's host key line (`ssh-ed25519 AAAA…`).
    pub known_host_key: Option<String>,
    /// The key the git gate uses for the upstream.
    pub identity_file: Option<PathBuf>,
    containers: Vec<String>,
    networks: Vec<String>,
    trap_guard: Option<std::fs::File>,
}

/// The trap's subnet is fixed, so one trap at a time on the machine: an
/// exclusive lock on a file, held until the trap's network is gone.
fn trap_lock() -> std::fs::File {
    let path = std::env::temp_dir().join("bottle-e2e-trap.lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .expect("open the trap lock");
    f.lock().expect("lock the trap lock");
    f
}

fn labels(id: &str) -> HashMap<String, String> {
    HashMap::from([(TEST_LABEL.to_string(), id.to_string())])
}

impl Upstreams {
    /// Start the HTTPS upstream; with `git` the sshd git upstream, with
    /// `trap` the metadata trap (one at a time on an engine: its subnet is
    /// fixed); wait until they serve.
    pub fn start_with(git: bool, trap: bool) -> Self {
        let rt = runtime();
        let engine = rt.block_on(Engine::connect()).expect("engine");
        let id = random_id();
        let dir = tempfile::tempdir().expect("tempdir");
        let mut me = Self {
            engine,
            network: format!("bottle-e2e-{id}-net"),
            trap_network: format!("bottle-e2e-{id}-trap"),
            id,
            subnet: String::new(),
            https_ip: String::new(),
            git_ip: None,
            ca_path: dir.path().join("upstream-ca.pem"),
            dir,
            known_host_key: None,
            identity_file: None,
            containers: Vec::new(),
            networks: Vec::new(),
            // The trap's subnet is fixed: hold the lock until drop.
            trap_guard: trap.then(trap_lock),
        };
        rt.block_on(me.setup(git, trap));
        me
    }

    async fn network(&mut self, name: &str, subnet: Option<&str>) -> String {
        let mut options = HashMap::new();
        // No address for the host on these bridges: they add no route to
        // the host (the trap's subnet must not shadow the host's own
        // metadata route), and the sidecars reach them on-link.
        options.insert(
            "com.docker.network.bridge.inhibit_ipv4".to_string(),
            "true".to_string(),
        );
        let req = NetworkCreateRequest {
            name: name.to_string(),
            driver: Some("bridge".into()),
            internal: Some(true),
            options: Some(options),
            labels: Some(labels(&self.id)),
            ipam: subnet.map(|s| Ipam {
                config: Some(vec![IpamConfig {
                    subnet: Some(s.to_string()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        self.engine
            .docker()
            .create_network(req)
            .await
            .expect("create test network");
        self.networks.push(name.to_string());
        let info = self
            .engine
            .docker()
            .inspect_network(
                name,
                None::<bollard::query_parameters::InspectNetworkOptions>,
            )
            .await
            .expect("inspect test network");
        info.ipam
            .and_then(|i| i.config)
            .and_then(|c| c.into_iter().next())
            .and_then(|c| c.subnet)
            .expect("test network subnet")
    }

    async fn container(
        &mut self,
        role: &str,
        network: &str,
        alias: &[&str],
        ip: Option<&str>,
        script: (&str, &str),
        files: Vec<FileSpec>,
    ) -> String {
        let name = format!("bottle-e2e-{}-{role}", self.id);
        let (interp, path) = script;
        let body = ContainerCreateBody {
            image: Some(UPSTREAM_IMAGE.to_string()),
            cmd: Some(vec![interp.to_string(), path.to_string()]),
            labels: Some(labels(&self.id)),
            host_config: Some(HostConfig {
                network_mode: Some(network.to_string()),
                ..Default::default()
            }),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    network.to_string(),
                    EndpointSettings {
                        aliases: (!alias.is_empty())
                            .then(|| alias.iter().map(|a| a.to_string()).collect()),
                        ipam_config: ip.map(|ip| EndpointIpamConfig {
                            ipv4_address: Some(ip.to_string()),
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                )])),
            }),
            ..Default::default()
        };
        self.engine
            .docker()
            .create_container(
                Some(CreateContainerOptionsBuilder::default().name(&name).build()),
                body,
            )
            .await
            .expect("create upstream container");
        self.containers.push(name.clone());
        upload(&self.engine, &name, &files)
            .await
            .expect("upload upstream files");
        self.engine
            .docker()
            .start_container(&name, None)
            .await
            .expect("start upstream");
        name
    }

    async fn wait_ready(&self, name: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(_)) = read_file(&self.engine, name, "/srv/ready").await {
                return;
            }
            if Instant::now() > deadline {
                let logs = bottle_docker::launch::log_tail(&self.engine, name, 40).await;
                panic!("{name} did not become ready; its log:\n{logs}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn setup(&mut self, git: bool, trap: bool) {
        let net = self.network.clone();
        self.subnet = self.network(&net, None).await;
        let trap_net = self.trap_network.clone();
        if trap {
            self.network(&trap_net, Some("169.254.169.0/24")).await;
        }

        // The upstream's TLS: a throwaway CA made here, a leaf for its names
        // (and for the public name a hosts map may point at it).
        let (ca_pem, cert_pem, key_pem) =
            test_tls_names(&[HTTPS_HOST, OTHER_HTTPS_HOST, MAPPED_HOST]);
        std::fs::write(&self.ca_path, &ca_pem).expect("write upstream CA");
        let https = self
            .container(
                "https",
                &net,
                &[HTTPS_HOST, OTHER_HTTPS_HOST],
                None,
                ("python3", "/srv/server.py"),
                vec![
                    FileSpec::new("/srv/server.py", HTTPS_SERVER, 0o644, 0),
                    FileSpec::new("/srv/tls/cert.pem", cert_pem, 0o644, 0),
                    FileSpec::new("/srv/tls/key.pem", key_pem, 0o600, 0),
                ],
            )
            .await;
        let trap = if trap {
            Some(
                self.container(
                    "trap",
                    &trap_net,
                    &[],
                    Some(METADATA_IP),
                    ("python3", "/srv/trap.py"),
                    vec![FileSpec::new("/srv/trap.py", TRAP, 0o644, 0)],
                )
                .await,
            )
        } else {
            None
        };
        let sshd = if git {
            Some(
                self.container(
                    "git",
                    &net,
                    &[GIT_HOST],
                    None,
                    ("bash", "/srv/setup.sh"),
                    vec![FileSpec::new("/srv/setup.sh", SSHD_SETUP, 0o755, 0)],
                )
                .await,
            )
        } else {
            None
        };
        self.wait_ready(&https).await;
        if let Some(trap) = &trap {
            self.wait_ready(trap).await;
        }
        self.https_ip = container_ip(&self.engine, &https, &net)
            .await
            .expect("https ip");
        if let Some(sshd) = sshd {
            self.wait_ready(&sshd).await;
            self.git_ip = Some(
                container_ip(&self.engine, &sshd, &net)
                    .await
                    .expect("git ip"),
            );
            let host = read_file(&self.engine, &sshd, "/srv/ssh/host_ed25519.pub")
                .await
                .expect("read host key")
                .expect("host key present")
                .1;
            let host = String::from_utf8_lossy(&host);
            let mut parts = host.split_whitespace();
            self.known_host_key = Some(format!(
                "{} {}",
                parts.next().expect("key type"),
                parts.next().expect("key")
            ));
            let key = read_file(&self.engine, &sshd, "/srv/ssh/client")
                .await
                .expect("read client key")
                .expect("client key present")
                .1;
            let path = self.dir.path().join("id_ed25519");
            std::fs::write(&path, key).expect("write client key");
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .expect("chmod key");
            self.identity_file = Some(path);
        }
    }

    /// Value for `BOTTLE_TEST_SIDECAR_NETWORKS`.
    pub fn sidecar_networks(&self) -> String {
        if self.trap_guard.is_some() {
            format!("{},{}", self.network, self.trap_network)
        } else {
            self.network.clone()
        }
    }

    fn name(&self, role: &str) -> String {
        format!("bottle-e2e-{}-{role}", self.id)
    }

    /// Requests the HTTPS upstream received (method, path, headers, body).
    pub fn https_requests(&self) -> Vec<serde_json::Value> {
        let rt = runtime();
        let found = rt
            .block_on(read_file(
                &self.engine,
                &self.name("https"),
                "/srv/requests.jsonl",
            ))
            .expect("read requests");
        match found {
            None => Vec::new(),
            Some((_, data)) => String::from_utf8_lossy(&data)
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| serde_json::from_str(l).expect("request record"))
                .collect(),
        }
    }

    /// Connections the metadata trap saw (`"<port> <peer>"` lines).
    pub fn trap_hits(&self) -> Vec<String> {
        let rt = runtime();
        let found = rt
            .block_on(read_file(&self.engine, &self.name("trap"), "/srv/hits"))
            .expect("read trap hits");
        found
            .map(|(_, d)| {
                String::from_utf8_lossy(&d)
                    .lines()
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Start the Messages API stub (see [`crate::anthropic`]) playing
    /// `script`, with a certificate for every one of `names` from a CA of
    /// its own, on the upstream network. Returns its address and the CA's
    /// PEM file (for `egress.hosts` and `egress.upstream_ca`).
    pub fn start_messages_stub(
        &mut self,
        script: &crate::anthropic::Script,
        names: &[&str],
    ) -> (String, PathBuf) {
        use crate::anthropic::{SCRIPT_PATH, SERVER};
        let (ca_pem, cert_pem, key_pem) = test_tls_names(names);
        let ca_path = self.dir.path().join("stub-ca.pem");
        std::fs::write(&ca_path, &ca_pem).expect("write the stub's CA");
        let net = self.network.clone();
        let rt = runtime();
        let ip = rt.block_on(async {
            let name = self
                .container(
                    "anthropic",
                    &net,
                    &[],
                    None,
                    ("python3", "/srv/stub.py"),
                    vec![
                        FileSpec::new("/srv/stub.py", SERVER, 0o644, 0),
                        FileSpec::new(SCRIPT_PATH, script.to_server_json().to_string(), 0o644, 0),
                        FileSpec::new("/srv/tls/cert.pem", cert_pem, 0o644, 0),
                        FileSpec::new("/srv/tls/key.pem", key_pem, 0o600, 0),
                    ],
                )
                .await;
            self.wait_ready(&name).await;
            container_ip(&self.engine, &name, &net)
                .await
                .expect("stub ip")
        });
        (ip, ca_path)
    }

    /// Every request the Messages API stub recorded, in order.
    pub fn stub_calls(&self) -> Vec<crate::anthropic::Call> {
        let rt = runtime();
        let found = rt
            .block_on(read_file(
                &self.engine,
                &self.name("anthropic"),
                crate::anthropic::RECORDS_PATH,
            ))
            .expect("read the stub's records");
        match found {
            None => Vec::new(),
            Some((_, data)) => String::from_utf8_lossy(&data)
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| {
                    crate::anthropic::Call::from_record(
                        &serde_json::from_str(l).expect("stub record"),
                    )
                })
                .collect(),
        }
    }

    /// Run a command in the git upstream; its success and output.
    pub fn git_exec(&self, cmd: &[&str]) -> (bool, String) {
        let rt = runtime();
        let cmd: Vec<String> = cmd.iter().map(|s| s.to_string()).collect();
        rt.block_on(exec_ok(&self.engine, &self.name("git"), &cmd))
            .expect("exec in git upstream")
    }

    /// The upstream repository's `main` commit.
    pub fn upstream_head(&self) -> String {
        let (ok, out) = self.git_exec(&[
            "git",
            "-c",
            "safe.directory=*",
            "-C",
            "/srv/git/app.git",
            "rev-parse",
            "refs/heads/main",
        ]);
        assert!(ok, "rev-parse in the upstream: {out}");
        out.trim().to_string()
    }
}

impl Drop for Upstreams {
    fn drop(&mut self) {
        let rt = runtime();
        let docker = self.engine.docker().clone();
        rt.block_on(async {
            for c in &self.containers {
                let _ = docker
                    .remove_container(
                        c,
                        Some(
                            bollard::query_parameters::RemoveContainerOptionsBuilder::default()
                                .force(true)
                                .build(),
                        ),
                    )
                    .await;
            }
            for n in &self.networks {
                for _ in 0..20 {
                    if docker.remove_network(n).await.is_ok() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        });
        // Only now may another test make the trap's subnet.
        self.trap_guard.take();
    }
}

/// A CA and a leaf for `host`, as PEM: (CA cert, leaf cert, leaf key).
pub fn test_tls(host: &str) -> (String, String, String) {
    test_tls_names(&[host])
}

/// A CA and one leaf for all of `names`, as PEM: (CA cert, leaf cert, leaf key).
pub fn test_tls_names(names: &[&str]) -> (String, String, String) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let mut ca = CertificateParams::default();
    ca.distinguished_name
        .push(DnType::CommonName, "bottle e2e upstream CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).expect("CA");
    let issuer = Issuer::new(ca, ca_key);
    let leaf_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let leaf = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
        .expect("leaf params")
        .signed_by(&leaf_key, &issuer)
        .expect("leaf");
    (ca_cert.pem(), leaf.pem(), leaf_key.serialize_pem())
}

/// Run a command in any running container (as its default user): its
/// success and output.
pub fn exec_in(container: &str, cmd: &[&str]) -> (bool, String) {
    let rt = runtime();
    let cmd: Vec<String> = cmd.iter().map(|s| s.to_string()).collect();
    rt.block_on(async {
        let engine = Engine::connect().await.expect("engine");
        exec_ok(&engine, container, &cmd).await
    })
    .unwrap_or_else(|e| panic!("exec in {container}: {e}"))
}

/// Bottle resources (labelled `bottle.instance`) whose instance name starts
/// with `prefix`: (containers, networks).
pub fn leftovers(prefix: &str) -> (Vec<String>, Vec<String>) {
    let rt = runtime();
    rt.block_on(async {
        let engine = Engine::connect().await.expect("engine");
        let filters = HashMap::from([("label".to_string(), vec!["bottle.instance".to_string()])]);
        let containers = engine
            .docker()
            .list_containers(Some(
                ListContainersOptionsBuilder::default()
                    .all(true)
                    .filters(&filters)
                    .build(),
            ))
            .await
            .expect("list containers")
            .into_iter()
            .filter(|c| {
                c.labels
                    .as_ref()
                    .and_then(|l| l.get("bottle.instance"))
                    .is_some_and(|i| i.starts_with(prefix))
            })
            .filter_map(|c| c.names.and_then(|n| n.into_iter().next()))
            .collect();
        let networks = engine
            .docker()
            .list_networks(Some(
                ListNetworksOptionsBuilder::default()
                    .filters(&filters)
                    .build(),
            ))
            .await
            .expect("list networks")
            .into_iter()
            .filter(|n| {
                n.labels
                    .as_ref()
                    .and_then(|l| l.get("bottle.instance"))
                    .is_some_and(|i| i.starts_with(prefix))
            })
            .filter_map(|n| n.name)
            .collect();
        (containers, networks)
    })
}

/// Every container, network and volume carrying `label` (`key` or
/// `key=value`), as `container NAME`, `network NAME`, `volume NAME`: what a
/// test asks the engine to prove nothing was made or everything is gone.
pub fn labelled(label: &str) -> Vec<String> {
    use bollard::query_parameters::ListVolumesOptionsBuilder;
    let rt = runtime();
    rt.block_on(async {
        let engine = Engine::connect().await.expect("engine");
        let filters = HashMap::from([("label".to_string(), vec![label.to_string()])]);
        let mut out: Vec<String> = engine
            .docker()
            .list_containers(Some(
                ListContainersOptionsBuilder::default()
                    .all(true)
                    .filters(&filters)
                    .build(),
            ))
            .await
            .expect("list containers")
            .into_iter()
            .map(|c| {
                let name = c
                    .names
                    .and_then(|n| n.into_iter().next())
                    .unwrap_or_default();
                format!("container {}", name.trim_start_matches('/'))
            })
            .collect();
        out.extend(
            engine
                .docker()
                .list_networks(Some(
                    ListNetworksOptionsBuilder::default()
                        .filters(&filters)
                        .build(),
                ))
                .await
                .expect("list networks")
                .into_iter()
                .map(|n| format!("network {}", n.name.unwrap_or_default())),
        );
        out.extend(
            engine
                .docker()
                .list_volumes(Some(
                    ListVolumesOptionsBuilder::default()
                        .filters(&filters)
                        .build(),
                ))
                .await
                .expect("list volumes")
                .volumes
                .unwrap_or_default()
                .into_iter()
                .map(|v| format!("volume {}", v.name)),
        );
        out.sort();
        out
    })
}
