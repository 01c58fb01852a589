//! What `start` and `run` share: from a plan to a launched bottle — the
//! questions asked first, the values resolved, the images made, the
//! sidecars' files, the agent's setup — and the progress shown meanwhile.

use anyhow::{Context as _, bail};
use bottle_docker::launch::paths;
use bottle_docker::{AgentSpec, Engine, FileSpec, LaunchSpec, Progress};
use bottle_manifest::{EnvValue, ManifestSet, Preset};
use bottle_plan::{ImagePlan, LaunchPlan};
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
    /// Agent environment (manifest values and credential placeholders).
    pub env: Vec<(String, String)>,
    /// Credentials for the proxy: host, header, real value.
    pub credentials: Vec<(String, String, String)>,
    /// Git tokens by remote name.
    pub git_tokens: BTreeMap<String, String>,
    /// `--learn`: the proxy lets allowlist refusals through and records them.
    pub learn: bool,
}

/// What an agent's environment variable holds in place of a credential.
pub fn placeholder(var: &str) -> String {
    format!(
        "bottle-placeholder-{}",
        var.to_ascii_lowercase().replace('_', "-")
    )
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
/// anything is created).
pub fn resolve_values(set: &ManifestSet, plan: &LaunchPlan) -> anyhow::Result<Values> {
    let bottle = &set
        .bottles
        .get(&plan.bottle.name)
        .with_context(|| format!("bottle {:?} vanished from the manifest", plan.bottle.name))?
        .value;
    let mut out = Values::default();
    for (k, v) in &bottle.env {
        out.env.push((k.clone(), resolve(v, k)?));
    }
    for c in &bottle.credentials {
        let what = format!("credential for {}", c.host);
        let value = resolve(&c.value, &what)?;
        if value.is_empty() {
            bail!("{what}: the value is empty");
        }
        out.credentials.push((
            c.host.to_ascii_lowercase(),
            c.header.to_ascii_lowercase(),
            value,
        ));
        if let Some(var) = &c.agent_env {
            out.env.push((var.clone(), placeholder(var)));
        }
    }
    for g in &bottle.git {
        if let Some(t) = &g.token {
            out.git_tokens.insert(
                g.name.clone(),
                resolve(t, &format!("token of git remote {}", g.name))?,
            );
        }
    }
    Ok(out)
}

/// The egress proxy's files: its config, the bottle CA, extra upstream roots.
pub fn egress_files(
    plan: &LaunchPlan,
    values: &Values,
    ca: &bottle_egress::ca::GeneratedCa,
) -> anyhow::Result<Vec<FileSpec>> {
    let uid = paths::EGRESS_UID;
    let mut files = Vec::new();
    let mut cfg = bottle_egress::Config::new(plan.instance.clone(), paths::CA_CERT, paths::CA_KEY);
    cfg.listen = std::net::SocketAddr::from(([0, 0, 0, 0], bottle_plan::EGRESS_PORT));
    cfg.allowlist = plan
        .egress
        .allowlist
        .iter()
        .map(|r| {
            let host = match r.port {
                Some(p) => format!("{}:{p}", r.host),
                None => r.host.clone(),
            };
            if r.methods.is_empty() && r.paths.is_empty() {
                bottle_egress::AllowEntry::Host(host)
            } else {
                bottle_egress::AllowEntry::Rule {
                    host,
                    methods: r.methods.clone(),
                    paths: r.paths.clone(),
                }
            }
        })
        .collect();
    cfg.passthrough = plan.egress.passthrough.clone();
    cfg.allow_cidrs = plan.egress.allow_cidrs.clone();
    cfg.hosts = plan.egress.hosts.clone();
    cfg.learn = values.learn;
    cfg.credentials = values
        .credentials
        .iter()
        .map(|(host, header, value)| bottle_egress::Credential {
            host: host.clone(),
            header: header.clone(),
            value: bottle_egress::Secret::new(value.clone()),
            // Reflected in a response, the value becomes what the agent holds.
            placeholder: plan
                .credentials
                .iter()
                .find(|c| &c.host == host && &c.header == header)
                .and_then(|c| c.agent_env.as_deref())
                .map(placeholder),
        })
        .collect();
    let d = &plan.egress.dlp;
    cfg.dlp = bottle_egress::DlpData {
        cards: d.cards,
        iban: d.iban,
        crypto_keys: d.crypto_keys,
        crypto_addresses: d.crypto_addresses,
    };
    cfg.dlp_allow = plan
        .egress
        .dlp_allow
        .iter()
        .map(|a| bottle_egress::DlpAllow {
            host: a.host.clone(),
            fingerprint: a.fingerprint.clone(),
        })
        .collect();
    // The bottle's own secrets: env values the proxy blocks everywhere.
    for (name, value) in &values.env {
        let Some(e) = plan.env.iter().find(|e| &e.name == name) else {
            continue;
        };
        let secret = match e.known_secret.as_str() {
            "yes" => !value.is_empty(),
            "if-secret-looking" => bottle_egress::looks_secret(value),
            _ => false,
        };
        if secret {
            cfg.known_secrets.push(bottle_egress::KnownSecret {
                name: format!("env {name}"),
                value: bottle_egress::Secret::new(value.clone()),
            });
        }
    }
    for (i, host_path) in plan.egress.upstream_ca.iter().enumerate() {
        let pem = std::fs::read(host_path)
            .with_context(|| format!("reading egress.upstream_ca {host_path}"))?;
        let inside = format!("{}/{i}.pem", paths::UPSTREAM_CA_DIR);
        files.push(FileSpec::new(inside.clone(), pem, 0o444, uid));
        cfg.upstream_ca.push(inside.into());
    }
    cfg.validate().context("the egress proxy's config")?;
    let text = cfg.to_toml().context("writing the egress proxy's config")?;
    files.push(FileSpec::new(paths::EGRESS_CONFIG, text, 0o400, uid));
    files.push(FileSpec::new(
        paths::CA_CERT,
        ca.cert_pem.clone(),
        0o444,
        uid,
    ));
    files.push(FileSpec::new(paths::CA_KEY, ca.key_pem.clone(), 0o400, uid));
    Ok(files)
}

/// The git gate's files (config, keys) and the agent's git config.
pub fn git_files(
    set: &ManifestSet,
    plan: &LaunchPlan,
    values: &Values,
) -> anyhow::Result<(Vec<FileSpec>, Option<String>)> {
    if plan.git.is_empty() {
        return Ok((Vec::new(), None));
    }
    let bottle = &set
        .bottles
        .get(&plan.bottle.name)
        .with_context(|| format!("bottle {:?} vanished from the manifest", plan.bottle.name))?
        .value;
    let uid = paths::GIT_UID;
    let mut files = Vec::new();
    let mut remotes = Vec::new();
    for (g, gp) in bottle.git.iter().zip(&plan.git) {
        let mut identity_file = None;
        if let Some(rest) = gp.credential.strip_prefix("identity_file ") {
            let key = std::fs::read(rest)
                .with_context(|| format!("reading the identity_file of git remote {}", g.name))?;
            let inside = format!("{}/{}.key", paths::GIT_SECRETS_DIR, g.name);
            files.push(FileSpec::new(inside.clone(), key, 0o400, uid));
            identity_file = Some(inside.into());
        }
        remotes.push(bottle_gitgate::Remote {
            name: g.name.clone(),
            upstream: g.upstream.clone(),
            identity_file,
            known_host_key: g.known_host_key.clone(),
            token: values
                .git_tokens
                .get(&g.name)
                .map(|t| bottle_gitgate::Secret::new(t.clone())),
            token_file: None,
            username: None,
            ca_file: None,
            dangerously_allow_plain_http: false,
            allow: g
                .allow
                .iter()
                .map(|a| bottle_gitgate::ScanAllow {
                    path: a.path.clone(),
                    fingerprint: a.fingerprint.clone(),
                    reason: a.reason.clone(),
                })
                .collect(),
        });
    }
    let cfg = bottle_gitgate::Config {
        listen: std::net::SocketAddr::from(([0, 0, 0, 0], bottle_plan::GIT_GATE_PORT)),
        bottle: plan.instance.clone(),
        data_dir: format!("{}/mirrors", paths::GIT_DATA_DIR).into(),
        git: "git".into(),
        ssh: "ssh".into(),
        audit: bottle_gitgate::AuditTarget::Stdout,
        scan: Default::default(),
        upstream_timeout_secs: 600,
        hook_command: Vec::new(),
        remotes,
    };
    cfg.validate().context("the git gate's config")?;
    let text = cfg.to_toml().context("writing the git gate's config")?;
    files.push(FileSpec::new(paths::GIT_CONFIG, text, 0o400, uid));
    let git_container = plan
        .containers
        .iter()
        .find(|c| c.role == "git")
        .map(|c| c.name.clone())
        .context("the plan has git remotes but no git gate")?;
    let gitconfig = bottle_gitgate::agent_gitconfig(
        cfg.remotes
            .iter()
            .map(|r| (r.name.as_str(), r.upstream.as_str())),
        &format!("http://{git_container}:{}", bottle_plan::GIT_GATE_PORT),
    )?;
    Ok((files, Some(gitconfig)))
}

/// The agent's command: the plan's, plus the manifest's prompt for the
/// claude and codex presets when neither the agent nor the command line
/// names a command.
pub fn agent_command(set: &ManifestSet, plan: &LaunchPlan, overridden: bool) -> Vec<String> {
    let mut cmd = plan.agent.command.clone();
    if overridden {
        return cmd;
    }
    if let Some(a) = set.agents.get(&plan.agent.name)
        && a.value.command.is_none()
        && matches!(plan.agent.preset, Preset::Claude | Preset::Codex)
        && let Some(p) = &a.value.prompt
    {
        cmd.push(p.clone());
    }
    cmd
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
    pub set: &'a ManifestSet,
    pub plan: &'a LaunchPlan,
    pub values: &'a Values,
    pub command_overridden: bool,
    pub tty: bool,
    pub stdin: bool,
}

/// Build the launch spec (generates the bottle's CA).
pub fn build_spec(i: SpecInput<'_>) -> anyhow::Result<LaunchSpec> {
    let ca = bottle_egress::ca::generate(&i.plan.instance).context("generating the bottle's CA")?;
    let egress_files = egress_files(i.plan, i.values, &ca)?;
    let (git_files, gitconfig) = git_files(i.set, i.plan, i.values)?;
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
        egress_files,
        git_files,
        agent: AgentSpec {
            command: agent_command(i.set, i.plan, i.command_overridden),
            env: i.values.env.clone(),
            ca_cert_pem: ca.cert_pem.clone(),
            gitconfig,
            policy: Some(super::policy::policy_md(i.plan)),
            tty: i.tty,
            stdin: i.stdin,
            workdir: i.plan.mounts.first().map(|m| m.target.clone()),
            term: std::env::var("TERM").ok().filter(|t| !t.is_empty()),
            tty_size: if i.tty {
                bottle_docker::session::window_size()
            } else {
                None
            },
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

/// Make every image the plan uses: the base (pulled and built where a
/// registry is reachable, else bootstrapped from the host's packages after
/// asking), the sidecars (from this binary), the agent's.
pub async fn ensure_images(engine: &Engine, plan: &LaunchPlan, yes: bool) -> anyhow::Result<()> {
    use bottle_docker::images;
    let progress = &show_progress;
    if images::inspect(engine, images::BASE_IMAGE).await?.is_none() {
        eprintln!("bottle: the base image {} is missing", images::BASE_IMAGE);
        let pulled = images::build_base_from_registry(engine, progress).await;
        if let Err(e) = pulled {
            eprintln!("bottle: it cannot be pulled here ({e})");
            confirm(
                yes,
                "Build it from this machine's Debian packages with mmdebstrap (takes a few minutes)?",
            )
            .map_err(|e| anyhow::anyhow!("{e}; or run `bottle image bootstrap` first"))?;
            bottle_docker::bootstrap::bootstrap(engine, &Default::default(), progress).await?;
        }
    }
    let tag = plan
        .containers
        .iter()
        .find(|c| c.role == "egress")
        .and_then(|c| c.image.rsplit_once(':'))
        .map(|(_, t)| t.to_string())
        .context("the plan has no egress sidecar")?;
    let with_git = plan.containers.iter().any(|c| c.role == "git");
    images::ensure_sidecars(
        engine,
        &tag,
        std::path::Path::new("/proc/self/exe"),
        with_git,
        progress,
    )
    .await?;
    match &plan.image {
        ImagePlan::Preset { preset, reference } => {
            images::ensure_preset(engine, *preset, reference, progress).await?
        }
        ImagePlan::Image { reference } => {
            images::ensure_reference(engine, reference, progress).await?
        }
        ImagePlan::Dockerfile { path, tag } => {
            images::build_dockerfile(engine, std::path::Path::new(path), tag, progress).await?
        }
    }
    Ok(())
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
    Ok(next)
}

/// Reserve an instance name on the engine, the arbiter between launches
/// that run at once: try the plan's name, and on a refusal plan again with
/// the next free one. Returns the plan that holds its name.
pub async fn reserve(
    engine: &Engine,
    set: &ManifestSet,
    plan: &LaunchPlan,
) -> anyhow::Result<(LaunchPlan, bottle_docker::Bottle)> {
    let mut plan = plan.clone();
    let mut taken = std::collections::BTreeSet::new();
    // Each refusal means another launch took a name since we looked; a
    // bound only guards against an engine that refuses everything.
    for _ in 0..1000 {
        if let Some(b) = bottle_docker::reserve(engine, &plan).await? {
            return Ok((plan, b));
        }
        taken.insert(plan.instance.clone());
        taken.extend(bottle_docker::ops::instance_names(engine).await?);
        plan = replan(set, &plan, taken.clone())?;
    }
    bail!(
        "no free instance name for agent {:?} after 1000 tries",
        plan.agent.name
    )
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
        let (plan, reserved) = reserve(&engine, set, plan).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_name_the_variable_and_hold_no_value() {
        assert_eq!(
            placeholder("ANTHROPIC_API_KEY"),
            "bottle-placeholder-anthropic-api-key"
        );
    }
}

#[cfg(test)]
#[path = "launch_dlp_tests.rs"]
mod dlp_tests;
