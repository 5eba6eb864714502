//! A run: every deployment made under one run id, from one `cargo test`, one
//! `cargo nextest run` (a process per test) or one `cargo xtask test|testme`.
//!
//! The run directory (`<state>/runs/<id>/`) holds `run.json` (owner, deadline), `run.log`
//! (progress of every process of the run), `resources.jsonl` (what was created, written
//! *before* creating it), shared-deployment records and artifacts. A watcher process per run
//! tears everything down when the owner exits; see [`crate::teardown`].

use std::{
    io::Write as _,
    path::{Path, PathBuf},
    sync::Arc,
};

use serde::{Deserialize, Serialize};

use crate::{
    config::{BRIDGE_VAR, ROLE_VAR, RunConfig},
    error::{HarnessError, InfraExt, Result},
    lock::{self, FileLock},
    platform::Platform,
    poll::{converge_blocking, now_unix},
    progress, proc,
    swarm::Swarm,
};

/// `run.json`: who owns the run and until when it may live.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    pub run_id: String,
    pub owner_pid: u32,
    pub owner_start: u64,
    pub created_unix: u64,
    pub deadline_unix: u64,
}

impl RunRecord {
    pub fn read(run_dir: &Path) -> Option<RunRecord> {
        serde_json::from_slice(&std::fs::read(run_dir.join("run.json")).ok()?).ok()
    }

    /// Alive while its owner process lives, and never past its deadline.
    pub fn is_alive(&self) -> bool {
        proc::is_alive(self.owner_pid, self.owner_start) && now_unix() < self.deadline_unix
    }
}

/// One line of `resources.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct ResourceRecord {
    /// `stack`, `abra-app`, `artifact-dir`, ...
    pub kind: String,
    pub name: String,
}

/// Frees MAX_TESTS slots of a run under pressure (retiring its idle shared deployments);
/// returns whether it freed any. Set by the suite layer, called by slot acquisition.
pub(crate) type SlotRelief = Box<dyn Fn(Arc<Run>) -> futures_util::future::BoxFuture<'static, Result<bool>> + Send + Sync>;

/// The live handle on a run, shared by the tests of one process.
pub struct Run {
    pub config: RunConfig,
    pub swarm: Swarm,
    /// Where apps are deployed and how they are reached (testbed or cc-ci host).
    pub platform: Platform,
    dir: PathBuf,
    relief: std::sync::OnceLock<SlotRelief>,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Run").field("id", &self.config.run_id).field("dir", &self.dir).finish()
    }
}

impl Run {
    /// Joins (or starts) the run named by `config`: writes `run.json` once, makes sure a watcher
    /// is guarding it, and connects to Docker.
    pub async fn start(config: RunConfig, platform: Platform) -> Result<Arc<Run>> {
        let dir = config.run_dir();
        std::fs::create_dir_all(dir.join("artifacts")).infra(|| format!("creating {}", dir.display()))?;
        crate::log::attach_run_log(&dir.join("run.log"));
        {
            let _guard = FileLock::exclusive(&dir.join("run.lock"), config.timeouts.shared, "the run record").await?;
            if RunRecord::read(&dir).is_none() {
                let owner_start = proc::start_time(config.owner_pid).ok_or_else(|| {
                    HarnessError::Config(format!("run owner pid {} is not running", config.owner_pid))
                })?;
                let record = RunRecord {
                    run_id: config.run_id.clone(),
                    owner_pid: config.owner_pid,
                    owner_start,
                    created_unix: now_unix(),
                    deadline_unix: now_unix() + config.timeouts.run.as_secs(),
                };
                write_json(&dir.join("run.json"), &record)?;
                progress!("run {} started (owner pid {}), state in {}", config.run_id, config.owner_pid, dir.display());
            }
        }
        ensure_watcher(&config)?;
        register_process(&dir)?;
        let swarm = Swarm::connect(&config).await?;
        Ok(Arc::new(Run { config, swarm, platform, dir, relief: std::sync::OnceLock::new() }))
    }

    pub fn id(&self) -> &str {
        &self.config.run_id
    }

    /// Sets how this run frees slots under pressure (first call wins).
    pub(crate) fn set_slot_relief(&self, relief: SlotRelief) {
        let _ = self.relief.set(relief);
    }

