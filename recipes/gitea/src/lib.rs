//! What the gitea suite knows about the recipe, as a small public API that other suites
//! (xtask's `testme` end-to-end test, recipes that use Gitea as a dependency) call too.
//!
//! The recipe runs Gitea (`app`, the official rootless image's layout) with SQLite and the
//! repositories on the `data` volume (`/var/lib/gitea`), behind the proxy on
//! `https://<domain>/` (its `ROOT_URL`, so `clone_url` and API links name that domain).
//! The site administrator (`ADMIN_USERNAME` in the app's `.env`, default [`DEFAULT_ADMIN`]) is
//! created at start with the password of the `admin_password` secret.
//!
//! - [`Gitea`]: where the app is (domain, ingress address, CA), from a [`Deployment`] or from
//!   parts; hands out [`Api`] clients and [`Git`] remotes.
//! - [`Api`]: the REST API (`/api/v1`) as one user ([`Auth`]: password or token), optionally
//!   acting as another through the admin's `Sudo` header; users, orgs, teams, repos, tokens,
//!   pull requests, comments, commit statuses, files.
//! - [`Git`]: the `git` CLI over HTTPS through the same ingress, trusting only the platform's
//!   CA: the domain is pinned to the ingress with `http.curloptResolve`, the CA given with
//!   `http.sslCAInfo` and `GIT_SSL_CAINFO` (which overrides the former), the credentials sent as an `Authorization` header from
//!   `GIT_CONFIG_*` environment entries (never on a command line or in a URL).
//! - [`RepoMarker`]: the backup/upgrade data probe (a repository with a pushed commit).

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use anyhow::Context as _;
use base64::Engine as _;
use harness::prelude::*;
use reqwest::Method;
use serde_json::{Value, json};

pub use harness::fixture::{encode, sha256_hex, tag};

/// The secret holding the site administrator's password.
pub const ADMIN_PASSWORD_SECRET: &str = "admin_password";
/// The administrator's login when the app's `.env` does not set `ADMIN_USERNAME`.
pub const DEFAULT_ADMIN: &str = "gitea_admin";
/// How long Gitea may take to record a push in its API.
const PUSH_RECORDED: std::time::Duration = std::time::Duration::from_secs(60);

/// The branch new repositories and pushes use.
pub const DEFAULT_BRANCH: &str = "main";

/// The upstream Gitea version of a recipe version: `1.1.0+1.27.3-rootless` -> `1.27.3` (the
/// recipe's upstream part names the image flavour, as the Co-op Cloud recipe's tags do).
pub fn upstream_version(recipe_version: &str) -> anyhow::Result<&str> {
    let upstream = harness::fixture::upstream_version(recipe_version)?;
    Ok(upstream.split('-').next().unwrap_or(upstream))
}

/// How a request or a push authenticates.
#[derive(Clone)]
pub enum Auth {
    /// HTTP Basic with the user's password.
    Basic { username: String, password: Secret },
    /// An access token (`Authorization: token <t>`; for git, Basic with the token as the
    /// password).
    Token { username: String, token: Secret },
}

impl Auth {
    pub fn basic(username: &str, password: Secret) -> Auth {
        Auth::Basic { username: username.to_owned(), password }
    }

    pub fn token(username: &str, token: Secret) -> Auth {
        Auth::Token { username: username.to_owned(), token }
    }

    pub fn username(&self) -> &str {
        match self {
            Auth::Basic { username, .. } | Auth::Token { username, .. } => username,
        }
    }

    /// The `Authorization` header value (a secret: never print it).
    fn header(&self) -> Secret {
        match self {
            Auth::Basic { username, password } => Secret::new(format!("Basic {}", basic(username, password))),
            Auth::Token { token, .. } => Secret::new(format!("token {}", token.expose())),
        }
    }

    /// What git sends: Basic with the password or the token.
    fn git_header(&self) -> Secret {
        match self {
            Auth::Basic { username, password } => Secret::new(format!("Basic {}", basic(username, password))),
            Auth::Token { username, token } => Secret::new(format!("Basic {}", basic(username, token))),
        }
    }
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            Auth::Token { username, .. } => write!(f, "Token({username}, ***)"),
        }
    }
}

