//! The platform a run deploys onto: how apps are reached (the proxy and the CA it is trusted
//! under) and which image the harness's own helper containers use.
//!
//! The deploy layer is handed a [`Platform`]; it never imports the testbed. On a cc-ci host
//! the platform is [`Platform::traefik`] (Traefik reads the deployed labels itself, the host
//! has wildcard DNS and a certificate from a public or its own CA). The offline testbed
//! (`crate::testbed`) builds its own, whose proxy writes routes for an nginx ingress from the
//! same labels. A new platform is a new [`Proxy`] implementation, not an edit here.

use std::{fmt, net::SocketAddr, path::PathBuf, sync::Arc};

use futures_util::future::BoxFuture;

use crate::{config::RunConfig, error::Result, swarm::Swarm};

/// The proxy in front of the apps (Traefik's `web-secure` entrypoint, or a stand-in).
pub trait Proxy: Send + Sync + fmt::Debug {
    /// For messages: `traefik`, `testbed ingress`.
    fn name(&self) -> &str;

    /// Makes a freshly deployed (or upgraded) stack reachable, from its services' labels.
    fn register<'a>(&'a self, swarm: &'a Swarm, stack: &'a str) -> BoxFuture<'a, Result<()>>;

    /// Another stack holding an entrypoint that `stack` asks for, where the platform gives an
    /// entrypoint to one stack at a time (the testbed ingress's TCP/UDP entrypoints); `None`
    /// when `stack` can be registered now. The deploy layer waits on it as on a slot.
    fn entrypoint_holder<'a>(&'a self, _swarm: &'a Swarm, _stack: &'a str) -> BoxFuture<'a, Result<Option<String>>> {
        Box::pin(async { Ok(None) })
    }

    /// Forgets a stack's routes (idempotent).
    fn unregister<'a>(&'a self, swarm: &'a Swarm, stack: &'a str) -> BoxFuture<'a, Result<()>>;

    /// Forgets routes whose stack is gone (the janitor's pass); returns how many.
    fn prune<'a>(&'a self, swarm: &'a Swarm) -> BoxFuture<'a, Result<usize>>;

    /// Whether a response is the proxy's own (no route, no backend) rather than the app's.
    fn answered(&self, status: u16, body: &str) -> bool;

    /// Where containers of a deployment reach the proxy, so an app can call another app (its
    /// OIDC provider) by its public domain from inside; `None` where real DNS does that. When
    /// `Some`, the stack driver also makes containers trust the platform's CA.
    fn container_address<'a>(&'a self, swarm: &'a Swarm) -> BoxFuture<'a, Result<Option<std::net::IpAddr>>>;
}

/// Everything about the platform that deployments need, handed in at the top of a run.
#[derive(Clone)]
pub struct Platform {
    pub proxy: Arc<dyn Proxy>,
    /// The CA apps' certificates chain to; `None`: the system roots.
    pub ca_pem: Option<PathBuf>,
    /// The proxy's HTTPS entrypoint address, which every app domain resolves to.
    pub ingress: SocketAddr,
    /// The image of the harness's helper containers (volume access for backup/restore).
    pub helper_image: String,
}

impl fmt::Debug for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Platform").field("proxy", &self.proxy.name()).field("ingress", &self.ingress).finish()
    }
}

impl Platform {
    /// A cc-ci host: the Co-op Cloud Traefik recipe routes from labels by itself.
    pub fn traefik(config: &RunConfig) -> Platform {
        Platform {
            proxy: Arc::new(Traefik),
            ca_pem: config.ca_pem.clone(),
            ingress: config.ingress,
            helper_image: config.helper_image.clone().unwrap_or_else(|| "debian:bookworm-slim".into()),
        }
    }
}

/// The real Traefik: nothing to register, and real DNS inside containers.
#[derive(Debug)]
struct Traefik;

impl Proxy for Traefik {
    fn name(&self) -> &str {
        "traefik"
    }

    fn register<'a>(&'a self, _swarm: &'a Swarm, _stack: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async { Ok(()) })
    }

    fn unregister<'a>(&'a self, _swarm: &'a Swarm, _stack: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async { Ok(()) })
    }

    fn prune<'a>(&'a self, _swarm: &'a Swarm) -> BoxFuture<'a, Result<usize>> {
        Box::pin(async { Ok(0) })
    }

    fn answered(&self, status: u16, body: &str) -> bool {
        // Traefik's own answers: no router matched, or no healthy backend.
        (status == 404 && body.trim() == "404 page not found") || (matches!(status, 502..=504) && body.trim().len() < 40)
    }

    fn container_address<'a>(&'a self, _swarm: &'a Swarm) -> BoxFuture<'a, Result<Option<std::net::IpAddr>>> {
        Box::pin(async { Ok(None) })
    }
}
