//! The harness's own integration tests, against the real testbed Swarm: the stack driver,
//! slots, bad input, and fault injection (SIGKILL, panic) followed by the janitor.
//!
//! Fixtures live in `tests/fixtures/` (the harness never names a real recipe).

mod bad_input;
mod fault;
mod resolver;
mod slots;
mod stack_driver;

use std::path::PathBuf;

use harness::{
    Rev,
    ops::{AppSpec, RecipeSource, Run, RunConfig, Swarm, platform},
};

pub(crate) fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("fixtures").join(name)
}

/// A run id of our own, so a test's resources are told apart from everything else.
pub(crate) fn fresh_run_id(what: &str) -> String {
    format!("t-{what}-{}", hex_id())
}

fn hex_id() -> String {
    (0..3).map(|_| format!("{:02x}", rand::random::<u8>())).collect()
}

/// The test process's run (owner: the test runner), joined the way suites join it.
pub(crate) async fn this_run() -> anyhow::Result<std::sync::Arc<Run>> {
    let config = RunConfig::from_env()?;
    let platform = platform(&config);
    Ok(Run::start(config, platform).await?)
}

/// A spec for a fixture's head, with a purpose unique to this test.
pub(crate) async fn spec(run: &Run, name: &str) -> anyhow::Result<AppSpec> {
    let source = RecipeSource::fixture_dir(&run.config, &fixture(name), name).await?;
    Ok(AppSpec::new(name, source, Rev::Head, &format!("t{}", hex_id())))
}

/// Everything on the engine that carries `label`: (kind, name).
pub(crate) async fn labelled(label: &str) -> anyhow::Result<Vec<(String, String)>> {
    let swarm = Swarm::connect(&RunConfig::from_env()?).await?;
    Ok(swarm.find(label).await?.into_iter().map(|(k, n, _)| (k.to_owned(), n)).collect())
}
