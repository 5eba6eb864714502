//! A real Gitea for xtask's tests: the testbed's gitea fixture (the Co-op Cloud gitea recipe's
//! stand-in, Gitea built from the Go module proxy), deployed through the harness like any
//! recipe, and the admin calls a test needs to set up what a forge has (users, an organisation
//! with a team, a repository with a pull request, comments by given users).
//!
//! Every call goes through the testbed ingress with the testbed CA, as `testme` itself does
//! with `GITEA_RESOLVE` and `GITEA_CA`. Comments "by" a user are posted with the admin's
//! `Sudo` header: Gitea records them as that user's, exactly as if they had typed them.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use harness::{AppClient, Deployment, Secret, fixture::tag};
use reqwest::Method;
use serde_json::{Value, json};

/// The admin of a deployed Gitea, and how to reach it.
pub(crate) struct RealGitea {
    http: AppClient,
    admin: String,
    password: Secret,
    pub(crate) domain: String,
    pub(crate) ingress_ip: std::net::IpAddr,
    pub(crate) ca: PathBuf,
}

impl RealGitea {
    /// The admin the fixture bootstraps from its secret (`ADMIN_USERNAME` in its `.env`, the `admin_password` secret).
    pub(crate) fn of(app: &Deployment) -> anyhow::Result<RealGitea> {
        let admin = app.env().get("ADMIN_USERNAME").context("the gitea fixture's .env names no ADMIN_USERNAME")?.to_owned();
        let password = app.secret("admin_password").context("the gitea deployment has no admin_password secret")?.clone();
        let platform = &app.run().platform;
        let ca = platform.ca_pem.clone().context("the testbed has no CA")?;
        Ok(RealGitea { http: app.http()?, admin, password, domain: app.domain().to_owned(), ingress_ip: platform.ingress.ip(), ca })
    }

    pub(crate) fn url(&self) -> String {
        format!("https://{}", self.domain)
    }

    /// One API call as the admin (or, with `sudo`, as that user); the JSON answer, which
    /// must have status `expect`.
    pub(crate) async fn call(&self, method: Method, path: &str, body: Option<Value>, sudo: Option<&str>, expect: u16) -> anyhow::Result<Value> {
        let mut request = self.http.request(method.clone(), &format!("/api/v1{path}")).basic_auth(&self.admin, Some(self.password.expose()));
        if let Some(user) = sudo {
            request = request.header("Sudo", user);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.with_context(|| format!("{method} {path}"))?;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        anyhow::ensure!(status == expect, "{method} {path}{}: HTTP {status} (expected {expect}): {}", sudo.map(|u| format!(" as {u}")).unwrap_or_default(), text.chars().take(300).collect::<String>());
        Ok(if text.trim().is_empty() { Value::Null } else { serde_json::from_str(&text).with_context(|| format!("{method} {path}: not JSON"))? })
    }

    /// A user with a random password (returned: only basic auth for their token needs it).
    pub(crate) async fn create_user(&self, login: &str, site_admin: bool) -> anyhow::Result<Secret> {
        let password = Secret::new(format!("Pw-{}{}{}{}", tag(), tag(), tag(), tag()));
        let body = json!({ "username": login, "email": format!("{login}@e2e.test"), "password": password.expose(), "must_change_password": false });
        self.call(Method::POST, "/admin/users", Some(body), None, 201).await?;
        if site_admin {
            self.call(Method::PATCH, &format!("/admin/users/{login}"), Some(json!({ "admin": true, "login_name": login, "source_id": 0 })), None, 200).await?;
        }
        Ok(password)
    }

    /// An access token of `login` with `scopes`, made with their own password (as a bot's
    /// operator makes it in the web UI).
    pub(crate) async fn create_token(&self, login: &str, password: &Secret, scopes: &[&str]) -> anyhow::Result<Secret> {
        let body = json!({ "name": format!("e2e-{}", tag()), "scopes": scopes });
        let response = self
            .http
            .request(Method::POST, &format!("/api/v1/users/{login}/tokens"))
            .basic_auth(login, Some(password.expose()))
            .json(&body)
            .send()
            .await
            .context("creating a token")?;
        let status = response.status().as_u16();
        let value: Value = response.json().await.unwrap_or(Value::Null);
        anyhow::ensure!(status == 201, "creating {login}'s token: HTTP {status}: {}", value["message"]);
        Ok(Secret::new(value["sha1"].as_str().context("the token answer has no sha1")?))
    }

    /// An organisation (owned by the admin) with a team `maintainers` that has write access to
    /// code, issues and pull requests of all its repositories, `members` in it.
    pub(crate) async fn create_org_with_team(&self, org: &str, members: &[&str]) -> anyhow::Result<()> {
        self.call(Method::POST, "/orgs", Some(json!({ "username": org, "visibility": "public" })), None, 201).await?;
        let units = ["repo.code", "repo.issues", "repo.pulls"];
        let units_map: serde_json::Map<String, Value> = units.iter().map(|u| (u.to_string(), json!("write"))).collect();
        let team = self
            .call(
                Method::POST,
                &format!("/orgs/{org}/teams"),
                Some(json!({ "name": "maintainers", "permission": "write", "units": units, "units_map": units_map, "includes_all_repositories": true })),
                None,
                201,
            )
            .await?;
        let id = team["id"].as_i64().context("the team answer has no id")?;
        for member in members {
            self.call(Method::PUT, &format!("/teams/{id}/members/{member}"), None, None, 204).await?;
        }
        Ok(())
    }

    /// An empty repository of `owner` (an organisation).
    pub(crate) async fn create_org_repo(&self, owner: &str, name: &str) -> anyhow::Result<()> {
        self.call(Method::POST, &format!("/orgs/{owner}/repos"), Some(json!({ "name": name, "default_branch": "main", "auto_init": false })), None, 201).await?;
        Ok(())
    }

    pub(crate) async fn add_collaborator(&self, owner: &str, repo: &str, login: &str, permission: &str) -> anyhow::Result<()> {
        self.call(Method::PUT, &format!("/repos/{owner}/{repo}/collaborators/{login}"), Some(json!({ "permission": permission })), None, 204).await?;
        Ok(())
    }

    /// Pushes `refs` of the local repository `dir` to `owner/repo` over HTTPS as the admin.
    pub(crate) fn push(&self, dir: &Path, owner: &str, repo: &str, refs: &[&str]) -> anyhow::Result<()> {
        let url = format!("{}/{owner}/{repo}.git", self.url());
        let basic = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, format!("{}:{}", self.admin, self.password.expose()));
        let config = [
            (format!("http.{}/.extraHeader", self.url()), format!("Authorization: Basic {basic}")),
            ("http.curloptResolve".to_owned(), format!("{}:443:{}", self.domain, self.ingress_ip)),
            (format!("http.{}/.sslCAInfo", self.url()), self.ca.display().to_string()),
        ];
        let mut cmd = std::process::Command::new("git");
        cmd.arg("-C").arg(dir).args(["push", "-q", &url]).args(refs).env("GIT_TERMINAL_PROMPT", "0").env("GIT_CONFIG_COUNT", config.len().to_string());
        // The variable overrides `http.sslCAInfo`, and this host sets it to the system bundle.
        cmd.env("GIT_SSL_CAINFO", &self.ca);
        for (i, (key, value)) in config.iter().enumerate() {
            cmd.env(format!("GIT_CONFIG_KEY_{i}"), key).env(format!("GIT_CONFIG_VALUE_{i}"), value);
        }
        let out = cmd.output().context("running git push")?;
        anyhow::ensure!(out.status.success(), "git push to {url}: {}", String::from_utf8_lossy(&out.stderr).trim());
        Ok(())
    }

