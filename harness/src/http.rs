//! HTTP against deployed apps.
//!
//! Apps are reached the way users reach them: `https://<domain>/` through the proxy's
//! `web-secure` entrypoint, with the domain resolved to the ingress address (no DNS needed)
//! and only the platform's CA trusted (the testbed CA on the testbed), so a proxy default
//! certificate fails the TLS handshake.

use std::{net::SocketAddr, path::Path, time::Duration};

use crate::{
    error::{HarnessError, InfraExt, Result},
    poll::converge,
};

/// An HTTP client bound to one app's domain.
#[derive(Clone, Debug)]
pub struct AppClient {
    domain: String,
    client: reqwest::Client,
}

impl AppClient {
    /// A client for `https://<domain>` that connects to `ingress` and trusts only `ca_pem`
    /// (the system roots when `None`).
    pub fn new(domain: &str, ingress: SocketAddr, ca_pem: Option<&Path>) -> Result<AppClient> {
        let client = Self::builder(domain, ingress, ca_pem)?.build().infra(|| "building the HTTP client".into())?;
        Ok(AppClient { domain: domain.to_owned(), client })
    }

    /// The same settings as [`AppClient::new`], for callers that need more (cookies, no redirects).
    pub fn builder(domain: &str, ingress: SocketAddr, ca_pem: Option<&Path>) -> Result<reqwest::ClientBuilder> {
        let mut builder = reqwest::Client::builder();
        if let Some(ca_pem) = ca_pem {
            let pem = std::fs::read(ca_pem).map_err(|e| {
                HarnessError::Config(format!("CA {} unreadable ({e}); on the testbed run `cargo xtask testbed up`", ca_pem.display()))
            })?;
            let ca = reqwest::Certificate::from_pem(&pem).infra(|| format!("parsing the CA {}", ca_pem.display()))?;
            builder = builder.tls_certs_only([ca]);
        }
        Ok(builder
            .resolve(domain, ingress)
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(5)))
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://{}{}", self.domain, path)
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.get(self.url(path))
    }

    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path))
    }

    pub fn inner(&self) -> &reqwest::Client {
        &self.client
    }

    /// Waits until `GET path` answers with `status`, and returns that response.
    pub async fn wait_for_status(&self, path: &str, status: u16, timeout: Duration, poll: Duration) -> Result<reqwest::Response> {
        converge(&format!("GET {} to answer {status}", self.url(path)), timeout, poll, || async {
            match self.get(path).send().await {
                Ok(resp) if resp.status().as_u16() == status => Ok(resp),
                Ok(resp) => Err(format!("HTTP {}", resp.status())),
                Err(e) => Err(format!("{e:#}")),
            }
        })
        .await
    }
}
