//! Backup integrity: a random marker file in the content volume survives backup, a wipe of
//! the volume (checked gone) and restore, byte for byte.

use recipe_custom_html::MarkerFile;

#[tokio::test(flavor = "multi_thread")]
async fn backup_restores_a_wiped_marker_byte_for_byte() -> anyhow::Result<()> {
    let suite = harness::Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    let mut app = suite.deploy("backup", harness::Rev::Head).await?;
    let mut marker = MarkerFile::new();
    let result = harness::integrity_roundtrip(&mut app, &mut marker).await;
    app.teardown().await?;
    let roundtrip = result?;
    assert!(roundtrip.wiped_volumes.iter().any(|v| v.ends_with("_content")), "the content volume was not wiped: {:?}", roundtrip.wiped_volumes);
    assert!(
        roundtrip.artifact.entries.iter().any(|e| e.ends_with(&marker.name)),
        "the backup archive does not list {}: {:?}",
        marker.name,
        roundtrip.artifact.entries
    );
    Ok(())
}
