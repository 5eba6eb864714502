//! `cargo xtask`: the project's tasks (see matklad/cargo-xtask).
//!
//! - `testme <pr>`: a `!testme` on a PR, from trigger check to the report on the PR;
//! - `affected --base <rev>`: which recipe crates `<rev>..HEAD` needs, and why;
//! - `lint <dir>`: the L5 lint rung on a recipe checkout, or on a recipe crate and its fixture;
//! - `new-recipe <name>`: scaffolds a recipe suite and its testbed fixture;
//! - `coverage`: one row per recipe of the set: crate, parity, tests, fixture, last result;
//! - `matrix [--check]`: writes (or checks) `.drone.yml`;
//! - `testbed up|status|down`: the offline single-node Swarm with the fixture images;
//! - `test <recipe>...`: runs recipe suites as one run (janitor first, teardown after);
//! - `janitor`: removes resources of runs that are gone or past their deadline;
//! - `bench <recipe>`: a suite's wall time against its deployments' bare cold starts, as a ratio;
//! - `mutants <recipe>`: the suite run against broken copies of the recipe; every one must fail it.
//!
//! The work lives in the `xtask` library (`src/lib.rs`); this file parses arguments. Errors
//! print as one `error: ...` line and exit non-zero.

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use harness::ops::{JanitorOptions, RunConfig};
use xtask::{affected, bench, coverage, lint, matrix, mutants, new_recipe, run_tests, testme, workspace::Workspace};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Tasks of the Co-op Cloud recipe CI")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Tests a pull request: `owner/repo#N`, a PR URL, or a number with --repo. Needs
    /// GITEA_URL and GITEA_TOKEN.
    Testme(testme::TestmeArgs),
    /// Prints the recipe crates the commits `<base>..HEAD` need, with reasons.
    Affected {
        /// The revision to diff from (e.g. `origin/main`, `HEAD~1`).
        #[arg(long)]
        base: String,
    },
    /// Lints a recipe checkout (compose.yml, .env.sample) against Co-op Cloud conventions, or
    /// a recipe crate (recipe.toml, PARITY.md, test modules) and its testbed fixture head.
    Lint {
        /// A recipe checkout (or `testbed/recipes/<name>/head`), or a crate `recipes/<name>`.
        dir: PathBuf,
        /// The recipe (for its recipe.toml); default: TYPE from the directory's .env.sample.
        #[arg(long)]
        recipe: Option<String>,
    },
    /// Scaffolds `recipes/<name>` (a suite whose tests say what to write) and a testbed fixture
    /// skeleton, then regenerates .drone.yml.
    NewRecipe {
        /// The Co-op Cloud recipe name, `[a-z0-9-]+`.
        name: String,
    },
    /// One row per recipe of the set (SPEC.md): crate, PARITY.md, tests per stage, fixture,
    /// last result on this machine, level.
    Coverage,
    /// Writes .drone.yml from the workspace's recipe crates.
    Matrix {
        /// Fail (without writing) when .drone.yml is not what `matrix` would write.
        #[arg(long)]
        check: bool,
    },
    /// The offline testbed: a local single-node Swarm and the fixture images.
    Testbed {
        #[command(subcommand)]
        action: TestbedAction,
    },
    /// Runs the suites of the named recipes (e.g. `custom-html`) as one run.
    Test(run_tests::TestArgs),
    /// Measures a recipe's suite against the floor its deployments set (a bare
    /// `docker stack deploy` to its first ready answer), and its readiness lag; prints ratios.
    Bench {
        /// The recipe, e.g. `custom-html`.
        recipe: String,
        /// Deployments to measure the bare cold start and readiness lag over (median).
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// Runs the recipe's suite against each mutant of its catalogue (a realistic breakage of
    /// its head); exits non-zero if one that applies survives.
    Mutants(mutants::MutantsArgs),
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
    Up {
        /// Only the images of these recipes and of what they need (e.g. `custom-html`);
        /// every fixture's when none is named.
        recipes: Vec<String>,
    },
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
        Command::Testme(args) => return testme::run(args).await,
        Command::Affected { base } => {
            let (_, text) = affected::run(&cwd()?, &base)?;
            print!("{text}");
        }
        Command::Lint { dir, recipe } => return lint_command(&dir, recipe.as_deref()),
        Command::NewRecipe { name } => print!("{}", new_recipe::run(&cwd()?, &name)?),
        Command::Coverage => {
            let ws = Workspace::load(&cwd()?)?;
            print!("{}", coverage::run(&ws, &config()?.state_dir));
        }
        Command::Matrix { check } => {
            let ws = Workspace::load(&cwd()?)?;
            println!("{}", matrix::run(&ws, check)?);
        }
        Command::Testbed { action: TestbedAction::Up { recipes } } if recipes.is_empty() => harness::ops::up(&config()?).await?,
        Command::Testbed { action: TestbedAction::Up { recipes } } => {
            let fixtures = run_tests::fixture_closure(&recipes)?;
            harness::ops::up_for(&config()?, &harness::ops::Fixtures::Only(fixtures)).await?
        }
        Command::Testbed { action: TestbedAction::Status } => {
            let (ok, lines) = harness::ops::status(&config()?).await;
            for line in lines {
                println!("{line}");
            }
            if !ok {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Testbed { action: TestbedAction::Down } => harness::ops::down(&config()?).await?,
        Command::Test(args) => return run_tests::run(args).await,
        Command::Bench { recipe, rounds } => bench::run(&recipe, rounds).await?,
        Command::Mutants(args) => return mutants::run(args).await,
        Command::Janitor { run, force } => {
            let config = config()?;
            let reaped = harness::ops::janitor(&config, &harness::ops::platform(&config), &JanitorOptions { run, force }).await?;
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

/// `lint <dir>`: finds the recipe's `recipe.toml` (for `[backup] capable`) through the
/// workspace, by `--recipe` or the checkout's `.env.sample` TYPE.
/// A recipe crate (it has a recipe.toml) is linted with its fixture instead.
fn lint_command(dir: &std::path::Path, recipe: Option<&str>) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(dir.is_dir(), "{} is not a directory", dir.display());
    if lint::is_recipe_crate(dir) {
        anyhow::ensure!(recipe.is_none(), "--recipe is for a recipe checkout; the crate {} names its recipe in recipe.toml", dir.display());
        let report = lint::lint_crate(dir);
        print!("{}", report.table());
        return Ok(if report.passed() { ExitCode::SUCCESS } else { ExitCode::FAILURE });
    }
    let name = recipe.map(str::to_owned).or_else(|| {
        let sample = std::fs::read_to_string(dir.join(".env.sample")).ok()?;
        sample.lines().find_map(|l| l.trim().strip_prefix("TYPE=").map(|t| t.trim().trim_matches('"').to_owned()))
    });
    let ws = Workspace::load(&std::env::current_dir()?)?;
    let capable = match &name {
        Some(name) => match ws.recipe_named(name) {
            Some(r) => Some(r.backup_capable),
            None if recipe.is_some() => anyhow::bail!("no recipe crate for {name:?} (known recipes: {})", ws.recipe_names()),
            None => None,
        },
        None => None,
    };
    let report = lint::lint_dir(dir, capable);
    print!("{}", report.table());
    Ok(if report.passed() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
