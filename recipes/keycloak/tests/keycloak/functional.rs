//! Functional: realms, clients and users made through the admin API issue tokens by the
//! password and client-credentials grants, and those tokens verify against the realm's JWKS;
//! wrong passwords and tampered tokens are refused; a client provisioned again is replaced.

use harness::{
    Secret,
    providers::{
        ClientSpec, IdentityProvider as _,
        oidc::{Expect, OidcError, TokenError, forge_claim},
    },
};
use recipe_keycloak::{TestRealm, admin, provider};

use crate::shared;

/// Runs `body` against a fresh realm on the shared deployment, then deletes the realm.
async fn in_test_realm<F, Fut>(prefix: &str, body: F) -> anyhow::Result<()>
where
    F: FnOnce(harness::Deployment, TestRealm) -> Fut,
    Fut: Future<Output = anyhow::Result<(harness::Deployment, TestRealm)>>,
{
    let (_suite, app) = shared().await?;
    let realm = TestRealm::create(&app, prefix).await?;
    let (app, realm) = body(app, realm).await?;
    realm.remove(&app).await?;
    assert!(admin(&app)?.realm(&realm.realm).await?.is_none(), "realm {} still exists after deleting it", realm.realm);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn password_grant_tokens_verify_against_the_realm_jwks() -> anyhow::Result<()> {
    in_test_realm("pw", |app, t| async move {
        let provider = provider(&app)?;
        let client = provider.oidc_client(&t.realm, &t.confidential.client_id, Some(t.client_secret()), None).await?;
        let tokens = client.password_grant(&t.user.username, &t.user.password).await?;
        let verifier = provider.verifier(&t.realm).await?;
        let issuer = format!("https://{}/realms/{}", app.domain(), t.realm);

        let access = verifier.verify(tokens.access_token.expose(), &Expect::access_token(&t.confidential.client_id))?;
        assert_eq!(access.iss, issuer);
        assert_eq!(access.azp.as_deref(), Some(t.confidential.client_id.as_str()));
        assert_eq!(access.preferred_username.as_deref(), Some(t.user.username.as_str()));
        assert_eq!(access.sub.as_deref(), Some(t.user_id.as_str()), "the token is not the created user's");
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
        assert!(access.exp > now && access.exp <= now + 3600, "exp {} is not a near-future time (now {now})", access.exp);

        let id = verifier.verify(tokens.id_token()?.expose(), &Expect::id_token(&t.confidential.client_id))?;
        assert!(id.aud.contains(&t.confidential.client_id), "ID token audience {:?}", id.aud);
        assert_eq!(id.email.as_deref(), Some(t.user.email.as_str()));
        assert_eq!(id.given_name.as_deref(), Some(t.user.first_name.as_str()));
        assert_eq!(id.family_name.as_deref(), Some(t.user.last_name.as_str()));
        Ok((app, t))
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn client_credentials_token_is_issued_to_the_service_account() -> anyhow::Result<()> {
    in_test_realm("cc", |app, t| async move {
        let provider = provider(&app)?;
        let client = provider.oidc_client(&t.realm, &t.confidential.client_id, Some(t.client_secret()), None).await?;
        let tokens = client.client_credentials().await?;
        let claims = provider.verifier(&t.realm).await?.verify(tokens.access_token.expose(), &Expect::access_token(&t.confidential.client_id))?;
        assert_eq!(claims.iss, format!("https://{}/realms/{}", app.domain(), t.realm));
        let expected = format!("service-account-{}", t.confidential.client_id);
        assert_eq!(claims.preferred_username.as_deref(), Some(expected.as_str()));
        assert_ne!(claims.sub.as_deref(), Some(t.user_id.as_str()), "a service account token must not be the user's");

        // A wrong client secret gets no token.
        let impostor = provider.oidc_client(&t.realm, &t.confidential.client_id, Some(&Secret::generate(32)), None).await?;
        match impostor.client_credentials().await {
            // RFC 6749 says invalid_client; Keycloak has long answered unauthorized_client.
            Err(OidcError::GrantRefused { error, .. }) => {
                assert!(matches!(error.as_str(), "invalid_client" | "unauthorized_client"), "refused with {error}")
            }
            other => anyhow::bail!("a wrong client secret was not refused: {other:?}"),
        }
        Ok((app, t))
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_password_is_refused_with_invalid_grant() -> anyhow::Result<()> {
    in_test_realm("badpw", |app, t| async move {
        let client = provider(&app)?.oidc_client(&t.realm, &t.confidential.client_id, Some(t.client_secret()), None).await?;
        match client.password_grant(&t.user.username, &Secret::generate(24)).await {
            Err(OidcError::GrantRefused { grant: "password", error, description }) => {
                assert_eq!(error, "invalid_grant", "{description:?}");
            }
            other => anyhow::bail!("a wrong password was not refused with invalid_grant: {other:?}"),
        }
        // The right password still works: the refusal was about the password, not the setup.
        client.password_grant(&t.user.username, &t.user.password).await?;
        Ok((app, t))
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tampered_token_fails_verification() -> anyhow::Result<()> {
    in_test_realm("tamper", |app, t| async move {
        let provider = provider(&app)?;
        let client = provider.oidc_client(&t.realm, &t.confidential.client_id, Some(t.client_secret()), None).await?;
        let tokens = client.password_grant(&t.user.username, &t.user.password).await?;
        let token = tokens.access_token.expose();
        let verifier = provider.verifier(&t.realm).await?;
        let expect = Expect::access_token(&t.confidential.client_id);
        verifier.verify(token, &expect)?;

        let forged = forge_claim(token, "preferred_username", serde_json::json!("mallory"))?;
        assert_eq!(verifier.verify(&forged, &expect), Err(TokenError::BadSignature));
        // A byte flipped in the signature is as bad as one in the payload.
        let mut bytes = token.as_bytes().to_vec();
        let last = bytes.len() - 2;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(verifier.verify(std::str::from_utf8(&bytes)?, &expect), Err(TokenError::BadSignature));
        // The master realm's keys do not vouch for this realm's token.
        let master = provider.verifier("master").await?;
        assert!(matches!(master.verify(token, &expect), Err(TokenError::UnknownKey(_))), "another realm's JWKS accepted the token");
        // Nor does the realm accept its own token for another client.
        assert!(matches!(
            verifier.verify(token, &Expect::access_token("some-other-client")),
            Err(TokenError::WrongAuthorizedParty { .. })
        ));
        Ok((app, t))
    })
    .await
}

/// What the harness does when a dependent is deployed again under the same domain (a shared
/// deployment retired to free its slot, then asked for again): it provisions the same client
/// id with a new secret through the provider contract. The client is replaced, not refused
/// with a conflict: the new secret gets tokens, the old one no longer does.
#[tokio::test(flavor = "multi_thread")]
async fn provisioning_a_client_again_replaces_its_secret() -> anyhow::Result<()> {
    in_test_realm("again", |app, t| async move {
        let username = app.env().get("ADMIN_USERNAME").unwrap_or("admin").to_owned();
        let password = app.secret(recipe_keycloak::ADMIN_PASSWORD_SECRET).cloned().ok_or_else(|| anyhow::anyhow!("no admin password"))?;
        let idp = harness::providers::keycloak::Keycloak::for_deployment(&app, &username, password)?;
        let first = ClientSpec::confidential(&format!("dep-{}", t.realm), Secret::generate(32), &[recipe_keycloak::callback(&app).as_str()]);
        let again = ClientSpec { secret: Some(Secret::generate(32)), ..first.clone() };
        idp.create_client(&t.realm, &first).await?;
        idp.create_client(&t.realm, &again).await?;

        let provider = provider(&app)?;
        provider.oidc_client(&t.realm, &again.client_id, again.secret.as_ref(), None).await?.client_credentials().await?;
        match provider.oidc_client(&t.realm, &first.client_id, first.secret.as_ref(), None).await?.client_credentials().await {
            Err(OidcError::GrantRefused { error, .. }) => assert!(matches!(error.as_str(), "invalid_client" | "unauthorized_client"), "refused with {error}"),
            other => anyhow::bail!("the replaced client's old secret still gets tokens: {other:?}"),
        }
        let clients = admin(&app)?.get(&format!("/realms/{}/clients?clientId={}", t.realm, first.client_id)).await?.unwrap_or_default();
        assert_eq!(clients.as_array().map(Vec::len), Some(1), "one client with that id: {clients}");
        Ok((app, t))
    })
    .await
}
