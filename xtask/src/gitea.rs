//! A small client for the Gitea REST API (v1, as served by Gitea 1.22): the calls `testme`
//! makes, with errors that say in one line what went wrong and never show the token.
//!
//! The base URL and token come from `GITEA_URL` and `GITEA_TOKEN`. The token is sent as
//! `Authorization: token <token>` (a header marked sensitive), never in a URL or an argv.
//! The bot's account needs write access to the recipe repositories (comments, statuses), and
//! is best a site admin: a commenter's access is then read as Gitea itself computes it, by
//! reading the repository as that user (`Sudo: <login>` -> `permissions.push`), which counts
//! write access through an organisation team. Without site admin, the bot needs admin access
//! to the repository and `collaborators/{user}/permission` is read instead, which in Gitea
//! 1.27 reports a team member's write access as `read`. Token scopes: `write:repository`,
//! `write:issue`, `read:user` (and `sudo` is allowed only for a site admin's token).

use std::time::Duration;

use anyhow::Context as _;
use reqwest::{Method, StatusCode, header};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::pr::PrRef;

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub login: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Repository {
    pub id: i64,
    pub name: String,
    pub full_name: String,
    pub owner: User,
    pub clone_url: String,
    #[serde(default)]
    pub default_branch: String,
    #[serde(default)]
    pub private: bool,
    /// The requesting user's access (the bot's, or the `Sudo` user's).
    #[serde(default)]
    pub permissions: Option<RepoPermissions>,
}

/// `Permission` in a repository answer: what the requesting user may do.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct RepoPermissions {
    #[serde(default)]
    pub admin: bool,
    #[serde(default)]
    pub push: bool,
    #[serde(default)]
    pub pull: bool,
}

impl RepoPermissions {
    /// As `collaborators/{user}/permission` names it: `admin`, `write`, `read` or `none`.
    pub fn level(&self) -> &'static str {
        match (self.admin, self.push, self.pull) {
            (true, _, _) => "admin",
            (_, true, _) => "write",
            (_, _, true) => "read",
            _ => "none",
        }
    }
}

