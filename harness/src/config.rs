//! One `RunConfig` for a whole run, read from the environment in one place.
//!
//! Every knob the harness has lives here and is passed explicitly; nothing else reads
//! `std::env` for configuration. The orchestrator (`cargo xtask test|testme`) sets these
//! variables for the test processes it starts, so `cargo test` and `cargo nextest run`
//! (a process per test) see the same run.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use crate::error::HarnessError;

/// How deployments reach the Swarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriverKind {
    /// `docker stack deploy` of a recipe checkout; the offline testbed's driver.
    Stack,
    /// The real `abra` CLI, as on a production cc-ci host.
    Abra,
}

/// Deadlines for the slow things, in one struct so a slow host is one edit away.
#[derive(Debug, Clone)]
pub struct Timeouts {
    /// From `docker stack deploy` to every service converged.
    pub converge: Duration,
    /// From converged to the app answering its readiness probe.
    pub ready: Duration,
    /// Waiting for a MAX_TESTS slot.
    pub slot: Duration,
    /// Waiting for another process's shared deployment.
    pub shared: Duration,
    /// Removing a stack until no task, container or network of it remains.
    pub teardown: Duration,
    /// A whole run; the janitor reaps a run past it even if its owner still lives.
    pub run: Duration,
    /// How often polls look again.
    pub poll: Duration,
}

/// `CCCI_TIMEOUT_SCALE` (default 1): every deadline, the harness's and the suites' own
/// (through [`crate::scaled`]), is multiplied by it on a slow or loaded host.
pub(crate) fn timeout_scale() -> f64 {
    parse_scale(std::env::var("CCCI_TIMEOUT_SCALE").ok().as_deref())
}

/// A usable scale, or 1: a typo must not make every deadline zero or infinite.
fn parse_scale(value: Option<&str>) -> f64 {
    value.and_then(|s| s.trim().parse::<f64>().ok()).filter(|s| s.is_finite() && *s > 0.0).unwrap_or(1.0)
}

impl Timeouts {
    fn from_env(scale: f64) -> Self {
        let s = |secs: u64| Duration::from_secs_f64(secs as f64 * scale);
        Timeouts {
            converge: s(300),
            ready: s(120),
            slot: s(3600),
            shared: s(900),
            teardown: s(120),
            run: Duration::from_secs(env_u64("CCCI_RUN_DEADLINE_SECS").unwrap_or(3 * 3600)),
            poll: Duration::from_millis(env_u64("CCCI_POLL_MS").unwrap_or(100)),
        }
    }
}

/// Everything a run needs to know about where and how it runs.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub driver: DriverKind,
    /// Identifies the run: every resource carries `ccci.run=<run_id>`.
    pub run_id: String,
    /// The process whose life is the run's life (xtask, cargo, or cargo-nextest).
    pub owner_pid: u32,
    /// Host-wide state: run directories, slot leases, fixture checkouts.
    pub state_dir: PathBuf,
    /// Apps are deployed as `<name>.<domain_suffix>`.
    pub domain_suffix: String,
    /// Address the proxy's HTTPS entrypoint listens on (Traefik `web-secure`).
    pub ingress: std::net::SocketAddr,
    /// Route apps through the testbed ingress (`ccci-proxy`) rather than a real Traefik
    /// (`CCCI_PROXY=traefik` on a cc-ci host).
    pub testbed_ingress: bool,
    /// Host-wide cap on concurrent deployments.
    pub max_tests: usize,
    /// Keep a failed deployment for debugging instead of tearing it down.
    pub keep_on_failure: bool,
    /// The abra binary (abra driver only).
    pub abra_bin: PathBuf,
    /// abra's server name for the local Swarm (abra driver only).
    pub abra_server: String,
    /// Workspace root: fixtures and testbed images live below it.
    pub workspace_root: PathBuf,
    /// The recipe checkout under test (`CCCI_RECIPE_REPO`, set by `xtask testme` to the PR
    /// head); the testbed fixture when unset.
    pub recipe_repo: Option<PathBuf>,
    /// Names deployments `<recipe>-<purpose>-<tag>` (`CCCI_NAME_TAG`, e.g. `pr12-abc1234`);
    /// a short hash of the run id when unset.
    pub name_tag: Option<String>,
    /// A CA to trust instead of the testbed's (`CCCI_CA`, a cc-ci host with its own CA);
    /// with `CCCI_PROXY=traefik` and no `CCCI_CA`, the system roots.
    pub ca_pem: Option<PathBuf>,
    /// The image of the harness's helper containers on a real host (`CCCI_HELPER_IMAGE`).
    pub helper_image: Option<String>,
    /// How many testbed images build at once (`CCCI_TESTBED_JOBS`, default 3): a build
    /// mostly waits on a registry, the Debian mirror or the disk, so a few overlap well even
    /// on two cores.
    pub testbed_jobs: usize,
    /// The Debian mirror the testbed's debootstrap uses (`CCCI_DEBIAN_MIRROR`).
    pub debian_mirror: String,
    /// Chromium and chromedriver (`CCCI_CHROMIUM`, `CCCI_CHROMEDRIVER`; Debian's paths).
    pub chromium: PathBuf,
    pub chromedriver: PathBuf,
    /// This process reaches the engine through the API bridge ([`BRIDGE_VAR`]): the harness
    /// then talks to the engine socket directly.
    pub engine_via_bridge: bool,
    /// The only host variables the docker CLI gets when it merges and deploys a recipe
    /// (its own settings: `PATH`, `HOME`, `DOCKER_*`): a recipe's `${LANG:-..}` or bare
    /// `- SENTRY_DSN` must never take the CI host's value.
    pub docker_cli_env: Vec<(String, String)>,
    pub timeouts: Timeouts,
}

