//! MAX_TESTS: a host-wide cap on concurrent deployments, held across processes.

use std::time::Duration;

use harness::slots::SlotLease;

use crate::this_run;

#[tokio::test(flavor = "multi_thread")]
async fn a_full_slot_table_makes_the_next_deployment_wait_until_one_is_released() -> anyhow::Result<()> {
    let run = this_run().await?;
    let mut config = run.config.clone();
    // A private slot table of one, so other tests' deployments are not in the way.
    config.state_dir = run.dir().join("slot-test-state");
    std::fs::create_dir_all(config.run_dir())?;
    std::fs::copy(run.dir().join("run.json"), config.run_dir().join("run.json"))?;
    config.max_tests = 1;
    config.timeouts.slot = Duration::from_millis(400);

    let first = SlotLease::acquire(&config, "stack-a").await?;
    let blocked = SlotLease::acquire(&config, "stack-b").await;
    let err = blocked.expect_err("a second slot was granted with MAX_TESTS=1").to_string();
    assert!(err.contains("MAX_TESTS=1") && err.contains("stack-a"), "{err}");
    first.release()?;
    let second = SlotLease::acquire(&config, "stack-b").await?;
    second.release()?;
    Ok(())
}
