//! Install: the head deploys, converges and the real Gitea answers through the proxy: its
//! version is the head's, it runs the head's release and image, the health endpoint reports
//! its database check, and the administrator from the recipe's secret exists and is admin.

use harness::prelude::*;
use recipe_gitea::{admin, admin_credentials, upstream_version};

use crate::shared;

/// The `health_check` of the maintainers' corpus, made strict: `/api/v1/version` is Gitea's
/// own JSON and says the head's version; the release label and every image are the head's.
#[tokio::test(flavor = "multi_thread")]
async fn the_api_reports_the_head_version_on_the_head_release_and_image() -> anyhow::Result<()> {
    let (suite, app) = shared().await?;
    // `get` fails if the proxy, not the app, answered.
    let resp = app.get("/api/v1/version").await?;
    assert_eq!(resp.status, 200);
    let head = suite.head_version()?;
    assert_eq!(resp.json()?["version"].as_str(), Some(upstream_version(&head)?), "not the head's Gitea");
    contract::runs_head(&suite, &app).await?;
    let running = app.running_image("app").await?;
    assert_eq!(running, format!("ccci-testbed/gitea:{}", upstream_version(&head)?));
    Ok(())
}

/// `/api/healthz` is Gitea's health report (RFC draft health JSON): status `pass` with its
/// database check passing, not just an HTTP 200.
#[tokio::test(flavor = "multi_thread")]
async fn the_health_endpoint_reports_a_passing_database_check() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let resp = app.get("/api/healthz").await?;
    assert_eq!(resp.status, 200);
    let health = resp.json()?;
    assert_eq!(health["status"].as_str(), Some("pass"), "{health}");
    let db = &health["checks"]["database:ping"];
    assert_eq!(db[0]["status"].as_str(), Some("pass"), "no passing database check in {health}");
    Ok(())
}

/// The administrator was bootstrapped from the recipe's `admin_password` secret at start: it
/// logs in with it, is a site admin, and can list users through the admin API.
#[tokio::test(flavor = "multi_thread")]
async fn the_administrator_from_the_secret_is_a_site_admin() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let api = admin(&app)?;
    let (login, _) = admin_credentials(&app)?;
    let me = api.me().await?;
    assert_eq!(me["login"].as_str(), Some(login.as_str()));
    assert_eq!(me["is_admin"].as_bool(), Some(true), "{login} is not a site admin");
    // The admin API answers the admin, and refuses a user it creates.
    let orgs = api.get(&format!("/admin/users/{login}/orgs")).await?;
    assert!(orgs.is_array(), "{orgs}");
    let user = api.create_user(&format!("plain-{}", recipe_gitea::tag())).await?;
    let refused = api.gitea().api(user.auth()).call(reqwest::Method::GET, "/admin/users", None).await?;
    assert_eq!(refused.status, 403, "a plain user reached the admin API");
    Ok(())
}
