//! `cargo xtask test <recipe>...`: the main job on the testbed.
//!
//! One run for all named recipes: the testbed brought up, the janitor, then
//! `cargo nextest run` (or `cargo test` without nextest) over the recipe packages with
//! `CCCI_RUN_ID`/`CCCI_RUN_OWNER_PID` naming this process as the run's owner, and finally
//! a teardown of everything the run left, whatever the tests' outcome. Each recipe's result
//! is recorded for `cargo xtask coverage` ([`crate::results`]).

use std::process::ExitCode;

use anyhow::Context as _;
use harness::ops::{Fixtures, Recipe, RunGuard};

#[derive(clap::Args)]
pub struct TestArgs {
    /// Recipe names, e.g. `custom-html` (package `recipe-custom-html`).
    #[arg(required = true)]
    recipes: Vec<String>,
    /// Use `cargo test` even when cargo-nextest is installed.
    #[arg(long)]
    cargo_test: bool,
    /// Skip `testbed up` (a cc-ci host with its own Swarm and Traefik).
    #[arg(long)]
    no_testbed: bool,
}

/// Recipe package names in the workspace, from `cargo metadata`.
pub fn recipe_packages() -> anyhow::Result<Vec<String>> {
    let out = crate::cargo()
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .context("running cargo metadata")?;
    anyhow::ensure!(out.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let mut names: Vec<String> = meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["name"].as_str())
        .filter(|n| n.starts_with("recipe-"))
        .map(str::to_owned)
        .collect();
    names.sort();
    Ok(names)
}

pub async fn run(args: TestArgs) -> anyhow::Result<ExitCode> {
    let known = recipe_packages()?;
    let mut packages = vec![];
    for recipe in &args.recipes {
        let package = format!("recipe-{}", recipe.trim_start_matches("recipe-"));
        if !known.contains(&package) {
            anyhow::bail!(
                "no recipe suite named {recipe:?}: known recipes are {}",
                known.iter().map(|k| k.trim_start_matches("recipe-")).collect::<Vec<_>>().join(", ")
            );
        }
        packages.push(package);
    }
    // Every involved recipe.toml is checked before anything is built or deployed: a broken
    // one is one line naming file, line and key, not an error per test.
    let fixtures = fixture_closure(&args.recipes)?;
    let testbed = Fixtures::Only(fixtures);
    let guard = RunGuard::start("x", (!args.no_testbed).then_some(&testbed)).await?;
    let run_id = guard.run_id().to_owned();
    let nextest = !args.cargo_test && has_nextest();
    let mut cmd = tokio::process::Command::from(crate::cargo());
    let junit = if nextest {
        // The `ci` profile writes the JUnit report that the results below are made from, into
        // a store of this run's own: nextest's default store is under the workspace, whatever
        // CARGO_TARGET_DIR says, and shared by every run of the checkout.
        let (config, junit) = crate::results::private_nextest_config(&guard.config.workspace_root, &guard.config.run_dir(), "test")?;
        cmd.args(["nextest", "run", "--profile", "ci", "--no-fail-fast", "--config-file"]).arg(config);
        crate::results::clear_nextest_env(&mut cmd);
        Some(junit)
    } else {
        cmd.args(["test", "--no-fail-fast"]);
        None
    };
    for p in &packages {
        cmd.args(["-p", p]);
    }
    // The run's variables go to the child processes only (set on the command, not on us).
    cmd.envs(guard.child_env());
    println!("run {run_id}: {} {}", if nextest { "cargo nextest run" } else { "cargo test" }, packages.join(" "));
    let started = std::time::SystemTime::now();
    let status = cmd.status().await.context("starting the test runner")?;
    // Per-recipe results for `cargo xtask coverage`; a failure to record never fails the run.
    match crate::results::record_after_run(&guard.config, &packages, junit.as_deref(), status.code(), started) {
        Ok(paths) => paths.iter().for_each(|p| println!("run {run_id}: results: {}", p.display())),
        Err(e) => eprintln!("run {run_id}: results not recorded: {e:#}"),
    }
    let run_dir = guard.config.run_dir();
    println!("run {run_id}: {} deployments (log: {})", harness::ops::deploy_count(&run_dir), run_dir.join("run.log").display());
    // Layer 3: everything of this run goes, whatever the outcome (unless kept for debugging).
    println!("{}", guard.finish(status.success()).await?);
    Ok(if status.success() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn has_nextest() -> bool {
    crate::cargo()
        .args(["nextest", "--version"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The testbed fixtures `recipes` need: each one's own and its dependencies', transitively
/// (`requires`, `test_requires`, `[sso] provider`), loading (and so validating) every
/// involved `recipe.toml` first.
pub fn fixture_closure(recipes: &[String]) -> anyhow::Result<Vec<String>> {
    let root = harness::ops::RunConfig::from_env()?.workspace_root;
    let mut todo: Vec<String> = recipes.iter().map(|r| r.trim_start_matches("recipe-").to_owned()).collect();
    let (mut seen, mut fixtures) = (vec![], vec![]);
    while let Some(name) = todo.pop() {
        if seen.contains(&name) {
            continue;
        }
        let recipe = Recipe::load(root.join("recipes").join(&name))?;
        fixtures.push(recipe.fixture().to_owned());
        todo.extend(recipe.dependencies());
        seen.push(name);
    }
    fixtures.sort();
    fixtures.dedup();
    Ok(fixtures)
}
