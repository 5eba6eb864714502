//! The drone suite: one test binary, one module per stage (docs/enroll-recipe.md). Drone is
//! reached the way users and Gitea reach it: over HTTPS through the proxy, trusting only the
//! platform's CA. Every deployment of the recipe has the run's Gitea deployed first, with an
//! OAuth2 application made for it (`[sso] provider = "gitea"`); tests make their own Gitea users
//! and repositories under random names, log them in through Gitea's OAuth2, and push pipelines
//! with git. Pipelines run on the host's Docker engine in a locally present image.
//!
//! Non-mutating tests (install, functional, browser) share the run's one deployment of the
//! head. Backup and upgrade deploy their own through the contract API, which tears them down.

mod backup;
mod browser;
mod functional;
mod install;
mod upgrade;

use harness::prelude::*;
use recipe_drone::{GITEA, Project};

/// The run's shared deployment of the head, and the suite it belongs to.
async fn shared() -> anyhow::Result<(Suite, Deployment)> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    let app = suite.shared().await?;
    Ok((suite, app))
}

/// A fresh Gitea user and repository, logged in to the shared Drone and activated there.
async fn project() -> anyhow::Result<(Suite, Deployment, Project)> {
    let (suite, app) = shared().await?;
    let gitea = suite.dependency(&app, GITEA)?;
    let project = Project::create(&app, &gitea).await?;
    Ok((suite, app, project))
}
