//! What the n8n suite knows about the recipe: n8n (`app`) serves its editor, its internal REST
//! API (`/rest`, the editor's, with the `n8n-auth` session cookie), its public API (`/api/v1`,
//! with an `X-N8N-API-KEY`) and production webhooks (`/webhook/<path>`) at `https://<domain>`;
//! workflows, credentials (encrypted with the recipe's `encryption_key` secret), API keys and
//! the execution history live in PostgreSQL (`db`, dumped by the recipe's backupbot hooks), the
//! user folder `/home/node/.n8n` in the `data` volume.
//!
//! [`N8n`] is a small client of those APIs (passwords, cookies, API keys and credential values
//! travel as [`Secret`] and are never part of an error); [`owner`] is the instance owner the
//! suite sets up (its password derived from a recipe secret, so every test process of a run
//! finds the same one); the workflow builders make the workflows the tests run; [`Marker`] is
//! the backup and upgrade marker (a workflow, its execution history, a credential).

use std::time::Duration;

use anyhow::Context as _;
use harness::prelude::*;
use reqwest::Method;
use serde_json::{Value, json};

pub use harness::fixture::{encode, sha256_hex, tag, upstream_version};

/// The recipe's secret that encrypts n8n's stored credentials (`N8N_ENCRYPTION_KEY_FILE`).
pub const ENCRYPTION_KEY_SECRET: &str = "encryption_key";
/// The recipe's database password secret; the owner's password is derived from it.
pub const DB_PASSWORD_SECRET: &str = "db_password";
/// The header every `/rest` call sends: n8n binds a session cookie to the browser id it was
/// issued for.
const BROWSER_ID: &str = "ccci-n8n-suite";
/// How long a login may be refused for too many attempts (n8n allows 5 a minute per email).
pub const LOGIN_TIMEOUT: Duration = Duration::from_secs(150);
/// How long an execution may take to show up in the history.
pub const EXECUTION_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the editor may take to show a page.
pub const PAGE_TIMEOUT: Duration = Duration::from_secs(90);
/// How often those are polled.
pub const POLL: Duration = Duration::from_millis(500);
/// The scopes of the suite's API keys.
const API_KEY_SCOPES: &[&str] = &[
    "workflow:create",
    "workflow:read",
    "workflow:list",
    "workflow:update",
    "workflow:activate",
    "workflow:deactivate",
    "execution:read",
    "execution:list",
    "credential:create",
];

/// The instance owner: an email and a password.
#[derive(Clone, Debug)]
pub struct Owner {
    pub email: String,
    pub password: Secret,
}

/// The deployment's instance owner. The password is derived from the recipe's `db_password`
/// secret (which every test process of the run can read), so a test that finds the owner set
/// up by another can log in; n8n's rules (8-64 characters, a digit, an upper-case letter) hold.
pub fn owner(d: &Deployment) -> anyhow::Result<Owner> {
    let secret = d.secret(DB_PASSWORD_SECRET).with_context(|| format!("the deployment has no {DB_PASSWORD_SECRET} secret"))?;
    let digest = sha256_hex(format!("ccci n8n owner|{}", secret.expose()).as_bytes());
    Ok(Owner { email: "owner@example.com".to_owned(), password: Secret::new(format!("Ccci-{}-9", &digest[..32])) })
}

/// A raw answer of n8n.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
    set_cookie: Vec<String>,
}

