//! Browser: the `meeting_flow` and `webrtc-media` of the maintainers' corpus, with real WebRTC.
//! Two Chromium sessions (fake microphone and camera) open the meeting page, each joins the same
//! LiveKit room with its own join token through npm's livekit-client, each sees the other; one
//! publishes its microphone and the other subscribes to it and receives its audio (RTP packets
//! and bytes counted by the browser's own WebRTC statistics, growing), over ICE through the
//! ingress's LiveKit ports; LiveKit's participant list shows both, the publisher with its audio
//! track. A token without the join grant cannot join from the browser.

use std::time::Duration;

use fantoccini::Client;
use harness::{browser::with_browser, prelude::*};
use recipe_lasuite_meet::{Grants, LiveKit, PAGE_TIMEOUT, tag};
use serde_json::{Value, json};

use crate::shared;

const POLL: Duration = Duration::from_millis(500);

/// Opens the meeting page and waits for its API (the livekit-client bundle loaded); returns the
/// livekit-client version the page runs.
async fn open_page(browser: &Client, app: &Deployment) -> anyhow::Result<String> {
    browser.goto(&format!("https://{}/", app.domain())).await?;
    let version = harness::converge("the meeting page and livekit-client to load", harness::scaled(PAGE_TIMEOUT), POLL, || async {
        if let Some(code) = harness::browser::net_error(browser).await {
            return Ok(Err(code));
        }
        let v = browser.execute("return window.ccciMeet ? window.ccciMeet.version : null", vec![]).await.map_err(|e| e.to_string())?;
        v.as_str().map(|v| Ok(v.to_owned())).ok_or_else(|| "no window.ccciMeet yet".to_owned())
    })
    .await?;
    version.map_err(|code| anyhow::format_err!("the browser shows {code}"))
}

/// Runs one of the page's promise-returning calls; `Ok` its value, `Err` its rejection.
async fn call(browser: &Client, expr: &str, args: Vec<Value>) -> anyhow::Result<Result<Value, String>> {
    let script = format!("const a = arguments; const done = a[a.length - 1]; window.ccciMeet.settle({expr}, done);");
    let out = browser.execute_async(&script, args).await?;
    Ok(match out.get("error") {
        Some(e) => Err(e.as_str().unwrap_or_default().to_owned()),
        None => Ok(out["ok"].clone()),
    })
}

async fn join(browser: &Client, lk: &LiveKit, token: &Secret) -> anyhow::Result<Result<Value, String>> {
    call(browser, "window.ccciMeet.join(a[0], a[1])", vec![json!(lk.url), json!(token.expose())]).await
}

async fn state(browser: &Client) -> Result<Value, String> {
    match call(browser, "window.ccciMeet.state()", vec![]).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e),
        Err(e) => Err(e.to_string()),
    }
}

fn remote_identities(state: &Value) -> Vec<String> {
    state["remotes"].as_array().into_iter().flatten().filter_map(|r| r["identity"].as_str().map(str::to_owned)).collect()
}

