//! Keycloak as an identity provider: realms, clients and users through its admin REST API
//! (as the bootstrap admin of `master`; the admin token lives about 60 s, so every call
//! fetches a fresh one), issuers at `/realms/<realm>`, and its login page's selectors.

use futures_util::future::BoxFuture;
use serde_json::{Value, json};

use super::{
    api::{ClientSpec, IdentityProvider, IssuedClient, UserSpec},
    oidc::{Layout, LoginForm, OidcError, Provider, http_err, status_err},
};
use crate::{deploy::Deployment, error::Result, secret::Secret};

/// `[provides.oidc] kind = "keycloak"`.
pub const KIND: &str = "keycloak";

/// Keycloak's issuers and login page (the v2 login theme and the classic one).
pub static LAYOUT: Layout = Layout {
    issuer_path: "/realms/{realm}",
    login: LoginForm {
        form: "form#kc-form-login, form:has(input[name=password])",
        username: "input[name=username]",
        password: "input[name=password]",
        submit: "[type=submit]",
        error: "#input-error, #input-error-username, .kc-feedback-text, .pf-m-danger .pf-v5-c-alert__title, .alert-error",
    },
};

/// The OIDC endpoint a Keycloak deployment serves.
pub fn provider(d: &Deployment) -> std::result::Result<Provider, OidcError> {
    Provider::for_deployment(d, &LAYOUT)
}

/// Keycloak behind [`IdentityProvider`].
#[derive(Debug, Clone)]
pub struct Keycloak {
    admin: KeycloakAdmin,
}

impl Keycloak {
    pub fn for_deployment(d: &Deployment, admin_user: &str, admin_password: Secret) -> Result<Keycloak> {
        Ok(Keycloak { admin: KeycloakAdmin::new(provider(d)?, admin_user, admin_password) })
    }

    pub fn admin(&self) -> &KeycloakAdmin {
        &self.admin
    }
}

impl IdentityProvider for Keycloak {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn layout(&self) -> &'static Layout {
        &LAYOUT
    }

    fn ensure_realm<'a>(&'a self, realm: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            if self.admin.realm(realm).await?.is_none() {
                self.admin.create_realm(realm).await?;
            }
            Ok(())
        })
    }

    fn create_client<'a>(&'a self, realm: &'a str, client: &'a ClientSpec) -> BoxFuture<'a, Result<IssuedClient>> {
        Box::pin(async move {
            if let Some(id) = self.admin.client_id(realm, &client.client_id).await? {
                self.admin.delete(&format!("/realms/{realm}/clients/{id}")).await?;
            }
            self.admin.create_client(realm, client).await?;
            Ok(IssuedClient::as_specified(client))
        })
    }

    fn create_user<'a>(&'a self, realm: &'a str, user: &'a UserSpec) -> BoxFuture<'a, Result<String>> {
        Box::pin(async move { Ok(self.admin.create_user(realm, user).await?) })
    }
}

fn client_representation(spec: &ClientSpec) -> Value {
    let mut rep = json!({
        "clientId": spec.client_id,
        "enabled": true,
        "protocol": "openid-connect",
        "publicClient": spec.secret.is_none(),
        "standardFlowEnabled": true,
        "directAccessGrantsEnabled": spec.direct_access,
        "serviceAccountsEnabled": spec.service_account && spec.secret.is_some(),
        "redirectUris": spec.redirect_uris,
    });
    if let Some(secret) = &spec.secret {
        rep["secret"] = json!(secret.expose());
    } else {
        rep["attributes"] = json!({ "pkce.code.challenge.method": "S256" });
    }
    rep
}

fn user_representation(spec: &UserSpec) -> Value {
    json!({
        "username": spec.username,
        "email": spec.email,
        "firstName": spec.first_name,
        "lastName": spec.last_name,
        "enabled": true,
        "emailVerified": true,
        "credentials": [{ "type": "password", "value": spec.password.expose(), "temporary": false }],
    })
}

/// Keycloak's admin REST API as the bootstrap admin of the `master` realm.
#[derive(Clone)]
pub struct KeycloakAdmin {
    provider: Provider,
    username: String,
    password: Secret,
}

impl std::fmt::Debug for KeycloakAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeycloakAdmin").field("provider", &self.provider).field("username", &self.username).finish()
    }
}

impl KeycloakAdmin {
    pub fn new(provider: Provider, username: &str, password: Secret) -> KeycloakAdmin {
        KeycloakAdmin { provider, username: username.into(), password }
    }

    pub fn provider(&self) -> &Provider {
        &self.provider
    }

