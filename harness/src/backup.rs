//! Backup integrity: seed a marker, back up, check the artifact, wipe the data, check the
//! marker is gone (the negative control), restore, check the marker is back byte-for-byte.
//!
//! A recipe supplies a [`DataProbe`] (how to plant and read its marker through the app); the
//! harness supplies the rest. With the stack driver, backup and restore do what
//! backup-bot-two does with the recipe's `backupbot.*` labels: run the backup pre-/post-hooks
//! in the service, archive the stack's volumes (minus `backupbot.backup.volumes.<v>=false`,
//! limited to `backupbot.backup.volumes.<v>.path`), and on restore unpack them and run the
//! restore hooks. With the abra driver, `abra app backup create` / `abra app restore` run.

use std::{collections::HashMap, path::PathBuf};

use anyhow::{Context as _, ensure};

use crate::{
    deploy::{Deployment, Driver},
    error::{HarnessError, Result},
    progress,
    volumes::{self, ARTIFACTS, VOLUMES_ROOT},
};

/// A backup archive on the host.
#[derive(Debug, Clone)]
pub struct BackupArtifact {
    pub path: PathBuf,
    pub bytes: u64,
    /// Entries in the archive (`<volume>/<path>`).
    pub entries: Vec<String>,
}

/// How a recipe plants and reads its integrity marker, through the real app.
pub trait DataProbe {
    /// What the marker is, for messages (never the marker itself if it is secret).
    fn describe(&self) -> String;
    /// Plants a fresh marker and returns its exact bytes.
    fn seed(&mut self, d: &Deployment) -> impl Future<Output = anyhow::Result<Vec<u8>>>;
    /// Reads the marker back: `None` when the app does not have it.
    fn read(&self, d: &Deployment) -> impl Future<Output = anyhow::Result<Option<Vec<u8>>>>;
    /// Runs after the restore, before the marker is read back: for apps that cache what the
    /// restore replaced under them and must be made to read it again (restart a service).
    /// Nothing by default.
    fn after_restore(&self, d: &Deployment) -> impl Future<Output = anyhow::Result<()>> {
        let _ = d;
        async { Ok(()) }
    }
}

/// What a round trip observed, for the report.
#[derive(Debug)]
pub struct RoundTrip {
    pub artifact: BackupArtifact,
    /// Docker volume names removed by the wipe (`<stack>_<volume>`); empty for a restore
    /// onto a fresh deployment.
    pub wiped_volumes: Vec<String>,
}

impl RoundTrip {
    /// Fails unless the wipe removed the compose volume `volume`.
    pub fn assert_wiped(&self, volume: &str) -> anyhow::Result<()> {
        ensure!(self.wiped_volumes.iter().any(|v| v.ends_with(&format!("_{volume}"))), "the {volume} volume was not wiped: {:?}", self.wiped_volumes);
        Ok(())
    }

    /// Fails unless only its owner can read the backup archive (it holds the app's data and
    /// secrets). Checked while the archive exists: it is removed with the run.
    pub fn assert_private(&self) -> anyhow::Result<()> {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&self.artifact.path)?.permissions().mode() & 0o777;
        ensure!(mode & 0o077 == 0, "the backup archive {} is readable by others (mode {mode:o})", self.artifact.path.display());
        Ok(())
    }

    /// Fails unless the backup archive lists `entry` (`<volume>/<path>`).
    pub fn assert_archived(&self, entry: &str) -> anyhow::Result<()> {
        ensure!(
            self.artifact.entries.iter().any(|e| e.trim_end_matches('/') == entry),
            "the backup archive does not list {entry}: {:?}",
            self.artifact.entries
        );
        Ok(())
    }
}

