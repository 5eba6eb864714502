//! `Suite`: the entry point of a recipe's test binary.
//!
//! ```ignore
//! let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
//! let app = suite.shared().await?;                       // non-mutating tests share this one
//! suite.scoped("backup", Rev::Head, async |app| { ... }).await?; // mutating tests own theirs
//! ```
//! The shared deployment is made once per run, whatever the process model (see `shared`).
//! Every deployment a suite makes has its dependencies deployed and handed over first
//! (`resolve`) and waits for the recipe's `[ready]` signal before a test sees it.

use std::{path::Path, sync::Arc};

use crate::{
    checkout::{RecipeSource, Rev},
    config::RunConfig,
    deploy::{
        Deployment,
        spec::{AppSpec, names, name_tag},
        stack::declared_version,
    },
    error::{HarnessError, Result},
    recipe::Recipe,
    run::Run,
    shared::shared_deployment_with,
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
    /// checkout (`CCCI_RECIPE_REPO`) when set, else the testbed fixture.
    pub async fn start(crate_dir: impl AsRef<Path>) -> Result<Suite> {
        crate::hook::anchor();
        let config = RunConfig::from_env()?;
        let recipe = Recipe::load(crate_dir.as_ref()).map_err(|e| once_per_run(&config, e))?;
        let source = match &config.recipe_repo {
            Some(repo) => RecipeSource::git_repo(recipe.name(), repo.clone()),
            None => RecipeSource::fixture(&config, recipe.fixture()).await?,
        };
        let platform = crate::testbed::platform(&config);
        let run = Run::start(config, platform).await?;
        run.set_slot_relief(Box::new(crate::shared::retire_idle));
        Ok(Suite { recipe, run, source })
    }

    /// A suite from parts (the harness's own tests use fixtures outside `testbed/recipes`).
    pub fn from_parts(recipe: Recipe, run: Arc<Run>, source: RecipeSource) -> Suite {
        Suite { recipe, run, source }
    }

    pub fn name(&self) -> &str {
        self.recipe.name()
    }

    /// The release an upgrade starts from: `[upgrade] base` or the newest release before head.
    pub fn upgrade_base(&self) -> Result<String> {
        let base = &self.recipe.toml.upgrade.base;
        if base != "previous" {
            return Ok(base.clone());
        }
        self.source.previous_release()?.ok_or_else(|| HarnessError::Recipe {
            path: self.recipe.path.clone(),
            key: "upgrade.base".into(),
            message: format!("{} has no published release before the head to upgrade from", self.name()),
        })
    }

    /// The version the head declares (`coop-cloud.${STACK_NAME}.version` in its compose.yml).
    pub fn head_version(&self) -> Result<String> {
        declared_version(&self.source.repo)?.ok_or_else(|| HarnessError::Recipe {
            path: self.source.repo.join("compose.yml"),
            key: "coop-cloud.${STACK_NAME}.version".into(),
            message: "the head declares no version label".into(),
        })
    }

    /// The spec of this recipe at `rev`, with its dependencies deployed and handed over.
    async fn spec(&self, purpose: &str, rev: Rev) -> Result<AppSpec> {
        let mut spec = AppSpec::new(self.name(), self.source.clone(), rev, purpose).with_ready(self.recipe.toml.ready.clone());
        let deps = self.recipe.dependencies();
        if deps.len() + 1 > self.run.config.max_tests {
            return Err(HarnessError::Config(format!(
                "{} needs {} deployments at once ({} and its dependencies {}), but MAX_TESTS={}",
                self.name(),
                deps.len() + 1,
                self.name(),
                deps.join(", "),
                self.run.config.max_tests
            )));
        }
        if !deps.is_empty() {
            let config = &self.run.config;
            let tag = name_tag(config.name_tag.as_deref(), self.run.id());
            let (domain, _) = names(self.name(), purpose, &tag, &config.domain_suffix);
            let resolved = crate::resolve::resolve(&self.run, &self.recipe, &domain).await?;
            spec.env.extend(resolved.env);
            spec.secrets.extend(resolved.secrets);
            spec.sso = resolved.sso;
            spec.uses = resolved.uses;
        }
        Ok(spec)
    }

    /// A deployment of its own (for tests that mutate data), at `rev`. Prefer
    /// [`Suite::scoped`], which always tears it down.
    pub async fn deploy(&self, purpose: &str, rev: Rev) -> Result<Deployment> {
        Deployment::deploy(&self.run, self.spec(purpose, rev).await?).await
    }

    /// [`Suite::scoped`] with secret values given rather than generated (restoring onto a
    /// fresh deployment with the original's secrets).
    pub async fn scoped_with_secrets<T>(
        &self,
        purpose: &str,
        rev: Rev,
        secrets: std::collections::BTreeMap<String, crate::secret::Secret>,
        body: impl AsyncFnOnce(&mut Deployment) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let mut spec = self.spec(purpose, rev).await?;
        for (name, value) in secrets {
            if !spec.secrets.iter().any(|(n, _)| *n == name) {
                spec.secrets.push((name, value));
            }
        }
        let app = Deployment::deploy(&self.run, spec).await?;
        scope(app, body).await
    }

    /// Deploys its own deployment at `rev`, runs `body` on it, and tears it down whatever
    /// happened. The body's error comes first; a teardown error is added to it, never put in
    /// its place (and is the result only when the body passed).
    pub async fn scoped<T>(&self, purpose: &str, rev: Rev, body: impl AsyncFnOnce(&mut Deployment) -> anyhow::Result<T>) -> anyhow::Result<T> {
        let app = self.deploy(purpose, rev).await?;
        scope(app, body).await
    }

    /// The identity provider `app` logs in through (`[sso] provider`), and the realm of
    /// `app`'s client there: for tests that make users who then log in to the app.
    pub fn sso_provider(&self, app: &Deployment) -> Result<(Box<dyn crate::providers::IdentityProvider>, String)> {
        crate::resolve::sso_provider(&self.run, &self.recipe, app)
    }

    /// The run's deployment of the dependency `name` (`requires`, `test_requires` or the
    /// `[sso] provider`), deployed before `app`: for tests that drive the dependency itself
    /// (e.g. push to the forge a CI server builds from).
    pub fn dependency(&self, _app: &Deployment, name: &str) -> Result<Deployment> {
        crate::resolve::dependency(&self.run, &self.recipe, name)
    }

    /// The run's shared deployment of the head (deployed by the first caller of the run).
    pub async fn shared(&self) -> Result<Deployment> {
        let spec = self.spec("shared", Rev::Head);
        shared_deployment_with(&self.run, self.name(), self.source.clone(), spec).await
    }
}

