//! The Docker Engine API (via bollard) for everything but `docker stack deploy` itself:
//! convergence, `service ps`-style diagnostics, logs, exec, labels, and removal by label.
//!
//! Convergence means, for every service of a stack: as many running tasks as desired, each
//! running the service's *current* image (an upgrade is not done while old tasks serve), and
//! each container healthy when the image or compose file defines a healthcheck.

use std::{collections::HashMap, fmt::Write as _, time::Duration};

use bollard::{
    Docker,
    models::{HealthStatusEnum, Service, Task, TaskState},
    query_parameters::{
        InspectContainerOptions, ListContainersOptions, ListNetworksOptions, ListServicesOptions,
        ListTasksOptions, ListVolumesOptions, LogsOptions, RemoveContainerOptions,
        RemoveVolumeOptions,
    },
};
use futures_util::StreamExt;

use crate::{
    config::RunConfig,
    error::{HarnessError, InfraExt, Result},
    poll::{Step, poll},
    progress,
};

/// Seconds a task without a healthcheck must have been running to count as converged.
const NO_HEALTHCHECK_MIN_UPTIME: i64 = 3;

/// The label every resource of a run carries.
pub const RUN_LABEL: &str = "ccci.run";
/// Docker's own label for the stack a resource belongs to.
pub const STACK_LABEL: &str = "com.docker.stack.namespace";

/// The engine's own networks, never removed with a run.
const PREDEFINED_NETWORKS: &[&str] = &["bridge", "host", "none", "ingress", "docker_gwbridge"];

/// A connection to the local Docker engine.
#[derive(Clone)]
pub struct Swarm {
    docker: Docker,
}

/// What one service looked like at one poll.
#[derive(Debug, Clone)]
pub struct ServiceState {
    pub name: String,
    pub image: String,
    pub desired: u64,
    /// Tasks running the current image whose container is healthy (or has no healthcheck).
    pub ready: u64,
    /// Running tasks still waiting for their first healthy check.
    pub starting: u64,
    /// Tasks still running that Swarm is replacing or stopping (an update's old task under
    /// `order: start-first`): until they stop, the proxy may still send requests to them.
    pub retiring: u64,
    /// Tasks of the current image that failed, newest first: `state: error`.
    pub failures: Vec<String>,
    /// Tasks that the engine failed to start for reasons of its own ([`engine_fault`]: a mount
    /// it could not make under load, a shim that did not start). Swarm starts another task;
    /// they never count as the app crash-looping.
    pub engine_failures: Vec<String>,
    /// No task of the current image runs or will run: the last one ended and Swarm will not
    /// start another (e.g. a container stopped as unhealthy exited 0 under an `on-failure`
    /// restart policy). Waiting longer cannot help.
    pub stopped: bool,
}

impl ServiceState {
    pub fn converged(&self) -> bool {
        self.desired > 0 && self.ready >= self.desired && self.retiring == 0
    }
}

/// One poll of a whole stack.
#[derive(Debug, Clone, Default)]
pub struct StackState {
    pub services: Vec<ServiceState>,
}

impl StackState {
    pub fn converged(&self) -> bool {
        !self.services.is_empty() && self.services.iter().all(ServiceState::converged)
    }

    /// A service whose tasks keep failing with none ready will not converge by waiting longer:
    /// `threshold` failures once every other service of the stack is ready, three times as
    /// many while another is still starting (an app that exits until its database answers,
    /// restarted by Swarm until it does, is how many real recipes start).
    pub fn crash_looping(&self, threshold: usize) -> Option<&ServiceState> {
        let others_starting = |me: &ServiceState| self.services.iter().any(|s| s.name != me.name && !s.converged());
        self.services.iter().find(|s| {
            let limit = if others_starting(s) { threshold * 3 } else { threshold };
            s.ready == 0 && (s.failures.len() >= limit || (s.stopped && !s.failures.is_empty()))
        })
    }

    /// Some service is not converged because the engine failed to start its tasks, and no
    /// service failed on its own.
    pub fn engine_only(&self) -> bool {
        self.services.iter().any(|s| !s.converged() && !s.engine_failures.is_empty()) && self.services.iter().all(|s| s.failures.is_empty())
    }

    /// One line per service: `name ready/desired (starting) [last error]`.
    pub fn summary(&self) -> String {
        if self.services.is_empty() {
            return "no services yet".into();
        }
        self.services
            .iter()
            .map(|s| {
                let mut line = format!("{} {}/{}", s.name, s.ready, s.desired);
                if s.starting > 0 {
                    let _ = write!(line, " ({} starting)", s.starting);
                }
                if s.retiring > 0 {
                    let _ = write!(line, " ({} old still running)", s.retiring);
                }
                if let Some(err) = s.failures.first() {
                    let _ = write!(line, " [last failure: {err}]");
                }
                if let Some(err) = s.engine_failures.first() {
                    let _ = write!(line, " [engine failed to start a task {}x, last: {err}]", s.engine_failures.len());
                }
                line
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// The output of a command run inside a container.
#[derive(Debug)]
pub struct ExecOutput {
    pub exit_code: i64,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl ExecOutput {
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// What a removal by label found and removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Removed {
    pub services: Vec<String>,
    pub containers: Vec<String>,
    pub volumes: Vec<String>,
    pub secrets: Vec<String>,
    pub configs: Vec<String>,
    pub networks: Vec<String>,
}

impl Removed {
    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }

    pub fn count(&self) -> usize {
        self.services.len()
            + self.containers.len()
            + self.volumes.len()
            + self.secrets.len()
            + self.configs.len()
            + self.networks.len()
    }
}

impl std::fmt::Display for Removed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} services, {} containers, {} volumes, {} secrets, {} configs, {} networks",
            self.services.len(),
            self.containers.len(),
            self.volumes.len(),
            self.secrets.len(),
            self.configs.len(),
            self.networks.len()
        )
    }
}

