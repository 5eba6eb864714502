//! Backup integrity: a marker room (alice's random message, read by bob) and a media file
//! survive a database dump (backupbot pre-hook) and the archive of the `data` volume (media
//! store and signing key), the removal of both volumes (bob then cannot even log in: the
//! marker is gone) and the restore (post-hook reload, Synapse restarted to drop its caches):
//! bob logs in with his password again and reads the same message and the same media.

use harness::prelude::*;
use recipe_matrix_synapse::MarkerRoom;

#[tokio::test(flavor = "multi_thread")]
async fn backup_restores_a_wiped_marker_room_and_its_media() -> anyhow::Result<()> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    let trip = contract::backup_roundtrip(&suite, &mut MarkerRoom::new()).await?;
    trip.assert_wiped("db-data")?;
    trip.assert_wiped("data")?;
    trip.assert_private()?;
    trip.assert_archived("db-data/backup.sql")?;
    let entries = &trip.artifact.entries;
    anyhow::ensure!(
        entries.iter().any(|e| e.starts_with("data/media_store/local_content/") && !e.ends_with('/')),
        "the archive holds no media file: {entries:?}"
    );
    anyhow::ensure!(entries.iter().any(|e| e.starts_with("data/") && e.ends_with(".signing.key")), "the archive holds no signing key: {entries:?}");
    anyhow::ensure!(entries.iter().all(|e| e.starts_with("data/") || e == "db-data/backup.sql"), "the archive holds more than the dump and the data volume: {entries:?}");
    Ok(())
}
