//! Upgrade: the previous published release (Drone 1.10.1's open-source edition, its local
//! runner on the Docker socket) moves to the PR head (the full Drone 1.10.1 build with a
//! separate runner: the Go module proxy serves no other Drone release; see PARITY.md) in
//! place: the images and release label move, a repository with a finished build and its log
//! survives, Drone reports the same version, and a push after the upgrade runs to success on
//! the new runner.

use harness::{contract::Phase, prelude::*};
use recipe_drone::{BuildMarker, Drone, GITEA, Project, pipeline};

#[tokio::test(flavor = "multi_thread")]
async fn upgrade_from_the_previous_release_keeps_builds_and_still_runs_pipelines() -> anyhow::Result<()> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    let (base, head) = (suite.upgrade_base()?, suite.head_version()?);
    anyhow::ensure!(base != head, "the head must be a new release ({base} -> {head})");
    let expected = harness::fixture::upstream_version(&head)?.to_owned();
    let mut marker = BuildMarker::new(&suite);
    contract::upgrade_keeps_checking(&suite, &mut marker, async |app, phase| {
        let gitea = suite.dependency(app, GITEA)?;
        let version = Drone::new(app, &gitea).version().await?;
        anyhow::ensure!(version["version"] == expected.as_str(), "Drone reports {} ({phase:?})", version["version"]);
        if phase == Phase::Head {
            let p = Project::create(app, &gitea).await?;
            let build = p.run(&pipeline(&[("after-upgrade", &["echo upgraded"])], None), "after the upgrade").await?;
            anyhow::ensure!(build["status"] == "success", "a pipeline after the upgrade ended {}", build["status"]);
        }
        Ok(())
    })
    .await
    .map(drop)
}
