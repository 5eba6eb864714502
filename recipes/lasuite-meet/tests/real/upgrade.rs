//! Upgrade (real recipe): the previous published release, with a room in meet's database,
//! moves to the PR head in place (meet's migrations run); the release label and images are
//! the head's and the room is still there.

use harness::prelude::*;

use crate::backup::RoomProbe;

#[tokio::test(flavor = "multi_thread")]
async fn an_upgrade_from_the_previous_release_keeps_rooms_and_moves_to_the_head() -> anyhow::Result<()> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    let mut probe = RoomProbe::default();
    contract::upgrade_keeps(&suite, &mut probe).await.map(drop)
}
