//! Upgrade: the previous published release (an older n8n), with a marker workflow, its
//! execution history and a credential seeded, moves to the PR head in place (stop-first: n8n
//! migrates its database on the first start of the new version); the release label, the image
//! and the version n8n reports move to the head's, a migration only the head ships (a new
//! column of the credentials table) is applied to the database, and the workflow, its history,
//! its webhook and the credential's decryption are intact on the head.

use harness::{contract::Phase, prelude::*};
use recipe_n8n::{Marker, N8n, owner, upstream_version};

/// A migration n8n 2.41 ships and 2.40 does not (`@n8n/db` 1.41's
/// `1789558029357-AddDescriptionToCredentials`, a `description` column on the credentials
/// table): applied only when the head migrates the base's database.
const HEAD_ONLY_MIGRATION: &str = "AddDescriptionToCredentials1789558029357";

/// The database migrations n8n has run, from its own bookkeeping.
async fn migrations(app: &Deployment) -> anyhow::Result<Vec<String>> {
    let out = app.exec_ok("db", &["psql", "-U", "n8n", "-d", "n8n", "-qAtc", "SELECT name FROM migrations ORDER BY id"]).await?;
    Ok(out.stdout_str().lines().map(str::to_owned).collect())
}

#[tokio::test(flavor = "multi_thread")]
async fn upgrade_from_the_previous_release_moves_n8n_and_keeps_workflows_and_credentials() -> anyhow::Result<()> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    let (base, head) = (suite.upgrade_base()?, suite.head_version()?);
    anyhow::ensure!(upstream_version(&head)? != upstream_version(&base)?, "the head must move n8n");
    contract::upgrade_keeps_checking(&suite, &mut Marker::new(), async |app, phase| {
        let expected = upstream_version(if phase == Phase::Base { &base } else { &head })?;
        let n8n = N8n::of(app)?;
        let session = n8n.owner_session(&owner(app)?).await?;
        let settings = n8n.settings(Some(&session)).await?;
        anyhow::ensure!(settings["versionCli"] == expected, "n8n reports {} ({phase:?}), not {expected}", settings["versionCli"]);
        let applied = migrations(app).await?;
        anyhow::ensure!(applied.len() > 100, "n8n's migrations table lists {} migrations ({phase:?})", applied.len());
        let migrated = applied.iter().any(|m| m == HEAD_ONLY_MIGRATION);
        anyhow::ensure!(migrated == (phase == Phase::Head), "{HEAD_ONLY_MIGRATION} applied: {migrated} ({phase:?})");
        Ok(())
    })
    .await
    .map(drop)
}
