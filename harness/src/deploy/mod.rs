//! `Deployment`: one app of one recipe on the Swarm, from deploy to teardown.
//!
//! A deployment is named for its run (`<recipe>-<purpose>-<tag>.<domain suffix>`, stack =
//! domain with `.` -> `_`), holds a MAX_TESTS slot while it exists, and is driven by a
//! [`Driver`]: the stack driver (`docker stack deploy` of a recipe checkout, used by the
//! offline testbed) or the abra driver (the real `abra` CLI on a cc-ci host).
//! Everything it creates carries the run label or is recorded in the run before creation.

pub mod abra;
pub mod stack;

use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
    sync::Arc,
};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{
    checkout::{RecipeSource, Rev},
    config::DriverKind,
    envfile::EnvFile,
    error::{HarnessError, Result},
    http::AppClient,
    progress,
    run::{Run, write_json},
    secret::Secret,
    slots::SlotLease,
    swarm::ExecOutput,
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
}

/// What the harness provisioned at an SSO provider for an app (the client secret lives with
/// the app's other secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SsoGrant {
    pub provider_domain: String,
    pub realm: String,
    pub issuer: String,
    pub client_id: String,
    /// The app's secret holding the client secret.
    pub client_secret_name: String,
}

impl AppSpec {
    pub fn new(recipe: &str, source: RecipeSource, rev: Rev, purpose: &str) -> AppSpec {
        AppSpec { recipe: recipe.into(), source, rev, purpose: purpose.into(), env: vec![], secrets: vec![], sso: None }
    }

    pub fn with_env(mut self, key: &str, value: impl Into<String>) -> AppSpec {
        self.env.push((key.into(), value.into()));
        self
    }
}

/// What other processes of the run need to attach to a deployment (secrets live apart, 0600).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeploymentRecord {
    pub recipe: String,
    pub domain: String,
    pub stack: String,
    pub version: String,
    pub rev: Option<String>,
    pub app_dir: PathBuf,
    pub purpose: String,
    #[serde(default)]
    pub sso: Option<SsoGrant>,
    /// When the harness saw the stack converge (unix milliseconds), for reports and benchmarks.
    #[serde(default)]
    pub converged_at_ms: u64,
}

/// How deployments reach the Swarm.
#[derive(Debug, Clone)]
pub enum Driver {
    Stack,
    Abra(abra::Abra),
}

/// A live deployment.
pub struct Deployment {
    run: Arc<Run>,
    record: DeploymentRecord,
    source: RecipeSource,
    env: EnvFile,
    secrets: BTreeMap<String, Secret>,
    driver: Driver,
    slot: Option<SlotLease>,
    /// Attached to another process's deployment: teardown belongs to the run's watcher.
    attached: bool,
    torn_down: bool,
}

impl std::fmt::Debug for Deployment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deployment").field("stack", &self.record.stack).field("version", &self.record.version).finish()
    }
}

/// Names are short: Swarm objects are limited to 64 characters and abra truncates stacks.
pub fn names(recipe: &str, purpose: &str, tag: &str, suffix: &str) -> (String, String) {
    let purpose: String = purpose.chars().take(3).collect();
    let mut prefix = format!("{recipe}-{purpose}-{tag}");
    prefix.truncate(40);
    let prefix = prefix.trim_end_matches('-').to_owned();
    let domain = format!("{prefix}.{suffix}");
    let stack = domain.replace('.', "_");
    (domain, stack)
}

/// The name tag of a run: `CCCI_NAME_TAG` (e.g. `pr12-abc1234` from xtask testme) or a short
/// hash of the run id.
pub fn name_tag(run_id: &str) -> String {
    if let Ok(tag) = std::env::var("CCCI_NAME_TAG")
        && !tag.is_empty()
    {
        return tag;
    }
    hex::encode(&Sha256::digest(run_id.as_bytes())[..3])
}

