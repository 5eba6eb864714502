//! The mumble suite: one test binary, one module per concern, every check made by a Mumble
//! protocol client (this crate's `client`) through the proxy's `mumble` entrypoints.
//!
//! Every deployment of this recipe claims the proxy's `mumble` and `mumble-udp` entrypoints,
//! which the testbed ingress gives to one stack at a time, and a shared deployment would keep
//! them until the run ends. So there is no shared deployment here: the tests take turns
//! ([`recipe_mumble::entrypoint_turn`]), each on a deployment of its own (see PARITY.md).

mod backup;
mod functional;
mod install;
mod upgrade;

use harness::prelude::*;

/// Deploys the head for one test, in its turn on the entrypoints, and tears it down after.
async fn own<T>(purpose: &str, body: impl AsyncFnOnce(&Suite, &mut Deployment) -> anyhow::Result<T>) -> anyhow::Result<T> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    let _turn = recipe_mumble::entrypoint_turn(&suite).await?;
    suite.scoped(purpose, Rev::Head, async |app| body(&suite, app).await).await
}
