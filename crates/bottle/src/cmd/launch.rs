//! What `start` and `run` share: from a plan to a launched bottle — the
//! questions asked first, the values resolved, the images made, the
//! sidecars' files, the agent's setup — and the progress shown meanwhile.

use anyhow::{Context as _, bail};
use bottle_contract::{self as contract, Secret};
use bottle_docker::{Engine, LaunchSpec, Progress};
use bottle_manifest::{EnvValue, ManifestSet};
use bottle_plan::LaunchPlan;
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::time::Duration;

/// TEST ONLY: comma-separated Docker networks the sidecars (never the
/// agent) also join, so end-to-end tests can place upstream servers where
/// only the gates reach them. Documented in docs/ARCHITECTURE.md.
pub const TEST_SIDECAR_NETWORKS_ENV: &str = "BOTTLE_TEST_SIDECAR_NETWORKS";

/// Ask a y/N question on the terminal. `--yes` answers it; without a
/// terminal and without `--yes` the answer is no, with a message saying so.
pub fn confirm(yes: bool, question: &str) -> anyhow::Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        bail!(
            "stdin is not a terminal, so bottle cannot ask {question:?}; pass --yes to answer yes"
        );
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the answer")?;
    match line.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Ok(()),
        _ => bail!("not started"),
    }
}

/// Values resolved from the host environment or asked for. Never printed.
#[derive(Default)]
pub struct Values {
    /// The manifest's env values by name (the contract adds placeholders).
    pub env: BTreeMap<String, Secret>,
    /// Credential values by (host, header), lowercase as in the plan.
    pub credentials: BTreeMap<(String, String), Secret>,
    /// Git tokens by remote name.
    pub git_tokens: BTreeMap<String, Secret>,
    /// `--learn`: the proxy lets allowlist refusals through and records them.
    pub learn: bool,
}

fn resolve(v: &EnvValue, what: &str) -> anyhow::Result<String> {
    let lookup = |name: &str| std::env::var(name).ok();
    match v
        .resolve(&lookup)
        .map_err(|e| anyhow::anyhow!("{what}: {e}"))?
    {
        Some(s) => Ok(s),
        None => {
            let EnvValue::Ask(q) = v else {
                bail!("{what}: no value");
            };
            bottle_docker::session::read_hidden(&format!("{what}: {q} "))
                .with_context(|| format!("{what} asks {q:?} at start, but it cannot be asked"))
        }
    }
}

/// Resolve every value the launch needs (asking `?question` ones now, before
/// anything is created). Keyed by what the plan names: env names, a
/// credential's host and header, a remote's name.
pub fn resolve_values(set: &ManifestSet, plan: &LaunchPlan) -> anyhow::Result<Values> {
    let bottle = &set
        .bottles
        .get(&plan.bottle.name)
        .with_context(|| format!("bottle {:?} vanished from the manifest", plan.bottle.name))?
        .value;
    let mut out = Values::default();
    for (k, v) in &bottle.env {
        out.env.insert(k.clone(), Secret::new(resolve(v, k)?));
    }
    for c in &bottle.credentials {
        let what = format!("credential for {}", c.host);
        let value = resolve(&c.value, &what)?;
        if value.is_empty() {
            bail!("{what}: the value is empty");
        }
        out.credentials.insert(
            (c.host.to_ascii_lowercase(), c.header.to_ascii_lowercase()),
            Secret::new(value),
        );
    }
    for g in &bottle.git {
        if let Some(t) = &g.token {
            out.git_tokens.insert(
                g.name.clone(),
                Secret::new(resolve(t, &format!("token of git remote {}", g.name))?),
            );
        }
    }
    Ok(out)
}

/// The contract's values: the resolved ones, the host files the plan names
/// (read now), and the bottle's CA (generated now).
pub fn contract_values(plan: &LaunchPlan, values: &Values) -> anyhow::Result<contract::Values> {
    let ca = bottle_egress::ca::generate(&plan.instance).context("generating the bottle's CA")?;
    let mut v = contract::Values::new(contract::Ca {
        cert_pem: ca.cert_pem,
        key_pem: Secret::new(ca.key_pem),
    });
    v.env = values.env.clone();
    v.credentials = values.credentials.clone();
    v.git_tokens = values.git_tokens.clone();
    v.learn = values.learn;
    for f in contract::host_files(plan) {
        let bytes = std::fs::read(&f.path).with_context(|| format!("reading {}", f.what))?;
        v.host_files.insert(f.path, bytes);
    }
    Ok(v)
}

