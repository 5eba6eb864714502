//! `Deployment`: one app of one recipe on the Swarm, from deploy to teardown.
//!
//! A deployment is named for its run (`<recipe>-<purpose>-<tag>.<domain suffix>`, stack =
//! domain with `.` -> `_`), holds a MAX_TESTS slot while it exists, and is driven by a
//! [`Driver`]: the stack driver (`docker stack deploy` of a recipe checkout, used by the
//! offline testbed) or the abra driver (the real `abra` CLI on a cc-ci host).
//! Everything it creates carries the run label or is recorded in the run before creation.

pub(crate) mod abra;
mod ready;
pub(crate) mod spec;
pub(crate) mod stack;

use std::{
    collections::{BTreeMap, HashMap},
    path::Path,
    sync::Arc,
};

use crate::{
    checkout::{RecipeSource, Rev},
    config::DriverKind,
    envfile::EnvFile,
    error::{HarnessError, Result},
    http::AppClient,
    poll::converge,
    progress,
    run::{Run, write_json},
    secret::Secret,
    slots::SlotLease,
    swarm::ExecOutput,
};
use spec::{AppSpec, DeploymentRecord, SsoGrant, names, name_tag, rev_dir, rev_label};

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
    /// Shared locks on the shared deployments this one uses (itself, when attached; its
    /// dependencies), so the run never retires them from under it.
    uses: Vec<Arc<crate::lock::FileLock>>,
    torn_down: bool,
}

impl std::fmt::Debug for Deployment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deployment").field("stack", &self.record.stack).field("version", &self.record.version).finish()
    }
}

