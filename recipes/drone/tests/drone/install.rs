//! Install: the head serves Drone itself through the proxy: `/healthz` answers 200 `OK` and
//! `/version` (`{"version": ...}`) reports the Drone release the recipe's version names; the running services are
//! the head's.

use harness::prelude::*;
use recipe_drone::Drone;

use crate::shared;

#[tokio::test(flavor = "multi_thread")]
async fn healthz_answers_and_version_names_the_recipes_drone_release() -> anyhow::Result<()> {
    let (suite, app) = shared().await?;
    let health = app.get("/healthz").await?;
    anyhow::ensure!(health.status == 200 && health.text().trim() == "OK", "GET /healthz: HTTP {}: {}", health.status, health.text());
    let gitea = suite.dependency(&app, recipe_drone::GITEA)?;
    let version = Drone::new(&app, &gitea).version().await?;
    let head = suite.head_version()?;
    let expected = harness::fixture::upstream_version(&head)?;
    anyhow::ensure!(version["version"] == expected, "Drone reports version {}, the recipe {head} names {expected}", version["version"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_running_services_are_the_heads() -> anyhow::Result<()> {
    let (suite, app) = shared().await?;
    contract::runs_head(&suite, &app).await
}
