//! Install: the head deploys and Ghost really serves, through the proxy and the testbed
//! certificate: the unauthenticated site endpoint reports the head's Ghost version and the
//! deployment's https URL, the public site is rendered by that Ghost (its generator tag), and
//! the release label and images that run are the head's.

use harness::prelude::*;
use recipe_ghost::reported_version;

use crate::shared;

/// The `health_check` of the maintainers' corpus, made strict: Ghost's own site endpoint,
/// with the head's version and this deployment's URL (the recipe's `url=https://${DOMAIN}`).
#[tokio::test(flavor = "multi_thread")]
async fn the_site_endpoint_reports_the_head_version_and_the_https_url() -> anyhow::Result<()> {
    let (suite, app) = shared().await?;
    let resp = app.get("/ghost/api/admin/site/").await?;
    assert_eq!(resp.status, 200);
    let site = resp.json()?["site"].clone();
    assert_eq!(site["version"], reported_version(&suite.head_version()?)?, "not the head's Ghost: {site}");
    assert_eq!(site["url"], format!("https://{}/", app.domain()), "the site URL is not the deployment's: {site}");
    assert!(site["site_uuid"].as_str().is_some_and(|u| u.len() == 36), "no site uuid: {site}");
    Ok(())
}

/// The home page is rendered by Ghost's theme engine (the generator meta tag names Ghost at
/// the head's version) and links its own RSS feed, which is Ghost's XML.
#[tokio::test(flavor = "multi_thread")]
async fn the_public_site_is_rendered_by_the_head_ghost() -> anyhow::Result<()> {
    let (suite, app) = shared().await?;
    let home = app.get("/").await?;
    assert_eq!(home.status, 200);
    let html = home.text();
    let generator = format!("<meta name=\"generator\" content=\"Ghost {}\">", reported_version(&suite.head_version()?)?);
    assert!(html.contains(&generator), "the home page has no {generator}");
    assert!(html.contains(&format!("https://{}/rss/", app.domain())), "the home page does not link the site's RSS feed");
    let rss = app.get("/rss/").await?;
    assert_eq!(rss.status, 200);
    assert!(rss.text().contains("<generator>Ghost 6"), "the RSS feed is not Ghost's");
    Ok(())
}

/// The deployment is the PR head: the release label and the images that run are the head's.
#[tokio::test(flavor = "multi_thread")]
async fn runs_the_head_release_and_image() -> anyhow::Result<()> {
    let (suite, app) = shared().await?;
    contract::runs_head(&suite, &app).await
}
