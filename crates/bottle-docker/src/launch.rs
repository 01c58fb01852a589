//! Executing a [`LaunchPlan`]'s networks and a contract
//! [`Bundle`]'s container specs: networks → sidecars (created as the spec
//! says — image, user, argv, health check, init — files copied in, started,
//! healthy) → the agent (created, its files and the trust bundle copied in;
//! the session starts it). Nothing here decides what a container gets: that
//! is `bottle-contract`'s. Teardown runs in reverse.
//!
//! Every resource is labelled with the instance, its role, the launch id and
//! the owner process, and is recorded as soon as the engine confirms it, so
//! an error at any step tears down exactly what this launch made — never a
//! same-named resource another launch made.

use crate::cancel::Cancel;
use crate::engine::Engine;
use crate::error::{Ctx, Error, Result, is_conflict, is_not_found};
use crate::labels::{self, Owner};
use crate::progress::{Progress, ProgressFn};
use crate::tar::{self, Archive};
use bollard::models::{
    ContainerCreateBody, EndpointSettings, HealthConfig, HostConfig, Mount, MountType,
    NetworkConnectRequest, NetworkCreateRequest, NetworkingConfig,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, DownloadFromContainerOptionsBuilder,
    KillContainerOptionsBuilder, ListContainersOptionsBuilder, ListNetworksOptionsBuilder,
    LogsOptionsBuilder, RemoveContainerOptionsBuilder, UploadToContainerOptionsBuilder,
};
pub use bottle_contract::File;
use bottle_contract::{Bundle, Sidecar};
use bottle_plan::{LaunchPlan, Role};
use futures_util::StreamExt;
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Everything a launch needs: the plan (networks, labels), the contract's
/// bundle (what each container gets) and how the session attaches.
#[derive(Debug, Clone)]
pub struct LaunchSpec {
    /// The plan.
    pub plan: LaunchPlan,
    /// The sidecars' and the agent's specs, configs and files.
    pub bundle: Bundle,
    /// Allocate a TTY (interactive `start`).
    pub tty: bool,
    /// Keep stdin open (interactive, or input piped to `run`).
    pub stdin: bool,
    /// `TERM` for a TTY session.
    pub term: Option<String>,
    /// Initial terminal size (rows, columns) for a TTY session.
    pub tty_size: Option<(u16, u16)>,
    /// TEST ONLY: extra networks joined by the sidecars (never the agent),
    /// so tests can put upstream servers where only the gates reach them.
    /// Set from `BOTTLE_TEST_SIDECAR_NETWORKS` by the binary.
    pub test_sidecar_networks: Vec<String>,
    /// The logs directory (`<state>/logs`): at teardown the sidecars' logs
    /// are saved under `<logs_root>/<instance>/<launch id>/` (see
    /// [`crate::paths::launch_log_dir`]), so no launch overwrites another's.
    pub logs_root: Option<PathBuf>,
    /// How long sidecars get to become healthy.
    pub health_timeout: Duration,
}

/// A resource this launch made, by the id the engine gave it (names of
/// networks need not be unique; ids are).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Res {
    Network {
        id: String,
        name: String,
    },
    Container {
        id: String,
        name: String,
        role: String,
    },
}

/// The container that holds an instance name for one launch:
/// `bottle-<instance>-reserved`. Container names are unique on an engine,
/// so creating it is the atomic check that no other launch uses the name;
/// it is created first, never started, and removed last.
pub fn reservation_name(instance: &str) -> String {
    format!("bottle-{instance}-reserved")
}

/// A launched (or partly launched) bottle. Call [`Bottle::teardown`]; if it
/// is dropped without one, the drop tears it down synchronously.
pub struct Bottle {
    engine: Engine,
    /// Instance name.
    pub instance: String,
    /// Launch id (the `bottle.launch` label).
    pub launch_id: String,
    /// The agent container's name.
    pub agent: String,
    owner: Owner,
    created: Arc<Mutex<Vec<Res>>>,
    /// Network ids by plan name, once created.
    networks: HashMap<String, String>,
    started: std::time::SystemTime,
    agent_name: String,
    bottle_name: String,
    logs_root: Option<PathBuf>,
    torn_down: bool,
}

impl fmt::Debug for Bottle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bottle")
            .field("instance", &self.instance)
            .field("launch_id", &self.launch_id)
            .finish()
    }
}

