//! Functional: content written into the volume is served exactly, and nginx's HTTP semantics
//! (real 404s, content types, conditional and range requests) hold through the proxy.

use recipe_custom_html::{fetch, random_file, remove_content, sha256_hex, write_content};
use rstest::rstest;

use crate::shared;

#[tokio::test(flavor = "multi_thread")]
async fn a_random_file_round_trips_by_sha256() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let (name, bytes) = random_file("roundtrip", "bin", 256 * 1024);
    write_content(&app, &name, &bytes).await?;
    let served = fetch(&app, &name).await?.ok_or_else(|| anyhow::format_err!("/{name} is 404 after writing it"))?;
    remove_content(&app, &name).await?;
    assert_eq!(sha256_hex(&served), sha256_hex(&bytes));
    assert_eq!(fetch(&app, &name).await?, None, "/{name} still served after removing it");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_path_is_nginx_404_not_the_proxy_fallback() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let (name, _) = random_file("missing", "html", 0);
    // `get` fails if the proxy, not the app, answered.
    let resp = app.get(&format!("/{name}")).await?;
    assert_eq!(resp.status, 404);
    let body = resp.text();
    assert!(body.contains("<title>404 Not Found</title>") && body.contains("nginx"), "not nginx's 404 page: {body}");
    Ok(())
}

#[rstest]
#[case::html("html", "text/html")]
#[case::css("css", "text/css")]
#[case::svg("svg", "image/svg+xml")]
#[case::json("json", "application/json")]
#[tokio::test(flavor = "multi_thread")]
async fn content_types_follow_the_file_extension(#[case] ext: &str, #[case] expected: &str) -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let (name, bytes) = random_file("ctype", ext, 64);
    write_content(&app, &name, &bytes).await?;
    let resp = app.http()?.get(&format!("/{name}")).send().await?;
    let status = resp.status().as_u16();
    let content_type = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    remove_content(&app, &name).await?;
    assert_eq!(status, 200);
    assert!(content_type.starts_with(expected), "/{name}: Content-Type {content_type:?}, expected {expected}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn etag_revalidation_answers_304_without_a_body() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let (name, bytes) = random_file("etag", "txt", 1000);
    write_content(&app, &name, &bytes).await?;
    let http = app.http()?;
    let first = http.get(&format!("/{name}")).send().await?;
    assert_eq!(first.status().as_u16(), 200);
    let etag = first.headers().get("etag").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let again = match &etag {
        Some(etag) => Some(http.get(&format!("/{name}")).header("If-None-Match", etag).send().await?),
        None => None,
    };
    let stale = http.get(&format!("/{name}")).header("If-None-Match", "\"not-the-etag\"").send().await?;
    remove_content(&app, &name).await?;
    let etag = etag.ok_or_else(|| anyhow::format_err!("no ETag on /{name}"))?;
    let again = again.expect("sent when the ETag exists");
    assert_eq!(again.status().as_u16(), 304, "If-None-Match {etag}");
    assert!(again.bytes().await?.is_empty(), "a 304 carries no body");
    assert_eq!(stale.status().as_u16(), 200, "a non-matching ETag must get the content");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn range_requests_return_exactly_the_requested_bytes() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let (name, bytes) = random_file("range", "bin", 5000);
    write_content(&app, &name, &bytes).await?;
    let resp = app.http()?.get(&format!("/{name}")).header("Range", "bytes=1000-1999").send().await?;
    let status = resp.status().as_u16();
    let content_range = resp.headers().get("content-range").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let body = resp.bytes().await?;
    remove_content(&app, &name).await?;
    assert_eq!(status, 206);
    assert_eq!(content_range, "bytes 1000-1999/5000");
    assert_eq!(&body[..], &bytes[1000..2000]);
    Ok(())
}
