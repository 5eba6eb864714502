//! Teardown in layers; this module holds layers 3 and 4 (layers 1 and 2, explicit
//! `teardown()` and resource records, live on the handles and in [`crate::run`]).
//!
//! - The **watcher**: the first process of a run starts a detached copy of its own test
//!   binary in the `watcher` role ([`crate::hook`]). It holds `watcher.lock`, waits for the
//!   run's owner (xtask, cargo or cargo-nextest) to exit, then removes every resource of the
//!   run. It survives a SIGKILL of any test process, and it is what tears down the shared
//!   deployment that outlives the test processes under nextest.
//! - The **janitor** (`cargo xtask janitor`, and at the start of every xtask run) removes
//!   resources of runs whose owner is gone or whose deadline passed, including runs whose
//!   watcher was killed too.

use std::{path::Path, time::Duration};

use crate::{
    config::RunConfig,
    error::Result,
    lock::FileLock,
    platform::Platform,
    poll::{Step, converge_blocking, now_unix, poll},
    progress,
    run::{RunRecord, recorded_resources},
    swarm::{RUN_LABEL, Removed, STACK_LABEL, Swarm},
};

/// The watcher role's body: returns the process exit code.
pub(crate) fn watch(config: RunConfig, platform: Platform) -> i32 {
    let dir = config.run_dir();
    let Ok(Some(_guard)) = FileLock::try_exclusive(&dir.join("watcher.lock")) else {
        return 0; // Another watcher guards this run.
    };
    crate::log::attach_run_log(&dir.join("run.log"));
    let _ = std::fs::write(dir.join("watcher.pid"), std::process::id().to_string());
    // The run record may not be written yet when the first test process spawns us.
    let record = converge_blocking("run.json to be written", config.timeouts.shared, Duration::from_millis(100), || {
        match RunRecord::read(&dir) {
            Some(record) => Ok(record),
            None if crate::proc::start_time(config.owner_pid).is_none() => {
                Ok(RunRecord { run_id: config.run_id.clone(), owner_pid: config.owner_pid, owner_start: 0, created_unix: 0, deadline_unix: 0 })
            }
            None => Err("no run.json yet".into()),
        }
    });
    let Ok(record) = record else {
        progress!("watcher: run {} never wrote run.json; the janitor will reap it", config.run_id);
        return 1;
    };
    // `is_alive` turns false when the owner exits, at the run deadline at the latest.
    let lifetime = Duration::from_secs(record.deadline_unix.saturating_sub(now_unix()) + 60);
    let _ = converge_blocking("the run's owner to exit", lifetime, config.timeouts.poll, || {
        if record.is_alive() { Err("alive".into()) } else { Ok(()) }
    });
    // A test process whose owner (cargo, nextest) was killed goes on deploying its next stage
    // unless stopped: end the run's processes before removing what they made.
    end_processes(&dir, &config);
    if config.keep_on_failure && dir.join("failed").exists() {
        progress!(
            "run {} failed and CCCI_KEEP is set: its deployments are kept; remove them with `cargo xtask janitor --run {} --force`",
            config.run_id,
            config.run_id
        );
        let _ = std::fs::write(dir.join("kept"), "");
        return 0;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            progress!("watcher: no runtime: {e}");
            return 1;
        }
    };
    let result = runtime.block_on(async {
        let swarm = Swarm::connect(&config).await?;
        teardown_run(&swarm, &config, &platform, &config.run_id).await
    });
    match result {
        Ok(removed) => {
            progress!(
                "run {} ended ({} deployments): removed {removed}",
                config.run_id,
                crate::run::deploy_count(&dir)
            );
            let _ = std::fs::write(dir.join("finished"), now_unix().to_string());
            0
        }
        Err(e) => {
            progress!("run {} teardown failed, the janitor will retry: {e}", config.run_id);
            1
        }
    }
}

/// SIGKILLs the run's registered processes that still live, and waits (bounded) until they
/// are gone.
fn end_processes(dir: &Path, config: &RunConfig) {
    let live = crate::run::live_processes(dir);
    if live.is_empty() {
        return;
    }
    progress!("run {}: its owner is gone; ending its test processes {live:?}", config.run_id);
    for pid in &live {
        let _ = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status();
    }
    let gone = converge_blocking("the run's test processes to end", Duration::from_secs(30), Duration::from_millis(50), || {
        let left = crate::run::live_processes(dir);
        if left.is_empty() { Ok(()) } else { Err(format!("{left:?} still running")) }
    });
    if let Err(e) = gone {
        progress!("run {}: {e}", config.run_id);
    }
}

