//! The lasuite-meet tests of the real recipe: meet's Django backend, which is on no registry
//! reachable from the testbed (recipe.toml [unverified_here]). Built only with the
//! `real-recipe` feature and run on a cc-ci host against the real recipe
//! (`CCCI_RECIPE_REPO=<checkout> cargo test -p recipe-lasuite-meet --features real-recipe`);
//! never run here, so nothing here reports them as passed.
//!
//! Assumptions about the real recipe (its repository was not reachable from here), each named
//! where used: the backend service is `backend` (meet's `lasuite/meet-backend`, Django on
//! postgres) and answers under the app's domain at `/api/v1.0/` and `/__heartbeat__`; it is
//! wired to the SSO client the harness provisions (recipe.toml [sso]) and to LiveKit with
//! `LIVEKIT_API_KEY` and the `livekit_api_secret` secret.

mod backup;
mod functional;
mod install;
mod sso;
mod upgrade;

use harness::{providers::UserSpec, prelude::*};
use recipe_lasuite_meet::tag;

/// The recipe's backend service (meet's Django app).
pub const BACKEND: &str = "backend";

async fn shared() -> anyhow::Result<(Suite, Deployment)> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    let app = suite.shared().await?;
    Ok((suite, app))
}

/// A user of the realm the harness made for `app`'s SSO client, created in the provider.
async fn provider_user(suite: &Suite, app: &Deployment, who: &str) -> anyhow::Result<(UserSpec, harness::providers::oidc::LoginForm)> {
    let (idp, realm) = suite.sso_provider(app)?;
    let t = tag();
    let user = UserSpec {
        username: format!("{who}-{t}"),
        email: format!("{who}-{t}@example.test"),
        first_name: who.to_owned(),
        last_name: format!("Tester{t}"),
        password: Secret::generate(24),
    };
    idp.create_user(&realm, &user).await?;
    let form = &idp.layout().login;
    let form = harness::providers::oidc::LoginForm {
        form: form.form,
        username: form.username,
        password: form.password,
        submit: form.submit,
        error: form.error,
    };
    Ok((user, form))
}
