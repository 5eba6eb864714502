//! Install (real recipe): meet's backend serves under the app's domain: its dockerflow
//! heartbeat, its public configuration, and its API refuses an anonymous user.

use harness::prelude::*;
use recipe_lasuite_meet::meet::API;

use crate::shared;

/// The `health_check` of the maintainers' corpus for meet's backend: `/__heartbeat__` (Django
/// dockerflow: database and migrations checked) answers 200 with JSON, `/api/v1.0/config/` is
/// meet's public configuration, and `/api/v1.0/users/me/` without a session is a 401 from
/// Django REST framework, not a page.
#[tokio::test(flavor = "multi_thread")]
async fn the_meet_backend_answers_its_heartbeat_and_configuration() -> anyhow::Result<()> {
    let (suite, app) = shared().await?;
    let beat = app.get("/__heartbeat__").await?;
    assert_eq!(beat.status, 200, "{}", beat.text());
    assert!(beat.json()?.is_object(), "{}", beat.text());
    let config = app.get(&format!("{API}/config/")).await?;
    assert_eq!(config.status, 200, "{}", config.text());
    assert!(config.json()?.is_object(), "{}", config.text());
    let me = app.get(&format!("{API}/users/me/")).await?;
    assert_eq!(me.status, 401, "{}", me.text());
    assert!(me.json()?["detail"].is_string(), "{}", me.text());
    contract::runs_head(&suite, &app).await
}
