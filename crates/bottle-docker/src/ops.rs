//! What `ls`, `stop`, `cleanup`, `logs` and `doctor` do, from labels alone.

use crate::engine::{Engine, MIN_API, MIN_ENGINE};
use crate::error::{Ctx, Error, Result};
use crate::images;
use crate::labels::{self, Liveness, Owner};
use crate::launch::{remove_container, remove_network, stop_gracefully};
use bollard::models::ContainerSummaryStateEnum;
use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListNetworksOptionsBuilder, LogsOptionsBuilder,
};
use futures_util::StreamExt;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

/// A container of an instance.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ContainerInfo {
    /// Engine id (what removal goes by).
    pub id: String,
    /// Name.
    pub name: String,
    /// `agent`, `egress`, `git` or `reservation` (the container holding
    /// the instance name, never started).
    pub role: String,
    /// The launch that made it (`bottle.launch`).
    pub launch: String,
    /// `created`, `running`, `exited`, ...
    pub state: String,
    /// `healthy`, `unhealthy`, `starting`, or empty when there is no check.
    pub health: String,
    /// Image reference.
    pub image: String,
}

/// A network of an instance.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NetworkInfo {
    /// Engine id (what removal goes by: names need not be unique).
    pub id: String,
    /// Name.
    pub name: String,
    /// `internal`, `egress` or `git-egress`.
    pub role: String,
}

/// One bottle, as its labelled resources describe it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Instance {
    /// Instance name.
    pub name: String,
    /// Agent name.
    pub agent: String,
    /// Bottle name.
    pub bottle: String,
    /// `running` (the agent runs), `starting` (its `bottle` process is
    /// launching it), `stopping` (the agent ended, teardown under way) or
    /// `orphaned` (its `bottle` process is gone: `bottle cleanup` removes it).
    pub state: String,
    /// Whether the owning `bottle` process runs (`null` when unknowable:
    /// another machine, or before a reboot).
    pub owner_alive: Option<bool>,
    /// Unix time of the oldest container.
    pub created: i64,
    /// Its containers.
    pub containers: Vec<ContainerInfo>,
    /// Its networks.
    pub networks: Vec<NetworkInfo>,
}

impl Instance {
    /// Whether `cleanup` should remove it: its owner is gone, or, when that
    /// cannot be told, nothing of it runs.
    pub fn is_gone(&self) -> bool {
        self.state == "orphaned"
    }
}

fn state_str(s: &Option<ContainerSummaryStateEnum>) -> String {
    s.as_ref()
        .map(|s| {
            serde_json::to_value(s)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default()
        })
        .unwrap_or_default()
}

