//! `cargo xtask`: the project's tasks (see matklad/cargo-xtask).
//!
//! - `affected --base <rev>`: which recipe crates `<rev>..HEAD` needs, and why;
//! - `testbed up|status|down`: the offline single-node Swarm with the fixture images;
//! - `test <recipe>...`: runs recipe suites as one run (janitor first, teardown after);
//! - `janitor`: removes resources of runs that are gone or past their deadline.
//!
//! The work lives in the `xtask` library (`src/lib.rs`); this file parses arguments. Errors
//! print as one `error: ...` line and exit non-zero.

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use harness::{RunConfig, teardown::JanitorOptions};
use xtask::{affected, run_tests};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Tasks of the Co-op Cloud recipe CI")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Prints the recipe crates the commits `<base>..HEAD` need, with reasons.
    Affected {
        /// The revision to diff from (e.g. `origin/main`, `HEAD~1`).
        #[arg(long)]
        base: String,
    },
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
            // One line, whatever the error chain.
            let text = format!("{e:#}");
            eprintln!("error: {}", text.split_whitespace().collect::<Vec<_>>().join(" "));
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = || -> anyhow::Result<RunConfig> { Ok(RunConfig::from_env()?) };
    let cwd = || -> anyhow::Result<PathBuf> { Ok(std::env::current_dir()?) };
    match cli.command {
        Command::Affected { base } => {
            let (_, text) = affected::run(&cwd()?, &base)?;
            print!("{text}");
        }
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