/// What a teardown did.
#[derive(Debug, Default, Clone)]
pub struct TeardownReport {
    /// Containers removed.
    pub containers: Vec<String>,
    /// Networks removed.
    pub networks: Vec<String>,
    /// Failures (the resource is left for `bottle cleanup`).
    pub errors: Vec<String>,
    /// Where the sidecar logs were saved.
    pub logs_saved: Option<PathBuf>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Reserve a free instance name, the engine being the arbiter between
/// launches that run at once: try `plan`'s name, and on a refusal ask
/// `replan` for a plan that avoids every name taken so far (the refused
/// ones and those of the bottles the engine holds). Returns the plan that
/// holds its name and its bottle.
pub async fn reserve_free(
    engine: &Engine,
    plan: &LaunchPlan,
    mut replan: impl FnMut(&LaunchPlan, BTreeSet<String>) -> Result<LaunchPlan>,
) -> Result<(LaunchPlan, Bottle)> {
    let mut plan = plan.clone();
    let mut taken = BTreeSet::new();
    // Each refusal means another launch took a name since we looked; the
    // bound only guards against an engine that refuses everything.
    for _ in 0..1000 {
        if let Some(b) = reserve(engine, &plan).await? {
            return Ok((plan, b));
        }
        taken.insert(plan.instance.clone());
        taken.extend(crate::ops::instance_names(engine).await?);
        let next = replan(&plan, taken.clone())?;
        if taken.contains(&next.instance) {
            return Err(Error::Invalid(format!(
                "planning again gave the taken instance name {:?}",
                next.instance
            )));
        }
        plan = next;
    }
    Err(Error::Invalid(format!(
        "no free instance name for agent {:?} after 1000 tries",
        plan.agent.name
    )))
}

/// Reserve `plan`'s instance name on the engine: create its reservation
/// container ([`reservation_name`]), labelled like every resource of the
/// launch. `Ok(None)` when the name is taken (the engine answered 409: another
/// launch, running or left behind, holds it); plan again with the next name.
/// The returned bottle holds only the reservation; [`launch`] builds on it,
/// and its teardown removes the reservation last.
pub async fn reserve(engine: &Engine, plan: &LaunchPlan) -> Result<Option<Bottle>> {
    let agent = plan
        .containers
        .iter()
        .find(|c| c.role == Role::Agent)
        .map(|c| c.name.clone())
        .ok_or_else(|| Error::Invalid("the plan has no agent container".into()))?;
    // Any image the launch has made sure of will do: it never runs.
    let image = plan
        .containers
        .iter()
        .find(|c| c.role == Role::Egress)
        .map(|c| c.image.clone())
        .ok_or_else(|| Error::Invalid("the plan has no egress sidecar".into()))?;
    let bottle = Bottle {
        engine: engine.clone(),
        instance: plan.instance.clone(),
        launch_id: labels::random_id(),
        agent,
        owner: Owner::current(),
        created: Arc::new(Mutex::new(Vec::new())),
        networks: HashMap::new(),
        started: std::time::SystemTime::now(),
        agent_name: plan.agent.name.clone(),
        bottle_name: plan.bottle.name.clone(),
        logs_root: None,
        torn_down: false,
    };
    let name = reservation_name(&plan.instance);
    let body = ContainerCreateBody {
        image: Some(image),
        labels: Some(bottle.labels(plan, labels::role::RESERVATION)),
        network_disabled: Some(true),
        host_config: Some(HostConfig {
            network_mode: Some("none".into()),
            cap_drop: Some(vec!["ALL".into()]),
            ..Default::default()
        }),
        ..Default::default()
    };
    match engine
        .docker()
        .create_container(
            Some(CreateContainerOptionsBuilder::default().name(&name).build()),
            body,
        )
        .await
    {
        Ok(r) => {
            bottle.record(Res::Container {
                id: r.id,
                name,
                role: labels::role::RESERVATION.into(),
            });
            Ok(Some(bottle))
        }
        Err(e) if is_conflict(&e) => Ok(None),
        Err(source) => Err(Error::Api {
            context: format!("creating container {name}"),
            source,
        }),
    }
}

/// Launch `spec` on a bottle [`reserve`] returned for its plan: create
/// everything up to the agent container (created, not started). On any
/// error, or when `cancel` is set, whatever was created (the reservation
/// too) is torn down before this returns.
pub async fn launch(
    mut bottle: Bottle,
    spec: &LaunchSpec,
    cancel: &Cancel,
    progress: ProgressFn<'_>,
) -> Result<Bottle> {
    if bottle.instance != spec.plan.instance {
        bottle.teardown(None).await;
        return Err(Error::Invalid(format!(
            "the launch of {:?} was reserved for {:?}",
            spec.plan.instance, bottle.instance
        )));
    }
    bottle.logs_root = spec.logs_root.clone();
    match bottle.steps(spec, cancel, progress).await {
        Ok(()) => Ok(bottle),
        Err(e) => {
            progress(Progress::Phase("launch failed; tearing down"));
            let report = bottle.teardown(None).await;
            for err in &report.errors {
                progress(Progress::Line(err));
            }
            Err(e)
        }
    }
}

impl Bottle {
    fn labels(&self, plan: &LaunchPlan, role: &str) -> HashMap<String, String> {
        labels::resource_labels(&plan.labels, role, &self.launch_id, &self.owner)
    }

    fn record(&self, r: Res) {
        lock(&self.created).push(r);
    }

