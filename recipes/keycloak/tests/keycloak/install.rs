//! Install: the head deploys and Keycloak really serves: the master realm's discovery
//! document names the public issuer, the bootstrap admin gets a token, and the server that
//! answers is the head's Keycloak.

use harness::{
    prelude::*,
    providers::{keycloak::KeycloakAdmin, oidc::{Expect, OidcError}},
};
use recipe_keycloak::{admin, provider, upstream_version};

use crate::shared;

/// The `health_check` of the maintainers' corpus, made strict: not the management port's
/// "UP" but the realm served through the proxy, under the issuer relying parties will use.
#[tokio::test(flavor = "multi_thread")]
async fn master_realm_discovery_names_the_public_issuer() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let provider = provider(&app)?;
    let issuer = format!("https://{}/realms/master", app.domain());
    let doc = provider.discover("master").await?;
    assert_eq!(doc.issuer, issuer);
    assert_eq!(doc.token_endpoint, format!("{issuer}/protocol/openid-connect/token"));
    assert_eq!(doc.jwks_uri, format!("{issuer}/protocol/openid-connect/certs"));
    // The realm's public page is Keycloak's JSON, not a proxy page: it names the realm and
    // publishes the signing key the JWKS also serves.
    let realm: serde_json::Value = provider.http().get("/realms/master").send().await?.error_for_status()?.json().await?;
    assert_eq!(realm["realm"], "master");
    assert_eq!(realm["token-service"], format!("{issuer}/protocol/openid-connect"));
    let public_key = realm["public_key"].as_str().unwrap_or_default();
    assert!(public_key.len() > 200, "no RSA public key on /realms/master: {realm}");
    let verifier = provider.verifier("master").await?;
    assert_eq!(verifier.issuer(), issuer);
    Ok(())
}

/// The bootstrap admin from the recipe's secret gets a token that verifies against the master
/// realm's JWKS, and the admin API reports the head's Keycloak version.
#[tokio::test(flavor = "multi_thread")]
async fn bootstrap_admin_gets_a_token_from_the_head_keycloak() -> anyhow::Result<()> {
    let (suite, app) = shared().await?;
    let admin = admin(&app)?;
    let token = admin.token().await?;
    // Signed by master's key, issued by master to admin-cli, not expired.
    provider(&app)?.verifier("master").await?.verify(token.expose(), &Expect::access_token("admin-cli"))?;
    // admin-cli issues lightweight access tokens (no `sub`, no profile claims): what shows the
    // token is the admin's is that the admin API accepts it below, and that the same user
    // with another password gets nothing.
    let username = app.env().get("ADMIN_USERNAME").unwrap_or("admin");
    let impostor = KeycloakAdmin::new(provider(&app)?, username, Secret::generate(32));
    match impostor.token().await {
        Err(OidcError::Status { status: 401, body, .. }) => assert!(body.contains("invalid_grant"), "{body}"),
        other => anyhow::bail!("a wrong admin password was not refused: {:?}", other.map(|_| "a token")),
    }

    let head = suite.head_version()?;
    contract::runs_head(&suite, &app).await?;
    assert_eq!(admin.server_version().await?, upstream_version(&head)?, "the server is not the head's Keycloak");
    Ok(())
}
