//! Browser: a Gitea user logs in to Drone in a real Chromium: Drone's `/login` redirects to
//! Gitea, whose own sign-in page takes the password; Gitea's grant page is confirmed with its
//! "Authorize Application" button; Gitea sends the browser back to Drone's callback, which
//! exchanges the code with Gitea from inside its container and opens a session: Drone's
//! `/api/user`, read in the same browser, is that user.

use std::time::Duration;

use fantoccini::{Client, Locator};
use harness::{browser::with_browser, prelude::*, providers::gitea::LAYOUT};
use recipe_drone::{ForgeUser, GITEA, forge, forge_user};

use crate::shared;

/// How often the login starts over when Chromium reports `ERR_NETWORK_CHANGED` (Docker adds and
/// removes interfaces whenever any stack on the host is deployed or removed).
const ATTEMPTS: u32 = 3;

/// What the browser shows at a moment of the login.
enum Page {
    SignIn(fantoccini::elements::Element),
    Grant(fantoccini::elements::Element),
    Drone,
    NetError(String),
}

async fn page(browser: &Client, drone: &str) -> Result<Page, String> {
    if let Some(code) = harness::browser::net_error(browser).await {
        return Ok(Page::NetError(code));
    }
    let url = browser.current_url().await.map_err(|e| e.to_string())?;
    if url.host_str() == Some(drone) && url.path() != "/login" {
        return Ok(Page::Drone);
    }
    if let Ok(el) = browser.find(Locator::Css("#authorize-app")).await {
        return Ok(Page::Grant(el));
    }
    if let Ok(el) = browser.find(Locator::Css(LAYOUT.login.form)).await {
        return Ok(Page::SignIn(el));
    }
    if let Ok(el) = browser.find(Locator::Css(LAYOUT.login.error)).await
        && let Ok(text) = el.text().await
        && !text.trim().is_empty()
    {
        return Err(format!("Gitea says: {}", text.trim()));
    }
    Err(format!("at {}", url.as_str().split('?').next().unwrap_or_default()))
}

async fn login(browser: &Client, app: &Deployment, user: &ForgeUser) -> anyhow::Result<serde_json::Value> {
    let poll = Duration::from_millis(200);
    let timeout = harness::scaled(harness::browser::PAGE_TIMEOUT);
    'attempt: for attempt in 1..=ATTEMPTS {
        let _ = browser.goto(&format!("https://{}/login", app.domain())).await;
        let mut signed_in = false;
        loop {
            let seen = harness::converge("Gitea's sign-in or grant page, or Drone", timeout, poll, || page(browser, app.domain())).await?;
            match seen {
                Page::NetError(code) if code == "ERR_NETWORK_CHANGED" && attempt < ATTEMPTS => continue 'attempt,
                Page::NetError(code) => anyhow::bail!("the browser shows {code}"),
                Page::SignIn(form) => {
                    anyhow::ensure!(!signed_in, "Gitea showed its sign-in form again: the password was refused");
                    form.find(Locator::Css(LAYOUT.login.username)).await?.send_keys(&user.login).await?;
                    form.find(Locator::Css(LAYOUT.login.password)).await?.send_keys(user.password.expose()).await?;
                    form.find(Locator::Css(LAYOUT.login.submit)).await?.click().await?;
                    signed_in = true;
                    // Wait until the sign-in page is gone before looking again.
                    harness::converge("Gitea to leave the sign-in page", timeout, poll, || async {
                        match browser.find(Locator::Css(LAYOUT.login.username)).await {
                            Ok(_) => Err("still on the sign-in page".to_owned()),
                            Err(_) => Ok(()),
                        }
                    })
                    .await?;
                }
                Page::Grant(button) => button.click().await?,
                Page::Drone => break,
            }
        }
        browser.goto(&format!("https://{}/api/user", app.domain())).await?;
        let text = browser.find(Locator::Css("body")).await?.text().await?;
        return serde_json::from_str(&text).map_err(|e| anyhow::format_err!("Drone's /api/user in the browser is not JSON ({e}): {}", text.chars().take(200).collect::<String>()));
    }
    anyhow::bail!("ERR_NETWORK_CHANGED {ATTEMPTS} times in a row")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gitea_user_logs_in_to_drone_in_a_browser() -> anyhow::Result<()> {
    let (suite, app) = shared().await?;
    let gitea = suite.dependency(&app, GITEA)?;
    let user = forge_user(&forge(&gitea)?, "web").await?;
    let me = with_browser(&suite.run, "drone-gitea-login", |browser| {
        let (app, user) = (&app, &user);
        async move { login(&browser, app, user).await }
    })
    .await?;
    anyhow::ensure!(me["login"] == user.login.as_str(), "the browser's Drone session is {}, not {}", me["login"], user.login);
    anyhow::ensure!(me["active"] == true, "the user is not active in Drone: {me}");
    Ok(())
}
