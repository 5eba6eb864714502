//! Test harness for Co-op Cloud recipes: deploys a recipe onto a real Docker Swarm, proves it
//! serves, upgrades and survives backup/restore, and leaves nothing behind.
//!
//! Two surfaces, everything else private:
//! - [`prelude`] (also at the root) and [`contract`], [`providers`], [`browser`]: what a
//!   recipe's tests use (`recipes/<name>/tests/<name>/main.rs` starts from [`Suite`]);
//! - [`ops`]: what `cargo xtask` and the harness's own tests use (testbed, janitor, run
//!   lifecycle, locks).
//!
//! Layers, each importing only those below it (ARCHITECTURE.md; checked by
//! `xtask/tests/tidy.rs`):
//! 1. core: `config` (the only reader of the environment), `error`, `log`, `poll` (the only
//!    sleeper), `proc`, `secret`, `lock`;
//! 2. engine: `swarm` (bollard), `bridge`, `volumes`;
//! 3. runs and recipes: `run`, `slots`, `recipe`, `checkout`, `envfile`, `platform`, `http`;
//! 4. deploy: `deploy` (the `Deployment` handle over the stack and abra drivers, readiness),
//!    `backup`, `shared`, `teardown`;
//! 5. providers and browser: `providers` (identity providers behind one trait), `browser`;
//! 6. contract: `resolve`, `suite`, `contract`;
//! 7. adapters and roles: `testbed` (the offline platform), `hook` (process roles before
//!    `main`), `testing` (fault injection, feature `fault-injection`).
//!
//! Nothing here names a recipe, except the adapters that exist for one (e.g. `providers::keycloak`,
//! `testbed`).

mod backup;
mod bridge;
pub mod browser;
mod checkout;
mod config;
pub mod contract;
mod deploy;
mod envfile;
mod error;
mod hook;
mod http;
mod lock;
#[doc(hidden)]
pub mod log;
mod platform;
mod poll;
mod proc;
pub mod providers;
mod recipe;
mod resolve;
mod run;
mod secret;
mod shared;
mod slots;
mod suite;
mod swarm;
mod teardown;
mod testbed;
#[cfg(feature = "fault-injection")]
mod testing;
mod volumes;

/// What a recipe's tests use: `use harness::prelude::*;`.
pub mod prelude {
    pub use crate::{
        backup::{BackupArtifact, DataProbe, RoundTrip},
        checkout::Rev,
        contract,
        deploy::{AppResponse, Deployment},
        error::HarnessError,
        http::AppClient,
        secret::Secret,
        suite::Suite,
    };
}

pub use error::{HarnessError, Result, UNVERIFIED_MARKER};
pub use poll::converge;
pub use prelude::*;

/// What `cargo xtask` and the harness's own tests use: the testbed, runs and their
/// lifecycle, teardown and the janitor, locks, labels.
pub mod ops {
    pub use crate::{
        backup::integrity_roundtrip,
        checkout::RecipeSource,
        config::{DriverKind, ROLE_VAR, RunConfig, Timeouts},
        deploy::spec::{AppSpec, SsoGrant, stack_name},
        lock::{FileLock, Wait, held_by, is_held},
        platform::{Platform, Proxy},
        recipe::{Recipe, RecipeToml},
        poll::now_unix,
        run::{Run, RunRecord, deploy_count},
        slots::SlotLease,
        swarm::{RUN_LABEL, STACK_LABEL, Swarm},
        teardown::{JanitorOptions, Reaped, janitor, teardown_run},
        testbed::{Fixtures, down, platform, referenced_images, status, up, up_for},
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
        pub async fn start(prefix: &str, testbed: Option<&Fixtures>) -> crate::Result<RunGuard> {
            RunGuard::for_config(RunConfig::from_env()?.new_run(prefix), testbed).await
        }

        /// The run `config` names: brings the testbed up for `testbed`'s fixtures (`None`: a
        /// cc-ci host with its own Swarm and Traefik), then reaps what dead runs left.
        pub async fn for_config(config: RunConfig, testbed: Option<&Fixtures>) -> crate::Result<RunGuard> {
            // The testbed first: on a fresh machine it is what starts the engine the janitor needs.
            if let Some(fixtures) = testbed {
                up_for(&config, fixtures).await?;
            }
            let platform = platform(&config);
            for reaped in janitor(&config, &platform, &JanitorOptions::default()).await? {
                crate::log::progress(format!("janitor: removed leftovers of run {}: {}", reaped.run_id, reaped.removed));
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
        pub async fn finish(self, success: bool) -> crate::Result<String> {
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
}

/// Ends a scaffolded test with one clear line until it is written:
/// `harness::unwritten!("write the functional tests: ...")` returns an error naming the file.
#[macro_export]
macro_rules! unwritten {
    ($what:expr) => {
        return Err(::anyhow::anyhow!("{}: not written yet: {}", file!(), $what))
    };
}
