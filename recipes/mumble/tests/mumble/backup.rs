//! Backup integrity: a permanent channel (a row of the server's SQLite database) survives the
//! backup pre-hook's online copy, the removal of the `data` volume (the channel is then gone
//! from the tree a client receives) and the restore (the post-hook swaps the copy in between a
//! stop and a start of the server); the same backup restores onto a brand-new deployment.

use harness::prelude::*;
use recipe_mumble::{ChannelMarker};

#[tokio::test(flavor = "multi_thread")]
async fn backup_restores_a_wiped_channel() -> anyhow::Result<()> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    let trip = contract::backup_roundtrip(&suite, &mut ChannelMarker::new()).await?;
    trip.assert_wiped("data")?;
    trip.assert_private()?;
    anyhow::ensure!(trip.artifact.entries == ["data/backup.sqlite"], "the backup is not the database copy alone: {:?}", trip.artifact.entries);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_restores_onto_a_fresh_deployment() -> anyhow::Result<()> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    contract::restore_on_fresh(&suite, &mut ChannelMarker::new()).await.map(drop)
}
