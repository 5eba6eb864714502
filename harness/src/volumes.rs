//! Direct access to a stack's volumes: a throwaway helper container (testcontainers) that
//! mounts them next to the run's artifact directory, for what backup-bot-two does on a cc-ci
//! host (archive volume paths; restore them) and for seeding data below an app.
//!
//! The container carries the run label, so the janitor removes it if the process dies;
//! otherwise testcontainers removes it when the handle drops.

use std::path::Path;

use testcontainers::{
    ContainerAsync, GenericImage, ImageExt,
    core::{CmdWaitFor, ExecCommand, Mount},
    runners::AsyncRunner,
};

use crate::{
    error::{HarnessError, InfraExt, Result},
    swarm::RUN_LABEL,
};

/// Where volume `<name>` is mounted inside the helper.
pub(crate) const VOLUMES_ROOT: &str = "/volumes";
/// Where the run's artifact directory is mounted inside the helper.
pub(crate) const ARTIFACTS: &str = "/artifacts";

pub(crate) struct VolumeHelper {
    container: ContainerAsync<GenericImage>,
}

/// Output of a helper command.
#[derive(Debug)]
pub(crate) struct HelperOutput {
    pub exit_code: i64,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl VolumeHelper {
    /// Starts the helper with `volumes` (Docker volume name, mount name) mounted at
    /// `/volumes/<mount name>` and `artifacts` at `/artifacts`.
    pub(crate) async fn start(run_id: &str, image: &str, volumes: &[(String, String)], artifacts: &Path) -> Result<VolumeHelper> {
        std::fs::create_dir_all(artifacts).infra(|| format!("creating {}", artifacts.display()))?;
        let (name, tag) = image.rsplit_once(':').unwrap_or((image, "latest"));
        let mut request = GenericImage::new(name, tag)
            .with_cmd(["sleep", "infinity"])
            .with_label(RUN_LABEL, run_id)
            .with_mount(Mount::bind_mount(artifacts.display().to_string(), ARTIFACTS));
        for (volume, mount) in volumes {
            request = request.with_mount(Mount::volume_mount(volume.clone(), format!("{VOLUMES_ROOT}/{mount}")));
        }
        let container = request.start().await.infra(|| "starting the volume helper container".into())?;
        Ok(VolumeHelper { container })
    }

    /// Runs a shell script in the helper and waits for it to exit.
    pub(crate) async fn sh(&self, script: &str) -> Result<HelperOutput> {
        let cmd = ExecCommand::new(["sh", "-c", script]).with_cmd_ready_condition(CmdWaitFor::exit());
        let mut result = self.container.exec(cmd).await.infra(|| "exec in the volume helper".into())?;
        let stdout = result.stdout_to_vec().await.infra(|| "reading helper stdout".into())?;
        let stderr = String::from_utf8_lossy(&result.stderr_to_vec().await.infra(|| "reading helper stderr".into())?).into_owned();
        let exit_code = result.exit_code().await.infra(|| "reading helper exit code".into())?.unwrap_or(-1);
        Ok(HelperOutput { exit_code, stdout, stderr })
    }

    /// Like [`VolumeHelper::sh`], failing unless the script exits 0.
    pub(crate) async fn sh_ok(&self, what: &str, script: &str) -> Result<Vec<u8>> {
        let out = self.sh(script).await?;
        if out.exit_code != 0 {
            return Err(HarnessError::deploy(what.to_owned(), anyhow::format_err!("exit {}: {}", out.exit_code, out.stderr.trim())));
        }
        Ok(out.stdout)
    }

    pub(crate) async fn remove(self) -> Result<()> {
        self.container.rm().await.infra(|| "removing the volume helper".into())
    }
}
