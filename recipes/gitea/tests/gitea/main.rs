//! The gitea suite: one test binary, one module per stage (docs/enroll-recipe.md). Every
//! check goes through the proxy the way users and CI servers reach Gitea: the REST API over
//! HTTPS and git over HTTPS (this crate's `Api` and `Git`), trusting only the platform's CA.
//!
//! Non-mutating tests (install, functional) share the run's one deployment of the head; each
//! creates its own users and repositories under random names. Backup and upgrade deploy their
//! own through the contract API, which tears them down.

mod backup;
mod functional;
mod install;
mod upgrade;

use harness::prelude::*;

/// The run's shared deployment of the head, and the suite it belongs to.
async fn shared() -> anyhow::Result<(Suite, Deployment)> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    let app = suite.shared().await?;
    Ok((suite, app))
}
