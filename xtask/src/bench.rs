//! `cargo xtask bench <recipe>`: what a recipe's suite costs against the floor its
//! deployments set, printed as ratios.
//!
//! - **Bare cold start**: the recipe's head, rendered once by the stack driver (same images,
//!   env, secrets), wiped, then deployed again with a plain `docker stack deploy` of that
//!   compose file and polled every 50 ms until the app's own readiness answers (its
//!   `[ready]`, or for a routed app without one, the app rather than the proxy answering).
//!   No convergence bookkeeping, no harness waits: the floor one deployment costs.
//! - **Readiness lag**: from Docker's own `health_status: healthy` event of the app's
//!   container to the harness seeing the stack converged, against the poll interval.
//! - **Suite**: the recipe's suite under `cargo nextest run` (built first), its wall time as
//!   nextest reports it (cargo's own start and the test listing are printed beside) and
//!   the cold starts it made (every deploy, redeploy after a wipe, and upgrade in its run log).
//!
//! The ratio is `suite / (bare cold start × cold starts / MAX_TESTS)`: 1.0 would be a suite
//! that costs nothing beyond deploying what it must, with every slot busy all the time.
//! It needs the testbed and cleans up what it creates.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use futures_util::StreamExt as _;
use harness::{
    Rev, Suite,
    ops::{Fixtures, RunConfig, now_unix},
};

/// What `bench` measured, for the report and its tests.
#[derive(Debug, Clone)]
pub struct Measured {
    pub bare_secs: f64,
    pub suite_secs: f64,
    pub cold_starts: usize,
    pub slots: usize,
}

impl Measured {
    /// The limit the suite is held to: every cold start at the bare cost, all slots busy.
    pub fn floor_secs(&self) -> f64 {
        self.bare_secs * self.cold_starts as f64 / self.slots.max(1) as f64
    }

    pub fn ratio(&self) -> f64 {
        self.suite_secs / self.floor_secs().max(f64::EPSILON)
    }
}

pub async fn run(recipe: &str, rounds: usize) -> anyhow::Result<()> {
    let recipe = recipe.trim_start_matches("recipe-").to_owned();
    let config = RunConfig::from_env()?;
    let fixtures = crate::run_tests::fixture_closure(std::slice::from_ref(&recipe))?;
    harness::ops::up_for(&config, &Fixtures::Only(fixtures)).await?;
    let crate_dir = config.workspace_root.join("recipes").join(&recipe);
    let suite = Suite::start(&crate_dir).await?;

    // Bare cold start and readiness lag, over `rounds` deployments of the head.
    let (mut bare, mut lags) = (vec![], vec![]);
    for round in 0..rounds.max(1) {
        let since = now_unix().saturating_sub(1);
        let app = suite.deploy(&format!("b{round}"), Rev::Head).await?;
        let lag = match healthy_event_ms(&suite, &app.service("app"), since).await {
            Ok(healthy_ms) => Some(app.converged_at_ms().saturating_sub(healthy_ms) as f64 / 1000.0),
            Err(e) => {
                println!("round {round}: no readiness lag ({e:#})");
                None
            }
        };
        let measured = bare_cold_start(&app).await;
        let stack = app.stack().to_owned();
        app.teardown().await?;
        let secs = measured?;
        println!("round {round}: {stack}: bare cold start {secs:.2}s{}", lag.map(|l| format!(", healthy -> noticed {l:.3}s")).unwrap_or_default());
        bare.push(secs);
        lags.extend(lag);
    }
    let bare_secs = median(&mut bare);

    // The suite, built first: the ratio is about running it, not compiling it.
    let package = format!("recipe-{recipe}");
    let built = crate::cargo().args(["nextest", "run", "--no-run", "-p", &package]).status()?;
    anyhow::ensure!(built.success(), "building {package} failed");
    let run_id = format!("bench{}-{}", std::process::id(), now_unix() % 100_000);
    let start = Instant::now();
    let mut child = crate::cargo()
        .args(["nextest", "run", "-p", &package])
        .env("CCCI_RUN_ID", &run_id)
        .env("CCCI_RUN_OWNER_PID", std::process::id().to_string())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    // nextest's own account of the run (its `Summary [ 13.3s]`), echoed as it comes: the
    // suite's wall time without cargo's freshness check and the test listing before it.
    let mut summary = None;
    for line in std::io::BufRead::lines(std::io::BufReader::new(child.stderr.take().expect("piped"))) {
        let line = line?;
        eprintln!("{line}");
        summary = summary.or_else(|| nextest_summary_secs(&line));
    }
    let status = child.wait()?;
    let wall_secs = start.elapsed().as_secs_f64();
    let suite_secs = summary.unwrap_or(wall_secs);
    let run_dir = config.runs_dir().join(&run_id);
    let log = std::fs::read_to_string(run_dir.join("run.log")).unwrap_or_default();
    let guard = harness::ops::RunGuard { platform: harness::ops::platform(&config), config: RunConfig { run_id: run_id.clone(), ..config.clone() } };
    println!("{}", guard.finish(true).await?);
    anyhow::ensure!(status.success(), "the {recipe} suite failed; no ratio");

    let measured = Measured { bare_secs, suite_secs, cold_starts: cold_starts(&log), slots: config.max_tests };
    let poll = config.timeouts.poll.as_secs_f64();
    println!();
    if !lags.is_empty() {
        let max = lags.iter().cloned().fold(0.0, f64::max);
        let mean = lags.iter().sum::<f64>() / lags.len() as f64;
        println!("readiness lag: mean {mean:.3}s, max {max:.3}s over {} deployments; poll {poll:.3}s; max/poll = {:.2}", lags.len(), max / poll);
    }
    println!("suite under nextest {suite_secs:.1}s ({wall_secs:.1}s with cargo's start and the test listing)");
    println!(
        "{recipe}: suite {:.1}s; bare cold start {:.2}s x {} cold starts / {} slots = {:.1}s; ratio {:.2}",
        measured.suite_secs,
        measured.bare_secs,
        measured.cold_starts,
        measured.slots,
        measured.floor_secs(),
        measured.ratio()
    );
    Ok(())
}