impl Deployment {
    /// Deploys `spec` and waits until it converges.
    pub async fn deploy(run: &Arc<Run>, spec: AppSpec) -> Result<Deployment> {
        let config = &run.config;
        let (domain, stack) = names(&spec.recipe, &spec.purpose, &name_tag(run.id()), &config.domain_suffix);
        let slot = SlotLease::acquire(config, &stack).await?;
        run.record("stack", &stack)?;
        run.count_deploy(&stack, &spec.purpose).await?;
        let app_dir = run.dir().join("apps").join(&stack);
        let driver = match config.driver {
            DriverKind::Stack => Driver::Stack,
            DriverKind::Abra => Driver::Abra(abra::Abra::new(config, run.dir())),
        };
        let mut deployment = Deployment {
            run: run.clone(),
            record: DeploymentRecord {
                recipe: spec.recipe.clone(),
                domain,
                stack,
                version: String::new(),
                rev: None,
                app_dir,
                purpose: spec.purpose.clone(),
                sso: spec.sso.clone(),
                converged_at_ms: 0,
            },
            source: spec.source.clone(),
            env: EnvFile::default(),
            secrets: spec.secrets.iter().cloned().collect(),
            driver,
            slot: Some(slot),
            attached: false,
            torn_down: false,
        };
        let result = deployment.deploy_rev(&spec.rev, &spec.env).await;
        match result {
            Ok(()) => Ok(deployment),
            Err(e) => {
                // Nothing is left deployed after a failed deploy (unless kept for debugging).
                deployment.fail_cleanup().await;
                Err(e)
            }
        }
    }

    async fn deploy_rev(&mut self, rev: &Rev, overrides: &[(String, String)]) -> Result<()> {
        let started = std::time::Instant::now();
        progress!("{}: deploying {} {}", self.record.stack, self.record.recipe, rev_label(rev));
        let checkout = self.record.app_dir.join(format!("recipe-{}", rev_dir(rev)));
        if !checkout.exists() {
            self.source.export(rev, &checkout)?;
        }
        let version = match rev {
            Rev::Release(tag) => tag.clone(),
            Rev::Head => stack::declared_version(&checkout, &self.record.recipe)?
                .map(|v| format!("{v}+chaos-{}", self.source.head_sha().unwrap_or_default()))
                .unwrap_or_else(|| format!("chaos-{}", self.source.head_sha().unwrap_or_default())),
        };
        if self.env.vars().is_empty() {
            self.env = stack::initial_env(&checkout, &self.record, &self.run.config.domain_suffix)?;
        }
        self.env.set("TYPE", format!("{}:{}", self.record.recipe, version));
        for (k, v) in overrides {
            self.env.set(k, v.clone());
        }
        self.record.version = version;
        self.record.rev = Some(rev_label(rev));
        let driver = self.driver.clone();
        match driver {
            Driver::Stack => stack::deploy(self, &checkout).await?,
            Driver::Abra(abra) => abra.deploy_app(self, rev).await?,
        }
        self.save()?;
        if self.run.config.testbed_ingress {
            crate::ingress::register(&self.run.swarm, &self.run.config, &self.record.stack).await?;
        }
        let labels = self.labels("app").await.unwrap_or_default();
        let timeout = stack::timeout_label(&labels, &self.record.stack).unwrap_or(self.run.config.timeouts.converge);
        self.run.swarm.wait_converged(&self.record.stack, timeout, self.run.config.timeouts.poll).await?;
        self.record.converged_at_ms = crate::run::now_unix_ms();
        self.save()?;
        self.wait_routed().await?;
        progress!("{}: {} serving after {:.1}s", self.record.stack, self.record.version, started.elapsed().as_secs_f64());
        Ok(())
    }

    /// Waits until `https://<domain>/` reaches the app rather than the proxy (its fallback
    /// page or a gateway error), if the app asks to be routed at all.
    async fn wait_routed(&self) -> Result<()> {
        let labels = self.labels("app").await.unwrap_or_default();
        if crate::ingress::route_from_labels(&labels).is_none() {
            return Ok(());
        }
        let http = self.http()?;
        let t = &self.run.config.timeouts;
        crate::http::converge(&format!("{} to be routed to the app", http.url("/")), t.ready, t.poll, || async {
            let resp = http.get("/").send().await.map_err(|e| format!("{e:#}"))?;
            let status = resp.status().as_u16();
            let body = resp.text().await.unwrap_or_default();
            if matches!(status, 502..=504) || body.contains(crate::ingress::FALLBACK_MARKER) {
                Err(format!("proxy answered {status}: {}", body.trim().chars().take(80).collect::<String>()))
            } else {
                Ok(())
            }
        })
        .await
    }

    /// Moves the deployment to `rev` in place (an upgrade keeps domain, env, secrets, volumes).
    pub async fn upgrade(&mut self, rev: Rev) -> Result<()> {
        let from = self.record.version.clone();
        self.deploy_rev(&rev, &[]).await?;
        progress!("{}: upgraded {from} -> {}", self.record.stack, self.record.version);
        Ok(())
    }

