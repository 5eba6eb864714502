//! Browser: the owner signs in to the editor in a real Chromium (n8n's sign-in form, its
//! session cookie bound to the browser) and sees the workflow created through the public API
//! in the workflow list, then opens it and sees its nodes on the canvas.

use fantoccini::{Client, Locator};
use harness::{browser::with_browser, prelude::*};
use recipe_n8n::{N8n, Owner, PAGE_TIMEOUT, compute_workflow, owner, tag};

use crate::shared;

const POLL: std::time::Duration = std::time::Duration::from_millis(250);

/// Waits until the page's visible text contains every one of `needles`; returns the URL.
async fn wait_for_text(browser: &Client, what: &str, needles: &[&str]) -> anyhow::Result<String> {
    let url = harness::converge(what, harness::scaled(PAGE_TIMEOUT), POLL, || async {
        if let Some(code) = harness::browser::net_error(browser).await {
            return Ok(Err(code));
        }
        let url = browser.current_url().await.map_err(|e| e.to_string())?;
        let text = browser.execute("return document.body ? document.body.innerText : ''", vec![]).await.map_err(|e| e.to_string())?;
        let text = text.as_str().unwrap_or_default();
        let missing: Vec<&&str> = needles.iter().filter(|n| !text.contains(**n)).collect();
        if missing.is_empty() { Ok(Ok(url.to_string())) } else { Err(format!("at {} without {missing:?}", url.path())) }
    })
    .await?;
    url.map_err(|code| anyhow::format_err!("the browser shows {code}"))
}

/// Signs in through n8n's form. n8n allows 5 logins a minute per email and the suite's other
/// tests log the owner in too: while the form stays (a refused attempt), it is filled and sent
/// again, every few seconds, until the editor leaves the sign-in page.
async fn sign_in(browser: &Client, app: &Deployment, owner: &Owner) -> anyhow::Result<()> {
    browser.goto(&format!("https://{}/signin", app.domain())).await?;
    harness::converge("n8n's sign-in form", harness::scaled(PAGE_TIMEOUT), POLL, || async {
        browser.find(Locator::Css("[data-test-id=\"signin-form\"]")).await.map(drop).map_err(|_| "no sign-in form yet".to_owned())
    })
    .await?;
    let submit = async || -> Result<(), fantoccini::error::CmdError> {
        let form = browser.find(Locator::Css("[data-test-id=\"signin-form\"]")).await?;
        let email = form.find(Locator::Css("input[type=\"email\"]")).await?;
        email.clear().await?;
        email.send_keys(&owner.email).await?;
        let password = form.find(Locator::Css("input[type=\"password\"]")).await?;
        password.clear().await?;
        password.send_keys(owner.password.expose()).await?;
        form.find(Locator::Css("[data-test-id=\"form-submit-button\"]")).await?.click().await
    };
    harness::converge("the editor to sign the owner in and leave the sign-in page", harness::scaled(recipe_n8n::LOGIN_TIMEOUT), std::time::Duration::from_secs(5), || async {
        let url = browser.current_url().await.map_err(|e| e.to_string())?;
        if !url.path().starts_with("/signin") {
            return Ok(());
        }
        submit().await.map_err(|e| format!("at {}: {e}", url.path()))?;
        Err(format!("still at {} after submitting the form", url.path()))
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_owner_signs_in_to_the_editor_and_sees_the_created_workflow() -> anyhow::Result<()> {
    let (suite, app) = shared().await?;
    let n8n = N8n::of(&app)?;
    let owner = owner(&app)?;
    let t = tag();
    let key = n8n.owner_api_key(&owner, &format!("ccci-browser-{t}")).await?;
    let name = format!("ccci browser {t}");
    let id = n8n.create_workflow(&key, &compute_workflow(&name, &format!("ccci-browser-{t}"))).await?;

    with_browser(&suite.run, "n8n-editor-sign-in", |browser| {
        let (app, owner, name, id) = (&app, &owner, &name, &id);
        async move {
            sign_in(&browser, app, owner).await?;
            // The session is the browser's: the editor's own API answers as the owner.
            let me = browser
                .execute_async(
                    "const done = arguments[arguments.length - 1]; fetch('/rest/login', { headers: { 'browser-id': localStorage.getItem('n8n-browserId') || '' } }).then(r => r.json()).then(j => done(j.data && j.data.email), () => done(null));",
                    vec![],
                )
                .await?;
            anyhow::ensure!(me.as_str() == Some(owner.email.as_str()), "the browser's session is not the owner's: {me}");
            browser.goto(&format!("https://{}/home/workflows", app.domain())).await?;
            wait_for_text(&browser, "the workflow list to show the created workflow", &[name]).await?;
            browser.goto(&format!("https://{}/workflow/{id}", app.domain())).await?;
            let url = wait_for_text(&browser, "the workflow's canvas to show its nodes", &["Webhook", "Compute"]).await?;
            anyhow::ensure!(url.contains(id.as_str()), "the editor did not open workflow {id}: {url}");
            Ok(())
        }
    })
    .await
}
