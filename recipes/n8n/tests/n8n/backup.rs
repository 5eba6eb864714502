//! Backup integrity: a marker workflow (active, computing from a random marker), its recorded
//! execution and a credential with the workflows that use it survive a database dump
//! (backupbot pre-hook) and the archive of the user folder, the removal of both volumes (n8n
//! then asks for its owner again: the marker is gone) and the restore (post-hook reload, n8n
//! restarted to read the restored database): the workflow, its execution history, its webhook
//! and the credential's decryption come back as they were.

use harness::prelude::*;
use recipe_n8n::Marker;

#[tokio::test(flavor = "multi_thread")]
async fn backup_restores_a_wiped_workflow_and_its_execution_history() -> anyhow::Result<()> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    let trip = contract::backup_roundtrip(&suite, &mut Marker::new()).await?;
    trip.assert_wiped("db-data")?;
    trip.assert_wiped("data")?;
    trip.assert_private()?;
    trip.assert_archived("db-data/backup.sql")?;
    let entries = &trip.artifact.entries;
    anyhow::ensure!(entries.iter().all(|e| e.starts_with("data/") || e == "db-data/backup.sql"), "the archive holds more than the dump and the user folder: {entries:?}");
    Ok(())
}

/// The same backup restored onto a brand-new deployment (new stack, new volumes, the recipe's
/// secrets re-inserted as an operator would): the backup alone brings the workflow, its
/// history and a decryptable credential back.
#[tokio::test(flavor = "multi_thread")]
async fn a_backup_restores_onto_a_fresh_deployment() -> anyhow::Result<()> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    contract::restore_on_fresh(&suite, &mut Marker::new()).await.map(drop)
}
