//! Browser: the authorization-code flow with PKCE, driven through a real Chromium on
//! Keycloak's own login page, ends with a verified ID token for the user; a wrong password
//! keeps the browser on the login page with Keycloak's error and yields no code.

use harness::{
    Secret,
    browser::{PAGE_TIMEOUT, with_browser},
    providers::oidc::{Expect, LoginOutcome},
};
use recipe_keycloak::{TestRealm, callback, provider};

use crate::shared;

#[tokio::test(flavor = "multi_thread")]
async fn browser_login_with_pkce_ends_with_an_id_token_for_the_user() -> anyhow::Result<()> {
    let (suite, app) = shared().await?;
    let t = TestRealm::create(&app, "web").await?;
    let provider = provider(&app)?;
    let client = provider.oidc_client(&t.realm, &t.public.client_id, None, Some(&callback(&app))).await?;
    let request = client.authorize();
    let outcome = with_browser(&suite.run, "keycloak-pkce-login", |browser| {
        let (client, request, user) = (&client, &request, &t.user);
        async move {
            let outcome = client.browser_login(&browser, request, &user.username, &user.password, harness::scaled(PAGE_TIMEOUT)).await?;
            Ok(outcome)
        }
    })
    .await?;
    let LoginOutcome::Code(code) = outcome else { anyhow::bail!("the login was refused: {outcome:?}") };
    let nonce = request.nonce.secret().clone();
    // openidconnect checks the ID token (signature, issuer, audience, expiry, nonce) here...
    let tokens = client.exchange_code(request, &code).await?;
    // ...and the realm's JWKS agrees, independently.
    let claims = provider.verifier(&t.realm).await?.verify(tokens.id_token()?.expose(), &Expect::id_token(&t.public.client_id).with_nonce(&nonce))?;
    assert_eq!(claims.sub.as_deref(), Some(t.user_id.as_str()));
    assert_eq!(claims.preferred_username.as_deref(), Some(t.user.username.as_str()));
    assert_eq!(claims.email.as_deref(), Some(t.user.email.as_str()));
    assert_eq!(claims.nonce.as_deref(), Some(nonce.as_str()));
    // A code is single-use: replaying it gets nothing.
    let replay = client.authorize();
    assert!(client.exchange_code(replay, &code).await.is_err(), "an authorization code was accepted twice");
    t.remove(&app).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn browser_login_with_a_wrong_password_shows_the_error_and_issues_no_code() -> anyhow::Result<()> {
    let (suite, app) = shared().await?;
    let t = TestRealm::create(&app, "webbad").await?;
    let client = provider(&app)?.oidc_client(&t.realm, &t.public.client_id, None, Some(&callback(&app))).await?;
    let request = client.authorize();
    let wrong = Secret::generate(24);
    let outcome = with_browser(&suite.run, "keycloak-wrong-password", |browser| {
        let (client, request, username, wrong) = (&client, &request, &t.user.username, &wrong);
        async move {
            let outcome = client.browser_login(&browser, request, username, wrong, harness::scaled(PAGE_TIMEOUT)).await?;
            let url = browser.current_url().await?;
            Ok((outcome, url))
        }
    })
    .await?;
    t.remove(&app).await?;
    let (outcome, url) = outcome;
    match outcome {
        LoginOutcome::Refused(message) => assert!(message.contains("Invalid username or password"), "login page error: {message:?}"),
        LoginOutcome::Code(_) => anyhow::bail!("a wrong password got an authorization code"),
    }
    assert!(url.as_str().starts_with(&format!("https://{}/realms/{}/", app.domain(), t.realm)), "left Keycloak's pages: {url}");
    assert!(url.query_pairs().all(|(k, _)| k != "code"), "a code in the URL after a refused login: {url}");
    Ok(())
}