/// seed -> backup -> artifact non-empty -> wipe -> marker absent -> restore -> marker present.
pub async fn integrity_roundtrip(d: &mut Deployment, probe: &mut impl DataProbe) -> anyhow::Result<RoundTrip> {
    let what = probe.describe();
    let expected = probe.seed(d).await.with_context(|| format!("seeding {what}"))?;
    let seen = probe.read(d).await.with_context(|| format!("reading {what} after seeding"))?;
    ensure!(seen.as_deref() == Some(&expected[..]), "{what}: the app does not return the seeded marker before backup");

    let artifact = backup(d).await?;
    ensure!(artifact.bytes > 0 && !artifact.entries.is_empty(), "backup artifact {} is empty", artifact.path.display());

    let wiped_volumes = d.wipe().await?;
    ensure!(!wiped_volumes.is_empty(), "wipe removed no volume: the stack has no data to lose");
    d.redeploy().await.context("redeploying onto empty volumes")?;
    let after_wipe = probe.read(d).await.with_context(|| format!("reading {what} after wipe"))?;
    ensure!(
        after_wipe.as_deref() != Some(&expected[..]),
        "negative control failed: {what} is still served after its volumes were removed"
    );
    progress!("{}: {what} gone after wipe (negative control holds)", d.stack());

    restore(d, &artifact).await?;
    probe.after_restore(d).await.with_context(|| format!("settling the app after restoring {what}"))?;
    let restored = probe.read(d).await.with_context(|| format!("reading {what} after restore"))?;
    match restored {
        Some(bytes) if bytes == expected => {}
        Some(bytes) => anyhow::bail!("{what} came back different: {} bytes, expected {}", bytes.len(), expected.len()),
        None => anyhow::bail!("{what} is missing after restore from {}", artifact.path.display()),
    }
    progress!("{}: {what} restored byte-for-byte from {} ({} bytes)", d.stack(), artifact.path.display(), artifact.bytes);
    Ok(RoundTrip { artifact, wiped_volumes })
}

/// The backupbot configuration of a stack, read from its services' deploy labels.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct BackupPlan {
    /// (service, hook command) to run before / after.
    pub pre_hooks: Vec<(String, String)>,
    pub post_hooks: Vec<(String, String)>,
    pub restore_pre_hooks: Vec<(String, String)>,
    pub restore_post_hooks: Vec<(String, String)>,
    /// Volume (compose name) -> paths relative to its root (empty = everything).
    pub volumes: Vec<(String, Vec<String>)>,
}

/// Builds the plan from `(service, labels)` and the stack's compose volume names.
pub(crate) fn plan(services: &[(String, HashMap<String, String>)], volumes: &[String]) -> BackupPlan {
    let mut plan = BackupPlan::default();
    let enabled = services.iter().any(|(_, l)| l.get("backupbot.backup").is_some_and(|v| v == "true"));
    if !enabled {
        return plan;
    }
    let mut excluded = vec![];
    let mut paths: HashMap<String, Vec<String>> = HashMap::new();
    for (service, labels) in services {
        let hook = |key: &str| labels.get(key).filter(|v| !v.trim().is_empty()).map(|v| (service.clone(), v.clone()));
        plan.pre_hooks.extend(hook("backupbot.backup.pre-hook"));
        plan.post_hooks.extend(hook("backupbot.backup.post-hook"));
        plan.restore_pre_hooks.extend(hook("backupbot.restore.pre-hook"));
        plan.restore_post_hooks.extend(hook("backupbot.restore.post-hook"));
        for (key, value) in labels {
            let Some(rest) = key.strip_prefix("backupbot.backup.volumes.") else { continue };
            match rest.strip_suffix(".path") {
                Some(volume) => paths.entry(volume.to_owned()).or_default().extend(
                    value.split(',').map(|p| p.trim().trim_start_matches('/').to_owned()).filter(|p| !p.is_empty()),
                ),
                None if value == "false" => excluded.push(rest.to_owned()),
                None => {}
            }
        }
    }
    for volume in volumes {
        if !excluded.contains(volume) {
            plan.volumes.push((volume.clone(), paths.remove(volume).unwrap_or_default()));
        }
    }
    plan
}

async fn stack_plan(d: &Deployment) -> Result<BackupPlan> {
    let swarm = &d.run().swarm;
    let mut services = vec![];
    for service in swarm.stack_services(d.stack()).await? {
        let spec = service.spec.unwrap_or_default();
        let full = spec.name.unwrap_or_default();
        let short = full.strip_prefix(&format!("{}_", d.stack())).unwrap_or(&full).to_owned();
        services.push((short, spec.labels.unwrap_or_default()));
    }
    let volumes: Vec<String> = swarm
        .stack_volumes(d.stack())
        .await?
        .into_iter()
        .map(|v| v.strip_prefix(&format!("{}_", d.stack())).unwrap_or(&v).to_owned())
        .collect();
    Ok(plan(&services, &volumes))
}

async fn run_hooks(d: &Deployment, hooks: &[(String, String)], stage: &str) -> Result<()> {
    for (service, command) in hooks {
        progress!("{}: {stage} hook in {service}: {command}", d.stack());
        d.exec_ok(service, &["sh", "-c", command]).await?;
    }
    Ok(())
}