fn filters(pairs: &[(&str, String)]) -> HashMap<String, Vec<String>> {
    let mut map: HashMap<String, Vec<String>> = HashMap::new();
    for (key, value) in pairs {
        map.entry((*key).to_owned()).or_default().push(value.clone());
    }
    map
}

fn is_not_found(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }
    )
}

impl Swarm {
    /// Connects to the local engine and agrees on an API version (the engine may be older
    /// than bollard's default).
    pub async fn connect(config: &RunConfig) -> Result<Swarm> {
        // With the testcontainers bridge in place, DOCKER_HOST points at it; the harness
        // talks to the engine directly and negotiates instead.
        let docker = if config.engine_via_bridge {
            Docker::connect_with_unix(crate::bridge::ENGINE_SOCKET, 120, bollard::API_DEFAULT_VERSION)
        } else {
            Docker::connect_with_local_defaults()
        }
        .infra(|| "connecting to the Docker engine".into())?
            .with_timeout(Duration::from_secs(300));
        let docker = docker
            .negotiate_version()
            .await
            .infra(|| "negotiating the Docker API version (is dockerd running?)".into())?;
        Ok(Swarm { docker })
    }

    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// Services of a stack, with running/desired counts filled in.
    pub async fn stack_services(&self, stack: &str) -> Result<Vec<Service>> {
        let options = ListServicesOptions {
            filters: Some(filters(&[("label", format!("{STACK_LABEL}={stack}"))])),
            status: Some(true),
        };
        self.docker.list_services(Some(options)).await.infra(|| format!("listing services of {stack}"))
    }

    /// Removes the services of `stack` and returns their names: from then on Swarm runs
    /// nothing of it (its containers are stopping; [`Swarm::remove_labelled`] removes the rest).
    pub async fn remove_stack_services(&self, stack: &str) -> Result<Vec<String>> {
        let mut removed = vec![];
        for service in self.stack_services(stack).await? {
            let name = service.spec.and_then(|s| s.name).unwrap_or_default();
            match self.docker.delete_service(&name).await {
                Ok(()) => removed.push(name),
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(HarnessError::infra(format!("removing service {name}"), e)),
            }
        }
        Ok(removed)
    }

    async fn service_tasks(&self, service: &str) -> Result<Vec<Task>> {
        let options = ListTasksOptions { filters: Some(filters(&[("service", service.to_owned())])) };
        let mut tasks =
            self.docker.list_tasks(Some(options)).await.infra(|| format!("listing tasks of {service}"))?;
        // Newest first, as `docker service ps` shows them.
        tasks.sort_by(|a, b| b.version.as_ref().map(|v| v.index).cmp(&a.version.as_ref().map(|v| v.index)));
        Ok(tasks)
    }

    async fn container_health(&self, container: &str) -> Option<HealthStatusEnum> {
        let inspect = self.docker.inspect_container(container, None::<InspectContainerOptions>).await.ok()?;
        inspect.state?.health?.status
    }

    /// The last failing healthcheck output of a container, if its healthcheck ever failed.
    async fn failed_health_output(&self, container: &str) -> Option<String> {
        let inspect = self.docker.inspect_container(container, None::<InspectContainerOptions>).await.ok()?;
        let log = inspect.state?.health?.log?;
        let last = log.iter().rev().find(|r| r.exit_code.unwrap_or(0) != 0)?;
        let output = last.output.as_deref().unwrap_or_default().trim().chars().take(200).collect::<String>();
        Some(format!("healthcheck exit {}: {output}", last.exit_code.unwrap_or(-1)))
    }

