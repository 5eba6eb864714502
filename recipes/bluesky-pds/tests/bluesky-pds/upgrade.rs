//! Upgrade: the previous published release (an older PDS), with a marker account, post and
//! blob seeded, moves to the PR head in place (stop-first: the head migrates the account
//! database on its first start); the release label, the image and the version `/xrpc/_health`
//! reports move to the head's, the account migrations only the head ships (005-007) are applied, and
//! the account still logs in and reads its post and blob.

use harness::{contract::Phase, prelude::*};
use recipe_bluesky_pds::{MarkerAccount, account_migrations, upstream_version};

/// The account-database migrations each release has applied: 0.4.123 ships 001-004, 0.5.35
/// adds 005 (OAuth account management), 006 (OAuth permission sets) and 007 (an index).
const BASE_MIGRATIONS: &[&str] = &["001", "002", "003", "004"];
const HEAD_MIGRATIONS: &[&str] = &["001", "002", "003", "004", "005", "006", "007"];

#[tokio::test(flavor = "multi_thread")]
async fn upgrade_from_the_previous_release_moves_the_pds_and_keeps_the_marker_account() -> anyhow::Result<()> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    let (base, head) = (suite.upgrade_base()?, suite.head_version()?);
    anyhow::ensure!(upstream_version(&head)? != upstream_version(&base)?, "the head must move the PDS");
    contract::upgrade_keeps_checking(&suite, &mut MarkerAccount::new(), async |app, phase| {
        let expected = upstream_version(if phase == Phase::Base { &base } else { &head })?;
        let v = app.get("/xrpc/_health").await?.json()?;
        anyhow::ensure!(v["version"] == expected, "the PDS reports {} ({phase:?}), not {expected}", v["version"]);
        let migrations = account_migrations(app).await?;
        let want = if phase == Phase::Base { BASE_MIGRATIONS } else { HEAD_MIGRATIONS };
        anyhow::ensure!(migrations == want, "account migrations applied ({phase:?}): {migrations:?}, want {want:?}");
        Ok(())
    })
    .await
    .map(drop)
}
