//! The mumble suite: one test binary, one module per concern, every check made by a Mumble
//! protocol client (this crate's `client`) through the proxy's `mumble` entrypoints.
//!
//! Every deployment of this recipe claims the proxy's `mumble` and `mumble-udp` entrypoints,
//! which serve one stack at a time: the harness makes a deployment wait for them as for a slot,
//! retiring the run's shared deployment while no test uses it (see PARITY.md).

mod backup;
mod functional;
mod install;
mod upgrade;

use harness::prelude::*;

/// The run's shared deployment of the head, for tests that only read or add what others
/// ignore.
async fn shared() -> anyhow::Result<(Suite, Deployment)> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    let app = suite.shared().await?;
    Ok((suite, app))
}

/// A deployment of the head for one test that counts what the server holds (its users), torn
/// down after.
async fn own<T>(purpose: &str, body: impl AsyncFnOnce(&Suite, &mut Deployment) -> anyhow::Result<T>) -> anyhow::Result<T> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    suite.scoped(purpose, Rev::Head, async |app| body(&suite, app).await).await
}