/// Every instance with a labelled container or network.
pub async fn list(engine: &Engine) -> Result<Vec<Instance>> {
    let filters = HashMap::from([("label".to_string(), vec![labels::INSTANCE.to_string()])]);
    let containers = engine
        .docker()
        .list_containers(Some(
            ListContainersOptionsBuilder::default()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await
        .ctx(|| "listing containers".into())?;
    let networks = engine
        .docker()
        .list_networks(Some(
            ListNetworksOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await
        .ctx(|| "listing networks".into())?;

    #[derive(Default)]
    struct Acc {
        agent: String,
        bottle: String,
        owners: BTreeSet<String>,
        created: i64,
        containers: Vec<ContainerInfo>,
        networks: Vec<NetworkInfo>,
    }
    let mut by: BTreeMap<String, Acc> = BTreeMap::new();
    let take = |acc: &mut Acc, l: &HashMap<String, String>| {
        if let Some(a) = l.get(labels::AGENT) {
            acc.agent = a.clone();
        }
        if let Some(b) = l.get(labels::BOTTLE) {
            acc.bottle = b.clone();
        }
        if let Some(o) = l.get(labels::OWNER) {
            acc.owners.insert(o.clone());
        }
    };
    for c in containers {
        let l = c.labels.clone().unwrap_or_default();
        let Some(inst) = l.get(labels::INSTANCE) else {
            continue;
        };
        let acc = by.entry(inst.clone()).or_default();
        take(acc, &l);
        let created = c.created.unwrap_or(0);
        if acc.created == 0 || (created > 0 && created < acc.created) {
            acc.created = created;
        }
        let health = c
            .health
            .as_ref()
            .and_then(|h| h.status.as_ref())
            .map(|s| {
                serde_json::to_value(s)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default()
            })
            .unwrap_or_default();
        acc.containers.push(ContainerInfo {
            id: c.id.clone().unwrap_or_default(),
            launch: l.get(labels::LAUNCH).cloned().unwrap_or_default(),
            name: c
                .names
                .as_ref()
                .and_then(|n| n.first())
                .map(|n| n.trim_start_matches('/').to_string())
                .unwrap_or_default(),
            role: l.get(labels::ROLE).cloned().unwrap_or_default(),
            state: state_str(&c.state),
            health,
            image: c.image.clone().unwrap_or_default(),
        });
    }
    for n in networks {
        let l = n.labels.clone().unwrap_or_default();
        let Some(inst) = l.get(labels::INSTANCE) else {
            continue;
        };
        let acc = by.entry(inst.clone()).or_default();
        take(acc, &l);
        acc.networks.push(NetworkInfo {
            id: n.id.clone().unwrap_or_default(),
            name: n.name.clone().unwrap_or_default(),
            role: l.get(labels::ROLE).cloned().unwrap_or_default(),
        });
    }
    let mut out = Vec::new();
    for (name, mut acc) in by {
        acc.containers.sort_by(|a, b| a.name.cmp(&b.name));
        acc.networks.sort_by(|a, b| a.name.cmp(&b.name));
        // Several owners can only mean a leftover plus a new launch; the
        // instance lives if any owner does.
        let liveness: Vec<Liveness> = acc
            .owners
            .iter()
            .map(|o| {
                Owner::parse(o)
                    .map(|o| o.liveness())
                    .unwrap_or(Liveness::Dead)
            })
            .collect();
        let owner_alive = if liveness.contains(&Liveness::Alive) {
            Some(true)
        } else if liveness.contains(&Liveness::Unknown) {
            None
        } else {
            Some(false)
        };
        let agent_running = acc
            .containers
            .iter()
            .any(|c| c.role == labels::role::AGENT && c.state == "running");
        let state = match (owner_alive, agent_running) {
            (Some(true), true) => "running",
            (Some(true), false)
                if acc
                    .containers
                    .iter()
                    .any(|c| c.role == labels::role::AGENT && c.state != "created") =>
            {
                "stopping"
            }
            (Some(true), false) => "starting",
            (None, true) => "running",
            _ => "orphaned",
        };
        out.push(Instance {
            name,
            agent: acc.agent,
            bottle: acc.bottle,
            state: state.to_string(),
            owner_alive,
            created: acc.created,
            containers: acc.containers,
            networks: acc.networks,
        });
    }
    Ok(out)
}

/// Names of instances that have any labelled resource (what a new launch's
/// name must avoid).
pub async fn instance_names(engine: &Engine) -> Result<BTreeSet<String>> {
    Ok(list(engine).await?.into_iter().map(|i| i.name).collect())
}

/// What a removal did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Removed {
    /// Instances removed.
    pub instances: Vec<String>,
    /// Containers removed.
    pub containers: Vec<String>,
    /// Networks removed.
    pub networks: Vec<String>,
    /// Failures.
    pub errors: Vec<String>,
}

/// Remove everything of an instance, by id (so duplicates of a name, left
/// by an older version or another tool, go too): agents, the sidecars, the
/// networks, and the name's reservation last.
async fn remove_instance(engine: &Engine, inst: &Instance, out: &mut Removed) {
    let docker = engine.docker();
    let by_role = |agent: bool| -> Vec<&ContainerInfo> {
        inst.containers
            .iter()
            .filter(|c| c.role != labels::role::RESERVATION)
            .filter(|c| (c.role == labels::role::AGENT) == agent)
            .collect()
    };
    let reservations: Vec<&ContainerInfo> = inst
        .containers
        .iter()
        .filter(|c| c.role == labels::role::RESERVATION)
        .collect();
    for group in [by_role(true), by_role(false)] {
        let rs =
            futures_util::future::join_all(group.iter().map(|c| remove_container(docker, &c.id)))
                .await;
        for (c, r) in group.iter().zip(rs) {
            match r {
                Ok(true) => out.containers.push(c.name.clone()),
                Ok(false) => {}
                Err(e) => out.errors.push(e),
            }
        }
    }
    let rs =
        futures_util::future::join_all(inst.networks.iter().map(|n| remove_network(docker, &n.id)))
            .await;
    for (n, r) in inst.networks.iter().zip(rs) {
        match r {
            Ok(true) => out.networks.push(n.name.clone()),
            Ok(false) => {}
            Err(e) => out.errors.push(e),
        }
    }
    let rs = futures_util::future::join_all(
        reservations.iter().map(|c| remove_container(docker, &c.id)),
    )
    .await;
    for (c, r) in reservations.iter().zip(rs) {
        match r {
            Ok(true) => out.containers.push(c.name.clone()),
            Ok(false) => {}
            Err(e) => out.errors.push(e),
        }
    }
    out.instances.push(inst.name.clone());
}

/// Stop one bottle: SIGTERM to the agent (`grace` to exit), then remove
/// all its containers and networks. Its `bottle` process, if any, sees the
/// agent end and finds nothing left to tear down.
pub async fn stop(engine: &Engine, name: &str, grace: Duration) -> Result<Removed> {
    let all = list(engine).await?;
    let inst = all
        .into_iter()
        .find(|i| i.name == name)
        .ok_or_else(|| Error::NoSuchInstance(name.to_string()))?;
    for c in inst
        .containers
        .iter()
        .filter(|c| c.role == labels::role::AGENT)
    {
        stop_gracefully(engine, &c.id, grace).await;
    }
    let mut out = Removed::default();
    remove_instance(engine, &inst, &mut out).await;
    Ok(out)
}

/// Remove every labelled resource whose bottle is gone (see
/// [`Instance::is_gone`]); leave live ones alone.
pub async fn cleanup(engine: &Engine) -> Result<(Removed, Vec<String>)> {
    let mut out = Removed::default();
    let mut kept = Vec::new();
    for inst in list(engine).await? {
        if inst.is_gone() {
            remove_instance(engine, &inst, &mut out).await;
        } else {
            kept.push(inst.name);
        }
    }
    Ok((out, kept))
}

/// Which log `logs` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogSource {
    /// The egress proxy (its stdout is the audit log).
    Egress,
    /// The git gate.
    Git,
    /// The agent's own output.
    Agent,
}

impl LogSource {
    /// The container role.
    pub fn role(self) -> &'static str {
        match self {
            Self::Egress => labels::role::EGRESS,
            Self::Git => labels::role::GIT,
            Self::Agent => labels::role::AGENT,
        }
    }
}

/// One piece of a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogChunk {
    /// From stdout (for sidecars: audit lines, JSON).
    Out(Vec<u8>),
    /// From stderr (diagnostics).
    Err(Vec<u8>),
}

