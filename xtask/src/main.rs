//! `cargo xtask`: the project's tasks (see matklad/cargo-xtask).
//!
//! - `testbed up|status|down`: the offline single-node Swarm with the fixture images;
//! - `test <recipe>...`: runs recipe suites as one run (janitor first, teardown after);
//! - `janitor`: removes resources of runs that are gone or past their deadline.
//!
//! xtask links the harness (for the testbed and the janitor) but never a recipe crate: it
//! finds recipes through `cargo metadata` and runs them as cargo packages.

mod run_tests;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use harness::{RunConfig, teardown::JanitorOptions};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Tasks of the Co-op Cloud recipe CI")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The offline testbed: a local single-node Swarm and the fixture images.
    Testbed {
        #[command(subcommand)]
        action: TestbedAction,
    },
    /// Runs the suites of the named recipes (e.g. `custom-html`) as one run.
    Test(run_tests::TestArgs),
    /// Removes resources of runs whose owner is gone or whose deadline passed.
    Janitor {
        /// Only this run.
        #[arg(long)]
        run: Option<String>,
        /// Also runs that are alive or were kept for debugging.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum TestbedAction {
    /// Installs/starts what is missing; idempotent, seconds when nothing changed.
    Up,
    /// Says what is there and what is missing (exit 1 if anything is missing).
    Status,
    /// Removes the ingress; keeps images and the Swarm (the cache).
    Down,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = || -> anyhow::Result<RunConfig> { Ok(RunConfig::from_env()?) };
    match cli.command {
        Command::Testbed { action: TestbedAction::Up } => harness::testbed::up(&config()?).await?,
        Command::Testbed { action: TestbedAction::Status } => {
            let (ok, lines) = harness::testbed::status(&config()?).await;
            for line in lines {
                println!("{line}");
            }
            if !ok {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Testbed { action: TestbedAction::Down } => harness::testbed::down(&config()?).await?,
        Command::Test(args) => return run_tests::run(args).await,
        Command::Janitor { run, force } => {
            let reaped = harness::teardown::janitor(&config()?, &JanitorOptions { run, force }).await?;
            if reaped.is_empty() {
                println!("janitor: nothing to remove");
            }
            for r in reaped {
                println!("janitor: run {}: removed {}", r.run_id, r.removed);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
