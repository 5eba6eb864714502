//! Install: the head deploys and Synapse really serves, through the proxy and the testbed
//! certificate: `/health` is exactly `OK`, the client API lists its spec versions, the
//! federation API names Synapse at the head's version, and discovery (`.well-known`) points
//! clients and servers at this domain.

use harness::prelude::*;
use recipe_matrix_synapse::upstream_version;

use crate::shared;

/// The `health_check` of the maintainers' corpus, made strict: Synapse's own health resource
/// (plain text, exactly `OK`), not a status code the proxy could give.
#[tokio::test(flavor = "multi_thread")]
async fn health_answers_exactly_ok() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let resp = app.get("/health").await?;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "OK");
    assert!(resp.header("content-type").is_some_and(|t| t.starts_with("text/plain")), "{:?}", resp.header("content-type"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn client_versions_lists_the_spec_versions() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let resp = app.get("/_matrix/client/versions").await?;
    assert_eq!(resp.status, 200);
    let v = resp.json()?;
    let versions: Vec<&str> = v["versions"].as_array().map(|a| a.iter().filter_map(|s| s.as_str()).collect()).unwrap_or_default();
    assert!(versions.contains(&"r0.6.1") && versions.contains(&"v1.1"), "spec versions: {versions:?}");
    assert!(versions.iter().all(|s| s.starts_with('r') || s.starts_with('v')), "spec versions: {versions:?}");
    assert!(v["unstable_features"].is_object(), "no unstable_features map: {v}");
    Ok(())
}

/// The federation API answers with Synapse's name and the head's Synapse version, and the
/// release label and images that run are the head's.
#[tokio::test(flavor = "multi_thread")]
async fn federation_version_names_synapse_at_the_head_version() -> anyhow::Result<()> {
    let (suite, app) = shared().await?;
    let resp = app.get("/_matrix/federation/v1/version").await?;
    assert_eq!(resp.status, 200);
    let v = resp.json()?;
    assert_eq!(v["server"]["name"], "Synapse");
    let head = suite.head_version()?;
    assert_eq!(v["server"]["version"], upstream_version(&head)?, "the server is not the head's Synapse");
    contract::runs_head(&suite, &app).await
}

/// Client discovery names this homeserver's public URL, server discovery its domain on 443
/// (both through the recipe's `.well-known/matrix` router).
#[tokio::test(flavor = "multi_thread")]
async fn well_known_points_clients_and_servers_at_the_domain() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let client = app.get("/.well-known/matrix/client").await?;
    assert_eq!(client.status, 200);
    assert_eq!(client.json()?["m.homeserver"]["base_url"], format!("https://{}/", app.domain()));
    let server = app.get("/.well-known/matrix/server").await?;
    assert_eq!(server.status, 200);
    assert_eq!(server.json()?["m.server"], format!("{}:443", app.domain()));
    Ok(())
}
