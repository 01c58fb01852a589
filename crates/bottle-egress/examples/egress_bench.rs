//! The egress proxy benchmark (run it with `bench/egress/run.sh`).
//!
//! Everything on loopback, same machine, same run: HTTPS upstreams from
//! bottle-testkit, the proxy as a separate process (this binary re-executed
//! with `proxy CONFIG`, the same code path as `bottle egress-proxy`), and
//! mitmproxy (`mitmdump`, when `MITMDUMP` points at it) as the peer.
//!
//! Measures: intercepted HTTPS requests/s and p50/p99 latency at 1 and 64
//! concurrent keep-alive clients (direct TLS, through bottle, through
//! mitmproxy); CONNECT passthrough download throughput vs direct (the
//! upstream in its own process, CPU time per process; `EGRESS_BENCH_ONLY=
//! passthrough` runs only this part); proxy RSS with 1,000 idle tunnels (`EGRESS_BENCH_ONLY=rss` runs only
//! this part). Loops are bounded in time and count.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bottle_testkit::upstream::{self, TestCa, client};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::io::BufRead;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const RUN: Duration = Duration::from_secs(5);
const WARMUP: Duration = Duration::from_secs(1);
const BIG: usize = 64 * 1024 * 1024;
const BIG_ROUNDS: usize = 4;
const IDLE_TUNNELS: usize = 1000;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("proxy") {
        let cfg = bottle_egress::Config::load(Path::new(&args[2])).expect("config");
        match std::env::var("EGRESS_BENCH_RT").ok() {
            // Runtime experiments (the page's latency notes): the proxy on
            // a runtime other than `run_blocking`'s.
            Some(rt) => proxy_on(&rt, cfg),
            None => bottle_egress::run_blocking(cfg, |addr| println!("{addr}")).expect("proxy"),
        }
        return;
    }
    if args.get(1).map(String::as_str) == Some("upstream") {
        // The passthrough upstream in a process of its own, so that its CPU
        // time is measured apart from the client's: `upstream DIR` writes
        // DIR/big-ca.pem and prints the address.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let ca = TestCa::new("bench passthrough upstream CA");
            ca.write_pem(Path::new(&args[2]), "big-ca.pem");
            let big = upstream::https(&ca)
                .http1_only()
                .route("/big", vec![b'y'; BIG])
                .route("/small", vec![b'x'; 1024])
                .run()
                .await;
            println!("{}", big.addr());
            std::future::pending::<()>().await;
        });
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(bench());
}

/// The proxy on a runtime named by `EGRESS_BENCH_RT`: `current` (one
/// thread), `multi:N` (N workers), `multi:N:event=E:global=G` (tokio's
/// `event_interval` and `global_queue_interval`).
fn proxy_on(spec: &str, cfg: bottle_egress::Config) {
    let mut parts = spec.split(':');
    let mut b = match parts.next() {
        Some("current") => tokio::runtime::Builder::new_current_thread(),
        Some("multi") => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            if let Some(n) = parts.next() {
                b.worker_threads(n.parse().unwrap());
            }
            b
        }
        other => panic!("EGRESS_BENCH_RT: unknown flavour {other:?}"),
    };
    for p in parts {
        match p.split_once('=') {
            Some(("event", v)) => b.event_interval(v.parse().unwrap()),
            Some(("global", v)) => b.global_queue_interval(v.parse().unwrap()),
            _ => panic!("EGRESS_BENCH_RT: unknown setting {p}"),
        };
    }
    let rt = b.enable_all().build().unwrap();
    rt.block_on(async {
        let proxy = bottle_egress::Proxy::bind(cfg).await.unwrap();
        println!("{}", proxy.local_addr().unwrap());
        proxy.serve().await.unwrap();
    });
}

struct ProxyProc {
    child: Child,
    addr: SocketAddr,
}

impl ProxyProc {
    fn start(cfg_path: &Path) -> Self {
        Self::start_env(cfg_path, &[])
    }

