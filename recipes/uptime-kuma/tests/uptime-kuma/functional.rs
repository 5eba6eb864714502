//! Functional: what Uptime Kuma is for, asserted on its stored heartbeats and pages.
//!
//! - an HTTP monitor of a real service (the run's custom-html deployment, another stack)
//!   records UP, records DOWN when that stack is removed, and UP again when it is back;
//! - a push monitor records the heartbeats pushed to `/api/push/<token>`, up and down, with
//!   their messages, and an unknown token is refused;
//! - a status page is created, lists its monitor, and is served to anonymous visitors;
//! - a wrong password is refused, and an unauthenticated session cannot add a monitor.

use std::time::Duration;

use anyhow::{Context as _, ensure};
use harness::prelude::*;
use recipe_uptime_kuma::{ADMIN_USER, DOWN, Kuma, UP, admin, admin_password, http_monitor, push_monitor, stored_beats, token};
use serde_json::{Value, json};

use crate::shared;

const POLL: Duration = Duration::from_secs(2);

/// Waits until the newest heartbeat of `id` has `status`; returns it.
async fn newest_beat(app: &Deployment, password: &Secret, id: i64, status: i64, timeout: Duration) -> anyhow::Result<Value> {
    let what = format!("monitor {id}'s newest heartbeat to be {}", if status == UP { "UP" } else { "DOWN" });
    let beat = harness::converge(&what, timeout, POLL, || async {
        let beats = stored_beats(app, password, id).await.map_err(|e| format!("{e:#}"))?;
        match beats.last() {
            Some(last) if last["status"].as_i64() == Some(status) => Ok(last.clone()),
            last => Err(format!("newest heartbeat: {last:?}")),
        }
    })
    .await?;
    Ok(beat)
}

/// Anchor test (upstream e2e, cc-ci's review): an HTTP monitor of a running service goes UP;
/// when the service's stack is removed the monitor records DOWN, with the connection error;
/// when the stack is deployed again it recovers to UP. The target is the run's custom-html
/// deployment, reached from Uptime Kuma's container by its Swarm service's task address on
/// the shared proxy network.
#[tokio::test(flavor = "multi_thread")]
async fn an_http_monitor_goes_down_when_its_target_stops_and_up_when_it_returns() -> anyhow::Result<()> {
    let (suite, app) = shared().await?;
    let mut target = suite.dependency(&app, "custom-html")?;
    let url = format!("http://tasks.{}/", target.service("app"));
    let mut kuma = admin(&app).await?;
    let password = admin_password(&app).await?;
    let name = format!("ccci-http-{}", token(8));
    let id = kuma.add_monitor(http_monitor(&name, &url, 20)).await?;
    let stored = kuma.monitor(id).await?.context("the added monitor is not stored")?;
    assert_eq!(stored["url"], json!(url));
    assert_eq!(stored["type"], "http");

    let deadline = harness::scaled(Duration::from_secs(90));
    let up = newest_beat(&app, &password, id, UP, deadline).await.context("while the target runs")?;
    assert!(up["ping"].as_i64().is_some(), "an UP beat of an HTTP monitor carries its response time: {up}");

    target.undeploy().await?;
    let checked = async {
        let down = newest_beat(&app, &password, id, DOWN, deadline).await.context("after the target's stack was removed")?;
        ensure!(!down["msg"].as_str().unwrap_or_default().is_empty(), "a DOWN beat says why: {down}");
        Ok::<_, anyhow::Error>(())
    }
    .await;
    // The target is the run's: it is deployed again whatever the check found.
    let back = target.redeploy().await;
    checked?;
    back.context("deploying the target again")?;
    newest_beat(&app, &password, id, UP, deadline).await.context("after the target was deployed again")?;
    // The first session went idle (unanswered pings close it): a new one cleans up.
    let mut kuma = admin(&app).await?;
    kuma.delete_monitor(id).await?;
    assert!(kuma.monitor(id).await?.is_none(), "the deleted monitor is still stored");
    Ok(())
}

