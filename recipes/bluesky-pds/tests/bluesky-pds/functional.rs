//! Functional: the PDS's characteristic behaviours over XRPC, each test with accounts of its
//! own on the shared deployment: the account lifecycle (admin invite code, createAccount,
//! createSession, deleteAccount), posts read back with getRecord and listRecords, blobs
//! round-tripping by sha256 from a post's embed, handle resolution (the PDS and the PLC
//! directory agree on the account's DID and handle), and the repo event stream delivering a
//! new post's commit.

use harness::prelude::*;
use recipe_bluesky_pds::{Auth, Body, POST, firehose::Firehose, pds, plc_document, png, sha256_hex, tag};
use reqwest::Method;
use serde_json::json;

use crate::shared;

/// As `goat account` and pdsadmin do it: without an invite code, or with a used one, no
/// account; with the admin's code, an account that logs in with its password (not a wrong
/// one); `deleteAccount` with the emailed token and the password; then the account can no
/// longer log in, its handle no longer resolves and its repo is gone.
#[tokio::test(flavor = "multi_thread")]
async fn an_invited_account_logs_in_until_it_is_deleted() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let (p, admin) = pds(&app)?;
    let (name, password) = (format!("a{}", tag()), Secret::generate(24));
    let handle = p.handle(&name);

    let refused = p.try_create_account(&handle, &password, None).await?.expect_err("an account was created without an invite code");
    assert_eq!(refused.error, "InvalidInviteCode", "{refused}");
    let code = p.create_invite_code(&admin, 1).await?;
    let created = p.try_create_account(&handle, &password, Some(&code)).await?.map_err(anyhow::Error::new)?;
    assert!(created.did.starts_with("did:plc:"), "{}", created.did);
    assert_eq!(created.handle, handle);
    let reused = p.try_create_account(&p.handle(&format!("b{}", tag())), &password, Some(&code)).await?.expect_err("a used invite code made a second account");
    assert_eq!(reused.error, "InvalidInviteCode", "{reused}");

    let s = p.login(&handle, &password).await?;
    assert_eq!(s.did, created.did);
    assert_eq!(p.get_session(&s).await?, (created.did.clone(), handle.clone()));
    let wrong = p.try_login(&handle, &Secret::generate(24)).await?.expect_err("a wrong password logged in");
    assert_eq!(wrong.status, 401, "{wrong}");

    // The deletion token goes out by mail; with no SMTP relay configured the PDS only records
    // it, so it is read from the account database as the mail would carry it.
    p.call(Method::POST, "com.atproto.server.requestAccountDelete", Auth::Bearer(&s.access_jwt), Body::None)
        .await?
        .ok("requesting the account's deletion")?;
    let token = Secret::new(
        app.exec_ok("app", &["sqlite3", "/pds/account.sqlite", &format!("SELECT token FROM email_token WHERE did = '{}' AND purpose = 'delete_account'", created.did)])
            .await?
            .stdout_str()
            .trim(),
    );
    anyhow::ensure!(!token.expose().is_empty(), "no deletion token recorded for {}", created.did);
    let body = json!({ "did": created.did, "password": password.expose(), "token": token.expose() });
    p.call(Method::POST, "com.atproto.server.deleteAccount", Auth::None, Body::Json(&body))
        .await?
        .ok("deleting the account")?;

    let gone = p.try_login(&handle, &password).await?.expect_err("the deleted account still logs in");
    assert_eq!(gone.status, 401, "{gone}");
    let unresolved = p.resolve_handle(&handle).await?.expect_err("the deleted account's handle still resolves");
    assert_eq!(unresolved.status, 400, "{unresolved}");
    let repo = p.list_records(&created.did, POST).await?.expect_err("the deleted account's repo is still served");
    assert_eq!(repo.status, 400, "{repo}");
    Ok(())
}

/// A post created with createRecord comes back with getRecord (same CID, same text) and is
/// listed by listRecords, newest first after an earlier one; an unknown rkey is
/// `RecordNotFound`.
#[tokio::test(flavor = "multi_thread")]
async fn a_post_is_read_back_with_get_record_and_list_records() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let (p, admin) = pds(&app)?;
    let s = p.create_account(&admin, &format!("p{}", tag()), &Secret::generate(24)).await?;
    let (first_text, text) = (format!("first {}", tag()), format!("hello from ccci {}", tag()));
    let first = p.post(&s, &first_text, &[]).await?;
    let post = p.post(&s, &text, &[]).await?;
    assert_eq!(post.uri, format!("at://{}/{POST}/{}", s.did, post.rkey));

    let got = p.get_record(&s.did, POST, &post.rkey).await?.map_err(anyhow::Error::new)?;
    assert_eq!(got["uri"], post.uri);
    assert_eq!(got["cid"], post.cid);
    assert_eq!(got["value"]["text"], text);
    assert_eq!(got["value"]["$type"], POST);

    let listed = p.list_records(&s.did, POST).await?.map_err(anyhow::Error::new)?;
    let uris: Vec<&str> = listed.iter().filter_map(|r| r["uri"].as_str()).collect();
    assert_eq!(uris, [post.uri.as_str(), first.uri.as_str()], "listRecords, newest first");
    assert_eq!(listed[1]["value"]["text"], first_text);

    let missing = p.get_record(&s.did, POST, "3zzzzzzzzzzzz").await?.expect_err("an unknown rkey was found");
    assert_eq!(missing.error, "RecordNotFound", "{missing}");
    Ok(())
}

