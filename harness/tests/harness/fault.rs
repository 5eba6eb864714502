//! Fault injection: a process that deploys is killed (SIGKILL) mid-deploy or mid-test, or
//! panics; the run watcher and the janitor leave nothing of its run behind.
//!
//! The victim is this test binary re-executed in the `fault-child` role
//! (`harness::testing`): it owns a run of its own (`CCCI_RUN_OWNER_PID=self`), so its death
//! ends that run.

use std::{
    io::{BufRead as _, BufReader},
    process::{Child, Command, Stdio},
    time::Duration,
};

use harness::{
    converge,
    ops::{JanitorOptions, RUN_LABEL, RunConfig, janitor, platform},
};

use crate::{fixture, fresh_run_id, labelled};

fn spawn_child(run_id: &str, stage: &str) -> anyhow::Result<Child> {
    spawn_child_owned_by(run_id, stage, "self")
}

/// The fault child in a run owned by `owner` (a pid, or `self`).
fn spawn_child_owned_by(run_id: &str, stage: &str, owner: &str) -> anyhow::Result<Child> {
    Ok(Command::new(std::env::current_exe()?)
        .env(harness::ops::ROLE_VAR, "fault-child")
        .env("CCCI_RUN_ID", run_id)
        .env("CCCI_RUN_OWNER_PID", owner)
        .env("CCCI_FAULT_FIXTURE_DIR", fixture("probe"))
        .env("CCCI_FAULT_STAGE", stage)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?)
}

fn kill9(pid: u32) {
    let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
}

fn watcher_pid(run_id: &str) -> anyhow::Result<u32> {
    let config = RunConfig::from_env()?;
    let path = config.runs_dir().join(run_id).join("watcher.pid");
    Ok(std::fs::read_to_string(&path)?.trim().parse()?)
}

async fn wait_until_clean(label: &str, within: Duration) -> anyhow::Result<()> {
    converge(&format!("nothing labelled {label}"), within, Duration::from_millis(250), || async {
        match labelled(label).await {
            Ok(left) if left.is_empty() => Ok(()),
            Ok(left) => Err(format!("{left:?}")),
            Err(e) => Err(e.to_string()),
        }
    })
    .await?;
    Ok(())
}

async fn janitor_reaps(run_id: &str) -> anyhow::Result<usize> {
    let config = RunConfig::from_env()?;
    let reaped = janitor(&config, &platform(&config), &JanitorOptions { run: Some(run_id.to_owned()), force: false }).await?;
    Ok(reaped.iter().map(|r| r.removed.count()).sum())
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_mid_deploy_and_of_the_watcher_leaves_nothing_after_the_janitor() -> anyhow::Result<()> {
    let run_id = fresh_run_id("kill-deploy");
    let label = format!("{RUN_LABEL}={run_id}");
    let mut child = spawn_child(&run_id, "hold")?;
    // Mid-deploy: the stack's service exists, convergence has not been seen yet.
    converge("the child's first service", Duration::from_secs(60), Duration::from_millis(20), || async {
        let found = labelled(&label).await.map_err(|e| e.to_string())?;
        if found.iter().any(|(k, _)| k == "service") { Ok(()) } else { Err(format!("{found:?}")) }
    })
    .await?;
    // A host crash takes the watcher too: kill it first so only the janitor can clean up.
    kill9(watcher_pid(&run_id)?);
    child.kill()?;
    child.wait()?;
    let leftovers = labelled(&label).await?;
    assert!(!leftovers.is_empty(), "the kill came too late to leave anything: the test proves nothing");

    let removed = janitor_reaps(&run_id).await?;
    assert!(removed > 0, "the janitor removed nothing of {run_id}");
    assert_eq!(labelled(&label).await?, vec![], "resources of {run_id} survived the janitor");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_mid_test_is_cleaned_up_by_the_run_watcher() -> anyhow::Result<()> {
    let run_id = fresh_run_id("kill-test");
    let label = format!("{RUN_LABEL}={run_id}");
    let mut child = spawn_child(&run_id, "hold")?;
    let stdout = child.stdout.take().expect("piped stdout");
    let ready = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout).lines().map_while(Result::ok).find(|l| l.starts_with("CCCI-FAULT ready"))
    });
    let line = tokio::time::timeout(Duration::from_secs(120), ready).await??;
    assert!(line.is_some(), "the child exited before its deployment was ready");
    assert!(labelled(&label).await?.iter().any(|(k, _)| k == "service"), "nothing deployed to kill");
    child.kill()?;
    child.wait()?;
    // No janitor: the watcher notices the owner's death and tears the run down.
    wait_until_clean(&label, Duration::from_secs(90)).await?;
    assert_eq!(janitor_reaps(&run_id).await?, 0, "the watcher left work for the janitor");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panicking_test_leaves_nothing_once_its_run_ends() -> anyhow::Result<()> {
    let run_id = fresh_run_id("panic");
    let label = format!("{RUN_LABEL}={run_id}");
    let mut child = spawn_child(&run_id, "panic")?;
    let status = tokio::task::spawn_blocking(move || child.wait()).await??;
    assert_eq!(status.code(), Some(101), "the child did not panic after deploying: {status}");
    wait_until_clean(&label, Duration::from_secs(90)).await?;
    Ok(())
}

/// When the run's owner (cargo, nextest) is SIGKILLed, its test process is orphaned and would
/// go on deploying its next stage: the watcher ends it before tearing the run down.
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_owner_s_test_process_is_ended_before_the_run_is_torn_down() -> anyhow::Result<()> {
    use std::os::unix::process::ExitStatusExt as _;
    let run_id = fresh_run_id("orphan");
    let label = format!("{RUN_LABEL}={run_id}");
    // Stands in for cargo: a process that lives until killed (it reads a stdin nobody closes).
    let mut owner = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::null()).spawn()?;
    let mut child = spawn_child_owned_by(&run_id, "hold", &owner.id().to_string())?;
    let stdout = child.stdout.take().expect("piped stdout");
    let ready = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout).lines().map_while(Result::ok).find(|l| l.starts_with("CCCI-FAULT ready"))
    });
    let line = tokio::time::timeout(Duration::from_secs(120), ready).await??;
    assert!(line.is_some(), "the child exited before its deployment was ready");
    kill9(owner.id());
    owner.wait()?;
    // The child holds its deployment until killed: only the watcher can end it.
    let child = std::sync::Mutex::new(child);
    let status = converge("the orphaned test process to be ended", Duration::from_secs(60), Duration::from_millis(100), || async {
        match child.lock().expect("not poisoned").try_wait() {
            Ok(Some(status)) => Ok(status),
            Ok(None) => Err("still running".into()),
            Err(e) => Err(e.to_string()),
        }
    })
    .await?;
    assert_eq!(status.signal(), Some(9), "the orphan ended otherwise: {status}");
    wait_until_clean(&label, Duration::from_secs(90)).await?;
    Ok(())
}
