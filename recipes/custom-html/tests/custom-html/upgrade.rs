//! Upgrade: the previous published release, with content seeded, moves to the PR head in
//! place; the running release and image change to the head's and the content survives.

use harness::Rev;
use recipe_custom_html::{MarkerFile, fetch};

use harness::DataProbe as _;

#[tokio::test(flavor = "multi_thread")]
async fn upgrade_from_the_previous_release_keeps_content() -> anyhow::Result<()> {
    let suite = harness::Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    let (mut app, base_version) = suite.deploy_upgrade_base().await?;
    let result = async {
        assert_eq!(app.running_version().await?.as_deref(), Some(base_version.as_str()), "the base release is not what runs");
        let image_before = app.run().swarm.running_image(&app.service("app")).await?;
        let mut marker = MarkerFile::new();
        let seeded = marker.seed(&app).await?;

        app.upgrade(Rev::Head).await?;

        let head = suite.head_version()?;
        assert_ne!(head, base_version, "the head must declare a new version");
        assert_eq!(app.running_version().await?.as_deref(), Some(head.as_str()), "the deployment did not move to the head");
        let image_after = app.run().swarm.running_image(&app.service("app")).await?;
        assert_ne!(image_before, image_after, "the running image did not change");
        assert_eq!(marker.read(&app).await?, Some(seeded), "seeded content lost in the upgrade");
        assert!(fetch(&app, "").await?.is_some_and(|index| !index.is_empty()), "the index is not served after the upgrade");
        anyhow::Ok(())
    }
    .await;
    app.teardown().await?;
    result
}
