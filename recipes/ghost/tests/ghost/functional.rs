//! Functional: what Ghost is for, with assertions on the app's state: the owner set up and
//! signed in; a post published through the Admin API (an integration's key, as a JWT) read
//! back through the Content API and rendered on the public site; an uploaded image served
//! back byte for byte; a member created through the Admin API and listed by the same API.

use harness::prelude::*;
use recipe_ghost::{Auth, Ghost, PAGE_TIMEOUT, POLL, owner, png, png_size, sha256_hex, tag};

use crate::shared;

/// The owner of the maintainers' `admin/auth` flow (Ghost's e2e `setup-user`): the site is set
/// up, the owner's login gives a session whose user is the owner (role `Owner`), and a wrong
/// password is refused.
#[tokio::test(flavor = "multi_thread")]
async fn the_owner_is_set_up_and_signs_in_with_the_owner_role() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let g = Ghost::of(&app)?;
    let owner = owner(&app)?;
    let auth = g.owner_session(&owner).await?;
    assert!(g.is_set_up().await?, "the site says it is not set up after the owner's setup");
    let me = g.me(&auth).await?;
    assert_eq!(me["email"], owner.email.as_str());
    assert_eq!(me["status"], "active", "the owner is not active: {}", me["status"]);
    let roles: Vec<&str> = me["roles"].as_array().map(|r| r.iter().filter_map(|r| r["name"].as_str()).collect()).unwrap_or_default();
    assert_eq!(roles, ["Owner"]);
    let wrong = g.try_login(&owner.email, &Secret::generate(20)).await?;
    assert!(matches!(&wrong, Err((status, _)) if (400..500).contains(status) && *status != 404), "a wrong password was not refused: {:?}", wrong.as_ref().map(|_| "a session").map_err(|(s, _)| s));
    Ok(())
}

/// The characteristic object: a post published through the Admin API with an integration's
/// Admin API key (JWT), read back through the Content API with its Content API key (title,
/// html), and rendered by the theme at its public URL.
#[tokio::test(flavor = "multi_thread")]
async fn a_post_published_through_the_admin_api_is_read_through_the_content_api_and_rendered() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let g = Ghost::of(&app)?;
    let session = g.owner_session(&owner(&app)?).await?;
    let t = tag();
    let integration = g.integration(&session, &format!("ccci {t}")).await?;
    let (title, text) = (format!("Post {t}"), format!("body-{t}-{}", tag()));
    let post = g.publish_html(&integration.admin, &title, &format!("<p>{text}</p>")).await?;
    assert_eq!(post["status"], "published");
    assert_eq!(post["title"], title.as_str());
    let slug = post["slug"].as_str().expect("the post has a slug").to_owned();
    assert_eq!(post["url"], format!("https://{}/{slug}/", app.domain()));

    let read = g.content_post(&integration.content_key, &slug).await?.expect("the Content API does not find the published post");
    assert_eq!(read["id"], post["id"]);
    assert_eq!(read["title"], title.as_str());
    assert!(read["html"].as_str().is_some_and(|h| h.contains(&format!("<p>{text}</p>"))), "the Content API's html is not the post's: {}", read["html"]);
    // A wrong key is refused: the Content API checks it.
    let wrong = g.content_post(&Secret::new(hex_key()), &slug).await;
    assert!(wrong.as_ref().is_err_and(|e| e.to_string().contains("HTTP 401")), "a wrong content key was not refused: {wrong:?}");

    let page = harness::converge(&format!("the public page of {slug} to render the post"), harness::scaled(PAGE_TIMEOUT), POLL, || async {
        let answer = g.fetch(&format!("/{slug}/")).await.map_err(|e| e.to_string())?;
        let html = String::from_utf8_lossy(&answer.body).into_owned();
        if answer.status == 200 && html.contains(&text) {
            Ok(html)
        } else {
            Err(format!("HTTP {}, {} bytes", answer.status, answer.body.len()))
        }
    })
    .await?;
    assert!(page.contains(&format!("<title>{title}</title>")) || page.contains(&title), "the page does not show the title");
    Ok(())
}

fn hex_key() -> String {
    format!("{}{}{}", tag(), tag(), tag())[..24].to_owned()
}

/// Media: an image uploaded through the Admin API is stored in the content volume and the
/// original is served back byte for byte at its public URL (Ghost keeps the original as
/// `<name>_o.<ext>` next to the optimised copy it serves at the returned URL, which is still
/// a PNG of the same size).
#[tokio::test(flavor = "multi_thread")]
async fn an_uploaded_image_is_served_back_identical() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let g = Ghost::of(&app)?;
    let session = g.owner_session(&owner(&app)?).await?;
    let t = tag();
    let image = png(320, 200, rand_seed());
    let url = g.upload_image(&session, &format!("upload-{t}.png"), "image/png", &image).await?;
    assert!(url.contains(&format!("upload-{t}")), "the stored name is not the upload's: {url}");
    let served = g.fetch(&url).await?;
    assert_eq!(served.status, 200);
    assert_eq!(served.content_type, "image/png");
    assert_eq!(png_size(&served.body), Some((320, 200)), "the served image is not the uploaded PNG");
    let original_url = original_of(&url);
    let original = g.fetch(&original_url).await?;
    assert_eq!(original.status, 200, "{original_url}");
    assert_eq!(sha256_hex(&original.body), sha256_hex(&image), "the original served back differs from the upload");
    // And it is a file in the content volume, with the same bytes.
    let rel = url.split("/content/images/").nth(1).expect("an image URL under /content/images/");
    let on_disk = app.exec_ok("app", &["sha256sum", &format!("/var/lib/ghost/content/images/{}", original_of(rel))]).await?;
    assert!(on_disk.stdout_str().starts_with(&sha256_hex(&image)), "the file in the content volume is not the upload");
    // A path that was never uploaded is Ghost's 404, not an image.
    let missing = g.fetch(&url.replace(&format!("upload-{t}"), &format!("missing-{}", tag()))).await?;
    assert_eq!(missing.status, 404);
    Ok(())
}

/// `.../name.png` -> `.../name_o.png`: where Ghost keeps the original of an optimised upload.
fn original_of(url: &str) -> String {
    match url.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}_o.{ext}"),
        None => format!("{url}_o"),
    }
}

fn rand_seed() -> u8 {
    u8::from_str_radix(&tag()[..2], 16).unwrap_or(7)
}

/// Members: one created through the Admin API (with a note and a name) is listed by an
/// email filter with the same fields, and the member count includes it.
#[tokio::test(flavor = "multi_thread")]
async fn a_member_created_through_the_admin_api_is_listed() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let g = Ghost::of(&app)?;
    let session: Auth = g.owner_session(&owner(&app)?).await?;
    let t = tag();
    let email = format!("member-{t}@example.test");
    let created = g.create_member(&session, &email, &format!("Member {t}"), &format!("note {t}")).await?;
    assert_eq!(created["email"], email.as_str());
    assert_eq!(created["status"], "free");
    let listed = g.members_by_email(&session, &email).await?;
    assert_eq!(listed.len(), 1, "members with {email}: {}", listed.len());
    assert_eq!(listed[0]["id"], created["id"]);
    assert_eq!(listed[0]["name"], format!("Member {t}"));
    assert_eq!(listed[0]["note"], format!("note {t}"));
    let none = g.members_by_email(&session, &format!("nobody-{}@example.test", tag())).await?;
    assert!(none.is_empty(), "an unknown email is listed");
    Ok(())
}
