//! What a run of `cargo xtask test` leaves on this machine for `cargo xtask coverage`: one
//! `<state_dir>/results/<recipe>.json` per recipe, replaced by each run of that recipe.
//!
//! A record holds when and how the recipe last ran (timestamp, run id, runner, exit code),
//! the counts pass/fail/skip/unverified, the level (L0-L5, from [`report::evaluate`] over the
//! nextest JUnit and the lint of the recipe's fixture head), and each test with its status.
//! Under plain `cargo test` there is no JUnit: the record then says so and counts nothing, so
//! it can never read as a pass.

use std::{
    path::{Path, PathBuf},
    time::SystemTime,
};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::{
    junit, lint,
    report::{self, NoResults, RecipeResult, TestStatus, Verdict},
    workspace::{RecipeCrate, Workspace},
};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub pass: usize,
    pub fail: usize,
    pub skip: usize,
    pub unverified: usize,
}

impl Counts {
    pub fn total(&self) -> usize {
        self.pass + self.fail + self.skip + self.unverified
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestRecord {
    pub name: String,
    pub status: TestStatus,
}

/// `<state_dir>/results/<recipe>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipeRecord {
    pub recipe: String,
    pub package: String,
    /// RFC 3339 UTC, when the runner finished.
    pub timestamp: String,
    pub run_id: String,
    /// `cargo nextest run --profile ci` or `cargo test`.
    pub runner: String,
    pub exit_code: Option<i32>,
    pub counts: Counts,
    pub level: u8,
    pub level_name: String,
    pub verdict: Verdict,
    /// `L4 functional: 11 passed, 1 unverified; lint failed`.
    pub description: String,
    pub tests: Vec<TestRecord>,
    /// Why there are no per-test results, when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// How the runner ran, for every recipe of the run.
#[derive(Debug, Clone)]
pub struct RunMeta {
    pub run_id: String,
    pub runner: String,
    pub exit_code: Option<i32>,
    pub timestamp: String,
}

pub fn results_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("results")
}

pub fn record_path(state_dir: &Path, recipe: &str) -> PathBuf {
    results_dir(state_dir).join(format!("{recipe}.json"))
}

/// The record of an evaluated recipe.
pub fn to_record(result: &RecipeResult, run: &RunMeta) -> RecipeRecord {
    let c = &result.counts;
    RecipeRecord {
        recipe: result.recipe.clone(),
        package: result.package.clone(),
        timestamp: run.timestamp.clone(),
        run_id: run.run_id.clone(),
        runner: run.runner.clone(),
        exit_code: run.exit_code,
        counts: Counts { pass: c.passed, fail: c.failed, skip: c.skipped, unverified: c.unverified },
        level: result.level,
        level_name: result.level_name.to_owned(),
        verdict: result.verdict,
        description: result.description.clone(),
        tests: result.tests.iter().map(|t| TestRecord { name: t.name.clone(), status: t.status }).collect(),
        notes: result.notes.clone(),
    }
}

/// Writes one record per evaluated recipe (each replaced whole: written aside, then renamed).
pub fn record_results(state_dir: &Path, run: &RunMeta, results: &[RecipeResult]) -> anyhow::Result<Vec<PathBuf>> {
    let dir = results_dir(state_dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = vec![];
    for result in results {
        let path = record_path(state_dir, &result.recipe);
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(&to_record(result, run))?;
        std::fs::write(&tmp, text + "\n").with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// The last record of `recipe` on this machine; `Ok(None)` when it never ran here.
pub fn load_record(state_dir: &Path, recipe: &str) -> anyhow::Result<Option<RecipeRecord>> {
    let path = record_path(state_dir, recipe);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow::format_err!("reading {}: {e}", path.display())),
    }
}

/// The workspace's nextest config with a store directory of its own under `dir`, written to
/// `dir/nextest-<label>.toml`, so that concurrent runs never write the same junit.xml.
/// Returns the config file and where `--profile ci` will write its JUnit.
pub fn private_nextest_config(root: &Path, dir: &Path, label: &str) -> anyhow::Result<(PathBuf, PathBuf)> {
    let store = dir.join(format!("nextest-{label}"));
    let repo_config = root.join(".config/nextest.toml");
    let mut table: toml::Table = match std::fs::read_to_string(&repo_config) {
        Ok(text) => toml::from_str(&text).with_context(|| format!("parsing {}", repo_config.display()))?,
        Err(_) => toml::Table::new(),
    };
    let mut store_table = toml::Table::new();
    store_table.insert("dir".into(), toml::Value::String(store.display().to_string()));
    table.insert("store".into(), toml::Value::Table(store_table));
    let junit = table
        .entry("profile")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        .as_table_mut()
        .and_then(|p| p.entry("ci").or_insert_with(|| toml::Value::Table(toml::Table::new())).as_table_mut())
        .and_then(|ci| ci.entry("junit").or_insert_with(|| toml::Value::Table(toml::Table::new())).as_table_mut())
        .context("the nextest config's profile.ci.junit is not a table")?;
    let file = junit.entry("path").or_insert_with(|| toml::Value::String("junit.xml".into())).as_str().unwrap_or("junit.xml").to_owned();
    let config_path = dir.join(format!("nextest-{label}.toml"));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(&config_path, toml::to_string(&table)?).context("writing the run's nextest config")?;
    Ok((config_path, store.join("ci").join(file)))
}

/// An enclosing nextest's `NEXTEST_*` variables would make a nested `cargo nextest run`
/// join its run; a runner started by xtask must not see them.
pub fn clear_nextest_env(cmd: &mut tokio::process::Command) {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("NEXTEST") {
            cmd.env_remove(&key);
        }
    }
}

/// After the test runner of `cargo xtask test` exited: evaluates each package of the run from
/// the JUnit report at `junit` (nextest's, when written after `started`; `None` under cargo
/// test) and the lint of the recipe's fixture head, and records it. Returns the written records.
pub fn record_after_run(
    config: &harness::ops::RunConfig,
    packages: &[String],
    junit: Option<&Path>,
    exit_code: Option<i32>,
    started: SystemTime,
) -> anyhow::Result<Vec<PathBuf>> {
    let ws = Workspace::load(&config.workspace_root)?;
    let nextest = junit.is_some();
    let junit_text = junit.and_then(|path| {
        // A report older than this run is an earlier run's: never count it.
        let fresh = std::fs::metadata(path).and_then(|m| m.modified()).is_ok_and(|m| m >= started);
        if fresh { std::fs::read_to_string(path).ok() } else { None }
    });
    let cases = match &junit_text {
        Some(text) => junit::parse(text).context("parsing nextest's JUnit report")?,
        None => vec![],
    };
    let exit = exit_code.map(|c| c.to_string()).unwrap_or_else(|| "a signal".into());
    let mut results = vec![];
    for package in packages {
        let Some(recipe) = ws.recipe_package(package) else { continue };
        let mine: Vec<junit::Case> = cases.iter().filter(|c| c.package() == package).cloned().collect();
        let no_results = mine.is_empty().then(|| NoResults {
            verdict: Verdict::Error,
            reason: if nextest {
                format!("{} the test runner exited with {exit} and reported no test of {package}", harness::UNVERIFIED_MARKER)
            } else {
                format!("ran under cargo test (exit {exit}), which writes no per-test report: not recorded as a pass")
            },
        });
        results.push(report::evaluate(recipe, &mine, fixture_lint(&ws.root, recipe), no_results));
    }
    let run = RunMeta {
        run_id: config.run_id.clone(),
        runner: if nextest { "cargo nextest run --profile ci".into() } else { "cargo test".into() },
        exit_code,
        timestamp: crate::rfc3339(harness::ops::now_unix()),
    };
    record_results(&config.state_dir, &run, &results)
}

/// The L5 rung: the lint of the recipe's testbed fixture head, as `testme` lints it.
fn fixture_lint(root: &Path, recipe: &RecipeCrate) -> Option<lint::LintReport> {
    let head = root.join("testbed/recipes").join(&recipe.fixture).join("head");
    head.is_dir().then(|| lint::lint_dir(&head, Some(recipe.backup_capable)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::junit::{Case, Outcome};

    fn recipe() -> RecipeCrate {
        RecipeCrate {
            package: "recipe-x".into(),
            dir: "recipes/x".into(),
            name: "x".into(),
            fixture: "x".into(),
            requires: vec![],
            test_requires: vec![],
            sso_provider: None,
            backup_capable: true,
        }
    }

    fn case(name: &str, outcome: Outcome, text: &str) -> Case {
        Case { suite: "recipe-x::x".into(), name: name.into(), time_secs: 1.0, outcome, message: None, text: text.into() }
    }

    fn meta() -> RunMeta {
        RunMeta { run_id: "x1-2".into(), runner: "cargo nextest run --profile ci".into(), exit_code: Some(100), timestamp: "2026-12-01T10:00:00Z".into() }
    }

    #[test]
    fn a_record_round_trips_with_counts_level_and_each_test() {
        let dir = std::env::temp_dir().join(format!("ccci-results-{}", std::process::id()));
        let cases = [
            case("install::a", Outcome::Passed, ""),
            case("upgrade::b", Outcome::Failed, "assertion failed"),
            case("backup::c", Outcome::Failed, "Error: [unverified] infrastructure: docker"),
            case("functional::d", Outcome::Skipped, ""),
        ];
        let result = report::evaluate(&recipe(), &cases, None, None);
        let written = record_results(&dir, &meta(), &[result]).unwrap();
        assert_eq!(written, [dir.join("results/x.json")]);
        let record = load_record(&dir, "x").unwrap().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(record.counts, Counts { pass: 1, fail: 1, skip: 1, unverified: 1 });
        assert_eq!((record.level, record.verdict), (1, Verdict::Failure));
        assert_eq!((record.run_id.as_str(), record.timestamp.as_str(), record.exit_code), ("x1-2", "2026-12-01T10:00:00Z", Some(100)));
        assert_eq!(record.tests.len(), 4);
        assert!(record.tests.contains(&TestRecord { name: "backup::c".into(), status: TestStatus::Unverified }));
    }

    #[test]
    fn a_recipe_that_never_ran_has_no_record() {
        let dir = std::env::temp_dir().join(format!("ccci-results-none-{}", std::process::id()));
        assert_eq!(load_record(&dir, "x").unwrap(), None);
    }
}
