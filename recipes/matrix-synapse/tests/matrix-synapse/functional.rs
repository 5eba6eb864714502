//! Functional: what a homeserver is for. Two users registered through the shared-secret admin
//! API talk in a room; media round-trips through authenticated media and gets a thumbnail; a
//! wrong password is refused; the admin API sees the users and refuses non-admins.

use harness::prelude::*;
use recipe_matrix_synapse::{Pair, png, png_size, sha256_hex, synapse, tag};
use reqwest::Method;

use crate::shared;

/// Alice creates a private room and invites bob; bob joins and reads alice's random marker
/// message from the room's timeline, sent by alice.
#[tokio::test(flavor = "multi_thread")]
async fn bob_reads_the_marker_alice_sent_to_their_room() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let (m, secret) = synapse(&app)?;
    let p = Pair::register(&m, &secret).await?;
    assert_eq!(p.alice.user_id, m.user_id(&p.alice_name));
    assert_eq!(m.whoami(&p.bob).await?, m.user_id(&p.bob_name));
    let room = m.create_room(&p.alice, &format!("e2e {}", tag()), &[&p.bob.user_id]).await?;
    // Invited, not joined: bob cannot read the room yet.
    let before = m.messages(&p.bob, &room).await?;
    assert!(matches!(&before, Err(e) if e.errcode == "M_FORBIDDEN"), "bob read the room before joining: {before:?}");
    m.join(&p.bob, &room).await?;
    let marker = format!("marker-{}", hex::encode(rand::random::<[u8; 16]>()));
    let event_id = m.send_text(&p.alice, &room, &marker).await?;
    let events = m.messages(&p.bob, &room).await?.map_err(anyhow::Error::new)?;
    let seen = events.iter().find(|e| e["event_id"] == event_id.as_str()).ok_or_else(|| anyhow::format_err!("bob does not see {event_id}"))?;
    assert_eq!(seen["sender"], p.alice.user_id.as_str());
    assert_eq!(seen["content"]["body"], marker.as_str());
    assert_eq!(seen["content"]["msgtype"], "m.text");
    Ok(())
}

/// A random file uploaded by alice downloads byte for byte (sha256) with bob's token through
/// authenticated media, and not at all without a token; a PNG gets a 32x32 PNG thumbnail.
#[tokio::test(flavor = "multi_thread")]
async fn media_round_trips_by_sha256_and_an_image_gets_a_thumbnail() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let (m, secret) = synapse(&app)?;
    let p = Pair::register(&m, &secret).await?;
    let file: Vec<u8> = (0..200 * 1024).map(|_| rand::random::<u8>()).collect();
    let mxc = m.upload(&p.alice, "random.bin", "application/octet-stream", &file).await?;
    let got = m.download(Some(&p.bob.access_token), &mxc).await?;
    assert_eq!(got.status, 200, "{:?}", got.error());
    assert_eq!(sha256_hex(&got.body), sha256_hex(&file), "the download differs from the upload");
    let anonymous = m.download(None, &mxc).await?;
    assert_eq!(anonymous.status, 401, "authenticated media served without a token");
    assert_eq!(anonymous.error().map(|e| e.errcode).as_deref(), Some("M_MISSING_TOKEN"));

    let image = png(300, 200, 0);
    let mxc = m.upload(&p.alice, "gradient.png", "image/png", &image).await?;
    let got = m.download(Some(&p.bob.access_token), &mxc).await?;
    assert_eq!(sha256_hex(&got.body), sha256_hex(&image));
    let thumb = m.thumbnail(&p.bob, &mxc, 32, 32, "crop").await?;
    assert_eq!(thumb.status, 200, "{:?}", thumb.error());
    assert_eq!(thumb.content_type, "image/png");
    assert_eq!(png_size(&thumb.body), Some((32, 32)), "the thumbnail is not a 32x32 PNG");
    assert_ne!(thumb.body, image);
    Ok(())
}

/// A wrong password is refused with `M_FORBIDDEN` (and an unknown user alike); the right one
/// logs in.
#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_password_is_refused_with_m_forbidden() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let (m, secret) = synapse(&app)?;
    let p = Pair::register(&m, &secret).await?;
    let wrong = m.try_login(&p.bob_name, &Secret::generate(24)).await?;
    match wrong {
        Err(e) => assert_eq!((e.status, e.errcode.as_str()), (403, "M_FORBIDDEN"), "{e}"),
        Ok(s) => anyhow::bail!("a wrong password logged {} in", s.user_id),
    }
    let unknown = m.try_login(&format!("nobody-{}", tag()), &Secret::generate(24)).await?;
    assert!(matches!(&unknown, Err(e) if e.errcode == "M_FORBIDDEN"), "an unknown user: {unknown:?}");
    let s = m.login(&p.bob_name, &p.bob_password).await?;
    assert_eq!(m.whoami(&s).await?, p.bob.user_id);
    Ok(())
}

/// The admin API (alice was registered as an admin) lists both users, with their admin flag;
/// bob, not an admin, is refused.
#[tokio::test(flavor = "multi_thread")]
async fn the_admin_api_lists_the_registered_users() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let (m, secret) = synapse(&app)?;
    let p = Pair::register(&m, &secret).await?;
    let path = format!("/_synapse/admin/v2/users?name={}&guests=false&limit=100", p.alice_name.trim_start_matches("alice-"));
    let v = m.call(Method::GET, &path, Some(&p.alice.access_token), recipe_matrix_synapse::Body::None).await?.ok_json("listing users")?;
    let users = v["users"].as_array().cloned().unwrap_or_default();
    let admin_of = |id: &str| users.iter().find(|u| u["name"] == id).map(|u| u["admin"].as_bool().unwrap_or(u["admin"] == 1));
    assert_eq!(admin_of(&p.alice.user_id), Some(true), "alice is not listed as an admin: {v}");
    assert_eq!(admin_of(&p.bob.user_id), Some(false), "bob is not listed as a user: {v}");
    let one = m.call(Method::GET, &format!("/_synapse/admin/v2/users/{}", recipe_matrix_synapse::encode(&p.bob.user_id)), Some(&p.alice.access_token), recipe_matrix_synapse::Body::None).await?.ok_json("reading bob")?;
    assert_eq!(one["name"], p.bob.user_id.as_str());
    assert_eq!(one["deactivated"], false);
    let refused = m.call(Method::GET, &path, Some(&p.bob.access_token), recipe_matrix_synapse::Body::None).await?;
    assert_eq!(refused.error().map(|e| (e.status, e.errcode)), Some((403, "M_FORBIDDEN".to_owned())), "a non-admin used the admin API");
    Ok(())
}
