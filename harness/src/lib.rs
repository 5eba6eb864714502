//! Test harness for Co-op Cloud recipes: deploys a recipe onto a real Docker Swarm, proves it
//! serves, upgrades and survives backup/restore, and leaves nothing behind.
//!
//! Recipe suites (`recipes/<name>/tests/<name>/main.rs`) start from [`Suite`]; everything
//! that touches Docker, abra, HTTP waits or the testbed lives here, and nothing here names a
//! recipe. See ARCHITECTURE.md for the layers and invariants.

pub mod backup;
pub mod bridge;
pub mod browser;
pub mod checkout;
pub mod config;
pub mod deploy;
pub mod envfile;
pub mod error;
pub mod hook;
pub mod http;
pub mod ingress;
pub mod lock;
pub mod log;
pub mod oidc;
pub mod proc;
pub mod recipe;
pub mod resolve;
pub mod run;
pub mod secret;
pub mod slots;
pub mod suite;
pub mod swarm;
pub mod teardown;
pub mod testbed;
pub mod testing;
pub mod volumes;

pub use backup::{BackupArtifact, DataProbe, integrity_roundtrip};
pub use checkout::{RecipeSource, Rev};
pub use config::RunConfig;
pub use deploy::{AppSpec, Deployment};
pub use error::{HarnessError, UNVERIFIED_MARKER};
pub use http::{AppClient, converge};
pub use run::Run;
pub use secret::Secret;
pub use suite::Suite;
