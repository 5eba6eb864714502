//! Mailu's admin REST API (`/api/v1`, `core/admin/mailu/api/v1/{domain,user,alias}.py`),
//! through the recipe's front on the app's domain, authorised with the API token (the
//! `Authorization` header; the recipe's `api_token` secret, Mailu's API_TOKEN, with API=true),
//! and its effect checked over the mail protocols: a domain created over the API is listed, a
//! user created in it logs in over IMAPS and receives a mail, an alias created over the API
//! delivers to its destination.

use harness::prelude::*;
use recipe_mailu::{Mail, Trust, admin, find, submit, tag, wait_for};
use reqwest::Method;
use serde_json::{Value, json};

/// The recipe's secret holding Mailu's API_TOKEN.
const API_TOKEN_SECRET: &str = "api_token";

async fn shared() -> anyhow::Result<(Suite, Deployment)> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    let app = suite.shared().await?;
    Ok((suite, app))
}

/// `method /api/v1<path>` with the API token; status and JSON body.
async fn api(app: &Deployment, method: Method, path: &str, body: Option<Value>, token: Option<&Secret>) -> anyhow::Result<(u16, Value)> {
    let mut req = app.http()?.request(method, &format!("/api/v1{path}"));
    if let Some(token) = token {
        req = req.header("Authorization", format!("Bearer {}", token.expose()));
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    let text = resp.text().await?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::String(text))))
}

fn token(app: &Deployment) -> anyhow::Result<Secret> {
    recipe_mailu::secret(app, API_TOKEN_SECRET)
}

/// A new domain, created over the API, as the API lists it back.
async fn new_domain(app: &Deployment, token: &Secret) -> anyhow::Result<String> {
    let name = format!("e2e-{}.{}", tag(), recipe_mailu::mail_domain(app));
    let (status, body) = api(app, Method::POST, "/domain", Some(json!({ "name": name })), Some(token)).await?;
    anyhow::ensure!(status == 200, "POST /api/v1/domain {name}: {status} {body}");
    Ok(name)
}

/// POST /api/v1/domain creates a domain that GET /api/v1/domain/<name> returns; without the
/// token the API refuses (401) and creates nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_domain_created_over_the_api_is_listed() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let token = token(&app)?;
    let refused = format!("refused-{}.{}", tag(), recipe_mailu::mail_domain(&app));
    let (status, _) = api(&app, Method::POST, "/domain", Some(json!({ "name": refused })), None).await?;
    assert_eq!(status, 401, "POST /api/v1/domain without the token");
    let (status, _) = api(&app, Method::GET, &format!("/domain/{refused}"), None, Some(&token)).await?;
    assert_eq!(status, 404, "a domain posted without the token exists");

    let name = new_domain(&app, &token).await?;
    let (status, body) = api(&app, Method::GET, &format!("/domain/{name}"), None, Some(&token)).await?;
    assert_eq!(status, 200, "GET /api/v1/domain/{name}: {body}");
    assert_eq!(body["name"], json!(name));
    Ok(())
}

/// POST /api/v1/user (raw_password, enable_imap) in a new domain: GET returns the user, the
/// user logs in over IMAPS with that password, and a mail the first mailbox submits to it is
/// in its INBOX byte for byte.
#[tokio::test(flavor = "multi_thread")]
async fn a_user_created_over_the_api_logs_in_and_receives_mail() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let app = &app;
    let token = token(app)?;
    let domain = new_domain(app, &token).await?;
    let email = format!("alice-{}@{domain}", tag());
    let password = Secret::generate(24);
    let (status, body) = api(app, Method::POST, "/user", Some(json!({ "email": email, "raw_password": password.expose(), "enable_imap": true })), Some(&token)).await?;
    assert_eq!(status, 200, "POST /api/v1/user: {body}");
    let (status, body) = api(app, Method::GET, &format!("/user/{email}"), None, Some(&token)).await?;
    assert_eq!(status, 200, "GET /api/v1/user/{email}: {body}");
    assert_eq!(body["email"], json!(email));
    assert_eq!(body["enable_imap"], json!(true));

    let trust = Trust::of(app).await?;
    let (from, _) = admin(app)?;
    let mail = Mail::random(&from, &email, "to a user made over the API");
    submit(app, &trust, &mail).await?;
    assert_eq!(wait_for(app, &trust, &email, &password, &mail.subject).await?, mail.body);
    Ok(())
}

/// POST /api/v1/alias to the first mailbox: GET returns it with its destination, and a mail to
/// the alias arrives in the first mailbox; after DELETE, a mail to it is no longer delivered.
#[tokio::test(flavor = "multi_thread")]
async fn an_alias_created_over_the_api_delivers_to_its_destination() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let app = &app;
    let token = token(app)?;
    let (user, password) = admin(app)?;
    let alias = format!("team-{}@{}", tag(), recipe_mailu::mail_domain(app));
    let (status, body) = api(app, Method::POST, "/alias", Some(json!({ "email": alias, "destination": [user] })), Some(&token)).await?;
    assert_eq!(status, 200, "POST /api/v1/alias: {body}");
    let (status, body) = api(app, Method::GET, &format!("/alias/{alias}"), None, Some(&token)).await?;
    assert_eq!(status, 200, "GET /api/v1/alias/{alias}: {body}");
    assert_eq!(body["destination"], json!([user]));

    let trust = Trust::of(app).await?;
    let mail = Mail::random(&user, &alias, "to an alias made over the API");
    submit(app, &trust, &mail).await?;
    assert_eq!(wait_for(app, &trust, &user, &password, &mail.subject).await?, mail.body);

    let (status, body) = api(app, Method::DELETE, &format!("/alias/{alias}"), None, Some(&token)).await?;
    assert_eq!(status, 200, "DELETE /api/v1/alias/{alias}: {body}");
    let gone = Mail::random(&user, &alias, "to a deleted alias");
    assert!(submit(app, &trust, &gone).await.is_err(), "a mail to the deleted alias {alias} was accepted");
    assert_eq!(find(app, &trust, &user, &password, &gone.subject).await?, None);
    Ok(())
}