/// One launch of an instance whose logs can be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LaunchLogs {
    /// The launch id (`bottle.launch`).
    pub launch: String,
    /// Unix time it began (for a running one: its oldest container).
    pub started: u64,
    /// Unix time its logs were saved; `None` while it runs.
    pub ended: Option<u64>,
    /// Whether it still runs (its logs are read from the containers).
    pub running: bool,
    /// Where its saved logs are (`<state>/logs/<instance>/<launch id>/`).
    pub dir: Option<std::path::PathBuf>,
}

/// Every launch of instance `name` with logs: the saved ones (oldest first)
/// and, last, the one running now, if any.
pub async fn launches(engine: &Engine, name: &str) -> Result<Vec<LaunchLogs>> {
    let mut out: Vec<LaunchLogs> = crate::paths::logs_root()
        .map(|root| crate::paths::launches(&root, name))
        .unwrap_or_default()
        .into_iter()
        .map(|(dir, r)| LaunchLogs {
            launch: r.launch,
            started: r.started,
            ended: Some(r.ended),
            running: false,
            dir: Some(dir),
        })
        .collect();
    if let Some(inst) = list(engine).await?.into_iter().find(|i| i.name == name) {
        let mut live: BTreeMap<&str, u64> = BTreeMap::new();
        for c in inst
            .containers
            .iter()
            .filter(|c| c.role != labels::role::RESERVATION && !c.launch.is_empty())
        {
            live.entry(&c.launch)
                .or_insert(u64::try_from(inst.created).unwrap_or(0));
        }
        for (launch, started) in live {
            if !out.iter().any(|l| l.launch == launch) {
                out.push(LaunchLogs {
                    launch: launch.to_string(),
                    started,
                    ended: None,
                    running: true,
                    dir: None,
                });
            }
        }
    }
    Ok(out)
}

