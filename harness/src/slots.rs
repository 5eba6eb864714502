//! The host-wide MAX_TESTS cap: at most that many deployments exist at once, whatever runs,
//! processes or PRs they belong to.
//!
//! A slot is a lease file `<state>/slots/<i>.json` naming its holder (run, stack, owner pid
//! and start time). Leases are taken under one short `flock`, and a lease whose owner process
//! is gone is free again, so a SIGKILLed run never keeps a slot.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{
    config::RunConfig,
    error::{HarnessError, InfraExt, Result},
    lock::FileLock,
    poll::{Step, poll},
    proc, progress,
    run::{Run, RunRecord, write_json},
};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Holder {
    run_id: String,
    stack: String,
    owner_pid: u32,
    owner_start: u64,
    /// A shared deployment (or a dependency): it holds its slot until its run ends or it is
    /// retired, not until a test finishes.
    #[serde(default)]
    shared: bool,
}

/// A held slot; released by [`SlotLease::release`] or when its run's owner dies.
#[derive(Debug)]
pub struct SlotLease {
    path: PathBuf,
    stack: String,
}

impl SlotLease {
    /// Waits for a free slot, printing who holds them while it waits. When none is free, the
    /// run is first asked to give one of its own back (an idle shared deployment).
    /// `holds_shared`: the deployment depends on shared deployments of its run, which stay in
    /// use (and keep their slots) while it waits: only such waits can deadlock across runs.
    pub async fn acquire(run: &std::sync::Arc<Run>, stack: &str, shared: bool, holds_shared: bool) -> Result<SlotLease> {
        let config = &run.config;
        let dir = config.state_dir.join("slots");
        let record = RunRecord::read(&config.run_dir()).ok_or_else(|| {
            HarnessError::Config(format!("run {} has no run.json; start it with Run::start", config.run_id))
        })?;
        let start = std::time::Instant::now();
        let announced = std::sync::atomic::AtomicBool::new(false);
        // One mark per waiter (a `cargo test` process has many): its pid says whether it is
        // alive, its content whether it keeps slots in use while it waits.
        static WAITERS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = WAITERS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let waiting = config.run_dir().join(format!("waiting-slot.{}.{n}", std::process::id()));
        let mark = if holds_shared { HOLDS_SHARED } else { "" };
        let result = poll(&format!("one of MAX_TESTS={} slots", config.max_tests), config.timeouts.slot, config.timeouts.poll, || async {
            let announced_before = announced.load(std::sync::atomic::Ordering::SeqCst);
            match Self::try_take(config, &dir, stack, shared, &record, announced_before).await {
                Ok(Some((lease, i))) => {
                    if i >= config.max_tests {
                        progress!("{stack}: runs holding every slot all wait for one (a cross-run deadlock); run {} (the oldest) goes over MAX_TESTS={} to break it", config.run_id, config.max_tests);
                    } else if announced_before {
                        progress!("{stack}: got slot {i} after {:.0}s", start.elapsed().as_secs_f64());
                    }
                    Step::Done(lease)
                }
                Ok(None) => {
                    // Every slot held by a shared deployment: nothing frees one before its run
                    // ends, unless the run retires one of its own idle ones.
                    if only_shared_holders(config, &dir) {
                        match run.relieve_slots().await {
                            Ok(true) => return Step::Pending("a slot of this run was just freed".into()),
                            Ok(false) => {}
                            Err(e) => return Step::Fail(e),
                        }
                    }
                    let held = holders(&dir, config.max_tests);
                    if !announced_before {
                        progress!("{stack}: all {} slots busy ({held}); waiting", config.max_tests);
                        let _ = std::fs::write(&waiting, mark);
                        announced.store(true, std::sync::atomic::Ordering::SeqCst);
                    }
                    Step::Pending(format!("held by {held}"))
                }
                Err(e) => Step::Fail(e),
            }
        })
        .await;
        let _ = std::fs::remove_file(&waiting);
        result.map_err(|e| match e {
            HarnessError::Timeout { what, last, .. } => HarnessError::infra(format!("waiting for {what}"), anyhow::format_err!("{last}")),
            other => other,
        })
    }

    /// One look at the slot table: takes a free slot (or our stack's own) if there is one.
    async fn try_take(config: &RunConfig, dir: &Path, stack: &str, shared: bool, record: &RunRecord, announced: bool) -> Result<Option<(SlotLease, usize)>> {
        let _guard = FileLock::exclusive(&dir.join("slots.lock"), config.timeouts.slot, "the slot table").await?;
        // Runs that hold slots (shared deployments in use) and wait for more can wait on each
        // other forever. When every slot is held by a shared deployment, the holders belong
        // to two runs or more and each of those runs waits while keeping its shared
        // deployments in use, the oldest may go over the cap, and says so. A run whose
        // waiters hold nothing is not deadlocked: its tests finish and its idle shared
        // deployments are retired (see `acquire`).
        let limit = if announced && deadlocked(config, dir) { config.max_tests + 64 } else { config.max_tests };
        for i in 0..limit {
            let path = dir.join(format!("{i}.json"));
            if let Some(holder) = read_holder(&path)
                && proc::is_alive(holder.owner_pid, holder.owner_start)
                && holder.stack != stack
            {
                continue;
            }
            let holder = Holder {
                run_id: config.run_id.clone(),
                stack: stack.to_owned(),
                owner_pid: record.owner_pid,
                owner_start: record.owner_start,
                shared,
            };
            write_json(&path, &holder)?;
            return Ok(Some((SlotLease { path, stack: stack.to_owned() }, i)));
        }
        Ok(None)
    }

