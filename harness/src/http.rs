//! HTTP against deployed apps, and the one polling primitive every wait in the harness uses.
//!
//! Apps are reached the way users reach them: `https://<domain>/` through the proxy's
//! `web-secure` entrypoint, with the domain resolved to the ingress address (no DNS needed)
//! and only the testbed CA trusted, so a proxy default certificate fails the TLS handshake.

use std::{future::Future, net::SocketAddr, path::Path, time::{Duration, Instant}};

use crate::error::{HarnessError, InfraExt, Result};

/// Polls `probe` until it yields a value, at most `timeout`, noticing within `poll`.
/// `probe` returns `Err(state)` to say "not yet, and this is what I saw"; the timeout error
/// carries the last such state.
pub async fn converge<T, F, Fut>(what: &str, timeout: Duration, poll: Duration, mut probe: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<T, String>>,
{
    let start = Instant::now();
    loop {
        match probe().await {
            Ok(value) => return Ok(value),
            Err(last) if start.elapsed() >= timeout => {
                return Err(HarnessError::Timeout { what: what.to_owned(), waited: start.elapsed(), last });
            }
            Err(_) => tokio::time::sleep(poll).await,
        }
    }
}

/// An HTTP client bound to one app's domain.
#[derive(Clone, Debug)]
pub struct AppClient {
    domain: String,
    client: reqwest::Client,
}

impl AppClient {
    /// A client for `https://<domain>` that connects to `ingress` and trusts only `ca_pem`.
    pub fn new(domain: &str, ingress: SocketAddr, ca_pem: &Path) -> Result<AppClient> {
        let client = Self::builder(domain, ingress, ca_pem)?.build().infra(|| "building the HTTP client".into())?;
        Ok(AppClient { domain: domain.to_owned(), client })
    }

    /// The same settings as [`AppClient::new`], for callers that need more (cookies, no redirects).
    pub fn builder(domain: &str, ingress: SocketAddr, ca_pem: &Path) -> Result<reqwest::ClientBuilder> {
        let pem = std::fs::read(ca_pem).map_err(|e| {
            HarnessError::Config(format!("testbed CA {} unreadable ({e}); run `cargo xtask testbed up`", ca_pem.display()))
        })?;
        let ca = reqwest::Certificate::from_pem(&pem).infra(|| "parsing the testbed CA".into())?;
        Ok(reqwest::Client::builder()
            .tls_certs_only([ca])
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn converge_returns_the_first_success() {
        let calls = AtomicU32::new(0);
        let value = converge("counter", Duration::from_secs(5), Duration::from_millis(1), || async {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            if n >= 3 { Ok(n) } else { Err(format!("n={n}")) }
        })
        .await
        .unwrap();
        assert_eq!(value, 3);
    }

    #[tokio::test]
    async fn converge_timeouts_carry_the_last_state() {
        let err = converge::<(), _, _>("never", Duration::from_millis(30), Duration::from_millis(5), || async {
            Err("still 502".to_owned())
        })
        .await
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("never") && text.contains("last seen: still 502"), "{text}");
    }
}
