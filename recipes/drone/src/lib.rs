//! What the drone suite knows about the recipe: the Drone server's REST API as a user who
//! logged in through Gitea's OAuth2, scripted over HTTP the way a browser follows it.
//!
//! The recipe runs the Drone server (`app`, SQLite on the `data` volume) behind the proxy on
//! `https://<domain>/`, logging users in through a Gitea (the gitea recipe, a dependency the
//! harness deploys first: `[sso] provider = "gitea"` makes an OAuth2 application there and
//! hands Drone its generated client id and secret). Pipelines run on the host's Docker engine
//! through the `runner` service (Drone 1.10's own agent, over the server's RPC).
//!
//! - [`Drone`]: where Drone and its Gitea are; [`Drone::login`] walks `/login` -> Gitea's
//!   sign-in form -> the grant page -> the callback, and returns a [`Session`] holding the
//!   user's API token (never printed).
//! - [`Session`]: repos (sync, activation), builds (wait, logs), secrets.
//! - [`pipeline`]: a `.drone.yml` whose steps run in a locally present image, no clone step.
//! - [`Project`]: a Gitea user with a repository, logged in to Drone, the repository synced
//!   and activated; commits go to Gitea through its contents API as that user (a push, for
//!   Gitea: its push webhook fires), through the harness's Gitea adapter ([`forge`]).
//! - [`BuildMarker`]: the backup/upgrade data probe (a repository with a finished build and its
//!   log, read back through Drone's API).

use std::{collections::HashMap, net::SocketAddr, path::PathBuf, time::Duration};

use anyhow::Context as _;
use harness::{
    prelude::*,
    progress,
    providers::{IdentityProvider, UserSpec, gitea::Gitea as Forge},
};
use reqwest::{Method, StatusCode, Url};
use serde_json::{Value, json};

pub use harness::fixture::{encode, tag};

/// The Gitea dependency's recipe name (`[sso] provider`).
pub const GITEA: &str = "gitea";

/// The gitea recipe's administrator and the secret holding its password (its recipe.toml's
/// `[provides.oidc]`): the harness's Gitea adapter acts as this user.
pub const GITEA_ADMIN: &str = "gitea_admin";
pub const GITEA_ADMIN_SECRET: &str = "admin_password";

/// The branch test repositories are initialised on.
pub const BRANCH: &str = "main";

/// The image every test pipeline's steps run in: built by the testbed, present on the engine
/// (there is no registry to pull from), and never pulled (`pull: never`).
pub const STEP_IMAGE: &str = "ccci-testbed/base:bookworm";

/// How long a pipeline may take from the push to a finished build (webhook, config fetch,
/// scheduling, one container per step).
pub const BUILD_TIMEOUT: Duration = Duration::from_secs(180);

/// What Drone masks a secret's value with in build logs.
pub const MASK: &str = "********";

/// Where a Drone and the Gitea it logs in through are, as the harness reaches them.
#[derive(Clone, Debug)]
pub struct Drone {
    pub domain: String,
    pub gitea_domain: String,
    ingress: SocketAddr,
    ca_pem: Option<PathBuf>,
}

/// A finished answer: status and JSON body (`Null` when empty or not JSON).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub text: String,
}