impl Answer {
    pub fn json(&self) -> anyhow::Result<Value> {
        serde_json::from_slice(&self.body).with_context(|| format!("HTTP {}: not JSON ({} bytes, {})", self.status, self.body.len(), self.content_type))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The JSON of a 2xx answer, else an error with the status and n8n's `message` (never the
    /// body of a success, which may hold a key).
    pub fn ok_json(&self, what: &str) -> anyhow::Result<Value> {
        if !(200..300).contains(&self.status) {
            anyhow::bail!("{what}: HTTP {}: {}", self.status, self.message());
        }
        self.json().with_context(|| what.to_owned())
    }

    /// n8n's error message (`message`), or the start of the body.
    pub fn message(&self) -> String {
        match serde_json::from_slice::<Value>(&self.body) {
            Ok(v) if v["message"].is_string() => v["message"].as_str().unwrap_or_default().chars().take(200).collect(),
            _ => self.text().chars().take(200).collect(),
        }
    }

    fn cookie(&self, name: &str) -> Option<Secret> {
        self.set_cookie.iter().find_map(|c| {
            let (pair, _) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = pair.split_once('=')?;
            (k.trim() == name && !v.is_empty()).then(|| Secret::new(v.trim()))
        })
    }
}

/// How a request authenticates.
pub enum Auth<'a> {
    None,
    /// The editor's session cookie (`/rest`).
    Session(&'a Session),
    /// A public API key (`/api/v1`).
    ApiKey(&'a Secret),
}

/// A logged-in editor session. `Debug` never shows the cookie.
#[derive(Clone)]
pub struct Session {
    cookie: Secret,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Session(***)")
    }
}

/// n8n's APIs on one deployment, through the proxy.
#[derive(Clone, Debug)]
pub struct N8n {
    http: AppClient,
}

impl N8n {
    pub fn of(d: &Deployment) -> anyhow::Result<N8n> {
        Ok(N8n { http: d.http()? })
    }

    pub fn domain(&self) -> &str {
        self.http.domain()
    }

    /// One request with a JSON body or none.
    pub async fn call(&self, method: Method, path: &str, auth: Auth<'_>, body: Option<&Value>) -> anyhow::Result<Answer> {
        let mut req = self.http.request(method.clone(), path).header("browser-id", BROWSER_ID);
        req = match auth {
            Auth::None => req,
            Auth::Session(s) => req.header("Cookie", format!("n8n-auth={}", s.cookie.expose())),
            Auth::ApiKey(key) => req.header("X-N8N-API-KEY", key.expose()),
        };
        if let Some(body) = body {
            req = req.json(body);
        }
        let url = self.http.url(path.split('?').next().unwrap_or(path));
        let resp = req.send().await.map_err(|e| anyhow::format_err!("{method} {url}: {e:#}"))?;
        let status = resp.status().as_u16();
        let content_type = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let set_cookie = resp.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).map(str::to_owned).collect();
        let body = resp.bytes().await.with_context(|| format!("{method} {url}: reading the body"))?.to_vec();
        Ok(Answer { status, content_type, body, set_cookie })
    }

    /// The editor's settings (`GET /rest/settings`): without a session the public subset
    /// (`userManagement`, `sso`, ...), with one all of them (`versionCli`, `urlBaseWebhook`,
    /// `publicApi`, ...).
    pub async fn settings(&self, session: Option<&Session>) -> anyhow::Result<Value> {
        let auth = session.map_or(Auth::None, Auth::Session);
        let v = self.call(Method::GET, "/rest/settings", auth, None).await?.ok_json("reading /rest/settings")?;
        Ok(v["data"].clone())
    }

    /// Whether the instance still waits for its owner (a fresh or wiped database).
    pub async fn needs_owner_setup(&self) -> anyhow::Result<bool> {
        let s = self.settings(None).await?;
        s["userManagement"]["showSetupOnFirstLoad"].as_bool().context("/rest/settings: no userManagement.showSetupOnFirstLoad")
    }

    /// Sets the owner up (`POST /rest/owner/setup`): the session, or `None` when another test
    /// process was first (n8n answers 400 once an owner exists).
    pub async fn try_setup_owner(&self, owner: &Owner) -> anyhow::Result<Option<Session>> {
        let body = json!({ "email": owner.email, "firstName": "Ccci", "lastName": "Owner", "password": owner.password.expose() });
        let answer = self.call(Method::POST, "/rest/owner/setup", Auth::None, Some(&body)).await?;
        if answer.status == 400 && answer.message().contains("already") {
            return Ok(None);
        }
        answer.ok_json("setting the owner up")?;
        Ok(Some(Session { cookie: answer.cookie("n8n-auth").context("owner setup set no n8n-auth cookie")? }))
    }