    /// One poll of a stack's convergence; failures older than `since` (unix seconds) belong
    /// to an earlier deploy and are not counted.
    pub async fn stack_state(&self, stack: &str, since: i64) -> Result<StackState> {
        let mut state = StackState::default();
        for service in self.stack_services(stack).await? {
            let spec = service.spec.clone().unwrap_or_default();
            let name = spec.name.clone().unwrap_or_default();
            let image = task_image(spec.task_template.as_ref());
            let desired = match spec.mode.as_ref().and_then(|m| m.replicated.as_ref()) {
                Some(replicated) => replicated.replicas.unwrap_or(1).max(0) as u64,
                None => service.service_status.as_ref().and_then(|s| s.desired_tasks).unwrap_or(0),
            };
            let mut svc = ServiceState {
                name: name.clone(),
                image: image.clone(),
                desired,
                ready: 0,
                starting: 0,
                retiring: 0,
                failures: vec![],
                engine_failures: vec![],
                stopped: false,
            };
            let tasks = self.service_tasks(&name).await?;
            // Nothing of the current image is meant to run any more, yet some of it ran (and
            // Swarm is not in the middle of an update or a rollback, which it would finish).
            let settled = !matches!(
                service.update_status.as_ref().and_then(|u| u.state),
                Some(bollard::models::ServiceUpdateStatusStateEnum::UPDATING | bollard::models::ServiceUpdateStatusStateEnum::ROLLBACK_STARTED)
            );
            svc.stopped = settled
                && desired > 0
                && !tasks.iter().any(|t| t.desired_state == Some(TaskState::RUNNING) && task_image(t.spec.as_ref()) == image)
                && tasks.iter().any(|t| task_image(t.spec.as_ref()) == image);
            for task in tasks {
                let status = task.status.clone().unwrap_or_default();
                let current = task_image(task.spec.as_ref()) == image;
                let recent = of_this_deploy(&task, since);
                match status.state {
                    Some(TaskState::RUNNING) if current && task.desired_state == Some(TaskState::RUNNING) => {
                        let container = status.container_status.as_ref().and_then(|c| c.container_id.clone());
                        let running_for = status.timestamp.map(|t| crate::poll::now_unix() as i64 - t.unix_timestamp()).unwrap_or(0);
                        match container {
                            Some(id) => match self.container_health(&id).await {
                                Some(HealthStatusEnum::HEALTHY) => svc.ready += 1,
                                // Swarm stops it: say why, with the healthcheck's own words.
                                Some(HealthStatusEnum::UNHEALTHY) => {
                                    let why = self.failed_health_output(&id).await.unwrap_or_default();
                                    svc.failures.push(format!("unhealthy: {why}"));
                                }
                                // Without a healthcheck, "running" is only believed once it has
                                // lasted a moment (Swarm's own update monitor does the same):
                                // a process that exits at once must not read as converged.
                                None | Some(HealthStatusEnum::NONE | HealthStatusEnum::EMPTY) if running_for >= NO_HEALTHCHECK_MIN_UPTIME => svc.ready += 1,
                                Some(_) | None => svc.starting += 1,
                            },
                            None => svc.starting += 1,
                        }
                    }
                    Some(TaskState::RUNNING) => svc.retiring += 1,
                    Some(s @ (TaskState::FAILED | TaskState::REJECTED)) if current && recent => {
                        let err = status.err.or(status.message).unwrap_or_default();
                        if engine_fault(&err) {
                            svc.engine_failures.push(format!("{s}: {err}"));
                        } else {
                            svc.failures.push(format!("{s}: {err}"));
                        }
                    }
                    // A task that ran and was shut down because its healthcheck failed.
                    Some(TaskState::SHUTDOWN | TaskState::COMPLETE) if current && recent && status.err.is_some() => {
                        svc.failures.push(format!("shutdown: {}", status.err.unwrap_or_default()));
                    }
                    // A task that ended "cleanly" while it should run: exit 0 after Swarm
                    // stopped it as unhealthy, or an app that just quit.
                    Some(TaskState::COMPLETE) if current && recent && desired > 0 => {
                        let container = status.container_status.as_ref().and_then(|c| c.container_id.clone());
                        let health = match container {
                            Some(id) => self.failed_health_output(&id).await.map(|h| format!(" after it was unhealthy ({h})")),
                            None => None,
                        };
                        svc.failures.push(format!("complete: the task exited 0{}", health.unwrap_or_default()));
                    }
                    _ => {}
                }
            }
            state.services.push(svc);
        }
        Ok(state)
    }

    /// Waits until the stack converges, noticing within one poll interval. Gives up early when
    /// a service crash-loops, and on failure returns the `service ps` table and recent logs.
    pub async fn wait_converged(&self, stack: &str, timeout: Duration, every: Duration) -> Result<StackState> {
        let start = std::time::Instant::now();
        let since = crate::poll::now_unix() as i64 - 1;
        let last = std::sync::Mutex::new(StackState::default());
        let reported = std::sync::Mutex::new(String::new());
        let result = poll(&format!("stack {stack}"), timeout, every, || async {
            let state = match self.stack_state(stack, since).await {
                Ok(state) => state,
                Err(e) => return Step::Pending(format!("poll failed: {e}")),
            };
            if state.converged() {
                progress!("{stack}: converged after {:.1}s: {}", start.elapsed().as_secs_f64(), state.summary());
                return Step::Done(state);
            }
            let summary = state.summary();
            {
                let mut reported = reported.lock().expect("not poisoned");
                if *reported != summary {
                    progress!("{stack}: {summary}");
                    *reported = summary.clone();
                }
            }
            let crash = state.crash_looping(3).map(|s| s.name.clone());
            *last.lock().expect("not poisoned") = state;
            match crash {
                Some(service) => Step::Fail(HarnessError::NotConverged {
                    what: format!("stack {stack} (service {service} keeps failing)"),
                    waited: start.elapsed(),
                    last: summary,
                    diagnostics: String::new(),
                }),
                None => Step::Pending(summary),
            }
        })
        .await;
        match result {
            Ok(state) => Ok(state),
            Err(HarnessError::NotConverged { what, waited, last, .. }) => {
                Err(HarnessError::NotConverged { what, waited, last, diagnostics: self.diagnostics(stack).await })
            }
            // Only the engine failed to start tasks, and the app never had a chance: that is
            // the host's fault, not the recipe's.
            Err(HarnessError::Timeout { waited, last: summary, .. }) if last.lock().expect("not poisoned").engine_only() => {
                Err(HarnessError::infra(
                    format!("stack {stack} did not converge within {:.0}s", waited.as_secs_f64()),
                    anyhow::format_err!("the Docker engine failed to start its tasks: {summary}"),
                ))
            }
            Err(HarnessError::Timeout { waited, last, .. }) => {
                Err(HarnessError::NotConverged { what: format!("stack {stack}"), waited, last, diagnostics: self.diagnostics(stack).await })
            }
            Err(e) => Err(e),
        }
    }

