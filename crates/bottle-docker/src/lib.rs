//! The Docker backend: executes a [`bottle_plan::LaunchPlan`] and the
//! container specs of its [`bottle_contract::Bundle`] on a Docker Engine
//! through its API (bollard; no docker CLI), and everything around
//! it — images, the interactive and batch sessions, `ls`, `stop`, `logs`,
//! `cleanup`, `doctor`.
//!
//! Key design choice: **labels are the only state.** Every network and
//! container carries `bottle.instance`, `bottle.role`, the random
//! `bottle.launch` id and the `bottle.owner` process, and is recorded the
//! moment the engine confirms it. Teardown removes exactly what its launch
//! made (in reverse: agent, sidecars, networks) on exit, on an error at any
//! step and on a signal; `cleanup` finds what a killed `bottle` left by its
//! dead owner. There is no state file to get out of sync.
//!
//! Modules: [`engine`] (connect, version check), [`images`],
//! [`bootstrap`] and [`agents`] (base, preset and sidecar images; the
//! agents' pinned binaries), [`launch`](mod@launch) (networks →
//! sidecars → agent; teardown), [`session`] (run / interactive), [`ops`]
//! (ls, stop, cleanup, logs, doctor), [`tar`] (archives for build contexts
//! and the archive API).
#![deny(missing_docs)]

pub mod agents;
pub mod bootstrap;
pub mod cancel;
pub mod engine;
mod error;
pub mod images;
pub mod labels;
pub mod launch;
pub mod ops;
pub mod paths;
pub mod progress;
pub mod session;
pub mod tar;
mod zip;

pub use cancel::Cancel;
pub use engine::Engine;
pub use error::{Error, Result};
pub use launch::{Bottle, LaunchSpec, TeardownReport, launch, reserve, reserve_free};
pub use progress::{Progress, ProgressFn};

/// Names of running instances, for planning a new one's name. `None` when
/// no engine answers within `deadline` (planning then proceeds without).
pub fn running_instances_blocking(
    deadline: std::time::Duration,
) -> Option<std::collections::BTreeSet<String>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    rt.block_on(async {
        let engine = Engine::connect_quick(deadline).await.ok()?;
        tokio::time::timeout(deadline, ops::instance_names(&engine))
            .await
            .ok()?
            .ok()
    })
}
