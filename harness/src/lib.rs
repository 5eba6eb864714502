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
//! 7. adapters and roles: `testbed` (the offline platform), `lifecycle` (`RunGuard`, a run
//!    owned by xtask), `hook` (process roles before `main`), `testing` (fault injection,
//!    feature `fault-injection`).
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
mod lifecycle;
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
pub mod fixture;
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
pub use poll::{converge, scaled};
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
        recipe::{REAL_TESTS_BINARY, REAL_TESTS_FEATURE, Recipe, RecipeToml},
        poll::now_unix,
        run::{Run, RunRecord, deploy_count},
        slots::SlotLease,
        swarm::{RUN_LABEL, STACK_LABEL, Swarm},
        teardown::{JanitorOptions, Reaped, janitor, teardown_run},
        testbed::{Fixtures, down, platform, referenced_images, status, up, up_for},
        lifecycle::RunGuard,
    };
}

/// Ends a scaffolded test with one clear line until it is written:
/// `harness::unwritten!("write the functional tests: ...")` returns an error naming the file.
#[macro_export]
macro_rules! unwritten {
    ($what:expr) => {
        return Err(::anyhow::anyhow!("{}: not written yet: {}", file!(), $what))
    };
}
