//! `Suite`: the entry point of a recipe's test binary.
//!
//! ```ignore
//! let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
//! let app = suite.shared().await?;                  // non-mutating tests share this one
//! let mut app = suite.deploy("upgrade", suite.upgrade_base()?).await?; // mutating tests own theirs
//! ```
//! The shared deployment is made once per run, whatever the process model: the first test
//! to ask deploys it under `<run>/shared/<recipe>.lock` and records it; every other test, in
//! this process (`cargo test`) or another (`cargo nextest run`), attaches to the record. The
//! run's watcher removes it when the run ends.

use std::{path::Path, sync::Arc};

use crate::{
    checkout::{RecipeSource, Rev},
    config::RunConfig,
    deploy::{AppSpec, Deployment},
    error::{HarnessError, Result},
    lock::FileLock,
    progress,
    recipe::Recipe,
    run::{Run, deploy_count},
};

/// A recipe's suite within the current run.
#[derive(Debug)]
pub struct Suite {
    pub recipe: Recipe,
    pub run: Arc<Run>,
    pub source: RecipeSource,
}

impl Suite {
    /// Loads `<crate_dir>/recipe.toml`, joins the run and finds the recipe's source: the PR
    /// checkout in `CCCI_RECIPE_REPO` when set, else the testbed fixture.
    pub async fn start(crate_dir: impl AsRef<Path>) -> Result<Suite> {
        crate::hook::anchor();
        let recipe = Recipe::load(crate_dir)?;
        let config = RunConfig::from_env()?;
        let source = match std::env::var_os("CCCI_RECIPE_REPO") {
            Some(repo) => RecipeSource::git_repo(recipe.name(), repo),
            None => RecipeSource::fixture(&config, recipe.fixture()).await?,
        };
        let run = Run::start(config).await?;
        Ok(Suite { recipe, run, source })
    }

    pub fn name(&self) -> &str {
        self.recipe.name()
    }

    /// The release an upgrade starts from: `[upgrade] base` or the newest release before head.
    pub fn upgrade_base(&self) -> Result<Rev> {
        let base = &self.recipe.toml.upgrade.base;
        if base != "previous" {
            return Ok(Rev::Release(base.clone()));
        }
        match self.source.previous_release()? {
            Some(tag) => Ok(Rev::Release(tag)),
            None => Err(HarnessError::Recipe {
                path: self.recipe.path.clone(),
                key: "upgrade.base".into(),
                message: format!("{} has no published release before the head to upgrade from", self.name()),
            }),
        }
    }

    /// A suite from parts (the harness's own tests use fixtures outside `testbed/recipes`).
    pub fn from_parts(recipe: Recipe, run: Arc<Run>, source: RecipeSource) -> Suite {
        Suite { recipe, run, source }
    }

    /// The spec of this recipe at `rev`, with its dependencies deployed and handed over.
    async fn spec(&self, purpose: &str, rev: Rev) -> Result<AppSpec> {
        let mut spec = AppSpec::new(self.name(), self.source.clone(), rev, purpose);
        if !self.recipe.dependencies().is_empty() {
            let tag = crate::deploy::name_tag(self.run.id());
            let (domain, _) = crate::deploy::names(self.name(), purpose, &tag, &self.run.config.domain_suffix);
            let resolved = crate::resolve::resolve(&self.run, &self.recipe, &domain).await?;
            spec.env.extend(resolved.env);
            spec.secrets.extend(resolved.secrets);
            spec.sso = resolved.sso;
        }
        Ok(spec)
    }

    /// The version the head declares (`coop-cloud.${STACK_NAME}.version` in its compose.yml).
    pub fn head_version(&self) -> Result<String> {
        crate::deploy::stack::declared_version(&self.source.repo, self.name())?.ok_or_else(|| HarnessError::Recipe {
            path: self.source.repo.join("compose.yml"),
            key: "coop-cloud.${STACK_NAME}.version".into(),
            message: "the head declares no version label".into(),
        })
    }

    /// The upgrade test's starting point: its own deployment of [`Suite::upgrade_base`], and
    /// that release's version.
    pub async fn deploy_upgrade_base(&self) -> Result<(Deployment, String)> {
        let base = self.upgrade_base()?;
        let version = match &base {
            Rev::Release(version) => version.clone(),
            Rev::Head => unreachable!("upgrade bases are releases"),
        };
        Ok((self.deploy("upgrade", base).await?, version))
    }

    /// A deployment of its own (for tests that mutate data), at `rev`.
    pub async fn deploy(&self, purpose: &str, rev: Rev) -> Result<Deployment> {
        Deployment::deploy(&self.run, self.spec(purpose, rev).await?).await
    }

    /// The run's shared deployment of the head (deployed by the first caller of the run).
    pub async fn shared(&self) -> Result<Deployment> {
        let spec = self.spec("shared", Rev::Head);
        shared_deployment_with(&self.run, self.name(), self.source.clone(), spec).await
    }
}

/// The run's one deployment under `key`: the first caller (in any process of the run) deploys
/// `spec` and records it, every later caller attaches. The run's watcher removes it.
pub async fn shared_deployment(run: &Arc<Run>, key: &str, source: RecipeSource, spec: AppSpec) -> Result<Deployment> {
    shared_deployment_with(run, key, source, async { Ok(spec) }).await
}

/// Like [`shared_deployment`], building the spec (which may deploy dependencies) only when
/// this caller is the one that deploys.
async fn shared_deployment_with(
    run: &Arc<Run>,
    key: &str,
    source: RecipeSource,
    spec: impl std::future::Future<Output = Result<AppSpec>>,
) -> Result<Deployment> {
    let dir = run.dir().join("shared");
    let lock_path = dir.join(format!("{key}.lock"));
    let record_path = dir.join(format!("{key}.app"));
    let failed_path = dir.join(format!("{key}.failed"));
    let _lock = FileLock::exclusive(&lock_path, run.config.timeouts.shared, "the shared deployment").await?;
    if let Ok(reason) = std::fs::read_to_string(&failed_path) {
        return Err(HarnessError::deploy(
            format!("shared deployment {key}"),
            anyhow::format_err!("it failed earlier in this run: {reason}"),
        ));
    }
    if let Ok(app_dir) = std::fs::read_to_string(&record_path) {
        let d = Deployment::attach(run, Path::new(app_dir.trim()), source)?;
        progress!("{}: attached to the shared deployment (run deploy count stays {})", d.stack(), deploy_count(run.dir()));
        return Ok(d);
    }
    let deployed = match spec.await {
        Ok(spec) => Deployment::deploy(run, spec).await,
        Err(e) => Err(e),
    };
    match deployed {
        Ok(mut d) => {
            d.hand_to_run();
            std::fs::write(&record_path, d.app_dir().display().to_string())
                .map_err(|e| HarnessError::infra("recording the shared deployment", e))?;
            Ok(d)
        }
        Err(e) => {
            let _ = std::fs::write(&failed_path, e.to_string());
            Err(e)
        }
    }
}