    /// The proxy with extra environment (`BOTTLE_EGRESS_SPLICE=1` for the
    /// splice relay).
    fn start_env(cfg_path: &Path, env: &[(&str, &str)]) -> Self {
        Self::start_role("proxy", cfg_path, env)
    }

    /// This binary re-executed as `ROLE PATH`; it prints its address.
    fn start_role(role: &str, path: &Path, env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .arg(role)
            .arg(path)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        Self {
            child,
            addr: line.trim().parse().unwrap(),
        }
    }

    /// Voluntary context switches of all the process's threads: each is a
    /// sleep that something had to wake.
    fn sleeps(&self) -> u64 {
        let dir = format!("/proc/{}/task", self.child.id());
        std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("status")).ok())
            .filter_map(|st| {
                st.lines()
                    .find(|l| l.starts_with("voluntary_ctxt_switches:"))?
                    .split_whitespace()
                    .nth(1)?
                    .parse::<u64>()
                    .ok()
            })
            .sum()
    }

    fn cpu_secs(&self) -> f64 {
        cpu_secs(&self.child.id().to_string())
    }
}

/// User + system CPU seconds a process (`self` or a pid) has used.
fn cpu_secs(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which is in parentheses).
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / 100.0
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

impl Drop for ProxyProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// `RssAnon` and `RssFile` of a process, KiB.
fn rss_split_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("RssAnon:"), field("RssFile:"))
}

#[derive(Clone, Copy)]
enum Via {
    Direct,
    Proxy(SocketAddr),
}

type H1 = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn open(via: Via, up: SocketAddr, tls: Arc<rustls::ClientConfig>) -> H1 {
    let tcp = match via {
        Via::Direct => tokio::net::TcpStream::connect(up).await.unwrap(),
        Via::Proxy(p) => {
            let (status, _, tcp) = client::connect(p, &up.to_string()).await.unwrap();
            assert_eq!(status, 200, "CONNECT through the proxy");
            tcp
        }
    };
    tcp.set_nodelay(true).unwrap();
    let tls = client::tls(tcp, "127.0.0.1", tls).await.expect("TLS");
    client::h1(tls).await.unwrap()
}

struct Stats {
    rps: f64,
    p50: Duration,
    p99: Duration,
    /// Requests sent, warm-up included.
    sent: usize,
}

async fn requests(
    via: Via,
    up: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
    clients: usize,
) -> Stats {
    let start = Instant::now();
    let measure_from = start + WARMUP;
    let end = measure_from + RUN;
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let tls = tls.clone();
        tasks.push(tokio::spawn(async move {
            let mut s = open(via, up, tls).await;
            let mut lat = Vec::new();
            let mut sent = 0usize;
            loop {
                let t0 = Instant::now();
                if t0 >= end {
                    break;
                }
                let req = http::Request::get("/small")
                    .header("host", up.to_string())
                    .body(Full::new(Bytes::new()))
                    .unwrap();
                s.ready().await.unwrap();
                let resp = s.send_request(req).await.unwrap();
                let body = resp.into_body().collect().await.unwrap().to_bytes();
                assert_eq!(
                    body.len(),
                    1024,
                    "unexpected answer: {}",
                    String::from_utf8_lossy(&body)
                );
                sent += 1;
                if t0 >= measure_from {
                    lat.push(t0.elapsed());
                }
            }
            (lat, sent)
        }));
    }
    let mut all = Vec::new();
    let mut sent = 0;
    for t in tasks {
        let (lat, n) = t.await.unwrap();
        all.extend(lat);
        sent += n;
    }
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    Stats {
        rps: all.len() as f64 / RUN.as_secs_f64(),
        p50: pct(0.50),
        p99: pct(0.99),
        sent,
    }
}

