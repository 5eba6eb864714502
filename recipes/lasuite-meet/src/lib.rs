//! What the lasuite-meet suite knows about the recipe: its API calls and clients, and the data
//! probe that the backup and upgrade tests plant and read back.
//!
//! TODO: which services and volumes hold the app's data, and what the tests need (secrets,
//! an admin bootstrap, dependencies declared in recipe.toml).

use harness::prelude::*;

/// The backup/upgrade marker: a random, identifiable piece of data planted through the real
/// app (a post, a row, an uploaded file) and read back the same way, so that a wipe shows as
/// its absence and a restore as its return, byte for byte.
#[derive(Debug, Default)]
pub struct Marker {
    /// What `seed` planted (an object id, a name), for `read` to find it again.
    pub id: Option<String>,
}

impl DataProbe for Marker {
    fn describe(&self) -> String {
        "lasuite-meet marker (Marker in recipes/lasuite-meet/src/lib.rs)".to_owned()
    }

    async fn seed(&mut self, _app: &Deployment) -> anyhow::Result<Vec<u8>> {
        harness::unwritten!("write Marker::seed: create a random object through the app's API, remember its id, return its content");
    }

    async fn read(&self, _app: &Deployment) -> anyhow::Result<Option<Vec<u8>>> {
        harness::unwritten!("write Marker::read: fetch the seeded object through the app's API; Ok(None) when it is gone");
    }
}