    /// Removes the stack and waits until no task of it remains; volumes and secrets stay.
    pub async fn undeploy(&self) -> Result<()> {
        let t = &self.run.config.timeouts;
        let swarm = &self.run.swarm;
        stack::stack_rm(&self.record.stack)?;
        crate::http::converge(&format!("{} to be removed", self.record.stack), t.teardown, t.poll, || async {
            let services = swarm.stack_services(&self.record.stack).await.map_err(|e| e.to_string())?;
            let left = swarm
                .find(&format!("{}={}", crate::swarm::STACK_LABEL, self.record.stack))
                .await
                .map_err(|e| e.to_string())?
                .into_iter()
                .filter(|(kind, _, _)| matches!(*kind, "container" | "network" | "service"))
                .count();
            if services.is_empty() && left == 0 { Ok(()) } else { Err(format!("{} services, {left} containers/networks left", services.len())) }
        })
        .await
    }

    /// Destroys the app's data: undeploys, then removes every volume of the stack.
    pub async fn wipe(&self) -> Result<Vec<String>> {
        self.undeploy().await?;
        let volumes = self.run.swarm.stack_volumes(&self.record.stack).await?;
        for volume in &volumes {
            self.run
                .swarm
                .docker()
                .remove_volume(volume, None::<bollard::query_parameters::RemoveVolumeOptions>)
                .await
                .map_err(|e| HarnessError::infra(format!("removing volume {volume}"), e))?;
        }
        progress!("{}: wiped (removed volumes {})", self.record.stack, volumes.join(", "));
        Ok(volumes)
    }

    /// Deploys the current version again (after [`Deployment::wipe`]: onto empty volumes).
    pub async fn redeploy(&mut self) -> Result<()> {
        let rev = match self.record.rev.as_deref() {
            Some("head") | None => Rev::Head,
            Some(tag) => Rev::Release(tag.to_owned()),
        };
        self.deploy_rev(&rev, &[]).await
    }

    pub fn domain(&self) -> &str {
        &self.record.domain
    }

    pub fn stack(&self) -> &str {
        &self.record.stack
    }

    pub fn recipe(&self) -> &str {
        &self.record.recipe
    }

    /// The version the harness deployed (`1.0.0+1.22.1`, or `<declared>+chaos-<sha>` for head).
    pub fn version(&self) -> &str {
        &self.record.version
    }

    /// When the harness last saw the stack converge (unix milliseconds).
    pub fn converged_at_ms(&self) -> u64 {
        self.record.converged_at_ms
    }

    pub fn run(&self) -> &Arc<Run> {
        &self.run
    }

    /// The app's effective `.env`.
    pub fn env(&self) -> &EnvFile {
        &self.env
    }

    /// The OIDC client provisioned for this app at its SSO provider.
    pub fn sso(&self) -> Option<&SsoGrant> {
        self.record.sso.as_ref()
    }

    /// A generated secret, by its compose name (`db_password`).
    pub fn secret(&self, name: &str) -> Option<&Secret> {
        self.secrets.get(name)
    }

    /// `<stack>_<service>`.
    pub fn service(&self, service: &str) -> String {
        format!("{}_{service}", self.record.stack)
    }

    /// An HTTPS client for the app, through the proxy.
    pub fn http(&self) -> Result<AppClient> {
        AppClient::new(&self.record.domain, self.run.config.ingress, &crate::testbed::ca_cert_path(&self.run.config))
    }

    /// Runs a command in a running container of `service`.
    pub async fn exec(&self, service: &str, cmd: &[&str]) -> Result<ExecOutput> {
        let container = self.run.swarm.running_container(&self.service(service)).await?;
        self.run.swarm.exec(&container, cmd).await
    }

    /// Runs a command in `service` with `input` on its stdin, failing unless it exits 0.
    pub async fn exec_input_ok(&self, service: &str, cmd: &[&str], input: &[u8]) -> Result<ExecOutput> {
        let container = self.run.swarm.running_container(&self.service(service)).await?;
        let out = self.run.swarm.exec_with_input(&container, cmd, Some(input)).await?;
        self.check_exit(service, cmd, out)
    }

    /// Like [`Deployment::exec`], failing unless the command exits 0.
    pub async fn exec_ok(&self, service: &str, cmd: &[&str]) -> Result<ExecOutput> {
        let out = self.exec(service, cmd).await?;
        self.check_exit(service, cmd, out)
    }

