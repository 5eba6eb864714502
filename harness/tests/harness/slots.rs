//! MAX_TESTS: a host-wide cap on concurrent deployments, held across processes and runs.

use std::{sync::Arc, time::Duration};

use harness::ops::{Run, RunConfig, RunRecord, SlotLease};

use crate::this_run;

/// A private slot table (so other tests' deployments are not in the way) with `max` slots,
/// and a second run `other` beside ours, both owned by live processes.
fn private_table(run: &Arc<Run>, max: usize) -> anyhow::Result<(RunConfig, RunConfig)> {
    let mut ours = run.config.clone();
    ours.state_dir = run.dir().join(format!("slot-test-{}", rand::random::<u32>()));
    ours.max_tests = max;
    ours.timeouts.slot = Duration::from_millis(1500);
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
    Ok((ours, other))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_slot_table_makes_the_next_deployment_wait_until_one_is_released() -> anyhow::Result<()> {
    let run = this_run().await?;
    let (ours, other) = private_table(&run, 1)?;
    // Another run holds the only slot and is not waiting for one: we must wait, not overflow.
    let held = SlotLease::acquire(&other, "stack-a").await?;
    let err = SlotLease::acquire(&ours, "stack-b").await.expect_err("a second slot was granted with MAX_TESTS=1");
    let text = err.to_string();
    assert!(text.contains("MAX_TESTS=1") && text.contains("stack-a"), "{text}");
    held.release()?;
    SlotLease::acquire(&ours, "stack-b").await?.release()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_waiting_on_its_own_held_slot_goes_one_over_instead_of_deadlocking() -> anyhow::Result<()> {
    let run = this_run().await?;
    let (ours, _) = private_table(&run, 1)?;
    // Our run's shared deployment holds the only slot for the whole run; a mutating test of
    // the same run then needs one: without the rule nobody would ever release.
    let shared = SlotLease::acquire(&ours, "shared").await?;
    let second = SlotLease::acquire(&ours, "backup").await?;
    let over = ours.state_dir.join("slots").join("1.json");
    assert!(over.exists(), "the second lease is not the one over the cap");
    second.release()?;
    shared.release()?;
    Ok(())
}
