//! Install: the head deploys, converges, and the real nginx serves the content volume.

use harness::prelude::*;
use recipe_custom_html::WEB_ROOT;

use crate::shared;

/// The `health_check` of the recipe maintainers' corpus, made strict: not just 200, but the
/// index from the content volume, as HTML, from nginx, over the testbed certificate.
#[tokio::test(flavor = "multi_thread")]
async fn serves_the_seeded_index_as_html() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    // `get` fails if the proxy, not the app, answered.
    let resp = app.get("/").await?;
    assert_eq!(resp.status, 200);
    let content_type = resp.header("content-type").unwrap_or_default();
    let server = resp.header("server").unwrap_or_default();
    let body = resp.text();
    assert!(content_type.starts_with("text/html"), "Content-Type {content_type:?}");
    assert!(server.starts_with("nginx"), "Server {server:?}");
    // The page is the index file in the content volume, byte for byte.
    let on_disk = app.exec_ok("app", &["cat", &format!("{WEB_ROOT}/index.html")]).await?;
    assert_eq!(body.as_bytes(), &on_disk.stdout[..], "served index differs from the volume's index.html");
    assert!(body.contains("<title>"), "index has no title: {body}");
    Ok(())
}

/// The deployment is the PR head: the release it declares and the image it names are what run.
#[tokio::test(flavor = "multi_thread")]
async fn runs_the_head_release_and_image() -> anyhow::Result<()> {
    let (suite, app) = shared().await?;
    contract::runs_head(&suite, &app).await?;
    // And the image is the one the head's own compose.yml names, not an overlay's.
    let running = app.running_image("app").await?;
    let compose = std::fs::read_to_string(suite.source.repo.join("compose.yml"))?;
    assert!(compose.contains(&format!("image: {running}")), "running image {running} is not the head's");
    Ok(())
}
