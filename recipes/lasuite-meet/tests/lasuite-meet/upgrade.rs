//! Upgrade: the previous published release, with a marker seeded, moves to the PR head in
//! place; the running release label and image change to the head's and the marker survives.

// use harness::prelude::*;
// use recipe_lasuite_meet::Marker;

/// previous release -> head: version label and image moved, marker intact, app still ready.
// let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
// let mut marker = Marker::default();
// contract::upgrade_keeps(&suite, &mut marker).await?;
// Ok(())
#[tokio::test(flavor = "multi_thread")]
async fn upgrade_from_the_previous_release_keeps_the_marker() -> anyhow::Result<()> {
    harness::unwritten!("write the upgrade test: add the previous release as testbed/recipes/lasuite-meet/<version>/, then call contract::upgrade_keeps(&suite, &mut marker)");
}