/// A push monitor records what is pushed to `/api/push/<token>`: `status=up` and
/// `status=down` answer `{"ok":true}` and appear as heartbeats with their messages, in order;
/// an unknown token answers 404 `{"ok":false}` and records nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_push_monitor_records_the_heartbeats_pushed_to_it() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let mut kuma = admin(&app).await?;
    let password = admin_password(&app).await?;
    let push_token = token(32);
    let id = kuma.add_monitor(push_monitor(&format!("ccci-push-{}", token(8)), &push_token, 3600)).await?;
    let http = app.http()?;

    let (up_msg, down_msg) = (format!("up-{}", token(10)), format!("down-{}", token(10)));
    for (status, msg) in [("up", &up_msg), ("down", &down_msg)] {
        let resp = http.get(&format!("/api/push/{push_token}?status={status}&msg={msg}&ping=12")).send().await?;
        assert_eq!(resp.status().as_u16(), 200);
        let body: Value = resp.json().await?;
        assert_eq!(body, json!({"ok": true}), "push {status}");
    }
    let unknown = http.get(&format!("/api/push/{}?status=up&msg=stray", token(32))).send().await?;
    assert_eq!(unknown.status().as_u16(), 404, "an unknown push token");
    assert_eq!(unknown.json::<Value>().await?["ok"], json!(false));

    let beats = stored_beats(&app, &password, id).await?;
    let pushed: Vec<(i64, String)> = beats
        .iter()
        .filter(|b| b["msg"] == json!(up_msg) || b["msg"] == json!(down_msg))
        .map(|b| (b["status"].as_i64().unwrap_or(-1), b["msg"].as_str().unwrap_or_default().to_owned()))
        .collect();
    assert_eq!(pushed, vec![(UP, up_msg.clone()), (DOWN, down_msg.clone())], "the pushed heartbeats, in order; all beats: {beats:?}");
    assert!(beats.iter().all(|b| b["msg"] != json!("stray")), "a push to an unknown token was recorded");
    kuma.delete_monitor(id).await?;
    Ok(())
}

/// A status page is created (`addStatusPage`) and given a public group holding a monitor
/// (`saveStatusPage`); anonymous visitors then get its data from `/api/status-page/<slug>`
/// (title, description, the monitor by name) and the page itself at `/status/<slug>`, rendered
/// with its title; an unknown slug is a 404.
#[tokio::test(flavor = "multi_thread")]
async fn a_status_page_lists_its_monitor_to_anonymous_visitors() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let mut kuma = admin(&app).await?;
    let monitor_name = format!("ccci-status-{}", token(8));
    let id = kuma.add_monitor(push_monitor(&monitor_name, &token(32), 3600)).await?;
    let slug = format!("ccci-{}", token(10));
    let title = format!("ccci status {}", token(6));
    let description = format!("watched by ccci {}", token(12));
    kuma.call_ok("addStatusPage", &[json!(title), json!(slug)]).await?;
    let config = json!({
        "slug": slug, "title": title, "description": description, "icon": "/icon.svg",
        "theme": "light", "showTags": false, "footerText": null, "customCSS": "", "showPoweredBy": true,
        "showCertificateExpiry": false, "googleAnalyticsId": null, "domainNameList": [],
    });
    let groups = json!([{ "name": "Services", "monitorList": [{ "id": id }] }]);
    kuma.call_ok("saveStatusPage", &[json!(slug), config, json!("/icon.svg"), groups]).await?;

    // Anonymous: a client with no session.
    let public = app.get(&format!("/api/status-page/{slug}")).await?;
    assert_eq!(public.status, 200);
    let data = public.json()?;
    assert_eq!(data["config"]["title"], json!(title), "{data}");
    assert_eq!(data["config"]["description"], json!(description), "{data}");
    let listed: Vec<&str> = data["publicGroupList"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["monitorList"].as_array().into_iter().flatten())
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert_eq!(listed, vec![monitor_name.as_str()], "the status page's monitors: {data}");

    let page = app.get(&format!("/status/{slug}")).await?;
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(html.contains(&format!("<title>{title}</title>")), "the page is not rendered with its title");
    assert!(html.contains(&monitor_name), "the page's preloaded data lacks its monitor");
    let missing = app.get(&format!("/status/ccci-missing-{}", token(8))).await?;
    assert_eq!(missing.status, 404, "an unknown status page");

    kuma.call_ok("deleteStatusPage", &[json!(slug)]).await?;
    kuma.delete_monitor(id).await?;
    Ok(())
}

/// Wrong credentials are refused with Uptime Kuma's message, and a session that did not log
/// in cannot add a monitor.
#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_password_is_refused_and_an_anonymous_session_cannot_add_monitors() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    // The admin exists (set up by whichever test came first).
    drop(admin(&app).await?);
    let mut anonymous = Kuma::connect(&app).await?;
    let wrong = Secret::new(format!("{}5w", Secret::generate(20).expose()));
    let login = anonymous.login(ADMIN_USER, &wrong).await?;
    assert_eq!(login["ok"], json!(false), "a wrong password logged in: {login}");
    assert!(login.get("token").is_none(), "a refused login carries a token: {login}");
    assert_eq!(login["msg"], "Incorrect username or password.");

    let name = format!("ccci-anon-{}", token(8));
    let answer = anonymous.call("add", &[push_monitor(&name, &token(32), 3600)]).await?;
    assert_eq!(answer.first().map(|a| &a["ok"]), Some(&json!(false)), "an anonymous add was accepted: {answer:?}");
    let mut kuma = admin(&app).await?;
    kuma.call_ok("getMonitorList", &[]).await?;
    let monitors = kuma.event("monitorList", harness::scaled(Duration::from_secs(30))).await?;
    ensure!(monitors.is_object(), "monitorList is not an object: {monitors}");
    assert!(
        monitors.as_object().into_iter().flatten().all(|(_, m)| m["name"] != json!(name)),
        "the anonymous session's monitor exists"
    );
    Ok(())
}
