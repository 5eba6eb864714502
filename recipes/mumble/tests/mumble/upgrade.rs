//! Upgrade: the previous published release (Mumble server 1.3.4), with a permanent channel,
//! moves to the PR head (1.5.735) in place: the version the server sends in its `Version`
//! message and its UDP ping moves to the head's, the database migrates and the channel
//! survives.

use harness::{contract::Phase, prelude::*};
use recipe_mumble::{ChannelMarker, join, ping, tag, upstream_version};

#[tokio::test(flavor = "multi_thread")]
async fn upgrade_from_the_previous_release_moves_the_server_version_and_keeps_the_channel() -> anyhow::Result<()> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    let (base, head) = (upstream_version(&suite.upgrade_base()?)?, upstream_version(&suite.head_version()?)?);
    anyhow::ensure!(head > base, "the head must move the server forward ({base} -> {head})");
    contract::upgrade_keeps_checking(&suite, &mut ChannelMarker::new(), async |app, phase| {
        let expected = if phase == Phase::Base { base } else { head };
        let client = join(app, &format!("upgrade-{}", tag())).await?;
        anyhow::ensure!(client.version()? == expected, "the server's Version message says {}, not {expected} ({phase:?})", client.version()?);
        client.disconnect().await?;
        let pong = ping(app).await?;
        anyhow::ensure!(pong.version == expected.as_v1(), "the UDP ping says {}, not {} ({phase:?})", pong.version, expected.as_v1());
        Ok(())
    })
    .await
    .map(drop)
}
