//! Upgrade: the previous published release, with content seeded, moves to the PR head in
//! place; the running release and image change to the head's, the content survives and
//! the index is still served.

use harness::{contract::Phase, prelude::*};
use recipe_custom_html::{MarkerFile, fetch};

#[tokio::test(flavor = "multi_thread")]
async fn upgrade_from_the_previous_release_keeps_content() -> anyhow::Result<()> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    contract::upgrade_keeps_checking(&suite, &mut MarkerFile::new(), async |app, _: Phase| {
        anyhow::ensure!(fetch(app, "").await?.is_some_and(|index| !index.is_empty()), "the index is not served");
        Ok(())
    })
    .await
    .map(drop)
}
