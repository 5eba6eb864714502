//! Browser: the owner signs in to Ghost Admin in a real Chromium (the Ember admin app and its
//! sign-in form), writes a post in the editor (Koenig: title field and the rich-text body) and
//! publishes it through the publish flow (Publish -> Continue -> Publish post, right now);
//! then the Admin API lists that post as published with the typed text, and the public site
//! renders it at its URL. The maintainers' `editor/publishing`, in a browser.

use fantoccini::{Client, Locator, elements::Element};
use harness::browser::with_browser;
use recipe_ghost::{Ghost, PAGE_TIMEOUT, POLL, owner, tag};

use crate::shared;

/// The first element matching any of `selectors` (Ghost's `data-test-*` hooks first), once it
/// is displayed; the last state seen on timeout (the URL, Chromium's network error).
async fn shown(browser: &Client, what: &str, selectors: &[&str]) -> anyhow::Result<Element> {
    Ok(harness::converge(what, harness::scaled(PAGE_TIMEOUT), POLL, || async {
        if let Some(code) = harness::browser::net_error(browser).await {
            return Err(format!("the browser shows {code}"));
        }
        for selector in selectors {
            if let Ok(el) = browser.find(Locator::Css(selector)).await
                && el.is_displayed().await.unwrap_or(false)
            {
                return Ok(el);
            }
        }
        let url = browser.current_url().await.map(|u| u.to_string()).unwrap_or_default();
        Err(format!("at {url}"))
    })
    .await?)
}

/// Clicks the element once it is displayed and enabled (the publish flow's buttons are
/// re-rendered while the modal animates, so a stale element is looked up again).
async fn click(browser: &Client, what: &str, selectors: &[&str]) -> anyhow::Result<()> {
    Ok(harness::converge(what, harness::scaled(PAGE_TIMEOUT), POLL, || async {
        for selector in selectors {
            if let Ok(el) = browser.find(Locator::Css(selector)).await
                && el.is_displayed().await.unwrap_or(false)
                && el.is_enabled().await.unwrap_or(false)
                && el.click().await.is_ok()
            {
                return Ok(());
            }
        }
        let url = browser.current_url().await.map(|u| u.to_string()).unwrap_or_default();
        Err(format!("not clickable yet, at {url}"))
    })
    .await?)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_owner_signs_in_and_publishes_a_post_from_the_editor() -> anyhow::Result<()> {
    let (suite, app) = shared().await?;
    let g = Ghost::of(&app)?;
    let owner = owner(&app)?;
    // The owner exists (set up through the API if no other test did it yet).
    let api = g.owner_session(&owner).await?;
    let t = tag();
    let (title, text) = (format!("Browser post {t}"), format!("typed in the editor {t}"));
    let admin = format!("https://{}/ghost/", app.domain());
    with_browser(&suite.run, "ghost-publish", |browser| {
        let (owner, title, text, admin) = (&owner, &title, &text, &admin);
        async move {
            browser.goto(&format!("{admin}#/signin")).await?;
            let email = shown(&browser, "the sign-in form", &["input#identification", "input[name=identification]"]).await?;
            email.send_keys(&owner.email).await?;
            shown(&browser, "the password field", &["input#password", "input[name=password]"]).await?.send_keys(owner.password.expose()).await?;
            click(&browser, "the sign-in button", &["[data-test-button=sign-in]", "button[type=submit]"]).await?;
            // Signed in: the admin app has left the sign-in route and shows the owner's account
            // (Ghost 6's admin shell names the signed-in user in its sidebar).
            harness::converge("the admin app to show the signed-in owner", harness::scaled(PAGE_TIMEOUT), POLL, || async {
                let url = browser.current_url().await.map(|u| u.to_string()).map_err(|e| e.to_string())?;
                let source = browser.source().await.map_err(|e| e.to_string())?;
                if !url.contains("#/signin") && source.contains(&owner.email) {
                    Ok(())
                } else {
                    Err(format!("at {url}"))
                }
            })
            .await?;

            browser.goto(&format!("{admin}#/editor/post")).await?;
            let title_field = shown(&browser, "the editor's title field", &["[data-test-editor-title-input]", "textarea.gh-editor-title"]).await?;
            title_field.click().await?;
            title_field.send_keys(title).await?;
            let body = shown(&browser, "the editor's body", &["[data-kg=editor] [data-lexical-editor]", "[data-kg=editor] [contenteditable=true]"]).await?;
            body.click().await?;
            body.send_keys(text).await?;
            click(&browser, "the Publish button", &["[data-test-button=publish-flow]"]).await?;
            click(&browser, "Continue, final review", &["[data-test-button=continue]"]).await?;
            click(&browser, "Publish post, right now", &["[data-test-button=confirm-publish]"]).await?;
            shown(&browser, "the publish flow's confirmation", &["[data-test-publish-flow=complete]", ".gh-publish-title"]).await?;
            Ok(())
        }
    })
    .await?;

    // The post the browser published, as the Admin API and the public site see it.
    let filter = format!("title:'{title}'");
    let post = harness::converge("the post published in the editor to be listed as published", harness::scaled(PAGE_TIMEOUT), POLL, || async {
        let posts = g.admin_posts(&api, &filter).await.map_err(|e| e.to_string())?;
        match posts.first() {
            Some(p) if p["status"] == "published" => Ok(p.clone()),
            Some(p) => Err(format!("status {}", p["status"])),
            None => Err("no such post".into()),
        }
    })
    .await?;
    assert!(post["plaintext"].as_str().is_some_and(|p| p.contains(&text)), "the published post does not hold the typed text: {}", post["plaintext"]);
    let slug = post["slug"].as_str().expect("the post has a slug").to_owned();
    let page = g.fetch(&format!("/{slug}/")).await?;
    assert_eq!(page.status, 200);
    let html = String::from_utf8_lossy(&page.body);
    assert!(html.contains(&title) && html.contains(&text), "the public page of {slug} does not show the post");
    Ok(())
}