    /// Logs in (`POST /rest/login`), waiting while n8n refuses for too many attempts (429).
    pub async fn login(&self, owner: &Owner) -> anyhow::Result<Session> {
        let body = json!({ "emailOrLdapLoginId": owner.email, "password": owner.password.expose() });
        let answer = harness::converge(&format!("logging {} in", owner.email), harness::scaled(LOGIN_TIMEOUT), Duration::from_secs(2), || async {
            match self.call(Method::POST, "/rest/login", Auth::None, Some(&body)).await {
                Ok(a) if a.status == 429 => Err("HTTP 429: too many login attempts".to_owned()),
                Ok(a) => Ok(Ok(a)),
                Err(e) => Ok(Err(e)),
            }
        })
        .await??;
        answer.ok_json(&format!("logging {} in", owner.email))?;
        Ok(Session { cookie: answer.cookie("n8n-auth").context("the login set no n8n-auth cookie")? })
    }

    /// The owner's session: sets the owner up if nobody has, then logs in. Test threads of one
    /// process race on a fresh instance: each setup that gets through re-hashes the password,
    /// which ends the sessions issued before it (setup's own cookie included). So the session is
    /// a login made once n8n says no setup is pending, and kept only when n8n accepts it.
    pub async fn owner_session(&self, owner: &Owner) -> anyhow::Result<Session> {
        if self.needs_owner_setup().await? {
            self.try_setup_owner(owner).await?;
        }
        let session = harness::converge(&format!("a session of {} that n8n accepts", owner.email), harness::scaled(LOGIN_TIMEOUT), Duration::from_secs(1), || async {
            let session = match self.login(owner).await {
                Ok(s) => s,
                Err(e) => return Ok(Err(e)),
            };
            match self.call(Method::GET, "/rest/login", Auth::Session(&session), None).await {
                Ok(a) if a.status == 401 => Err("the new session was refused (401): a concurrent owner setup ended it".to_owned()),
                Ok(a) if (200..300).contains(&a.status) => Ok(Ok(session)),
                Ok(a) => Ok(Err(anyhow::format_err!("checking the session: HTTP {}: {}", a.status, a.message()))),
                Err(e) => Ok(Err(e)),
            }
        })
        .await??;
        Ok(session)
    }

    /// The logged-in user (`GET /rest/login`).
    pub async fn me(&self, s: &Session) -> anyhow::Result<Value> {
        let v = self.call(Method::GET, "/rest/login", Auth::Session(s), None).await?.ok_json("reading the session's user")?;
        Ok(v["data"].clone())
    }

    /// A new public API key of the session's user (`POST /rest/api-keys`).
    pub async fn create_api_key(&self, s: &Session, label: &str) -> anyhow::Result<Secret> {
        let body = json!({ "label": label, "scopes": API_KEY_SCOPES, "expiresAt": null });
        let v = self.call(Method::POST, "/rest/api-keys", Auth::Session(s), Some(&body)).await?.ok_json("creating an API key")?;
        // The raw key is `rawApiKey`; `apiKey` is its redacted form (`******` + its end).
        let raw = v["data"]["rawApiKey"].as_str().or_else(|| v["data"]["apiKey"].as_str().filter(|k| !k.contains('*')));
        Ok(Secret::new(raw.context("the API key answer has no data.rawApiKey")?))
    }

    /// The owner's session and a fresh API key: what most tests start with.
    pub async fn owner_api_key(&self, owner: &Owner, label: &str) -> anyhow::Result<Secret> {
        let session = self.owner_session(owner).await?;
        self.create_api_key(&session, label).await
    }

    /// `POST /api/v1/workflows`: the new workflow's id.
    pub async fn create_workflow(&self, key: &Secret, workflow: &Value) -> anyhow::Result<String> {
        let v = self.call(Method::POST, "/api/v1/workflows", Auth::ApiKey(key), Some(workflow)).await?.ok_json("creating a workflow")?;
        Ok(v["id"].as_str().context("the created workflow has no id")?.to_owned())
    }

    /// `POST /api/v1/workflows/<id>/activate`: the workflow as n8n answers it.
    pub async fn activate(&self, key: &Secret, id: &str) -> anyhow::Result<Value> {
        self.call(Method::POST, &format!("/api/v1/workflows/{}/activate", encode(id)), Auth::ApiKey(key), None)
            .await?
            .ok_json(&format!("activating workflow {id}"))
    }

