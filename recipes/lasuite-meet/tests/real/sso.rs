//! SSO (real recipe): the `oidc_login` of the maintainers' corpus. A user of the Keycloak realm
//! the harness made logs in to meet in a real Chromium (meet's authenticate endpoint, Keycloak's
//! login page, meet's OIDC callback exchanging the code with the client secret it was handed)
//! and meet's API then knows the user by the provider's email.

use harness::browser::with_browser;
use recipe_lasuite_meet::meet;

use crate::{provider_user, shared};

#[tokio::test(flavor = "multi_thread")]
async fn a_keycloak_user_logs_in_to_meet_through_oidc() -> anyhow::Result<()> {
    let (suite, app) = shared().await?;
    let (user, form) = provider_user(&suite, &app, "sso").await?;
    let me = with_browser(&suite.run, "meet-oidc-login", |browser| {
        let (app, user, form) = (&app, &user, &form);
        async move { meet::login(&browser, app, form, &user.username, &user.password).await }
    })
    .await?;
    assert_eq!(me["email"], user.email.as_str(), "meet's user is not the provider's: {me}");
    Ok(())
}