/// `PRBranchInfo`: one side of a pull request.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Branch {
    pub label: String,
    #[serde(rename = "ref")]
    pub ref_name: String,
    pub sha: String,
    pub repo_id: i64,
    /// Missing when the head repository (a fork) was deleted.
    pub repo: Option<Repository>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct PullRequest {
    pub id: i64,
    pub number: u64,
    pub title: String,
    pub state: String,
    pub html_url: String,
    pub user: User,
    pub head: Branch,
    pub base: Branch,
    #[serde(default)]
    pub merged: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ChangedFile {
    pub filename: String,
    #[serde(default)]
    pub previous_filename: String,
    pub status: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Comment {
    pub id: u64,
    pub html_url: String,
    #[serde(default)]
    pub pull_request_url: String,
    #[serde(default)]
    pub issue_url: String,
    pub user: User,
    pub body: String,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct CommitStatus {
    pub id: i64,
    /// Gitea calls the state `status` in responses and `state` in requests.
    pub status: String,
    pub description: String,
    pub context: String,
    #[serde(default)]
    pub target_url: String,
}

#[derive(Debug, Clone, Deserialize)]
struct Permission {
    permission: String,
}

/// Commit status states Gitea accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusState {
    Pending,
    Success,
    Error,
    Failure,
}

impl StatusState {
    pub fn as_str(self) -> &'static str {
        match self {
            StatusState::Pending => "pending",
            StatusState::Success => "success",
            StatusState::Error => "error",
            StatusState::Failure => "failure",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct NewStatus {
    pub state: StatusState,
    pub target_url: String,
    pub description: String,
    pub context: String,
}

/// The API client. `Debug` shows the base URL only.
#[derive(Clone)]
pub struct Gitea {
    base: String,
    http: reqwest::Client,
    reach: Reach,
}

/// How to reach a Gitea that plain DNS and the system CAs do not: `GITEA_RESOLVE` (the IP
/// address to connect to for `GITEA_URL`'s host, on its port, as curl's `--resolve`) and
/// `GITEA_CA` (a PEM file of extra trusted roots), e.g. a Gitea behind split-horizon DNS with
/// a private CA, or one on the testbed. Applied to the API client and to git.
#[derive(Debug, Clone, Default)]
pub struct Reach {
    pub resolve: Option<std::net::IpAddr>,
    pub ca: Option<std::path::PathBuf>,
}

impl Reach {
    /// From `GITEA_RESOLVE` and `GITEA_CA`.
    fn from_env() -> anyhow::Result<Reach> {
        let resolve = match std::env::var("GITEA_RESOLVE").ok().filter(|v| !v.trim().is_empty()) {
            None => None,
            Some(v) => Some(v.trim().parse::<std::net::IpAddr>().map_err(|_| anyhow::format_err!("GITEA_RESOLVE={v:?} is not an IP address"))?),
        };
        let ca = std::env::var_os("GITEA_CA").filter(|v| !v.is_empty()).map(std::path::PathBuf::from);
        if let Some(ca) = &ca {
            anyhow::ensure!(ca.is_file(), "GITEA_CA={} is not a readable file", ca.display());
        }
        Ok(Reach { resolve, ca })
    }
}

impl std::fmt::Debug for Gitea {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gitea").field("base", &self.base).field("token", &"<redacted>").finish()
    }
}

/// Keeps error text on one line and short (API messages can carry HTML or stack traces).
/// The host of an `http(s)://host[:port]/...` URL (empty if it is none).
pub fn host_of(url: &str) -> String {
    reqwest::Url::parse(url.trim()).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default()
}

/// The port of an `http(s)://host[:port]/...` URL, the scheme's default if none is given.
pub fn port_of(url: &str) -> u16 {
    reqwest::Url::parse(url.trim()).ok().and_then(|u| u.port_or_known_default()).unwrap_or(443)
}

fn one_line(text: &str) -> String {
    let mut line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.len() > 200 {
        let mut end = 200;
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        line.truncate(end);
        line.push('…');
    }
    line
}

impl Gitea {
    /// From `GITEA_URL` and `GITEA_TOKEN`.
    pub fn from_env() -> anyhow::Result<Gitea> {
        let base = std::env::var("GITEA_URL").map_err(|_| {
            anyhow::format_err!("GITEA_URL is not set: set it to the Gitea base URL, e.g. https://git.coopcloud.tech")
        })?;
        let token = std::env::var("GITEA_TOKEN")
            .ok()
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| anyhow::format_err!("GITEA_TOKEN is not set: the bot's Gitea access token is needed to read PRs and report back"))?;
        Gitea::with_reach(&base, token.trim(), Reach::from_env()?)
    }

    pub fn new(base: &str, token: &str) -> anyhow::Result<Gitea> {
        Gitea::with_reach(base, token, Reach::default())
    }

    pub fn with_reach(base: &str, token: &str, reach: Reach) -> anyhow::Result<Gitea> {
        let base = base.trim().trim_end_matches('/').to_owned();
        anyhow::ensure!(
            base.starts_with("http://") || base.starts_with("https://"),
            "GITEA_URL={base:?} is not an http(s) URL"
        );
        let mut auth = header::HeaderValue::from_str(&format!("token {token}"))
            .map_err(|_| anyhow::format_err!("GITEA_TOKEN contains characters that cannot go in an HTTP header"))?;
        auth.set_sensitive(true);
        let mut headers = header::HeaderMap::new();
        headers.insert(header::AUTHORIZATION, auth);
        headers.insert(header::ACCEPT, header::HeaderValue::from_static("application/json"));
        let mut builder = reqwest::Client::builder();
        if let Some(ip) = reach.resolve {
            // reqwest takes the port from the URL; the one given here is ignored.
            builder = builder.resolve(&host_of(&base), std::net::SocketAddr::new(ip, port_of(&base)));
        }
        if let Some(ca) = &reach.ca {
            let pem = std::fs::read(ca).with_context(|| format!("reading GITEA_CA {}", ca.display()))?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem).with_context(|| format!("parsing GITEA_CA {}", ca.display()))? {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder
            .default_headers(headers)
            .user_agent(concat!("ccci-xtask/", env!("CARGO_PKG_VERSION")))
            .timeout(Duration::from_secs(30))
            .build()
            .context("building the HTTP client")?;
        Ok(Gitea { base, http, reach })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn reach(&self) -> &Reach {
        &self.reach
    }

    /// One API call; `what` names it in errors ("reading PR x/y#1").
    async fn call<T: DeserializeOwned>(&self, method: Method, path: &str, body: Option<&serde_json::Value>, what: &str) -> Result<(T, header::HeaderMap), ApiError> {
        self.call_as(None, method, path, body, what).await
    }

    /// [`Gitea::call`] as another user (`Sudo: <login>`; only a site admin's token may).
    async fn call_as<T: DeserializeOwned>(&self, sudo: Option<&str>, method: Method, path: &str, body: Option<&serde_json::Value>, what: &str) -> Result<(T, header::HeaderMap), ApiError> {
        let url = format!("{}/api/v1{path}", self.base);
        let mut request = self.http.request(method, &url);
        if let Some(login) = sudo {
            request = request.header("Sudo", login);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| {
            // reqwest's text includes the URL (never the token: it is a header); the causes
            // ("connection refused") are in the source chain.
            let mut message = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            ApiError::Transport { what: what.to_owned(), message: one_line(&message) }
        })?;
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            let message = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["message"].as_str().map(str::to_owned))
                .unwrap_or_else(|| text.clone());
            return Err(ApiError::Status { what: what.to_owned(), status, message: one_line(&message), base: self.base.clone() });
        }
        let value = serde_json::from_str(&text).map_err(|e| ApiError::Shape { what: what.to_owned(), message: one_line(&e.to_string()) })?;
        Ok((value, headers))
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, what: &str) -> Result<T, ApiError> {
        Ok(self.call(Method::GET, path, None, what).await?.0)
    }

    /// The account the token belongs to (the bot).
    pub async fn current_user(&self) -> Result<User, ApiError> {
        self.get("/user", "reading the token's user").await
    }

    pub async fn repository(&self, owner: &str, repo: &str) -> Result<Repository, ApiError> {
        self.get(&format!("/repos/{owner}/{repo}"), &format!("reading repository {owner}/{repo}")).await
    }

    /// The PR, telling an unknown repository from an unknown PR.
    pub async fn pull_request(&self, pr: &PrRef) -> anyhow::Result<PullRequest> {
        let what = format!("reading PR {pr}");
        match self.get(&format!("/repos/{}/{}/pulls/{}", pr.owner, pr.repo, pr.number), &what).await {
            Ok(found) => Ok(found),
            Err(e) if e.is_not_found() => match self.repository(&pr.owner, &pr.repo).await {
                Ok(_) => anyhow::bail!("PR not found: {} has no pull request #{}", pr.full_name(), pr.number),
                Err(e) if e.is_not_found() => {
                    anyhow::bail!("unknown repository {} on {} (or the token cannot see it)", pr.full_name(), self.base)
                }
                Err(e) => Err(e.into()),
            },
            Err(e) => Err(e.into()),
        }
    }

    /// Every changed file of the PR (paged: Gitea serves at most 50 a page).
    pub async fn pull_request_files(&self, pr: &PrRef) -> anyhow::Result<Vec<ChangedFile>> {
        const LIMIT: usize = 50;
        let mut files = vec![];
        for page in 1.. {
            let path = format!("/repos/{}/{}/pulls/{}/files?page={page}&limit={LIMIT}", pr.owner, pr.repo, pr.number);
            let (batch, headers): (Vec<ChangedFile>, _) =
                self.call(Method::GET, &path, None, &format!("listing the files of PR {pr}")).await?;
            let total = headers
                .get("x-total-count")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<usize>().ok());
            let short = batch.len() < LIMIT;
            let empty = batch.is_empty();
            files.extend(batch);
            if empty || short || total.is_some_and(|t| files.len() >= t) {
                break;
            }
        }
        Ok(files)
    }

    pub async fn comment(&self, owner: &str, repo: &str, id: u64) -> anyhow::Result<Comment> {
        match self.get(&format!("/repos/{owner}/{repo}/issues/comments/{id}"), &format!("reading comment {id}")).await {
            Err(e) if e.is_not_found() => anyhow::bail!("comment {id} not found in {owner}/{repo}"),
            other => Ok(other?),
        }
    }

    pub async fn comments(&self, pr: &PrRef) -> Result<Vec<Comment>, ApiError> {
        self.get(&format!("/repos/{}/{}/issues/{}/comments", pr.owner, pr.repo, pr.number), &format!("listing the comments of PR {pr}"))
            .await
    }

    pub async fn create_comment(&self, pr: &PrRef, body: &str) -> Result<Comment, ApiError> {
        let path = format!("/repos/{}/{}/issues/{}/comments", pr.owner, pr.repo, pr.number);
        let body = serde_json::json!({ "body": body });
        Ok(self.call(Method::POST, &path, Some(&body), &format!("commenting on PR {pr}")).await?.0)
    }

    pub async fn edit_comment(&self, pr: &PrRef, id: u64, body: &str) -> Result<Comment, ApiError> {
        let path = format!("/repos/{}/{}/issues/comments/{id}", pr.owner, pr.repo);
        let body = serde_json::json!({ "body": body });
        Ok(self.call(Method::PATCH, &path, Some(&body), &format!("editing comment {id} on PR {pr}")).await?.0)
    }

    /// `login`'s access to the repository: `owner`, `admin`, `write`, `read` or `none`.
    ///
    /// Read as Gitea computes it for that user (the repository read with `Sudo: <login>`),
    /// which counts organisation teams; when the token may not sudo (not a site admin), the
    /// collaborator permission endpoint is asked instead.
    pub async fn permission(&self, owner: &str, repo: &str, login: &str) -> anyhow::Result<String> {
        let what = format!("reading {owner}/{repo} as {login}");
        match self.call_as::<Repository>(Some(login), Method::GET, &format!("/repos/{owner}/{repo}"), None, &what).await {
            Ok((repository, _)) => return Ok(repository.permissions.unwrap_or_default().level().to_owned()),
            // A private repository the user cannot see.
            Err(e) if e.is_not_found() => return Ok("none".to_owned()),
            Err(ApiError::Status { status: StatusCode::FORBIDDEN, .. }) => {}
            Err(e) => return Err(e.into()),
        }
        self.collaborator_permission(owner, repo, login).await
    }

    /// `collaborators/{login}/permission`: needs admin access to the repository; in Gitea 1.27
    /// it reports write access given through a team as `read`.
    async fn collaborator_permission(&self, owner: &str, repo: &str, login: &str) -> anyhow::Result<String> {
        let what = format!("reading {login}'s permission on {owner}/{repo}");
        match self.get::<Permission>(&format!("/repos/{owner}/{repo}/collaborators/{login}/permission"), &what).await {
            Ok(p) => Ok(p.permission),
            Err(ApiError::Status { status: StatusCode::FORBIDDEN, message, .. }) => anyhow::bail!(
                "the bot's token may not read permissions on {owner}/{repo} (HTTP 403: {message}); make the bot a site admin (or give it admin access to the repository)"
            ),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn create_status(&self, owner: &str, repo: &str, sha: &str, status: &NewStatus) -> Result<CommitStatus, ApiError> {
        let path = format!("/repos/{owner}/{repo}/statuses/{sha}");
        let body = serde_json::to_value(status).expect("statuses serialise");
        let what = format!("setting the {} status on {}", status.context, &sha[..sha.len().min(7)]);
        Ok(self.call(Method::POST, &path, Some(&body), &what).await?.0)
    }
}

/// What went wrong talking to Gitea; every variant displays as one line without the token.
#[derive(Debug)]
pub enum ApiError {
    Transport { what: String, message: String },
    Status { what: String, status: StatusCode, message: String, base: String },
    Shape { what: String, message: String },
}

impl ApiError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, ApiError::Status { status: StatusCode::NOT_FOUND, .. })
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::Transport { what, message } => write!(f, "{what}: cannot reach Gitea: {message}"),
            ApiError::Status { what, status, base, .. } if *status == StatusCode::UNAUTHORIZED => {
                write!(f, "GITEA_TOKEN was refused by {base} (HTTP 401 while {what}): check that the token is valid and not expired")
            }
            ApiError::Status { what, status, message, .. } => write!(f, "{what}: Gitea answered HTTP {}: {message}", status.as_u16()),
            ApiError::Shape { what, message } => write!(f, "{what}: unexpected Gitea response: {message}"),
        }
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    #[test]
    fn host_and_port_come_from_the_url() {
        assert_eq!((super::host_of("https://git.example:3000/x"), super::port_of("https://git.example:3000/x")), ("git.example".into(), 3000));
        assert_eq!((super::host_of("https://git.example"), super::port_of("https://git.example")), ("git.example".into(), 443));
        assert_eq!((super::host_of("http://10.0.0.1/"), super::port_of("http://10.0.0.1/")), ("10.0.0.1".into(), 80));
    }
}