    async fn steps(
        &mut self,
        spec: &LaunchSpec,
        cancel: &Cancel,
        progress: ProgressFn<'_>,
    ) -> Result<()> {
        let plan = &spec.plan;
        let engine = self.engine.clone();
        cancel.check()?;

        // 1. Networks.
        progress(Progress::Phase("creating networks"));
        let nets = plan.networks.iter().map(|n| {
            let mut options = HashMap::new();
            if n.internal {
                // No address for the host on the internal bridge: the
                // agent's default route then leads nowhere, so it cannot
                // reach the host's own services through the gateway.
                options.insert(
                    "com.docker.network.bridge.inhibit_ipv4".to_string(),
                    "true".to_string(),
                );
            }
            let req = NetworkCreateRequest {
                name: n.name.clone(),
                driver: Some("bridge".into()),
                internal: Some(n.internal),
                attachable: Some(false),
                options: Some(options),
                labels: Some(self.labels(plan, n.role.as_str())),
                ..Default::default()
            };
            let engine = engine.clone();
            let name = n.name.clone();
            async move {
                let r = engine
                    .docker()
                    .create_network(req)
                    .await
                    .ctx(|| format!("creating network {name}"));
                (name, r)
            }
        });
        let mut first_err = None;
        for (name, r) in futures_util::future::join_all(nets).await {
            match r {
                Ok(created) => {
                    self.networks.insert(name.clone(), created.id.clone());
                    self.record(Res::Network {
                        id: created.id,
                        name,
                    });
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_err {
            return Err(e);
        }
        cancel.check()?;

        // 2. Sidecars: create, join their networks, copy files in, start.
        // Networks are named by the plan but addressed by id from here on:
        // a name another tool (or an older bottle) also used is ambiguous.
        let int = plan
            .networks
            .iter()
            .find(|n| n.internal)
            .and_then(|n| self.networks.get(&n.name).cloned())
            .ok_or_else(|| Error::Invalid("the plan has no internal network".into()))?;
        let sidecars: Vec<&Sidecar> = spec.bundle.sidecars().collect();
        progress(Progress::Phase("starting sidecars"));
        let this = &*self;
        let starts = sidecars.iter().map(|c| this.start_sidecar(plan, c, &int));
        for r in futures_util::future::join_all(starts).await {
            r?;
        }
        cancel.check()?;

        // 3. Health checks, and meanwhile the agent: it needs only the
        // sidecars' addresses, known once they started. The agent's creation
        // always runs to completion (a signal only cuts the checks short),
        // so nothing is created behind the teardown's back.
        let mut ips = Vec::new();
        for c in &sidecars {
            let ip = match container_ip(&engine, &c.name, &int).await {
                Ok(ip) => ip,
                // No address: it already exited; say why.
                Err(e) => {
                    return Err(exited(&engine, &c.name, c.role.as_str()).await.unwrap_or(e));
                }
            };
            ips.push((c.name.clone(), c.role, ip));
        }
        progress(Progress::Phase(
            "waiting for the sidecars to be healthy; creating the agent",
        ));
        let checks = sidecars.iter().map(|c| {
            wait_healthy(
                &engine,
                &c.name,
                c.role.as_str(),
                &c.health,
                spec.health_timeout,
            )
        });
        let healthy = cancel.race(async {
            for r in futures_util::future::join_all(checks).await {
                r?;
            }
            Ok(())
        });
        let connects = sidecars
            .iter()
            .map(|c| self.connect_rest(c, &int, &spec.test_sidecar_networks));
        let connected = async {
            for r in futures_util::future::join_all(connects).await {
                r?;
            }
            Ok::<(), Error>(())
        };
        let (healthy, agent, connected) =
            tokio::join!(healthy, self.create_agent(spec, &int, &ips), connected);
        healthy?;
        agent?;
        connected?;
        cancel.check()?;
        Ok(())
    }

    async fn start_sidecar(&self, plan: &LaunchPlan, c: &Sidecar, int: &str) -> Result<()> {
        let docker = self.engine.docker();
        let mut test = vec!["CMD".to_string()];
        test.extend(c.health.iter().cloned());
        let uid = c.uid;
        let (entrypoint, cmd) = match c.argv.split_first() {
            Some((bin, args)) => (Some(vec![bin.clone()]), Some(args.to_vec())),
            None => (None, None),
        };
        let body = ContainerCreateBody {
            image: Some(c.image.clone()),
            entrypoint,
            cmd,
            user: Some(format!("{uid}:{uid}")),
            labels: Some(self.labels(plan, c.role.as_str())),
            healthcheck: Some(HealthConfig {
                test: Some(test),
                interval: Some(30_000_000_000),
                timeout: Some(5_000_000_000),
                retries: Some(3),
                ..Default::default()
            }),
            host_config: Some(HostConfig {
                network_mode: Some(int.to_string()),
                cap_drop: Some(vec!["ALL".into()]),
                security_opt: Some(vec!["no-new-privileges".into()]),
                // The git gate runs git and ssh, whose orphans (an ssh
                // connection master, say) must be reaped by a real init,
                // not by the gate as PID 1. The egress proxy spawns nothing.
                init: Some(c.init),
                ..Default::default()
            }),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    int.to_string(),
                    EndpointSettings::default(),
                )])),
            }),
            ..Default::default()
        };
        let created = docker
            .create_container(
                Some(
                    CreateContainerOptionsBuilder::default()
                        .name(&c.name)
                        .build(),
                ),
                body,
            )
            .await
            .ctx(|| format!("creating container {}", c.name))?;
        self.record(Res::Container {
            id: created.id,
            name: c.name.clone(),
            role: c.role.as_str().into(),
        });
        upload(&self.engine, &c.name, &c.files).await?;
        docker
            .start_container(&c.name, None)
            .await
            .ctx(|| format!("starting {}", c.name))?;
        Ok(())
    }

    /// Join a started sidecar to its other networks (its way out, and the
    /// test networks). Engines before API 1.44 take one network at creation,
    /// and joining a running container overlaps with the health checks; the
    /// agent starts only after this returns.
    async fn connect_rest(&self, c: &Sidecar, int: &str, extra_networks: &[String]) -> Result<()> {
        let docker = self.engine.docker();
        let own = c
            .networks
            .iter()
            .map(|n| self.networks.get(n).cloned().unwrap_or_else(|| n.clone()));
        for net in own
            .filter(|n| n != int)
            .chain(extra_networks.iter().cloned())
        {
            docker
                .connect_network(
                    &net,
                    NetworkConnectRequest {
                        container: c.name.clone(),
                        endpoint_config: Some(EndpointSettings::default()),
                    },
                )
                .await
                .ctx(|| format!("connecting {} to network {net}", c.name))?;
        }
        Ok(())
    }

    async fn create_agent(
        &self,
        spec: &LaunchSpec,
        int: &str,
        sidecars: &[(String, Role, String)],
    ) -> Result<()> {
        let plan = &spec.plan;
        let a = &spec.bundle.agent;
        let egress_ip = sidecars
            .iter()
            .find(|(_, role, _)| *role == Role::Egress)
            .map(|(_, _, ip)| ip.clone())
            .ok_or_else(|| Error::Invalid("the plan has no egress sidecar".into()))?;
        let image = a.image.clone();
        let bundle_path = a.ca_bundle.as_str();
        let mut env: Vec<String> = a
            .env
            .iter()
            .map(|(k, v)| format!("{k}={}", v.expose()))
            .collect();
        if spec.tty {
            env.push(format!(
                "TERM={}",
                spec.term.as_deref().unwrap_or("xterm-256color")
            ));
        }

        let extra_hosts: Vec<String> = sidecars
            .iter()
            .map(|(name, _, ip)| format!("{name}:{ip}"))
            .collect();
        let mounts: Vec<Mount> = a
            .mounts
            .iter()
            .map(|m| Mount {
                typ: Some(MountType::BIND),
                source: Some(m.source.clone()),
                target: Some(m.target.clone()),
                read_only: Some(m.readonly),
                ..Default::default()
            })
            .collect();
        let host_config = HostConfig {
            network_mode: Some(int.to_string()),
            // The embedded resolver answers the bottle's own names; anything
            // else it would forward to this "upstream": the egress sidecar,
            // which serves no DNS. Forwarding then fails whatever the engine
            // version does (forward from the container's namespace, from the
            // host's for loopback upstreams, or not at all on internal
            // networks), and no query leaves the bottle.
            dns: Some(vec![egress_ip]),
            dns_search: Some(vec![".".into()]),
            // The embedded resolver drops what it cannot forward; fail
            // fast instead of making every outside lookup hang for seconds.
            dns_options: Some(vec![
                "ndots:0".into(),
                "timeout:1".into(),
                "attempts:1".into(),
            ]),
            extra_hosts: Some(extra_hosts),
            sysctls: Some(HashMap::from([
                (
                    "net.ipv6.conf.all.disable_ipv6".to_string(),
                    "1".to_string(),
                ),
                (
                    "net.ipv6.conf.default.disable_ipv6".to_string(),
                    "1".to_string(),
                ),
            ])),
            cap_drop: Some(vec!["ALL".into()]),
            security_opt: Some(vec!["no-new-privileges".into()]),
            init: Some(true),
            runtime: a.runtime.clone(),
            // Honoured from API 1.42; older engines get a resize after start.
            console_size: spec
                .tty_size
                .filter(|_| spec.tty)
                .map(|(h, w)| vec![usize::from(h), usize::from(w)]),
            mounts: if mounts.is_empty() {
                None
            } else {
                Some(mounts)
            },
            ..Default::default()
        };
        let body = ContainerCreateBody {
            image: Some(image),
            cmd: if a.argv.is_empty() {
                None
            } else {
                Some(a.argv.clone())
            },
            user: Some(format!("{0}:{0}", a.uid)),
            env: Some(env),
            working_dir: a.workdir.clone(),
            tty: Some(spec.tty),
            open_stdin: Some(spec.stdin),
            stdin_once: Some(spec.stdin),
            attach_stdin: Some(spec.stdin),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            labels: Some(self.labels(plan, labels::role::AGENT)),
            host_config: Some(host_config),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    int.to_string(),
                    EndpointSettings::default(),
                )])),
            }),
            ..Default::default()
        };
        let created = self
            .engine
            .docker()
            .create_container(
                Some(
                    CreateContainerOptionsBuilder::default()
                        .name(&self.agent)
                        .build(),
                ),
                body,
            )
            .await
            .ctx(|| format!("creating container {}", self.agent))?;
        self.record(Res::Container {
            id: created.id,
            name: self.agent.clone(),
            role: labels::role::AGENT.into(),
        });

        // Trust: the image's bundle with the bottle CA appended, written
        // back where the image keeps it (so tools that ignore the variables
        // trust it too).
        let (path, mut bundle) = match read_bundle(&self.engine, &self.agent).await? {
            Some((p, b)) => (p, b),
            None => (bundle_path.to_string(), Vec::new()),
        };
        if !bundle.is_empty() && !bundle.ends_with(b"\n") {
            bundle.push(b'\n');
        }
        bundle.extend_from_slice(a.ca_cert_pem.as_bytes());
        let mut files = a.files.clone();
        files.push(File::new(path.clone(), bundle.clone(), 0o644, 0));
        if path != bundle_path {
            files.push(File::new(bundle_path, bundle, 0o644, 0));
        }
        upload(&self.engine, &self.agent, &files).await
    }

    /// Tear everything down, in reverse: the agent (given `grace` to exit
    /// after SIGTERM when it still runs), the sidecars (their logs saved
    /// first, under `<logs root>/<instance>/<launch id>/`), the networks;
    /// then anything else labelled with this launch; the instance name's
    /// reservation last. Everything goes by id. Idempotent: what is already
    /// gone is skipped.
    pub async fn teardown(&mut self, grace: Option<Duration>) -> TeardownReport {
        let mut report = TeardownReport::default();
        let created: Vec<Res> = lock(&self.created).clone();
        let docker = self.engine.docker().clone();

        let agent_id = created.iter().find_map(|r| match r {
            Res::Container { id, role, .. } if role == labels::role::AGENT => Some(id.clone()),
            _ => None,
        });
        if let (Some(g), Some(id)) = (grace, &agent_id) {
            stop_gracefully(&self.engine, id, g).await;
        }

        if let Some(dir) = self
            .logs_root
            .as_deref()
            .map(|root| crate::paths::launch_log_dir(root, &self.instance, &self.launch_id))
        {
            let sidecars: Vec<(&str, &str)> = created
                .iter()
                .filter_map(|r| match r {
                    Res::Container { id, role, .. }
                        if role == labels::role::EGRESS || role == labels::role::GIT =>
                    {
                        Some((id.as_str(), role.as_str()))
                    }
                    _ => None,
                })
                .collect();
            if !sidecars.is_empty() {
                let saves = sidecars
                    .iter()
                    .map(|(id, role)| save_logs(&self.engine, id, &dir, role));
                let saved = futures_util::future::join_all(saves).await;
                for e in saved.iter().filter_map(|r| r.as_ref().err()) {
                    report.errors.push(format!("saving logs: {e}"));
                }
                if saved.iter().any(|r| r.is_ok()) {
                    let record = crate::paths::LaunchRecord {
                        launch: self.launch_id.clone(),
                        instance: self.instance.clone(),
                        agent: self.agent_name.clone(),
                        bottle: self.bottle_name.clone(),
                        started: unix_time(self.started),
                        ended: unix_time(std::time::SystemTime::now()),
                        sidecars: sidecars.iter().map(|(_, r)| r.to_string()).collect(),
                    };
                    if let Err(e) = record.write(&dir) {
                        report.errors.push(format!("saving logs: {e}"));
                    }
                    report.logs_saved = Some(dir);
                }
            }
        }

        // Containers together (the agent has ended or was stopped above),
        // then the networks they were on; the reservation after both.
        let is_reservation =
            |r: &Res| matches!(r, Res::Container { role, .. } if role == labels::role::RESERVATION);
        let containers: Vec<(String, String)> = created
            .iter()
            .rev()
            .filter(|r| !is_reservation(r))
            .filter_map(|r| match r {
                Res::Container { id, name, .. } => Some((id.clone(), name.clone())),
                Res::Network { .. } => None,
            })
            .collect();
        remove_containers(&docker, &containers, &mut report).await;
        let networks: Vec<(String, String)> = created
            .iter()
            .rev()
            .filter_map(|r| match r {
                Res::Network { id, name } => Some((id.clone(), name.clone())),
                Res::Container { .. } => None,
            })
            .collect();
        remove_networks(&docker, &networks, &mut report).await;

        // Safety net: anything else labelled with this launch.
        let label = format!("{}={}", labels::LAUNCH, self.launch_id);
        let (left_c, left_n) = labelled(&docker, &label).await;
        let (reserved, others): (Vec<Labelled>, Vec<Labelled>) = left_c
            .into_iter()
            .partition(|c| c.role == labels::role::RESERVATION);
        let others: Vec<(String, String)> = others.into_iter().map(|c| (c.id, c.name)).collect();
        remove_containers(&docker, &others, &mut report).await;
        let left_n: Vec<(String, String)> = left_n.into_iter().map(|n| (n.id, n.name)).collect();
        remove_networks(&docker, &left_n, &mut report).await;

        // Only now may another launch take the name.
        let mut reservations: Vec<(String, String)> = created
            .iter()
            .filter(|r| is_reservation(r))
            .filter_map(|r| match r {
                Res::Container { id, name, .. } => Some((id.clone(), name.clone())),
                Res::Network { .. } => None,
            })
            .collect();
        for c in reserved {
            if !reservations.iter().any(|(id, _)| *id == c.id) {
                reservations.push((c.id, c.name));
            }
        }
        remove_containers(&docker, &reservations, &mut report).await;
        lock(&self.created).clear();
        self.torn_down = true;
        report
    }

    /// The engine this bottle runs on.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

