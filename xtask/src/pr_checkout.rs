//! Checks out a recipe PR's head into the run directory, with the base repository's release
//! tags (the upgrade test starts from the newest release before the head).
//!
//! Gitea keeps every PR's head at `refs/pull/<N>/head` in the base repository, forks
//! included, so one fetch from the base `clone_url` gets both the head and the tags; if that
//! ref is missing, the head branch is fetched from the head repository. The result is checked
//! against the head sha the API reported: a PR pushed to in between is an error, not a
//! silently different test. Credentials for the Gitea host go through `GIT_CONFIG_*`
//! environment variables (an `Authorization` header), never through argv or the URL.

use std::{path::Path, process::Command};

use anyhow::Context as _;

use crate::gitea::PullRequest;

/// How git authenticates to the Gitea host: the URL prefix and the token, and how it reaches
/// it (`GITEA_RESOLVE`, `GITEA_CA`).
#[derive(Clone)]
pub struct GitAuth {
    pub base_url: String,
    pub token: String,
    pub reach: crate::gitea::Reach,
}

impl std::fmt::Debug for GitAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitAuth").field("base_url", &self.base_url).finish_non_exhaustive()
    }
}

fn git(dir: &Path, args: &[&str], auth: Option<&GitAuth>) -> anyhow::Result<String> {
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(dir).args(args).env("GIT_TERMINAL_PROMPT", "0");
    if let Some(auth) = auth {
        let base = auth.base_url.trim_end_matches('/');
        let mut config = vec![(format!("http.{base}/.extraHeader"), format!("Authorization: token {}", auth.token))];
        if let Some(ip) = auth.reach.resolve {
            let ip = if ip.is_ipv6() { format!("[{ip}]") } else { ip.to_string() };
            config.push(("http.curloptResolve".into(), format!("{}:{}:{ip}", crate::gitea::host_of(base), crate::gitea::port_of(base))));
        }
        if let Some(ca) = &auth.reach.ca {
            config.push((format!("http.{base}/.sslCAInfo"), ca.display().to_string()));
            // The variable overrides any `http.sslCAInfo`, and hosts set it to the system bundle.
            cmd.env("GIT_SSL_CAINFO", ca);
        }
        cmd.env("GIT_CONFIG_COUNT", config.len().to_string());
        for (i, (key, value)) in config.into_iter().enumerate() {
            cmd.env(format!("GIT_CONFIG_KEY_{i}"), key).env(format!("GIT_CONFIG_VALUE_{i}"), value);
        }
    }
    let out = cmd.output().with_context(|| format!("running git {}", args.first().unwrap_or(&"")))?;
    if !out.status.success() {
        // git's first `fatal:`/`error:` line says what went wrong; the rest is advice.
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        let line = lines.iter().find(|l| l.starts_with("fatal:") || l.starts_with("error:")).or(lines.first()).copied().unwrap_or("(no output)");
        anyhow::bail!("git {} failed: {line}", args.first().unwrap_or(&""));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Clones the PR head into `dest` (which must not exist) and returns the checked-out sha.
pub fn checkout_head(pr: &PullRequest, dest: &Path, auth: Option<&GitAuth>) -> anyhow::Result<String> {
    let base = pr.base.repo.as_ref().context("the PR's base repository is missing from the API answer")?;
    let auth_for = |url: &str| auth.filter(|a| url.starts_with(a.base_url.trim_end_matches('/')));
    std::fs::create_dir_all(dest).with_context(|| format!("creating {}", dest.display()))?;
    git(dest, &["init", "-q", "-b", "ccci-head"], None)?;
    let pull_ref = format!("+refs/pull/{}/head:refs/remotes/pr/head", pr.number);
    let fetched = git(
        dest,
        &["fetch", "-q", "--tags", &base.clone_url, &pull_ref, "+refs/heads/*:refs/remotes/base/*"],
        auth_for(&base.clone_url),
    );
    if let Err(pull_ref_error) = fetched {
        // Older servers or mirrors may lack refs/pull; take the head branch from its repository.
        let head_repo = pr.head.repo.as_ref().with_context(|| {
            format!("fetching the PR head from {} failed ({pull_ref_error:#}) and the head repository is gone", base.full_name)
        })?;
        git(dest, &["fetch", "-q", "--tags", &base.clone_url, "+refs/heads/*:refs/remotes/base/*"], auth_for(&base.clone_url))
            .with_context(|| format!("fetching {} from {}", base.full_name, base.clone_url))?;
        let head_ref = format!("+refs/heads/{}:refs/remotes/pr/head", pr.head.ref_name);
        git(dest, &["fetch", "-q", &head_repo.clone_url, &head_ref], auth_for(&head_repo.clone_url))
            .with_context(|| format!("fetching {} from {}", pr.head.ref_name, head_repo.full_name))?;
    }
    if git(dest, &["cat-file", "-e", &format!("{}^{{commit}}", pr.head.sha)], None).is_err() {
        let now = git(dest, &["rev-parse", "refs/remotes/pr/head"], None).unwrap_or_default();
        anyhow::bail!(
            "the PR head moved: Gitea reported {} but the PR now points at {}; comment !testme again",
            short(&pr.head.sha),
            short(&now)
        );
    }
    git(dest, &["-c", "advice.detachedHead=false", "checkout", "-q", "--detach", &pr.head.sha], None)?;
    let head = git(dest, &["rev-parse", "HEAD"], None)?;
    anyhow::ensure!(head == pr.head.sha, "checked out {} but the PR head is {}", short(&head), short(&pr.head.sha));
    Ok(head)
}

pub fn short(sha: &str) -> &str {
    &sha[..sha.len().min(7)]
}
