//! What the keycloak suite knows about the recipe: Keycloak (`app`) serves realms at
//! `https://<domain>/realms/<realm>`, its bootstrap admin is `ADMIN_USERNAME` (`.env`) with
//! the `admin_password` secret, and all state lives in PostgreSQL (`db`), dumped and restored
//! by the recipe's backupbot hooks.
//!
//! The generic OIDC machinery (discovery, grants, JWKS verification, browser login) is
//! `harness::providers::oidc`, the admin API `harness::providers::keycloak`; this file holds the recipe's names and the suite's fixtures:
//! a throwaway realm with a confidential client, a public (PKCE) client and a user
//! ([`TestRealm`]), and the backup/upgrade marker ([`MarkerRealm`]).

use anyhow::Context as _;
use harness::{
    prelude::*,
    providers::{
        ClientSpec, UserSpec,
        keycloak::KeycloakAdmin,
        oidc::{Expect, Provider},
    },
};
use serde_json::{Value, json};

pub use harness::fixture::{tag, upstream_version};

/// The recipe's secret holding the bootstrap admin's password.
pub const ADMIN_PASSWORD_SECRET: &str = "admin_password";

/// The provider the deployment serves, through the ingress.
pub fn provider(d: &Deployment) -> anyhow::Result<Provider> {
    Ok(harness::providers::keycloak::provider(d)?)
}

/// The admin API as the recipe's bootstrap admin.
pub fn admin(d: &Deployment) -> anyhow::Result<KeycloakAdmin> {
    let username = d.env().get("ADMIN_USERNAME").unwrap_or("admin");
    let password = d
        .secret(ADMIN_PASSWORD_SECRET)
        .with_context(|| format!("{} has no {ADMIN_PASSWORD_SECRET} secret", d.stack()))?
        .clone();
    Ok(KeycloakAdmin::new(provider(d)?, username, password))
}

/// Where the code flow's browser is sent back to: a path on the provider's own domain (the
/// test reads the code from the browser's URL; nothing needs to serve it).
pub fn callback(d: &Deployment) -> String {
    format!("https://{}/ccci-callback", d.domain())
}

/// A realm made for one test: a confidential client (password, client-credentials and code
/// grants), a public client (code + S256 PKCE only) and a user with a full profile.
pub struct TestRealm {
    pub realm: String,
    pub confidential: ClientSpec,
    pub public: ClientSpec,
    pub user: UserSpec,
    /// The user's id: the `sub` of its tokens.
    pub user_id: String,
}

impl TestRealm {
    /// Creates `<prefix>-<tag>` through the admin API.
    pub async fn create(d: &Deployment, prefix: &str) -> anyhow::Result<TestRealm> {
        let admin = admin(d)?;
        let t = tag();
        let realm = format!("{prefix}-{t}");
        let redirect = callback(d);
        let confidential = ClientSpec::confidential(&format!("app-{t}"), Secret::generate(32), &[redirect.as_str()]);
        let public = ClientSpec::public(&format!("spa-{t}"), &[redirect.as_str()]);
        let user = UserSpec {
            username: format!("alice-{t}"),
            email: format!("alice-{t}@example.test"),
            first_name: "Alice".into(),
            last_name: format!("Tester{t}"),
            password: Secret::generate(24),
        };
        admin.create_realm(&realm).await.with_context(|| format!("creating realm {realm}"))?;
        admin.create_client(&realm, &confidential).await.with_context(|| format!("creating client {}", confidential.client_id))?;
        admin.create_client(&realm, &public).await.with_context(|| format!("creating client {}", public.client_id))?;
        let user_id = admin.create_user(&realm, &user).await.with_context(|| format!("creating user {}", user.username))?;
        anyhow::ensure!(!user_id.is_empty(), "the admin API returned no id for {}", user.username);
        Ok(TestRealm { realm, confidential, public, user, user_id })
    }

    pub fn client_secret(&self) -> &Secret {
        self.confidential.secret.as_ref().expect("the confidential client has a secret")
    }