impl Drone {
    /// The deployment `app` of the drone recipe, logging in through `gitea` (its dependency).
    pub fn new(app: &Deployment, gitea: &Deployment) -> Drone {
        let platform = &app.run().platform;
        Drone { domain: app.domain().to_owned(), gitea_domain: gitea.domain().to_owned(), ingress: platform.ingress, ca_pem: platform.ca_pem.clone() }
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.domain)
    }

    /// A client like a browser's: a cookie jar, both domains pinned to the ingress, only the
    /// platform's CA trusted, redirects not followed (each hop is checked).
    fn client(&self) -> anyhow::Result<reqwest::Client> {
        Ok(AppClient::builder(&self.domain, self.ingress, self.ca_pem.as_deref())?
            .resolve(&self.gitea_domain, self.ingress)
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()?)
    }

    /// `GET /version` without credentials: Drone's `{"source", "version", "commit"}`.
    pub async fn version(&self) -> anyhow::Result<Value> {
        let resp = self.client()?.get(self.url("/version")).send().await.context("GET /version")?;
        let status = resp.status();
        let text = resp.text().await?;
        anyhow::ensure!(status == StatusCode::OK, "GET /version: HTTP {status}: {}", trim(&text));
        serde_json::from_str(&text).with_context(|| format!("GET /version is not JSON: {}", trim(&text)))
    }

    /// Logs `user` in the way a browser does, over HTTP: Drone's `/login` redirects to Gitea's
    /// authorize endpoint; Gitea's sign-in form takes the password; the authorize endpoint then
    /// shows the grant page (the first time) whose form is submitted with `granted=true`; Gitea
    /// redirects back to Drone's `/login` with a code, which Drone exchanges server-side and
    /// answers with its session cookie. The session then asks for the user's API token.
    pub async fn login(&self, user: &str, password: &Secret) -> anyhow::Result<Session> {
        let http = self.client()?;
        let start = Url::parse(&self.url("/login"))?;
        let authorize = redirect_of(&http, Method::GET, &start, None).await.context("Drone's /login")?;
        anyhow::ensure!(
            authorize.host_str() == Some(self.gitea_domain.as_str()) && authorize.path() == "/login/oauth/authorize",
            "Drone's /login sent the browser to {}, not to Gitea's authorize endpoint",
            without_query(&authorize)
        );
        // Gitea's sign-in form (Gitea 1.27 protects forms by Go's cross-origin check: a request
        // without Origin / Sec-Fetch-Site headers passes, as a non-browser client's does).
        let sign_in = Url::parse(&format!("https://{}/user/login", self.gitea_domain))?;
        let form = [("user_name", user), ("password", password.expose())];
        let signed_in = redirect_of(&http, Method::POST, &sign_in, Some(&form)).await.context("Gitea's sign-in form (a 200 is the form again: refused)")?;
        anyhow::ensure!(!signed_in.path().starts_with("/user/login"), "Gitea sent the sign-in back to {}", signed_in.path());
        let resp = http.get(authorize.clone()).send().await.context("Gitea's authorize endpoint")?;
        let callback = match resp.status().as_u16() {
            302 | 303 | 307 => location(&authorize, &resp)?,
            200 => {
                let page = resp.text().await?;
                let fields = hidden_inputs(&page);
                anyhow::ensure!(
                    fields.contains_key("client_id") && fields.contains_key("state"),
                    "Gitea's authorize page is not the grant form: {}",
                    trim(&page)
                );
                let mut grant: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                grant.push(("granted", "true"));
                let url = Url::parse(&format!("https://{}/login/oauth/grant", self.gitea_domain))?;
                redirect_of(&http, Method::POST, &url, Some(&grant)).await.context("Gitea's grant form")?
            }
            other => anyhow::bail!("Gitea's authorize endpoint: HTTP {other}: {}", trim(&resp.text().await.unwrap_or_default())),
        };
        anyhow::ensure!(
            callback.host_str() == Some(self.domain.as_str()) && callback.path() == "/login",
            "Gitea redirected to {}, not to Drone's /login",
            without_query(&callback)
        );
        if let Some((_, error)) = callback.query_pairs().find(|(k, _)| k == "error") {
            anyhow::bail!("Gitea refused the authorization: error={error}");
        }
        anyhow::ensure!(callback.query_pairs().any(|(k, _)| k == "code"), "Gitea's redirect to Drone carries no code");
        let landed = redirect_of(&http, Method::GET, &callback, None).await.context("Drone's OAuth callback")?;
        anyhow::ensure!(landed.path() != "/login", "Drone sent the callback back to /login (no session): {}", without_query(&landed));
        let resp = http.post(self.url("/api/user/token")).send().await.context("POST /api/user/token")?;
        let status = resp.status();
        let body: Value = resp.json().await.context("POST /api/user/token is not JSON")?;
        anyhow::ensure!(status == StatusCode::OK, "POST /api/user/token with the session: HTTP {status}");
        let token = body["token"].as_str().filter(|t| !t.is_empty()).context("POST /api/user/token returned no token")?;
        let login = body["login"].as_str().unwrap_or_default().to_owned();
        anyhow::ensure!(login == user, "Drone's session is {login:?}, not {user:?}");
        progress!("drone: {user} logged in through Gitea's OAuth2");
        Ok(Session { drone: self.clone(), http, login, token: Secret::new(token) })
    }
}

