//! The per-recipe contract (SPEC.md), as calls a recipe's tests make: each one deploys what
//! it needs, checks what the contract says, and always tears down, so a recipe's `backup.rs`
//! and `upgrade.rs` read as a spec of a few lines.
//!
//! - [`backup_roundtrip`]: seed a marker, back up, check the artifact, wipe the volumes,
//!   check the marker is gone (the negative control), restore, read it back byte for byte;
//! - [`restore_on_fresh`]: the same backup restored onto a brand-new deployment (new stack,
//!   new volumes): a backup must be self-sufficient;
//! - [`upgrade_keeps`]: the previous release with a marker moves to the head in place; the
//!   release label and the images move, the marker survives;
//! - [`runs_head`]: a deployment runs what the head declares (release label and images).

use anyhow::{Context as _, ensure};

use crate::{
    backup::{BackupArtifact, DataProbe, RoundTrip, backup, integrity_roundtrip, restore},
    checkout::Rev,
    deploy::Deployment,
    progress,
    suite::Suite,
};

/// seed -> backup -> artifact non-empty -> wipe -> marker absent -> restore -> marker back,
/// on a deployment of the head of its own.
pub async fn backup_roundtrip<P: DataProbe>(suite: &Suite, probe: &mut P) -> anyhow::Result<RoundTrip> {
    suite.scoped("backup", Rev::Head, async |app| integrity_roundtrip(app, probe).await).await
}

/// A backup of one deployment restored onto another, brand-new one of the same release (a
/// new stack name, new volumes), where the marker must then be read back byte for byte.
///
/// The new deployment is given the first one's secret values, as an operator restoring onto
/// a new server re-inserts them (Co-op Cloud backups hold volumes, not Swarm secrets); what
/// it must not be given is any of the first one's data.
pub async fn restore_on_fresh<P: DataProbe>(suite: &Suite, probe: &mut P) -> anyhow::Result<RoundTrip> {
    let what = probe.describe();
    let (artifact, expected, secrets) = suite
        .scoped("origin", Rev::Head, async |app| {
            let expected = probe.seed(app).await.with_context(|| format!("seeding {what}"))?;
            ensure!(probe.read(app).await?.as_deref() == Some(&expected[..]), "{what}: the app does not return the seeded marker");
            let artifact = backup(app).await?;
            ensure!(artifact.bytes > 0 && !artifact.entries.is_empty(), "backup artifact {} is empty", artifact.path.display());
            Ok((artifact, expected, app.secrets().clone()))
        })
        .await?;
    suite
        .scoped_with_secrets("fresh", Rev::Head, secrets, async |app| {
            let before = probe.read(app).await.with_context(|| format!("reading {what} on the fresh deployment"))?;
            ensure!(before.as_deref() != Some(&expected[..]), "negative control failed: a fresh deployment already serves {what}");
            restore_fresh(app, probe, &artifact, &expected).await?;
            Ok(RoundTrip { artifact, wiped_volumes: vec![] })
        })
        .await
}

async fn restore_fresh<P: DataProbe>(app: &mut Deployment, probe: &P, artifact: &BackupArtifact, expected: &[u8]) -> anyhow::Result<()> {
    let what = probe.describe();
    restore(app, artifact).await?;
    probe.after_restore(app).await.with_context(|| format!("settling the app after restoring {what}"))?;
    match probe.read(app).await.with_context(|| format!("reading {what} after restoring onto a fresh deployment"))? {
        Some(bytes) if bytes == expected => {}
        Some(bytes) => anyhow::bail!("{what} came back different on the fresh deployment: {} bytes, expected {}", bytes.len(), expected.len()),
        None => anyhow::bail!("{what} is missing after restoring {} onto a fresh deployment", artifact.path.display()),
    }
    progress!("{}: {what} restored onto a fresh deployment from {}", app.stack(), artifact.path.display());
    Ok(())
}

/// Which side of an upgrade a check runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The previous release, before the upgrade.
    Base,
    /// After the upgrade to the head.
    Head,
}

/// What an upgrade moved.
#[derive(Debug, Clone)]
pub struct Upgraded {
    pub base_version: String,
    pub head_version: String,
    /// service -> image, before and after.
    pub images_before: std::collections::BTreeMap<String, String>,
    pub images_after: std::collections::BTreeMap<String, String>,
}

/// [`upgrade_keeps_checking`] without app-specific checks.
pub async fn upgrade_keeps<P: DataProbe>(suite: &Suite, probe: &mut P) -> anyhow::Result<Upgraded> {
    upgrade_keeps_checking(suite, probe, async |_, _| Ok(())).await
}

/// The previous release (`[upgrade] base`) is deployed and checked to run, a marker seeded,
/// the deployment upgraded in place to the head; then the head must run (release label and
/// images, see [`runs_head`]), some image must have changed, and the marker must be intact.
/// `check` runs the app's own assertions on each side (e.g. the version the app reports).
pub async fn upgrade_keeps_checking<P: DataProbe>(
    suite: &Suite,
    probe: &mut P,
    check: impl AsyncFn(&Deployment, Phase) -> anyhow::Result<()>,
) -> anyhow::Result<Upgraded> {
    let base_version = suite.upgrade_base()?;
    let head_version = suite.head_version()?;
    ensure!(head_version != base_version, "the head declares {head_version}, the same version as the release it upgrades from");
    let what = probe.describe();
    suite
        .scoped("upgrade", Rev::Release(base_version.clone()), async |app| {
            ensure!(
                app.running_version().await?.as_deref() == Some(base_version.as_str()),
                "the base release {base_version} is not what runs"
            );
            check(app, Phase::Base).await.context("checking the base release")?;
            let images_before = running_images(app).await?;
            let seeded = probe.seed(app).await.with_context(|| format!("seeding {what}"))?;
            ensure!(probe.read(app).await?.as_deref() == Some(&seeded[..]), "{what}: not served before the upgrade");

            app.upgrade(Rev::Head).await?;

            runs_head(suite, app).await?;
            let images_after = running_images(app).await?;
            ensure!(images_before != images_after, "no service's image changed in the upgrade: {images_after:?}");
            check(app, Phase::Head).await.context("checking the head after the upgrade")?;
            match probe.read(app).await.with_context(|| format!("reading {what} after the upgrade"))? {
                Some(bytes) if bytes == seeded => {}
                Some(_) => anyhow::bail!("{what} changed in the upgrade"),
                None => anyhow::bail!("{what} was lost in the upgrade"),
            }
            Ok(Upgraded { base_version: base_version.clone(), head_version: head_version.clone(), images_before, images_after })
        })
        .await
}

/// The deployment runs the head: the release label its `app` service carries is the one the
/// head declares, and every service runs the image the head's compose files name (a rolled
/// back or re-pinned service fails this).
pub async fn runs_head(suite: &Suite, app: &Deployment) -> anyhow::Result<()> {
    let head = suite.head_version()?;
    let running = app.running_version().await?;
    ensure!(running.as_deref() == Some(head.as_str()), "the deployment runs release {running:?}, not the head's {head}");
    for (service, declared) in app.declared_images()? {
        let image = app.running_image(&service).await?;
        ensure!(image == declared, "service {service} runs {image}, not the head's {declared}");
    }
    Ok(())
}

async fn running_images(app: &Deployment) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
    let mut images = std::collections::BTreeMap::new();
    for service in app.declared_images()?.into_keys() {
        images.insert(service.clone(), app.running_image(&service).await?);
    }
    Ok(images)
}
