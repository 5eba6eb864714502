//! The lifecycle of a run owned by the calling process (`xtask test`, `xtask testme`,
//! `xtask bench`): the testbed up when asked, the janitor's pass over dead runs, the variables
//! its test processes need, and at the end the teardown of everything the run made (or
//! keeping it on failure with `CCCI_KEEP`). One implementation, so the two entry points
//! cannot drift apart.

use crate::{
    config::RunConfig,
    error::Result,
    log::progress,
    platform::Platform,
    poll::now_unix,
    swarm::Swarm,
    teardown::{JanitorOptions, janitor, teardown_run},
    testbed::{Fixtures, platform, up_for},
};

/// One run owned by the calling process (`xtask test`, `xtask testme`): the testbed up
/// (when asked), the janitor's pass, the variables its test processes need, and at the
/// end the teardown of everything the run made (or keeping it on failure with
/// `CCCI_KEEP`).
pub struct RunGuard {
    pub config: RunConfig,
    pub platform: Platform,
}

impl RunGuard {
    /// A new run named `<prefix><pid>-<n>`; see [`RunGuard::for_config`].
    pub async fn start(prefix: &str, testbed: Option<&Fixtures>) -> Result<RunGuard> {
        RunGuard::for_config(RunConfig::from_env()?.new_run(prefix), testbed).await
    }

    /// The run `config` names: brings the testbed up for `testbed`'s fixtures (`None`: a
    /// cc-ci host with its own Swarm and Traefik), then reaps what dead runs left.
    pub async fn for_config(config: RunConfig, testbed: Option<&Fixtures>) -> Result<RunGuard> {
        // The testbed first: on a fresh machine it is what starts the engine the janitor needs.
        if let Some(fixtures) = testbed {
            up_for(&config, fixtures).await?;
        }
        let platform = platform(&config);
        for reaped in janitor(&config, &platform, &JanitorOptions::default()).await? {
            progress(format!("janitor: removed leftovers of run {}: {}", reaped.run_id, reaped.removed));
        }
        Ok(RunGuard { config, platform })
    }

    pub fn run_id(&self) -> &str {
        &self.config.run_id
    }

    /// The variables a test runner started for this run must get.
    pub fn child_env(&self) -> Vec<(&'static str, String)> {
        self.config.child_env()
    }

    /// Ends the run: tears down everything of it unless it failed and `CCCI_KEEP` asks to
    /// keep it. Returns one line saying what happened.
    pub async fn finish(self, success: bool) -> Result<String> {
        let run_id = self.config.run_id.clone();
        let dir = self.config.run_dir();
        if self.config.keep_on_failure && !success {
            let _ = std::fs::write(dir.join("kept"), "");
            return Ok(format!("run {run_id}: failed; kept (CCCI_KEEP). Remove with `cargo xtask janitor --run {run_id} --force`"));
        }
        let swarm = Swarm::connect(&self.config).await?;
        let removed = teardown_run(&swarm, &self.config, &self.platform, &run_id).await?;
        if dir.is_dir() {
            let _ = std::fs::write(dir.join("finished"), now_unix().to_string());
        }
        Ok(format!("run {run_id}: removed {removed}"))
    }
}