fn basic(username: &str, secret: &Secret) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{username}:{}", secret.expose()))
}

/// The administrator's login and password: `ADMIN_USERNAME` of the app's `.env` (default
/// [`DEFAULT_ADMIN`]) and the `admin_password` secret.
pub fn admin_credentials(d: &Deployment) -> anyhow::Result<(String, Secret)> {
    let username = d.env().get("ADMIN_USERNAME").map(|v| v.trim_matches('"').to_owned()).filter(|v| !v.is_empty()).unwrap_or_else(|| DEFAULT_ADMIN.to_owned());
    let password = d.secret(ADMIN_PASSWORD_SECRET).with_context(|| format!("{} has no {ADMIN_PASSWORD_SECRET} secret", d.stack()))?.clone();
    Ok((username, password))
}

/// The administrator's API client on a deployment.
pub fn admin(d: &Deployment) -> anyhow::Result<Api> {
    let (username, password) = admin_credentials(d)?;
    Ok(Gitea::from_deployment(d)?.api(Auth::basic(&username, password)))
}

/// Where a Gitea is reached: `https://<domain>/` through `ingress`, trusting `ca_pem` only
/// (the system roots when `None`).
#[derive(Clone, Debug)]
pub struct Gitea {
    pub domain: String,
    pub ingress: SocketAddr,
    pub ca_pem: Option<PathBuf>,
    http: reqwest::Client,
}

impl Gitea {
    /// The deployment's Gitea, as the harness reaches it (its domain pinned to the platform's
    /// ingress, the platform's CA).
    pub fn from_deployment(d: &Deployment) -> anyhow::Result<Gitea> {
        let platform = &d.run().platform;
        Gitea::new(d.domain(), platform.ingress, platform.ca_pem.clone())
    }

    pub fn new(domain: &str, ingress: SocketAddr, ca_pem: Option<PathBuf>) -> anyhow::Result<Gitea> {
        let http = AppClient::builder(domain, ingress, ca_pem.as_deref())?.redirect(reqwest::redirect::Policy::none()).build()?;
        Ok(Gitea { domain: domain.to_owned(), ingress, ca_pem, http })
    }

    /// `https://<domain>/` (with the ingress port when it is not 443): Gitea's `ROOT_URL`.
    pub fn base_url(&self) -> String {
        match self.ingress.port() {
            443 => format!("https://{}/", self.domain),
            port => format!("https://{}:{port}/", self.domain),
        }
    }

    /// An API client authenticating with `auth`.
    pub fn api(&self, auth: Auth) -> Api {
        Api { gitea: self.clone(), auth: Some(auth), sudo: None }
    }

    /// An API client without credentials.
    pub fn anonymous(&self) -> Api {
        Api { gitea: self.clone(), auth: None, sudo: None }
    }

    /// The git CLI against this Gitea, authenticating with `auth`.
    pub fn git(&self, auth: Auth) -> Git {
        Git { gitea: self.clone(), auth }
    }
}

/// A user created by [`Api::create_user`]: its login and password.
#[derive(Clone, Debug)]
pub struct User {
    pub login: String,
    pub password: Secret,
}

impl User {
    pub fn auth(&self) -> Auth {
        Auth::basic(&self.login, self.password.clone())
    }
}

/// An API answer: status and JSON body (`Value::Null` when empty or not JSON).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

/// The REST API as one user.
#[derive(Clone, Debug)]
pub struct Api {
    gitea: Gitea,
    auth: Option<Auth>,
    sudo: Option<String>,
}

impl Api {
    pub fn gitea(&self) -> &Gitea {
        &self.gitea
    }

    /// The login this client authenticates as (`None`: anonymous).
    pub fn username(&self) -> Option<&str> {
        self.auth.as_ref().map(Auth::username)
    }