/// Sends one request (a form when given) and returns where it redirects to; anything but a
/// redirect is an error carrying the status and the start of the body.
async fn redirect_of(http: &reqwest::Client, method: Method, url: &Url, form: Option<&[(&str, &str)]>) -> anyhow::Result<Url> {
    let mut req = http.request(method.clone(), url.clone());
    if let Some(form) = form {
        req = req.form(form);
    }
    let resp = req.send().await.with_context(|| format!("{method} {}", without_query(url)))?;
    match resp.status().as_u16() {
        301 | 302 | 303 | 307 | 308 => location(url, &resp),
        status => anyhow::bail!("{method} {}: HTTP {status}, not a redirect: {}", without_query(url), trim(&resp.text().await.unwrap_or_default())),
    }
}

fn location(from: &Url, resp: &reqwest::Response) -> anyhow::Result<Url> {
    let loc = resp.headers().get("location").and_then(|v| v.to_str().ok()).context("a redirect without Location")?;
    Ok(from.join(loc)?)
}

/// A URL without its query (codes and states stay out of messages).
fn without_query(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.to_string()
}

fn trim(text: &str) -> String {
    text.trim().chars().take(300).collect()
}

/// The `name` -> `value` of every `<input type="hidden">` of an HTML page (attribute values
/// HTML-unescaped): enough to submit a server-rendered form such as Gitea's grant page.
pub fn hidden_inputs(html: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for chunk in html.split("<input").skip(1) {
        let tag = chunk.split('>').next().unwrap_or_default();
        if attribute(tag, "type").as_deref() != Some("hidden") {
            continue;
        }
        if let Some(name) = attribute(tag, "name") {
            out.insert(name, attribute(tag, "value").unwrap_or_default());
        }
    }
    out
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=");
    let start = tag.find(&key)? + key.len();
    let rest = &tag[start..];
    let value = match rest.chars().next()? {
        q @ ('"' | '\'') => rest[1..].split(q).next()?,
        _ => rest.split(|c: char| c.is_whitespace() || c == '/').next()?,
    };
    Some(unescape(value))
}

fn unescape(s: &str) -> String {
    s.replace("&#34;", "\"").replace("&quot;", "\"").replace("&#39;", "'").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

/// A user logged in to Drone: its session cookie and API token.
pub struct Session {
    drone: Drone,
    http: reqwest::Client,
    pub login: String,
    token: Secret,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("domain", &self.drone.domain).field("login", &self.login).field("token", &"***").finish()
    }
}

/// The states in which a build is over.
pub const FINISHED: &[&str] = &["success", "failure", "error", "killed", "skipped", "declined"];

