//! Browser: a user of the Keycloak realm the harness made for this deployment logs in to
//! Synapse through single sign-on in a real Chromium: Synapse's SSO redirect, Keycloak's own
//! login page, Synapse's OIDC callback (which calls Keycloak's token endpoint from inside its
//! container with the client secret it was handed), and back to the client with a
//! `loginToken`, which `m.login.token` turns into a session of the mapped Matrix user. A second
//! login maps to the same Matrix ID.

use std::time::Duration;

use fantoccini::{Client, Locator};
use harness::{browser::with_browser, providers::UserSpec, prelude::*};
use recipe_matrix_synapse::{PAGE_TIMEOUT, SSO_IDP, Synapse, encode, tag};

use crate::shared;

/// Where Synapse sends the browser back with the login token: a client URL on the
/// homeserver's domain (in `sso.client_whitelist`, so no confirmation page); nothing needs to
/// serve it, the test reads the token from the URL.
fn client_url(app: &Deployment) -> String {
    format!("https://{}/ccci-sso-done", app.domain())
}

/// How often a login starts over when Chromium reports `ERR_NETWORK_CHANGED` (Docker adds and
/// removes interfaces whenever any stack on the host is deployed or removed).
const ATTEMPTS: u32 = 3;

/// Drives one SSO login: returns the `loginToken` the browser is sent back with. Keycloak's
/// form is filled when it shows; with a Keycloak session already open it does not, and the
/// browser comes straight back.
async fn sso_login(browser: &Client, app: &Deployment, form: &harness::providers::oidc::LoginForm, user: &UserSpec) -> anyhow::Result<Secret> {
    let done = client_url(app);
    let start = format!("https://{}/_matrix/client/v3/login/sso/redirect/{SSO_IDP}?redirectUrl={}", app.domain(), encode(&done));
    let poll = Duration::from_millis(200);
    for attempt in 1..=ATTEMPTS {
        let _ = browser.goto(&start).await;
        // Keycloak's login form, or already back at the client.
        let landed = harness::converge("Keycloak's login form or the client URL", harness::scaled(PAGE_TIMEOUT), poll, || async {
            if let Some(code) = harness::browser::net_error(browser).await {
                return Ok(Err(code));
            }
            let url = browser.current_url().await.map_err(|e| e.to_string())?;
            if url.as_str().starts_with(&done) {
                return Ok(Ok(None));
            }
            match browser.find(Locator::Css(form.form)).await {
                Ok(el) => Ok(Ok(Some(el))),
                Err(_) => Err(format!("at {}", url.as_str().split('?').next().unwrap_or_default())),
            }
        })
        .await?;
        let form_el = match landed {
            Err(code) if code == "ERR_NETWORK_CHANGED" && attempt < ATTEMPTS => continue,
            Err(code) => anyhow::bail!("the browser shows {code}"),
            Ok(form_el) => form_el,
        };
        if let Some(form_el) = form_el {
            let url = browser.current_url().await?;
            anyhow::ensure!(
                url.as_str().starts_with(&format!("https://{}/realms/", user_provider_domain(app)?)),
                "the login form is not Keycloak's: {}",
                url.as_str().split('?').next().unwrap_or_default()
            );
            form_el.find(Locator::Css(form.username)).await?.send_keys(&user.username).await?;
            form_el.find(Locator::Css(form.password)).await?.send_keys(user.password.expose()).await?;
            form_el.find(Locator::Css(form.submit)).await?.click().await?;
        }
        let back = harness::converge("the browser to come back to the client with a login token", harness::scaled(PAGE_TIMEOUT), poll, || async {
            if let Some(code) = harness::browser::net_error(browser).await {
                return Ok(Err(code));
            }
            let url = browser.current_url().await.map_err(|e| e.to_string())?;
            if url.as_str().starts_with(&done) {
                return Ok(Ok(url));
            }
            if let Ok(el) = browser.find(Locator::Css(form.error)).await
                && let Ok(text) = el.text().await
                && !text.trim().is_empty()
            {
                return Ok(Err(format!("Keycloak refused the login: {}", text.trim())));
            }
            Err(format!("at {}", url.as_str().split('?').next().unwrap_or_default()))
        })
        .await?;
        let url = match back {
            Err(code) if code == "ERR_NETWORK_CHANGED" && attempt < ATTEMPTS => continue,
            Err(why) => anyhow::bail!("{why}"),
            Ok(url) => url,
        };
        let token = url.query_pairs().find(|(k, _)| k == "loginToken").map(|(_, v)| v.into_owned());
        return token.map(Secret::new).ok_or_else(|| anyhow::format_err!("the client URL carries no loginToken"));
    }
    anyhow::bail!("ERR_NETWORK_CHANGED {ATTEMPTS} times in a row")
}

fn user_provider_domain(app: &Deployment) -> anyhow::Result<String> {
    Ok(app.sso().ok_or_else(|| anyhow::format_err!("no SSO grant"))?.provider_domain.clone())
}

/// The `oidc_login` of the maintainers' corpus, in a real browser.
#[tokio::test(flavor = "multi_thread")]
async fn a_keycloak_user_logs_in_through_sso_and_maps_to_the_same_matrix_id_twice() -> anyhow::Result<()> {
    let (suite, app) = shared().await?;
    let (idp, realm) = suite.sso_provider(&app)?;
    let t = tag();
    let user = UserSpec {
        username: format!("sso-{t}"),
        email: format!("sso-{t}@example.test"),
        first_name: "Sso".into(),
        last_name: format!("Tester{t}"),
        password: Secret::generate(24),
    };
    idp.create_user(&realm, &user).await?;
    let form = &idp.layout().login;
    let (first, second) = with_browser(&suite.run, "synapse-sso-login", |browser| {
        let (app, user) = (&app, &user);
        async move {
            let first = sso_login(&browser, app, form, user).await?;
            // The Keycloak session is open now: the second round trip skips the form.
            let second = sso_login(&browser, app, form, user).await?;
            Ok((first, second))
        }
    })
    .await?;
    assert_ne!(first.expose(), second.expose(), "the second login got the same login token");

    let m = Synapse::of(&app)?;
    let expected = m.user_id(&user.username);
    let session = m.try_token_login(&first).await?.map_err(anyhow::Error::new)?;
    assert_eq!(session.user_id, expected);
    assert_eq!(m.whoami(&session).await?, expected, "whoami is not the mapped localpart");
    // The display name came from the token's `name` claim.
    let profile = m
        .call(reqwest::Method::GET, &format!("/_matrix/client/v3/profile/{}", encode(&expected)), Some(&session.access_token), recipe_matrix_synapse::Body::None)
        .await?
        .ok_json("reading the profile")?;
    assert_eq!(profile["displayname"], format!("{} {}", user.first_name, user.last_name));
    // A login token is single-use.
    let replay = m.try_token_login(&first).await?;
    assert!(matches!(&replay, Err(e) if e.errcode == "M_FORBIDDEN"), "a login token was accepted twice: {:?}", replay.as_ref().map(|s| &s.user_id));

    let again = m.try_token_login(&second).await?.map_err(anyhow::Error::new)?;
    assert_eq!(again.user_id, expected, "the second SSO login mapped to another Matrix ID");
    assert_ne!(again.device_id, session.device_id);
    Ok(())
}