/// Host variables the docker CLI itself reads; nothing else of the host reaches a deploy.
const DOCKER_CLI_VARS: &[&str] = &["PATH", "HOME", "DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CONTEXT", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY"];

/// The variable that selects a process role before `main` (see `hook`).
pub const ROLE_VAR: &str = "CCCI_ROLE";
/// Set when this process routes testcontainers through the API bridge.
pub(crate) const BRIDGE_VAR: &str = "CCCI_DOCKER_BRIDGE";

/// The process role asked for (`watcher`, `fault-child`), read before `main`.
pub(crate) fn role() -> Option<String> {
    std::env::var(ROLE_VAR).ok()
}

/// Whether the environment names a Docker host already (the bridge then stays out).
pub(crate) fn docker_host_set() -> bool {
    std::env::var_os("DOCKER_HOST").is_some()
}

/// What the fault-injection child role is told: (stage, fixture dir).
#[cfg(feature = "fault-injection")]
pub(crate) fn fault_child_env() -> (String, Option<PathBuf>) {
    (
        std::env::var("CCCI_FAULT_STAGE").unwrap_or_else(|_| "hold".into()),
        std::env::var_os("CCCI_FAULT_FIXTURE_DIR").map(PathBuf::from),
    )
}

impl RunConfig {
    /// Reads the run's configuration from `CCCI_*` variables, with defaults that make a bare
    /// `cargo test` on the testbed work.
    pub fn from_env() -> Result<Self, HarnessError> {
        let driver = match std::env::var("CCCI_DRIVER").as_deref() {
            Ok("abra") => DriverKind::Abra,
            Ok("stack") | Err(_) => DriverKind::Stack,
            Ok(other) => {
                return Err(HarnessError::Config(format!(
                    "CCCI_DRIVER={other:?}: expected `stack` or `abra`"
                )));
            }
        };
        let owner_pid = match std::env::var("CCCI_RUN_OWNER_PID") {
            // The process is its own run (fault-injection children).
            Ok(pid) if pid == "self" => std::process::id(),
            Ok(pid) => pid.parse().map_err(|_| {
                HarnessError::Config(format!("CCCI_RUN_OWNER_PID={pid:?} is not a pid"))
            })?,
            // The test runner that started us: cargo for `cargo test`, cargo-nextest for
            // `cargo nextest run`. All test processes of one invocation share it.
            Err(_) => std::os::unix::process::parent_id(),
        };
        let run_id = match std::env::var("CCCI_RUN_ID") {
            Ok(id) => validate_run_id(&id)?,
            Err(_) => default_run_id(owner_pid),
        };
        let ingress = std::env::var("CCCI_INGRESS")
            .unwrap_or_else(|_| "127.0.0.1:443".into())
            .parse()
            .map_err(|e| HarnessError::Config(format!("CCCI_INGRESS: {e}")))?;
        let scale = timeout_scale();
        Ok(RunConfig {
            driver,
            run_id,
            owner_pid,
            state_dir: std::env::var_os("CCCI_STATE_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/var/lib/ccci")),
            domain_suffix: std::env::var("CCCI_DOMAIN").unwrap_or_else(|_| "ccci.test".into()),
            ingress,
            testbed_ingress: std::env::var("CCCI_PROXY").as_deref() != Ok("traefik"),
            max_tests: env_u64("MAX_TESTS").map(|n| n.max(1) as usize).unwrap_or(2),
            keep_on_failure: matches!(std::env::var("CCCI_KEEP").as_deref(), Ok("1" | "true")),
            abra_bin: std::env::var_os("CCCI_ABRA")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("abra")),
            abra_server: std::env::var("CCCI_ABRA_SERVER").unwrap_or_else(|_| "default".into()),
            workspace_root: workspace_root(),
            recipe_repo: std::env::var_os("CCCI_RECIPE_REPO").map(PathBuf::from),
            name_tag: std::env::var("CCCI_NAME_TAG").ok().filter(|t| !t.is_empty()),
            ca_pem: std::env::var_os("CCCI_CA").map(PathBuf::from),
            helper_image: std::env::var("CCCI_HELPER_IMAGE").ok(),
            testbed_jobs: env_u64("CCCI_TESTBED_JOBS").map(|n| n.max(1) as usize).unwrap_or(3),
            debian_mirror: std::env::var("CCCI_DEBIAN_MIRROR").unwrap_or_else(|_| "http://deb.debian.org/debian".into()),
            chromium: std::env::var_os("CCCI_CHROMIUM").map(PathBuf::from).unwrap_or_else(|| "/usr/bin/chromium".into()),
            chromedriver: std::env::var_os("CCCI_CHROMEDRIVER")
                .map(PathBuf::from)
                .unwrap_or_else(|| "/usr/bin/chromedriver".into()),
            engine_via_bridge: std::env::var_os(BRIDGE_VAR).is_some(),
            docker_cli_env: DOCKER_CLI_VARS.iter().filter_map(|k| Some(((*k).to_owned(), std::env::var(k).ok()?))).collect(),
            timeouts: Timeouts::from_env(scale),
        })
    }

    /// The variables a process started for this run must see to join it (test runners under
    /// `xtask`, the run watcher): the run's identity, its owner and its state directory.
    /// Everything else a child needs it inherits as it is.
    pub fn child_env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("CCCI_RUN_ID", self.run_id.clone()),
            ("CCCI_RUN_OWNER_PID", self.owner_pid.to_string()),
            ("CCCI_STATE_DIR", self.state_dir.display().to_string()),
        ];
        if let Some(tag) = &self.name_tag {
            env.push(("CCCI_NAME_TAG", tag.clone()));
        }
        if let Some(repo) = &self.recipe_repo {
            env.push(("CCCI_RECIPE_REPO", repo.display().to_string()));
        }
        env
    }

    /// A config for a new run owned by this process (xtask's runs): a fresh id, this pid.
    pub fn new_run(mut self, prefix: &str) -> RunConfig {
        self.run_id = format!("{prefix}{}-{}", std::process::id(), now_unix() % 1_000_000);
        self.owner_pid = std::process::id();
        self
    }

    /// This run's directory: leases, records, logs and artifacts.
    pub fn run_dir(&self) -> PathBuf {
        self.state_dir.join("runs").join(&self.run_id)
    }

    pub fn runs_dir(&self) -> PathBuf {
        self.state_dir.join("runs")
    }

    /// The testbed's fixture recipes (`testbed/recipes/<name>`).
    pub fn fixtures_dir(&self) -> PathBuf {
        self.workspace_root.join("testbed").join("recipes")
    }
}

