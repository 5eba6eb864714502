//! The keycloak suite: one test binary, one module per concern.
//!
//! Non-mutating tests (install, functional, browser) share one deployment of the PR head per
//! run and each work in a realm of their own; backup and upgrade deploy their own stacks.

mod backup;
mod browser;
mod functional;
mod install;
mod upgrade;

use harness::prelude::*;

/// The run's shared deployment of the head (ready: Keycloak serves its master realm, as the
/// recipe's `[ready]` says).
async fn shared() -> anyhow::Result<(Suite, Deployment)> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    let app = suite.shared().await?;
    Ok((suite, app))
}
