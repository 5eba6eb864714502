//! meet's Django backend (lasuite/meet-backend), as its frontend uses it: an OIDC login through
//! the provider (mozilla-django-oidc: `/api/v1.0/authenticate/` -> the provider's login page ->
//! `/api/v1.0/callback/` -> a session cookie), then the REST API under `/api/v1.0/` with that
//! session (and Django's CSRF token on writes). Used by the tests of the real recipe (the
//! `real` binary): the backend is on no registry reachable from the testbed.
//!
//! API facts (suitenumerique/meet `src/backend/core/api/viewsets.py`, `core/urls.py`):
//! `GET /api/v1.0/users/me/` the logged-in user; `POST /api/v1.0/rooms/` `{"name"}` creates a
//! room the user administers (`{id, name, slug, access_level, ...}`); `GET /api/v1.0/rooms/<id
//! or slug>/` answers the room with `livekit: {url, room, token}`, a join token minted with
//! `LIVEKIT_API_KEY`/`LIVEKIT_API_SECRET`; `DELETE /api/v1.0/rooms/<id>/`.

use std::time::Duration;

use fantoccini::{Client, Locator};
use harness::{prelude::*, providers::oidc::LoginForm};
use serde_json::{Value, json};

/// meet's API root.
pub const API: &str = "/api/v1.0";

/// How a login starts over when Chromium reports `ERR_NETWORK_CHANGED` (Docker adds and removes
/// interfaces whenever a stack on the host is deployed or removed).
const ATTEMPTS: u32 = 3;

/// Logs `username` in to meet in `browser` through the provider's login form: starts at meet's
/// authenticate endpoint, fills the form when the provider shows it, and waits until the browser
/// is back on meet's domain with a session (`/users/me/` answers 200). Returns that user.
pub async fn login(browser: &Client, app: &Deployment, form: &LoginForm, username: &str, password: &Secret) -> anyhow::Result<Value> {
    let start = format!("https://{}{API}/authenticate/", app.domain());
    let mut attempt = 1;
    loop {
        browser.goto(&start).await.ok();
        let landed = harness::converge("the provider's login form or meet", harness::scaled(crate::PAGE_TIMEOUT), Duration::from_millis(250), || async {
            if let Some(code) = harness::browser::net_error(browser).await {
                return Ok(Err(code));
            }
            let url = browser.current_url().await.map_err(|e| e.to_string())?;
            if url.host_str() == Some(app.domain()) && !url.path().starts_with(&format!("{API}/authenticate")) && !url.path().starts_with(&format!("{API}/callback")) {
                return Ok(Ok(false));
            }
            match browser.find(Locator::Css(form.form)).await {
                Ok(_) => Ok(Ok(true)),
                Err(_) => Err(format!("at {url}")),
            }
        })
        .await?;
        match landed {
            Err(code) if code.contains("ERR_NETWORK_CHANGED") && attempt < ATTEMPTS => {
                attempt += 1;
                continue;
            }
            Err(code) => anyhow::bail!("the browser shows {code} logging in to meet"),
            Ok(false) => {}
            Ok(true) => {
                let f = browser.find(Locator::Css(form.form)).await?;
                f.find(Locator::Css(form.username)).await?.send_keys(username).await?;
                f.find(Locator::Css(form.password)).await?.send_keys(password.expose()).await?;
                f.find(Locator::Css(form.submit)).await?.click().await?;
                harness::converge("meet's callback to open a session", harness::scaled(crate::PAGE_TIMEOUT), Duration::from_millis(250), || async {
                    let url = browser.current_url().await.map_err(|e| e.to_string())?;
                    if url.host_str() == Some(app.domain()) && !url.path().starts_with(&format!("{API}/callback")) {
                        return Ok(());
                    }
                    if let Ok(error) = browser.find(Locator::Css(form.error)).await {
                        let text = error.text().await.unwrap_or_default();
                        return Err(format!("the provider refused the login: {text}"));
                    }
                    Err(format!("at {url}"))
                })
                .await?;
            }
        }
        let me = api(browser, "GET", "/users/me/", None).await?;
        anyhow::ensure!(me.0 == 200, "after the login, {API}/users/me/ answered {}: {}", me.0, me.1);
        return Ok(me.1);
    }
}

/// Calls meet's API from the page (same origin: the session cookie goes along), with Django's
/// CSRF token (the `csrftoken` cookie) on writes. Returns the status and the JSON body (`null`
/// for an empty one).
pub async fn api(browser: &Client, method: &str, path: &str, body: Option<&Value>) -> anyhow::Result<(u16, Value)> {
    let script = r#"
        const [method, url, body, done] = arguments;
        const csrf = (document.cookie.match(/(?:^|; )csrftoken=([^;]*)/) || [])[1] || '';
        const init = { method, credentials: 'include', headers: { 'Accept': 'application/json' } };
        if (method !== 'GET') { init.headers['X-CSRFToken'] = decodeURIComponent(csrf); }
        if (body !== null) { init.headers['Content-Type'] = 'application/json'; init.body = JSON.stringify(body); }
        fetch(url, init).then(async r => {
            const text = await r.text();
            let json = null;
            try { json = text ? JSON.parse(text) : null; } catch (e) { json = text.slice(0, 200); }
            done({ status: r.status, body: json });
        }, e => done({ status: 0, body: String(e) }));
    "#;
    let out = browser.execute_async(script, vec![json!(method), json!(format!("{API}{path}")), body.cloned().unwrap_or(Value::Null)]).await?;
    let status = out["status"].as_u64().unwrap_or(0) as u16;
    anyhow::ensure!(status != 0, "{method} {API}{path} did not complete in the page: {}", out["body"]);
    Ok((status, out["body"].clone()))
}

/// The payload of a JWT, unverified (the caller verifies the signature separately).
pub fn jwt_payload(token: &str) -> anyhow::Result<Value> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).ok_or_else(|| anyhow::format_err!("not a JWT"))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('='))?;
    Ok(serde_json::from_slice(&bytes)?)
}

/// Verifies `token` as a LiveKit access token signed (HS256) with `secret` and issued for
/// `key`; returns its claims.
pub fn verify_livekit_token(token: &str, key: &str, secret: &Secret) -> anyhow::Result<Value> {
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_issuer(&[key]);
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp", "iss", "sub"]);
    let data = jsonwebtoken::decode::<Value>(token, &jsonwebtoken::DecodingKey::from_secret(secret.expose().as_bytes()), &validation)?;
    Ok(data.claims)
}
