//! Upgrade: the previous published release (older Keycloak), with a marker realm seeded,
//! moves to the PR head in place; the server Keycloak reports moves to the head's version
//! (its database migrated) and the marker realm's user still logs in.

use harness::{DataProbe as _, Rev};
use recipe_keycloak::{MarkerRealm, admin, upstream_version, wait_ready};

#[tokio::test(flavor = "multi_thread")]
async fn upgrade_from_the_previous_release_moves_keycloak_and_keeps_the_marker_realm() -> anyhow::Result<()> {
    let suite = harness::Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    let base = suite.upgrade_base()?;
    let Rev::Release(base_version) = base.clone() else { unreachable!("upgrade bases are releases") };
    let mut app = suite.deploy("upgrade", base).await?;
    let result = async {
        wait_ready(&app).await?;
        assert_eq!(app.running_version().await?.as_deref(), Some(base_version.as_str()), "the base release is not what runs");
        assert_eq!(admin(&app)?.server_version().await?, upstream_version(&base_version)?, "the base runs another Keycloak");
        let mut marker = MarkerRealm::new();
        let seeded = marker.seed(&app).await?;

        app.upgrade(Rev::Head).await?;
        wait_ready(&app).await?;

        let head = harness::deploy::stack::declared_version(&suite.source.repo, suite.name())?
            .ok_or_else(|| anyhow::format_err!("head compose declares no version"))?;
        assert_ne!(upstream_version(&head)?, upstream_version(&base_version)?, "the head must move Keycloak");
        assert_eq!(app.running_version().await?.as_deref(), Some(head.as_str()), "the deployment did not move to the head");
        assert_eq!(admin(&app)?.server_version().await?, upstream_version(&head)?, "Keycloak did not move to the head's version");
        assert_eq!(marker.read(&app).await?, Some(seeded), "the marker realm or its user did not survive the upgrade");
        anyhow::Ok(())
    }
    .await;
    app.teardown().await?;
    result
}
