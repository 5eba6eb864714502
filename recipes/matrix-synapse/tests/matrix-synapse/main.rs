//! The matrix-synapse suite: one test binary, one module per concern.
//!
//! Non-mutating tests (install, functional, sso, browser) share one deployment of the PR head
//! per run, each with users and rooms of its own; backup and upgrade deploy their own stacks.
//! Every deployment comes with Keycloak, deployed first by the harness (`[sso]`), and an OIDC
//! client for it there.

mod backup;
mod browser;
mod functional;
mod install;
mod sso;
mod upgrade;

use harness::prelude::*;

/// The run's shared deployment of the head (ready: `/health` answers `OK`, as the recipe's
/// `[ready]` says).
async fn shared() -> anyhow::Result<(Suite, Deployment)> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    let app = suite.shared().await?;
    Ok((suite, app))
}
