//! Upgrade: the previous published release (an older Synapse), with a marker room and media
//! seeded, moves to the PR head in place (stop-first: Synapse migrates its schema on the first
//! start of the new version); the release label, the image and the Synapse version the
//! federation API reports move to the head's, the schema deltas that only the head ships are
//! applied to the database, and bob still reads alice's message and media.

use harness::{contract::Phase, prelude::*};
use recipe_matrix_synapse::{MarkerRoom, upstream_version};

/// A schema delta Synapse 1.163 ships and 1.160 does not (`main/delta/94/11_...`): applied
/// only when the head migrates the base's database.
const HEAD_ONLY_DELTA: &str = "94/11_destination_room_sticky_events.sql";

/// The schema deltas applied to the deployment's database, from Synapse's own bookkeeping.
async fn applied_deltas(app: &Deployment) -> anyhow::Result<Vec<String>> {
    let out = app.exec_ok("db", &["psql", "-U", "synapse", "-d", "synapse", "-qAtc", "SELECT file FROM applied_schema_deltas ORDER BY file"]).await?;
    Ok(out.stdout_str().lines().map(str::to_owned).collect())
}

#[tokio::test(flavor = "multi_thread")]
async fn upgrade_from_the_previous_release_moves_synapse_and_keeps_the_marker_room() -> anyhow::Result<()> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    let (base, head) = (suite.upgrade_base()?, suite.head_version()?);
    anyhow::ensure!(upstream_version(&head)? != upstream_version(&base)?, "the head must move Synapse");
    contract::upgrade_keeps_checking(&suite, &mut MarkerRoom::new(), async |app, phase| {
        let expected = upstream_version(if phase == Phase::Base { &base } else { &head })?;
        let v = app.get("/_matrix/federation/v1/version").await?.json()?;
        anyhow::ensure!(v["server"]["version"] == expected, "Synapse reports {} ({phase:?}), not {expected}", v["server"]["version"]);
        anyhow::ensure!(app.get("/health").await?.text() == "OK", "/health is not OK ({phase:?})");
        let deltas = applied_deltas(app).await?;
        anyhow::ensure!(!deltas.is_empty(), "Synapse's schema bookkeeping lists no delta ({phase:?})");
        let migrated = deltas.iter().any(|d| d == HEAD_ONLY_DELTA);
        anyhow::ensure!(migrated == (phase == Phase::Head), "{HEAD_ONLY_DELTA} applied: {migrated} ({phase:?})");
        Ok(())
    })
    .await
    .map(drop)
}
