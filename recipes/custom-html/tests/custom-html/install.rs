//! Install: the head deploys, converges, and the real nginx serves the content volume.

use harness::ingress::FALLBACK_MARKER;
use recipe_custom_html::WEB_ROOT;

use crate::shared;

/// The `health_check` of the recipe maintainers' corpus, made strict: not just 200, but the
/// index from the content volume, as HTML, from nginx, over the testbed certificate.
#[tokio::test(flavor = "multi_thread")]
async fn serves_the_seeded_index_as_html() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let resp = app.http()?.get("/").send().await?;
    assert_eq!(resp.status().as_u16(), 200);
    let content_type = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let server = resp.headers().get("server").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let body = resp.text().await?;
    assert!(content_type.starts_with("text/html"), "Content-Type {content_type:?}");
    assert!(server.starts_with("nginx"), "Server {server:?}");
    assert!(!body.contains(FALLBACK_MARKER), "the proxy answered, not the app: {body}");
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
    let head = suite.head_version()?;
    assert_eq!(app.running_version().await?.as_deref(), Some(head.as_str()));
    let running = app.run().swarm.running_image(&app.service("app")).await?;
    let compose = std::fs::read_to_string(suite.source.repo.join("compose.yml"))?;
    assert!(compose.contains(&format!("image: {running}")), "running image {running} is not the head's");
    Ok(())
}
