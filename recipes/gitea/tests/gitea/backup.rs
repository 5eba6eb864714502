//! Backup integrity: a repository with a commit pushed over HTTPS (`RepoMarker`) survives a
//! backup (a consistent SQLite copy taken by the pre-hook, and the repositories), a wipe of
//! the `data` volume (Gitea then says the repository does not exist) and a restore (the
//! post-hook swaps the copy in between a stop and a start of the server): the branch points
//! at the same commit and the file is the same, byte for byte. The same backup restores onto
//! a brand-new deployment.

use harness::prelude::*;
use recipe_gitea::RepoMarker;

#[tokio::test(flavor = "multi_thread")]
async fn backup_restores_a_wiped_repository_with_its_commit() -> anyhow::Result<()> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    let mut marker = RepoMarker::new();
    let trip = contract::backup_roundtrip(&suite, &mut marker).await?;
    trip.assert_wiped("data")?;
    trip.assert_private()?;
    trip.assert_archived("data/backup/gitea.db")?;
    anyhow::ensure!(
        trip.artifact.entries.iter().any(|e| e.starts_with("data/git/repositories/") && e.contains(&format!("/{}.git/", marker.repo))),
        "the archive holds no bare repository {}.git: {:?}",
        marker.repo,
        trip.artifact.entries.iter().take(20).collect::<Vec<_>>()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_restores_onto_a_fresh_deployment() -> anyhow::Result<()> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    contract::restore_on_fresh(&suite, &mut RepoMarker::new()).await.map(drop)
}
