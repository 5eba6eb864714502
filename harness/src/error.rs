//! Errors at the harness boundary.
//!
//! Callers branch on these: the report turns [`HarnessError::is_unverified`] errors into the
//! "unverified" status (the recipe could not be tested), everything else into "fail".
//! Leaf code inside the harness uses `anyhow` and is wrapped into a variant here.

use std::{path::PathBuf, time::Duration};

/// Printed at the start of every infrastructure error so that reports can classify a failed
/// test as unverified from its output alone (libtest and nextest keep only text).
pub const UNVERIFIED_MARKER: &str = "[unverified]";

#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// The run is misconfigured (bad env var, missing testbed): nothing about the recipe is known.
    #[error("[unverified] configuration: {0}")]
    Config(String),

    /// Docker, the testbed, a slot or another piece of infrastructure failed.
    #[error("[unverified] infrastructure: {what}: {source:#}")]
    Infra {
        what: String,
        #[source]
        source: anyhow::Error,
    },

    /// A recipe's `recipe.toml`, compose files or `.env.sample` are wrong.
    #[error("{}: {key}: {message}", path.display())]
    Recipe { path: PathBuf, key: String, message: String },

    /// The stack never converged; carries the `service ps` table and logs.
    #[error("{what} did not converge within {}: {last}\n{diagnostics}", secs(waited))]
    NotConverged { what: String, waited: Duration, last: String, diagnostics: String },

    /// A poll ran out of time; `last` is the last state it saw.
    #[error("timed out after {} waiting for {what}; last seen: {last}", secs(waited))]
    Timeout { what: String, waited: Duration, last: String },

    /// A deployment step failed in a way that is the recipe's fault (a rejected compose file,
    /// a failing backup hook).
    #[error("{what}: {source:#}")]
    Deploy {
        what: String,
        #[source]
        source: anyhow::Error,
    },
}

/// `5.6s`, not `5.647901094s`.
fn secs(d: &Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

impl HarnessError {
    pub fn infra(what: impl Into<String>, source: impl Into<anyhow::Error>) -> Self {
        HarnessError::Infra { what: what.into(), source: source.into() }
    }

    pub fn deploy(what: impl Into<String>, source: impl Into<anyhow::Error>) -> Self {
        HarnessError::Deploy { what: what.into(), source: source.into() }
    }

    /// Whether a failure with this error says nothing about the recipe.
    pub fn is_unverified(&self) -> bool {
        matches!(self, HarnessError::Config(_) | HarnessError::Infra { .. })
    }
}

pub type Result<T, E = HarnessError> = std::result::Result<T, E>;

/// Adds an infrastructure context to any error: `docker.ping().await.infra("docker")?`.
pub(crate) trait InfraExt<T> {
    fn infra(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: Into<anyhow::Error>> InfraExt<T> for std::result::Result<T, E> {
    fn infra(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| HarnessError::infra(what(), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infrastructure_errors_read_as_unverified() {
        let e = HarnessError::infra("docker ping", anyhow::format_err!("connection refused"));
        assert!(e.is_unverified());
        assert!(e.to_string().starts_with(UNVERIFIED_MARKER), "{e}");
        let e = HarnessError::Timeout {
            what: "GET /".into(),
            waited: Duration::from_secs(1),
            last: "502".into(),
        };
        assert!(!e.is_unverified());
        assert!(!e.to_string().contains(UNVERIFIED_MARKER));
    }
}
