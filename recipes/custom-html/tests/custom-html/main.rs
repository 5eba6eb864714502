//! The custom-html suite: one test binary, one module per concern.
//!
//! Non-mutating tests (install, functional) share one deployment of the PR head per run;
//! upgrade and backup deploy their own, so they can run in parallel within MAX_TESTS.

mod backup;
mod functional;
mod install;
mod upgrade;

use harness::prelude::*;

/// The run's shared deployment of the head, and the suite it belongs to.
async fn shared() -> anyhow::Result<(Suite, Deployment)> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    let app = suite.shared().await?;
    Ok((suite, app))
}