/// Run ids appear in labels, stack names and paths: keep them to `[a-z0-9-]`.
pub(crate) fn validate_run_id(id: &str) -> Result<String, HarnessError> {
    let ok = !id.is_empty()
        && id.len() <= 32
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(id.to_owned())
    } else {
        Err(HarnessError::Config(format!(
            "CCCI_RUN_ID={id:?}: use 1-32 characters of [a-z0-9-]"
        )))
    }
}

/// A run id every process of one test invocation derives alike: from the runner's pid and
/// start time, so a recycled pid never joins a dead run.
fn default_run_id(owner_pid: u32) -> String {
    if let Ok(id) = std::env::var("NEXTEST_RUN_ID") {
        // nextest gives each invocation a UUID; its first group is unique enough per host.
        let short: String = id.chars().filter(|c| c.is_ascii_hexdigit()).take(8).collect();
        return format!("nx-{}", short.to_ascii_lowercase());
    }
    let start = crate::proc::start_time(owner_pid).unwrap_or(0);
    format!("p{owner_pid}-{start}")
}

fn now_unix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.parse().ok()
}

/// The workspace root, found from the running test binary's manifest dir when cargo sets it,
/// else by walking up from the current directory to the `Cargo.toml` with `[workspace]`.
pub(crate) fn workspace_root() -> PathBuf {
    if let Some(root) = std::env::var_os("CCCI_WORKSPACE") {
        return PathBuf::from(root);
    }
    let start = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_else(|| PathBuf::from("."));
    find_workspace_root(&start).unwrap_or(start)
}

fn find_workspace_root(start: &Path) -> Option<PathBuf> {
    start.ancestors().find_map(|dir| {
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).ok()?;
        manifest.contains("[workspace]").then(|| dir.to_path_buf())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeout_scale_that_is_not_a_positive_number_counts_as_one() {
        assert_eq!(parse_scale(Some("2")), 2.0);
        assert_eq!(parse_scale(Some(" 1.5 ")), 1.5);
        for bad in [None, Some(""), Some("two"), Some("0"), Some("-3"), Some("inf"), Some("NaN")] {
            assert_eq!(parse_scale(bad), 1.0, "{bad:?}");
        }
    }

    #[test]
    fn run_ids_outside_the_label_alphabet_are_refused() {
        assert!(validate_run_id("pr12-abc1234").is_ok());
        for bad in ["", "Has-Upper", "semi;colon", "a b", &"x".repeat(33)] {
            assert!(validate_run_id(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn workspace_root_is_found_from_a_member_directory() {
        let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let root = find_workspace_root(&here).expect("workspace root");
        assert!(root.join("harness").is_dir());
        assert!(root.join("Cargo.toml").is_file());
    }
}