    /// Deletes the realm (tests tidy the shared deployment up after themselves).
    pub async fn remove(&self, d: &Deployment) -> anyhow::Result<()> {
        admin(d)?.delete_realm(&self.realm).await?;
        Ok(())
    }
}

/// The backup and upgrade marker: a realm with a confidential client and a user, all with
/// random names and secrets. Read back through the app, it is the realm's name and public
/// signing key (published at `/realms/<realm>`) plus the user's id and name from a verified
/// password-grant token: a realm recreated under the same name would have another key and
/// another user id.
pub struct MarkerRealm {
    pub realm: String,
    client: ClientSpec,
    user: UserSpec,
}

impl MarkerRealm {
    pub fn new() -> MarkerRealm {
        let t = tag();
        MarkerRealm {
            realm: format!("marker-{t}"),
            client: ClientSpec::confidential(&format!("marker-app-{t}"), Secret::generate(32), &["https://marker.invalid/cb"]),
            user: UserSpec {
                username: format!("marker-{t}"),
                email: format!("marker-{t}@example.test"),
                first_name: "Marker".into(),
                last_name: format!("User{t}"),
                password: Secret::generate(24),
            },
        }
    }
}

impl Default for MarkerRealm {
    fn default() -> Self {
        MarkerRealm::new()
    }
}

impl DataProbe for MarkerRealm {
    fn describe(&self) -> String {
        format!("marker realm {} with user {}", self.realm, self.user.username)
    }

    async fn seed(&mut self, d: &Deployment) -> anyhow::Result<Vec<u8>> {
        let admin = admin(d)?;
        admin.create_realm(&self.realm).await?;
        admin.create_client(&self.realm, &self.client).await?;
        admin.create_user(&self.realm, &self.user).await?;
        self.read(d).await?.with_context(|| format!("{} is not served right after creating it", self.realm))
    }

    async fn read(&self, d: &Deployment) -> anyhow::Result<Option<Vec<u8>>> {
        let provider = provider(d)?;
        let resp = provider.http().get(&format!("/realms/{}", self.realm)).send().await?;
        match resp.status().as_u16() {
            404 => return Ok(None),
            200 => {}
            other => anyhow::bail!("GET /realms/{}: unexpected HTTP {other}", self.realm),
        }
        let info: Value = resp.json().await?;
        let secret = self.client.secret.as_ref().expect("confidential");
        let client = provider.oidc_client(&self.realm, &self.client.client_id, Some(secret), None).await?;
        let tokens = client.password_grant(&self.user.username, &self.user.password).await?;
        let claims = provider.verifier(&self.realm).await?.verify(tokens.access_token.expose(), &Expect::access_token(&self.client.client_id))?;
        let marker = json!({
            "realm": info.get("realm"),
            "public_key": info.get("public_key"),
            "sub": claims.sub,
            "preferred_username": claims.preferred_username,
        });
        Ok(Some(serde_json::to_vec(&marker)?))
    }

    /// Keycloak keeps realms, users and keys in its caches, and its connection pool holds the
    /// connections the restore's `DROP DATABASE ... WITH (FORCE)` terminated. Measured on the
    /// testbed: right after a restore the running server still serves a realm created after
    /// the dump (absent from the restored database), and the admin's token request fails with
    /// `unknown_error`. Restarting the app makes it read the restored database, as an
    /// operator would after a restore (the restart waits for the recipe's `[ready]`).
    async fn after_restore(&self, d: &Deployment) -> anyhow::Result<()> {
        d.restart_service("app").await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keycloak_version_is_the_upstream_part_of_the_recipe_version() {
        assert_eq!(upstream_version("10.5.0+26.5.6").unwrap(), "26.5.6");
        assert_eq!(upstream_version("10.5.0+26.5.6+chaos-abc1234").unwrap(), "26.5.6");
        assert!(upstream_version("10.5.0").is_err());
    }
}