    /// Services of the stack whose last update Swarm rolled back (or is rolling back), with
    /// its reason: `(service, message)`. A rolled-back service converges on the *old* spec.
    pub async fn rollbacks(&self, stack: &str) -> Result<Vec<(String, String)>> {
        use bollard::models::ServiceUpdateStatusStateEnum as State;
        Ok(self
            .stack_services(stack)
            .await?
            .into_iter()
            .filter_map(|s| {
                let status = s.update_status?;
                matches!(status.state, Some(State::ROLLBACK_STARTED | State::ROLLBACK_PAUSED | State::ROLLBACK_COMPLETED))
                    .then(|| (s.spec.and_then(|spec| spec.name).unwrap_or_default(), status.message.unwrap_or_default()))
            })
            .collect())
    }

    /// The gateway address of a local network (e.g. `docker_gwbridge`: the host, as every
    /// Swarm container can reach it).
    pub async fn network_gateway(&self, network: &str) -> Result<std::net::IpAddr> {
        let inspect = self
            .docker
            .inspect_network(network, None::<bollard::query_parameters::InspectNetworkOptions>)
            .await
            .infra(|| format!("inspecting network {network}"))?;
        inspect
            .ipam
            .and_then(|i| i.config)
            .unwrap_or_default()
            .iter()
            .find_map(|c| c.gateway.as_deref()?.parse().ok())
            .ok_or_else(|| HarnessError::infra(format!("finding the gateway of {network}"), anyhow::format_err!("no IPv4 gateway")))
    }

    /// The address of `service`'s running container on `network` (e.g. the proxy's on `proxy`).
    pub async fn task_address(&self, service: &str, network: &str) -> Result<std::net::IpAddr> {
        let container = self.running_container(service).await?;
        let inspect = self
            .docker
            .inspect_container(&container, None::<InspectContainerOptions>)
            .await
            .infra(|| format!("inspecting {service}'s container"))?;
        inspect
            .network_settings
            .and_then(|n| n.networks)
            .and_then(|mut n| n.remove(network))
            .and_then(|n| n.ip_address)
            .and_then(|ip| ip.parse().ok())
            .ok_or_else(|| HarnessError::infra(format!("finding {service} on network {network}"), anyhow::format_err!("not attached")))
    }

    /// A `docker service ps --no-trunc`-style table of every task of the stack, followed by
    /// the last 50 log lines of each service.
    pub async fn diagnostics(&self, stack: &str) -> String {
        let mut out = String::new();
        let services = match self.stack_services(stack).await {
            Ok(services) => services,
            Err(e) => return format!("(no diagnostics: {e})"),
        };
        let _ = writeln!(out, "{:<40} {:<36} {:<10} {:<10} ERROR", "TASK", "IMAGE", "DESIRED", "CURRENT");
        let mut names = vec![];
        for service in &services {
            let name = service.spec.as_ref().and_then(|s| s.name.clone()).unwrap_or_default();
            for task in self.service_tasks(&name).await.unwrap_or_default() {
                let status = task.status.clone().unwrap_or_default();
                let _ = writeln!(
                    out,
                    "{:<40} {:<36} {:<10} {:<10} {}",
                    format!("{name}.{}", task.slot.unwrap_or(0)),
                    task_image(task.spec.as_ref()),
                    task.desired_state.map(|s| s.to_string()).unwrap_or_default(),
                    status.state.map(|s| s.to_string()).unwrap_or_default(),
                    status.err.unwrap_or_default(),
                );
            }
            names.push(name);
        }
        for name in names {
            let _ = writeln!(out, "--- last 50 log lines of {name}:");
            for line in self.service_logs(&name, 50).await {
                let _ = writeln!(out, "{line}");
            }
        }
        out
    }

    /// The last `tail` log lines of a service (stdout and stderr interleaved).
    pub async fn service_logs(&self, service: &str, tail: usize) -> Vec<String> {
        let options = LogsOptions { stdout: true, stderr: true, tail: tail.to_string(), ..Default::default() };
        let mut stream = self.docker.service_logs(service, Some(options));
        let mut lines = vec![];
        let read = async {
            while let Some(item) = stream.next().await {
                match item {
                    Ok(output) => lines.push(output.to_string().trim_end().to_owned()),
                    Err(e) => {
                        lines.push(format!("(log stream error: {e})"));
                        break;
                    }
                }
            }
        };
        if tokio::time::timeout(Duration::from_secs(10), read).await.is_err() {
            lines.push("(log stream timed out)".into());
        }
        lines
    }

    /// The container of a running task of `service` (single-node Swarm: it is local).
    pub async fn running_container(&self, service: &str) -> Result<String> {
        let options = ListTasksOptions {
            filters: Some(filters(&[("service", service.to_owned()), ("desired-state", "running".into())])),
        };
        let tasks = self.docker.list_tasks(Some(options)).await.infra(|| format!("listing tasks of {service}"))?;
        tasks
            .into_iter()
            .filter(|t| t.status.as_ref().and_then(|s| s.state) == Some(TaskState::RUNNING))
            .find_map(|t| t.status?.container_status?.container_id)
            .ok_or_else(|| HarnessError::deploy(format!("exec into {service}"), anyhow::format_err!("no running task")))
    }

    /// Runs `cmd` in `container` and collects its output and exit code.
    pub async fn exec(&self, container: &str, cmd: &[&str]) -> Result<ExecOutput> {
        self.exec_with_input(container, cmd, None).await
    }