async fn download(via: Via, up: SocketAddr, tls: Arc<rustls::ClientConfig>, rounds: usize) -> f64 {
    let mut s = open(via, up, tls).await;
    let t0 = Instant::now();
    let mut total = 0usize;
    for _ in 0..rounds {
        let req = http::Request::get("/big")
            .header("host", up.to_string())
            .body(Full::new(Bytes::new()))
            .unwrap();
        s.ready().await.unwrap();
        let mut body = s.send_request(req).await.unwrap().into_body();
        while let Some(frame) = body.frame().await {
            if let Ok(d) = frame.unwrap().into_data() {
                total += d.len();
            }
        }
    }
    assert_eq!(total, BIG * rounds);
    total as f64 / t0.elapsed().as_secs_f64() / (1024.0 * 1024.0)
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

async fn bench() {
    let dir = tempfile::tempdir().unwrap();
    let up_ca = TestCa::new("bench upstream CA");
    let up_ca_path = up_ca.write_pem(dir.path(), "upstream-ca.pem");
    let small = upstream::https(&up_ca)
        .http1_only()
        .route("/small", vec![b'x'; 1024])
        .run()
        .await;
    let big = upstream::https(&up_ca)
        .http1_only()
        .route("/big", vec![b'y'; BIG])
        .run()
        .await;

    // The same 1 KiB route in a process of its own: a direct baseline that
    // crosses processes as the proxied path does (client and upstream in
    // one runtime wake no other process).
    let sep_dir = dir.path().join("own-process");
    std::fs::create_dir_all(&sep_dir).unwrap();
    let sep = ProxyProc::start_role("upstream", &sep_dir, &[]);
    let sep_tls = client::client_config_pem(
        &std::fs::read_to_string(sep_dir.join("big-ca.pem")).unwrap(),
        &[b"http/1.1"],
    );

    let ca = bottle_egress::ca::generate("bench").unwrap();
    let (cert, key) = bottle_egress::ca::write_files(&ca, dir.path()).unwrap();
    let mut cfg = bottle_egress::Config::new("bench", cert, key);
    cfg.listen = "127.0.0.1:0".parse().unwrap();
    cfg.allowlist = vec![bottle_egress::AllowEntry::Host(format!(
        "127.0.0.1:{}",
        small.port()
    ))];
    cfg.passthrough = vec![format!("127.0.0.1:{}", big.port())];
    cfg.allowlist.push(bottle_egress::AllowEntry::Host(format!(
        "127.0.0.1:{}",
        sep.addr.port()
    )));
    cfg.upstream_ca = vec![up_ca_path.clone(), sep_dir.join("big-ca.pem")];
    cfg.audit = bottle_egress::AuditTarget::File(dir.path().join("audit.jsonl"));
    cfg.dangerously_allow_loopback_upstreams = true;
    let cfg_path = dir.path().join("egress.toml");
    std::fs::write(&cfg_path, cfg.to_toml().unwrap()).unwrap();

    let direct_tls = up_ca.client_config(&[b"http/1.1"]);
    let bottle_tls = client::client_config_pem(&ca.cert_pem, &[b"http/1.1"]);

    if std::env::var("EGRESS_BENCH_ONLY").as_deref() == Ok("passthrough") {
        passthrough(&cfg, dir.path()).await;
        return;
    }
    if std::env::var("EGRESS_BENCH_ONLY").as_deref() == Ok("rss") {
        rss(&cfg_path, &small, &big, &bottle_tls, &direct_tls).await;
        return;
    }
    if std::env::var("EGRESS_BENCH_ONLY").as_deref() == Ok("latency") {
        // EGRESS_BENCH_CLIENTS=64 for the throughput side of a runtime
        // experiment; EGRESS_BENCH_RT (see `proxy_on`) picks the runtime.
        let clients: usize = std::env::var("EGRESS_BENCH_CLIENTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        let proxy = ProxyProc::start(&cfg_path);
        for _ in 0..3 {
            for (name, up, tls) in [
                ("in-process upstream", small.addr(), &direct_tls),
                ("own-process upstream", sep.addr, &sep_tls),
            ] {
                let d = requests(Via::Direct, up, tls.clone(), clients).await;
                let z0 = proxy.sleeps();
                let b = requests(Via::Proxy(proxy.addr), up, bottle_tls.clone(), clients).await;
                let z = (proxy.sleeps() - z0) as f64 / b.sent as f64;
                println!(
                    "{name}: direct {:.0} req/s p50 {} | bottle {:.0} req/s p50 {} p99 {} | added p50 +{} ms | proxy sleeps per request {z:.2}",
                    d.rps,
                    ms(d.p50),
                    b.rps,
                    ms(b.p50),
                    ms(b.p99),
                    ms(b.p50.saturating_sub(d.p50))
                );
            }
        }
        return;
    }
    let mitm = start_mitmproxy(dir.path()).await;
    let squid = start_squid(dir.path(), &up_ca_path).await;

    println!(
        "| workload | clients | direct req/s | bottle req/s | mitmproxy req/s | squid req/s | direct p50 / p99 ms | bottle p50 / p99 ms | mitmproxy p50 / p99 ms | squid p50 / p99 ms |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    let proxy = ProxyProc::start(&cfg_path);
    for clients in [1usize, 64] {
        let d = requests(Via::Direct, small.addr(), direct_tls.clone(), clients).await;
        let b = requests(
            Via::Proxy(proxy.addr),
            small.addr(),
            bottle_tls.clone(),
            clients,
        )
        .await;
        let mut peers = Vec::new();
        for peer in [&mitm, &squid] {
            peers.push(match peer {
                Some((_, addr, tls)) => {
                    Some(requests(Via::Proxy(*addr), small.addr(), tls.clone(), clients).await)
                }
                None => None,
            });
        }
        let cells = |m: &Option<Stats>| match m {
            Some(m) => (
                format!("{:.0}", m.rps),
                format!("{} / {}", ms(m.p50), ms(m.p99)),
            ),
            None => ("n/a".into(), "n/a".into()),
        };
        let (mr, ml) = cells(&peers[0]);
        let (sr, sl) = cells(&peers[1]);
        println!(
            "| intercepted GET 1 KiB (keep-alive) | {clients} | {:.0} | {:.0} | {mr} | {sr} | {} / {} | {} / {} | {ml} | {sl} |",
            d.rps,
            b.rps,
            ms(d.p50),
            ms(d.p99),
            ms(b.p50),
            ms(b.p99),
        );
        let ratio = |m: &Option<Stats>| {
            m.as_ref()
                .map(|m| format!("{:.1}x", b.rps / m.rps))
                .unwrap_or_else(|| "n/a".into())
        };
        println!(
            "| → bottle added p50 / p99; bottle req/s vs peer | {clients} | | | | | | +{} / +{} ms | bottle = {} mitmproxy | bottle = {} squid |",
            ms(b.p50.saturating_sub(d.p50)),
            ms(b.p99.saturating_sub(d.p99)),
            ratio(&peers[0]),
            ratio(&peers[1]),
        );
        // Direct and bottle again, the upstream in its own process.
        let d = requests(Via::Direct, sep.addr, sep_tls.clone(), clients).await;
        let b = requests(
            Via::Proxy(proxy.addr),
            sep.addr,
            bottle_tls.clone(),
            clients,
        )
        .await;
        println!(
            "| same, upstream in its own process | {clients} | {:.0} | {:.0} | | | {} / {} | {} / {} | | |",
            d.rps,
            b.rps,
            ms(d.p50),
            ms(d.p99),
            ms(b.p50),
            ms(b.p99),
        );
        println!(
            "| → bottle added p50 / p99 (own-process upstream) | {clients} | | | | | | +{} / +{} ms | | |",
            ms(b.p50.saturating_sub(d.p50)),
            ms(b.p99.saturating_sub(d.p99)),
        );
    }
    dlp_throughput(&proxy, small.addr(), &direct_tls, &bottle_tls).await;
    drop(proxy);
    drop(mitm);
    drop(squid);
    passthrough(&cfg, dir.path()).await;

    rss(&cfg_path, &small, &big, &bottle_tls, &direct_tls).await;
}

/// RSS with idle tunnels, each table row in a fresh proxy process; the
/// anonymous (heap, stacks) and file-backed (binary text) parts of the RSS
/// from `/proc/PID/status` next to it. `EGRESS_BENCH_ONLY=rss` runs only
/// this part.
async fn rss(
    cfg_path: &Path,
    small: &upstream::Upstream,
    big: &upstream::Upstream,
    bottle_tls: &Arc<rustls::ClientConfig>,
    direct_tls: &Arc<rustls::ClientConfig>,
) {
    println!();
    println!("| proxy RSS | MiB | anon / file MiB |");
    println!("| --- | --- | --- |");
    let row = |name: &str, pid: u32| {
        let (anon, file) = rss_split_kib(pid);
        println!(
            "| {name} | {:.1} | {:.1} / {:.1} |",
            rss_kib(pid) as f64 / 1024.0,
            anon as f64 / 1024.0,
            file as f64 / 1024.0
        );
    };
    let proxy = ProxyProc::start(cfg_path);
    tokio::time::sleep(Duration::from_millis(200)).await;
    row("fresh process", proxy.child.id());
    let mut held = Vec::new();
    for _ in 0..IDLE_TUNNELS {
        let mut s = open(Via::Proxy(proxy.addr), small.addr(), bottle_tls.clone()).await;
        let req = http::Request::get("/small")
            .header("host", small.addr().to_string())
            .body(Full::new(Bytes::new()))
            .unwrap();
        let r = s.send_request(req).await.unwrap();
        r.into_body().collect().await.unwrap();
        held.push(s);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    row(
        &format!("{IDLE_TUNNELS} idle intercepted tunnels (TLS up, one request done)"),
        proxy.child.id(),
    );
    drop(held);
    let proxy2 = ProxyProc::start(cfg_path);
    let mut held = Vec::new();
    for _ in 0..IDLE_TUNNELS {
        held.push(open(Via::Proxy(proxy2.addr), big.addr(), direct_tls.clone()).await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    row(
        &format!("{IDLE_TUNNELS} idle passthrough tunnels (TLS up end to end), fresh process"),
        proxy2.child.id(),
    );
    drop(held);
}

/// CONNECT passthrough download throughput: direct TLS, through the proxy
/// (its default copy relay), and through the proxy with
/// `BOTTLE_EGRESS_SPLICE=1` (the splice relay), in the same run. Same
/// client, same upstream process, same TLS config, one kept-alive
/// connection per measurement. One warm-up
/// download per path, then `PASSTHROUGH_ROUNDS` rounds of `BIG_ROUNDS` x
/// 64 MiB each, the three paths in a rotating order within each round so
/// that none always runs first; medians of the rounds, and of the ratios
/// within each round. CPU time is counted per process: the client (this
/// process), the upstream and the proxy.
async fn passthrough(base: &bottle_egress::Config, dir: &Path) {
    let rounds: usize = std::env::var("PASSTHROUGH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let server = ProxyProc::start_role("upstream", dir, &[]);
    let up = server.addr;
    let pem = std::fs::read_to_string(dir.join("big-ca.pem")).unwrap();
    let tls = client::client_config_pem(&pem, &[b"http/1.1"]);
    let mut cfg = base.clone();
    cfg.passthrough = vec![format!("127.0.0.1:{}", up.port())];
    let cfg_path = dir.join("egress-passthrough.toml");
    std::fs::write(&cfg_path, cfg.to_toml().unwrap()).unwrap();
    let copy = ProxyProc::start(&cfg_path);
    let splice = ProxyProc::start_env(&cfg_path, &[("BOTTLE_EGRESS_SPLICE", "1")]);
    let load_before = loadavg();
    let paths = [Via::Direct, Via::Proxy(copy.addr), Via::Proxy(splice.addr)];
    for via in paths {
        download(via, up, tls.clone(), 1).await;
    }
    // PASSTHROUGH_ONLY=direct|splice|copy measures one path (for profiling).
    let only = match std::env::var("PASSTHROUGH_ONLY").as_deref() {
        Ok("direct") => Some(0),
        Ok("copy") => Some(1),
        Ok("splice") => Some(2),
        _ => None,
    };
    if let Some(i) = only {
        let t0 = Instant::now();
        for _ in 0..rounds {
            download(paths[i], up, tls.clone(), BIG_ROUNDS).await;
        }
        println!("path {i}: {:.3} s", t0.elapsed().as_secs_f64());
        return;
    }
    let mut mibs: [Vec<f64>; 3] = Default::default();
    // CPU seconds per path: [client, upstream, proxy].
    let mut cpu = [[0.0f64; 3]; 3];
    let procs = [None, Some(&copy), Some(&splice)];
    let sample = |i: usize| {
        [
            cpu_secs("self"),
            server.cpu_secs(),
            procs[i].map_or(0.0, |p| p.cpu_secs()),
        ]
    };
    for r in 0..rounds {
        for k in 0..3 {
            let i = (r + k) % 3;
            let before = sample(i);
            mibs[i].push(download(paths[i], up, tls.clone(), BIG_ROUNDS).await);
            let after = sample(i);
            for c in 0..3 {
                cpu[i][c] += after[c] - before[c];
            }
        }
    }
    let load_after = loadavg();
    let gib = (rounds * BIG_ROUNDS * BIG) as f64 / (1u64 << 30) as f64;
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    };
    let mut r_copy: Vec<f64> = (0..rounds).map(|r| mibs[1][r] / mibs[0][r]).collect();
    let mut r_splice: Vec<f64> = (0..rounds).map(|r| mibs[2][r] / mibs[0][r]).collect();
    let range = |v: &[f64]| {
        let lo = v.iter().cloned().fold(f64::MAX, f64::min);
        let hi = v.iter().cloned().fold(f64::MIN, f64::max);
        format!("{lo:.2}-{hi:.2}")
    };
    let (rs_range, rc_range) = (range(&r_splice), range(&r_copy));
    let [d, c, s] = &mut mibs;
    let (d, c, s) = (median(d), median(c), median(s));
    println!();
    println!(
        "CONNECT passthrough download: {} rounds x {} x {} MiB over TLS per path, one client; load average before {load_before}, after {load_after}",
        rounds,
        BIG_ROUNDS,
        BIG >> 20
    );
    println!();
    println!(
        "| path | median MiB/s | ratio to direct (median of rounds, range) | CPU s per GiB: client / upstream / proxy / total |"
    );
    println!("| --- | --- | --- | --- |");
    let cpu_cell = |c: [f64; 3]| {
        format!(
            "{:.2} / {:.2} / {:.2} / {:.2}",
            c[0] / gib,
            c[1] / gib,
            c[2] / gib,
            c.iter().sum::<f64>() / gib
        )
    };
    println!("| direct TLS | {d:.0} | 1 | {} |", cpu_cell(cpu[0]));
    println!(
        "| bottle, copy relay (default) | {c:.0} | {:.2}x ({rc_range}) | {} |",
        median(&mut r_copy),
        cpu_cell(cpu[1])
    );
    println!(
        "| bottle, splice relay (BOTTLE_EGRESS_SPLICE=1) | {s:.0} | {:.2}x ({rs_range}) | {} |",
        median(&mut r_splice),
        cpu_cell(cpu[2])
    );
}

/// Start mitmdump if `MITMDUMP` names it; returns the child, its address and
/// a client config trusting its CA.
async fn start_mitmproxy(
    dir: &Path,
) -> Option<(ChildGuard, SocketAddr, Arc<rustls::ClientConfig>)> {
    let bin = std::env::var("MITMDUMP").ok()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let confdir = dir.join("mitm");
    std::fs::create_dir_all(&confdir).unwrap();
    let child = Command::new(bin)
        .args([
            "--listen-host",
            "127.0.0.1",
            "--listen-port",
            &port.to_string(),
            "-q",
        ])
        .args(["--set", &format!("confdir={}", confdir.display())])
        .args(["--set", "ssl_insecure=true", "--set", "flow_detail=0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let guard = ChildGuard(child);
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    for _ in 0..300 {
        if tokio::net::TcpStream::connect(addr).await.is_ok()
            && confdir.join("mitmproxy-ca-cert.pem").exists()
        {
            let pem = std::fs::read_to_string(confdir.join("mitmproxy-ca-cert.pem")).unwrap();
            return Some((guard, addr, client::client_config_pem(&pem, &[b"http/1.1"])));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("mitmdump did not start");
    None
}

struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Source-code-like text of about `len` bytes; with `encoded`, every few
/// KiB also carries a base64 blob and a percent-encoded line (of code), the
/// views the DLP decodes and scans as well.
fn code_body(len: usize, encoded: bool) -> Vec<u8> {
    use base64::Engine as _;
    let mut out = String::with_capacity(len + 4096);
    let mut i = 0usize;
    while out.len() < len {
        out.push_str(&format!(
            "    let value_{i} = parse_field(&input[{i}..], Mode::Strict)?; // field {i}\n    if value_{i}.len() > LIMIT {{ return Err(Error::TooLong {{ at: {i} }}); }}\n"
        ));
        if encoded && i % 24 == 23 {
            let chunk = format!(
                "fn helper_{i}(x: u32) -> u32 {{ x.wrapping_mul({i}) ^ 0x5bd1 }} // generated helper number {i}"
            );
            out.push_str("    const BLOB: &str = \"");
            out.push_str(&base64::engine::general_purpose::STANDARD.encode(chunk.as_bytes()));
            out.push_str("\";\n    // url: https://example.com/search?q=");
            for b in chunk.bytes() {
                if b.is_ascii_alphanumeric() {
                    out.push(b as char);
                } else {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
            out.push('\n');
        }
        i += 1;
    }
    out.truncate(len);
    out.into_bytes()
}

/// POST `rounds` bodies on one kept-alive connection; MiB/s of request body
/// and the last status.
async fn post_rate(
    via: Via,
    up: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
    body: &Bytes,
    rounds: usize,
) -> (f64, u16) {
    let mut s = open(via, up, tls).await;
    let mut status = 0;
    let t0 = Instant::now();
    for _ in 0..rounds {
        let req = http::Request::post("/small")
            .header("host", up.to_string())
            .header("content-type", "text/plain")
            .body(Full::new(body.clone()))
            .unwrap();
        s.ready().await.unwrap();
        let resp = s.send_request(req).await.unwrap();
        status = resp.status().as_u16();
        resp.into_body().collect().await.unwrap();
    }
    let mib = (rounds * body.len()) as f64 / (1024.0 * 1024.0);
    (mib / t0.elapsed().as_secs_f64(), status)
}

/// Request-body DLP throughput: 1 MiB POSTs of code-like text through the
/// intercepting proxy (every check on: the body is held, decoded and
/// scanned before it leaves), plain and with base64 and percent-encoded
/// pieces in it; direct TLS for reference.
async fn dlp_throughput(
    proxy: &ProxyProc,
    up: SocketAddr,
    direct_tls: &Arc<rustls::ClientConfig>,
    bottle_tls: &Arc<rustls::ClientConfig>,
) {
    const ROUNDS: usize = 24;
    println!();
    println!(
        "| DLP throughput: 1 MiB POST of code-like text, {ROUNDS} in a row, one client | direct MiB/s | bottle MiB/s | bottle status |"
    );
    println!("| --- | --- | --- | --- |");
    for (name, encoded) in [
        ("plain text", false),
        ("with base64 and percent-encoded pieces", true),
    ] {
        let body = Bytes::from(code_body(1 << 20, encoded));
        post_rate(Via::Proxy(proxy.addr), up, bottle_tls.clone(), &body, 2).await;
        let (d, _) = post_rate(Via::Direct, up, direct_tls.clone(), &body, ROUNDS).await;
        let (b, st) = post_rate(
            Via::Proxy(proxy.addr),
            up,
            bottle_tls.clone(),
            &body,
            ROUNDS,
        )
        .await;
        println!("| {name} | {d:.0} | {b:.0} | {st} |");
    }
}

/// Start squid with ssl-bump if `SQUID` names its binary: a CA made with
/// openssl, the certificate generator's database, a config that bumps every
/// CONNECT (peek at the ClientHello, stare at the server's certificate, then
/// bump: the minted leaf copies the upstream's IP SAN, which a leaf made from
/// the CONNECT line alone lacks) and trusts the bench upstream CA (chain
/// checked; the name not, as that certificate names 127.0.0.1 as a DNS name). Returns the child, its address
/// and a client config trusting its CA.
async fn start_squid(
    dir: &Path,
    upstream_ca: &Path,
) -> Option<(ChildGuard, SocketAddr, Arc<rustls::ClientConfig>)> {
    use std::os::unix::fs::PermissionsExt;
    let bin = std::env::var("SQUID").ok()?;
    let certgen = std::env::var("SQUID_CERTGEN")
        .unwrap_or_else(|_| "/usr/lib/squid/security_file_certgen".into());
    let sq = dir.join("squid");
    std::fs::create_dir_all(&sq).unwrap();
    // squid drops root for its user: it must read and write its files.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (ca, key) = (sq.join("ca.pem"), sq.join("ca.key"));
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=bench squid CA",
        ])
        .args([
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&ca)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let db = sq.join("ssl_db");
    let ok = ok
        && Command::new(&certgen)
            .arg("-c")
            .arg("-s")
            .arg(&db)
            .args(["-M", "4MB"])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("squid: CA or certificate database setup failed");
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let d = sq.display();
    let conf = format!(
        "http_port 127.0.0.1:{port} ssl-bump tls-cert={d}/ca.pem tls-key={d}/ca.key generate-host-certificates=on dynamic_cert_mem_cache_size=4MB\n\
sslcrtd_program {certgen} -s {d}/ssl_db -M 4MB\n\
sslcrtd_children 4 startup=1 idle=1\n\
acl step1 at_step SslBump1\n\
ssl_bump peek step1\n\
ssl_bump stare all\n\
ssl_bump bump all\n\
tls_outgoing_options cafile={}\n\
acl name_mismatch ssl_error SQUID_X509_V_ERR_DOMAIN_MISMATCH\n\
sslproxy_cert_error allow name_mismatch\n\
sslproxy_cert_error deny all\n\
http_access allow all\n\
cache deny all\n\
cache_mem 8 MB\n\
access_log stdio:{d}/access.log\n\
cache_log {d}/cache.log\n\
pid_filename {d}/squid.pid\n\
coredump_dir {d}\n\
cache_effective_user proxy\n\
shutdown_lifetime 0 seconds\n",
        upstream_ca.display()
    );
    std::fs::write(sq.join("squid.conf"), conf).unwrap();
    let _ = Command::new("chown")
        .args(["-R", "proxy:proxy"])
        .arg(&sq)
        .status();
    let child = Command::new(bin)
        .args(["-N", "-f"])
        .arg(sq.join("squid.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let guard = ChildGuard(child);
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let pem = std::fs::read_to_string(&ca).unwrap();
    for _ in 0..300 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Some((guard, addr, squid_client_config(&pem)));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("squid did not start (see {d}/cache.log)");
    None
}

/// A client config trusting squid's CA. The bench upstream's certificate
/// names 127.0.0.1 as a DNS name, and squid's mimicked leaf copies that, so
/// rustls (which wants an IP SAN for an IP) refuses it on the name alone:
/// the chain and the signatures are still checked, only that name mismatch
/// is let through.
fn squid_client_config(pem: &str) -> Arc<rustls::ClientConfig> {
    use rustls_pki_types::pem::PemObject;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::CertificateDer::pem_slice_iter(pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NameAsDns(inner)))
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(cfg)
}

#[derive(Debug)]
struct NameAsDns(Arc<rustls::client::WebPkiServerVerifier>);

impl rustls::client::danger::ServerCertVerifier for NameAsDns {
    fn verify_server_cert(
        &self,
        end_entity: &rustls_pki_types::CertificateDer<'_>,
        intermediates: &[rustls_pki_types::CertificateDer<'_>],
        server_name: &rustls_pki_types::ServerName<'_>,
        ocsp: &[u8],
        now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        use rustls::{CertificateError, Error};
        // webpki checks the chain before the name: a name error means the
        // chain passed.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(rustls::client::danger::ServerCertVerified::assertion()),
            r => r,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
