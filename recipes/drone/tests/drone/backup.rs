//! Backup integrity: a repository activated in Drone with a finished build and its log
//! (`BuildMarker`) survives a backup (a consistent SQLite copy taken by the pre-hook), a wipe
//! of the `data` volume (Drone then says it has no such repository) and a restore (the
//! post-hook swaps the copy in between a stop and a start of the server): the same build,
//! status, commit and log, byte for byte. The same backup restores onto a fresh deployment.

use harness::prelude::*;
use recipe_drone::BuildMarker;

#[tokio::test(flavor = "multi_thread")]
async fn backup_restores_a_wiped_repository_with_its_build_and_log() -> anyhow::Result<()> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    let mut marker = BuildMarker::new(&suite);
    let trip = contract::backup_roundtrip(&suite, &mut marker).await?;
    trip.assert_wiped("data")?;
    trip.assert_private()?;
    trip.assert_archived("data/backup/database.sqlite")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_restores_onto_a_fresh_deployment() -> anyhow::Result<()> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    contract::restore_on_fresh(&suite, &mut BuildMarker::new(&suite)).await.map(drop)
}