/// An image uploaded with uploadBlob and embedded in a post comes back from getBlob byte for
/// byte (sha256), with its MIME type; a CID that was never uploaded is not found.
#[tokio::test(flavor = "multi_thread")]
async fn a_blob_embedded_in_a_post_comes_back_identical() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let (p, admin) = pds(&app)?;
    let s = p.create_account(&admin, &format!("i{}", tag()), &Secret::generate(24)).await?;
    let image = png(320, 200, rand::random());
    let blob = p.upload_blob(&s, &image, "image/png").await?;
    assert_eq!(blob["mimeType"], "image/png");
    assert_eq!(blob["size"], image.len());
    let cid = blob["ref"]["$link"].as_str().unwrap_or_default().to_owned();
    let post = p.post(&s, "an image", std::slice::from_ref(&blob)).await?;
    let got = p.get_record(&s.did, POST, &post.rkey).await?.map_err(anyhow::Error::new)?;
    assert_eq!(got["value"]["embed"]["images"][0]["image"]["ref"]["$link"], cid.as_str());

    let fetched = p.get_blob(&s.did, &cid).await?;
    assert_eq!(fetched.status, 200, "{:?}", fetched.error());
    assert_eq!(sha256_hex(&fetched.body), sha256_hex(&image), "getBlob served other bytes");
    assert!(fetched.content_type.starts_with("image/png"), "{}", fetched.content_type);

    // The same CID with other digest bits: well-formed, never uploaded.
    let never = format!("{}{}", &cid[..cid.len() - 4], if cid.ends_with("aaaa") { "bbbb" } else { "aaaa" });
    let unknown = p.get_blob(&s.did, &never).await?;
    assert!(unknown.status == 400 || unknown.status == 404, "a never-uploaded CID: HTTP {}", unknown.status);
    Ok(())
}

/// `resolveHandle` gives the account's DID; the PLC directory's document of that DID names
/// the handle (`at://<handle>`) and this PDS (`https://<domain>`) as its service; an unknown
/// handle on the domain does not resolve.
#[tokio::test(flavor = "multi_thread")]
async fn a_handle_resolves_to_the_did_the_plc_directory_holds() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let (p, admin) = pds(&app)?;
    let s = p.create_account(&admin, &format!("h{}", tag()), &Secret::generate(24)).await?;
    assert_eq!(p.resolve_handle(&s.handle).await?.map_err(anyhow::Error::new)?, s.did);

    let doc = plc_document(&app, &s.did).await?.ok_or_else(|| anyhow::format_err!("the PLC directory has no document for {}", s.did))?;
    assert_eq!(doc["id"], s.did.as_str());
    assert_eq!(doc["alsoKnownAs"], json!([format!("at://{}", s.handle)]), "{doc}");
    let pds_service = doc["service"].as_array().and_then(|a| a.iter().find(|x| x["type"] == "AtprotoPersonalDataServer")).cloned();
    assert_eq!(pds_service.map(|x| x["serviceEndpoint"].clone()), Some(json!(format!("https://{}", app.domain()))), "{doc}");

    let unknown = p.resolve_handle(&p.handle(&format!("n{}", tag()))).await?.expect_err("an unknown handle resolved");
    assert_eq!(unknown.status, 400, "{unknown}");
    Ok(())
}

/// A client subscribed to `com.atproto.sync.subscribeRepos` (WebSocket through the proxy)
/// receives the commit of a post created after it subscribed: a `#commit` event of the
/// account's repo whose one op creates `app.bsky.feed.post/<rkey>` with the record's CID, with
/// the commit's CID, its revision and the CAR blocks.
#[tokio::test(flavor = "multi_thread")]
async fn a_new_post_is_delivered_on_the_repo_event_stream() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let (p, admin) = pds(&app)?;
    let s = p.create_account(&admin, &format!("f{}", tag()), &Secret::generate(24)).await?;
    let mut stream = Firehose::subscribe(&app).await?;
    let post = p.post(&s, &format!("on the firehose {}", tag()), &[]).await?;
    let path = format!("{POST}/{}", post.rkey);
    let commit = stream
        .commit_of(&s.did, std::time::Duration::from_secs(60), |c| c["ops"].as_array().is_some_and(|ops| ops.iter().any(|op| op["path"] == path.as_str())))
        .await?;
    stream.close().await;
    assert_eq!(commit["ops"], json!([{ "action": "create", "path": path, "cid": post.cid }]), "{commit}");
    assert!(commit["commit"].as_str().is_some_and(|c| c.starts_with("bafyrei")), "{commit}");
    assert!(commit["rev"].is_string() && commit["seq"].is_u64(), "{commit}");
    assert!(commit["blocks"]["$bytes"].as_u64().is_some_and(|n| n > 0), "{commit}");
    Ok(())
}
