//! Upgrade across real app versions: the previous published release of the recipe runs an
//! older Uptime Kuma (1.y) than the head (1.z); after the in-place upgrade the server reports
//! the head's app version, not the base's, and the monitor seeded before it is intact.

use harness::{contract::Phase, prelude::*};
use recipe_uptime_kuma::{MonitorMarker, reported_version, upstream_version};

#[tokio::test(flavor = "multi_thread")]
async fn upgrade_across_real_app_versions_moves_the_reported_version_and_keeps_the_monitor() -> anyhow::Result<()> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    let base = upstream_version(&suite.upgrade_base()?)?;
    let head = upstream_version(&suite.head_version()?)?;
    anyhow::ensure!(base != head, "the previous release and the head run the same Uptime Kuma {head}: not an upgrade across app versions");
    let mut marker = MonitorMarker::new();
    let password = marker.password();
    let upgraded = contract::upgrade_keeps_checking(&suite, &mut marker, async |app, phase| {
        let expected = if phase == Phase::Base { &base } else { &head };
        let reported = reported_version(app, &password).await?;
        anyhow::ensure!(&reported == expected, "{phase:?}: the server reports {reported}, the release declares {expected}");
        Ok(())
    })
    .await?;
    anyhow::ensure!(upgraded.images_before["app"] != upgraded.images_after["app"], "the app image did not change: {:?}", upgraded.images_after);
    Ok(())
}