/// What `--learn` prints before the bottle starts, whatever `--yes` says.
pub const LEARN_BANNER: &str = "\
bottle: LEARN MODE: hosts that are NOT on the allowlist are let through and
bottle: recorded (rule `learned` in the audit log). Secret scanning (DLP), the
bottle: internal-address (SSRF), DNS-exfiltration and TLS checks stay enforced.
bottle: Afterwards `bottle why --learned` proposes the allowlist entries.
";

/// Everything the launch needs.
pub struct SpecInput<'a> {
    pub plan: &'a LaunchPlan,
    pub values: &'a Values,
    pub tty: bool,
    pub stdin: bool,
}

/// Build the launch spec: the contract's bundle (with a new CA) and how
/// the session attaches.
pub fn build_spec(i: SpecInput<'_>) -> anyhow::Result<LaunchSpec> {
    let values = contract_values(i.plan, i.values)?;
    let bundle = contract::bundle(i.plan, &values)?;
    let test_sidecar_networks = std::env::var(TEST_SIDECAR_NETWORKS_ENV)
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    Ok(LaunchSpec {
        plan: i.plan.clone(),
        bundle,
        tty: i.tty,
        stdin: i.stdin,
        term: std::env::var("TERM").ok().filter(|t| !t.is_empty()),
        tty_size: if i.tty {
            bottle_docker::session::window_size()
        } else {
            None
        },
        test_sidecar_networks,
        logs_root: bottle_docker::paths::logs_root(),
        health_timeout: Duration::from_secs(30),
    })
}

/// Progress of long work on stderr: phases, tool output, transfer counts.
pub fn show_progress(p: Progress<'_>) {
    match p {
        Progress::Phase(s) => eprintln!("bottle: {s}"),
        Progress::Line(s) => eprintln!("  {s}"),
        Progress::Bytes { what, done, total } => {
            let mb = |b: u64| b as f64 / (1024.0 * 1024.0);
            eprint!("\r  {what}: {:.0}/{:.0} MiB", mb(done), mb(total));
            if done >= total {
                eprintln!();
            }
            let _ = std::io::stderr().flush();
        }
    }
}

/// Launch phases: shown with `--verbose` only (builds always show).
pub fn launch_progress(verbose: bool) -> impl Fn(Progress<'_>) + Send + Sync {
    move |p| {
        if verbose {
            show_progress(p)
        }
    }
}

/// Make every image the plan uses; a missing base image that cannot be
/// pulled is bootstrapped from the host's packages after asking.
pub async fn ensure_images(engine: &Engine, plan: &LaunchPlan, yes: bool) -> anyhow::Result<()> {
    use bottle_docker::images;
    let offer = |why: &bottle_docker::Error| {
        eprintln!(
            "bottle: the base image {} is missing and cannot be pulled here ({why})",
            images::BASE_IMAGE
        );
        confirm(
            yes,
            "Build it from this machine's Debian packages with mmdebstrap (takes a few minutes)?",
        )
        .map_err(|e| bottle_docker::Error::ImageMissing {
            image: images::BASE_IMAGE.into(),
            hint: format!("{e}; or run `bottle image bootstrap` first"),
        })
    };
    let exe = std::path::Path::new("/proc/self/exe");
    Ok(images::ensure_plan(engine, plan, exe, offer, &show_progress).await?)
}

/// How a session's launch behaves.
pub struct SessionOpts {
    /// `--yes`: also accepts offers such as bootstrapping a missing base image.
    pub yes: bool,
    /// `--verbose`: show each launch step.
    pub verbose: bool,
    /// Grace period for the agent when the session did not end by itself.
    pub grace: Duration,
}

