//! The run's shared deployments: one per key (a recipe's head, a dependency), made by the
//! first caller in any process of the run and attached to by every other.
//!
//! The first caller takes `<run>/shared/<key>.lock`, deploys and records the deployment;
//! later callers, in this process (`cargo test`) or another (`cargo nextest run`), attach to
//! the record. A failed deploy is recorded too, so the rest of the run fails fast with its
//! reason instead of deploying again. The run's watcher removes shared deployments.
//!
//! Every handle on a shared deployment holds a shared lock on `<key>.users` while it lives,
//! and so does every deployment that depends on it (`<key>.deps` names the shared
//! dependencies of a shared deployment, which live as long as it does). When the run needs a
//! MAX_TESTS slot and none is free, [`retire_idle`] removes a shared deployment of the run
//! that nobody uses and frees its slot; the next test that asks for it deploys it again.

use std::{path::Path, sync::Arc};

use futures_util::future::BoxFuture;

use crate::{
    checkout::RecipeSource,
    deploy::{Deployment, spec::AppSpec},
    error::{HarnessError, Result},
    lock::FileLock,
    progress,
    run::{Run, deploy_count},
};

/// The run's one deployment under `key`: the first caller (in any process of the run) deploys
/// `spec` and records it, every later caller attaches. The run's watcher removes it.
pub(crate) async fn shared_deployment(run: &Arc<Run>, key: &str, source: RecipeSource, spec: AppSpec) -> Result<Deployment> {
    shared_deployment_with(run, key, source, async { Ok(spec) }).await
}

/// Like [`shared_deployment`], building the spec (which may deploy dependencies) only when
/// this caller is the one that deploys.
pub(crate) async fn shared_deployment_with(
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
    let users = use_lease(run, key).await?;
    if let Ok(app_dir) = std::fs::read_to_string(&record_path) {
        let mut d = Deployment::attach(run, Path::new(app_dir.trim()), source)?;
        d.hold(users);
        progress!("{}: attached to the shared deployment (run deploy count stays {})", d.stack(), deploy_count(run.dir()));
        return Ok(d);
    }
    let mut deps = vec![];
    let deployed = match spec.await {
        Ok(spec) => {
            deps = spec.uses.iter().filter_map(|l| l.path().file_stem()?.to_str().map(str::to_owned)).collect();
            Deployment::deploy(run, spec).await
        }
        Err(e) => Err(e),
    };
    match deployed {
        Ok(mut d) => {
            d.hand_to_run();
            d.hold(users);
            std::fs::write(dir.join(format!("{key}.deps")), deps.join("\n"))
                .map_err(|e| HarnessError::infra("recording the shared deployment's dependencies", e))?;
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

/// A shared lock on `<key>.users`: this process uses the shared deployment `key` while it
/// holds it. Waits (bounded) while a retirement holds the lock exclusively.
pub(crate) async fn use_lease(run: &Run, key: &str) -> Result<Arc<FileLock>> {
    let path = run.dir().join("shared").join(format!("{key}.users"));
    crate::poll::converge(&format!("a use of the shared deployment {key}"), run.config.timeouts.shared, run.config.timeouts.poll, || async {
        match FileLock::try_shared(&path) {
            Ok(Some(lock)) => Ok(Arc::new(lock)),
            Ok(None) => Err("being retired".into()),
            Err(e) => Err(e.to_string()),
        }
    })
    .await
}

/// Removes one shared deployment of the run that no handle uses and no other shared
/// deployment depends on, freeing its MAX_TESTS slot; false when there is none.
pub(crate) fn retire_idle(run: Arc<Run>) -> BoxFuture<'static, Result<bool>> {
    Box::pin(async move {
        let dir = run.dir().join("shared");
        let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(false) };
        let keys: Vec<String> = entries.flatten().filter_map(|e| e.file_name().to_str()?.strip_suffix(".app").map(str::to_owned)).collect();
        let needed: Vec<String> = keys
            .iter()
            .flat_map(|k| std::fs::read_to_string(dir.join(format!("{k}.deps"))).unwrap_or_default().lines().map(str::to_owned).collect::<Vec<_>>())
            .collect();
        for key in keys.iter().filter(|k| !needed.iter().any(|n| n.strip_suffix(".users").unwrap_or(n) == k.as_str())) {
            // Nobody may attach while we look (the deploy/attach lock), nor use it (users).
            let Ok(Some(_guard)) = FileLock::try_exclusive(&dir.join(format!("{key}.lock"))) else { continue };
            let Ok(Some(_idle)) = FileLock::try_exclusive(&dir.join(format!("{key}.users"))) else { continue };
            let record = dir.join(format!("{key}.app"));
            let Ok(app_dir) = std::fs::read_to_string(&record) else { continue };
            let source = RecipeSource::git_repo(key.clone(), Path::new(app_dir.trim()).to_path_buf());
            let d = Deployment::attach(&run, Path::new(app_dir.trim()), source)?;
            d.retire().await?;
            std::fs::remove_file(&record).map_err(|e| HarnessError::infra(format!("removing {}", record.display()), e))?;
            return Ok(true);
        }
        Ok(false)
    })
}