/// Which launch's log to read: the latest (the running one, else the last
/// saved), or the one whose id starts with the given text.
fn pick<'a>(all: &'a [LaunchLogs], name: &str, launch: Option<&str>) -> Result<&'a LaunchLogs> {
    match launch {
        None => all
            .iter()
            .rev()
            .find(|l| l.running)
            .or_else(|| all.last())
            .ok_or_else(|| Error::NoSuchInstance(name.to_string())),
        Some(id) => {
            let found: Vec<&LaunchLogs> = all
                .iter()
                .filter(|l| l.launch.starts_with(id) && !id.is_empty())
                .collect();
            match found.as_slice() {
                [one] => Ok(one),
                [] => Err(Error::Invalid(format!(
                    "bottle {name:?} has no launch {id:?} (`bottle logs {name} --list` lists them)"
                ))),
                _ => Err(Error::Invalid(format!(
                    "{id:?} names {} launches of {name:?}; give more of the id",
                    found.len()
                ))),
            }
        }
    }
}

/// Stream an instance's log to `sink`: of the latest launch (from the
/// running container, or the copy saved at its teardown), or of `launch`
/// (an id or a unique prefix of one; see [`launches`]).
pub async fn logs(
    engine: &Engine,
    name: &str,
    source: LogSource,
    follow: bool,
    launch: Option<&str>,
    mut sink: impl FnMut(LogChunk),
) -> Result<()> {
    let all = launches(engine, name).await?;
    let chosen = pick(&all, name, launch)?;
    let role = source.role();
    if !chosen.running {
        // Saved (sidecars only).
        let dir = chosen.dir.clone().unwrap_or_default();
        if !dir.join(format!("{role}.jsonl")).is_file() {
            return Err(Error::Invalid(format!(
                "launch {} of bottle {name:?} kept no {role} log",
                chosen.launch
            )));
        }
        let read = |f: String| std::fs::read(dir.join(f)).unwrap_or_default();
        sink(LogChunk::Out(read(format!("{role}.jsonl"))));
        sink(LogChunk::Err(read(format!("{role}.log"))));
        return Ok(());
    }
    let container = list(engine)
        .await?
        .into_iter()
        .find(|i| i.name == name)
        .and_then(|i| {
            i.containers
                .into_iter()
                .find(|c| c.role == role && c.launch == chosen.launch)
        })
        .map(|c| c.id)
        .ok_or_else(|| Error::Invalid(format!("bottle {name:?} has no {role} container")))?;
    let opts = LogsOptionsBuilder::default()
        .stdout(true)
        .stderr(true)
        .follow(follow)
        .build();
    let mut s = engine.long().logs(&container, Some(opts));
    while let Some(chunk) = s.next().await {
        use bollard::container::LogOutput;
        match chunk {
            Ok(LogOutput::StdErr { message }) => sink(LogChunk::Err(message.to_vec())),
            Ok(other) => sink(LogChunk::Out(other.into_bytes().to_vec())),
            Err(e) if crate::error::is_not_found(&e) => break,
            Err(e) => {
                return Err(Error::Api {
                    context: format!("reading the logs of {name}'s {role}"),
                    source: e,
                });
            }
        }
    }
    Ok(())
}

/// One line of `doctor`'s report.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// `ok`, `missing` (can be fixed by bottle) or `error`.
    pub status: String,
    /// What was found.
    pub detail: String,
    /// How to fix it.
    pub fix: Option<String>,
}

fn check(name: &str, status: &str, detail: impl Into<String>, fix: Option<&str>) -> Check {
    Check {
        name: name.into(),
        status: status.into(),
        detail: detail.into(),
        fix: fix.map(String::from),
    }
}

/// Everything `doctor` looks at.
pub struct DoctorInput<'a> {
    /// Runtime the current manifest asks for.
    pub runtime: Option<&'a str>,
    /// The sidecar tag of this binary.
    pub sidecar_tag: &'a str,
    /// The agent image the current manifest uses, if known.
    pub agent_image: Option<&'a str>,
}