    /// Re-attaches to the lease a previous process of the run took for `stack`.
    pub fn held_for(config: &RunConfig, stack: &str) -> Option<SlotLease> {
        let dir = config.state_dir.join("slots");
        (0..config.max_tests.max(64)).map(|i| dir.join(format!("{i}.json"))).find_map(|path| {
            let holder = read_holder(&path)?;
            (holder.stack == stack && holder.run_id == config.run_id).then(|| SlotLease { path, stack: stack.to_owned() })
        })
    }

    /// Gives back every slot `run_id` still holds, once its resources are gone: the run's
    /// owner may live on (`cargo xtask mutants` runs one run after another in one process), and
    /// a dead run's slots would otherwise count until its owner exits.
    pub async fn release_run(config: &RunConfig, run_id: &str) -> Result<usize> {
        let dir = config.state_dir.join("slots");
        if !dir.exists() {
            return Ok(0);
        }
        let _guard = FileLock::exclusive(&dir.join("slots.lock"), config.timeouts.slot, "the slot table").await?;
        let mut released = 0;
        for entry in std::fs::read_dir(&dir).infra(|| format!("reading {}", dir.display()))?.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "json") && read_holder(&path).is_some_and(|h| h.run_id == run_id) {
                std::fs::remove_file(&path).infra(|| format!("releasing {}", path.display()))?;
                released += 1;
            }
        }
        Ok(released)
    }

    pub fn release(self) -> Result<()> {
        if read_holder(&self.path).is_some_and(|h| h.stack == self.stack) {
            std::fs::remove_file(&self.path).infra(|| format!("releasing {}", self.path.display()))?;
        }
        Ok(())
    }
}

/// What a waiting mark says when its waiter keeps shared deployments in use while it waits.
const HOLDS_SHARED: &str = "holds shared deployments";

/// Whether a live waiter of `run_dir`'s run waits for a slot while it keeps shared
/// deployments of the run in use: that run cannot free a slot until it gets one. A run whose
/// waiters hold nothing is only waiting for its own tests to finish (its shared deployments
/// then go idle and are retired), which is no deadlock.
fn run_is_stuck(run_dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(run_dir) else { return false };
    entries.flatten().any(|e| {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix("waiting-slot.")).and_then(|rest| rest.split('.').next()?.parse::<u32>().ok()) else {
            return false;
        };
        proc::start_time(pid).is_some() && std::fs::read_to_string(e.path()).is_ok_and(|mark| mark == HOLDS_SHARED)
    })
}

/// True when our run holds a slot, every slot is held by a shared deployment, every holder's
/// run has a waiter that keeps its shared deployments in use, and our run is the oldest of
/// them: nobody can release, so we may go over the cap.
fn deadlocked(config: &RunConfig, dir: &Path) -> bool {
    let holders: Vec<Holder> = (0..config.max_tests)
        .filter_map(|i| read_holder(&dir.join(format!("{i}.json"))))
        .filter(|h| proc::is_alive(h.owner_pid, h.owner_start))
        .collect();
    // Holders that are stages of a test free their slot when the test ends: only shared
    // deployments (in use, or the run would have retired them) can hold a slot forever.
    if holders.len() < config.max_tests || !holders.iter().any(|h| h.run_id == config.run_id) || !holders.iter().all(|h| h.shared) {
        return false;
    }
    let mut runs: Vec<&str> = holders.iter().map(|h| h.run_id.as_str()).collect();
    runs.sort();
    runs.dedup();
    if runs.len() < 2 || !runs.iter().all(|r| run_is_stuck(&config.runs_dir().join(r))) {
        return false;
    }
    let created = |r: &str| RunRecord::read(&config.runs_dir().join(r)).map(|rec| rec.created_unix).unwrap_or(u64::MAX);
    runs.iter().min_by_key(|r| (created(r), r.to_string())).is_some_and(|oldest| *oldest == config.run_id)
}

/// Whether every live holder of the table is a shared deployment.
fn only_shared_holders(config: &RunConfig, dir: &Path) -> bool {
    (0..config.max_tests)
        .filter_map(|i| read_holder(&dir.join(format!("{i}.json"))))
        .filter(|h| proc::is_alive(h.owner_pid, h.owner_start))
        .all(|h| h.shared)
}

fn read_holder(path: &Path) -> Option<Holder> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

fn holders(dir: &Path, n: usize) -> String {
    (0..n)
        .filter_map(|i| read_holder(&dir.join(format!("{i}.json"))))
        .map(|h| format!("{} (run {})", h.stack, h.run_id))
        .collect::<Vec<_>>()
        .join(", ")
}
