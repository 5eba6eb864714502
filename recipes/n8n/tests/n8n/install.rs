//! Install: the head deploys and n8n really serves, through the proxy and the testbed
//! certificate: the readiness endpoint reports a migrated database, the editor's settings name
//! the head's n8n version and this domain, the editor page is n8n's, and the owner is set up
//! non-interactively and gets a working public API key.

use harness::prelude::*;
use recipe_n8n::{Auth, N8n, owner, upstream_version};
use reqwest::Method;

use crate::shared;

/// The maintainers' `health_check`, made strict: n8n's own readiness JSON (only 200 once the
/// database is connected and migrated), not a status code the proxy could give.
#[tokio::test(flavor = "multi_thread")]
async fn readiness_reports_ok_from_n8n_itself() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let resp = app.get("/healthz/readiness").await?;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json()?, serde_json::json!({ "status": "ok" }));
    let live = app.get("/healthz").await?;
    assert_eq!(live.json()?["status"], "ok");
    Ok(())
}

/// The editor's settings (the owner's: anonymously only the public subset) name the head's n8n
/// version and this deployment's public URLs, the public API is on, and the editor page is n8n's; the release label and images that run are
/// the head's.
#[tokio::test(flavor = "multi_thread")]
async fn settings_report_the_head_version_and_public_urls() -> anyhow::Result<()> {
    let (suite, app) = shared().await?;
    let n8n = N8n::of(&app)?;
    let public = n8n.settings(None).await?;
    assert_eq!(public["settingsMode"], "public", "unauthenticated settings are not n8n's public subset");
    assert!(public.get("versionCli").is_none(), "the public settings tell the version");
    let session = n8n.owner_session(&owner(&app)?).await?;
    let settings = n8n.settings(Some(&session)).await?;
    let head = suite.head_version()?;
    assert_eq!(settings["versionCli"], upstream_version(&head)?, "n8n is not the head's version");
    let base = format!("https://{}/", app.domain());
    assert_eq!(settings["urlBaseWebhook"], base.as_str(), "webhooks are not announced on the public URL");
    assert_eq!(settings["urlBaseEditor"], base.trim_end_matches('/'), "the editor is not announced on the public URL");
    assert_eq!(settings["publicApi"]["enabled"], true, "the public API is off: {}", settings["publicApi"]);
    let page = app.get("/").await?;
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(html.contains("<title>n8n.io") && html.contains("id=\"app\""), "not n8n's editor page: {}", html.chars().take(300).collect::<String>());
    contract::runs_head(&suite, &app).await
}

/// The owner is set up without the setup screen (or, when another test was first, logs in),
/// the session is the owner's, and an API key made with it opens the public API, which refuses
/// a request without one.
#[tokio::test(flavor = "multi_thread")]
async fn the_owner_is_set_up_non_interactively_and_gets_an_api_key() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let n8n = N8n::of(&app)?;
    let owner = owner(&app)?;
    let session = n8n.owner_session(&owner).await?;
    assert!(!n8n.needs_owner_setup().await?, "n8n still shows the owner setup");
    let me = n8n.me(&session).await?;
    assert_eq!(me["email"], owner.email.as_str());
    assert_eq!(me["role"], "global:owner", "the session's user is not the owner: {}", me["role"]);

    let anonymous = n8n.call(Method::GET, "/api/v1/workflows", Auth::None, None).await?;
    assert_eq!(anonymous.status, 401, "the public API answered without a key: {}", anonymous.message());
    let key = n8n.create_api_key(&session, &format!("ccci-install-{}", recipe_n8n::tag())).await?;
    let listed = n8n.call(Method::GET, "/api/v1/workflows?limit=5", Auth::ApiKey(&key), None).await?.ok_json("listing workflows with the key")?;
    assert!(listed["data"].is_array(), "no workflow list: {listed}");
    let wrong = Secret::generate(40);
    let refused = n8n.call(Method::GET, "/api/v1/workflows", Auth::ApiKey(&wrong), None).await?;
    assert_eq!(refused.status, 401, "a made-up API key was accepted");
    Ok(())
}
