//! Upgrade: the previous published release (an older Ghost 6), with a marker post and image
//! seeded, moves to the PR head in place (stop-first: Ghost migrates the database on the first
//! start of the new version); the release label, the image and the version Ghost reports move
//! to the head's, and the post and the image are intact and still served.

use harness::{contract::Phase, prelude::*};
use recipe_ghost::{Ghost, Marker, reported_version};

#[tokio::test(flavor = "multi_thread")]
async fn upgrade_from_the_previous_release_moves_ghost_and_keeps_the_marker() -> anyhow::Result<()> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    let (base, head) = (suite.upgrade_base()?, suite.head_version()?);
    anyhow::ensure!(reported_version(&head)? != reported_version(&base)?, "the head must move Ghost");
    contract::upgrade_keeps_checking(&suite, &mut Marker::new(), async |app, phase| {
        let expected = reported_version(if phase == Phase::Base { &base } else { &head })?;
        let site = Ghost::of(app)?.site().await?;
        anyhow::ensure!(site["version"] == expected.as_str(), "Ghost reports {} ({phase:?}), not {expected}", site["version"]);
        anyhow::ensure!(site["url"] == format!("https://{}/", app.domain()), "the site URL is {} ({phase:?})", site["url"]);
        Ok(())
    })
    .await
    .map(drop)
}