    fn check_exit(&self, service: &str, cmd: &[&str], out: ExecOutput) -> Result<ExecOutput> {
        if out.exit_code != 0 {
            return Err(HarnessError::deploy(
                format!("{} in {}", cmd.join(" "), self.service(service)),
                anyhow::format_err!("exit {}: {}", out.exit_code, String::from_utf8_lossy(&out.stderr).trim()),
            ));
        }
        Ok(out)
    }

    /// Restarts a service's tasks (`docker service update --force`) and waits until the stack
    /// converges and the app is routed again: for apps that cache what a restore replaced.
    pub async fn restart_service(&self, service: &str) -> Result<()> {
        let name = self.service(service);
        let before = self.run.swarm.running_container(&name).await?;
        let out = tokio::process::Command::new("docker")
            .args(["service", "update", "--force", "--detach=true", &name])
            .output()
            .await
            .map_err(|e| HarnessError::infra("running docker service update", e))?;
        if !out.status.success() {
            return Err(HarnessError::infra(
                format!("restarting {name}"),
                anyhow::format_err!("{}", String::from_utf8_lossy(&out.stderr).trim()),
            ));
        }
        let t = &self.run.config.timeouts;
        // The old task satisfies "converged" until the update replaces it: wait for a new one.
        let swarm = &self.run.swarm;
        crate::http::converge(&format!("{name} to be replaced"), t.converge, t.poll, || async {
            match swarm.running_container(&name).await {
                Ok(id) if id != before => Ok(()),
                Ok(_) => Err("the old task still runs".to_owned()),
                Err(e) => Err(e.to_string()),
            }
        })
        .await?;
        swarm.wait_converged(&self.record.stack, t.converge, t.poll).await?;
        self.wait_routed().await?;
        progress!("{}: restarted {service}", self.record.stack);
        Ok(())
    }

    /// Deploy labels of a service (e.g. `coop-cloud.<stack>.version`).
    pub async fn labels(&self, service: &str) -> Result<HashMap<String, String>> {
        self.run.swarm.service_labels(&self.service(service)).await
    }

    /// The recipe version the running `app` service declares (`coop-cloud.<stack>.version`).
    pub async fn running_version(&self) -> Result<Option<String>> {
        let key = format!("coop-cloud.{}.version", self.record.stack);
        Ok(self.labels("app").await?.get(&key).cloned())
    }

    /// Writes the record (and secrets, 0600) so other processes of the run can attach.
    fn save(&self) -> Result<()> {
        std::fs::create_dir_all(&self.record.app_dir).map_err(|e| HarnessError::infra("creating app dir", e))?;
        write_json(&self.record.app_dir.join("deployment.json"), &self.record)?;
        std::fs::write(self.record.app_dir.join(".env"), self.env.render()).map_err(|e| HarnessError::infra("writing .env", e))?;
        let secrets_path = self.record.app_dir.join("secrets.json");
        write_json(&secrets_path, &self.secrets)?;
        use std::os::unix::fs::PermissionsExt as _;
        let _ = std::fs::set_permissions(&secrets_path, std::fs::Permissions::from_mode(0o600));
        Ok(())
    }

    /// Attaches to a deployment another process of this run made and recorded in `app_dir`.
    pub fn attach(run: &Arc<Run>, app_dir: &Path, source: RecipeSource) -> Result<Deployment> {
        let read = |name: &str| std::fs::read(app_dir.join(name)).map_err(|e| HarnessError::infra(format!("reading {name}"), e));
        let record: DeploymentRecord = serde_json::from_slice(&read("deployment.json")?).map_err(|e| HarnessError::infra("parsing deployment.json", e))?;
        let secrets = serde_json::from_slice(&read("secrets.json")?).map_err(|e| HarnessError::infra("parsing secrets.json", e))?;
        let env = EnvFile::parse(&String::from_utf8_lossy(&read(".env")?));
        let driver = match run.config.driver {
            DriverKind::Stack => Driver::Stack,
            DriverKind::Abra => Driver::Abra(abra::Abra::new(&run.config, run.dir())),
        };
        Ok(Deployment { run: run.clone(), record, source, env, secrets, driver, slot: None, attached: true, torn_down: false })
    }

    pub fn driver(&self) -> &Driver {
        &self.driver
    }

    /// Where the harness keeps this deployment's checkout, `.env` and records.
    pub fn app_dir(&self) -> &Path {
        &self.record.app_dir
    }

