//! Install: the head deploys, is ready (recipe.toml `[ready]`), and the real Uptime Kuma
//! answers through the proxy: its entry-page API, its web app, its Socket.IO endpoint, and the
//! first-admin setup that only a fresh database accepts.

use harness::prelude::*;
use recipe_uptime_kuma::{Kuma, admin};
use serde_json::json;

use crate::shared;

/// The maintainers' `health_check`, made strict: `/api/entry-page` answers Uptime Kuma's own
/// JSON (`{"type":"entryPage","entryPage":null}` on a new install), `/` leads to the
/// web app (its index page, titled Uptime Kuma, with the built frontend), over the testbed
/// certificate; the proxy's fallback fails `Deployment::get`.
#[tokio::test(flavor = "multi_thread")]
async fn serves_the_real_app_not_the_proxy_fallback() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let entry = app.get("/api/entry-page").await?;
    assert_eq!(entry.status, 200);
    let body = entry.json()?;
    assert_eq!(body["type"], "entryPage", "not Uptime Kuma's entry page: {body}");
    assert!(body.get("entryPage").is_some(), "the entry page names no entryPage (null on a new install): {body}");

    let index = app.get("/").await?;
    assert_eq!(index.status, 200, "/ (after its redirect to the dashboard)");
    let html = index.text();
    assert!(html.contains("<title>Uptime Kuma</title>"), "not the Uptime Kuma web app: {}", html.chars().take(300).collect::<String>());
    assert!(html.contains("/assets/index-"), "the index names no built frontend bundle");
    Ok(())
}

/// The deployment is the PR head: the release label and the image that run are the head's.
#[tokio::test(flavor = "multi_thread")]
async fn runs_the_head_release_and_image() -> anyhow::Result<()> {
    let (suite, app) = shared().await?;
    contract::runs_head(&suite, &app).await?;
    Ok(())
}

/// The first admin is made over Socket.IO (`setup`) and can log in; from then on the server
/// no longer asks for setup and refuses a second one (an anonymous visitor cannot take over).
#[tokio::test(flavor = "multi_thread")]
async fn the_first_admin_is_set_up_once_and_setup_is_then_closed() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let mut kuma = admin(&app).await?;
    kuma.call_ok("getMonitorList", &[]).await?;

    let mut visitor = Kuma::connect(&app).await?;
    assert!(!visitor.need_setup().await?, "the server still asks for setup after its admin exists");
    let intruder = Secret::new(format!("{}9x", Secret::generate(20).expose()));
    let answer = visitor.setup("intruder", &intruder).await?;
    assert_eq!(answer["ok"], json!(false), "a second setup was accepted: {answer}");
    let login = visitor.login("intruder", &intruder).await?;
    assert_eq!(login["ok"], json!(false), "the refused setup made a user anyway: {login}");
    Ok(())
}
