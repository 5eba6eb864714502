//! The testbed's ingress: routes stacks the way Traefik would, from the same `traefik.*`
//! labels recipes carry, for any service, several routers per stack, `Host`/`PathPrefix`
//! rules and TCP/UDP entrypoints ([`super::routes`]).
//!
//! Production cc-ci hosts run the real coop-cloud Traefik recipe. Traefik cannot be obtained
//! offline in CI time here, so the testbed runs `ccci-proxy`: Debian nginx (with its stream
//! module) on the `proxy` network, publishing every entrypoint of
//! `testbed/proxy/entrypoints.toml` in host mode. After each deploy the harness writes
//! `routes/http/<stack>.conf` and `routes/stream/<stack>.conf` from the stack's labels and
//! reloads nginx. Unknown hosts get the proxy's own 404 page, whose body
//! ([`FALLBACK_MARKER`]) install tests assert they do *not* see.

use std::path::{Path, PathBuf};

use futures_util::future::BoxFuture;

use super::routes;
use crate::{
    config::RunConfig,
    error::{HarnessError, InfraExt, Result},
    platform::Proxy,
    swarm::Swarm,
};

/// The body of the proxy's 404 for hosts it has no route for.
pub(crate) const FALLBACK_MARKER: &str = "ccci-proxy: no route for";
/// The proxy's Swarm service.
pub(crate) const PROXY_SERVICE: &str = "ccci-proxy_app";

pub(crate) fn routes_dir(config: &RunConfig) -> PathBuf {
    config.state_dir.join("testbed").join("proxy").join("routes")
}

/// The testbed ingress as the run's [`Proxy`].
#[derive(Debug)]
pub(crate) struct TestbedIngress {
    routes: PathBuf,
}

impl TestbedIngress {
    pub(crate) fn new(config: &RunConfig) -> TestbedIngress {
        TestbedIngress { routes: routes_dir(config) }
    }
}

impl Proxy for TestbedIngress {
    fn name(&self) -> &str {
        "testbed ingress"
    }

    fn register<'a>(&'a self, swarm: &'a Swarm, stack: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { register(swarm, &self.routes, stack).await.map(|_| ()) })
    }

    fn entrypoint_holder<'a>(&'a self, swarm: &'a Swarm, stack: &'a str) -> BoxFuture<'a, Result<Option<String>>> {
        Box::pin(async move {
            let planned = plan(swarm, &self.routes, stack).await?;
            Ok(routes::stream_claim_holder(stack, &planned.stream, &planned.others).map(str::to_owned))
        })
    }

    fn unregister<'a>(&'a self, swarm: &'a Swarm, stack: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(unregister(swarm, &self.routes, stack))
    }

    fn prune<'a>(&'a self, swarm: &'a Swarm) -> BoxFuture<'a, Result<usize>> {
        Box::pin(prune(swarm, &self.routes))
    }

    fn answered(&self, status: u16, body: &str) -> bool {
        body.contains(FALLBACK_MARKER) || (matches!(status, 502..=504) && body.contains("<center>nginx"))
    }

    fn container_address<'a>(&'a self, swarm: &'a Swarm) -> BoxFuture<'a, Result<Option<std::net::IpAddr>>> {
        // The host, where the ingress publishes its entrypoints: reachable from every Swarm
        // container (through docker_gwbridge), and stable across proxy restarts.
        Box::pin(async move { swarm.network_gateway("docker_gwbridge").await.map(Some) })
    }
}

/// The entrypoints the proxy publishes (the same file its compose.yml is checked against).
const ENTRYPOINTS: &str = include_str!("../../../testbed/proxy/entrypoints.toml");

/// The routes a stack's labels ask for, rendered, and the TCP/UDP routes of every other stack.
struct Planned {
    routes: Vec<routes::Route>,
    http: String,
    stream: String,
    others: Vec<(String, String)>,
}