    /// Asks the run to free a slot of its own; false when it has none to give.
    pub(crate) async fn relieve_slots(self: &Arc<Self>) -> Result<bool> {
        match self.relief.get() {
            Some(relief) => relief(self.clone()).await,
            None => Ok(false),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where this run keeps files worth reading after it: backups, screenshots, logs.
    pub fn artifacts(&self) -> PathBuf {
        self.dir.join("artifacts")
    }

    /// Notes a resource before creating it, so a crash in between still leaves a trace for
    /// the janitor.
    pub fn record(&self, kind: &str, name: &str) -> Result<()> {
        let line = serde_json::to_string(&ResourceRecord { kind: kind.into(), name: name.into() })
            .expect("resource records serialise");
        let mut file = std::fs::File::options()
            .create(true)
            .append(true)
            .open(self.dir.join("resources.jsonl"))
            .infra(|| "opening resources.jsonl".into())?;
        writeln!(file, "{line}").infra(|| "writing resources.jsonl".into())
    }

    /// Counts a real deployment (not an attach) and returns its number within the run.
    pub async fn count_deploy(&self, stack: &str, purpose: &str) -> Result<u32> {
        let _guard = FileLock::exclusive(&self.dir.join("run.lock"), self.config.timeouts.shared, "the deploy counter").await?;
        let path = self.dir.join("deploys");
        let n = std::fs::read_to_string(&path).ok().and_then(|s| s.trim().parse::<u32>().ok()).unwrap_or(0) + 1;
        std::fs::write(&path, n.to_string()).infra(|| "writing the deploy counter".into())?;
        progress!("deploy #{n} of run {}: {stack} ({purpose})", self.id());
        Ok(n)
    }
}

/// Starts the run's watcher (teardown layer 3, see `teardown`) unless one holds
/// `watcher.lock` already, and waits until it does: a detached copy of the current binary in
/// the `watcher` role, in its own process group so a runner that kills the test's group on
/// timeout does not take it along.
fn ensure_watcher(config: &RunConfig) -> Result<()> {
    use std::{os::unix::process::CommandExt as _, process::{Command, Stdio}};
    let dir = config.run_dir();
    let lock_path = dir.join("watcher.lock");
    if lock::is_held(&lock_path) {
        return Ok(());
    }
    let exe = std::env::current_exe().infra(|| "finding the test binary for the watcher".into())?;
    let log = std::fs::File::options()
        .create(true)
        .append(true)
        .open(dir.join("watcher.log"))
        .infra(|| "opening watcher.log".into())?;
    let mut cmd = Command::new(exe);
    cmd.env(ROLE_VAR, "watcher")
        .envs(config.child_env())
        // Our own API bridge dies with us; the watcher starts its own.
        .env_remove(BRIDGE_VAR)
        .stdin(Stdio::null())
        .stdout(log.try_clone().infra(|| "cloning log handle".into())?)
        .stderr(log)
        .process_group(0);
    if config.engine_via_bridge {
        cmd.env_remove("DOCKER_HOST");
    }
    cmd.spawn().infra(|| "spawning the run watcher".into())?;
    converge_blocking(
        &format!("the run watcher to take {} (see watcher.log)", lock_path.display()),
        std::time::Duration::from_secs(20),
        std::time::Duration::from_millis(20),
        || if lock::is_held(&lock_path) { Ok(()) } else { Err("not yet".into()) },
    )
    .map_err(|e| HarnessError::infra("starting the run watcher", e))
}

/// Notes this process as one of the run's (`<run>/procs/<pid>`, holding its start time), so
/// the watcher can end it if the run's owner dies and leaves it running.
fn register_process(dir: &Path) -> Result<()> {
    let procs = dir.join("procs");
    std::fs::create_dir_all(&procs).infra(|| format!("creating {}", procs.display()))?;
    let pid = std::process::id();
    let start = proc::start_time(pid).unwrap_or(0);
    std::fs::write(procs.join(pid.to_string()), start.to_string()).infra(|| "registering the test process".into())
}

/// The run's registered processes that still live (same pid *and* start time), but this one.
pub(crate) fn live_processes(dir: &Path) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir(dir.join("procs")) else { return vec![] };
    entries
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let start: u64 = std::fs::read_to_string(e.path()).ok()?.trim().parse().ok()?;
            (pid != std::process::id() && proc::is_alive(pid, start)).then_some(pid)
        })
        .collect()
}

/// Writes JSON that holds secrets: created 0600 (no window in which others could read it),
/// then renamed into place.
pub(crate) fn write_private_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    use std::{io::Write as _, os::unix::fs::OpenOptionsExt as _};
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let body = serde_json::to_vec_pretty(value).expect("records serialise");
    let mut file = std::fs::File::options()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&tmp)
        .infra(|| format!("creating {}", tmp.display()))?;
    file.write_all(&body).infra(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).infra(|| format!("renaming to {}", path.display()))
}

/// Resources recorded for a run (the janitor's fallback for what labels cannot mark).
pub(crate) fn recorded_resources(run_dir: &Path) -> Vec<ResourceRecord> {
    std::fs::read_to_string(run_dir.join("resources.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Deployments counted in a run so far.
pub fn deploy_count(run_dir: &Path) -> u32 {
    std::fs::read_to_string(run_dir.join("deploys")).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0)
}

/// Writes JSON atomically (temp file + rename) so a reader never sees half a record.
pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let body = serde_json::to_vec_pretty(value).expect("records serialise");
    std::fs::write(&tmp, body).infra(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).infra(|| format!("renaming to {}", path.display()))
}