impl Session {
    /// `method /api<path>` with the user's token.
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> anyhow::Result<Answer> {
        let mut req = self.http.request(method.clone(), self.drone.url(&format!("/api{path}"))).bearer_auth(self.token.expose());
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.with_context(|| format!("{method} /api{path}"))?;
        let status = resp.status().as_u16();
        let text = resp.text().await?;
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Answer { status, body, text })
    }

    /// `method /api<path>`, which must answer `want`; its JSON.
    pub async fn expect(&self, method: Method, path: &str, body: Option<&Value>, want: u16) -> anyhow::Result<Value> {
        let a = self.call(method.clone(), path, body).await?;
        anyhow::ensure!(a.status == want, "{method} /api{path}: HTTP {} (expected {want}): {}", a.status, trim(&a.text));
        Ok(a.body)
    }

    /// `GET /api/user`.
    pub async fn user(&self) -> anyhow::Result<Value> {
        self.expect(Method::GET, "/user", None, 200).await
    }

    /// Synchronises the user's repositories from Gitea (`POST /api/user/repos`) and returns
    /// them as Drone lists them.
    pub async fn sync(&self) -> anyhow::Result<Vec<Value>> {
        let repos = self.expect(Method::POST, "/user/repos?async=false", None, 200).await?;
        Ok(repos.as_array().cloned().unwrap_or_default())
    }

    /// `GET /api/repos/{owner}/{name}`; `None` when Drone does not know it.
    pub async fn repo(&self, owner: &str, name: &str) -> anyhow::Result<Option<Value>> {
        let a = self.call(Method::GET, &format!("/repos/{}/{}", encode(owner), encode(name)), None).await?;
        match a.status {
            200 => Ok(Some(a.body)),
            404 => Ok(None),
            s => anyhow::bail!("GET /api/repos/{owner}/{name}: HTTP {s}: {}", trim(&a.text)),
        }
    }

    /// Activates `owner/name` (`POST /api/repos/{owner}/{name}`): Drone creates its webhook in
    /// Gitea. Returns the repository as Drone answers it.
    pub async fn activate(&self, owner: &str, name: &str) -> anyhow::Result<Value> {
        self.expect(Method::POST, &format!("/repos/{}/{}", encode(owner), encode(name)), None, 200).await
    }

    /// The builds of `owner/name`, newest first.
    pub async fn builds(&self, owner: &str, name: &str) -> anyhow::Result<Vec<Value>> {
        let b = self.expect(Method::GET, &format!("/repos/{}/{}/builds", encode(owner), encode(name)), None, 200).await?;
        Ok(b.as_array().cloned().unwrap_or_default())
    }

    /// Build `number` with its stages and steps.
    pub async fn build(&self, owner: &str, name: &str, number: i64) -> anyhow::Result<Value> {
        self.expect(Method::GET, &format!("/repos/{}/{}/builds/{number}", encode(owner), encode(name)), None, 200).await
    }

    /// Waits (at most [`BUILD_TIMEOUT`]) until the build of commit `sha` exists and is over;
    /// returns it with its stages. The timeout error carries the last state seen.
    pub async fn wait_build_of(&self, owner: &str, name: &str, sha: &str) -> anyhow::Result<Value> {
        let number = harness::converge(&format!("Drone to create a build of {owner}/{name} at {sha}"), harness::scaled(BUILD_TIMEOUT), Duration::from_millis(500), || async {
            let builds = self.builds(owner, name).await.map_err(|e| format!("{e:#}"))?;
            builds.iter().find(|b| b["after"] == sha).and_then(|b| b["number"].as_i64()).ok_or_else(|| format!("{} builds, none of {sha}", builds.len()))
        })
        .await?;
        self.wait_build(owner, name, number).await
    }

    /// Waits (at most [`BUILD_TIMEOUT`]) until build `number` is over; returns it.
    pub async fn wait_build(&self, owner: &str, name: &str, number: i64) -> anyhow::Result<Value> {
        Ok(harness::converge(&format!("build {number} of {owner}/{name} to finish"), harness::scaled(BUILD_TIMEOUT), Duration::from_millis(500), || async {
            let b = self.build(owner, name, number).await.map_err(|e| format!("{e:#}"))?;
            let status = b["status"].as_str().unwrap_or_default().to_owned();
            if FINISHED.contains(&status.as_str()) { Ok(b) } else { Err(format!("status {status:?}")) }
        })
        .await?)
    }

    /// The log of step `step` of stage `stage` of build `number`, its lines joined.
    pub async fn log(&self, owner: &str, name: &str, number: i64, stage: i64, step: i64) -> anyhow::Result<String> {
        let lines = self.expect(Method::GET, &format!("/repos/{}/{}/builds/{number}/logs/{stage}/{step}", encode(owner), encode(name)), None, 200).await?;
        Ok(lines.as_array().into_iter().flatten().filter_map(|l| l["out"].as_str()).collect())
    }

    /// Stores a repository secret (`POST /api/repos/{owner}/{name}/secrets`).
    pub async fn create_secret(&self, owner: &str, name: &str, secret: &str, value: &Secret) -> anyhow::Result<Value> {
        self.expect(Method::POST, &format!("/repos/{}/{}/secrets", encode(owner), encode(name)), Some(&json!({"name": secret, "data": value.expose()})), 200).await
    }

    /// The repository's secrets as Drone lists them (names only: Drone never returns values).
    pub async fn secrets(&self, owner: &str, name: &str) -> anyhow::Result<Vec<Value>> {
        let s = self.expect(Method::GET, &format!("/repos/{}/{}/secrets", encode(owner), encode(name)), None, 200).await?;
        Ok(s.as_array().cloned().unwrap_or_default())
    }
}

/// The number of the step named `step` in `build`'s first stage, and the stage's number.
pub fn step_of(build: &Value, step: &str) -> anyhow::Result<(i64, i64)> {
    let stage = build["stages"].get(0).context("the build has no stage")?;
    let found = stage["steps"].as_array().into_iter().flatten().find(|s| s["name"] == step);
    let number = found.and_then(|s| s["number"].as_i64()).with_context(|| format!("the build's stage has no step {step}: {}", stage["steps"]))?;
    Ok((stage["number"].as_i64().unwrap_or(1), number))
}