    /// `GET /api/v1/workflows/<id>`: `None` when n8n does not have it (404).
    pub async fn workflow(&self, key: &Secret, id: &str) -> anyhow::Result<Option<Value>> {
        let answer = self.call(Method::GET, &format!("/api/v1/workflows/{}", encode(id)), Auth::ApiKey(key), None).await?;
        if answer.status == 404 {
            return Ok(None);
        }
        answer.ok_json(&format!("reading workflow {id}")).map(Some)
    }

    /// The workflow's recorded executions, newest first, with their run data
    /// (`GET /api/v1/executions?workflowId=<id>&includeData=true`).
    pub async fn executions(&self, key: &Secret, workflow_id: &str) -> anyhow::Result<Vec<Value>> {
        let path = format!("/api/v1/executions?workflowId={}&includeData=true&limit=50", encode(workflow_id));
        let v = self.call(Method::GET, &path, Auth::ApiKey(key), None).await?.ok_json(&format!("listing the executions of workflow {workflow_id}"))?;
        Ok(v["data"].as_array().cloned().unwrap_or_default())
    }

    /// Waits until the workflow's history holds a finished execution whose run data holds
    /// `expected` (an object compared field by field, anywhere in the run data); returns it.
    pub async fn wait_for_execution(&self, key: &Secret, workflow_id: &str, expected: &Value) -> anyhow::Result<Value> {
        let found = harness::converge(&format!("an execution of workflow {workflow_id} with the expected output"), harness::scaled(EXECUTION_TIMEOUT), POLL, || async {
            let executions = match self.executions(key, workflow_id).await {
                Ok(e) => e,
                Err(e) => return Err(format!("{e:#}")),
            };
            let seen: Vec<String> = executions.iter().map(|e| format!("{}:{}", e["id"], e["status"].as_str().unwrap_or("?"))).collect();
            executions
                .into_iter()
                .find(|e| e["finished"] == true && run_data_contains(e, expected))
                .ok_or_else(|| format!("executions (id:status): {seen:?}"))
        })
        .await?;
        Ok(found)
    }

    /// `POST /api/v1/credentials`: the new credential's id.
    pub async fn create_credential(&self, key: &Secret, name: &str, kind: &str, data: &Value) -> anyhow::Result<String> {
        let body = json!({ "name": name, "type": kind, "data": data });
        let v = self.call(Method::POST, "/api/v1/credentials", Auth::ApiKey(key), Some(&body)).await?.ok_json("creating a credential")?;
        Ok(v["id"].as_str().context("the created credential has no id")?.to_owned())
    }

    /// Calls a production webhook (`/webhook/<path>`) with a JSON body.
    pub async fn webhook(&self, method: Method, path: &str, body: Option<&Value>) -> anyhow::Result<Answer> {
        self.call(method, &format!("/webhook/{path}"), Auth::None, body).await
    }

    /// Calls a production webhook until it answers 2xx (a workflow's webhook is registered
    /// shortly after its activation or the app's start), returning the JSON answer.
    pub async fn call_webhook(&self, method: Method, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        let answer = harness::converge(&format!("the production webhook /webhook/{path} to answer"), harness::scaled(EXECUTION_TIMEOUT), POLL, || async {
            match self.webhook(method.clone(), path, body).await {
                Ok(a) if (200..300).contains(&a.status) => Ok(a),
                Ok(a) if a.status == 404 => Err(format!("HTTP 404: {}", a.message())),
                Ok(a) => Err(format!("HTTP {}: {}", a.status, a.message())),
                Err(e) => Err(format!("{e:#}")),
            }
        })
        .await?;
        answer.json().with_context(|| format!("the webhook /webhook/{path}"))
    }
}

/// Whether `object`'s fields all appear, equal, in one object somewhere in `haystack` (an
/// execution's run data, however deep the node outputs sit).
pub fn run_data_contains(haystack: &Value, object: &Value) -> bool {
    let matches = |v: &Value| match (v.as_object(), object.as_object()) {
        (Some(v), Some(o)) => o.iter().all(|(k, want)| v.get(k) == Some(want)),
        _ => v == object,
    };
    match haystack {
        Value::String(s) if s.starts_with('{') || s.starts_with('[') => serde_json::from_str::<Value>(s).is_ok_and(|v| run_data_contains(&v, object)),
        Value::Object(map) => matches(haystack) || map.values().any(|v| run_data_contains(v, object)),
        Value::Array(items) => items.iter().any(|v| run_data_contains(v, object)),
        _ => false,
    }
}

