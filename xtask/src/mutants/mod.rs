//! `cargo xtask mutants <recipe> [--only <mutant>]`: mutation testing for recipes.
//!
//! A suite that passes proves little until it has been seen to fail for the right reason.
//! Each mutant of the catalogue ([`catalogue`]: generic ones read from the compose files and
//! labels, plus the recipe's own `recipes/<name>/mutants/*.toml`) is applied to a scratch copy
//! of the recipe's source (the PR checkout `CCCI_RECIPE_REPO`, else the testbed fixture), and
//! the recipe's suite runs against it, limited to the test modules the mutant targets
//! (`install`, `upgrade`, `backup`, ...), as a run of its own (same slots, same teardown).
//!
//! First the unmutated source runs the union of those stages (the baseline): a suite that
//! already fails cannot judge a mutant. Then per mutant:
//! - **killed**: a targeted test failed (named, with its first failure line);
//! - **survived**: every targeted test passed, or none exists: the suite does not notice;
//! - **unverified**: only infrastructure failures ([`harness::UNVERIFIED_MARKER`]);
//! - **n/a**: the mutant cannot apply to this recipe (the reason is printed).
//!
//! The exit status is non-zero when a mutant that applies survived or could not be
//! verified, or a recipe's own mutant is stale. The table is also written to
//! `<state>/results/<recipe>.mutants.json` for reports.

pub mod catalogue;
pub mod compose_text;

use std::{
    path::{Path, PathBuf},
    process::{ExitCode, Stdio},
    time::Instant,
};

use anyhow::Context as _;
use harness::ops::{Fixtures, Recipe, RecipeSource, RunConfig, RunGuard};
use serde::Serialize;

use self::catalogue::{Applied, Mutant};
use crate::{
    junit::{self, Case},
    report::{self, TestStatus},
};

#[derive(clap::Args)]
pub struct MutantsArgs {
    /// The recipe, e.g. `custom-html`.
    recipe: String,
    /// Run only this mutant (its id, as `--list` prints it).
    #[arg(long)]
    only: Option<String>,
    /// List the catalogue and whether each mutant applies; run nothing.
    #[arg(long)]
    list: bool,
    /// Skip `testbed up` (a cc-ci host with its own Swarm and Traefik).
    #[arg(long)]
    no_testbed: bool,
}

/// How a mutant fared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Verdict {
    /// Tests of the targeted stages failed on it: `(test, first failure line)`.
    Killed { by: Vec<(String, String)> },
    /// The targeted stages passed (`ran` tests) or have no test.
    Survived { ran: usize },
    /// Nothing could be concluded: only infrastructure failures.
    Unverified { why: String },
    /// The mutant cannot apply to this recipe.
    NotApplicable { why: String },
    /// A recipe's own mutant no longer applies to the head: the mutant needs updating.
    Stale { why: String },
}

impl Verdict {
    fn word(&self) -> &'static str {
        match self {
            Verdict::Killed { .. } => "killed",
            Verdict::Survived { .. } => "SURVIVED",
            Verdict::Unverified { .. } => "unverified",
            Verdict::NotApplicable { .. } => "n/a",
            Verdict::Stale { .. } => "STALE",
        }
    }

    fn detail(&self) -> String {
        match self {
            Verdict::Killed { by } => by.iter().map(|(t, line)| format!("{t}: {line}")).collect::<Vec<_>>().join("; "),
            Verdict::Survived { ran: 0 } => "no test of these stages exists".into(),
            Verdict::Survived { ran } => format!("all {ran} tests of these stages passed"),
            Verdict::Unverified { why } | Verdict::NotApplicable { why } | Verdict::Stale { why } => why.clone(),
        }
    }

    /// Whether this verdict fails the command.
    pub fn fails(&self) -> bool {
        matches!(self, Verdict::Survived { .. } | Verdict::Unverified { .. } | Verdict::Stale { .. })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct MutantResult {
    pub id: String,
    pub about: String,
    pub stages: Vec<String>,
    #[serde(flatten)]
    pub verdict: Verdict,
    /// Of a killed mutant, the targeted stages none of whose tests failed: each stage is meant
    /// to notice on its own (the kill may rest on another stage alone).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unnoticed_by: Vec<String>,
    pub secs: f64,
}

/// The record `<state>/results/<recipe>.mutants.json`.
#[derive(Debug, Serialize)]
pub struct MutantsRecord {
    pub recipe: String,
    pub timestamp: String,
    pub killed: usize,
    pub applicable: usize,
    pub wall_secs: f64,
    pub mutants: Vec<MutantResult>,
}

/// What the targeted stages' tests did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageRun {
    pub failed: Vec<(String, String)>,
    pub unverified: Vec<(String, String)>,
    pub passed: usize,
    /// The runner's exit status when it reported no test at all.
    pub no_report: Option<String>,
}

