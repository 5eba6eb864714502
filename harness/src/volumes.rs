//! Direct access to a stack's volumes: a throwaway helper container (testcontainers) that
//! mounts them next to the run's artifact directory and runs one shell script to its end, for
//! what backup-bot-two does on a cc-ci host (archive volume paths; restore them).
//!
//! The script is the container's command, not an exec into a long-lived container: the engine
//! says when it has exited (polled every 20 ms), where an exec's end is only seen by polling
//! it at testcontainers' fixed 500 ms, half a second lost on every backup and restore.
//! The container carries the run label, so the janitor removes it if the process dies;
//! otherwise it is removed as soon as its output is read.

use std::{path::Path, time::Duration};

use testcontainers::{
    GenericImage, ImageExt,
    core::{Mount, WaitFor, wait::ExitWaitStrategy},
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

/// How often the helper's end is looked for: a local inspect, cheap next to the script.
const EXIT_POLL: Duration = Duration::from_millis(20);

/// The longest a helper script may run (tar of a volume).
const HELPER_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// What the helper's script printed, and how it exited.
#[derive(Debug)]
struct HelperOutput {
    exit_code: i64,
    stdout: Vec<u8>,
    stderr: String,
}

/// Runs `script` (`sh -c`) in a helper container of `image` with `volumes` (Docker volume
/// name, mount name) mounted at `/volumes/<mount name>` and `artifacts` at `/artifacts`, and
/// removes the container once it has exited.
async fn run(run_id: &str, image: &str, volumes: &[(String, String)], artifacts: &Path, script: &str) -> Result<HelperOutput> {
    std::fs::create_dir_all(artifacts).infra(|| format!("creating {}", artifacts.display()))?;
    let (name, tag) = image.rsplit_once(':').unwrap_or((image, "latest"));
    let mut request = GenericImage::new(name, tag)
        .with_wait_for(WaitFor::exit(ExitWaitStrategy::new().with_poll_interval(EXIT_POLL)))
        .with_cmd(["sh", "-c", script])
        .with_label(RUN_LABEL, run_id)
        // A large volume takes its time to archive; a hung script still ends, removed.
        .with_startup_timeout(HELPER_TIMEOUT)
        .with_mount(Mount::bind_mount(artifacts.display().to_string(), ARTIFACTS));
    for (volume, mount) in volumes {
        request = request.with_mount(Mount::volume_mount(volume.clone(), format!("{VOLUMES_ROOT}/{mount}")));
    }
    let container = request.start().await.infra(|| "running the volume helper container".into())?;
    let output = async {
        let stdout = container.stdout_to_vec().await.infra(|| "reading helper stdout".into())?;
        let stderr = String::from_utf8_lossy(&container.stderr_to_vec().await.infra(|| "reading helper stderr".into())?).into_owned();
        let exit_code = container.exit_code().await.infra(|| "reading helper exit code".into())?.unwrap_or(-1);
        Ok(HelperOutput { exit_code, stdout, stderr })
    }
    .await;
    container.rm().await.infra(|| "removing the volume helper".into())?;
    output
}

/// Like [`run`], failing (as `what`) unless the script exits 0; returns its stdout.
pub(crate) async fn run_ok(run_id: &str, image: &str, volumes: &[(String, String)], artifacts: &Path, what: &str, script: &str) -> Result<Vec<u8>> {
    let out = run(run_id, image, volumes, artifacts, script).await?;
    if out.exit_code != 0 {
        return Err(HarnessError::deploy(what.to_owned(), anyhow::format_err!("exit {}: {}", out.exit_code, out.stderr.trim())));
    }
    Ok(out.stdout)
}
