//! The mailu suite: one test binary, one module per concern, every check made by SMTP and IMAP
//! clients (this crate's) through the proxy's mail entrypoints, as mail users and other mail
//! servers reach the recipe; nothing here execs into a service except to read the certificate
//! the fixture's image made (see `recipe_mailu::tls`).
//!
//! Every deployment of this recipe claims the proxy's `smtp`, `smtp-submission`, `imap` and
//! `imaps` entrypoints, which serve one stack at a time: the harness makes a deployment wait
//! for them as for a slot, retiring the run's shared deployment while no test uses it.

mod backup;
mod functional;
mod install;
mod upgrade;

use harness::prelude::*;

/// The run's shared deployment of the head, for tests that only add mail others ignore.
async fn shared() -> anyhow::Result<(Suite, Deployment)> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    let app = suite.shared().await?;
    Ok((suite, app))
}

/// A deployment of the head for one test that restarts it, torn down after.
async fn own<T>(purpose: &str, body: impl AsyncFnOnce(&Suite, &mut Deployment) -> anyhow::Result<T>) -> anyhow::Result<T> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    suite.scoped(purpose, Rev::Head, async |app| body(&suite, app).await).await
}