impl Deployment {
    /// Deploys `spec` and waits until it converges.
    pub async fn deploy(run: &Arc<Run>, spec: AppSpec) -> Result<Deployment> {
        let config = &run.config;
        let (domain, stack) = names(&spec.recipe, &spec.purpose, &name_tag(config.name_tag.as_deref(), run.id()), &config.domain_suffix);
        let slot = SlotLease::acquire(run, &stack, matches!(spec.purpose.as_str(), "shared" | "dep"), !spec.uses.is_empty()).await?;
        run.record("stack", &stack)?;
        run.count_deploy(&stack, &spec.purpose).await?;
        let app_dir = run.dir().join("apps").join(&stack);
        let driver = match config.driver {
            DriverKind::Stack => Driver::Stack,
            DriverKind::Abra => {
                progress!("{stack}: the abra driver is experimental (deploy only; see ARCHITECTURE.md)");
                Driver::Abra(abra::Abra::new(config, run.dir()))
            }
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
                ready: spec.ready.clone(),
                converged_at_ms: 0,
                ready_at_ms: 0,
            },
            source: spec.source.clone(),
            env: EnvFile::default(),
            secrets: spec.secrets.iter().cloned().collect(),
            driver,
            slot: Some(slot),
            attached: false,
            uses: spec.uses.clone(),
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
            Rev::Head => stack::declared_version(&checkout)?
                .map(|v| format!("{v}+chaos-{}", self.source.head_sha().unwrap_or_default()))
                .unwrap_or_else(|| format!("chaos-{}", self.source.head_sha().unwrap_or_default())),
        };
        if self.env.vars().is_empty() {
            self.env = stack::initial_env(&checkout, &self.record.domain)?;
        }
        self.env.set("TYPE", format!("{}:{}", self.record.recipe, version));
        for (k, v) in overrides {
            self.env.set(k, v.clone());
        }
        self.record.version = version;
        self.record.rev = Some(rev_label(rev));
        match self.driver.clone() {
            Driver::Stack => {
                let access = self.container_access().await?;
                stack::deploy(stack::StackDeploy {
                    docker: self.run.swarm.docker(),
                    stack: &self.record.stack,
                    run_id: &self.run.config.run_id,
                    env: &self.env,
                    secrets: &mut self.secrets,
                    checkout: &checkout,
                    access,
                    cli_env: &self.run.config.docker_cli_env,
                })
                .await?
            }
            Driver::Abra(abra) => {
                let app = abra::AbraApp {
                    run: &self.run,
                    domain: &self.record.domain,
                    recipe: &self.record.recipe,
                    repo: &self.source.repo,
                    env: &self.env,
                    secrets: &self.secrets,
                };
                abra.deploy_app(app, rev).await?
            }
        }
        self.save()?;
        self.route().await?;
        let labels = self.labels("app").await.unwrap_or_default();
        let timeout = stack::timeout_label(&labels, &self.record.stack).unwrap_or(self.run.config.timeouts.converge);
        self.run.swarm.wait_converged(&self.record.stack, timeout, self.run.config.timeouts.poll).await?;
        // A failed update that Swarm rolled back converges too, on the old spec: that is a
        // failed deploy, not a converged one.
        let rolled_back = self.run.swarm.rollbacks(&self.record.stack).await?;
        if !rolled_back.is_empty() {
            let what = rolled_back.iter().map(|(service, why)| format!("{service}: {why}")).collect::<Vec<_>>().join("; ");
            return Err(HarnessError::deploy(
                format!("deploying {} {} onto {}", self.record.recipe, rev_label(rev), self.record.stack),
                anyhow::format_err!("Swarm rolled the update back ({what})\n{}", self.run.swarm.diagnostics(&self.record.stack).await),
            ));
        }
        self.record.converged_at_ms = crate::poll::now_unix_ms();
        self.wait_ready().await?;
        self.record.ready_at_ms = crate::poll::now_unix_ms();
        self.save()?;
        progress!("{}: {} ready after {:.1}s", self.record.stack, self.record.version, started.elapsed().as_secs_f64());
        Ok(())
    }

    /// Registers the stack with the proxy, first waiting, as for a slot, for any entrypoint it
    /// asks for that the platform gives to one stack at a time (the testbed's TCP/UDP
    /// entrypoints). Held by a stack of this run, the run retires an idle shared deployment
    /// each round (it may be the holder: the next test that needs it deploys it again); held by
    /// another run's, it waits for that run to tear it down.
    async fn route(&self) -> Result<()> {
        let (proxy, swarm, stack, t) = (&self.run.platform.proxy, &self.run.swarm, &self.record.stack, &self.run.config.timeouts);
        let waiting = std::sync::atomic::AtomicBool::new(false);
        let start = std::time::Instant::now();
        crate::poll::poll(&format!("{stack}: the proxy's entrypoints"), t.slot, t.poll * 4, || async {
            let holder = match proxy.entrypoint_holder(swarm, stack).await {
                Ok(holder) => holder,
                Err(e) => return crate::poll::Step::Fail(e),
            };
            if let Some(holder) = holder {
                if !waiting.swap(true, std::sync::atomic::Ordering::Relaxed) {
                    progress!("{stack}: {holder} holds a TCP/UDP entrypoint it asks for, which serves one stack at a time; waiting");
                }
                if self.run.dir().join("apps").join(&holder).is_dir()
                    && let Err(e) = self.run.relieve_slots().await
                {
                    return crate::poll::Step::Fail(e);
                }
                return crate::poll::Step::Pending(format!("held by {holder}"));
            }
            match proxy.register(swarm, stack).await {
                Ok(()) => crate::poll::Step::Done(()),
                // Claimed by another deploy between the look and the registration: wait again.
                Err(_) if matches!(proxy.entrypoint_holder(swarm, stack).await, Ok(Some(_))) => crate::poll::Step::Pending("claimed meanwhile".into()),
                Err(e) => crate::poll::Step::Fail(e),
            }
        })
        .await?;
        if waiting.into_inner() {
            progress!("{stack}: got its entrypoints after {:.0}s", start.elapsed().as_secs_f64());
        }
        Ok(())
    }

    /// What the platform wants containers given to reach the run's domains (see
    /// [`Proxy::container_address`](crate::platform::Proxy::container_address)): every
    /// domain recorded in the run so far plus this one, and a CA bundle of the system roots
    /// and the platform CA.
    async fn container_access(&self) -> Result<Option<stack::ContainerAccess>> {
        let Some(address) = self.run.platform.proxy.container_address(&self.run.swarm).await? else { return Ok(None) };
        let mut hosts = vec![self.record.domain.clone()];
        if let Ok(apps) = std::fs::read_dir(self.run.dir().join("apps")) {
            for app in apps.flatten() {
                let record = std::fs::read(app.path().join("deployment.json")).ok().and_then(|b| serde_json::from_slice::<DeploymentRecord>(&b).ok());
                hosts.extend(record.map(|r| r.domain));
            }
        }
        hosts.sort();
        hosts.dedup();
        let ca_bundle = match &self.run.platform.ca_pem {
            Some(ca) => {
                let mut bundle = std::fs::read("/etc/ssl/certs/ca-certificates.crt").unwrap_or_default();
                bundle.extend(std::fs::read(ca).map_err(|e| HarnessError::infra(format!("reading {}", ca.display()), e))?);
                let path = self.record.app_dir.join("ca-bundle.pem");
                std::fs::create_dir_all(&self.record.app_dir).map_err(|e| HarnessError::infra("creating app dir", e))?;
                std::fs::write(&path, bundle).map_err(|e| HarnessError::infra("writing the CA bundle", e))?;
                Some(path)
            }
            None => None,
        };
        Ok(Some(stack::ContainerAccess { hosts, address, ca_bundle }))
    }

    /// Waits until the app serves: routed past the proxy, then its recipe's `[ready]` signal.
    async fn wait_ready(&self) -> Result<()> {
        let http = self.http()?;
        let probe = self.probe(&http);
        let t = &self.run.config.timeouts;
        if self.routed().await? {
            ready::wait_routed(&probe, t.ready, t.poll).await?;
        }
        if let Some(spec) = &self.record.ready {
            let start = std::time::Instant::now();
            ready::wait(&probe, spec, t.ready, t.poll).await?;
            progress!("{}: ready signal after {:.1}s more", self.record.stack, start.elapsed().as_secs_f64());
        }
        Ok(())
    }

    /// One readiness look without waiting (see `[ready]`): for benchmarks that poll it
    /// themselves.
    pub async fn is_ready(&self) -> Result<bool> {
        let http = self.http()?;
        let probe = self.probe(&http);
        Ok(ready::ready_now(&probe, self.routed().await?, self.record.ready.as_ref()).await)
    }

    /// `docker stack deploy` of the compose file the last deploy rendered, and the proxy told,
    /// with none of the harness's waiting: the bare floor a benchmark compares against.
    /// (Secrets the harness made stay in place across a wipe.)
    pub async fn bare_redeploy(&self) -> Result<()> {
        let rev = self.record.rev.as_deref().unwrap_or("head").replace('+', "_");
        let dir = self.record.app_dir.join(format!("recipe-{rev}"));
        stack::deploy_rendered(&dir, &self.record.stack, &self.run.config.docker_cli_env).await?;
        self.run.platform.proxy.register(&self.run.swarm, &self.record.stack).await
    }

    /// What a readiness probe of this deployment needs, reaching it through `http`.
    fn probe<'a>(&'a self, http: &'a AppClient) -> ready::Probe<'a> {
        ready::Probe {
            swarm: &self.run.swarm,
            http,
            proxy: self.run.platform.proxy.as_ref(),
            stack: &self.record.stack,
            domain: &self.record.domain,
        }
    }

    /// Whether any service of the stack asks the proxy for an HTTP route to the domain: what
    /// readiness then waits for. A TCP/UDP-only app (e.g. mumble) is routed too, but not by host.
    async fn routed(&self) -> Result<bool> {
        let services = self.run.swarm.stack_services(&self.record.stack).await?;
        Ok(services.iter().any(|s| s.spec.as_ref().and_then(|spec| spec.labels.as_ref()).is_some_and(http_routed)))
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
        converge(&format!("{} to be removed", self.record.stack), t.teardown, t.poll, || async {
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

    /// Destroys the app's data: removes every service, container and volume of the stack
    /// (networks, configs and the harness's secrets stay for the redeploy). Containers are
    /// removed, not stopped gracefully: what a graceful stop would flush is being destroyed,
    /// and waiting for it was most of a wipe's time. Returns the volumes removed.
    pub async fn wipe(&self) -> Result<Vec<String>> {
        let t = &self.run.config.timeouts;
        let label = format!("{}={}", crate::swarm::STACK_LABEL, self.record.stack);
        let removed = self.run.swarm.remove_labelled_keeping(&label, &["network", "config"], t.teardown, t.poll).await?;
        progress!("{}: wiped ({removed})", self.record.stack);
        Ok(removed.volumes)
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

    /// Every secret of the deployment, by compose name.
    pub fn secrets(&self) -> &BTreeMap<String, Secret> {
        &self.secrets
    }

    /// `<stack>_<service>`.
    pub fn service(&self, service: &str) -> String {
        format!("{}_{service}", self.record.stack)
    }

    /// An HTTPS client for the app, through the proxy.
    pub fn http(&self) -> Result<AppClient> {
        AppClient::new(&self.record.domain, self.run.platform.ingress, self.run.platform.ca_pem.as_deref())
    }

    /// `GET path` through the proxy, failing when the proxy rather than the app answered (no
    /// route, no backend): what install tests assert on instead of a bare status.
    pub async fn get(&self, path: &str) -> anyhow::Result<AppResponse> {
        // The reqwest error as the cause, not formatted into the message: its Display stops at
        // "error sending request", and the reason (refused, reset, TLS) is in its sources.
        let resp = self.http()?.get(path).send().await.map_err(|e| anyhow::Error::new(e).context(format!("GET https://{}{path}", self.record.domain)))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await?.to_vec();
        let text = String::from_utf8_lossy(&body);
        anyhow::ensure!(
            !self.run.platform.proxy.answered(status, &text),
            "GET https://{}{path}: the proxy ({}) answered {status}, not the app: {}",
            self.record.domain,
            self.run.platform.proxy.name(),
            text.trim().chars().take(120).collect::<String>()
        );
        Ok(AppResponse { status, headers, body })
    }

    /// The image the service's running task runs (`<stack>_<service>`).
    pub async fn running_image(&self, service: &str) -> Result<String> {
        self.run.swarm.running_image(&self.service(service)).await
    }

    /// service -> image, as the deployed (merged, interpolated) compose file declares them.
    pub fn declared_images(&self) -> Result<BTreeMap<String, String>> {
        let rev = self.record.rev.as_deref().unwrap_or("head").replace('+', "_");
        let path = self.record.app_dir.join(format!("recipe-{rev}")).join("compose.ccci-final.yml");
        let text = std::fs::read_to_string(&path).map_err(|e| HarnessError::infra(format!("reading {}", path.display()), e))?;
        let doc: serde_yaml::Value = serde_yaml::from_str(&text).map_err(|e| HarnessError::infra(format!("parsing {}", path.display()), e))?;
        let mut images = BTreeMap::new();
        if let Some(services) = doc.get("services").and_then(|s| s.as_mapping()) {
            for (name, service) in services {
                if let (Some(name), Some(image)) = (name.as_str(), service.get("image").and_then(|i| i.as_str())) {
                    images.insert(name.to_owned(), image.split('@').next().unwrap_or(image).to_owned());
                }
            }
        }
        Ok(images)
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
        converge(&format!("{name} to be replaced"), t.converge, t.poll, || async {
            match swarm.running_container(&name).await {
                Ok(id) if id != before => Ok(()),
                Ok(_) => Err("the old task still runs".to_owned()),
                Err(e) => Err(e.to_string()),
            }
        })
        .await?;
        swarm.wait_converged(&self.record.stack, t.converge, t.poll).await?;
        self.wait_ready().await?;
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

    /// Writes the record (and secrets, created 0600) so other processes of the run can attach.
    fn save(&self) -> Result<()> {
        std::fs::create_dir_all(&self.record.app_dir).map_err(|e| HarnessError::infra("creating app dir", e))?;
        write_json(&self.record.app_dir.join("deployment.json"), &self.record)?;
        std::fs::write(self.record.app_dir.join(".env"), self.env.render()).map_err(|e| HarnessError::infra("writing .env", e))?;
        crate::run::write_private_json(&self.record.app_dir.join("secrets.json"), &self.secrets)
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
        Ok(Deployment { run: run.clone(), record, source, env, secrets, driver, slot: None, attached: true, uses: vec![], torn_down: false })
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

    /// Marks this handle as a user of a shared deployment for as long as it lives.
    pub(crate) fn hold(&mut self, lease: Arc<crate::lock::FileLock>) {
        self.uses.push(lease);
    }

    /// Removes a shared deployment nobody uses (the caller holds its users lock exclusively)
    /// and gives its slot back.
    pub(crate) async fn retire(&self) -> Result<()> {
        let (removed, secrets) = self.remove_resources().await?;
        if let Some(slot) = SlotLease::held_for(&self.run.config, &self.record.stack) {
            slot.release()?;
        }
        progress!("{}: retired while idle, to free its slot ({removed}, {secrets} run secrets)", self.record.stack);
        Ok(())
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
        // A slot bounds what Swarm runs: it goes back as soon as the stack's services are
        // removed, so the next deployment starts while these containers stop and the volumes,
        // configs and secrets go. It goes back whatever happened: a leftover is the watcher's
        // and janitor's job, a held slot would stall every other deployment on the host.
        let services = self.run.swarm.remove_stack_services(&self.record.stack).await;
        let released = self.slot.take().map(SlotLease::release).transpose();
        let result = self.remove_resources().await;
        let (mut removed, secrets) = result?;
        removed.services.splice(0..0, services?);
        released?;
        progress!("{}: torn down ({removed}, {secrets} run secrets)", self.record.stack);
        Ok(())
    }

    async fn remove_resources(&self) -> Result<(crate::swarm::Removed, usize)> {
        let t = &self.run.config.timeouts;
        self.run.platform.proxy.unregister(&self.run.swarm, &self.record.stack).await?;
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

/// A response that the app, not the proxy, gave.
#[derive(Debug)]
pub struct AppResponse {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl AppResponse {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> anyhow::Result<serde_json::Value> {
        serde_json::from_slice(&self.body).map_err(|e| anyhow::format_err!("not JSON ({e}): {}", self.text().chars().take(120).collect::<String>()))
    }
}

/// Whether a service's deploy labels ask the proxy for an HTTP route: `traefik.enable`
/// (a boolean as Traefik reads it, any case) and at least one `traefik.http.routers.*` label.
fn http_routed(labels: &std::collections::HashMap<String, String>) -> bool {
    labels.get("traefik.enable").is_some_and(|v| v.eq_ignore_ascii_case("true")) && labels.keys().any(|k| k.starts_with("traefik.http.routers."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_service_with_an_http_router_waits_for_an_http_route() {
        let labels = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert!(http_routed(&labels(&[("traefik.enable", "true"), ("traefik.http.routers.app.rule", "Host(`a.test`)")])));
        assert!(http_routed(&labels(&[("traefik.enable", "True"), ("traefik.http.routers.app.entrypoints", "web-secure")])));
        assert!(!http_routed(&labels(&[("traefik.enable", "true"), ("traefik.tcp.routers.voice.rule", "HostSNI(`*`)")])), "TCP only");
        assert!(!http_routed(&labels(&[("traefik.enable", "false"), ("traefik.http.routers.app.rule", "Host(`a.test`)")])));
        assert!(!http_routed(&labels(&[])));
    }
}