    /// The same client acting as `login` (the admin's `Sudo` header): what that user would
    /// see and do.
    pub fn sudo(&self, login: &str) -> Api {
        Api { sudo: Some(login.to_owned()), ..self.clone() }
    }

    /// Any request to `/api/v1<path>`; never fails on the status.
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> anyhow::Result<Answer> {
        let url = format!("{}api/v1{path}", self.gitea.base_url());
        let mut req = self.gitea.http.request(method.clone(), &url).header("accept", "application/json");
        if let Some(auth) = &self.auth {
            req = req.header("authorization", auth.header().expose());
        }
        if let Some(login) = &self.sudo {
            req = req.header("sudo", login);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.with_context(|| format!("{method} {url}"))?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.with_context(|| format!("{method} {url}: reading the body"))?;
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(Answer { status, body })
    }

    /// A request that must answer `expect`; returns the JSON body.
    pub async fn expect(&self, method: Method, path: &str, body: Option<&Value>, expect: u16) -> anyhow::Result<Value> {
        let answer = self.call(method.clone(), path, body).await?;
        anyhow::ensure!(
            answer.status == expect,
            "{method} /api/v1{path} as {}: HTTP {} (expected {expect}): {}",
            self.who(),
            answer.status,
            answer.body.to_string().chars().take(300).collect::<String>()
        );
        Ok(answer.body)
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.expect(Method::GET, path, None, 200).await
    }

    /// `GET`: `None` on Gitea's own 404 (a JSON error body, not a proxy page).
    pub async fn get_opt(&self, path: &str) -> anyhow::Result<Option<Value>> {
        let answer = self.call(Method::GET, path, None).await?;
        match answer.status {
            200 => Ok(Some(answer.body)),
            404 if answer.body.get("message").is_some() || answer.body.get("errors").is_some() => Ok(None),
            other => anyhow::bail!("GET /api/v1{path} as {}: HTTP {other}: {}", self.who(), answer.body.to_string().chars().take(300).collect::<String>()),
        }
    }

    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.expect(Method::POST, path, Some(body), 201).await
    }

    fn who(&self) -> String {
        match (&self.auth, &self.sudo) {
            (Some(auth), Some(sudo)) => format!("{} (sudo {sudo})", auth.username()),
            (Some(auth), None) => auth.username().to_owned(),
            (None, _) => "anonymous".to_owned(),
        }
    }

    /// `GET /version`: the server's version (`1.27.3`).
    pub async fn version(&self) -> anyhow::Result<String> {
        let v = self.get("/version").await?;
        v["version"].as_str().map(str::to_owned).ok_or_else(|| anyhow::format_err!("/version has no version: {v}"))
    }

    /// `GET /user`: the authenticated (or sudo'd) user.
    pub async fn me(&self) -> anyhow::Result<Value> {
        self.get("/user").await
    }

    /// Creates a user (admin only) with a generated password, no password change required.
    pub async fn create_user(&self, login: &str) -> anyhow::Result<User> {
        let password = Secret::generate(24);
        self.post(
            "/admin/users",
            &json!({"username": login, "email": format!("{login}@example.com"), "password": password.expose(), "must_change_password": false, "send_notify": false}),
        )
        .await?;
        Ok(User { login: login.to_owned(), password })
    }

    /// Creates an organization owned by this client's user (or the sudo'd one).
    pub async fn create_org(&self, name: &str) -> anyhow::Result<Value> {
        self.post("/orgs", &json!({"username": name, "visibility": "public"})).await
    }

    /// Creates a team in `org` with `permission` (`read`, `write`, `admin`) on the code,
    /// issues and pull request units of every repository of the org; returns its id.
    pub async fn create_team(&self, org: &str, name: &str, permission: &str) -> anyhow::Result<i64> {
        let units = ["repo.code", "repo.issues", "repo.pulls", "repo.releases", "repo.wiki"];
        let units_map: serde_json::Map<String, Value> = units.iter().map(|u| ((*u).to_owned(), json!(permission))).collect();
        let team = self
            .post(
                &format!("/orgs/{}/teams", encode(org)),
                &json!({"name": name, "permission": permission, "includes_all_repositories": true, "units": units, "units_map": units_map}),
            )
            .await?;
        team["id"].as_i64().ok_or_else(|| anyhow::format_err!("the new team has no id: {team}"))
    }

