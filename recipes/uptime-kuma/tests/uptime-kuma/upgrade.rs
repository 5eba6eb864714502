//! Upgrade: the previous published release, with a marker monitor seeded, moves to the PR
//! head in place; the running release label and image change to the head's, the marker
//! survives, and the upgraded server reports the app version the head declares.

use harness::{contract::Phase, prelude::*};
use recipe_uptime_kuma::{MonitorMarker, reported_version, upstream_version};

/// previous release -> head: version label and image moved, marker intact, and the server
/// (logged in) reports the upstream version of the release that runs on each side.
#[tokio::test(flavor = "multi_thread")]
async fn upgrade_from_the_previous_release_keeps_the_marker() -> anyhow::Result<()> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    let base = upstream_version(&suite.upgrade_base()?)?;
    let head = upstream_version(&suite.head_version()?)?;
    let mut marker = MonitorMarker::new();
    let password = marker.password();
    contract::upgrade_keeps_checking(&suite, &mut marker, async |app, phase| {
        let expected = if phase == Phase::Base { &base } else { &head };
        let reported = reported_version(app, &password).await?;
        anyhow::ensure!(&reported == expected, "{phase:?}: the server reports {reported}, the release declares {expected}");
        Ok(())
    })
    .await?;
    Ok(())
}
