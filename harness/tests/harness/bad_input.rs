//! Bad input ends in one clear error and nothing deployed.

use std::time::Instant;

use harness::{Deployment, HarnessError, Suite, ops::STACK_LABEL};

use crate::{labelled, spec, this_run};

#[tokio::test(flavor = "multi_thread")]
async fn a_stack_that_never_converges_fails_with_diagnostics_and_leaves_nothing() -> anyhow::Result<()> {
    let run = this_run().await?;
    let spec = spec(&run, "never-converges").await?;
    let stack = harness::ops::stack_name(&run.config, &spec.recipe, &spec.purpose);
    let start = Instant::now();
    let err = Deployment::deploy(&run, spec).await.expect_err("a crash-looping app was reported deployed");
    let elapsed = start.elapsed();
    let text = err.to_string();
    assert!(matches!(err, HarnessError::NotConverged { .. }), "{text}");
    assert!(text.contains("keeps failing"), "no crash-loop verdict: {text}");
    assert!(text.contains("TASK") && text.contains("non-zero exit"), "no task table: {text}");
    assert!(text.contains("never-converges: refusing to start"), "no service logs: {text}");
    assert!(elapsed.as_secs() < 60, "took {elapsed:?}: crash loops must not wait for the full timeout");
    assert!(labelled(&format!("{STACK_LABEL}={stack}")).await?.is_empty(), "{stack} left resources");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_recipe_toml_names_the_file_and_the_key() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("ccci-bad-recipe-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("recipe.toml"), "name = \"broken\"\n[upgrade]\nbase = 3\n")?;
    let err = Suite::start(&dir).await.expect_err("a malformed recipe.toml was accepted").to_string();
    std::fs::remove_dir_all(&dir)?;
    assert!(err.contains(&dir.join("recipe.toml").display().to_string()), "{err}");
    assert!(err.contains("upgrade.base"), "{err}");
    Ok(())
}

/// Every test of a suite starts with `Suite::start`: a broken recipe.toml is reported in
/// full by the first test of the run and in one line pointing at it by the others.
#[tokio::test(flavor = "multi_thread")]
async fn a_broken_recipe_toml_is_reported_in_full_once_per_run() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("ccci-broken-once-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("recipe.toml"), "name = \"broken\"\n[backup\ncapable = true\n")?;
    let first = Suite::start(&dir).await.expect_err("accepted").to_string();
    let second = Suite::start(&dir).await.expect_err("accepted").to_string();
    std::fs::remove_dir_all(&dir)?;
    assert!(first.contains("recipe.toml:2:") && first.contains(": backup: "), "{first}");
    assert!(second.contains("the first failing test of this run says why") && !second.contains(": backup: "), "{second}");
    assert_eq!((first.lines().count(), second.lines().count()), (1, 1));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_fixture_is_a_configuration_error() -> anyhow::Result<()> {
    let run = this_run().await?;
    let err = harness::ops::RecipeSource::fixture(&run.config, "no-such-fixture").await.expect_err("found a fixture that does not exist");
    assert!(err.is_unverified(), "a missing fixture says nothing about a recipe: {err}");
    assert!(err.to_string().contains("no-such-fixture"), "{err}");
    Ok(())
}

/// An upgrade whose head cannot start (its image does not exist) is rolled back by Swarm
/// (`failure_action: rollback`), and the rolled-back service converges on the old spec. The
/// upgrade must fail and say so, not report "upgraded" with the old release still running.
#[tokio::test(flavor = "multi_thread")]
async fn an_upgrade_swarm_rolled_back_fails_naming_the_rollback() -> anyhow::Result<()> {
    let run = this_run().await?;
    let mut spec = spec(&run, "rollback").await?;
    spec.rev = harness::Rev::Release("1.0.0+probe".into());
    let mut d = Deployment::deploy(&run, spec).await?;
    let upgraded = d.upgrade(harness::Rev::Head).await;
    let running = d.running_version().await;
    d.teardown().await?;
    let err = upgraded.expect_err("a rolled-back upgrade was reported as a success");
    let text = err.to_string();
    assert!(text.contains("rolled the update back"), "the error does not name the rollback: {text}");
    assert_eq!(running?.as_deref(), Some("1.0.0+probe"), "the old release should be what runs after the rollback");
    Ok(())
}

/// An app whose healthcheck always fails, under an `on-failure` restart policy: Swarm stops
/// the unhealthy container, nginx exits 0, and nothing restarts it. The deploy must fail
/// early (not at the 120 s timeout) saying "unhealthy", with the healthcheck's own output.
#[tokio::test(flavor = "multi_thread")]
async fn an_always_failing_healthcheck_fails_early_with_its_output() -> anyhow::Result<()> {
    let run = this_run().await?;
    let spec = spec(&run, "unhealthy").await?;
    let start = Instant::now();
    let err = Deployment::deploy(&run, spec).await.expect_err("an always-unhealthy app was reported deployed");
    let text = err.to_string();
    assert!(matches!(err, HarnessError::NotConverged { .. }), "{text}");
    assert!(text.contains("unhealthy"), "the error does not say unhealthy: {text}");
    assert!(text.contains("unhealthy-probe: the app says no"), "the healthcheck's output is missing: {text}");
    assert!(start.elapsed().as_secs() < 60, "found only after {:?}", start.elapsed());
    Ok(())
}