    /// Adds `login` to team `team_id`.
    pub async fn add_team_member(&self, team_id: i64, login: &str) -> anyhow::Result<()> {
        self.expect(Method::PUT, &format!("/teams/{team_id}/members/{}", encode(login)), None, 204).await.map(drop)
    }

    /// Creates a repository owned by `owner` (this client's user, another user when this is
    /// the admin, or an org), initialised with a README on [`DEFAULT_BRANCH`] when
    /// `auto_init`; returns its JSON.
    pub async fn create_repo(&self, owner: &str, name: &str, auto_init: bool) -> anyhow::Result<Value> {
        let body = json!({"name": name, "auto_init": auto_init, "default_branch": DEFAULT_BRANCH, "private": false});
        let me = self.sudo.clone().or_else(|| self.username().map(str::to_owned));
        if me.as_deref() == Some(owner) {
            return self.post("/user/repos", &body).await;
        }
        let answer = self.call(Method::POST, &format!("/orgs/{}/repos", encode(owner)), Some(&body)).await?;
        if answer.status == 201 {
            return Ok(answer.body);
        }
        // Not an org: a user's repository, which only the admin creates.
        self.post(&format!("/admin/users/{}/repos", encode(owner)), &body).await
    }

    /// `GET /repos/{owner}/{repo}`: `None` when Gitea says there is no such repository.
    pub async fn repo(&self, owner: &str, repo: &str) -> anyhow::Result<Option<Value>> {
        self.get_opt(&format!("/repos/{}/{}", encode(owner), encode(repo))).await
    }

    /// Adds `login` as a collaborator of `owner/repo` with `permission` (`read`, `write`, `admin`).
    pub async fn add_collaborator(&self, owner: &str, repo: &str, login: &str, permission: &str) -> anyhow::Result<()> {
        self.expect(Method::PUT, &format!("/repos/{}/{}/collaborators/{}", encode(owner), encode(repo), encode(login)), Some(&json!({"permission": permission})), 204)
            .await
            .map(drop)
    }

    /// Whether `login` may push to `owner/repo`: the repository as that user sees it (`Sudo`,
    /// so this client must be the admin), `permissions.push`. Counts team membership, direct
    /// collaboration and ownership alike.
    pub async fn can_push(&self, owner: &str, repo: &str, login: &str) -> anyhow::Result<bool> {
        let seen = self.sudo(login).repo(owner, repo).await?;
        Ok(seen.is_some_and(|r| r["permissions"]["push"].as_bool() == Some(true)))
    }

    /// Creates an access token of the authenticated user, who must authenticate with its
    /// password (Gitea requires Basic auth for this); `scopes` e.g. `["write:repository"]`.
    pub async fn create_token(&self, name: &str, scopes: &[&str]) -> anyhow::Result<Secret> {
        let login = self.username().ok_or_else(|| anyhow::format_err!("an anonymous client cannot create a token"))?.to_owned();
        let token = self.post(&format!("/users/{}/tokens", encode(&login)), &json!({"name": name, "scopes": scopes})).await?;
        let sha1 = token["sha1"].as_str().ok_or_else(|| anyhow::format_err!("the new token {name} has no sha1"))?;
        Ok(Secret::new(sha1))
    }

    /// The commit a branch points at.
    pub async fn branch_sha(&self, owner: &str, repo: &str, branch: &str) -> anyhow::Result<Option<String>> {
        let b = self.get_opt(&format!("/repos/{}/{}/branches/{}", encode(owner), encode(repo), encode(branch))).await?;
        Ok(b.and_then(|b| b["commit"]["id"].as_str().map(str::to_owned)))
    }