/// Check the engine, its version, the runtime, the images and mmdebstrap.
pub async fn doctor(input: &DoctorInput<'_>) -> Vec<Check> {
    let mut out = Vec::new();
    let host = crate::engine::engine_host();
    let engine = match Engine::connect_any(Duration::from_secs(10)).await {
        Ok(e) => e,
        Err(e) => {
            out.push(check(
                "engine",
                "error",
                format!(
                    "cannot reach the Docker Engine at {host}: {}",
                    root_cause(&e)
                ),
                Some("start the engine, or set DOCKER_HOST; the user needs access to the socket"),
            ));
            out.push(mmdebstrap_check());
            return out;
        }
    };
    out.push(check(
        "engine",
        "ok",
        format!(
            "Docker Engine {} at {host} ({})",
            engine.version, engine.platform
        ),
        None,
    ));
    let min = format!("{}.{}", MIN_API.0, MIN_API.1);
    if engine.is_new_enough() {
        out.push(check(
            "api version",
            "ok",
            format!("API {} (minimum {min})", engine.api_version),
            None,
        ));
    } else {
        out.push(check(
            "api version",
            "error",
            format!("API {} is older than the minimum {min}", engine.api_version),
            Some(&format!("upgrade to Docker Engine {MIN_ENGINE} or newer")),
        ));
    }
    match engine.runtimes().await {
        Ok(names) => {
            let detail = format!("configured: {}", names.join(", "));
            match input.runtime {
                Some(r) if !names.iter().any(|n| n == r) => out.push(check(
                    "runtime",
                    "error",
                    format!("the manifest asks for {r:?}; {detail}"),
                    Some("install and register the runtime with the engine, or remove `runtime` from the manifest"),
                )),
                Some(r) => out.push(check("runtime", "ok", format!("{r} ({detail})"), None)),
                None => out.push(check("runtime", "ok", format!("default ({detail})"), None)),
            }
        }
        Err(e) => out.push(check("runtime", "error", e.to_string(), None)),
    }
    let mut image_checks = vec![
        (
            images::BASE_IMAGE.to_string(),
            "run `bottle image bootstrap` (or let `start` offer it)",
        ),
        (
            format!("{}:{}", images::EGRESS_REPO, input.sidecar_tag),
            "built from this binary by the next `start` or `run`",
        ),
        (
            format!("{}:{}", images::GIT_GATE_REPO, input.sidecar_tag),
            "built from this binary by the next `start` or `run` of a bottle with git remotes",
        ),
    ];
    if let Some(a) = input.agent_image {
        image_checks.push((
            a.to_string(),
            "built (presets) or pulled by the next `start` or `run`",
        ));
    }
    for (img, fix) in image_checks {
        match images::inspect(&engine, &img).await {
            Ok(Some(_)) => out.push(check("image", "ok", img, None)),
            Ok(None) => out.push(check("image", "missing", img, Some(fix))),
            Err(e) => out.push(check("image", "error", format!("{img}: {e}"), None)),
        }
    }
    out.extend(agent_checks(&engine).await);
    match list(&engine).await {
        Ok(all) => {
            let orphans: Vec<String> = all
                .iter()
                .filter(|i| i.is_gone())
                .map(|i| i.name.clone())
                .collect();
            if orphans.is_empty() {
                out.push(check(
                    "leftovers",
                    "ok",
                    format!("{} bottle(s) running, none orphaned", all.len()),
                    None,
                ));
            } else {
                out.push(check(
                    "leftovers",
                    "missing",
                    format!("orphaned: {}", orphans.join(", ")),
                    Some("run `bottle cleanup`"),
                ));
            }
        }
        Err(e) => out.push(check("leftovers", "error", e.to_string(), None)),
    }
    out.push(mmdebstrap_check());
    out
}