/// A random id in the UUID shape n8n gives its nodes and webhooks.
pub fn uuid() -> String {
    let h = format!("{}{}{}{}", tag(), tag(), tag(), tag());
    format!("{}-{}-4{}-a{}-{}", &h[..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32])
}

fn webhook_node(path: &str, method: &str, response_mode: &str) -> Value {
    json!({
        "id": uuid(),
        "name": "Webhook",
        "type": "n8n-nodes-base.webhook",
        "typeVersion": 2,
        "position": [0, 0],
        "webhookId": uuid(),
        "parameters": { "httpMethod": method, "path": path, "responseMode": response_mode, "options": {} },
    })
}

fn set_node(assignments: &[(&str, &str, &str)]) -> Value {
    let assignments: Vec<Value> =
        assignments.iter().map(|(name, kind, value)| json!({ "id": uuid(), "name": name, "type": kind, "value": value })).collect();
    json!({
        "id": uuid(),
        "name": "Compute",
        "type": "n8n-nodes-base.set",
        "typeVersion": 3.4,
        "position": [220, 0],
        "parameters": { "assignments": { "assignments": assignments }, "options": {} },
    })
}

fn chain(name: &str, nodes: Vec<Value>) -> Value {
    let mut connections = serde_json::Map::new();
    for pair in nodes.windows(2) {
        let (from, to) = (pair[0]["name"].as_str().unwrap_or_default(), pair[1]["name"].as_str().unwrap_or_default());
        connections.insert(from.to_owned(), json!({ "main": [[{ "node": to, "type": "main", "index": 0 }]] }));
    }
    json!({ "name": name, "nodes": nodes, "connections": connections, "settings": { "executionOrder": "v1" } })
}

/// Webhook (`POST /webhook/<path>`, answered with the last node's output) -> Set: computes
/// `product = a * b` and `reversed` (the body's `marker`, reversed) with n8n expressions.
pub fn compute_workflow(name: &str, path: &str) -> Value {
    chain(
        name,
        vec![
            webhook_node(path, "POST", "lastNode"),
            set_node(&[
                ("product", "number", "={{ $json.body.a * $json.body.b }}"),
                ("reversed", "string", "={{ $json.body.marker.split('').reverse().join('') }}"),
            ]),
        ],
    )
}

/// What [`compute_workflow`] answers for `a`, `b` and `marker`.
pub fn computed(a: i64, b: i64, marker: &str) -> Value {
    json!({ "product": a * b, "reversed": marker.chars().rev().collect::<String>() })
}

/// The JavaScript of [`code_workflow`]'s Code node.
pub const CODE_JS: &str = r#"const body = $input.first().json.body;
const numbers = body.numbers;
return [{ json: {
  sum: numbers.reduce((acc, n) => acc + n, 0),
  sorted: [...numbers].sort((x, y) => x - y),
  shout: body.marker.toUpperCase(),
} }];"#;

/// Webhook (`POST /webhook/<path>`, answered at once) -> Code (JavaScript, [`CODE_JS`]): the
/// execution runs after the answer, in n8n's task runner, and only its history shows the
/// result.
pub fn code_workflow(name: &str, path: &str) -> Value {
    let code = json!({
        "id": uuid(),
        "name": "Code",
        "type": "n8n-nodes-base.code",
        "typeVersion": 2,
        "position": [220, 0],
        "parameters": { "jsCode": CODE_JS },
    });
    chain(name, vec![webhook_node(path, "POST", "onReceived"), code])
}

/// What [`CODE_JS`] computes for `numbers` and `marker`.
pub fn code_output(numbers: &[i64], marker: &str) -> Value {
    let mut sorted = numbers.to_vec();
    sorted.sort_unstable();
    json!({ "sum": numbers.iter().sum::<i64>(), "sorted": sorted, "shout": marker.to_uppercase() })
}

/// The header a credential test sends.
pub const PROBE_HEADER: &str = "X-Ccci-Probe";

