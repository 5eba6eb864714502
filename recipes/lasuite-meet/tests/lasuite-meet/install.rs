//! Install: the head deploys and both parts serve through the proxy and the testbed
//! certificate: LiveKit answers under the app's domain for itself (its Twirp API refuses a
//! call without a token with Twirp's JSON error; its signalling endpoint refuses a bad token),
//! and the meeting page serves the livekit-client bundle it joins calls with.

use harness::prelude::*;

use crate::shared;

/// The `health_check` of the maintainers' corpus, made strict: LiveKit's own Twirp error for an
/// unauthenticated call and its signalling endpoint's refusal of a malformed token, both under
/// the app's domain; and the running release label and images are the head's.
#[tokio::test(flavor = "multi_thread")]
async fn livekit_answers_under_the_app_domain_and_refuses_calls_without_a_valid_token() -> anyhow::Result<()> {
    let (suite, app) = shared().await?;
    let http = app.http()?;
    let resp = http.request(reqwest::Method::POST, "/twirp/livekit.RoomService/ListRooms").json(&serde_json::json!({})).send().await?;
    assert_eq!(resp.status().as_u16(), 401, "ListRooms without a token");
    let body: serde_json::Value = resp.json().await?;
    assert_eq!(body["code"], "unauthenticated", "{body}");

    let resp = app.get("/rtc/validate?access_token=not-a-jwt").await?;
    assert_eq!(resp.status, 401, "{}", resp.text());
    assert_eq!(resp.text().trim(), "invalid authorization token");
    contract::runs_head(&suite, &app).await
}

/// The meeting page serves, and with it the livekit-client bundle it joins calls with, as
/// JavaScript that defines the `LivekitClient` global (its version is checked in the browser).
#[tokio::test(flavor = "multi_thread")]
async fn the_meeting_page_serves_with_the_livekit_client_bundle() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let page = app.get("/").await?;
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(html.contains("<script src=\"/livekit-client.umd.js\"></script>"), "{html}");
    let bundle = app.get("/livekit-client.umd.js").await?;
    assert_eq!(bundle.status, 200);
    assert!(bundle.header("content-type").is_some_and(|t| t.contains("javascript")), "{:?}", bundle.header("content-type"));
    assert!(bundle.body.len() > 100_000, "a {}-byte bundle", bundle.body.len());
    assert!(bundle.text().contains(".LivekitClient={}"), "the bundle does not define LivekitClient");
    Ok(())
}
