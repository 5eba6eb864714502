//! Functional: LiveKit's server API as meet's backend drives it, with tokens signed from the
//! recipe's API key and secret: rooms created, listed and deleted through the Twirp
//! RoomService; and the join check of `/rtc` (what a browser's token must pass before it may
//! signal) accepts a join token for a room, refuses one whose grant lacks `roomJoin`, and
//! refuses one signed with another secret.

use harness::prelude::*;
use recipe_lasuite_meet::{Grants, LiveKit, access_token, tag};

use crate::shared;

/// meet's room lifecycle on LiveKit: `CreateRoom` answers the room with a server id, `ListRooms`
/// then lists it, `DeleteRoom` removes it, and `ListRooms` no longer does; a token without the
/// `roomCreate`/`roomList` grants is refused by the same calls.
#[tokio::test(flavor = "multi_thread")]
async fn rooms_are_created_listed_and_deleted_through_the_room_service() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let lk = LiveKit::of(&app)?;
    let name = format!("ccci-room-{}", tag());
    let room = lk.create_room(&name).await?;
    assert_eq!(room["name"], name.as_str(), "{room}");
    let sid = room["sid"].as_str().unwrap_or_default();
    assert!(sid.starts_with("RM_"), "CreateRoom answered no room sid: {room}");
    assert!(lk.room_names().await?.contains(&name), "ListRooms does not list the room just created");
    // Creating it again answers the same room, not a second one.
    let again = lk.create_room(&name).await?;
    assert_eq!(again["sid"], sid, "a second CreateRoom of one name made another room");

    // A participant's join token may not administer rooms.
    let joiner = lk.token("ccci-joiner", &Grants::join(&name))?;
    let refused = lk.twirp("ListRooms", &serde_json::json!({}), &joiner).await?;
    assert_eq!(refused.status, 401, "ListRooms with a join token: {:?}", refused.body);
    let refused = lk.twirp("DeleteRoom", &serde_json::json!({ "room": name }), &joiner).await?;
    assert_eq!(refused.status, 401, "DeleteRoom with a join token: {:?}", refused.body);
    assert!(lk.room_names().await?.contains(&name), "the refused DeleteRoom removed the room");

    lk.delete_room(&name).await?;
    let names = lk.room_names().await?;
    assert!(!names.contains(&name), "ListRooms still lists the deleted room: {names:?}");
    Ok(())
}

/// Tokens as `/rtc` judges them before a signalling connection: a join token signed with the
/// recipe's secret passes (`success`); the same grant without `roomJoin` is refused (401,
/// `permissions denied`), a join token signed with another secret fails its signature check,
/// and one naming another API key is refused for its key.
#[tokio::test(flavor = "multi_thread")]
async fn signalling_admits_only_join_tokens_signed_with_the_recipe_secret() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let lk = LiveKit::of(&app)?;
    let room = format!("ccci-join-{}", tag());

    let good = lk.token("ccci-alice", &Grants::join(&room))?;
    assert_eq!(lk.validate(&good).await?, (200, "success".to_owned()), "a join token was refused");

    let no_join = lk.token("ccci-alice", &Grants { room_join: false, ..Grants::join(&room) })?;
    assert_eq!(lk.validate(&no_join).await?, (401, "permissions denied".to_owned()), "a token without roomJoin");

    let forged = access_token(&lk.key, &Secret::generate(48), "ccci-mallory", &Grants::join(&room))?;
    let (status, body) = lk.validate(&forged).await?;
    assert_eq!(status, 401, "a token signed with another secret was admitted: {body}");
    assert!(body.starts_with("invalid token: <token>,") && body.contains("signature is invalid"), "{body}");

    let other_key = format!("{}-other", lk.key);
    let unknown = access_token(&other_key, lk.secret(), "ccci-alice", &Grants::join(&room))?;
    assert_eq!(lk.validate(&unknown).await?, (401, format!("invalid API key: {other_key}")), "a token naming another API key");
    Ok(())
}