/// Webhook (`GET /webhook/<path>`) -> Set: answers `{"header": <the X-Ccci-Probe header it got>}`.
pub fn echo_workflow(name: &str, path: &str) -> Value {
    let expr = format!("={{{{ $json.headers['{}'] }}}}", PROBE_HEADER.to_lowercase());
    chain(name, vec![webhook_node(path, "GET", "lastNode"), set_node(&[("header", "string", &expr)])])
}

/// Webhook (`POST /webhook/<path>`) -> HTTP Request with the header-auth credential
/// `credential_id` to the echo workflow's webhook on this n8n (`echo_path`): answers what the
/// echo saw, i.e. the credential's value, which n8n decrypts to send it.
pub fn credential_workflow(name: &str, path: &str, echo_path: &str, credential_id: &str, credential_name: &str) -> Value {
    let request = json!({
        "id": uuid(),
        "name": "Request",
        "type": "n8n-nodes-base.httpRequest",
        "typeVersion": 4.2,
        "position": [220, 0],
        "parameters": {
            "method": "GET",
            "url": format!("http://127.0.0.1:5678/webhook/{echo_path}"),
            "authentication": "genericCredentialType",
            "genericAuthType": "httpHeaderAuth",
            "options": {},
        },
        "credentials": { "httpHeaderAuth": { "id": credential_id, "name": credential_name } },
    });
    chain(name, vec![webhook_node(path, "POST", "lastNode"), request])
}

/// A header-auth credential, the echo workflow and the workflow that sends the credential to
/// it, all active: [`CredentialProbe::decrypts`] proves n8n can still decrypt the credential.
#[derive(Debug, Clone)]
pub struct CredentialProbe {
    pub credential_id: String,
    pub value: Secret,
    pub path: String,
}

impl CredentialProbe {
    /// Creates the credential (a random value) and the two workflows, and activates them.
    pub async fn create(n8n: &N8n, key: &Secret, t: &str) -> anyhow::Result<CredentialProbe> {
        let value = Secret::generate(40);
        let name = format!("ccci-header-{t}");
        let credential_id = n8n.create_credential(key, &name, "httpHeaderAuth", &json!({ "name": PROBE_HEADER, "value": value.expose() })).await?;
        let echo_path = format!("ccci-echo-{t}");
        let echo = n8n.create_workflow(key, &echo_workflow(&format!("ccci echo {t}"), &echo_path)).await?;
        n8n.activate(key, &echo).await?;
        let path = format!("ccci-cred-{t}");
        let wf = n8n.create_workflow(key, &credential_workflow(&format!("ccci credential {t}"), &path, &echo_path, &credential_id, &name)).await?;
        n8n.activate(key, &wf).await?;
        Ok(CredentialProbe { credential_id, value, path })
    }

    /// Runs the credential workflow: Ok when the echo saw exactly the credential's value (the
    /// error tells lengths, never the values).
    pub async fn decrypts(&self, n8n: &N8n) -> anyhow::Result<()> {
        let v = n8n.call_webhook(Method::POST, &self.path, Some(&json!({}))).await?;
        let seen = v["header"].as_str().unwrap_or_default();
        anyhow::ensure!(
            seen == self.value.expose(),
            "the echo saw a {PROBE_HEADER} header of {} characters, not the credential's value ({} characters)",
            seen.len(),
            self.value.expose().len()
        );
        Ok(())
    }
}

/// The backup and upgrade marker: an active workflow computing from a random marker, one
/// recorded execution of it, and a header-auth credential with the workflows that use it.
/// Its bytes are the workflow's name and nodes as n8n stores them, the recorded execution's
/// output, and, live, the webhook's answer for the marker and the credential's decrypted value
/// (as its sha256); `None` when n8n has no owner (a wiped database) or no such workflow.
#[derive(Debug, Default)]
pub struct Marker {
    marker: String,
    workflow_id: Option<String>,
    path: String,
    key: Option<Secret>,
    credential: Option<CredentialProbe>,
}

impl Marker {
    pub fn new() -> Marker {
        Marker::default()
    }

    /// The seeded credential probe (after `seed`).
    pub fn credential(&self) -> Option<&CredentialProbe> {
        self.credential.as_ref()
    }