    /// Like [`Swarm::exec`], feeding `input` to the command's stdin (then closing it).
    pub async fn exec_with_input(&self, container: &str, cmd: &[&str], input: Option<&[u8]>) -> Result<ExecOutput> {
        use bollard::exec::{CreateExecOptions, StartExecResults};
        use tokio::io::AsyncWriteExt as _;
        let what = || format!("exec {:?} in {}", cmd.first().unwrap_or(&""), &container[..container.len().min(12)]);
        let created = self
            .docker
            .create_exec(
                container,
                CreateExecOptions {
                    cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    attach_stdin: Some(input.is_some()),
                    ..Default::default()
                },
            )
            .await
            .infra(what)?;
        let mut stdout = vec![];
        let mut stderr = vec![];
        if let StartExecResults::Attached { mut output, input: mut stdin } =
            self.docker.start_exec(&created.id, None).await.infra(what)?
        {
            if let Some(bytes) = input {
                stdin.write_all(bytes).await.infra(what)?;
                stdin.shutdown().await.infra(what)?;
            }
            while let Some(chunk) = output.next().await {
                match chunk.infra(what)? {
                    bollard::container::LogOutput::StdErr { message } => stderr.extend_from_slice(&message),
                    other => stdout.extend_from_slice(&other.into_bytes()),
                }
            }
        }
        let inspect = self.docker.inspect_exec(&created.id).await.infra(what)?;
        Ok(ExecOutput { exit_code: inspect.exit_code.unwrap_or(-1), stdout, stderr })
    }

    /// The deploy labels of a service.
    pub async fn service_labels(&self, service: &str) -> Result<HashMap<String, String>> {
        let inspect = self
            .docker
            .inspect_service(service, None::<bollard::query_parameters::InspectServiceOptions>)
            .await
            .infra(|| format!("inspecting {service}"))?;
        Ok(inspect.spec.and_then(|s| s.labels).unwrap_or_default())
    }

    /// The image of a service's running task (what is serving, not what is asked for).
    pub async fn running_image(&self, service: &str) -> Result<String> {
        let container = self.running_container(service).await?;
        let inspect = self
            .docker
            .inspect_container(&container, None::<InspectContainerOptions>)
            .await
            .infra(|| format!("inspecting container of {service}"))?;
        Ok(inspect.config.and_then(|c| c.image).unwrap_or_default())
    }

    /// Volume names of a stack (Docker's namespace label).
    pub async fn stack_volumes(&self, stack: &str) -> Result<Vec<String>> {
        self.volumes_with(&format!("{STACK_LABEL}={stack}")).await
    }

    async fn volumes_with(&self, label: &str) -> Result<Vec<String>> {
        let options = ListVolumesOptions { filters: Some(filters(&[("label", label.to_owned())])) };
        let list = self.docker.list_volumes(Some(options)).await.infra(|| "listing volumes".into())?;
        Ok(list.volumes.unwrap_or_default().into_iter().map(|v| v.name).collect())
    }

    /// The local networks of the container `id` that no stack made (but `except` and the
    /// engine's predefined ones) and its named volumes, as ("network" | "volume", name);
    /// nothing if it is gone already.
    async fn container_resources(&self, id: &str, except: &str) -> Result<Vec<(&'static str, String)>> {
        let Ok(inspect) = self.docker.inspect_container(id, None::<InspectContainerOptions>).await else { return Ok(vec![]) };
        let mut out = vec![];
        let networks = inspect.network_settings.and_then(|n| n.networks).unwrap_or_default();
        for name in networks.into_keys() {
            if name == except || PREDEFINED_NETWORKS.contains(&name.as_str()) {
                continue;
            }
            let Ok(net) = self.docker.inspect_network(&name, None::<bollard::query_parameters::InspectNetworkOptions>).await else { continue };
            let of_stack = net.labels.as_ref().is_some_and(|l| l.contains_key(STACK_LABEL));
            if net.scope.as_deref() == Some("local") && !of_stack {
                out.push(("network", name));
            }
        }
        for mount in inspect.mounts.unwrap_or_default() {
            if mount.typ.as_deref() == Some("volume")
                && let Some(name) = mount.name
            {
                out.push(("volume", name));
            }
        }
        Ok(out)
    }

    /// The containers (any state) attached to `network`: (id, value of RUN_LABEL, whether it
    /// is a stack's task container).
    async fn containers_on(&self, network: &str) -> Result<Vec<(String, String, bool)>> {
        let options = ListContainersOptions { all: true, filters: Some(filters(&[("network", network.to_owned())])), ..Default::default() };
        let list = self.docker.list_containers(Some(options)).await.infra(|| format!("listing containers on {network}"))?;
        Ok(list
            .into_iter()
            .map(|c| {
                let labels = c.labels.unwrap_or_default();
                (c.id.unwrap_or_default(), labels.get(RUN_LABEL).cloned().unwrap_or_default(), labels.contains_key(STACK_LABEL))
            })
            .collect())
    }

    /// Every run id that labels at least one resource on this engine.
    pub async fn labelled_runs(&self) -> Result<Vec<String>> {
        let found = self.find(RUN_LABEL).await?;
        let mut runs: Vec<String> = found.into_iter().map(|(_, _, run)| run).collect();
        runs.sort();
        runs.dedup();
        Ok(runs)
    }

