//! MAX_TESTS: a host-wide cap on concurrent deployments, held across processes and runs.

use std::{sync::Arc, time::Duration};

use harness::ops::{Run, RunConfig, RunRecord, SlotLease, platform};

use crate::this_run;

/// A private slot table (so other tests' deployments are not in the way) with `max` slots,
/// and a second run `other` beside ours, both owned by live processes.
async fn private_table(run: &Arc<Run>, max: usize, wait: Duration) -> anyhow::Result<(Arc<Run>, Arc<Run>)> {
    let mut ours = run.config.clone();
    ours.state_dir = run.dir().join(format!("slot-test-{}", rand::random::<u32>()));
    ours.max_tests = max;
    ours.timeouts.slot = wait;
    let mut other = ours.clone();
    other.run_id = "other-run".into();
    for config in [&ours, &other] {
        std::fs::create_dir_all(config.run_dir())?;
        let mut record: RunRecord = serde_json::from_slice(&std::fs::read(run.dir().join("run.json"))?)?;
        record.run_id = config.run_id.clone();
        // The other run is younger, so ours is the one allowed over the cap.
        if config.run_id == "other-run" {
            record.created_unix += 10;
        }
        std::fs::write(config.run_dir().join("run.json"), serde_json::to_vec(&record)?)?;
    }
    let start = |config: RunConfig| async move {
        let platform = platform(&config);
        anyhow::Ok(Run::start(config, platform).await?)
    };
    Ok((start(ours).await?, start(other).await?))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_slot_table_makes_the_next_deployment_wait_until_one_is_released() -> anyhow::Result<()> {
    let run = this_run().await?;
    let (ours, other) = private_table(&run, 1, Duration::from_millis(1500)).await?;
    // Another run holds the only slot and is not waiting for one: we must wait, not overflow.
    let held = SlotLease::acquire(&other, "stack-a", false, false).await?;
    let err = SlotLease::acquire(&ours, "stack-b", false, false).await.expect_err("a second slot was granted with MAX_TESTS=1");
    let text = err.to_string();
    assert!(text.contains("MAX_TESTS=1") && text.contains("stack-a"), "{text}");
    held.release()?;
    SlotLease::acquire(&ours, "stack-b", false, false).await?.release()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_waiting_on_its_own_held_slot_waits_instead_of_going_over_the_cap() -> anyhow::Result<()> {
    let run = this_run().await?;
    let (ours, _) = private_table(&run, 1, Duration::from_millis(1500)).await?;
    // Our run's own deployment holds the only slot; another deployment of the same run waits
    // for it (its holder will finish, or an idle shared deployment is retired): no overflow.
    let first = SlotLease::acquire(&ours, "backup", false, false).await?;
    let err = SlotLease::acquire(&ours, "upgrade", false, false).await.expect_err("a run went over MAX_TESTS=1 waiting on itself");
    assert!(err.to_string().contains("MAX_TESTS=1"), "{err}");
    assert!(!ours.config.state_dir.join("slots").join("1.json").exists(), "a lease over the cap was written");
    first.release()?;
    Ok(())
}

/// Starts a waiter of `run` for a slot (as a stage that `holds_shared` deployments of its run
/// in use while it waits) and returns once its waiting mark is in the run dir.
async fn waiting(run: &Arc<Run>, stack: &'static str, holds_shared: bool) -> anyhow::Result<tokio::task::JoinHandle<harness::Result<SlotLease>>> {
    let waiter = tokio::spawn({
        let run = run.clone();
        async move { SlotLease::acquire(&run, stack, false, holds_shared).await }
    });
    let marked = || std::fs::read_dir(run.dir()).is_ok_and(|d| d.flatten().any(|e| e.file_name().to_string_lossy().starts_with("waiting-slot.")));
    harness::converge(&format!("the waiter of run {} to mark itself waiting", run.id()), Duration::from_secs(5), Duration::from_millis(20), || async {
        if marked() {
            Ok(())
        } else if waiter.is_finished() {
            Err("the waiter ended without waiting".to_owned())
        } else {
            Err("no waiting mark yet".to_owned())
        }
    })
    .await?;
    Ok(waiter)
}

#[tokio::test(flavor = "multi_thread")]
async fn two_runs_each_waiting_while_keeping_their_shared_deployments_in_use_break_the_deadlock_once() -> anyhow::Result<()> {
    let run = this_run().await?;
    let (ours, other) = private_table(&run, 2, Duration::from_secs(20)).await?;
    let theirs = SlotLease::acquire(&other, "theirs", true, false).await?;
    let mine = SlotLease::acquire(&ours, "mine", true, false).await?;
    // The other run waits for a slot for a deployment that keeps its shared one in use.
    let their_waiter = waiting(&other, "theirs-2", true).await?;
    // Ours is the older run: after its first wait it may go over the cap, and only it.
    let over = SlotLease::acquire(&ours, "mine-2", false, true).await?;
    assert!(ours.config.state_dir.join("slots").join("2.json").exists(), "the breaker did not take a slot over the cap");
    over.release()?;
    mine.release()?;
    // The slot ours gave back is the other run's: its wait ends within the cap.
    their_waiter.await??.release()?;
    theirs.release()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_waiting_while_its_shared_deployments_are_merely_busy_is_no_deadlock() -> anyhow::Result<()> {
    let run = this_run().await?;
    let (ours, other) = private_table(&run, 2, Duration::from_millis(1500)).await?;
    let theirs = SlotLease::acquire(&other, "theirs", true, false).await?;
    let mine = SlotLease::acquire(&ours, "mine", true, false).await?;
    // The other run waits for an upgrade stage that holds nothing: its shared deployment is
    // busy with tests that will end, then it is retired. Ours must wait, not go over.
    let their_waiter = waiting(&other, "theirs-upgrade", false).await?;
    let err = SlotLease::acquire(&ours, "mine-2", false, true).await.expect_err("a run went over MAX_TESTS=2 when nothing was deadlocked");
    assert!(err.to_string().contains("MAX_TESTS=2"), "{err}");
    assert!(!ours.config.state_dir.join("slots").join("2.json").exists(), "a lease over the cap was written");
    // Nor did the other run go over: it started waiting first, so its wait ran out first.
    assert!(their_waiter.await?.is_err(), "the other run was given a slot over MAX_TESTS=2");
    mine.release()?;
    theirs.release()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_finished_runs_teardown_gives_back_its_slots_while_its_owner_lives_on() -> anyhow::Result<()> {
    let run = this_run().await?;
    let (ours, other) = private_table(&run, 2, Duration::from_millis(1500)).await?;
    // Both leases' owner is this live process: only the teardown can free the other run's.
    let theirs = SlotLease::acquire(&other, "theirs-shared", true, false).await?;
    let mine = SlotLease::acquire(&ours, "mine", true, false).await?;
    let released = SlotLease::release_run(&ours.config, other.id()).await?;
    assert_eq!(released, 1, "the other run's one slot was not given back");
    // Its slot is free for ours now; our own lease is untouched.
    let next = SlotLease::acquire(&ours, "mine-2", false, false).await?;
    next.release()?;
    mine.release()?;
    drop(theirs);
    Ok(())
}
