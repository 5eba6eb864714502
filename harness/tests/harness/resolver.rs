//! The dependency resolver: a recipe with `[sso] provider = "keycloak"` gets the provider
//! deployed first in the same run, a realm and a confidential client made for it, and the
//! issuer, client id and client secret handed to its deployment before it deploys.
//!
//! The dependent is a fixture of the harness's own (`tests/fixtures/sso-app`); the provider is
//! the real Keycloak of the testbed, found through `recipes/keycloak/recipe.toml`.

use std::time::Duration;

use harness::{
    Rev, Suite,
    ops::{Recipe, SlotLease},
    providers::{
        keycloak,
        oidc::{Expect, Provider},
    },
};

use crate::{fixture, this_run};

#[tokio::test(flavor = "multi_thread")]
async fn an_sso_recipe_gets_its_provider_and_client_before_it_deploys() -> anyhow::Result<()> {
    let run = this_run().await?;
    let recipe = Recipe::parse(&fixture("sso-app").join("recipe.toml"), "name = \"sso-app\"\n[sso]\nprovider = \"keycloak\"\n")?;
    let source = harness::ops::RecipeSource::fixture_dir(&run.config, &fixture("sso-app"), "sso-app").await?;
    let suite = Suite::from_parts(recipe, run.clone(), source);
    let app = suite.deploy("sso", Rev::Head).await?;
    let checks = async {
        let grant = app.sso().cloned().ok_or_else(|| anyhow::format_err!("no SSO grant recorded"))?;
        // The provider came first, in this run, and holds a MAX_TESTS slot of its own.
        let log = std::fs::read_to_string(run.dir().join("run.log"))?;
        let provider_at = log.find(&format!("{} (dep)", grant.provider_domain.replace('.', "_")));
        let app_at = log.find(&format!("{} (sso)", app.stack()));
        assert!(matches!((provider_at, app_at), (Some(p), Some(a)) if p < a), "the provider was not deployed before the app");
        let provider_stack = grant.provider_domain.replace('.', "_");
        let lease = SlotLease::held_for(&run.config, &provider_stack);
        assert!(lease.is_some(), "the provider holds no MAX_TESTS slot");

        // The app received issuer, client id and secret.
        let env = |key: &'static str| {
            let app = &app;
            async move { anyhow::Ok(app.exec_ok("app", &["printenv", key]).await?.stdout_str().trim().to_owned()) }
        };
        assert_eq!(env("OIDC_ISSUER").await?, grant.issuer);
        assert_eq!(grant.issuer, format!("https://{}/realms/{}", grant.provider_domain, grant.realm));
        assert_eq!(env("OIDC_CLIENT_ID").await?, grant.client_id);
        let secret = app.exec_ok("app", &["cat", "/run/secrets/oidc_client_secret"]).await?.stdout;
        let handed = app.secret(&grant.client_secret_name).ok_or_else(|| anyhow::format_err!("no client secret kept"))?;
        assert_eq!(secret, handed.expose().as_bytes());

        // And they work at the provider: discovery matches the issuer, and the client
        // authenticates with exactly that secret.
        let provider = Provider::new(&grant.provider_domain, run.platform.ingress, run.platform.ca_pem.as_deref(), &keycloak::LAYOUT)?;
        let t = &run.config.timeouts;
        provider.wait_for_discovery(&grant.realm, t.ready, Duration::from_millis(250)).await?;
        let client = provider.oidc_client(&grant.realm, &grant.client_id, Some(handed), None).await?;
        let tokens = client.client_credentials().await?;
        let claims = provider.verifier(&grant.realm).await?.verify(tokens.access_token.expose(), &Expect::access_token(&grant.client_id))?;
        assert_eq!(claims.azp.as_deref(), Some(grant.client_id.as_str()));
        assert_eq!(claims.iss, grant.issuer);
        let wrong = provider.oidc_client(&grant.realm, &grant.client_id, Some(&harness::Secret::new("not-the-secret")), None).await?;
        assert!(wrong.client_credentials().await.is_err(), "the provider accepted a wrong client secret");
        anyhow::Ok(())
    }
    .await;
    app.teardown().await?;
    checks
}
