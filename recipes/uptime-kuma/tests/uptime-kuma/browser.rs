//! Browser: the admin logs in through Uptime Kuma's login form in a real Chromium (the web
//! app's own Socket.IO session) and sees, on the dashboard, the monitor created over the API.

use std::time::Duration;

use fantoccini::{Client, Locator};
use harness::browser::with_browser;
use recipe_uptime_kuma::{ADMIN_USER, admin, push_monitor, token};

use crate::shared;

const POLL: Duration = Duration::from_millis(500);
const PAGE_TIMEOUT: Duration = Duration::from_secs(60);

/// The page's visible text.
async fn page_text(browser: &Client) -> Result<String, String> {
    let text = browser.execute("return document.body ? document.body.innerText : ''", vec![]).await.map_err(|e| e.to_string())?;
    Ok(text.as_str().unwrap_or_default().to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_logs_in_through_the_form_and_sees_the_created_monitor() -> anyhow::Result<()> {
    let (suite, app) = shared().await?;
    let mut kuma = admin(&app).await?;
    let name = format!("ccci-browser-{}", token(8));
    let id = kuma.add_monitor(push_monitor(&name, &token(32), 3600)).await?;
    let password = recipe_uptime_kuma::admin_password(&app).await?;

    with_browser(&suite.run, "uptime-kuma-login", |browser| {
        let (app, name, password) = (&app, &name, &password);
        async move {
            browser.goto(&format!("https://{}/dashboard", app.domain())).await?;
            harness::converge("Uptime Kuma's login form", harness::scaled(PAGE_TIMEOUT), POLL, || async {
                browser.find(Locator::Css("#floatingPassword")).await.map(drop).map_err(|_| "no login form yet".to_owned())
            })
            .await?;
            browser.find(Locator::Css("#floatingInput")).await?.send_keys(ADMIN_USER).await?;
            browser.find(Locator::Css("#floatingPassword")).await?.send_keys(password.expose()).await?;
            browser.find(Locator::Css("form button[type=submit]")).await?.click().await?;
            // The dashboard lists the monitors the server pushes after login. The SPA has been
            // seen not to render the list of a session's first login: the page is reloaded
            // (the session token is kept in local storage) until it does, within the deadline.
            let browser = &browser;
            let mut reloads = 0u32;
            harness::converge("the dashboard to list the created monitor", harness::scaled(PAGE_TIMEOUT), Duration::from_secs(3), || {
                reloads += 1;
                let reload = reloads % 5 == 0;
                async move {
                    if let Some(code) = harness::browser::net_error(browser).await {
                        return Err(format!("the browser shows {code}"));
                    }
                    if reload {
                        browser.refresh().await.map_err(|e| e.to_string())?;
                    }
                    let text = page_text(browser).await?;
                    if browser.find(Locator::Css("#floatingPassword")).await.is_ok() && text.contains("Incorrect") {
                        return Err("the form refused the admin's password".to_owned());
                    }
                    if text.contains(name.as_str()) { Ok(()) } else { Err("the monitor is not listed yet".to_owned()) }
                }
            })
            .await?;
            // Logged in as the admin: the login form is gone and the header shows the menu.
            assert!(browser.find(Locator::Css("#floatingPassword")).await.is_err(), "still on the login form");
            Ok(())
        }
    })
    .await?;
    // The first session went idle while the browser worked (unanswered pings close it).
    admin(&app).await?.delete_monitor(id).await?;
    Ok(())
}