    /// All resources carrying `label` (a key, or `key=value`): (kind, name, value of RUN_LABEL).
    pub async fn find(&self, label: &str) -> Result<Vec<(&'static str, String, String)>> {
        let f = || filters(&[("label", label.to_owned())]);
        let run_of = |labels: Option<HashMap<String, String>>| labels.and_then(|l| l.get(RUN_LABEL).cloned()).unwrap_or_default();
        // Six independent listings: asked at once, a pass costs one round trip, not six.
        let (services, containers, volumes, secrets, configs, networks) = tokio::try_join!(
            async { self.docker.list_services(Some(ListServicesOptions { filters: Some(f()), status: None })).await.infra(|| "listing services".into()) },
            async {
                let options = ListContainersOptions { all: true, filters: Some(f()), ..Default::default() };
                self.docker.list_containers(Some(options)).await.infra(|| "listing containers".into())
            },
            async { self.docker.list_volumes(Some(ListVolumesOptions { filters: Some(f()) })).await.infra(|| "listing volumes".into()) },
            async {
                let options = bollard::query_parameters::ListSecretsOptions { filters: Some(f()) };
                self.docker.list_secrets(Some(options)).await.infra(|| "listing secrets".into())
            },
            async {
                let options = bollard::query_parameters::ListConfigsOptions { filters: Some(f()) };
                self.docker.list_configs(Some(options)).await.infra(|| "listing configs".into())
            },
            async { self.docker.list_networks(Some(ListNetworksOptions { filters: Some(f()) })).await.infra(|| "listing networks".into()) },
        )?;
        let mut out = vec![];
        for s in services {
            let spec = s.spec.unwrap_or_default();
            out.push(("service", spec.name.unwrap_or_default(), run_of(spec.labels)));
        }
        for c in containers {
            out.push(("container", c.id.unwrap_or_default(), run_of(c.labels)));
        }
        for v in volumes.volumes.unwrap_or_default() {
            out.push(("volume", v.name, v.labels.get(RUN_LABEL).cloned().unwrap_or_default()));
        }
        for s in secrets {
            let spec = s.spec.unwrap_or_default();
            out.push(("secret", spec.name.unwrap_or_default(), run_of(spec.labels)));
        }
        for c in configs {
            let spec = c.spec.unwrap_or_default();
            out.push(("config", spec.name.unwrap_or_default(), run_of(spec.labels)));
        }
        for n in networks {
            out.push(("network", n.name.unwrap_or_default(), run_of(n.labels)));
        }
        Ok(out)
    }

    /// Removes everything carrying `label`, in the order `docker stack rm` would, and looks
    /// again until nothing of it is listed: services first, then their containers, and only
    /// once no container is left the volumes, secrets, configs and networks (they are "in
    /// use" until then). Each pass removes whatever it finds, so a volume the engine creates
    /// for a task it was still preparing when its service went is removed by the next pass.
    /// Idempotent: resources already gone are skipped.
    pub async fn remove_labelled(&self, label: &str, timeout: Duration, every: Duration) -> Result<Removed> {
        self.remove_labelled_keeping(label, &[], timeout, every).await
    }

    /// [`Swarm::remove_labelled`], leaving resources of the `keep` kinds (`network`,
    /// `config`, ...) in place: a wipe removes the data, not what a redeploy reuses (Swarm
    /// removes networks asynchronously, and a redeploy racing that removal fails).
    pub async fn remove_labelled_keeping(&self, label: &str, keep: &[&str], timeout: Duration, every: Duration) -> Result<Removed> {
        // Task containers carry the stack namespace, not the service's deploy labels: note
        // the namespaces of the services we remove to find their containers.
        let namespaces = std::sync::Mutex::new(label.strip_prefix(&format!("{STACK_LABEL}=")).map(str::to_owned).into_iter().collect::<Vec<_>>());
        let removed = std::sync::Mutex::new(Removed::default());
        let adopted = std::sync::Mutex::new(vec![]);
        poll(&format!("everything of {label} to be gone"), timeout, every, || async {
            match self.removal_pass(label, keep, &namespaces, &adopted, &removed).await {
                Ok(left) if left.is_empty() => Step::Done(()),
                Ok(left) => Step::Pending(left.join(", ")),
                Err(e) => Step::Fail(e),
            }
        })
        .await?;
        Ok(removed.into_inner().expect("not poisoned"))
    }