/// The agents the claude and codex presets install: the pinned version,
/// where it comes from, what the image on this engine has.
async fn agent_checks(engine: &Engine) -> Vec<Check> {
    use crate::agents::{self, AgentSource};
    let source = match AgentSource::from_env() {
        Ok(s) => s,
        Err(e) => {
            return vec![check(
                "agents",
                "error",
                e.to_string(),
                Some("unset it, or set it to pypi or npm"),
            )];
        }
    };
    let mut out = Vec::new();
    let mut need_pip = false;
    for (preset, pkg) in [
        (crate::images::AgentImage::Claude, &agents::CLAUDE_CODE),
        (crate::images::AgentImage::Codex, &agents::CODEX),
    ] {
        let reference = format!("bottle/agent-{}:latest", preset.as_str());
        let from = match source {
            AgentSource::Pypi if agents::is_cached(pkg) => {
                format!("PyPI {} (fetched)", pkg.pin())
            }
            AgentSource::Pypi => {
                need_pip = true;
                format!("PyPI {}, fetched with pip at the first build", pkg.pin())
            }
            AgentSource::Npm => format!(
                "npm {}@{} ({}=npm)",
                pkg.npm_package,
                pkg.agent_version,
                agents::SOURCE_ENV
            ),
        };
        let want = pkg.describe();
        let name = preset.as_str();
        match images::inspect(engine, &reference).await {
            Ok(Some(img)) => {
                let has = img
                    .config
                    .as_ref()
                    .and_then(|c| c.labels.as_ref())
                    .and_then(|l| l.get(images::AGENT_LABEL).cloned());
                match has {
                    Some(h) if h == want => out.push(check(
                        name,
                        "ok",
                        format!("{want} in {reference} (from {from})"),
                        None,
                    )),
                    other => out.push(check(
                        name,
                        "missing",
                        format!(
                            "{reference} has {}; bottle pins {want} (from {from})",
                            other.as_deref().unwrap_or("an unlabelled agent")
                        ),
                        Some("rebuilt by the next `start` or `run` of the preset"),
                    )),
                }
            }
            Ok(None) => out.push(check(
                name,
                "missing",
                format!("{want} (from {from}); {reference} not built yet"),
                Some("built by the next `start` or `run` of the preset, or `bottle image build --preset claude,codex`"),
            )),
            Err(e) => out.push(check(name, "error", format!("{reference}: {e}"), None)),
        }
    }
    if need_pip {
        out.push(pip_check());
    }
    out
}

fn pip_check() -> Check {
    match crate::agents::find_pip() {
        Some(v) => check("pip", "ok", v, None),
        None => check(
            "pip",
            "missing",
            "no pip runs here (`python3 -m pip`, pip3, pip); it fetches the claude and codex agents",
            Some(
                "apt-get install python3-pip, or set BOTTLE_AGENT_FROM=npm where the npm registry answers",
            ),
        ),
    }
}

fn mmdebstrap_check() -> Check {
    match std::process::Command::new("mmdebstrap")
        .arg("--version")
        .output()
    {
        Ok(o) if o.status.success() => check(
            "mmdebstrap",
            "ok",
            String::from_utf8_lossy(&o.stdout).trim().to_string(),
            None,
        ),
        _ => check(
            "mmdebstrap",
            "missing",
            "not installed (only needed by `bottle image bootstrap`)",
            Some("apt-get install mmdebstrap"),
        ),
    }
}

fn root_cause(e: &Error) -> String {
    match e {
        Error::Unreachable { source, .. } => source.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::HealthStatusEnum;

    fn launch(id: &str, running: bool) -> LaunchLogs {
        LaunchLogs {
            launch: id.into(),
            started: 1,
            ended: (!running).then_some(2),
            running,
            dir: None,
        }
    }

    #[test]
    fn the_latest_launch_is_the_running_one_else_the_last_saved() {
        let saved = [launch("aa11", false), launch("bb22", false)];
        assert_eq!(pick(&saved, "x", None).unwrap().launch, "bb22");
        let with_live = [
            launch("aa11", false),
            launch("cc33", true),
            launch("bb22", false),
        ];
        assert_eq!(pick(&with_live, "x", None).unwrap().launch, "cc33");
        assert!(matches!(
            pick(&[], "x", None),
            Err(Error::NoSuchInstance(n)) if n == "x"
        ));
    }

    #[test]
    fn a_launch_is_chosen_by_a_unique_prefix_of_its_id() {
        let all = [
            launch("aa11", false),
            launch("aa22", false),
            launch("bb", false),
        ];
        assert_eq!(pick(&all, "x", Some("aa2")).unwrap().launch, "aa22");
        assert_eq!(pick(&all, "x", Some("bb")).unwrap().launch, "bb");
        let e = pick(&all, "x", Some("aa")).unwrap_err().to_string();
        assert!(e.contains("names 2 launches"), "{e}");
        let e = pick(&all, "x", Some("zz")).unwrap_err().to_string();
        assert!(
            e.contains("has no launch \"zz\"") && e.contains("--list"),
            "{e}"
        );
        assert!(pick(&all, "x", Some("")).is_err());
    }

    #[test]
    fn health_and_state_enums_render_as_the_engine_spells_them() {
        assert_eq!(
            state_str(&Some(ContainerSummaryStateEnum::RUNNING)),
            "running"
        );
        assert_eq!(
            serde_json::to_value(HealthStatusEnum::HEALTHY).unwrap(),
            serde_json::json!("healthy")
        );
    }
}