    /// The API key the seed made (it lives in n8n's database: it survives what the data does).
    pub fn api_key(&self) -> Option<&Secret> {
        self.key.as_ref()
    }

    pub fn workflow_id(&self) -> Option<&str> {
        self.workflow_id.as_deref()
    }
}

impl DataProbe for Marker {
    fn describe(&self) -> String {
        "an n8n workflow, its execution history and a credential".to_owned()
    }

    async fn seed(&mut self, d: &Deployment) -> anyhow::Result<Vec<u8>> {
        let n8n = N8n::of(d)?;
        let t = tag();
        let key = n8n.owner_api_key(&owner(d)?, &format!("ccci-marker-{t}")).await?;
        self.marker = format!("ccci-marker-{t}");
        self.path = format!("ccci-marker-{t}");
        let id = n8n.create_workflow(&key, &compute_workflow(&format!("ccci marker {t}"), &self.path)).await?;
        n8n.activate(&key, &id).await?;
        let answer = n8n.call_webhook(Method::POST, &self.path, Some(&json!({ "a": 6, "b": 7, "marker": self.marker }))).await?;
        anyhow::ensure!(answer == computed(6, 7, &self.marker), "the marker workflow answered {answer}");
        n8n.wait_for_execution(&key, &id, &computed(6, 7, &self.marker)).await?;
        self.credential = Some(CredentialProbe::create(&n8n, &key, &t).await?);
        self.workflow_id = Some(id);
        self.key = Some(key);
        self.read(d).await?.context("the marker is not readable right after seeding it")
    }

    async fn read(&self, d: &Deployment) -> anyhow::Result<Option<Vec<u8>>> {
        let n8n = N8n::of(d)?;
        let (Some(id), Some(key), Some(credential)) = (&self.workflow_id, &self.key, &self.credential) else {
            anyhow::bail!("the marker was not seeded");
        };
        if n8n.needs_owner_setup().await? {
            return Ok(None);
        }
        let Some(workflow) = n8n.workflow(key, id).await? else { return Ok(None) };
        let expected = computed(6, 7, &self.marker);
        // The first execution (the seed's): every read calls the webhook again and adds one.
        let recorded = n8n
            .executions(key, id)
            .await?
            .into_iter()
            .filter(|e| e["finished"] == true && run_data_contains(e, &expected))
            .min_by_key(|e| e["id"].as_str().and_then(|id| id.parse::<u64>().ok()).or(e["id"].as_u64()).unwrap_or(u64::MAX));
        let recorded = match recorded {
            Some(e) => format!("execution {} {}: {expected}", e["id"], e["status"].as_str().unwrap_or("?")),
            None => "no recorded execution with the marker".to_owned(),
        };
        let live = n8n.call_webhook(Method::POST, &self.path, Some(&json!({ "a": 6, "b": 7, "marker": self.marker }))).await?;
        credential.decrypts(&n8n).await?;
        let mut nodes: Vec<String> = workflow["nodes"]
            .as_array()
            .map(|nodes| nodes.iter().map(|n| format!("{} {} {}", n["name"], n["type"], n["parameters"])).collect())
            .unwrap_or_default();
        nodes.sort();
        let text = format!(
            "workflow {}\nactive {}\nnodes {}\n{recorded}\nwebhook answer {live}\ncredential value sha256 {}\n",
            workflow["name"],
            workflow["active"],
            nodes.join(" | "),
            sha256_hex(credential.value.expose().as_bytes())
        );
        Ok(Some(text.into_bytes()))
    }

    /// n8n holds the active workflows' webhooks and its users in memory: a restored database
    /// is read again by a restarted n8n.
    /// The restore recreated the database under the running n8n, which may have exited
    /// (Swarm then starts a new task): wait for a running task before restarting it.
    async fn after_restore(&self, d: &Deployment) -> anyhow::Result<()> {
        harness::converge("a running n8n task after the restore", Duration::from_secs(180), POLL, || async {
            d.exec_ok("app", &["true"]).await.map(drop).map_err(|e| e.to_string())
        })
        .await?;
        d.restart_service("app").await?;
        Ok(())
    }
}
