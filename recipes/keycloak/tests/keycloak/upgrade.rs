//! Upgrade: the previous published release (older Keycloak), with a marker realm seeded,
//! moves to the PR head in place; the server Keycloak reports moves to the head's version
//! (its database migrated) and the marker realm's user still logs in.

use harness::{contract::Phase, prelude::*};
use recipe_keycloak::{MarkerRealm, admin, upstream_version};

#[tokio::test(flavor = "multi_thread")]
async fn upgrade_from_the_previous_release_moves_keycloak_and_keeps_the_marker_realm() -> anyhow::Result<()> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    let (base, head) = (suite.upgrade_base()?, suite.head_version()?);
    anyhow::ensure!(upstream_version(&head)? != upstream_version(&base)?, "the head must move Keycloak");
    contract::upgrade_keeps_checking(&suite, &mut MarkerRealm::new(), async |app, phase| {
        let expected = upstream_version(if phase == Phase::Base { &base } else { &head })?;
        anyhow::ensure!(admin(app)?.server_version().await? == expected, "Keycloak does not report {expected} ({phase:?})");
        Ok(())
    })
    .await
    .map(drop)
}