fn mounts(d: &Deployment, plan: &BackupPlan) -> Vec<(String, String)> {
    plan.volumes.iter().map(|(v, _)| (format!("{}_{v}", d.stack()), v.clone())).collect()
}

/// Backs the deployment up; the artifact lands in the run's artifacts.
pub(crate) async fn backup(d: &Deployment) -> Result<BackupArtifact> {
    if let Driver::Abra(_) = d.driver() {
        return Err(HarnessError::Config("backup through abra needs backup-bot-two on the host; not available on the testbed".into()));
    }
    let plan = stack_plan(d).await?;
    if plan.volumes.is_empty() {
        return Err(HarnessError::deploy(
            format!("backing up {}", d.stack()),
            anyhow::format_err!("no service has backupbot.backup=true, or every volume is excluded"),
        ));
    }
    run_hooks(d, &plan.pre_hooks, "backup pre").await?;
    let dir = d.run().artifacts().join("backups");
    let file = format!("{}-{}.tar.gz", d.stack(), crate::poll::now_unix());
    let members: Vec<String> = plan
        .volumes
        .iter()
        .flat_map(|(v, paths)| if paths.is_empty() { vec![v.clone()] } else { paths.iter().map(|p| format!("{v}/{p}")).collect() })
        .collect();
    // The archive holds the app's data, generated secrets included (a database dump): only
    // its owner may read it, from the moment it exists.
    let script = format!("umask 077 && cd {VOLUMES_ROOT} && tar -czf {ARTIFACTS}/{file} {} && tar -tzf {ARTIFACTS}/{file}", members.join(" "));
    let listing = volumes::run_ok(d.run().id(), &d.run().platform.helper_image, &mounts(d, &plan), &dir, "archiving volumes", &script).await?;
    run_hooks(d, &plan.post_hooks, "backup post").await?;
    let path = dir.join(&file);
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let entries = String::from_utf8_lossy(&listing).lines().map(str::to_owned).collect::<Vec<_>>();
    progress!("{}: backup {} ({bytes} bytes, {} entries)", d.stack(), path.display(), entries.len());
    Ok(BackupArtifact { path, bytes, entries })
}

/// Restores `artifact` into the deployment's volumes and runs the restore hooks.
pub(crate) async fn restore(d: &Deployment, artifact: &BackupArtifact) -> Result<()> {
    let plan = stack_plan(d).await?;
    run_hooks(d, &plan.restore_pre_hooks, "restore pre").await?;
    let dir = artifact.path.parent().expect("artifacts live in a directory").to_path_buf();
    let file = artifact.path.file_name().expect("artifact file name").to_string_lossy().into_owned();
    let script = format!("tar -xzf {ARTIFACTS}/{file} -C {VOLUMES_ROOT}");
    volumes::run_ok(d.run().id(), &d.run().platform.helper_image, &mounts(d, &plan), &dir, "unpacking the backup", &script).await?;
    run_hooks(d, &plan.restore_post_hooks, "restore post").await?;
    progress!("{}: restored from {}", d.stack(), artifact.path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn labels_choose_volumes_paths_and_hooks() {
        let services = vec![
            ("app".to_owned(), labels(&[("backupbot.backup", "true"), ("backupbot.backup.volumes.cache", "false")])),
            (
                "db".to_owned(),
                labels(&[
                    ("backupbot.backup.pre-hook", "/pg_backup.sh backup"),
                    ("backupbot.backup.volumes.db-data.path", "backup.sql"),
                    ("backupbot.restore.post-hook", "/pg_backup.sh restore"),
                ]),
            ),
        ];
        let p = plan(&services, &["content".into(), "cache".into(), "db-data".into()]);
        assert_eq!(p.volumes, [("content".into(), vec![]), ("db-data".into(), vec!["backup.sql".into()])]);
        assert_eq!(p.pre_hooks, [("db".to_owned(), "/pg_backup.sh backup".to_owned())]);
        assert_eq!(p.restore_post_hooks, [("db".to_owned(), "/pg_backup.sh restore".to_owned())]);
        assert!(p.post_hooks.is_empty());
    }

    #[test]
    fn without_the_enable_label_nothing_is_backed_up() {
        let services = vec![("app".to_owned(), labels(&[("backupbot.backup", "false")]))];
        assert_eq!(plan(&services, &["content".into()]), BackupPlan::default());
    }
}