/// Plan `plan`'s agent again with `taken` instance names avoided (the
/// engine refused the name: another launch holds it). Everything else comes
/// out as before; the command line's command is kept.
pub fn replan(
    set: &ManifestSet,
    plan: &LaunchPlan,
    taken: std::collections::BTreeSet<String>,
) -> anyhow::Result<LaunchPlan> {
    let inputs = super::common::plan_inputs(Some(plan.agent.name.clone()), taken);
    let mut next = bottle_plan::plan(set, &inputs)?;
    next.agent.command = plan.agent.command.clone();
    next.agent.prompt = plan.agent.prompt.clone();
    Ok(next)
}

/// What `run` and `start` share once the values are resolved: connect,
/// check the runtime, make the images, reserve the instance name (which may
/// change the plan's), build the spec with `build`, launch, run `session`,
/// tear down whatever happened, and turn the outcome into the exit status
/// (the agent's code, or 128 + the signal that interrupted it).
pub fn launch_session(
    set: &ManifestSet,
    plan: &LaunchPlan,
    build: impl FnOnce(&LaunchPlan) -> anyhow::Result<LaunchSpec>,
    opts: SessionOpts,
    session: impl AsyncFnOnce(
        &bottle_docker::Bottle,
        &bottle_docker::cancel::Cancel,
    ) -> bottle_docker::Result<bottle_docker::session::Ended>,
) -> anyhow::Result<std::process::ExitCode> {
    use bottle_docker::session::Ended;
    let rt = runtime()?;
    let code = rt.block_on(async {
        let cancel = bottle_docker::cancel::on_signals()?;
        let engine = Engine::connect().await?;
        if let Some(r) = &plan.runtime {
            engine.check_runtime(r).await?;
        }
        cancel
            .race(async { Ok(ensure_images(&engine, plan, opts.yes).await) })
            .await??;
        let progress = launch_progress(opts.verbose);
        let (plan, reserved) = bottle_docker::reserve_free(&engine, plan, |p, taken| {
            replan(set, p, taken).map_err(|e| bottle_docker::Error::Invalid(format!("{e:#}")))
        })
        .await?;
        let spec = match build(&plan) {
            Ok(s) => s,
            Err(e) => {
                let mut reserved = reserved;
                report_teardown(&reserved.teardown(None).await);
                return Err(e);
            }
        };
        let mut bottle = bottle_docker::launch(reserved, &spec, &cancel, &progress).await?;
        progress(Progress::Phase("starting the agent"));
        let ended = session(&bottle, &cancel).await;
        progress(Progress::Phase("tearing down"));
        let grace = match ended {
            Ok(Ended::Exited(_)) => None,
            _ => Some(opts.grace),
        };
        let report = bottle.teardown(grace).await;
        progress(Progress::Phase("torn down"));
        report_teardown(&report);
        Ok::<u8, anyhow::Error>(match ended? {
            Ended::Exited(c) => {
                u8::try_from(c).unwrap_or(if c < 0 { 255 } else { (c % 256) as u8 })
            }
            Ended::Interrupted(sig) => {
                eprintln!("bottle: interrupted by {sig}; the bottle was torn down");
                signal_exit(sig)
            }
        })
    });
    // Do not wait for a stdin reader thread.
    rt.shutdown_background();
    exit_status(code)
}

/// A runtime for the Docker work.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Report a teardown's failures.
pub fn report_teardown(r: &bottle_docker::TeardownReport) {
    for e in &r.errors {
        eprintln!("warning: {e}");
    }
    if !r.errors.is_empty() {
        eprintln!("warning: some resources were left behind; `bottle cleanup` removes them");
    }
}

/// The exit status of a session: the agent's code, or for a launch that a
/// signal interrupted (everything created was removed), the signal's.
pub fn exit_status(r: anyhow::Result<u8>) -> anyhow::Result<std::process::ExitCode> {
    match r {
        Ok(c) => Ok(std::process::ExitCode::from(c)),
        Err(e) => match e.downcast_ref::<bottle_docker::Error>() {
            Some(bottle_docker::Error::Interrupted(sig)) => {
                eprintln!("bottle: interrupted by {sig}; everything it created was removed");
                Ok(std::process::ExitCode::from(signal_exit(sig)))
            }
            _ => Err(e),
        },
    }
}

/// Exit status for an interrupting signal (128 + its number).
pub fn signal_exit(sig: &str) -> u8 {
    match sig {
        "SIGHUP" => 129,
        "SIGINT" => 130,
        "SIGTERM" => 143,
        _ => 130,
    }
}
