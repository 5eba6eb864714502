//! Backup integrity: a monitor planted through the Socket.IO API (`MonitorMarker`) survives a
//! backup (the recipe's pre-hook takes a consistent SQLite copy, `backup.db`), a wipe of the
//! `data` volume (checked gone: the wiped app asks for setup again) and a restore (the
//! post-hook loads the copy into the live database), byte for byte; and the backup alone
//! restores onto a brand-new deployment.

use harness::prelude::*;
use recipe_uptime_kuma::MonitorMarker;

/// marker -> backup (artifact non-empty, holds the consistent copy) -> volume wiped, marker
/// gone -> restore -> marker back.
#[tokio::test(flavor = "multi_thread")]
async fn backup_restores_a_wiped_marker_byte_for_byte() -> anyhow::Result<()> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    let mut marker = MonitorMarker::new();
    let trip = contract::backup_roundtrip(&suite, &mut marker).await?;
    trip.assert_wiped("data")?;
    trip.assert_archived("data/backup.db")?;
    Ok(())
}

/// A backup is self-sufficient: restored onto a fresh deployment (new stack, new volume),
/// the marker monitor and its admin are there.
#[tokio::test(flavor = "multi_thread")]
async fn a_backup_restores_onto_a_fresh_deployment() -> anyhow::Result<()> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    let mut marker = MonitorMarker::new();
    contract::restore_on_fresh(&suite, &mut marker).await?;
    Ok(())
}
