//! The keycloak suite: one test binary, one module per concern.
//!
//! Non-mutating tests (install, functional, browser) share one deployment of the PR head per
//! run and each work in a realm of their own; backup and upgrade deploy their own stacks.

mod backup;
mod browser;
mod functional;
mod install;
mod upgrade;

use harness::{Deployment, Suite};

/// The run's shared deployment of the head, once Keycloak serves its master realm.
async fn shared() -> anyhow::Result<(Suite, Deployment)> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    let app = suite.shared().await?;
    recipe_keycloak::wait_ready(&app).await?;
    Ok((suite, app))
}