impl Drop for Bottle {
    fn drop(&mut self) {
        if self.torn_down || lock(&self.created).is_empty() {
            return;
        }
        // Last resort (a panic unwound past the session): tear down on a
        // fresh runtime in a fresh thread, since we may be inside one.
        let engine = self.engine.clone();
        let mut b = Bottle {
            engine,
            instance: self.instance.clone(),
            launch_id: self.launch_id.clone(),
            agent: self.agent.clone(),
            owner: self.owner.clone(),
            created: self.created.clone(),
            networks: self.networks.clone(),
            started: self.started,
            agent_name: self.agent_name.clone(),
            bottle_name: self.bottle_name.clone(),
            logs_root: self.logs_root.clone(),
            // Already marked: this copy's own drop must not start another.
            torn_down: true,
        };
        self.torn_down = true;
        let t = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(async {
                    // A client of its own: pooled connections of the old
                    // one are driven by the runtime this thread blocks.
                    if let Ok(e) = Engine::connect_any(Duration::from_secs(30)).await {
                        b.engine = e;
                    }
                    b.teardown(None).await
                });
            }
        });
        let _ = t.join();
    }
}

/// Send SIGTERM and wait up to `grace` for the container to exit.
pub(crate) async fn stop_gracefully(engine: &Engine, name: &str, grace: Duration) {
    let docker = engine.docker();
    let running = matches!(
        docker.inspect_container(name, None).await,
        Ok(i) if i.state.as_ref().and_then(|s| s.running).unwrap_or(false)
    );
    if !running {
        return;
    }
    let _ = docker
        .kill_container(
            name,
            Some(
                KillContainerOptionsBuilder::default()
                    .signal("SIGTERM")
                    .build(),
            ),
        )
        .await;
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        match docker.inspect_container(name, None).await {
            Ok(i) if i.state.as_ref().and_then(|s| s.running).unwrap_or(false) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            _ => return,
        }
    }
}

