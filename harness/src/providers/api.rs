//! The contract every identity-provider kind implements, and the objects it creates.

use futures_util::future::BoxFuture;

use super::oidc::Layout;
use crate::{error::Result, secret::Secret};

/// A provider kind, administered with the credentials its recipe names.
pub trait IdentityProvider: Send + Sync {
    /// The kind's name, as `[provides.oidc] kind` spells it.
    fn kind(&self) -> &'static str;

    /// Where the kind serves issuers and what its login page looks like.
    fn layout(&self) -> &'static Layout;

    /// Creates the realm (or tenant, or application group) unless it exists.
    fn ensure_realm<'a>(&'a self, realm: &'a str) -> BoxFuture<'a, Result<()>>;

    /// Creates a client in `realm`, replacing one with the same client id: a dependent
    /// deployed again under the same domain (a shared deployment retired to free its slot and
    /// asked for again) gets a client with its new secret, not a conflict. Returns the id and
    /// secret the dependent must use: the spec's, unless the provider generates its own.
    fn create_client<'a>(&'a self, realm: &'a str, client: &'a ClientSpec) -> BoxFuture<'a, Result<IssuedClient>>;

    /// Creates a user in `realm` and returns its id (the tokens' `sub`).
    fn create_user<'a>(&'a self, realm: &'a str, user: &'a UserSpec) -> BoxFuture<'a, Result<String>>;
}

/// A confidential or public client to create in a realm.
#[derive(Debug, Clone)]
pub struct ClientSpec {
    pub client_id: String,
    /// `None`: a public client (PKCE, no secret).
    pub secret: Option<Secret>,
    pub redirect_uris: Vec<String>,
    /// Allow the password grant ("direct access grants").
    pub direct_access: bool,
    /// A service account for the client-credentials grant (confidential clients only).
    pub service_account: bool,
}

impl ClientSpec {
    /// A confidential client allowing the code flow, the password grant and client credentials.
    pub fn confidential(client_id: &str, secret: Secret, redirect_uris: &[&str]) -> ClientSpec {
        ClientSpec {
            client_id: client_id.into(),
            secret: Some(secret),
            redirect_uris: redirect_uris.iter().map(|s| s.to_string()).collect(),
            direct_access: true,
            service_account: true,
        }
    }

    /// A public client for the code flow with PKCE (S256 required).
    pub fn public(client_id: &str, redirect_uris: &[&str]) -> ClientSpec {
        ClientSpec {
            client_id: client_id.into(),
            secret: None,
            redirect_uris: redirect_uris.iter().map(|s| s.to_string()).collect(),
            direct_access: false,
            service_account: false,
        }
    }
}

/// The client a provider made: what a relying party configures. Providers that take the
/// spec's id and secret return those; providers that generate them (e.g. Gitea's OAuth2
/// applications) return theirs. `secret` is `None` for a public client.
#[derive(Debug, Clone)]
pub struct IssuedClient {
    pub client_id: String,
    pub secret: Option<Secret>,
}

impl IssuedClient {
    /// The spec itself, for providers that take the id and secret they are given.
    pub fn as_specified(spec: &ClientSpec) -> IssuedClient {
        IssuedClient { client_id: spec.client_id.clone(), secret: spec.secret.clone() }
    }
}

/// A user to create: some providers (such as Keycloak 24+) refuse tokens to users without a
/// first/last name and email ("Account is not fully set up"), so all are required.
#[derive(Debug, Clone)]
pub struct UserSpec {
    pub username: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub password: Secret,
}

