//! What the custom-html suite knows about the recipe: nginx serves the `content` volume
//! (mounted at [`WEB_ROOT`] in the `app` service). Files are written below the app, into the
//! volume, and read back through the proxy, the way a site owner's content is served.
//!
//! Needs: the testbed (or a Swarm with the recipe deployed through Traefik); no secrets.

use anyhow::Context as _;
use harness::prelude::*;

pub use harness::fixture::{sha256_hex};

/// The document root inside the `app` service: the `content` volume.
pub const WEB_ROOT: &str = "/usr/share/nginx/html";

/// Writes `bytes` to `<WEB_ROOT>/<name>` inside the running app container.
pub async fn write_content(d: &Deployment, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
    anyhow::ensure!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)), "unsafe file name {name:?}");
    let script = format!("cat > {WEB_ROOT}/{name}.tmp && mv {WEB_ROOT}/{name}.tmp {WEB_ROOT}/{name}");
    d.exec_input_ok("app", &["sh", "-c", &script], bytes)
        .await
        .with_context(|| format!("writing {name} into the content volume"))?;
    Ok(())
}

/// Removes `<WEB_ROOT>/<name>` (tests clean up what they add to the shared deployment).
pub async fn remove_content(d: &Deployment, name: &str) -> anyhow::Result<()> {
    d.exec_ok("app", &["rm", "-f", &format!("{WEB_ROOT}/{name}")]).await?;
    Ok(())
}

/// `GET /<name>` through the proxy: `Some(body)` on 200, `None` on nginx's 404, an error
/// otherwise, and an error when the proxy rather than nginx answered (so "absent" is never
/// a missing route).
pub async fn fetch(d: &Deployment, name: &str) -> anyhow::Result<Option<Vec<u8>>> {
    let resp = d.get(&format!("/{name}")).await?;
    match resp.status {
        200 => Ok(Some(resp.body)),
        404 => Ok(None),
        other => anyhow::bail!("GET /{name}: unexpected HTTP {other}"),
    }
}

/// Random bytes and a random file name (`<prefix>-<hex>.<ext>`).
pub fn random_file(prefix: &str, ext: &str, len: usize) -> (String, Vec<u8>) {
    let bytes: Vec<u8> = (0..len).map(|_| rand::random::<u8>()).collect();
    let name = format!("{prefix}-{}.{ext}", hex::encode(rand::random::<[u8; 6]>()));
    (name, bytes)
}

/// The backup/upgrade marker: a random file in the content volume, read back over HTTPS.
pub struct MarkerFile {
    pub name: String,
    bytes: Vec<u8>,
}

impl MarkerFile {
    pub fn new() -> MarkerFile {
        let (name, bytes) = random_file("marker", "bin", 4096);
        MarkerFile { name, bytes }
    }
}

impl Default for MarkerFile {
    fn default() -> Self {
        MarkerFile::new()
    }
}

impl DataProbe for MarkerFile {
    fn describe(&self) -> String {
        format!("marker file /{} ({} random bytes)", self.name, self.bytes.len())
    }

    async fn seed(&mut self, d: &Deployment) -> anyhow::Result<Vec<u8>> {
        write_content(d, &self.name, &self.bytes).await?;
        Ok(self.bytes.clone())
    }

    async fn read(&self, d: &Deployment) -> anyhow::Result<Option<Vec<u8>>> {
        fetch(d, &self.name).await
    }
}
