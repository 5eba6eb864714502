//! `cargo xtask bench`: the two numbers the foundation is judged by, printed as ratios.
//!
//! (a) Readiness lag: the seconds from the app's container turning healthy (Docker's own
//!     `health_status: healthy` event) to the harness seeing the stack converged, over a few
//!     deployments of the custom-html head; compared with the poll interval.
//! (b) Overhead: the wall time of the whole custom-html suite (`cargo nextest run`, every
//!     stage, three deployments) against a bare `docker service create` of the same image to
//!     its first HTTP 200.
//!
//! It needs the testbed (`cargo xtask testbed up`) and cleans up what it creates.

use std::{collections::HashMap, process::Command, time::{Duration, Instant}};

use anyhow::Context as _;
use futures_util::StreamExt as _;
use harness::{Rev, Suite, ops::RunConfig};

const BARE_SERVICE: &str = "ccci-bench-bare";
const BARE_PORT: u16 = 18089;

pub async fn run(rounds: usize) -> anyhow::Result<()> {
    let config = RunConfig::from_env()?;
    harness::ops::up(&config).await?;
    let root = config.workspace_root.clone();

    // (a) readiness lag
    let suite = Suite::start(root.join("recipes").join("custom-html")).await?;
    let mut lags = vec![];
    for round in 0..rounds {
        let since = harness::ops::now_unix().saturating_sub(1);
        let app = suite.deploy(&format!("b{round}"), Rev::Head).await?;
        let noticed_ms = app.converged_at_ms();
        let healthy_ms = healthy_event_ms(&suite, &app.service("app"), since).await;
        let stack = app.stack().to_owned();
        app.teardown().await?;
        let healthy_ms = healthy_ms?;
        let lag = noticed_ms.saturating_sub(healthy_ms) as f64 / 1000.0;
        println!("round {round}: {stack} healthy -> noticed in {lag:.3}s");
        lags.push(lag);
    }
    let poll = config.timeouts.poll.as_secs_f64();
    let mean = lags.iter().sum::<f64>() / lags.len().max(1) as f64;
    let max = lags.iter().cloned().fold(0.0, f64::max);

    // (b) suite wall time vs a bare service
    let bare = bare_service_to_first_200().await?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // Build first: the ratio is about running the suite, not compiling it.
    let built = Command::new(&cargo).args(["nextest", "run", "--no-run", "-p", "recipe-custom-html"]).status()?;
    anyhow::ensure!(built.success(), "building the custom-html suite failed");
    let start = Instant::now();
    let status = Command::new(cargo).args(["nextest", "run", "-p", "recipe-custom-html"]).status()?;
    let suite_secs = start.elapsed().as_secs_f64();
    anyhow::ensure!(status.success(), "the custom-html suite failed; no overhead ratio");

    println!();
    println!("(a) readiness lag: mean {mean:.3}s, max {max:.3}s over {} deployments; poll interval {poll:.3}s; max/poll = {:.2}", lags.len(), max / poll);
    println!("(b) custom-html suite {suite_secs:.1}s vs bare docker service create -> first 200 {bare:.1}s: ratio {:.1}", suite_secs / bare);
    Ok(())
}

/// The time of the `health_status: healthy` event of the service's container.
async fn healthy_event_ms(suite: &Suite, service: &str, since: u64) -> anyhow::Result<u64> {
    let docker = suite.run.swarm.docker();
    let options = bollard::query_parameters::EventsOptions {
        since: Some(since.to_string()),
        // `until` is exclusive at second granularity: include the current second.
        until: Some((harness::ops::now_unix() + 1).to_string()),
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
    first.with_context(|| format!("no healthy event for {service}"))
}

/// `docker service create` of the same image, published on a host port, until it answers 200.
async fn bare_service_to_first_200() -> anyhow::Result<f64> {
    let _ = Command::new("docker").args(["service", "rm", BARE_SERVICE]).output();
    let start = Instant::now();
    let out = Command::new("docker")
        .args(["service", "create", "--detach", "--name", BARE_SERVICE, "--label", "ccci.run=bench"])
        .args(["--publish", &format!("mode=host,target=80,published={BARE_PORT}"), "ccci-testbed/nginx:1.22.1-2"])
        .output()?;
    anyhow::ensure!(out.status.success(), "docker service create: {}", String::from_utf8_lossy(&out.stderr));
    let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
    let url = format!("http://127.0.0.1:{BARE_PORT}/");
    let result = harness::converge("the bare service to answer 200", Duration::from_secs(60), Duration::from_millis(50), || async {
        match client.get(&url).send().await {
            Ok(r) if r.status().as_u16() == 200 => Ok(()),
            Ok(r) => Err(format!("HTTP {}", r.status())),
            Err(e) => Err(e.to_string()),
        }
    })
    .await;
    let secs = start.elapsed().as_secs_f64();
    let _ = Command::new("docker").args(["service", "rm", BARE_SERVICE]).output();
    result?;
    Ok(secs)
}