    /// Waits until the API shows `branch` of `owner/repo` at `sha`: Gitea records a push
    /// (the branch table, the repository no longer empty) from a queue after `git push`
    /// returns, and until then 1.27.3 answers the branch with a 500 (a nil repository) on a
    /// repository that was empty, and pull requests do not find the branch.
    pub async fn wait_branch(&self, owner: &str, repo: &str, branch: &str, sha: &str) -> anyhow::Result<()> {
        let path = format!("/repos/{}/{}/branches/{}", encode(owner), encode(repo), encode(branch));
        harness::converge(&format!("{owner}/{repo} branch {branch} at {sha} in Gitea's API"), PUSH_RECORDED, std::time::Duration::from_millis(200), || async {
            match self.call(Method::GET, &path, None).await {
                Ok(a) if a.status == 200 && a.body["commit"]["id"].as_str() == Some(sha) => Ok(()),
                Ok(a) => Err(format!("HTTP {} at {}", a.status, a.body["commit"]["id"].as_str().unwrap_or("-"))),
                Err(e) => Err(format!("{e:#}")),
            }
        })
        .await?;
        Ok(())
    }

    /// A file's content at `git_ref` (a branch, tag or sha), through the contents API
    /// (base64-decoded); `None` when the repository, the ref or the file does not exist.
    pub async fn file(&self, owner: &str, repo: &str, path: &str, git_ref: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let p: Vec<String> = path.split('/').map(encode).collect();
        let Some(c) = self.get_opt(&format!("/repos/{}/{}/contents/{}?ref={}", encode(owner), encode(repo), p.join("/"), encode(git_ref))).await? else {
            return Ok(None);
        };
        let b64 = c["content"].as_str().ok_or_else(|| anyhow::format_err!("{owner}/{repo}:{path} has no content (a directory?)"))?;
        let bytes = base64::engine::general_purpose::STANDARD.decode(b64.replace('\n', "")).context("decoding file content")?;
        Ok(Some(bytes))
    }

    /// A commit through the git API (`/git/commits/{sha}`).
    pub async fn commit(&self, owner: &str, repo: &str, sha: &str) -> anyhow::Result<Value> {
        self.get(&format!("/repos/{}/{}/git/commits/{}", encode(owner), encode(repo), encode(sha))).await
    }

    /// Opens a pull request `head` -> `base`; returns its JSON (`number`, `head.sha`, ...).
    pub async fn create_pull(&self, owner: &str, repo: &str, head: &str, base: &str, title: &str) -> anyhow::Result<Value> {
        self.post(&format!("/repos/{}/{}/pulls", encode(owner), encode(repo)), &json!({"head": head, "base": base, "title": title})).await
    }

    pub async fn pull(&self, owner: &str, repo: &str, number: i64) -> anyhow::Result<Value> {
        self.get(&format!("/repos/{}/{}/pulls/{number}", encode(owner), encode(repo))).await
    }

    /// Comments on issue or pull request `number`; returns the comment (`id`, `body`, `user`).
    pub async fn comment(&self, owner: &str, repo: &str, number: i64, body: &str) -> anyhow::Result<Value> {
        self.post(&format!("/repos/{}/{}/issues/{number}/comments", encode(owner), encode(repo)), &json!({"body": body})).await
    }

    /// Edits a comment in place.
    pub async fn edit_comment(&self, owner: &str, repo: &str, id: i64, body: &str) -> anyhow::Result<Value> {
        self.expect(Method::PATCH, &format!("/repos/{}/{}/issues/comments/{id}", encode(owner), encode(repo)), Some(&json!({"body": body})), 200).await
    }

    /// The comments of issue or pull request `number`, oldest first.
    pub async fn comments(&self, owner: &str, repo: &str, number: i64) -> anyhow::Result<Vec<Value>> {
        let list = self.get(&format!("/repos/{}/{}/issues/{number}/comments", encode(owner), encode(repo))).await?;
        list.as_array().cloned().ok_or_else(|| anyhow::format_err!("comments are not a list: {list}"))
    }