    /// One pass of [`Swarm::remove_labelled_keeping`]: removes what it can of what is listed
    /// now and returns what was still there (with the engine's reason where it refused).
    ///
    /// Containers an app started on the engine itself (a CI server's build steps, through the
    /// Docker socket) carry none of the run's labels; attached to one of the run's networks,
    /// they belong to the run, and so do the networks and named volumes only they use (their
    /// other networks but the engine's predefined ones, their volumes): those are `adopted`,
    /// remembered across passes since they are found through containers this pass removes.
    async fn removal_pass(
        &self,
        label: &str,
        keep: &[&str],
        namespaces: &std::sync::Mutex<Vec<String>>,
        adopted: &std::sync::Mutex<Vec<(&'static str, String, String)>>,
        removed: &std::sync::Mutex<Removed>,
    ) -> Result<Vec<String>> {
        let note = |kind: &str, name: String| {
            let mut removed = removed.lock().expect("not poisoned");
            let list = match kind {
                "service" => &mut removed.services,
                "container" => &mut removed.containers,
                "volume" => &mut removed.volumes,
                "secret" => &mut removed.secrets,
                "config" => &mut removed.configs,
                _ => &mut removed.networks,
            };
            if !list.contains(&name) {
                list.push(name);
            }
        };
        let services = self
            .docker
            .list_services(Some(ListServicesOptions { filters: Some(filters(&[("label", label.to_owned())])), status: None }))
            .await
            .infra(|| "listing services".into())?;
        for service in services {
            let spec = service.spec.unwrap_or_default();
            let name = spec.name.unwrap_or_default();
            if let Some(ns) = spec.labels.as_ref().and_then(|l| l.get(STACK_LABEL)) {
                let mut namespaces = namespaces.lock().expect("not poisoned");
                if !namespaces.contains(ns) {
                    namespaces.push(ns.clone());
                }
            }
            match self.docker.delete_service(&name).await {
                Ok(()) => note("service", name),
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(HarnessError::infra(format!("removing service {name}"), e)),
            }
        }
        let mut found = self.find(label).await?;
        let namespaces = namespaces.lock().expect("not poisoned").clone();
        for ns in &namespaces {
            for more in self.find(&format!("{STACK_LABEL}={ns}")).await? {
                if !found.contains(&more) {
                    found.push(more);
                }
            }
        }
        for network in found.iter().filter(|(k, _, _)| *k == "network").map(|(_, n, _)| n.clone()).collect::<Vec<_>>() {
            for (id, run, of_stack) in self.containers_on(&network).await? {
                // Only what an app made on the engine: a stack's own task containers are on
                // shared networks (the proxy's) too.
                let resources = if of_stack { vec![] } else { self.container_resources(&id, &network).await? };
                for (kind, name) in resources {
                    let mut adopted = adopted.lock().expect("not poisoned");
                    if !adopted.iter().any(|(k, n, _)| *k == kind && *n == name) {
                        adopted.push((kind, name, run.clone()));
                    }
                }
                if !found.iter().any(|(k, n, _)| *k == "container" && *n == id) {
                    found.push(("container", id, run));
                }
            }
        }
        for resource in adopted.lock().expect("not poisoned").iter() {
            if !found.contains(resource) {
                found.push(resource.clone());
            }
        }
        found.retain(|(kind, _, _)| !keep.contains(kind));
        let containers: Vec<String> = found.iter().filter(|(k, _, _)| *k == "container").map(|(_, n, _)| n.clone()).collect();
        let (mut left, mut refused) = (vec![], vec![]);
        for id in containers {
            let options = RemoveContainerOptions { force: true, v: false, link: false };
            // What the engine refused ("removal already in progress"), the next pass looks at
            // again, before anything that container may still use. A pass that removed a
            // container is followed by another look too: the agent may still be starting a task
            // of the service just removed, whose container appears after this listing.
            match self.docker.remove_container(&id, Some(options)).await {
                Ok(()) => {
                    note("container", id.clone());
                    left.push(format!("container {id} (removed; looking once more for late ones)"));
                }
                Err(e) if is_not_found(&e) => {}
                Err(e) => refused.push(format!("container {id} ({e})")),
            }
        }
        if !refused.is_empty() {
            return Ok(refused);
        }
        for (kind, name, run) in found {
            let result = match kind {
                "container" => continue,
                "service" => {
                    left.push(format!("{kind} {name}"));
                    continue;
                }
                "volume" => self.docker.remove_volume(&name, Some(RemoveVolumeOptions { force: true })).await,
                "secret" => self.docker.delete_secret(&name).await,
                "config" => self.docker.delete_config(&name).await,
                _ => self.docker.remove_network(&name).await,
            };
            match result {
                // Swarm removes overlay networks asynchronously: "removed" means gone, so the
                // next pass looks again.
                Ok(()) if kind == "network" => {
                    note(kind, name.clone());
                    left.push(format!("network {name} (being removed)"));
                }
                Ok(()) => note(kind, name),
                Err(e) if is_not_found(&e) => {}
                // "in use" while the engine finishes tearing a task down: retry.
                Err(e) => left.push(format!("{kind} {name} ({run}: {e})")),
            }
        }
        Ok(left)
    }
}

/// Whether a task's failure speaks of the deploy being waited for: only a task created since
/// the wait began (`since`, unix seconds) does. A task created earlier belongs to an earlier
/// deploy even when it fails now: when dockerd restarts, every task that ran before is marked
/// failed (exit 255) a moment after the engine answers, and Swarm replaces it; that says
/// nothing of the stack.
/// A task error that is the engine's, not the app's: the engine could not set the container
/// up (seen on a loaded host: "unable to remount dir as readonly: device or resource busy"
/// while starting a container, with every mount of the recipe valid), so Swarm's next task
/// may well start. An app's own exit ("non-zero exit"), a missing image or a bad mount source
/// ("no such file or directory", "invalid mount config") are the recipe's.
pub(crate) fn engine_fault(err: &str) -> bool {
    const ENGINE: [&str; 4] = ["device or resource busy", "unable to remount", "failed to create shim", "no space left on device"];
    let err = err.to_ascii_lowercase();
    ENGINE.iter().any(|e| err.contains(e))
}

fn of_this_deploy(task: &Task, since: i64) -> bool {
    let created = task.created_at.or(task.status.as_ref().and_then(|s| s.timestamp));
    created.map(|t| t.unix_timestamp() >= since).unwrap_or(true)
}

fn task_image(spec: Option<&bollard::models::TaskSpec>) -> String {
    let image = spec.and_then(|s| s.container_spec.as_ref()).and_then(|c| c.image.clone()).unwrap_or_default();
    // Engines may pin a digest onto the tag; the tag is what recipes and reports speak of.
    image.split('@').next().unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(name: &str, desired: u64, ready: u64, failures: usize) -> ServiceState {
        ServiceState {
            name: name.into(),
            image: "img:1".into(),
            desired,
            ready,
            starting: 0,
            retiring: 0,
            failures: (0..failures).map(|i| format!("failed: exit {i}")).collect(),
            engine_failures: vec![],
            stopped: false,
        }
    }

    /// A loaded engine that cannot set up a container is not the app crash-looping: those
    /// failures never count toward giving up, and a stack held back only by them is the
    /// host's fault ([unverified]), never the recipe's.
    #[test]
    fn engine_failures_to_start_a_task_are_not_the_apps_crash_loop() {
        let busy = "starting container failed: error mounting: unable to remount dir as readonly: device or resource busy";
        assert!(engine_fault(busy));
        for app in ["task: non-zero exit (1)", "invalid mount config for type \"bind\": bind source path does not exist: /x", "No such image: ccci-testbed/x:1"] {
            assert!(!engine_fault(app), "{app}");
        }
        let mut app = svc("app", 1, 0, 0);
        app.engine_failures = vec![format!("failed: {busy}"); 5];
        let state = StackState { services: vec![app.clone(), svc("db", 1, 1, 0)] };
        assert!(state.crash_looping(3).is_none(), "engine failures are no crash loop");
        assert!(state.engine_only());
        assert!(state.summary().contains("engine failed to start a task 5x"), "{}", state.summary());
        let mixed = StackState { services: vec![app, svc("db", 1, 0, 1)] };
        assert!(!mixed.engine_only(), "an app failure next to them is the recipe's to answer for");
    }

    #[test]
    fn a_service_whose_only_task_ended_for_good_is_given_up_on_at_once() {
        let mut stopped = svc("app", 1, 0, 1);
        stopped.stopped = true;
        let state = StackState { services: vec![stopped] };
        assert!(state.crash_looping(3).is_some(), "one ended task that will never restart is enough");
        let waiting = StackState { services: vec![svc("app", 1, 0, 1)] };
        assert!(waiting.crash_looping(3).is_none(), "one failure of a restarting service is not yet a loop");
    }

    #[test]
    fn a_stack_converges_only_when_every_service_is_ready() {
        assert!(!StackState::default().converged(), "no services is not converged");
        let partial = StackState { services: vec![svc("a", 1, 1, 0), svc("b", 1, 0, 0)] };
        assert!(!partial.converged());
        let full = StackState { services: vec![svc("a", 1, 1, 0), svc("b", 2, 2, 0)] };
        assert!(full.converged());
        let scaled_to_zero = StackState { services: vec![svc("a", 0, 0, 0)] };
        assert!(!scaled_to_zero.converged(), "a service with no desired task is not serving");
    }

    /// Under `order: start-first` the new task is ready while the old one still runs and the
    /// proxy still sends it requests: what a test reads then may come from the old release.
    #[test]
    fn an_update_has_not_converged_while_an_old_task_still_runs() {
        let mut overlapping = svc("app", 1, 1, 0);
        overlapping.retiring = 1;
        let state = StackState { services: vec![overlapping] };
        assert!(!state.converged());
        assert!(state.summary().contains("app 1/1 (1 old still running)"), "{}", state.summary());
    }

    #[test]
    fn a_task_that_ran_before_the_wait_and_failed_during_it_is_not_a_failure_of_the_deploy() {
        let at = |unix: i64| Some(time::OffsetDateTime::from_unix_timestamp(unix).unwrap());
        let task = |created: i64, failed: i64| Task {
            created_at: at(created),
            status: Some(bollard::models::TaskStatus { state: Some(TaskState::FAILED), timestamp: at(failed), ..Default::default() }),
            ..Default::default()
        };
        let since = 1_000;
        assert!(!of_this_deploy(&task(400, 1_002), since), "the engine restarted: the task of an earlier deploy failed with exit 255");
        assert!(of_this_deploy(&task(1_001, 1_002), since), "a task this deploy created that failed is the deploy's failure");
        assert!(!of_this_deploy(&task(400, 500), since));
    }

    #[test]
    fn repeated_failures_without_a_ready_task_are_a_crash_loop() {
        let state = StackState { services: vec![svc("a", 1, 0, 3)] };
        assert_eq!(state.crash_looping(3).map(|s| s.name.as_str()), Some("a"));
        let recovering = StackState { services: vec![svc("a", 1, 1, 5)] };
        assert!(recovering.crash_looping(3).is_none());
        // An app that exits until its database is up is restarted, not given up on...
        let db_starting = StackState { services: vec![svc("app", 1, 0, 3), svc("db", 1, 0, 0)] };
        assert!(db_starting.crash_looping(3).is_none(), "the database is still starting");
        // ...but only for a while, and no longer once the database is ready.
        let db_stuck = StackState { services: vec![svc("app", 1, 0, 9), svc("db", 1, 0, 0)] };
        assert_eq!(db_stuck.crash_looping(3).map(|s| s.name.as_str()), Some("app"));
        let db_ready = StackState { services: vec![svc("app", 1, 0, 3), svc("db", 1, 1, 0)] };
        assert_eq!(db_ready.crash_looping(3).map(|s| s.name.as_str()), Some("app"));
        assert!(state.summary().contains("last failure: failed: exit 0"));
    }
}
