//! The testbed's ingress: routes `https://<domain>` to `<stack>_app:<port>` the way Traefik
//! would, from the same `traefik.*` labels recipes carry.
//!
//! Production cc-ci hosts run the real coop-cloud Traefik recipe. Traefik cannot be obtained
//! offline in CI time here, so the testbed runs `ccci-proxy`: a Debian nginx Swarm service on
//! the `proxy` network, publishing 443 in host mode with the testbed's wildcard certificate.
//! After each deploy the harness reads the app service's router rule and service port labels
//! and writes one nginx `server` block for it. Unknown hosts get the proxy's own 404 page,
//! whose body ([`FALLBACK_MARKER`]) install tests assert they do *not* see.

use std::{collections::HashMap, path::PathBuf};

use futures_util::future::BoxFuture;

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
        Box::pin(async move { swarm.task_address(PROXY_SERVICE, "proxy").await.map(Some) })
    }
}

/// `Host(`a`)` or `Host(`a`, `b`)` or `Host(`a`) || Host(`b`)`: every host named.
fn rule_hosts(rule: &str) -> Vec<String> {
    let mut hosts = vec![];
    for part in rule.split("Host(").skip(1) {
        let inner = part.split(')').next().unwrap_or_default();
        for quoted in inner.split(',') {
            let host = quoted.trim().trim_matches('`').trim_matches('"');
            if !host.is_empty() {
                hosts.push(host.to_owned());
            }
        }
    }
    hosts
}

/// (hosts, port) from an app service's Traefik labels.
fn route_from_labels(labels: &HashMap<String, String>) -> Option<(Vec<String>, u16)> {
    if labels.get("traefik.enable").map(String::as_str) != Some("true") {
        return None;
    }
    let hosts: Vec<String> = labels
        .iter()
        .filter(|(k, _)| k.starts_with("traefik.http.routers.") && k.ends_with(".rule"))
        .flat_map(|(_, rule)| rule_hosts(rule))
        .collect();
    let port = labels
        .iter()
        .find(|(k, _)| k.starts_with("traefik.http.services.") && k.ends_with(".loadbalancer.server.port"))
        .and_then(|(_, v)| v.trim().parse().ok())?;
    (!hosts.is_empty()).then_some((hosts, port))
}

/// The nginx `server` block for one app.
fn server_block(hosts: &[String], upstream: &str, port: u16) -> String {
    format!(
        r#"# Route written by the ccci harness from the app's traefik labels.
server {{
    listen 443 ssl http2;
    server_name {hosts};
    ssl_certificate /etc/ccci-proxy/tls/wildcard.pem;
    ssl_certificate_key /etc/ccci-proxy/tls/wildcard.key;
    client_max_body_size 0;
    location / {{
        resolver 127.0.0.11 valid=1s ipv6=off;
        # Task addresses, as Traefik's swarm provider uses: service VIPs need IPVS, which
        # this kernel lacks ("no route to host").
        set $upstream http://tasks.{upstream}:{port};
        proxy_pass $upstream;
        proxy_http_version 1.1;
        proxy_set_header Host $host;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;
        proxy_set_header X-Forwarded-Proto https;
        proxy_set_header X-Forwarded-Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_buffering off;
        proxy_read_timeout 300s;
    }}
}}
"#,
        hosts = hosts.join(" "),
    )
}

/// Routes the stack's `app` service, if it asks for routing.
async fn register(swarm: &Swarm, dir: &std::path::Path, stack: &str) -> Result<Option<Vec<String>>> {
    let service = format!("{stack}_app");
    let labels = swarm.service_labels(&service).await?;
    let Some((hosts, port)) = route_from_labels(&labels) else {
        return Ok(None);
    };
    std::fs::create_dir_all(dir).infra(|| format!("creating {}", dir.display()))?;
    std::fs::write(dir.join(format!("{stack}.conf")), server_block(&hosts, &service, port))
        .infra(|| "writing the proxy route".into())?;
    reload(swarm).await?;
    Ok(Some(hosts))
}

/// Removes the stack's route (idempotent).
async fn unregister(swarm: &Swarm, dir: &std::path::Path, stack: &str) -> Result<()> {
    let path = dir.join(format!("{stack}.conf"));
    if path.exists() {
        std::fs::remove_file(&path).infra(|| format!("removing {}", path.display()))?;
        reload(swarm).await?;
    }
    Ok(())
}

/// Removes routes whose stack no longer exists (janitor).
async fn prune(swarm: &Swarm, dir: &std::path::Path) -> Result<usize> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(0) };
    let mut pruned = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(stack) = name.strip_suffix(".conf") else { continue };
        if swarm.stack_services(stack).await?.is_empty() {
            let _ = std::fs::remove_file(entry.path());
            pruned += 1;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_port_come_from_traefik_labels() {
        let labels: HashMap<String, String> = [
            ("traefik.enable", "true"),
            ("traefik.http.routers.s.rule", "Host(`a.ccci.test`, `www.a.ccci.test`)"),
            ("traefik.http.routers.s.entrypoints", "web-secure"),
            ("traefik.http.services.s.loadbalancer.server.port", "8080"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let (mut hosts, port) = route_from_labels(&labels).unwrap();
        hosts.sort();
        assert_eq!(hosts, ["a.ccci.test", "www.a.ccci.test"]);
        assert_eq!(port, 8080);
        let mut disabled = labels.clone();
        disabled.insert("traefik.enable".into(), "false".into());
        assert!(route_from_labels(&disabled).is_none());
        assert_eq!(rule_hosts("Host(`a`) || Host(`b`)"), ["a", "b"]);
    }

    #[test]
    fn the_server_block_routes_to_the_service_by_name() {
        let block = server_block(&["a.ccci.test".into()], "s_app", 80);
        assert!(block.contains("server_name a.ccci.test;"));
        assert!(block.contains("set $upstream http://tasks.s_app:80;"));
    }
}