    /// Waits until Gitea has recorded a push: `branch` of `owner/repo` at `sha` (Gitea indexes
    /// pushes asynchronously; until then a PR from the branch is refused, and 1.27.3 answers
    /// 500 for a branch of a repository that was empty).
    pub(crate) async fn wait_branch(&self, owner: &str, repo: &str, branch: &str, sha: &str) -> anyhow::Result<()> {
        harness::converge(&format!("{owner}/{repo} branch {branch} at {sha}"), std::time::Duration::from_secs(60), std::time::Duration::from_millis(200), || async {
            match self.call(Method::GET, &format!("/repos/{owner}/{repo}/branches/{branch}"), None, None, 200).await {
                Ok(b) if b["commit"]["id"] == sha => Ok(()),
                Ok(b) => Err(format!("at {}", b["commit"]["id"])),
                Err(e) => Err(format!("{e:#}")),
            }
        })
        .await
        .map_err(anyhow::Error::from)
    }

    /// A pull request `head` -> `base`, opened by the admin; its number.
    pub(crate) async fn open_pull(&self, owner: &str, repo: &str, head: &str, base: &str) -> anyhow::Result<u64> {
        let pr = self.call(Method::POST, &format!("/repos/{owner}/{repo}/pulls"), Some(json!({ "head": head, "base": base, "title": "PR head" })), None, 201).await?;
        pr["number"].as_u64().context("the PR answer has no number")
    }

    /// A comment by `login` on issue or PR `number`; its id.
    pub(crate) async fn comment_as(&self, login: &str, owner: &str, repo: &str, number: u64, body: &str) -> anyhow::Result<u64> {
        let comment = self.call(Method::POST, &format!("/repos/{owner}/{repo}/issues/{number}/comments"), Some(json!({ "body": body })), Some(login), 201).await?;
        comment["id"].as_u64().context("the comment answer has no id")
    }

    pub(crate) async fn comments(&self, owner: &str, repo: &str, number: u64) -> anyhow::Result<Vec<Value>> {
        let list = self.call(Method::GET, &format!("/repos/{owner}/{repo}/issues/{number}/comments"), None, None, 200).await?;
        Ok(list.as_array().cloned().unwrap_or_default())
    }

    /// The commit statuses of `sha`, oldest first.
    pub(crate) async fn statuses(&self, owner: &str, repo: &str, sha: &str) -> anyhow::Result<Vec<Value>> {
        let list = self.call(Method::GET, &format!("/repos/{owner}/{repo}/statuses/{sha}?sort=oldest&limit=50"), None, None, 200).await?;
        Ok(list.as_array().cloned().unwrap_or_default())
    }
}
