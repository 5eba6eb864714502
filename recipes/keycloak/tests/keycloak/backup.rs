//! Backup integrity: a marker realm with a user survives a database dump (backupbot pre-hook),
//! the removal of the database volume (the realm is then gone: 404) and the restore
//! (post-hook reload, Keycloak restarted to drop its caches), and its user logs in again
//! with the same id, under the same realm signing key.

use recipe_keycloak::MarkerRealm;

#[tokio::test(flavor = "multi_thread")]
async fn backup_restores_a_wiped_marker_realm_whose_user_logs_in() -> anyhow::Result<()> {
    let suite = harness::Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    let mut app = suite.deploy("backup", harness::Rev::Head).await?;
    let mut marker = MarkerRealm::new();
    let result = async {
        recipe_keycloak::wait_ready(&app).await?;
        harness::integrity_roundtrip(&mut app, &mut marker).await
    }
    .await;
    app.teardown().await?;
    let roundtrip = result?;
    assert!(roundtrip.wiped_volumes.iter().any(|v| v.ends_with("_db-data")), "the database volume was not wiped: {:?}", roundtrip.wiped_volumes);
    assert_eq!(roundtrip.artifact.entries, ["db-data/backup.sql"], "the backup is not the database dump alone");
    Ok(())
}
