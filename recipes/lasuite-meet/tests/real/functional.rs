//! Functional (real recipe): meet's rooms API over an OIDC session, and the LiveKit join tokens
//! meet's backend mints: signed with the recipe's LiveKit secret for its API key, for the
//! room's slug, with the join grant, and accepted by the deployment's LiveKit.

use harness::{browser::with_browser, prelude::*};
use recipe_lasuite_meet::{LiveKit, meet, tag};
use serde_json::{Value, json};

use crate::{provider_user, shared};

/// Checks a token meet minted for `room` (its slug): the recipe's key and secret, the room, the
/// join grant; and LiveKit's `/rtc` admits it. Returns its identity (`sub`).
async fn check_token(lk: &LiveKit, livekit: &Value, slug: &str) -> anyhow::Result<String> {
    let token = livekit["token"].as_str().ok_or_else(|| anyhow::format_err!("no livekit.token: {livekit}"))?;
    assert_eq!(livekit["room"], slug, "{livekit}");
    let claims = meet::verify_livekit_token(token, &lk.key, lk.secret())?;
    assert_eq!(claims["video"]["room"], slug, "{claims}");
    assert_eq!(claims["video"]["roomJoin"], true, "{claims}");
    assert_eq!(lk.validate(&Secret::new(token)).await?, (200, "success".to_owned()), "LiveKit refused meet's token");
    Ok(claims["sub"].as_str().unwrap_or_default().to_owned())
}

/// The `meeting_flow` of the maintainers' corpus, on meet's API: a logged-in user creates a
/// room (`POST /api/v1.0/rooms/`), reads it back by id with a LiveKit token for it, and
/// deletes it, after which it is gone.
#[tokio::test(flavor = "multi_thread")]
async fn a_logged_in_user_creates_a_room_reads_it_back_with_a_livekit_token_and_deletes_it() -> anyhow::Result<()> {
    let (suite, app) = shared().await?;
    let lk = LiveKit::of(&app)?;
    let (user, form) = provider_user(&suite, &app, "owner").await?;
    let name = format!("ccci room {}", tag());
    with_browser(&suite.run, "meet-create-room", |browser| {
        let (app, lk, user, form, name) = (&app, &lk, &user, &form, &name);
        async move {
            meet::login(&browser, app, form, &user.username, &user.password).await?;
            let (status, room) = meet::api(&browser, "POST", "/rooms/", Some(&json!({ "name": name }))).await?;
            assert_eq!(status, 201, "creating a room: {room}");
            assert_eq!(room["name"], name.as_str(), "{room}");
            let id = room["id"].as_str().ok_or_else(|| anyhow::format_err!("no room id: {room}"))?.to_owned();
            let slug = room["slug"].as_str().ok_or_else(|| anyhow::format_err!("no slug: {room}"))?.to_owned();
            let (status, read) = meet::api(&browser, "GET", &format!("/rooms/{id}/"), None).await?;
            assert_eq!(status, 200, "{read}");
            assert_eq!((read["id"].as_str(), read["name"].as_str()), (Some(id.as_str()), Some(name.as_str())), "{read}");
            check_token(lk, &read["livekit"], &slug).await?;
            let (status, _) = meet::api(&browser, "DELETE", &format!("/rooms/{id}/"), None).await?;
            assert_eq!(status, 204, "deleting the room");
            let (status, gone) = meet::api(&browser, "GET", &format!("/rooms/{id}/"), None).await?;
            assert_eq!(status, 404, "the deleted room still reads: {gone}");
            Ok(())
        }
    })
    .await
}

/// Two users of the provider get LiveKit tokens for one room from meet: the owner creates a
/// public room, a second user logged in separately reads it by slug; each token is meet's for
/// that room, for a different identity, and LiveKit admits both.
#[tokio::test(flavor = "multi_thread")]
async fn two_users_get_their_own_livekit_tokens_for_one_room() -> anyhow::Result<()> {
    let (suite, app) = shared().await?;
    let lk = LiveKit::of(&app)?;
    let (owner, form) = provider_user(&suite, &app, "owner").await?;
    let (guest, _) = provider_user(&suite, &app, "guest").await?;
    let name = format!("ccci shared {}", tag());
    let (slug, owner_livekit) = with_browser(&suite.run, "meet-owner", |browser| {
        let (app, owner, form, name) = (&app, &owner, &form, &name);
        async move {
            meet::login(&browser, app, form, &owner.username, &owner.password).await?;
            let (status, room) = meet::api(&browser, "POST", "/rooms/", Some(&json!({ "name": name, "access_level": "public" }))).await?;
            assert_eq!(status, 201, "creating a room: {room}");
            let slug = room["slug"].as_str().ok_or_else(|| anyhow::format_err!("no slug: {room}"))?.to_owned();
            let (status, read) = meet::api(&browser, "GET", &format!("/rooms/{slug}/"), None).await?;
            assert_eq!(status, 200, "{read}");
            Ok((slug, read["livekit"].clone()))
        }
    })
    .await?;
    let guest_livekit = with_browser(&suite.run, "meet-guest", |browser| {
        let (app, guest, form, slug) = (&app, &guest, &form, &slug);
        async move {
            meet::login(&browser, app, form, &guest.username, &guest.password).await?;
            let (status, read) = meet::api(&browser, "GET", &format!("/rooms/{slug}/"), None).await?;
            assert_eq!(status, 200, "the guest reading the public room: {read}");
            Ok(read["livekit"].clone())
        }
    })
    .await?;
    let owner_id = check_token(&lk, &owner_livekit, &slug).await?;
    let guest_id = check_token(&lk, &guest_livekit, &slug).await?;
    assert!(!owner_id.is_empty() && !guest_id.is_empty());
    assert_ne!(owner_id, guest_id, "both users got the same LiveKit identity");
    Ok(())
}
