//! Issue 12: the false-positive run over a realistic benign corpus, through
//! the real proxy. Not part of the default run (it reads thousands of files
//! from the machine); the command and figures are in docs/benchmarks.md:
//!
//! ```text
//! cargo test -p bottle-egress --test all fp_corpus -- --ignored --nocapture
//! ```
//!
//! - model API requests (Anthropic Messages and OpenAI Chat JSON) whose
//!   message is a real source file: Rust sources of the local cargo
//!   registry, Python's standard library;
//! - package-manager, GitHub API and CDN URLs as the tools send them, to
//!   hosts under the wildcards a bottle allows them by.

use super::common::*;
use bottle_testkit::upstream;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn files(root: &Path, ext: &str, max: usize, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(root) else {
        return;
    };
    let mut entries: Vec<_> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if out.len() >= max {
            return;
        }
        if p.is_dir() {
            files(&p, ext, max, out);
        } else if p.extension().is_some_and(|e| e == ext)
            && std::fs::metadata(&p).is_ok_and(|m| m.len() <= 64 * 1024)
        {
            out.push(p);
        }
    }
}

const URLS: &[&str] = &[
    "/simple/requests/",
    "/packages/3d/5b/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08/requests-2.32.3-py3-none-any.whl",
    "/packages/source/u/urllib3/urllib3-2.2.3.tar.gz#sha256=e7d814a81dad81e6caf2ec9fdedb284ecc9c73076b62654547cc64ccdcae26e9",
    "/react/-/react-18.3.1.tgz",
    "/@types%2fnode",
    "/api/v1/crates/serde/1.0.210/download",
    "/crates/serde/serde-1.0.210.crate",
    "/se/rd/serde",
    "/config.json",
    "/debian/dists/bookworm/InRelease",
    "/debian/pool/main/c/curl/curl_7.88.1-10+deb12u8_amd64.deb",
    "/v2/library/ubuntu/manifests/24.04",
    "/v2/library/ubuntu/blobs/sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "/token?scope=repository%3Alibrary%2Fubuntu%3Apull&service=registry.docker.io",
    "/repos/rust-lang/rust/pulls?state=open&per_page=100&page=2",
    "/repos/octocat/hello-world/commits/7fd1a60b01f91b314f59955a4e4d4e80d8edf11d",
    "/repos/octocat/hello-world/git/trees/main?recursive=1",
    "/search/code?q=addClass+in%3Afile+language%3Ajs+repo%3Ajquery%2Fjquery",
    "/graphql",
    "/user/repos?sort=updated&direction=desc",
    "/repos/octocat/hello-world/issues/1347/comments?since=2024-01-01T00%3A00%3A00Z",
    "/repos/octocat/hello-world/releases/assets/1",
    "/npm/bootstrap@5.3.3/dist/css/bootstrap.min.css",
    "/ajax/libs/jquery/3.7.1/jquery.min.js",
    "/s/roboto/v32/KFOmCnqEu92Fr1Mu4mxKKTU1Kg.woff2",
    "/css2?family=Inter:wght@400;700&display=swap",
    "/v1/models",
    "/v1/messages?beta=true",
    "/rust/dist/channel-rust-stable.toml.sha256",
    "/dist/2024-09-05/rust-std-1.81.0-x86_64-unknown-linux-gnu.tar.xz",
];

const HOSTS: &[(&str, &str)] = &[
    ("*.crates.io", "static.crates.io"),
    ("*.crates.io", "index.crates.io"),
    ("*.pythonhosted.org", "files.pythonhosted.org"),
    ("*.pypi.org", "test.pypi.org"),
    ("*.npmjs.org", "registry.npmjs.org"),
    ("*.docker.io", "registry-1.docker.io"),
    ("*.docker.io", "auth.docker.io"),
    ("*.debian.org", "deb.debian.org"),
    ("*.debian.org", "security.debian.org"),
    ("*.github.com", "api.github.com"),
    ("*.github.com", "codeload.github.com"),
    ("*.jsdelivr.net", "cdn.jsdelivr.net"),
    ("*.cloudflare.com", "cdnjs.cloudflare.com"),
    ("*.gstatic.com", "fonts.gstatic.com"),
    ("fonts.googleapis.com", "fonts.googleapis.com"),
    ("storage.googleapis.com", "storage.googleapis.com"),
    ("*.rust-lang.org", "static.rust-lang.org"),
    ("*.anthropic.com", "api.anthropic.com"),
    ("*.openai.com", "api.openai.com"),
];

