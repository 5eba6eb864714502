//! Backup integrity: a marker account (a post embedding an image blob) survives a backup
//! (consistent SQLite copies by the recipe's pre-hook, the blobs, the PLC directory's database
//! dump), the removal of every volume (the account then cannot log in: the marker is gone) and
//! the restore (staged databases applied when `app` starts again): the account logs in with
//! its password, its post, blob, handle and PLC document are back.

use harness::prelude::*;
use recipe_bluesky_pds::MarkerAccount;

#[tokio::test(flavor = "multi_thread")]
async fn backup_restores_a_wiped_account_with_its_post_and_blob() -> anyhow::Result<()> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    let trip = contract::backup_roundtrip(&suite, &mut MarkerAccount::new()).await?;
    trip.assert_wiped("data")?;
    trip.assert_wiped("plc-data")?;
    trip.assert_private()?;
    trip.assert_archived("data/backup/account.sqlite")?;
    trip.assert_archived("plc-data/backup.sql")?;
    let entries = &trip.artifact.entries;
    anyhow::ensure!(entries.iter().any(|e| e.starts_with("data/blocks/") && !e.ends_with('/')), "the archive holds no blob: {entries:?}");
    anyhow::ensure!(
        entries.iter().any(|e| e.starts_with("data/backup/actors/") && e.ends_with("store.sqlite")),
        "the archive holds no account repo store: {entries:?}"
    );
    anyhow::ensure!(
        entries.iter().all(|e| e.starts_with("data/backup") || e.starts_with("data/blocks") || e == "plc-data/backup.sql" || e == "data/" || e == "plc-data/"),
        "the archive holds more than the database copies, the blobs and the PLC dump: {entries:?}"
    );
    anyhow::ensure!(!entries.iter().any(|e| e.ends_with("-wal") || e.ends_with("-shm")), "the archive holds live SQLite journal files: {entries:?}");
    Ok(())
}