/// Removes every resource of `run_id`: all that carries its label, plus stacks and abra apps
/// its record names (abra cannot label what it creates).
pub async fn teardown_run(swarm: &Swarm, config: &RunConfig, platform: &Platform, run_id: &str) -> Result<Removed> {
    let t = &config.timeouts;
    let run_dir = config.runs_dir().join(run_id);
    for record in recorded_resources(&run_dir).iter().filter(|r| r.kind == "stack") {
        // The proxy may be down; its routes are pruned by the janitor then.
        let _ = platform.proxy.unregister(swarm, &record.name).await;
    }
    let mut removed = swarm.remove_labelled(&format!("{RUN_LABEL}={run_id}"), t.teardown, t.poll).await?;
    for record in recorded_resources(&run_dir) {
        match record.kind.as_str() {
            "stack" => {
                let more = swarm.remove_labelled(&format!("{STACK_LABEL}={}", record.name), t.teardown, t.poll).await?;
                merge(&mut removed, more);
            }
            "abra-env" => {
                let _ = std::fs::remove_file(&record.name);
            }
            _ => {}
        }
    }
    // A task the engine was still preparing when its service went may create its container
    // and volume after the removal pass: look until the run stays empty for a few polls.
    // Backups hold the apps' data and generated secrets: they go with the run (a run kept
    // for debugging with CCCI_KEEP never gets here and keeps them).
    let backups = run_dir.join("artifacts").join("backups");
    if backups.exists() {
        std::fs::remove_dir_all(&backups).map_err(|e| crate::error::HarnessError::infra(format!("removing {}", backups.display()), e))?;
    }
    let label = format!("{RUN_LABEL}={run_id}");
    let quiet_polls = std::sync::atomic::AtomicU32::new(0);
    let removed = std::sync::Mutex::new(removed);
    let settled = poll(&format!("run {run_id} to stay empty"), t.teardown, t.poll, || async {
        match swarm.find(&label).await {
            Ok(found) if found.is_empty() => {
                if quiet_polls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1 >= 8 {
                    Step::Done(())
                } else {
                    Step::Pending("empty, watching for late containers".into())
                }
            }
            Ok(found) => {
                quiet_polls.store(0, std::sync::atomic::Ordering::SeqCst);
                match swarm.remove_labelled(&label, t.teardown, t.poll).await {
                    Ok(more) => {
                        merge(&mut removed.lock().expect("not poisoned"), more);
                        Step::Pending(format!("{} late resources removed", found.len()))
                    }
                    Err(e) => Step::Fail(e),
                }
            }
            Err(e) => Step::Fail(e),
        }
    })
    .await;
    // A run that keeps sprouting resources past the deadline is the janitor's next pass.
    // Once nothing of the run is left, its slots go back: they bound what runs, and the run's
    // owner (which would free them by exiting) may go on to the next run.
    match settled {
        Err(e) => progress!("run {run_id}: {e}"),
        Ok(()) => {
            let slots = crate::slots::SlotLease::release_run(config, run_id).await?;
            if slots > 0 {
                progress!("run {run_id}: gave back {slots} MAX_TESTS slot(s) its deployments held");
            }
        }
    }
    Ok(removed.into_inner().expect("not poisoned"))
}

fn merge(into: &mut Removed, from: Removed) {
    into.services.extend(from.services);
    into.containers.extend(from.containers);
    into.volumes.extend(from.volumes);
    into.secrets.extend(from.secrets);
    into.configs.extend(from.configs);
    into.networks.extend(from.networks);
}

/// What the janitor decided about one run.
#[derive(Debug, Clone)]
pub struct Reaped {
    pub run_id: String,
    pub removed: Removed,
}

/// Which runs to reap.
#[derive(Debug, Clone, Default)]
pub struct JanitorOptions {
    /// Only this run.
    pub run: Option<String>,
    /// Reap it even if its owner is alive, and even if it was kept for debugging.
    pub force: bool,
}

/// Reaps every run that is no longer alive (owner gone or deadline passed) and has
/// resources left, whether or not its run directory still exists.
pub async fn janitor(config: &RunConfig, platform: &Platform, options: &JanitorOptions) -> Result<Vec<Reaped>> {
    if let Some(run) = &options.run {
        // A run id is a name, never a path (`--run ../x` must not reach outside the state dir).
        crate::config::validate_run_id(run)?;
    }
    let swarm = Swarm::connect(config).await?;
    let mut runs = swarm.labelled_runs().await?;
    if let Ok(dirs) = std::fs::read_dir(config.runs_dir()) {
        for entry in dirs.flatten() {
            if let Some(name) = entry.file_name().to_str()
                && !recorded_resources(&entry.path()).is_empty()
                && !entry.path().join("finished").exists()
            {
                runs.push(name.to_owned());
            }
        }
    }
    runs.sort();
    runs.dedup();
    let mut reaped = vec![];
    for run_id in runs.into_iter().filter(|r| !r.is_empty()) {
        if options.run.as_ref().is_some_and(|only| *only != run_id) {
            continue;
        }
        let dir = config.runs_dir().join(&run_id);
        if !options.force {
            if RunRecord::read(&dir).is_some_and(|r| r.is_alive()) {
                continue;
            }
            if dir.join("kept").exists() {
                progress!("janitor: run {run_id} was kept for debugging; `--run {run_id} --force` removes it");
                continue;
            }
        }
        progress!("janitor: reaping run {run_id}");
        let removed = teardown_run(&swarm, config, platform, &run_id).await?;
        if dir.is_dir() {
            let _ = std::fs::write(dir.join("finished"), now_unix().to_string());
        }
        reaped.push(Reaped { run_id, removed });
    }
    platform.proxy.prune(&swarm).await.ok();
    prune_old_run_dirs(&config.runs_dir(), Duration::from_secs(3 * 24 * 3600));
    Ok(reaped)
}

/// Run directories of finished runs are kept a few days for their artifacts and logs.
fn prune_old_run_dirs(runs: &Path, age: Duration) {
    let Ok(entries) = std::fs::read_dir(runs) else { return };
    for entry in entries.flatten() {
        let finished = std::fs::read_to_string(entry.path().join("finished")).ok().and_then(|s| s.trim().parse::<u64>().ok());
        if finished.is_some_and(|at| now_unix().saturating_sub(at) > age.as_secs()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