/// A `.drone.yml` with one docker pipeline: no clone step (there is no clone image here), and
/// each step `(name, commands)` running in [`STEP_IMAGE`], never pulled. `secret_env` maps an
/// environment variable to a repository secret (`from_secret`) in every step.
pub fn pipeline(steps: &[(&str, &[&str])], secret_env: Option<(&str, &str)>) -> String {
    let mut y = String::from("kind: pipeline\ntype: docker\nname: default\n\nclone:\n  disable: true\n\nsteps:\n");
    for (name, commands) in steps {
        y.push_str(&format!("- name: {name}\n  image: {STEP_IMAGE}\n  pull: never\n"));
        if let Some((env, secret)) = secret_env {
            y.push_str(&format!("  environment:\n    {env}:\n      from_secret: {secret}\n"));
        }
        y.push_str("  commands:\n");
        for c in *commands {
            y.push_str(&format!("  - {}\n", serde_json::to_string(c).expect("a string serialises")));
        }
    }
    y
}

/// The run's Gitea, administered through the harness's adapter.
pub fn forge(gitea: &Deployment) -> anyhow::Result<Forge> {
    let password = gitea.secret(GITEA_ADMIN_SECRET).with_context(|| format!("{} has no {GITEA_ADMIN_SECRET} secret", gitea.stack()))?.clone();
    Ok(Forge::for_deployment(gitea, GITEA_ADMIN, password)?)
}

/// A Gitea user made for a test: its login and password (never printed).
#[derive(Clone)]
pub struct ForgeUser {
    pub login: String,
    pub password: Secret,
}

impl std::fmt::Debug for ForgeUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ForgeUser({}, ***)", self.login)
    }
}

/// Creates a Gitea user named `<prefix>-<random>` with a generated password.
pub async fn forge_user(forge: &Forge, prefix: &str) -> anyhow::Result<ForgeUser> {
    let login = format!("{prefix}-{}", tag());
    let password = Secret::generate(24);
    let spec = UserSpec { username: login.clone(), email: format!("{login}@example.test"), first_name: "Drone".into(), last_name: "Tester".into(), password: password.clone() };
    forge.create_user("", &spec).await?;
    Ok(ForgeUser { login, password })
}

/// A Gitea user with a repository (initialised on [`BRANCH`]), logged in to Drone, the
/// repository synced and activated: Drone's webhook is in Gitea.
pub struct Project {
    pub owner: String,
    pub repo: String,
    pub user: ForgeUser,
    pub forge: Forge,
    pub drone: Drone,
    pub session: Session,
}

impl Project {
    /// Makes the user and repository in `gitea` (as its administrator), logs the user in to
    /// `app` through Gitea's OAuth2, syncs and activates the repository.
    pub async fn create(app: &Deployment, gitea: &Deployment) -> anyhow::Result<Project> {
        let forge = forge(gitea)?;
        let user = forge_user(&forge, "dev").await?;
        let repo = format!("app-{}", tag());
        forge.create_repo(&user.login, &repo, true).await?;
        let drone = Drone::new(app, gitea);
        let session = drone.login(&user.login, &user.password).await?;
        let owner = user.login.clone();
        let synced = session.sync().await?;
        anyhow::ensure!(
            synced.iter().any(|r| r["slug"] == format!("{owner}/{repo}")),
            "Drone's sync did not bring {owner}/{repo} from Gitea: {:?}",
            synced.iter().map(|r| r["slug"].clone()).collect::<Vec<_>>()
        );
        let active = session.activate(&owner, &repo).await?;
        anyhow::ensure!(active["active"] == true, "the activation answered an inactive repository: {active}");
        Ok(Project { owner, repo, user, forge, drone, session })
    }

    /// Commits `.drone.yml` = `yaml` on [`BRANCH`] as the user; returns the commit.
    pub async fn push_pipeline(&self, yaml: &str, message: &str) -> anyhow::Result<String> {
        Ok(self.forge.commit_file(&self.owner, &self.repo, BRANCH, ".drone.yml", yaml.as_bytes(), message).await?)
    }

    /// Pushes a pipeline and waits for its build to finish; returns the build.
    pub async fn run(&self, yaml: &str, message: &str) -> anyhow::Result<Value> {
        let sha = self.push_pipeline(yaml, message).await?;
        self.session.wait_build_of(&self.owner, &self.repo, &sha).await
    }

    /// The webhooks Gitea holds for the repository (its own API).
    pub async fn gitea_hooks(&self) -> anyhow::Result<Vec<Value>> {
        Ok(self.forge.hooks(&self.owner, &self.repo).await?)
    }
}