/// The image tag of the running meeting page (`ccci-testbed/meet-frontend:<livekit-client>`).
async fn page_tag(app: &Deployment) -> anyhow::Result<String> {
    let image = app.running_image("app").await?;
    let image = image.split('@').next().unwrap_or(&image).to_owned();
    Ok(image.rsplit_once(':').map(|(_, t)| t.to_owned()).unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread")]
async fn two_participants_join_one_room_see_each_other_and_one_hears_the_other() -> anyhow::Result<()> {
    let (suite, app) = shared().await?;
    let lk = LiveKit::of(&app)?;
    let t = tag();
    let room = format!("ccci-meeting-{t}");
    let (alice, bob) = (format!("alice-{t}"), format!("bob-{t}"));
    lk.create_room(&room).await?;
    let alice_token = lk.token(&alice, &Grants::join(&room))?;
    let bob_token = lk.token(&bob, &Grants::join(&room))?;
    let tag_of_page = page_tag(&app).await?;

    with_browser(&suite.run, "meet-alice", |a| {
        let (app, lk, suite, room, alice, bob, alice_token, bob_token, tag_of_page) = (&app, &lk, &suite, &room, &alice, &bob, &alice_token, &bob_token, &tag_of_page);
        async move {
            with_browser(&suite.run, "meet-bob", |b| async move {
                for browser in [&a, &b] {
                    let version = open_page(browser, app).await?;
                    assert_eq!(&version, tag_of_page, "the page's livekit-client is not the image's version");
                }
                let joined_a = join(&a, lk, alice_token).await?.map_err(|e| anyhow::format_err!("alice could not join: {e}"))?;
                assert_eq!((joined_a["identity"].as_str(), joined_a["room"].as_str()), (Some(alice.as_str()), Some(room.as_str())), "{joined_a}");
                assert!(joined_a["sid"].as_str().is_some_and(|s| s.starts_with("RM_")), "{joined_a}");
                let joined_b = join(&b, lk, bob_token).await?.map_err(|e| anyhow::format_err!("bob could not join: {e}"))?;
                assert_eq!(joined_b["sid"], joined_a["sid"], "the two joined different rooms");

                // Each sees the other.
                for (browser, me, other) in [(&a, alice, bob), (&b, bob, alice)] {
                    harness::converge(&format!("{me} to see {other}"), harness::scaled(PAGE_TIMEOUT), POLL, || async {
                        let s = state(browser).await?;
                        let remotes = remote_identities(&s);
                        if remotes == [other.clone()] { Ok(()) } else { Err(format!("{me} sees {remotes:?} ({})", s["state"])) }
                    })
                    .await?;
                }

                // Alice publishes her (fake) microphone; Bob subscribes and receives its RTP.
                let track = call(&a, "window.ccciMeet.publishMic()", vec![]).await?.map_err(|e| anyhow::format_err!("alice could not publish her microphone: {e}"))?;
                assert!(track.as_str().is_some_and(|s| s.starts_with("TR_")), "no track sid: {track}");
                let first = harness::converge("bob to receive alice's audio", harness::scaled(PAGE_TIMEOUT), POLL, || async {
                    let s = state(&b).await?;
                    let tracks = s["remotes"][0]["tracks"].clone();
                    let subscribed = tracks.as_array().into_iter().flatten().any(|t| t["sid"] == track && t["kind"] == "audio" && t["subscribed"] == true);
                    let rx = &s["audioReceived"];
                    if subscribed && rx["packets"].as_u64().unwrap_or(0) > 0 && rx["bytes"].as_u64().unwrap_or(0) > 0 {
                        Ok(rx.clone())
                    } else {
                        Err(format!("bob's view of alice's tracks {tracks}, audio received {rx}"))
                    }
                })
                .await?;
                // The counters keep growing: audio flows, not one packet that got through.
                harness::converge("bob's received audio to keep growing", harness::scaled(PAGE_TIMEOUT), POLL, || async {
                    let rx = state(&b).await?["audioReceived"].clone();
                    if rx["packets"].as_u64() > first["packets"].as_u64().map(|p| p + 25) && rx["bytes"].as_u64() > first["bytes"].as_u64() {
                        Ok(())
                    } else {
                        Err(format!("received {rx}, first {first}"))
                    }
                })
                .await?;
                let sent = state(&a).await.map_err(anyhow::Error::msg)?["audioSent"].clone();
                assert!(sent["packets"].as_u64().unwrap_or(0) > 0, "alice's browser sent no audio: {sent}");

                // The server's view: both in the room, alice with her audio track.
                let participants = lk.participants(room).await?;
                let mut who: Vec<&str> = participants.iter().map(|(i, _)| i.as_str()).collect();
                who.sort();
                assert_eq!(who, [alice.as_str(), bob.as_str()], "ListParticipants");
                let alice_tracks = participants.iter().find(|(i, _)| i == alice).map(|(_, k)| k.clone()).unwrap_or_default();
                assert_eq!(alice_tracks, ["AUDIO"], "alice's published tracks as the server lists them");

                for browser in [&a, &b] {
                    call(browser, "window.ccciMeet.leave()", vec![]).await?.map_err(anyhow::Error::msg)?;
                }
                Ok(())
            })
            .await
        }
    })
    .await?;
    harness::converge("both participants to have left", harness::scaled(PAGE_TIMEOUT), POLL, || async {
        let left = lk.participants(&room).await.map_err(|e| e.to_string())?;
        if left.is_empty() { Ok(()) } else { Err(format!("still in the room: {left:?}")) }
    })
    .await?;
    lk.delete_room(&room).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_without_the_join_grant_cannot_join_from_the_browser() -> anyhow::Result<()> {
    let (suite, app) = shared().await?;
    let lk = LiveKit::of(&app)?;
    let t = tag();
    let room = format!("ccci-closed-{t}");
    let eve = format!("eve-{t}");
    lk.create_room(&room).await?;
    let token = lk.token(&eve, &Grants { room_join: false, ..Grants::join(&room) })?;
    let outcome = with_browser(&suite.run, "meet-no-join-grant", |browser| {
        let (app, lk, token) = (&app, &lk, &token);
        async move {
            open_page(&browser, app).await?;
            join(&browser, lk, token).await
        }
    })
    .await?;
    anyhow::ensure!(outcome.is_err(), "a token without roomJoin joined the room: {:?}", outcome.ok());
    let participants = lk.participants(&room).await?;
    assert!(participants.iter().all(|(i, _)| i != &eve), "the server lists {eve} in the room: {participants:?}");
    lk.delete_room(&room).await
}