async fn plan(swarm: &Swarm, dir: &Path, stack: &str) -> Result<Planned> {
    let mut services = vec![];
    for service in swarm.stack_services(stack).await? {
        let spec = service.spec.unwrap_or_default();
        let name = spec.name.unwrap_or_default();
        let short = name.strip_prefix(&format!("{stack}_")).unwrap_or(&name).to_owned();
        services.push((short, spec.labels.unwrap_or_default()));
    }
    let bad = |what: &str, e: String| HarnessError::deploy(format!("routing {stack} ({what})"), anyhow::format_err!("{e}"));
    let routes = routes::routes_from_labels(&services).map_err(|e| bad("traefik labels", e))?;
    let eps = routes::entrypoints(ENTRYPOINTS).map_err(|e| HarnessError::Config(format!("testbed/proxy/entrypoints.toml: {e}")))?;
    let http = routes::nginx_http(stack, &routes, &eps).map_err(|e| bad("HTTP routes", e))?;
    let stream = routes::nginx_stream(stack, &routes, &eps).map_err(|e| bad("TCP/UDP routes", e))?;
    let stream_dir = dir.join("stream");
    let others: Vec<(String, String)> = std::fs::read_dir(&stream_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let other = name.strip_suffix(".conf")?.to_owned();
            (other != stack).then(|| Some((other, std::fs::read_to_string(e.path()).ok()?)))?
        })
        .collect();
    Ok(Planned { routes, http, stream, others })
}

/// Routes every service of the stack that asks for it; returns the HTTP hosts routed.
async fn register(swarm: &Swarm, dir: &Path, stack: &str) -> Result<Vec<String>> {
    std::fs::create_dir_all(dir).infra(|| format!("creating {}", dir.display()))?;
    // Two deploys must not both find an entrypoint free and both claim it.
    let _claims = crate::lock::FileLock::exclusive(&dir.join("claims.lock"), std::time::Duration::from_secs(60), "the proxy's route table").await?;
    let Planned { routes, http, stream, others } = plan(swarm, dir, stack).await?;
    routes::check_stream_claims(stack, &stream, &others)
        .map_err(|e| HarnessError::deploy(format!("routing {stack} (TCP/UDP entrypoints)"), anyhow::format_err!("{e}")))?;
    for (sub, text) in [("http", &http), ("stream", &stream)] {
        let sub_dir = dir.join(sub);
        std::fs::create_dir_all(&sub_dir).infra(|| format!("creating {}", sub_dir.display()))?;
        std::fs::write(sub_dir.join(format!("{stack}.conf")), text).infra(|| "writing the proxy route".into())?;
    }
    reload(swarm).await?;
    let mut hosts: Vec<String> = routes
        .iter()
        .filter_map(|r| match &r.kind {
            routes::RouteKind::Http { hosts, .. } => Some(hosts.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    hosts.sort();
    hosts.dedup();
    Ok(hosts)
}

/// The route files of `stack` (HTTP, TCP/UDP, and the pre-stream layout's).
fn route_files(dir: &Path, stack: &str) -> [PathBuf; 3] {
    let file = format!("{stack}.conf");
    [dir.join("http").join(&file), dir.join("stream").join(&file), dir.join(&file)]
}

/// Removes the stack's routes (idempotent).
async fn unregister(swarm: &Swarm, dir: &Path, stack: &str) -> Result<()> {
    let mut removed = false;
    for path in route_files(dir, stack) {
        if path.exists() {
            std::fs::remove_file(&path).infra(|| format!("removing {}", path.display()))?;
            removed = true;
        }
    }
    if removed {
        reload(swarm).await?;
    }
    Ok(())
}

/// Removes routes whose stack no longer exists (janitor).
async fn prune(swarm: &Swarm, dir: &Path) -> Result<usize> {
    let mut pruned = 0;
    for sub in [dir.join("http"), dir.join("stream"), dir.to_path_buf()] {
        let Ok(entries) = std::fs::read_dir(&sub) else { continue };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(stack) = name.strip_suffix(".conf") else { continue };
            if entry.path().is_file() && swarm.stack_services(stack).await?.is_empty() {
                let _ = std::fs::remove_file(entry.path());
                pruned += 1;
            }
        }
    }
    if pruned > 0 {
        reload(swarm).await?;
    }
    Ok(pruned)
}

async fn reload(swarm: &Swarm) -> Result<()> {
    let container = swarm.running_container(PROXY_SERVICE).await.map_err(|_| {
        HarnessError::Config("the testbed proxy is not running; run `cargo xtask testbed up`".into())
    })?;
    let out = swarm.exec(&container, &["nginx", "-s", "reload"]).await?;
    if out.exit_code != 0 {
        return Err(HarnessError::infra(
            "reloading the testbed proxy",
            anyhow::format_err!("{}", String::from_utf8_lossy(&out.stderr).trim()),
        ));
    }
    Ok(())
}