/// Force-remove a container (by id, or a name only the engine's own unique
/// names make safe). `Ok(false)` when it was already gone.
pub(crate) async fn remove_container(docker: &bollard::Docker, id: &str) -> Result<bool, String> {
    let opts = RemoveContainerOptionsBuilder::default()
        .force(true)
        .v(true)
        .build();
    for attempt in 0..5 {
        match docker.remove_container(id, Some(opts.clone())).await {
            Ok(()) => return Ok(true),
            Err(e) if is_not_found(&e) => return Ok(false),
            // "removal already in progress": another teardown (stop, cleanup)
            // got there first; wait for it.
            Err(e) if is_conflict(&e) && attempt < 4 => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => return Err(format!("removing container {id}: {e}")),
        }
    }
    Err(format!("removing container {id}: still in progress"))
}

/// Remove a network by id (names may be shared by several networks).
/// `Ok(false)` when it was already gone.
pub(crate) async fn remove_network(docker: &bollard::Docker, id: &str) -> Result<bool, String> {
    let mut last = String::new();
    for _ in 0..10 {
        match docker.remove_network(id).await {
            Ok(()) => return Ok(true),
            Err(e) if is_not_found(&e) => return Ok(false),
            // Endpoints of just-removed containers can linger a moment.
            Err(e) => {
                last = e.to_string();
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
        }
    }
    Err(format!("removing network {id}: {last}"))
}

/// Remove `(id, name)` containers together; what was removed goes into the
/// report by name.
async fn remove_containers(
    docker: &bollard::Docker,
    containers: &[(String, String)],
    report: &mut TeardownReport,
) {
    let removals = containers
        .iter()
        .map(|(id, _)| remove_container(docker, id));
    for ((_, name), r) in containers
        .iter()
        .zip(futures_util::future::join_all(removals).await)
    {
        match r {
            Ok(true) => report.containers.push(name.clone()),
            Ok(false) => {}
            Err(e) => report.errors.push(format!("{e} ({name})")),
        }
    }
}

/// Remove `(id, name)` networks together.
async fn remove_networks(
    docker: &bollard::Docker,
    networks: &[(String, String)],
    report: &mut TeardownReport,
) {
    let removals = networks.iter().map(|(id, _)| remove_network(docker, id));
    for ((_, name), r) in networks
        .iter()
        .zip(futures_util::future::join_all(removals).await)
    {
        match r {
            Ok(true) => report.networks.push(name.clone()),
            Ok(false) => {}
            Err(e) => report.errors.push(format!("{e} ({name})")),
        }
    }
}

/// A labelled resource: its id, name and `bottle.role`.
#[derive(Debug, Clone)]
pub(crate) struct Labelled {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) role: String,
}

