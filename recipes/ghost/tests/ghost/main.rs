//! The ghost suite: one test binary, one module per stage (docs/enroll-recipe.md).
//!
//! Non-mutating tests (install, functional, browser) share one deployment of the PR head per
//! run (Ghost on MariaDB, see PARITY.md), each with posts and members of its own and the same
//! owner (set up by whichever test comes first, with credentials derived from a recipe
//! secret); backup and upgrade deploy their own stacks through the contract API.

mod backup;
mod browser;
mod functional;
mod install;
mod upgrade;

use harness::prelude::*;

/// The run's shared deployment of the head (ready: `/ghost/api/admin/site/` names the site's
/// https URL, as the recipe's `[ready]` says).
async fn shared() -> anyhow::Result<(Suite, Deployment)> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    let app = suite.shared().await?;
    Ok((suite, app))
}