impl StageRun {
    /// Reads the cases of `package` from a JUnit report.
    pub fn from_cases(cases: &[Case], package: &str) -> StageRun {
        let mut run = StageRun { failed: vec![], unverified: vec![], passed: 0, no_report: None };
        for case in cases.iter().filter(|c| c.package() == package) {
            let line = || report::first_line(case).unwrap_or_else(|| "(no failure text)".into());
            match report::classify(case) {
                TestStatus::Pass => run.passed += 1,
                TestStatus::Fail => run.failed.push((case.name.clone(), line())),
                TestStatus::Unverified => run.unverified.push((case.name.clone(), line())),
                TestStatus::Skip => {}
            }
        }
        run
    }

    pub fn verdict(self) -> Verdict {
        if let Some(exit) = self.no_report {
            return Verdict::Unverified { why: format!("the test runner exited with {exit} and reported no test") };
        }
        if !self.failed.is_empty() {
            Verdict::Killed { by: self.failed }
        } else if let Some((test, line)) = self.unverified.into_iter().next() {
            Verdict::Unverified { why: format!("{test}: {line}") }
        } else {
            Verdict::Survived { ran: self.passed }
        }
    }
}

/// The nextest filter of the tests in `stages` (top-level test modules).
pub fn stage_filter(stages: &[String]) -> String {
    format!("test(/^({})::/)", stages.join("|"))
}

