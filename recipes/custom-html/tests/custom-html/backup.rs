//! Backup integrity: a random marker file in the content volume survives backup, a wipe of
//! the volume (checked gone) and restore, byte for byte, and restores onto a fresh deployment.

use harness::prelude::*;
use recipe_custom_html::MarkerFile;

#[tokio::test(flavor = "multi_thread")]
async fn backup_restores_a_wiped_marker_byte_for_byte() -> anyhow::Result<()> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    let mut marker = MarkerFile::new();
    let trip = contract::backup_roundtrip(&suite, &mut marker).await?;
    trip.assert_wiped("content")?;
    trip.assert_private()?;
    trip.assert_archived(&format!("content/{}", marker.name))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_restores_onto_a_fresh_deployment() -> anyhow::Result<()> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    contract::restore_on_fresh(&suite, &mut MarkerFile::new()).await.map(drop)
}
