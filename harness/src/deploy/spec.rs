//! What a deployment is made from and what is recorded of it: [`AppSpec`] (the request),
//! [`DeploymentRecord`] (what other processes of the run attach to), [`SsoGrant`] and the
//! naming scheme. Plain data, below the drivers and the [`super::Deployment`] handle.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{
    checkout::{RecipeSource, Rev},
    recipe::ReadySection,
    secret::Secret,
};

/// What to deploy.
#[derive(Debug, Clone)]
pub struct AppSpec {
    pub recipe: String,
    pub source: RecipeSource,
    pub rev: Rev,
    /// Why this deployment exists: `shared`, `upgrade`, `backup`; part of its name.
    pub purpose: String,
    /// `.env` settings on top of the recipe's `.env.sample`.
    pub env: Vec<(String, String)>,
    /// Secret values to insert instead of generating them (by compose name).
    pub secrets: Vec<(String, Secret)>,
    /// The OIDC client made for this app at its SSO provider, if any.
    pub sso: Option<SsoGrant>,
    /// How the app says it is ready (`recipe.toml` `[ready]`); every deploy waits on it.
    pub ready: Option<ReadySection>,
    /// Shared deployments (dependencies) this one uses, held for its life.
    pub uses: Vec<std::sync::Arc<crate::lock::FileLock>>,
}

impl AppSpec {
    pub fn new(recipe: &str, source: RecipeSource, rev: Rev, purpose: &str) -> AppSpec {
        AppSpec { recipe: recipe.into(), source, rev, purpose: purpose.into(), env: vec![], secrets: vec![], sso: None, ready: None, uses: vec![] }
    }

    pub fn with_env(mut self, key: &str, value: impl Into<String>) -> AppSpec {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn with_ready(mut self, ready: Option<ReadySection>) -> AppSpec {
        self.ready = ready;
        self
    }
}

/// What the harness provisioned at an SSO provider for an app (the client secret lives with
/// the app's other secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SsoGrant {
    /// The provider's kind (`[provides.oidc] kind`), to administer it again from a test.
    #[serde(default)]
    pub provider_kind: String,
    pub provider_domain: String,
    pub realm: String,
    pub issuer: String,
    pub client_id: String,
    /// The app's secret holding the client secret.
    pub client_secret_name: String,
}

/// What other processes of the run need to attach to a deployment (secrets live apart, 0600).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct DeploymentRecord {
    pub recipe: String,
    pub domain: String,
    pub stack: String,
    pub version: String,
    pub rev: Option<String>,
    pub app_dir: PathBuf,
    pub purpose: String,
    #[serde(default)]
    pub sso: Option<SsoGrant>,
    #[serde(default)]
    pub ready: Option<ReadySection>,
    /// When the harness saw the stack converge (unix milliseconds), for reports and benchmarks.
    #[serde(default)]
    pub converged_at_ms: u64,
    /// When the app first passed its readiness check after the last deploy (unix ms).
    #[serde(default)]
    pub ready_at_ms: u64,
}

/// Names are short: Swarm objects are limited to 64 characters and abra truncates stacks.
pub(crate) fn names(recipe: &str, purpose: &str, tag: &str, suffix: &str) -> (String, String) {
    let purpose: String = purpose.chars().take(3).collect();
    let mut prefix = format!("{recipe}-{purpose}-{tag}");
    prefix.truncate(40);
    let prefix = prefix.trim_end_matches('-').to_owned();
    let domain = format!("{prefix}.{suffix}");
    let stack = domain.replace('.', "_");
    (domain, stack)
}

/// The name tag of a run: the configured one (e.g. `pr12-abc1234` from xtask testme) or a
/// short hash of the run id.
pub(crate) fn name_tag(configured: Option<&str>, run_id: &str) -> String {
    match configured {
        Some(tag) => tag.to_owned(),
        None => hex::encode(&Sha256::digest(run_id.as_bytes())[..3]),
    }
}

/// The stack a deployment of `recipe` for `purpose` gets in the run `config` names.
pub fn stack_name(config: &crate::config::RunConfig, recipe: &str, purpose: &str) -> String {
    names(recipe, purpose, &name_tag(config.name_tag.as_deref(), &config.run_id), &config.domain_suffix).1
}

pub(crate) fn rev_label(rev: &Rev) -> String {
    match rev {
        Rev::Head => "head".into(),
        Rev::Release(tag) => tag.clone(),
    }
}

pub(crate) fn rev_dir(rev: &Rev) -> String {
    rev_label(rev).replace('+', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_short_and_stack_safe() {
        let (domain, stack) = names("web-site", "shared", "a1b2c3", "ccci.test");
        assert_eq!(domain, "web-site-sha-a1b2c3.ccci.test");
        assert_eq!(stack, "web-site-sha-a1b2c3_ccci_test");
        let (_, long) = names("a-very-long-recipe-name-indeed-longer", "upgrade", "pr1234-abcdef0", "ccci.test");
        assert!(long.len() <= 50, "{long}");
        assert!(!long.contains('.'));
    }

    #[test]
    fn a_configured_name_tag_wins_over_the_run_hash() {
        assert_eq!(name_tag(Some("pr7-abc1234"), "run"), "pr7-abc1234");
        assert_eq!(name_tag(None, "run").len(), 6);
    }
}
