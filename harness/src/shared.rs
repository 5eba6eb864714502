//! The run's shared deployments: one per key (a recipe's head, a dependency), made by the
//! first caller in any process of the run and attached to by every other.
//!
//! The first caller takes `<run>/shared/<key>.lock`, deploys and records the deployment;
//! later callers, in this process (`cargo test`) or another (`cargo nextest run`), attach to
//! the record. A failed deploy is recorded too, so the rest of the run fails fast with its
//! reason instead of deploying again. The run's watcher removes shared deployments.

use std::{path::Path, sync::Arc};

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
