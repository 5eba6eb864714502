//! Backup integrity: a marker post and image survive the database dump (the recipe's
//! backupbot pre-hook: `mysqldump | gzip` into the `mysql` volume) and the archive of the
//! `content` volume, the removal of both volumes (the owner then cannot even log in: the
//! marker is gone) and the restore (post-hook `gunzip | mysql`, Ghost restarted): the owner
//! logs in again and reads the same post, and the same image bytes are served.

use harness::prelude::*;
use recipe_ghost::Marker;

#[tokio::test(flavor = "multi_thread")]
async fn backup_restores_a_wiped_marker_post_and_image() -> anyhow::Result<()> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    let trip = contract::backup_roundtrip(&suite, &mut Marker::new()).await?;
    trip.assert_wiped("content")?;
    trip.assert_wiped("mysql")?;
    trip.assert_private()?;
    trip.assert_archived("mysql/backup.sql.gz")?;
    let entries = &trip.artifact.entries;
    anyhow::ensure!(
        entries.iter().any(|e| e.starts_with("content/images/") && e.ends_with(".png")),
        "the archive holds no uploaded image: {entries:?}"
    );
    anyhow::ensure!(
        entries.iter().all(|e| e.starts_with("content/") || e == "mysql/backup.sql.gz"),
        "the archive holds more than the dump and the content volume: {entries:?}"
    );
    Ok(())
}

/// A backup is self-sufficient: restored onto a fresh deployment (new stack, new volumes,
/// the same secrets), the marker post and image are there.
#[tokio::test(flavor = "multi_thread")]
async fn a_backup_restores_onto_a_fresh_deployment() -> anyhow::Result<()> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    contract::restore_on_fresh(&suite, &mut Marker::new()).await.map(drop)
}