/// The backup and upgrade marker: a repository activated in Drone with one build that ran to
/// success and logged a random line. Read back through Drone's API as the same Gitea user
/// (logging in again): the repository, the build's number, status and commit, and the step's
/// log; `None` when Drone says it has no such repository or build.
pub struct BuildMarker<'a> {
    suite: &'a Suite,
    line: String,
    project: Option<(String, String, ForgeUser)>,
}

impl<'a> BuildMarker<'a> {
    pub fn new(suite: &'a Suite) -> BuildMarker<'a> {
        BuildMarker { suite, line: format!("ccci-marker-{}", hex::encode(rand::random::<[u8; 12]>())), project: None }
    }

    async fn read_as(session: &Session, owner: &str, repo: &str) -> anyhow::Result<Option<Vec<u8>>> {
        if session.repo(owner, repo).await?.is_none() {
            return Ok(None);
        }
        let builds = session.builds(owner, repo).await?;
        let Some(first) = builds.iter().find(|b| b["number"] == 1) else { return Ok(None) };
        let build = session.build(owner, repo, 1).await?;
        let (stage, step) = step_of(&build, "marker")?;
        let log = session.log(owner, repo, 1, stage, step).await?;
        Ok(Some(format!("{owner}/{repo} #1 {} {}
{log}", first["status"].as_str().unwrap_or("?"), first["after"].as_str().unwrap_or("?")).into_bytes()))
    }
}

impl DataProbe for BuildMarker<'_> {
    fn describe(&self) -> String {
        format!("a build whose log holds {}", self.line)
    }

    async fn seed(&mut self, d: &Deployment) -> anyhow::Result<Vec<u8>> {
        let gitea = self.suite.dependency(d, GITEA)?;
        let p = Project::create(d, &gitea).await?;
        let echo = format!("echo {}", self.line);
        let build = p.run(&pipeline(&[("marker", &[echo.as_str()])], None), "ccci marker build").await?;
        anyhow::ensure!(build["status"] == "success", "the marker build ended {}", build["status"]);
        let bytes = BuildMarker::read_as(&p.session, &p.owner, &p.repo).await?.context("the marker build is not readable right after it ran")?;
        anyhow::ensure!(String::from_utf8_lossy(&bytes).contains(&self.line), "the marker build's log lacks its line");
        self.project = Some((p.owner, p.repo, p.user));
        Ok(bytes)
    }

    async fn read(&self, d: &Deployment) -> anyhow::Result<Option<Vec<u8>>> {
        let (owner, repo, user) = self.project.as_ref().context("read before seed")?;
        let gitea = self.suite.dependency(d, GITEA)?;
        let session = Drone::new(d, &gitea).login(&user.login, &user.password).await?;
        BuildMarker::read_as(&session, owner, repo).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grant_forms_hidden_fields_are_read_unescaped() {
        let page = r#"<form method="post" action="/login/oauth/grant">
            <input type="hidden" name="client_id" value="abc-123">
            <input type="hidden" name="state" value="s&amp;t&#34;">
            <input type="hidden" name="scope" value="">
            <input type="text" name="visible" value="no">
            <button type="submit" name="granted" value="true">"#;
        let f = hidden_inputs(page);
        assert_eq!(f.get("client_id").map(String::as_str), Some("abc-123"));
        assert_eq!(f.get("state").map(String::as_str), Some("s&t\""));
        assert_eq!(f.get("scope").map(String::as_str), Some(""));
        assert!(!f.contains_key("visible") && !f.contains_key("granted"));
    }

    #[test]
    fn a_pipeline_runs_local_images_without_a_clone_step() {
        let y = pipeline(&[("greet", &["echo \"hi\" $X"])], Some(("X", "token")));
        assert!(y.contains("clone:\n  disable: true\n"), "{y}");
        assert!(y.contains(&format!("image: {STEP_IMAGE}\n  pull: never\n")), "{y}");
        assert!(y.contains("  - \"echo \\\"hi\\\" $X\"\n"), "{y}");
        assert!(y.contains("    X:\n      from_secret: token\n"), "{y}");
    }

    #[test]
    fn the_step_number_comes_from_the_build() {
        let b = json!({"stages": [{"number": 1, "steps": [{"number": 1, "name": "greet"}, {"number": 2, "name": "fail"}]}]});
        assert_eq!(step_of(&b, "fail").unwrap(), (1, 2));
        assert!(step_of(&b, "other").is_err());
        assert!(step_of(&json!({}), "greet").is_err());
    }
}