#[tokio::test]
#[ignore = "reads thousands of files from this machine; run by hand (docs/benchmarks.md)"]
async fn fp_corpus() {
    let up = upstream::http().run().await;
    let port = up.port();
    let mut h = Harness::new();
    h.loopback();
    let mut patterns: Vec<&str> = HOSTS.iter().map(|(p, _)| *p).collect();
    patterns.dedup();
    for p in patterns {
        h.allow(&format!("{p}:{port}"));
    }
    for (_, name) in HOSTS {
        h.resolver.insert(name, ["127.0.0.1".parse().unwrap()]);
    }
    h.cfg.limits.scan_limit = 1 << 20;
    let proxy = h.start().await;

    let mut blocks: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut count = 0usize;
    let mut bytes = 0usize;
    let mut note = |what: String, r: &bottle_testkit::upstream::client::Reply| {
        if r.status != 200 {
            let why = r.header("x-bottle-block").unwrap_or("<none>").to_string();
            blocks.entry(why).or_default().push(what);
        }
    };

    // URLs: every path on every host.
    for (_, host) in HOSTS {
        for path in URLS {
            let r = get(proxy.addr(), &format!("http://{host}:{port}{path}")).await;
            count += 1;
            note(format!("GET {host}{path}"), &r);
        }
    }
    // GitHub API calls with a JSON body.
    let issue = serde_json::json!({
        "title": "Crash when parsing a config with a BOM",
        "body": "Steps:\n1. save the file as UTF-8 with BOM\n2. run `tool check`\n\nSee commit 7fd1a60b01f91b314f59955a4e4d4e80d8edf11d.",
        "labels": ["bug"],
    });
    let r = plain(
        proxy.addr(),
        "POST",
        &format!("http://api.github.com:{port}/repos/octocat/hello-world/issues"),
        &[
            ("accept", "application/vnd.github+json"),
            ("x-github-api-version", "2022-11-28"),
        ],
        issue.to_string(),
    )
    .await;
    count += 1;
    note("POST api.github.com issue".into(), &r);

    // Model API requests carrying real source code.
    let home = std::env::var("HOME").unwrap_or_default();
    let mut sources = Vec::new();
    files(
        &Path::new(&home).join(".cargo/registry/src"),
        "rs",
        3000,
        &mut sources,
    );
    let rust = sources.len();
    files(
        Path::new("/usr/lib/python3.11"),
        "py",
        rust + 1500,
        &mut sources,
    );
    for (i, f) in sources.iter().enumerate() {
        let Ok(code) = std::fs::read_to_string(f) else {
            continue;
        };
        let body = if i % 2 == 0 {
            serde_json::json!({
                "model": "claude-sonnet-4-5",
                "max_tokens": 4096,
                "system": "You are a coding agent.",
                "messages": [{"role": "user", "content": [{"type": "text", "text": format!("Review this file:\n\n```\n{code}\n```")}]}],
            })
        } else {
            serde_json::json!({
                "model": "gpt-5",
                "messages": [{"role": "user", "content": format!("Explain:\n{code}")}],
                "stream": true,
            })
        };
        let body = body.to_string();
        bytes += body.len();
        let host = if i % 2 == 0 {
            "api.anthropic.com"
        } else {
            "api.openai.com"
        };
        let r = plain(
            proxy.addr(),
            "POST",
            &format!("http://{host}:{port}/v1/messages"),
            &[("content-type", "application/json")],
            Bytes::from(body),
        )
        .await;
        count += 1;
        note(f.display().to_string(), &r);
    }
    println!(
        "fp corpus: {count} requests ({} source files: {rust} Rust, {} Python; {:.1} MiB of request bodies, {} URLs on {} hosts)",
        sources.len(),
        sources.len() - rust,
        bytes as f64 / (1 << 20) as f64,
        URLS.len(),
        HOSTS.len(),
    );
    let total: usize = blocks.values().map(Vec::len).sum();
    println!("blocked: {total}");
    for (why, what) in &blocks {
        println!("  {why}: {}", what.len());
        for w in what.iter().take(5) {
            println!("    {w}");
        }
    }
    // The proxy's own data rules must not fire on any of it.
    let data_rules = [
        "card-number",
        "iban",
        "crypto-wif-key",
        "crypto-seed-phrase",
        "crypto-private-key",
        "crypto-address",
        "crypto-eth-address",
        "high-entropy-value",
    ];
    let ours: usize = blocks
        .iter()
        .filter(|(w, _)| data_rules.iter().any(|r| w.ends_with(&format!(":{r}"))))
        .map(|(_, v)| v.len())
        .sum();
    assert_eq!(ours, 0, "data-rule blocks on benign traffic: {blocks:#?}");
}