    /// A fresh admin access token (password grant of `admin-cli` in `master`). It lives about
    /// 60 s, so every admin call asks for a new one.
    pub async fn token(&self) -> Result<Secret, OidcError> {
        let what = "admin token (admin-cli password grant in master)";
        let resp = self
            .provider
            .http()
            .request(reqwest::Method::POST, "/realms/master/protocol/openid-connect/token")
            .form(&[
                ("grant_type", "password"),
                ("client_id", "admin-cli"),
                ("username", self.username.as_str()),
                ("password", self.password.expose()),
            ])
            .send()
            .await
            .map_err(|e| http_err(what, format!("{e:#}")))?;
        if !resp.status().is_success() {
            return Err(status_err(what, resp).await);
        }
        let body: Value = resp.json().await.map_err(|e| http_err(what, e))?;
        body.get("access_token")
            .and_then(Value::as_str)
            .map(Secret::new)
            .ok_or_else(|| OidcError::Http { what: what.into(), message: "no access_token in the answer".into() })
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Result<reqwest::Response, OidcError> {
        let token = self.token().await?;
        let mut req = self.provider.http().request(method.clone(), &format!("/admin{path}")).bearer_auth(token.expose());
        if let Some(body) = body {
            req = req.json(body);
        }
        req.send().await.map_err(|e| http_err(format!("{method} /admin{path}"), format!("{e:#}")))
    }

    /// `GET /admin<path>` as JSON; `None` on 404.
    pub async fn get(&self, path: &str) -> Result<Option<Value>, OidcError> {
        let what = format!("GET /admin{path}");
        let resp = self.call(reqwest::Method::GET, path, None).await?;
        match resp.status().as_u16() {
            200 => Ok(Some(resp.json().await.map_err(|e| http_err(&what, e))?)),
            404 => Ok(None),
            _ => Err(status_err(what, resp).await),
        }
    }

    /// POSTs a representation and returns the id from the `Location` of the 201.
    async fn create(&self, path: &str, body: &Value) -> Result<String, OidcError> {
        let what = format!("POST /admin{path}");
        let resp = self.call(reqwest::Method::POST, path, Some(body)).await?;
        if resp.status().as_u16() != 201 {
            return Err(status_err(what, resp).await);
        }
        let location = resp.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default();
        Ok(location.rsplit('/').next().unwrap_or_default().to_owned())
    }

    pub async fn create_realm(&self, realm: &str) -> Result<(), OidcError> {
        self.create("/realms", &json!({ "realm": realm, "enabled": true })).await.map(|_| ())
    }

    /// The realm's representation, `None` if it does not exist.
    pub async fn realm(&self, realm: &str) -> Result<Option<Value>, OidcError> {
        self.get(&format!("/realms/{realm}")).await
    }

    pub async fn delete_realm(&self, realm: &str) -> Result<(), OidcError> {
        self.delete(&format!("/realms/{realm}")).await
    }

    /// `DELETE /admin<path>`.
    pub async fn delete(&self, path: &str) -> Result<(), OidcError> {
        let what = format!("DELETE /admin{path}");
        let resp = self.call(reqwest::Method::DELETE, path, None).await?;
        if !resp.status().is_success() {
            return Err(status_err(what, resp).await);
        }
        Ok(())
    }

    /// The internal id of the client `client_id` in `realm`, `None` if there is none.
    pub async fn client_id(&self, realm: &str, client_id: &str) -> Result<Option<String>, OidcError> {
        let mut url = reqwest::Url::parse("http://query.invalid/").expect("a valid URL");
        url.query_pairs_mut().append_pair("clientId", client_id);
        let found = self.get(&format!("/realms/{realm}/clients?{}", url.query().unwrap_or_default())).await?.unwrap_or(Value::Null);
        Ok(found.as_array().and_then(|a| a.iter().find(|c| c["clientId"] == client_id)).and_then(|c| c["id"].as_str()).map(str::to_owned))
    }

    /// Creates a client; returns its internal id.
    pub async fn create_client(&self, realm: &str, spec: &ClientSpec) -> Result<String, OidcError> {
        self.create(&format!("/realms/{realm}/clients"), &client_representation(spec)).await
    }

    /// Creates a user with a permanent password; returns the user's id (the tokens' `sub`).
    pub async fn create_user(&self, realm: &str, spec: &UserSpec) -> Result<String, OidcError> {
        self.create(&format!("/realms/{realm}/users"), &user_representation(spec)).await
    }

    /// The server's version, as `/admin/serverinfo` reports it (`systemInfo.version`).
    pub async fn server_version(&self) -> Result<String, OidcError> {
        let info = self.get("/serverinfo").await?.unwrap_or(Value::Null);
        info.pointer("/systemInfo/version")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| OidcError::Http { what: "GET /admin/serverinfo".into(), message: "no systemInfo.version".into() })
    }
}