/// Wipes `app`, deploys its rendered compose with a plain `docker stack deploy`, and polls
/// its readiness every 50 ms: seconds from the deploy command to the first ready answer.
async fn bare_cold_start(app: &harness::Deployment) -> anyhow::Result<f64> {
    app.wipe().await?;
    let start = Instant::now();
    app.bare_redeploy().await?;
    harness::converge("the bare deployment to answer ready", Duration::from_secs(600), Duration::from_millis(50), || async {
        match app.is_ready().await {
            Ok(true) => Ok(()),
            Ok(false) => Err("not ready".to_owned()),
            Err(e) => Err(e.to_string()),
        }
    })
    .await?;
    Ok(start.elapsed().as_secs_f64())
}

/// The seconds of nextest's closing `Summary [  13.328s] 13 tests run: ...` line.
pub fn nextest_summary_secs(line: &str) -> Option<f64> {
    let rest = line.trim_start().strip_prefix("Summary [")?;
    rest.split_once("s]")?.0.trim().parse().ok()
}

/// Cold starts in a run log: every `deploying <recipe> <rev>` line (first deploys, redeploys
/// onto wiped volumes, upgrades).
pub fn cold_starts(run_log: &str) -> usize {
    run_log.lines().filter(|l| l.contains(": deploying ")).count()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// The time of the `health_status: healthy` event of the service's container.
async fn healthy_event_ms(suite: &Suite, service: &str, since: u64) -> anyhow::Result<u64> {
    let docker = suite.run.swarm.docker();
    let options = bollard::query_parameters::EventsOptions {
        since: Some(since.to_string()),
        // `until` is exclusive at second granularity: include the current second.
        until: Some((now_unix() + 1).to_string()),
        filters: Some(HashMap::from([("event".to_owned(), vec!["health_status".to_owned()])])),
    };
    let mut events = docker.events(Some(options));
    let mut first = None;
    while let Some(event) = events.next().await {
        let event = event?;
        let name = event.actor.as_ref().and_then(|a| a.attributes.as_ref()).and_then(|a| a.get("name")).cloned().unwrap_or_default();
        if event.action.as_deref() == Some("health_status: healthy") && name.starts_with(&format!("{service}.")) {
            first = event.time_nano.map(|ns| (ns / 1_000_000) as u64);
            break;
        }
    }
    first.with_context(|| format!("no healthy event for {service} (no healthcheck?)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ratio_divides_the_suite_by_the_slot_shared_floor() {
        let m = Measured { bare_secs: 2.0, suite_secs: 14.0, cold_starts: 7, slots: 2 };
        assert_eq!(m.floor_secs(), 7.0);
        assert_eq!(m.ratio(), 2.0);
    }

    #[test]
    fn the_suite_time_is_read_from_nextests_summary() {
        assert_eq!(nextest_summary_secs("     Summary [  13.328s] 13 tests run: 13 passed, 0 skipped"), Some(13.328));
        assert_eq!(nextest_summary_secs("        PASS [   7.177s] ( 1/13) recipe-custom-html::custom-html backup::x"), None);
        assert_eq!(nextest_summary_secs("Summary [ garbage"), None);
    }

    #[test]
    fn cold_starts_count_deploys_redeploys_and_upgrades() {
        let log = "[ccci 0.1s pid 1] a_ccci_test: deploying custom-html head\n\
                   [ccci 2.0s pid 1] a_ccci_test: converged after 1.8s\n\
                   [ccci 3.0s pid 1] a_ccci_test: deploying custom-html 1.0.0+1.22.1\n\
                   [ccci 3.0s pid 2] b: attached to the shared deployment\n";
        assert_eq!(cold_starts(log), 2);
    }
}
