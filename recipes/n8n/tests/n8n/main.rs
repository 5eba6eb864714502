//! The n8n suite: one test binary, one module per stage (docs/enroll-recipe.md).
//!
//! Non-mutating tests (install, functional, browser) share the run's one deployment of the
//! head, each with workflows and an API key of its own (the instance owner is set up by
//! whichever test comes first; the others log in); the credential-restart, backup and upgrade
//! tests deploy their own stacks through the contract API, which tears them down.

mod backup;
mod browser;
mod functional;
mod install;
mod upgrade;

use harness::prelude::*;

/// The run's shared deployment of the head (ready: `/healthz/readiness` answers
/// `{"status":"ok"}` once the database is migrated, as the recipe's `[ready]` says).
async fn shared() -> anyhow::Result<(Suite, Deployment)> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    let app = suite.shared().await?;
    Ok((suite, app))
}
