//! SSO, over HTTP: Synapse offers single sign-on through the Keycloak client the harness
//! provisioned, and its SSO redirect sends a browser to that realm's authorization endpoint
//! with that client and Synapse's own callback, where Keycloak shows its login page.

use harness::{prelude::*, providers::keycloak};
use recipe_matrix_synapse::SSO_IDP;

use crate::shared;

/// The `oidc_integration` half that needs no browser: `GET /login` lists `m.login.sso` with
/// the Keycloak provider, next to passwords and login tokens.
#[tokio::test(flavor = "multi_thread")]
async fn login_offers_sso_with_the_keycloak_provider() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let resp = app.get("/_matrix/client/v3/login").await?;
    assert_eq!(resp.status, 200);
    let v = resp.json()?;
    let flows = v["flows"].as_array().cloned().unwrap_or_default();
    let types: Vec<&str> = flows.iter().filter_map(|f| f["type"].as_str()).collect();
    for wanted in ["m.login.sso", "m.login.token", "m.login.password"] {
        assert!(types.contains(&wanted), "{wanted} is not offered: {types:?}");
    }
    let sso = flows.iter().find(|f| f["type"] == "m.login.sso").expect("checked above");
    let idps = sso["identity_providers"].as_array().cloned().unwrap_or_default();
    assert_eq!(idps.len(), 1, "identity providers: {idps:?}");
    assert_eq!(idps[0]["id"], SSO_IDP);
    assert_eq!(idps[0]["name"], "Keycloak");
    Ok(())
}

/// The SSO redirect (no browser, redirects not followed) goes to the authorization endpoint
/// of the realm the harness made, for the client it made, with Synapse's callback on this
/// domain; Keycloak accepts that request and shows its login form.
#[tokio::test(flavor = "multi_thread")]
async fn the_sso_redirect_sends_the_browser_to_the_provisioned_keycloak_client() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let grant = app.sso().cloned().ok_or_else(|| anyhow::format_err!("no SSO grant for {}", app.stack()))?;
    let platform = &app.run().platform;
    let no_redirects = |domain: &str| -> anyhow::Result<reqwest::Client> {
        Ok(AppClient::builder(domain, platform.ingress, platform.ca_pem.as_deref())?.redirect(reqwest::redirect::Policy::none()).cookie_store(true).build()?)
    };
    let client_url = format!("https://{}/ccci-sso-done", app.domain());
    let start = format!("https://{}/_matrix/client/v3/login/sso/redirect/{SSO_IDP}?redirectUrl={}", app.domain(), recipe_matrix_synapse::encode(&client_url));
    let resp = no_redirects(app.domain())?.get(&start).send().await?;
    assert_eq!(resp.status().as_u16(), 302, "the SSO redirect did not redirect");
    let location = resp.headers().get("location").and_then(|l| l.to_str().ok()).unwrap_or_default().to_owned();
    let url = reqwest::Url::parse(&location)?;
    let param = |key: &str| url.query_pairs().find(|(k, _)| k == key).map(|(_, v)| v.into_owned());
    assert_eq!(format!("{}://{}{}", url.scheme(), url.host_str().unwrap_or_default(), url.path()), format!("{}/protocol/openid-connect/auth", grant.issuer));
    assert_eq!(param("client_id").as_deref(), Some(grant.client_id.as_str()));
    assert_eq!(param("response_type").as_deref(), Some("code"));
    assert_eq!(param("redirect_uri"), Some(format!("https://{}/_synapse/client/oidc/callback", app.domain())));
    assert!(param("scope").is_some_and(|s| s.split(' ').any(|s| s == "openid")), "no openid scope: {location}");
    assert!(param("state").is_some_and(|s| !s.is_empty()), "no state");

    let page = no_redirects(&grant.provider_domain)?.get(url.as_str()).send().await?;
    assert_eq!(page.status().as_u16(), 200, "Keycloak refused Synapse's authorization request");
    let html = page.text().await?;
    assert!(html.contains("kc-form-login") || html.contains("name=\"password\""), "not Keycloak's login form: {}", html.chars().take(200).collect::<String>());
    // The provider is the one the recipe names.
    assert_eq!(grant.provider_kind, keycloak::KIND);
    Ok(())
}
