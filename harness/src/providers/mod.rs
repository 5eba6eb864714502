//! Identity providers: the recipes other recipes log in through (`[sso] provider = ...`).
//!
//! What the harness does with a provider is the same for every kind: make sure a realm exists
//! for a dependent, create a confidential client in it, create users for tests, and know
//! where the issuer is and what the login page looks like. [`IdentityProvider`] is that
//! contract; each kind implements it in a file of its own (e.g. [`keycloak`]), chosen by the
//! provider recipe's `[provides.oidc] kind`. Adding a kind (e.g. authentik) is a new file and
//! one line in [`for_kind`]. The OIDC protocol side (discovery, grants, JWKS, the browser
//! code flow) is kind-independent and lives in [`oidc`].

mod api;
pub mod gitea;
pub mod keycloak;
pub mod oidc;

pub use api::{ClientSpec, IdentityProvider, IssuedClient, UserSpec};

use crate::{
    deploy::Deployment,
    error::{HarnessError, Result},
    secret::Secret,
};
use oidc::Provider;

/// The implementation of `kind` for the deployed provider `d`, administered as `admin_user`
/// with `admin_password`; `None` for a kind the harness does not know.
pub fn for_kind(kind: &str, d: &Deployment, admin_user: &str, admin_password: Secret) -> Option<Result<Box<dyn IdentityProvider>>> {
    match kind {
        keycloak::KIND => Some(keycloak::Keycloak::for_deployment(d, admin_user, admin_password).map(|k| Box::new(k) as Box<dyn IdentityProvider>)),
        gitea::KIND => Some(gitea::Gitea::for_deployment(d, admin_user, admin_password).map(|g| Box::new(g) as Box<dyn IdentityProvider>)),
        _ => None,
    }
}

/// The kinds [`for_kind`] knows, for error messages.
pub const KINDS: &[&str] = &[keycloak::KIND, gitea::KIND];

/// The OIDC endpoint of a deployed provider of `kind`.
pub fn endpoint(kind: &str, d: &Deployment) -> Result<Provider> {
    let layout = match kind {
        keycloak::KIND => &keycloak::LAYOUT,
        gitea::KIND => &gitea::LAYOUT,
        other => return Err(HarnessError::Config(format!("unknown identity provider kind {other:?} (known: {})", KINDS.join(", ")))),
    };
    Provider::for_deployment(d, layout).map_err(HarnessError::from)
}
