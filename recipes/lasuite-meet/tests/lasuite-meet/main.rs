//! The lasuite-meet suite on what of the recipe runs here: the real LiveKit server the recipe
//! deploys, reached under the app's domain (signalling and the Twirp API) and on the ICE
//! entrypoints, with tokens signed from the recipe's API key and secret; and two real WebRTC
//! participants in Chromium on a minimal page built on npm's livekit-client. meet's backend
//! (OIDC login, its rooms API and token endpoint, its postgres) is tested in the `real` binary
//! (tests/real, feature `real-recipe`): it does not run here (recipe.toml [unverified_here]).
//!
//! Every test uses the run's one shared deployment of the head: it claims the proxy's
//! `livekit-tcp`/`livekit-udp` entrypoints, which serve one stack at a time, and nothing here
//! mutates what another test reads (each test makes its own rooms).

mod browser;
mod functional;
mod install;
mod upgrade;

use harness::prelude::*;

async fn shared() -> anyhow::Result<(Suite, Deployment)> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    let app = suite.shared().await?;
    Ok((suite, app))
}
