//! Backup integrity: a marker realm with a user survives a database dump (backupbot pre-hook),
//! the removal of the database volume (the realm is then gone: 404) and the restore
//! (post-hook reload, Keycloak restarted to drop its caches), and its user logs in again
//! with the same id, under the same realm signing key; the same backup restores onto a
//! brand-new deployment.

use harness::prelude::*;
use recipe_keycloak::MarkerRealm;

#[tokio::test(flavor = "multi_thread")]
async fn backup_restores_a_wiped_marker_realm_whose_user_logs_in() -> anyhow::Result<()> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    let trip = contract::backup_roundtrip(&suite, &mut MarkerRealm::new()).await?;
    trip.assert_wiped("db-data")?;
    trip.assert_private()?;
    anyhow::ensure!(trip.artifact.entries == ["db-data/backup.sql"], "the backup is not the database dump alone: {:?}", trip.artifact.entries);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_restores_onto_a_fresh_deployment() -> anyhow::Result<()> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    contract::restore_on_fresh(&suite, &mut MarkerRealm::new()).await.map(drop)
}