    /// Sets a commit status (`state`: pending, success, error, failure, warning).
    pub async fn set_status(&self, owner: &str, repo: &str, sha: &str, state: &str, context: &str, description: &str) -> anyhow::Result<Value> {
        self.post(
            &format!("/repos/{}/{}/statuses/{}", encode(owner), encode(repo), encode(sha)),
            &json!({"state": state, "context": context, "description": description, "target_url": self.gitea.base_url()}),
        )
        .await
    }

    /// The statuses of a commit, newest first.
    pub async fn statuses(&self, owner: &str, repo: &str, sha: &str) -> anyhow::Result<Vec<Value>> {
        let list = self.get(&format!("/repos/{}/{}/commits/{}/statuses", encode(owner), encode(repo), encode(sha))).await?;
        list.as_array().cloned().ok_or_else(|| anyhow::format_err!("statuses are not a list: {list}"))
    }

    /// The combined status of a commit (`state`, `statuses`).
    pub async fn combined_status(&self, owner: &str, repo: &str, sha: &str) -> anyhow::Result<Value> {
        self.get(&format!("/repos/{}/{}/commits/{}/status", encode(owner), encode(repo), encode(sha))).await
    }
}

/// The git CLI against one Gitea as one user, through the ingress, trusting only its CA.
#[derive(Clone, Debug)]
pub struct Git {
    gitea: Gitea,
    auth: Auth,
}

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(what: &str) -> anyhow::Result<Scratch> {
        let dir = std::env::temp_dir().join(format!("ccci-gitea-{what}-{}", tag()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Git {
    /// `https://<domain>/<owner>/<repo>.git`.
    pub fn clone_url(&self, owner: &str, repo: &str) -> String {
        format!("{}{owner}/{repo}.git", self.gitea.base_url())
    }

    /// The git configuration every command gets, as `GIT_CONFIG_*` environment entries: the
    /// domain pinned to the ingress (`http.curloptResolve`), the CA (`http.sslCAInfo`), the
    /// credentials as an `Authorization` header (`http.extraHeader`), an identity; no
    /// system or global configuration, no prompts.
    fn env(&self) -> Vec<(String, String)> {
        let mut config = vec![
            ("http.curloptResolve".to_owned(), format!("{}:{}:{}", self.gitea.domain, self.gitea.ingress.port(), self.gitea.ingress.ip())),
            ("http.extraHeader".to_owned(), format!("Authorization: {}", self.auth.git_header().expose())),
            ("user.name".to_owned(), self.auth.username().to_owned()),
            ("user.email".to_owned(), format!("{}@example.com", self.auth.username())),
            ("init.defaultBranch".to_owned(), DEFAULT_BRANCH.to_owned()),
            ("credential.helper".to_owned(), String::new()),
        ];
        let mut ca_env = None;
        if let Some(ca) = &self.gitea.ca_pem {
            config.push(("http.sslCAInfo".to_owned(), ca.display().to_string()));
            // GIT_SSL_CAINFO (set on some hosts to the system bundle) wins over http.sslCAInfo.
            ca_env = Some(("GIT_SSL_CAINFO".to_owned(), ca.display().to_string()));
        }
        let mut env = vec![
            ("GIT_CONFIG_NOSYSTEM".to_owned(), "1".to_owned()),
            ("GIT_CONFIG_GLOBAL".to_owned(), "/dev/null".to_owned()),
            ("GIT_TERMINAL_PROMPT".to_owned(), "0".to_owned()),
            ("GIT_ASKPASS".to_owned(), "true".to_owned()),
            ("GIT_CONFIG_COUNT".to_owned(), config.len().to_string()),
        ];
        for (i, (k, v)) in config.into_iter().enumerate() {
            env.push((format!("GIT_CONFIG_KEY_{i}"), k));
            env.push((format!("GIT_CONFIG_VALUE_{i}"), v));
        }
        env.extend(ca_env);
        env
    }

    /// Runs `git <args>` in `dir`; fails with git's stderr (which never holds the header).
    pub async fn run(&self, dir: &Path, args: &[&str]) -> anyhow::Result<String> {
        let out = tokio::process::Command::new("git")
            .args(args)
            .current_dir(dir)
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_SSL_CAPATH")
            .env_remove("GIT_SSL_NO_VERIFY")
            .envs(self.env())
            .output()
            .await
            .with_context(|| format!("running git {}", args.join(" ")))?;
        anyhow::ensure!(
            out.status.success(),
            "git {} as {} in {}: {}\n{}",
            args.join(" "),
            self.auth.username(),
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// Clones `owner/repo` into `dest` (which must not exist or be empty).
    pub async fn clone_into(&self, owner: &str, repo: &str, dest: &Path) -> anyhow::Result<()> {
        let parent = dest.parent().ok_or_else(|| anyhow::format_err!("{} has no parent", dest.display()))?;
        let dest_s = dest.display().to_string();
        self.run(parent, &["clone", "--quiet", &self.clone_url(owner, repo), &dest_s]).await.map(drop)
    }

    /// Pushes the content of `src` as one commit on `branch` of `owner/repo`: the commit's
    /// tree is exactly `src`'s files (a `.git` in `src` is ignored). Its parent is `from`'s
    /// head (a branch of the repository; `None`: `branch`'s own head if it exists, else a
    /// root commit). Returns the new commit's sha.
    pub async fn push_dir(&self, src: &Path, owner: &str, repo: &str, branch: &str, from: Option<&str>, message: &str) -> anyhow::Result<String> {
        let scratch = Scratch::new("push")?;
        let work = scratch.0.join("repo");
        std::fs::create_dir_all(&work)?;
        self.run(&work, &["init", "--quiet"]).await?;
        self.run(&work, &["remote", "add", "origin", &self.clone_url(owner, repo)]).await?;
        let parent = from.unwrap_or(branch);
        let heads = self.run(&work, &["ls-remote", "--heads", "origin", parent]).await?;
        if !heads.is_empty() {
            self.run(&work, &["fetch", "--quiet", "--depth", "1", "origin", parent]).await?;
            self.run(&work, &["checkout", "--quiet", "-B", branch, "FETCH_HEAD"]).await?;
            self.run(&work, &["rm", "-r", "-q", "--ignore-unmatch", "."]).await?;
        } else {
            anyhow::ensure!(from.is_none(), "{owner}/{repo} has no branch {parent} to start {branch} from");
            self.run(&work, &["checkout", "--quiet", "-b", branch]).await?;
        }
        copy_tree(src, &work)?;
        self.run(&work, &["add", "-A"]).await?;
        self.run(&work, &["commit", "--quiet", "-m", message]).await?;
        let refspec = format!("HEAD:refs/heads/{branch}");
        self.run(&work, &["push", "--quiet", "origin", &refspec]).await?;
        let sha = self.run(&work, &["rev-parse", "HEAD"]).await?;
        self.gitea.api(self.auth.clone()).wait_branch(owner, repo, branch, &sha).await?;
        Ok(sha)
    }

    /// Pushes `files` (path -> bytes) as one commit on `branch`, on top of `from` (or the
    /// branch itself) with every other file kept; returns the commit's sha.
    pub async fn push_files(&self, owner: &str, repo: &str, branch: &str, from: Option<&str>, files: &[(&str, &[u8])], message: &str) -> anyhow::Result<String> {
        let scratch = Scratch::new("files")?;
        let tree = scratch.0.join("tree");
        std::fs::create_dir_all(&tree)?;
        let parent = from.unwrap_or(branch);
        let clone = scratch.0.join("clone");
        if self.run(&scratch.0, &["ls-remote", "--heads", &self.clone_url(owner, repo), parent]).await?.is_empty() {
            anyhow::ensure!(from.is_none(), "{owner}/{repo} has no branch {parent} to start {branch} from");
        } else {
            let clone_s = clone.display().to_string();
            self.run(&scratch.0, &["clone", "--quiet", "--depth", "1", "--branch", parent, &self.clone_url(owner, repo), &clone_s]).await?;
            copy_tree(&clone, &tree)?;
        }
        for (path, bytes) in files {
            let target = tree.join(path);
            if let Some(dir) = target.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&target, bytes).with_context(|| format!("writing {}", target.display()))?;
        }
        self.push_dir(&tree, owner, repo, branch, from, message).await
    }
}

/// Copies the files under `src` into `dest` (skipping `.git`).
fn copy_tree(src: &Path, dest: &Path) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(src).with_context(|| format!("reading {}", src.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        if name == ".git" {
            continue;
        }
        let (from, to) = (entry.path(), dest.join(&name));
        if entry.file_type()?.is_dir() {
            std::fs::create_dir_all(&to)?;
            copy_tree(&from, &to)?;
        } else {
            std::fs::copy(&from, &to).with_context(|| format!("copying {}", from.display()))?;
        }
    }
    Ok(())
}

/// The backup and upgrade marker: a repository of the administrator's with one commit pushed
/// over HTTPS with git, holding a random file. Read back through the API: the branch's
/// commit sha and the file's bytes; `None` when Gitea says the repository is not there.
pub struct RepoMarker {
    pub repo: String,
    pub path: String,
    content: Vec<u8>,
}

impl RepoMarker {
    pub fn new() -> RepoMarker {
        let t = tag();
        let content = format!("ccci marker {}\n", hex::encode(rand::random::<[u8; 24]>())).into_bytes();
        RepoMarker { repo: format!("marker-{t}"), path: format!("marker/{t}.txt"), content }
    }

    fn bytes(sha: &str, content: &[u8]) -> Vec<u8> {
        let mut out = format!("{sha}\n").into_bytes();
        out.extend_from_slice(content);
        out
    }
}

impl Default for RepoMarker {
    fn default() -> Self {
        RepoMarker::new()
    }
}

impl DataProbe for RepoMarker {
    fn describe(&self) -> String {
        format!("repository {} with a pushed {}", self.repo, self.path)
    }

    async fn seed(&mut self, d: &Deployment) -> anyhow::Result<Vec<u8>> {
        let api = admin(d)?;
        let owner = api.username().unwrap_or(DEFAULT_ADMIN).to_owned();
        api.create_repo(&owner, &self.repo, false).await?;
        let (login, password) = admin_credentials(d)?;
        let git = api.gitea().git(Auth::basic(&login, password));
        let sha = git.push_files(&owner, &self.repo, DEFAULT_BRANCH, None, &[(&self.path, &self.content)], "ccci marker").await?;
        Ok(RepoMarker::bytes(&sha, &self.content))
    }

    async fn read(&self, d: &Deployment) -> anyhow::Result<Option<Vec<u8>>> {
        let api = admin(d)?;
        let owner = api.username().unwrap_or(DEFAULT_ADMIN).to_owned();
        if api.repo(&owner, &self.repo).await?.is_none() {
            return Ok(None);
        }
        let Some(sha) = api.branch_sha(&owner, &self.repo, DEFAULT_BRANCH).await? else { return Ok(None) };
        let Some(content) = api.file(&owner, &self.repo, &self.path, &sha).await? else { return Ok(None) };
        Ok(Some(RepoMarker::bytes(&sha, &content)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gitea_version_is_the_upstream_part_without_the_image_flavour() {
        assert_eq!(upstream_version("1.1.0+1.27.3-rootless").unwrap(), "1.27.3");
        assert_eq!(upstream_version("1.1.0+1.27.3-rootless+chaos-abc1234").unwrap(), "1.27.3");
        assert_eq!(upstream_version("1.0.0+1.26.0").unwrap(), "1.26.0");
        assert!(upstream_version("1.0.0").is_err());
    }

    #[test]
    fn credentials_never_print() {
        let auth = Auth::basic("alice", Secret::new("hunter2-password"));
        assert_eq!(format!("{auth:?}"), "Basic(alice, ***)");
        assert!(!format!("{:?}", User { login: "a".into(), password: Secret::new("hunter2-password") }).contains("hunter2"));
    }
}