    /// Hands teardown to the run (its watcher): for the shared deployment, which outlives the
    /// test process that made it.
    pub(crate) fn hand_to_run(&mut self) {
        self.attached = true;
        self.slot = None;
    }

    pub(crate) fn secrets_mut(&mut self) -> &mut BTreeMap<String, Secret> {
        &mut self.secrets
    }

    pub(crate) fn record(&self) -> &DeploymentRecord {
        &self.record
    }

    /// Removes the stack, its volumes, secrets and configs, and frees the slot.
    pub async fn teardown(mut self) -> Result<()> {
        self.teardown_inner().await
    }

    async fn teardown_inner(&mut self) -> Result<()> {
        if self.torn_down || self.attached {
            return Ok(());
        }
        self.torn_down = true;
        let result = self.remove_resources().await;
        // The slot goes back whatever happened: a leftover is the watcher's and janitor's job,
        // a held slot would stall every other deployment on the host.
        let released = self.slot.take().map(SlotLease::release).transpose();
        let (removed, secrets) = result?;
        released?;
        progress!("{}: torn down ({removed}, {secrets} run secrets)", self.record.stack);
        Ok(())
    }

    async fn remove_resources(&self) -> Result<(crate::swarm::Removed, usize)> {
        let t = &self.run.config.timeouts;
        if self.run.config.testbed_ingress {
            crate::ingress::unregister(&self.run.swarm, &self.run.config, &self.record.stack).await?;
        }
        let label = format!("{}={}", crate::swarm::STACK_LABEL, self.record.stack);
        let removed = self.run.swarm.remove_labelled(&label, t.teardown, t.poll).await?;
        // Secrets are not namespaced by `docker stack`; they carry the run label and the stack's name.
        let mut secrets = 0;
        for (kind, name, _) in self.run.swarm.find(&format!("{}={}", crate::swarm::RUN_LABEL, self.run.id())).await? {
            if kind == "secret" && name.starts_with(&format!("{}_", self.record.stack)) {
                let _ = self.run.swarm.docker().delete_secret(&name).await;
                secrets += 1;
            }
        }
        if let Driver::Abra(abra) = &self.driver {
            abra.forget(&self.record.domain);
        }
        Ok((removed, secrets))
    }

    /// After a failed deploy: keep it for debugging if asked, otherwise remove it.
    async fn fail_cleanup(&mut self) {
        let _ = std::fs::write(self.run.dir().join("failed"), "");
        if self.run.config.keep_on_failure {
            progress!("{}: deploy failed; kept (CCCI_KEEP=1). Remove with `cargo xtask janitor --run {} --force`", self.record.stack, self.run.id());
            self.torn_down = true;
            return;
        }
        if let Err(e) = self.teardown_inner().await {
            progress!("{}: cleanup after failed deploy failed ({e}); the run watcher will retry", self.record.stack);
        }
    }

    /// Marks the run failed (for CCCI_KEEP) without tearing down.
    pub fn mark_failed(&self) {
        let _ = std::fs::write(self.run.dir().join("failed"), "");
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        if self.torn_down || self.attached {
            return;
        }
        // Best effort, layer 1b: a test that panicked (or forgot teardown) still cleans up when
        // a multi-thread runtime is around; otherwise the run's watcher does it at run end.
        if std::thread::panicking() {
            self.mark_failed();
            if self.run.config.keep_on_failure {
                return;
            }
        }
        if let Ok(handle) = tokio::runtime::Handle::try_current()
            && handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread
        {
            tokio::task::block_in_place(|| {
                let _ = handle.block_on(self.teardown_inner());
            });
        } else {
            progress!("{}: dropped without teardown; the run watcher removes it when the run ends", self.record.stack);
        }
    }
}

fn rev_label(rev: &Rev) -> String {
    match rev {
        Rev::Head => "head".into(),
        Rev::Release(tag) => tag.clone(),
    }
}

fn rev_dir(rev: &Rev) -> String {
    rev_label(rev).replace('+', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_short_and_stack_safe() {
        let (domain, stack) = names("custom-html", "shared", "a1b2c3", "ccci.test");
        assert_eq!(domain, "custom-html-sha-a1b2c3.ccci.test");
        assert_eq!(stack, "custom-html-sha-a1b2c3_ccci_test");
        let (_, long) = names("a-very-long-recipe-name-indeed-longer", "upgrade", "pr1234-abcdef0", "ccci.test");
        assert!(long.len() <= 50, "{long}");
        assert!(!long.contains('.'));
    }
}