/// Containers and networks carrying `label` (`key=value`).
pub(crate) async fn labelled(
    docker: &bollard::Docker,
    label: &str,
) -> (Vec<Labelled>, Vec<Labelled>) {
    let filters = HashMap::from([("label".to_string(), vec![label.to_string()])]);
    let role = |l: Option<&HashMap<String, String>>| {
        l.and_then(|l| l.get(labels::ROLE).cloned())
            .unwrap_or_default()
    };
    let containers = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::default()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await
        .unwrap_or_default()
        .into_iter()
        .filter_map(|c| {
            Some(Labelled {
                role: role(c.labels.as_ref()),
                name: c
                    .names
                    .as_ref()
                    .and_then(|n| n.first().map(|s| s.trim_start_matches('/').to_string()))
                    .unwrap_or_default(),
                id: c.id?,
            })
        })
        .collect();
    let networks = docker
        .list_networks(Some(
            ListNetworksOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await
        .unwrap_or_default()
        .into_iter()
        .filter_map(|n| {
            Some(Labelled {
                role: role(n.labels.as_ref()),
                name: n.name.clone().unwrap_or_default(),
                id: n.id?,
            })
        })
        .collect();
    (containers, networks)
}

fn unix_time(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Copy files into a container (created or running) through the archive API.
pub async fn upload(engine: &Engine, container: &str, files: &[File]) -> Result<()> {
    if files.is_empty() {
        return Ok(());
    }
    let mut a = Archive::new();
    for f in files {
        a.add_bytes(&f.path, f.contents.clone(), f.mode, f.uid, f.gid)
            .map_err(|e| Error::io(format!("archiving {}", f.path), e))?;
    }
    let bytes = a
        .into_bytes()
        .map_err(|e| Error::io("building an archive", e))?;
    engine
        .long()
        .upload_to_container(
            container,
            Some(UploadToContainerOptionsBuilder::default().path("/").build()),
            bollard::body_full(bytes.into()),
        )
        .await
        .ctx(|| format!("copying files into {container}"))
}

/// Read one file out of a container, following symlinks. `None` if absent.
pub async fn read_file(
    engine: &Engine,
    container: &str,
    path: &str,
) -> Result<Option<(String, Vec<u8>)>> {
    let mut path = path.to_string();
    for _ in 0..8 {
        let opts = DownloadFromContainerOptionsBuilder::default()
            .path(&path)
            .build();
        let mut stream = engine
            .docker()
            .download_from_container(container, Some(opts));
        let mut buf = Vec::new();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(b) => buf.extend_from_slice(&b),
                Err(e) if is_not_found(&e) => return Ok(None),
                Err(e) => {
                    return Err(Error::Api {
                        context: format!("reading {path} from {container}"),
                        source: e,
                    });
                }
            }
        }
        let items =
            tar::read_entries(&buf).map_err(|e| Error::Invalid(format!("reading {path}: {e}")))?;
        let Some(item) = items.into_iter().next() else {
            return Ok(None);
        };
        match item.typeflag {
            b'0' | b'7' => return Ok(Some((path, item.data))),
            b'2' => {
                path = if item.link.starts_with('/') {
                    item.link
                } else {
                    let parent = path.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
                    format!("{parent}/{}", item.link)
                };
            }
            _ => return Ok(None),
        }
    }
    Ok(None)
}

async fn read_bundle(engine: &Engine, container: &str) -> Result<Option<(String, Vec<u8>)>> {
    for p in [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/cert.pem",
    ] {
        if let Some(found) = read_file(engine, container, p).await? {
            return Ok(Some((p.to_string(), found.1)));
        }
    }
    Ok(None)
}

/// A container's IPv4 address on `network` (its name or id).
pub async fn container_ip(engine: &Engine, name: &str, network: &str) -> Result<String> {
    let info = engine
        .docker()
        .inspect_container(name, None)
        .await
        .ctx(|| format!("inspecting {name}"))?;
    info.network_settings
        .and_then(|s| s.networks)
        .and_then(|n| {
            n.get(network).cloned().or_else(|| {
                n.into_values()
                    .find(|e| e.network_id.as_deref() == Some(network))
            })
        })
        .and_then(|e| e.ip_address)
        .filter(|ip| !ip.is_empty())
        .ok_or_else(|| Error::Invalid(format!("{name} has no address on {network}")))
}

/// Run `cmd` in `container` and report whether it exited 0 (with its output).
pub async fn exec_ok(engine: &Engine, container: &str, cmd: &[String]) -> Result<(bool, String)> {
    use bollard::exec::{CreateExecOptions, StartExecResults};
    let docker = engine.docker();
    let exec = docker
        .create_exec(
            container,
            CreateExecOptions {
                cmd: Some(cmd.to_vec()),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await
        .ctx(|| format!("running a health check in {container}"))?;
    let mut out = String::new();
    if let StartExecResults::Attached { mut output, .. } =
        docker
            .start_exec(&exec.id, None)
            .await
            .ctx(|| format!("running a health check in {container}"))?
    {
        while let Some(Ok(chunk)) = output.next().await {
            out.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
        }
    }
    let info = docker
        .inspect_exec(&exec.id)
        .await
        .ctx(|| format!("reading a health check's result in {container}"))?;
    Ok((info.exit_code == Some(0), out))
}

/// The error for a sidecar that is not running, with the end of its log;
/// `None` if it runs.
async fn exited(engine: &Engine, name: &str, role: &str) -> Option<Error> {
    let info = engine.docker().inspect_container(name, None).await.ok()?;
    if info.state.as_ref().and_then(|s| s.running).unwrap_or(false) {
        return None;
    }
    let code = info.state.and_then(|s| s.exit_code).unwrap_or(-1);
    Some(Error::Unhealthy {
        role: role.into(),
        container: name.into(),
        why: format!(
            "it exited with code {code}; its log ends:\n{}",
            log_tail(engine, name, 20).await
        ),
    })
}

async fn wait_healthy(
    engine: &Engine,
    name: &str,
    role: &str,
    cmd: &[String],
    timeout: Duration,
) -> Result<()> {
    let start = Instant::now();
    let mut delay = Duration::from_millis(20);
    loop {
        let info = engine
            .docker()
            .inspect_container(name, None)
            .await
            .ctx(|| format!("inspecting {name}"))?;
        let running = info.state.as_ref().and_then(|s| s.running).unwrap_or(false);
        if !running {
            let code = info.state.and_then(|s| s.exit_code).unwrap_or(-1);
            return Err(Error::Unhealthy {
                role: role.into(),
                container: name.into(),
                why: format!(
                    "it exited with code {code}; its log ends:\n{}",
                    log_tail(engine, name, 20).await
                ),
            });
        }
        let last = match exec_ok(engine, name, cmd).await {
            Ok((true, _)) => return Ok(()),
            Ok((false, out)) => out.trim().to_string(),
            Err(e) => e.to_string(),
        };
        if start.elapsed() >= timeout {
            return Err(Error::Unhealthy {
                role: role.into(),
                container: name.into(),
                why: format!(
                    "no healthy answer within {}s (last: {last}); its log ends:\n{}",
                    timeout.as_secs(),
                    log_tail(engine, name, 20).await
                ),
            });
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(250));
    }
}

/// The last `n` lines of a container's output.
pub async fn log_tail(engine: &Engine, name: &str, n: usize) -> String {
    let opts = LogsOptionsBuilder::default()
        .stdout(true)
        .stderr(true)
        .tail(&n.to_string())
        .build();
    let mut s = engine.docker().logs(name, Some(opts));
    let mut out = String::new();
    while let Some(Ok(chunk)) = s.next().await {
        out.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
    }
    out
}

/// Save a sidecar's stdout (its audit log, JSON lines) and stderr.
async fn save_logs(engine: &Engine, name: &str, dir: &std::path::Path, role: &str) -> Result<()> {
    use bollard::container::LogOutput;
    let opts = LogsOptionsBuilder::default()
        .stdout(true)
        .stderr(true)
        .build();
    let mut s = engine.docker().logs(name, Some(opts));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    while let Some(chunk) = s.next().await {
        match chunk {
            Ok(LogOutput::StdOut { message }) => out.extend_from_slice(&message),
            Ok(LogOutput::StdErr { message }) => err.extend_from_slice(&message),
            Ok(other) => out.extend_from_slice(&other.into_bytes()),
            Err(e) => {
                return Err(Error::Api {
                    context: format!("reading the logs of {name}"),
                    source: e,
                });
            }
        }
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let write = |file: String, data: &[u8]| {
        let p = dir.join(file);
        std::fs::write(&p, data).map_err(|e| Error::io(format!("writing {}", p.display()), e))
    };
    write(format!("{role}.jsonl"), &out)?;
    write(format!("{role}.log"), &err)?;
    Ok(())
}