pub async fn run(args: MutantsArgs) -> anyhow::Result<ExitCode> {
    let config = RunConfig::from_env()?;
    let options = Options { only: args.only.as_deref(), list: args.list, testbed: !args.no_testbed };
    let Some(record) = run_for(&config, &args.recipe, &options).await? else { return Ok(ExitCode::SUCCESS) };
    print!("{}", table(&record));
    let path = crate::results::results_dir(&config.state_dir).join(format!("{}.mutants.json", record.recipe));
    match write_record(&path, &record) {
        Ok(()) => println!("mutants of {}: record: {}", record.recipe, path.display()),
        Err(e) => eprintln!("mutants of {}: not recorded: {e:#}", record.recipe),
    }
    Ok(if record.fails() { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// What to run of a recipe's catalogue.
#[derive(Debug, Default)]
pub struct Options<'a> {
    /// Only this mutant.
    pub only: Option<&'a str>,
    /// Print the catalogue and whether each applies; run nothing (returns `None`).
    pub list: bool,
    /// Bring the testbed up for the recipe's fixtures first.
    pub testbed: bool,
}

/// Runs the mutants of recipe `name` against its source: `config.recipe_repo` (a PR
/// checkout) when set, else its testbed fixture. `testme --mutants` and the command share it.
pub async fn run_for(config: &RunConfig, name: &str, options: &Options<'_>) -> anyhow::Result<Option<MutantsRecord>> {
    let started = Instant::now();
    let name = name.trim_start_matches("recipe-").to_owned();
    let ws = crate::workspace::Workspace::load(&config.workspace_root)?;
    anyhow::ensure!(ws.recipe_named(&name).is_some(), "no recipe suite named {name:?}: known recipes are {}", ws.recipe_names());
    let crate_dir = config.workspace_root.join("recipes").join(&name);
    let recipe = Recipe::load(&crate_dir)?;
    let mut mutants = catalogue::generic();
    mutants.extend(catalogue::own(&crate_dir)?);
    if let Some(only) = options.only {
        let ids: Vec<String> = mutants.iter().map(|m| m.id.clone()).collect();
        mutants.retain(|m| m.id == only);
        anyhow::ensure!(!mutants.is_empty(), "no mutant {only:?}: the catalogue has {}", ids.join(", "));
    }

    if options.testbed {
        let fixtures = crate::run_tests::fixture_closure(std::slice::from_ref(&name))?;
        harness::ops::up_for(config, &Fixtures::Only(fixtures)).await?;
    }
    let source = match &config.recipe_repo {
        Some(repo) => RecipeSource::git_repo(&name, repo.clone()),
        None => RecipeSource::fixture(config, recipe.fixture()).await?,
    };
    let scratch = config.state_dir.join("mutants").join(format!("{name}-{}-{}", std::process::id(), harness::ops::now_unix()));
    std::fs::create_dir_all(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
    let result = run_in(options.list, config, &name, &recipe, &source, &scratch, mutants, started).await;
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

#[allow(clippy::too_many_arguments)]
async fn run_in(
    list: bool,
    config: &RunConfig,
    name: &str,
    recipe: &Recipe,
    source: &RecipeSource,
    scratch: &Path,
    mutants: Vec<Mutant>,
    started: Instant,
) -> anyhow::Result<Option<MutantsRecord>> {
    let previous = match source.previous_release()? {
        Some(tag) => {
            let dir = scratch.join("previous");
            source.export(&harness::Rev::Release(tag.clone()), &dir)?;
            Some((tag, dir))
        }
        None => None,
    };
    let read = catalogue::Recipe::read(&source.repo, previous.as_ref().map(|(t, d)| (t.clone(), d.as_path())), &recipe.toml)?;
    let order: Vec<String> = mutants.iter().map(|m| m.id.clone()).collect();
    let mut results = vec![];
    let mut runnable = vec![];
    for mutant in mutants {
        match mutant.apply(&read) {
            Ok(Applied::Files(files)) => runnable.push((mutant, files)),
            Ok(Applied::NotApplicable(why)) => results.push(result_of(&mutant, Verdict::NotApplicable { why }, 0.0)),
            Err(e) => results.push(result_of(&mutant, Verdict::Stale { why: format!("{e:#}") }, 0.0)),
        }
    }
    if list {
        for (m, _) in &runnable {
            println!("{:<28} {:<18} applies: {}", m.id, m.stages.join(","), m.about);
        }
        for r in &results {
            println!("{:<28} {:<18} {}: {}", r.id, r.stages.join(","), r.verdict.word(), r.verdict.detail());
        }
        return Ok(None);
    }

    let package = format!("recipe-{name}");
    build(&package)?;
    let mut stages: Vec<String> = runnable.iter().flat_map(|(m, _)| m.stages.clone()).collect();
    stages.sort();
    stages.dedup();
    if !runnable.is_empty() {
        println!("mutants of {name}: baseline: the unmutated recipe, stages {}", stages.join(", "));
        let t = Instant::now();
        let log = scratch.join("baseline.log");
        let baseline = run_stages(config, &package, &stages, &source.repo, &log).await?;
        let clean = baseline.failed.is_empty() && baseline.unverified.is_empty() && baseline.no_report.is_none() && baseline.passed > 0;
        if !clean {
            anyhow::bail!(
                "the unmutated {name} does not pass stages {} ({} passed; failed: {:?}; unverified: {:?}; runner: {}), so no mutant can be judged; its output is in {}",
                stages.join(", "),
                baseline.passed,
                baseline.failed,
                baseline.unverified,
                baseline.no_report.as_deref().unwrap_or("reported"),
                keep_log(config, &log, "baseline").display()
            );
        }
        println!("mutants of {name}: baseline passed ({} tests, {:.1}s)", baseline.passed, t.elapsed().as_secs_f64());
    }

    let total = runnable.len();
    for (i, (mutant, files)) in runnable.into_iter().enumerate() {
        println!("mutant {}/{total} {}: {} (stages {})", i + 1, mutant.id, mutant.about, mutant.stages.join(", "));
        let t = Instant::now();
        let repo = scratch.join(&mutant.id);
        let verdict = match mutate(&source.repo, &repo, &mutant.id, &files) {
            Ok(()) => {
                let log = scratch.join(format!("{}.log", mutant.id));
                let run = run_stages(config, &package, &mutant.stages, &repo, &log).await?;
                let verdict = run.verdict();
                if verdict.fails() {
                    println!("  its test output: {}", keep_log(config, &log, &mutant.id).display());
                }
                verdict
            }
            Err(e) => Verdict::Unverified { why: format!("preparing the mutated checkout: {e:#}") },
        };
        let _ = std::fs::remove_dir_all(&repo);
        let result = result_of(&mutant, verdict, t.elapsed().as_secs_f64());
        println!("  {} ({:.1}s): {}", result.verdict.word(), result.secs, result.verdict.detail());
        if !result.unnoticed_by.is_empty() {
            println!("  note: the {} stage did not notice it (its tests passed)", result.unnoticed_by.join(" and "));
        }
        results.push(result);
    }

    results.sort_by_key(|r| order.iter().position(|id| id == &r.id));
    Ok(Some(MutantsRecord {
        recipe: name.to_owned(),
        timestamp: crate::rfc3339(harness::ops::now_unix()),
        killed: results.iter().filter(|r| matches!(r.verdict, Verdict::Killed { .. })).count(),
        applicable: results.iter().filter(|r| !matches!(r.verdict, Verdict::NotApplicable { .. })).count(),
        wall_secs: started.elapsed().as_secs_f64(),
        mutants: results,
    }))
}

impl MutantsRecord {
    /// Whether a mutant that applies survived, could not be verified, or is stale.
    pub fn fails(&self) -> bool {
        self.mutants.iter().any(|r| r.verdict.fails())
    }

    /// One line for a report: the kill rate and what did not die.
    pub fn kill_line(&self) -> String {
        let alive: Vec<String> = self.mutants.iter().filter(|r| r.verdict.fails()).map(|r| format!("{} ({})", r.id, r.verdict.word())).collect();
        let mut line = format!("Mutants: {} of {} applicable killed", self.killed, self.applicable);
        if !alive.is_empty() {
            line.push_str(&format!("; not killed: {}", alive.join(", ")));
        }
        line
    }
}

fn result_of(mutant: &Mutant, verdict: Verdict, secs: f64) -> MutantResult {
    let unnoticed_by = unnoticed_by(&mutant.stages, &verdict);
    MutantResult { id: mutant.id.clone(), about: mutant.about.clone(), stages: mutant.stages.clone(), verdict, unnoticed_by, secs }
}

/// The targeted stages without a failed test, when other stages killed the mutant.
fn unnoticed_by(stages: &[String], verdict: &Verdict) -> Vec<String> {
    match verdict {
        Verdict::Killed { by } => stages.iter().filter(|stage| !by.iter().any(|(test, _)| test.starts_with(&format!("{stage}::")))).cloned().collect(),
        _ => vec![],
    }
}

/// The kill table, as printed and as the closing line says it.
pub fn table(record: &MutantsRecord) -> String {
    let mut out = String::from("\n| mutant | stages | verdict | detail | time |\n|---|---|---|---|---|\n");
    for r in &record.mutants {
        let detail = r.verdict.detail().replace('|', "\\|");
        out.push_str(&format!("| {} | {} | {} | {} | {:.1}s |\n", r.id, r.stages.join(", "), r.verdict.word(), detail, r.secs));
    }
    out.push_str(&format!(
        "\n{}: {} of {} applicable mutants killed ({} n/a) in {:.0}s\n",
        record.recipe,
        record.killed,
        record.applicable,
        record.mutants.len() - record.applicable,
        record.wall_secs
    ));
    out
}

pub fn write_record(path: &Path, record: &MutantsRecord) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, serde_json::to_string_pretty(record)?)?;
    Ok(())
}

/// A copy of `log` that outlives the scratch directory.
fn keep_log(config: &RunConfig, log: &Path, what: &str) -> PathBuf {
    let dest = config.state_dir.join("mutants").join(format!("last-{what}.log"));
    match std::fs::copy(log, &dest) {
        Ok(_) => dest,
        Err(_) => log.to_path_buf(),
    }
}

/// Copies the recipe repository to `dest`, writes the mutant's files and commits them, as a
/// PR's head would be.
fn mutate(repo: &Path, dest: &Path, id: &str, files: &[(String, String)]) -> anyhow::Result<()> {
    let status = std::process::Command::new("cp").arg("-a").arg(repo).arg(dest).status().context("running cp")?;
    anyhow::ensure!(status.success(), "cp -a {} {} failed", repo.display(), dest.display());
    for (file, text) in files {
        std::fs::write(dest.join(file), text).with_context(|| format!("writing {file}"))?;
    }
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dest)
        .args(["-c", "user.name=ccci", "-c", "user.email=ccci@localhost", "-c", "commit.gpgSign=false", "commit", "-qam"])
        .arg(format!("mutant: {id}"))
        .output()
        .context("running git commit")?;
    anyhow::ensure!(out.status.success(), "git commit failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    Ok(())
}

fn build(package: &str) -> anyhow::Result<()> {
    let status = crate::cargo().args(["nextest", "run", "--no-run", "-p", package]).status();
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => anyhow::bail!("building {package} failed ({s})"),
        Err(e) => anyhow::bail!("cargo xtask mutants needs cargo-nextest (it reads each test's result from nextest's JUnit report): {e}"),
    }
}

/// Runs the tests of `stages` against the recipe at `repo`, as a run of its own that is
/// torn down after, and reads what they did from nextest's JUnit report.
async fn run_stages(config: &RunConfig, package: &str, stages: &[String], repo: &Path, log: &Path) -> anyhow::Result<StageRun> {
    let mut run_config = config.clone().new_run("m");
    run_config.recipe_repo = Some(repo.to_path_buf());
    let guard = RunGuard::for_config(run_config, None).await?;
    let dir = log.parent().context("the log has a directory")?;
    let label = log.file_stem().unwrap_or_default().to_string_lossy().into_owned();
    let (nextest_config, junit_path) = crate::results::private_nextest_config(&config.workspace_root, dir, &label)?;
    let out = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let mut cmd = tokio::process::Command::from(crate::cargo());
    cmd.current_dir(&config.workspace_root)
        .args(["nextest", "run", "--profile", "ci", "--no-fail-fast", "--config-file"])
        .arg(&nextest_config)
        .args(["-p", package, "-E", &stage_filter(stages)]);
    crate::results::clear_nextest_env(&mut cmd);
    let status = cmd
        .envs(guard.child_env())
        .stdout(Stdio::from(out.try_clone()?))
        .stderr(Stdio::from(out))
        .status()
        .await
        .context("starting cargo nextest")?;
    let cases = match std::fs::read_to_string(&junit_path) {
        Ok(text) => junit::parse(&text)?,
        Err(_) => vec![],
    };
    guard.finish(true).await?;
    let mut run = StageRun::from_cases(&cases, package);
    if run.failed.is_empty() && run.unverified.is_empty() && run.passed == 0 && !status.success() {
        run.no_report = Some(status.code().map_or("a signal".into(), |c| format!("exit code {c}")));
    }
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::junit::Outcome;

    fn case(name: &str, outcome: Outcome, text: &str) -> Case {
        Case { suite: "recipe-x::x".into(), name: name.into(), time_secs: 1.0, outcome, message: None, text: text.into() }
    }

    #[test]
    fn a_failing_targeted_test_kills_and_an_infrastructure_failure_does_not() {
        let killed = StageRun::from_cases(
            &[case("backup::a", Outcome::Failed, "Error: the marker is not in the archive"), case("backup::b", Outcome::Passed, "")],
            "recipe-x",
        );
        assert_eq!(killed.verdict(), Verdict::Killed { by: vec![("backup::a".into(), "Error: the marker is not in the archive".into())] });
        let infra = StageRun::from_cases(&[case("backup::a", Outcome::Failed, "Error: [unverified] infrastructure: docker: gone")], "recipe-x");
        assert!(matches!(infra.verdict(), Verdict::Unverified { .. }));
        let survived = StageRun::from_cases(&[case("backup::a", Outcome::Passed, "")], "recipe-x");
        assert_eq!(survived.verdict(), Verdict::Survived { ran: 1 });
        assert!(Verdict::Survived { ran: 0 }.fails(), "a stage without tests lets the mutant survive");
        let other_package = StageRun::from_cases(&[case("backup::a", Outcome::Failed, "Error: x")], "recipe-y");
        assert_eq!(other_package.verdict(), Verdict::Survived { ran: 0 });
    }

    #[test]
    fn a_kill_names_the_targeted_stages_that_did_not_notice() {
        let stages = ["backup".to_owned(), "upgrade".to_owned()];
        let by_backup = Verdict::Killed { by: vec![("backup::a".into(), "Error: no volume".into())] };
        assert_eq!(unnoticed_by(&stages, &by_backup), ["upgrade"]);
        let by_both = Verdict::Killed { by: vec![("backup::a".into(), "x".into()), ("upgrade::u".into(), "y".into())] };
        assert!(unnoticed_by(&stages, &by_both).is_empty());
        assert!(unnoticed_by(&stages, &Verdict::Survived { ran: 3 }).is_empty(), "a survivor is reported as such, not per stage");
    }

    #[test]
    fn the_stage_filter_selects_top_level_test_modules() {
        assert_eq!(stage_filter(&["backup".into(), "upgrade".into()]), "test(/^(backup|upgrade)::/)");
    }
}