/// A broken `recipe.toml` fails every test of the run; the first says why in full, the
/// others in one line pointing at it, instead of the same report once per test.
fn once_per_run(config: &RunConfig, e: HarnessError) -> HarnessError {
    let HarnessError::Recipe { path, .. } = &e else { return e };
    let marks = config.state_dir.join("recipe-errors");
    let file = path.display().to_string();
    let key = hex::encode(&<sha2::Sha256 as sha2::Digest>::digest(format!("{}:{file}", config.run_id))[..8]);
    let first = std::fs::create_dir_all(&marks).is_ok()
        && std::fs::OpenOptions::new().write(true).create_new(true).open(marks.join(key)).is_ok();
    if first {
        e
    } else {
        let short = file.split(':').next().unwrap_or(&file).to_owned();
        HarnessError::Recipe { path: short.into(), key: "(file)".into(), message: "invalid; the first failing test of this run says why".into() }
    }
}

/// Runs `body` on `app` and tears it down whatever happened; see [`Suite::scoped`].
async fn scope<T>(mut app: Deployment, body: impl AsyncFnOnce(&mut Deployment) -> anyhow::Result<T>) -> anyhow::Result<T> {
        let result = body(&mut app).await;
        if result.is_err() {
            app.mark_failed();
        }
        let stack = app.stack().to_owned();
        let torn = app.teardown().await;
        match (result, torn) {
            (Ok(value), Ok(())) => Ok(value),
            (Ok(_), Err(e)) => Err(anyhow::Error::new(e).context(format!("tearing down {stack} after the test passed"))),
            (Err(e), Ok(())) => Err(e),
            (Err(e), Err(t)) => Err(e.context(format!("(and tearing down {stack} failed too: {t})"))),
        }
    }
