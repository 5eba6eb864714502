//! The uptime-kuma suite: one test binary, one module per stage (docs/enroll-recipe.md).
//!
//! Non-mutating tests (install, functional, browser) share the run's one deployment of the
//! head, logged in to as the run's admin (`recipe_uptime_kuma::admin`); backup and upgrade
//! deploy their own through the contract API, which tears them down. The HTTP monitor's target
//! is the run's custom-html deployment (`test_requires`), a separate stack the test stops.

mod backup;
mod browser;
mod functional;
mod install;
mod upgrade;

use harness::prelude::*;

/// The run's suite and its shared deployment of the head.
pub async fn shared() -> anyhow::Result<(Suite, Deployment)> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    let app = suite.shared().await?;
    Ok((suite, app))
}
