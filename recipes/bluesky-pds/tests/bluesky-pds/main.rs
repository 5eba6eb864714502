//! The bluesky-pds suite: one test binary, one module per concern.
//!
//! Non-mutating tests (install, functional) share one deployment of the PR head per run, each
//! with accounts of its own; backup and upgrade deploy their own stacks. Every deployment
//! brings the recipe's PLC directory (`plc`, on `plc_db`), where its accounts' DIDs live.

mod backup;
mod functional;
mod install;
mod upgrade;

use harness::prelude::*;

/// The run's shared deployment of the head (ready: `/xrpc/_health` answers with a version, as
/// the recipe's `[ready]` says).
async fn shared() -> anyhow::Result<(Suite, Deployment)> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    let app = suite.shared().await?;
    Ok((suite, app))
}
