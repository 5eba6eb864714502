//! MAX_TESTS is what an operator reads: at most that many app deployments on the host at any
//! moment, whatever runs share it. Two runs of the custom-html suite (each would use two
//! slots at once: its shared deployment and a mutating stage, more under nextest) share a cap
//! of 1, then of 2, while the Swarm is sampled every 100 ms; the number of live stacks of
//! those runs never exceeds the cap, nobody goes over it to break a wait, and both pass.
//!
//! Needs the testbed (`cargo xtask testbed up`) and the built custom-html suite.

use std::{
    collections::BTreeSet,
    path::Path,
    process::{Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

/// Live stacks of the given runs right now (a stack is `<stack>_<service>` minus the service).
fn live_stacks(runs: &[String]) -> BTreeSet<String> {
    let mut stacks = BTreeSet::new();
    for run in runs {
        let out = Command::new("docker")
            .args(["service", "ls", "--filter", &format!("label=ccci.run={run}"), "--format", "{{.Name}}"])
            .output()
            .expect("docker service ls");
        for name in String::from_utf8_lossy(&out.stdout).lines() {
            stacks.insert(name.rsplit_once('_').map(|(stack, _)| stack).unwrap_or(name).to_owned());
        }
    }
    stacks
}

/// Runs two custom-html suites under `MAX_TESTS=cap` at once; returns the most stacks seen.
fn two_runs_under(cap: usize, root: &Path) -> anyhow::Result<usize> {
    let tag = format!("{}-{}", std::process::id(), rand_suffix());
    let runs: Vec<String> = ["a", "b"].iter().map(|r| format!("cap{cap}{r}-{tag}")).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (stop, runs) = (stop.clone(), runs.clone());
        std::thread::spawn(move || {
            let mut most = 0;
            // A sampling rate, not a wait for a state: the loop ends when both runs have.
            let every = Duration::from_millis(100);
            while !stop.load(Ordering::SeqCst) {
                let seen = live_stacks(&runs);
                if seen.len() > most {
                    most = seen.len();
                    eprintln!("cap {cap}: {most} stacks at once: {seen:?}");
                }
                std::thread::sleep(every); // sampling rate, not a wait for a state: ends with the runs
            }
            most
        })
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let children: Vec<_> = runs
        .iter()
        .map(|run| {
            Command::new(&cargo)
                .args(["test", "-q", "-p", "recipe-custom-html"])
                .current_dir(root)
                .env("MAX_TESTS", cap.to_string())
                .env("CCCI_RUN_ID", run)
                .env_remove("CCCI_RUN_OWNER_PID")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
        })
        .collect::<Result<_, _>>()?;
    let outcomes: Vec<_> = children.into_iter().map(|c| c.wait_with_output()).collect::<Result<_, _>>()?;
    stop.store(true, Ordering::SeqCst);
    let most = sampler.join().expect("sampler thread");
    let runs_dir = harness::ops::RunConfig::from_env()?.runs_dir();
    for (run, out) in runs.iter().zip(&outcomes) {
        let stderr = String::from_utf8_lossy(&out.stderr);
        anyhow::ensure!(out.status.success(), "run {run} under MAX_TESTS={cap} failed:\n{}", tail(&stderr, 40));
        // Progress lines of a test are captured by libtest; the run log has them all.
        let log = std::fs::read_to_string(runs_dir.join(run).join("run.log"))?;
        anyhow::ensure!(log.contains("deploy #"), "run {run} left no run log at {}", runs_dir.join(run).display());
        anyhow::ensure!(!log.contains("goes over MAX_TESTS"), "run {run} went over MAX_TESTS={cap}:\n{}", tail(&log, 30));
    }
    Ok(most)
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn rand_suffix() -> String {
    format!("{:04x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos() % 65536).unwrap_or(0))
}

#[test]
fn two_runs_never_hold_more_deployments_than_max_tests() -> anyhow::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf();
    for cap in [1, 2] {
        let most = two_runs_under(cap, &root)?;
        assert!(most <= cap, "{most} deployments at once under MAX_TESTS={cap}");
        assert!(most >= 1, "the sampler saw no deployment at all under MAX_TESTS={cap}: it measured nothing");
        eprintln!("MAX_TESTS={cap}: at most {most} deployments at once over two runs");
    }
    Ok(())
}
