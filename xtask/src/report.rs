//! From JUnit cases to what a maintainer reads: per-test status (pass / fail / skip /
//! unverified), the level of each recipe, `results.json`, and the markdown of the PR comment.
//!
//! Levels (cc-ci's ladder): L0 not healthy, L1 install, L2 upgrade with data intact, L3
//! backup/restore with data intact, L4 functional (`functional::` and `browser::` tests), L5
//! lint. A rung counts only when every rung below it passed or was skipped for a stated reason
//! (today: `[backup] capable = false`); a rung with no tests and no reason, a failure or an
//! unverified test stops the climb. The commit status is `failure` when a test or lint check
//! failed, `error` when something could not be verified (infrastructure), else `success`.

use serde::{Deserialize, Serialize};

use crate::{
    gitea::StatusState,
    junit::{Case, Outcome},
    lint::LintReport,
    workspace::RecipeCrate,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TestStatus {
    Pass,
    Fail,
    Skip,
    Unverified,
}

impl TestStatus {
    fn mark(self) -> &'static str {
        match self {
            TestStatus::Pass => "✅ pass",
            TestStatus::Fail => "❌ fail",
            TestStatus::Skip => "⏭️ skip",
            TestStatus::Unverified => "⚠️ unverified",
        }
    }
}

/// A failed test whose output carries the harness's infrastructure marker could not test the
/// recipe: it is unverified, never a pass and never a recipe failure.
pub fn classify(case: &Case) -> TestStatus {
    match case.outcome {
        Outcome::Passed => TestStatus::Pass,
        Outcome::Skipped => TestStatus::Skip,
        Outcome::Failed => {
            let marked = case.text.contains(harness::UNVERIFIED_MARKER)
                || case.message.as_deref().is_some_and(|m| m.contains(harness::UNVERIFIED_MARKER));
            if marked { TestStatus::Unverified } else { TestStatus::Fail }
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TestResult {
    pub name: String,
    /// The module the test lives in: `install`, `upgrade`, `backup`, `functional`, `browser`.
    pub stage: String,
    pub status: TestStatus,
    pub time_secs: f64,
    /// For failed and unverified tests: the first informative line of the failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

pub(crate) fn first_line(case: &Case) -> Option<String> {
    let lines: Vec<&str> = case.text.lines().map(str::trim).collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("Error:") || l.contains("panicked at") || l.starts_with("assertion") || l.contains(harness::UNVERIFIED_MARKER));
    // A panic's message is on the line after `panicked at <file>:<line>:<col>:`.
    let from_text = at.map(|i| match lines[i].contains("panicked at") {
        true => match lines[i + 1..].iter().find(|l| !l.is_empty()) {
            Some(message) => format!("{} {message}", lines[i]),
            None => lines[i].to_owned(),
        },
        false => lines[i].to_owned(),
    });
    let line = from_text.or_else(|| case.message.clone())?;
    let mut line = line.trim().to_owned();
    if line.len() > 300 {
        let mut end = 300;
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        line.truncate(end);
        line.push('…');
    }
    Some(line)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RungStatus {
    Pass,
    Fail,
    /// Skipped for a stated reason: does not stop the climb.
    Skip,
    Unverified,
    /// No tests and no reason: stops the climb (a coverage gap).
    Missing,
}

impl RungStatus {
    fn word(self) -> &'static str {
        match self {
            RungStatus::Pass => "passed",
            RungStatus::Fail => "failed",
            RungStatus::Skip => "skipped",
            RungStatus::Unverified => "unverified",
            RungStatus::Missing => "has no tests",
        }
    }

    fn mark(self) -> &'static str {
        match self {
            RungStatus::Pass => "✅ pass",
            RungStatus::Fail => "❌ fail",
            RungStatus::Skip => "⏭️ skip",
            RungStatus::Unverified => "⚠️ unverified",
            RungStatus::Missing => "➖ missing",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Rung {
    pub level: u8,
    pub name: &'static str,
    pub status: RungStatus,
    pub detail: String,
}

pub const LEVEL_NAMES: [&str; 6] = ["not healthy", "install", "upgrade", "backup/restore", "functional", "lint"];

/// Which rung a test module belongs to (0: none; such tests still count for the verdict).
fn rung_of(stage: &str) -> u8 {
    match stage {
        "install" => 1,
        "upgrade" => 2,
        "backup" => 3,
        "functional" | "browser" => 4,
        _ => 0,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Success,
    Failure,
    Error,
}

impl Verdict {
    pub fn state(self) -> StatusState {
        match self {
            Verdict::Success => StatusState::Success,
            Verdict::Failure => StatusState::Failure,
            Verdict::Error => StatusState::Error,
        }
    }

    fn mark(self) -> &'static str {
        match self {
            Verdict::Success => "✅",
            Verdict::Failure => "❌",
            Verdict::Error => "⚠️",
        }
    }

    /// The worse of two verdicts (failure > error > success).
    pub fn worst(self, other: Verdict) -> Verdict {
        use Verdict::*;
        match (self, other) {
            (Failure, _) | (_, Failure) => Failure,
            (Error, _) | (_, Error) => Error,
            _ => Success,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub unverified: usize,
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = [(self.passed, "passed"), (self.failed, "failed"), (self.unverified, "unverified"), (self.skipped, "skipped")]
            .into_iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, w)| format!("{n} {w}"))
            .collect();
        if parts.is_empty() { write!(f, "no tests ran") } else { write!(f, "{}", parts.join(", ")) }
    }
}

/// One recipe's outcome in a run.
#[derive(Debug, Clone, Serialize)]
pub struct RecipeResult {
    pub recipe: String,
    pub package: String,
    pub level: u8,
    pub level_name: &'static str,
    pub verdict: Verdict,
    /// The commit status description: `L4 functional: 11 passed, 1 unverified; lint failed`.
    pub description: String,
    pub counts: Counts,
    pub rungs: Vec<Rung>,
    pub tests: Vec<TestResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lint: Option<LintReport>,
    /// Why there are no results, when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Why a recipe has no JUnit cases, and what that means for its verdict.
#[derive(Debug, Clone)]
pub struct NoResults {
    pub verdict: Verdict,
    pub reason: String,
}

/// Evaluates one recipe from its JUnit cases (only this package's) and its lint report.
pub fn evaluate(recipe: &RecipeCrate, cases: &[Case], lint: Option<LintReport>, no_results: Option<NoResults>) -> RecipeResult {
    let mut tests: Vec<TestResult> = cases
        .iter()
        .map(|c| {
            let status = classify(c);
            TestResult {
                stage: c.name.split("::").next().filter(|_| c.name.contains("::")).unwrap_or("").to_owned(),
                name: c.name.clone(),
                status,
                time_secs: c.time_secs,
                message: matches!(status, TestStatus::Fail | TestStatus::Unverified).then(|| first_line(c)).flatten(),
            }
        })
        .collect();
    // Rung order (install, upgrade, backup, functional/browser), other modules last.
    tests.sort_by(|a, b| (rung_of(&a.stage).wrapping_sub(1), &a.name).cmp(&(rung_of(&b.stage).wrapping_sub(1), &b.name)));
    let mut counts = Counts::default();
    for t in &tests {
        match t.status {
            TestStatus::Pass => counts.passed += 1,
            TestStatus::Fail => counts.failed += 1,
            TestStatus::Skip => counts.skipped += 1,
            TestStatus::Unverified => counts.unverified += 1,
        }
    }
    let mut rungs = vec![];
    for level in 1..=4u8 {
        let of_rung: Vec<&TestResult> = tests.iter().filter(|t| rung_of(&t.stage) == level).collect();
        let (status, detail) = if of_rung.is_empty() {
            if level == 3 && !recipe.backup_capable {
                (RungStatus::Skip, "not backup-capable (recipe.toml: [backup] capable = false)".to_owned())
            } else if let Some(none) = &no_results {
                // The reason is said once, in the recipe's notes.
                (if none.verdict == Verdict::Failure { RungStatus::Fail } else { RungStatus::Unverified }, "did not run".to_owned())
            } else {
                let modules = if level == 4 { "functional:: or browser::" } else { ["", "install::", "upgrade::", "backup::"][level as usize] };
                (RungStatus::Missing, format!("no {modules} tests"))
            }
        } else {
            let n = |s: TestStatus| of_rung.iter().filter(|t| t.status == s).count();
            let total = of_rung.len();
            let detail = format!("{} of {total} passed", n(TestStatus::Pass));
            if n(TestStatus::Fail) > 0 {
                (RungStatus::Fail, detail)
            } else if n(TestStatus::Unverified) > 0 {
                (RungStatus::Unverified, detail)
            } else if n(TestStatus::Pass) > 0 {
                (RungStatus::Pass, detail)
            } else {
                (RungStatus::Missing, format!("all {total} tests were skipped, and no reason is declared"))
            }
        };
        rungs.push(Rung { level, name: LEVEL_NAMES[level as usize], status, detail });
    }
    let lint_rung = match &lint {
        Some(report) if report.passed() => Rung { level: 5, name: LEVEL_NAMES[5], status: RungStatus::Pass, detail: format!("{} checks", report.checks.len()) },
        Some(report) => {
            let failed: Vec<&str> = report.checks.iter().filter(|c| c.status == crate::lint::CheckStatus::Fail).map(|c| c.id).collect();
            Rung { level: 5, name: LEVEL_NAMES[5], status: RungStatus::Fail, detail: format!("failed: {}", failed.join(", ")) }
        }
        None => Rung { level: 5, name: LEVEL_NAMES[5], status: RungStatus::Unverified, detail: "lint did not run".into() },
    };
    rungs.push(lint_rung);

    let mut level = 0;
    let mut stopped_by = None;
    for rung in &rungs {
        match rung.status {
            RungStatus::Pass => level = rung.level,
            RungStatus::Skip => {}
            _ => {
                stopped_by = Some(rung);
                break;
            }
        }
    }
    let lint_failed = rungs.last().is_some_and(|r| r.status == RungStatus::Fail);
    let lint_unverified = rungs.last().is_some_and(|r| r.status == RungStatus::Unverified);
    let mut verdict = if counts.failed > 0 || lint_failed {
        Verdict::Failure
    } else if counts.unverified > 0 || lint_unverified || tests.is_empty() {
        Verdict::Error
    } else {
        Verdict::Success
    };
    let mut notes = vec![];
    if let Some(none) = &no_results
        && tests.is_empty()
    {
        verdict = verdict.worst(none.verdict);
        notes.push(none.reason.clone());
    }
    let mut description = format!("L{level} {}: {counts}", LEVEL_NAMES[level as usize]);
    if let Some(rung) = stopped_by {
        description.push_str(&format!("; {} {}", rung.name, rung.status.word()));
    }
    RecipeResult {
        recipe: recipe.name.clone(),
        package: recipe.package.clone(),
        level,
        level_name: LEVEL_NAMES[level as usize],
        verdict,
        description,
        counts,
        rungs,
        tests,
        lint,
        notes,
    }
}

/// Where a run's report sits: shown in the comment and in results.json.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    pub run_id: String,
    /// The commit that was tested.
    pub head_sha: String,
    pub started: String,
    pub duration_secs: f64,
    /// Where the artifacts are (a path on the CI host, or a URL).
    pub artifacts: String,
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// A recipe's section of the PR comment.
pub fn recipe_section(result: &RecipeResult, run: &RunInfo) -> String {
    let mut md = format!(
        "#### {} {}: L{} {}\n{} · head `{}` · run `{}` · {:.0} s\n\n",
        result.verdict.mark(),
        result.recipe,
        result.level,
        result.level_name,
        result.counts,
        &run.head_sha[..run.head_sha.len().min(7)],
        run.run_id,
        run.duration_secs
    );
    for note in &result.notes {
        md.push_str(&format!("> {}\n\n", cell(note)));
    }
    md.push_str("| rung | status | detail |\n|---|---|---|\n");
    for rung in &result.rungs {
        md.push_str(&format!("| L{} {} | {} | {} |\n", rung.level, rung.name, rung.status.mark(), cell(&rung.detail)));
    }
    let problems: Vec<&TestResult> = result.tests.iter().filter(|t| matches!(t.status, TestStatus::Fail | TestStatus::Unverified)).collect();
    if !problems.is_empty() {
        md.push('\n');
        for t in problems {
            md.push_str(&format!("- {} `{}`", t.status.mark(), t.name));
            if let Some(m) = &t.message {
                md.push_str(&format!(": `{}`", m.replace('`', "'")));
            }
            md.push('\n');
        }
    }
    if let Some(lint) = &result.lint
        && !lint.passed()
    {
        md.push('\n');
        for c in lint.checks.iter().filter(|c| c.status == crate::lint::CheckStatus::Fail) {
            md.push_str(&format!("- ❌ lint `{}`: {}\n", c.id, cell(&c.message)));
        }
    }
    if !result.tests.is_empty() {
        md.push_str(&format!("\n<details><summary>{} tests</summary>\n\n| test | status | time |\n|---|---|---|\n", result.tests.len()));
        for t in &result.tests {
            md.push_str(&format!("| `{}` | {} | {:.1} s |\n", t.name, t.status.mark(), t.time_secs));
        }
        md.push_str("\n</details>\n");
    }
    md.push_str(&format!("\nArtifacts: `{}`\n", run.artifacts));
    md
}

/// A recipe's section while its run is under way.
pub fn running_section(recipe: &str, run: &RunInfo) -> String {
    format!(
        "#### ⏳ {recipe}: running\nhead `{}` · run `{}` · started {}\n",
        &run.head_sha[..run.head_sha.len().min(7)],
        run.run_id,
        run.started
    )
}

/// The marker that finds the bot's comment on a PR again.
pub const COMMENT_MARKER: &str = "<!-- ccci:testme -->";
const SECTION_START: &str = "<!-- ccci:section ";
const SECTION_END: &str = "<!-- ccci:end -->";

/// The sections of an earlier comment body, by key, in order.
pub fn sections(body: &str) -> Vec<(String, String)> {
    let mut out = vec![];
    let mut rest = body;
    while let Some(start) = rest.find(SECTION_START) {
        let after = &rest[start + SECTION_START.len()..];
        let Some(key_end) = after.find(" -->") else { break };
        let key = after[..key_end].to_owned();
        let content_start = key_end + " -->".len();
        let Some(end) = after[content_start..].find(SECTION_END) else { break };
        out.push((key, after[content_start..content_start + end].trim().to_owned()));
        rest = &after[content_start + end + SECTION_END.len()..];
    }
    out
}

/// The whole comment: the marker, a header, and sections. Sections of `previous` (an earlier
/// body) whose key is not in `updates` are kept, so jobs that test one recipe each share one
/// comment; `drop` removes stale keys.
pub fn compose_comment(previous: Option<&str>, header: &str, updates: &[(String, String)], drop: &[String]) -> String {
    let mut merged: Vec<(String, String)> = previous.map(sections).unwrap_or_default();
    merged.retain(|(k, _)| !drop.contains(k));
    for (key, content) in updates {
        match merged.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = content.clone(),
            None => merged.push((key.clone(), content.clone())),
        }
    }
    merged.sort_by(|a, b| a.0.cmp(&b.0));
    let mut body = format!("{COMMENT_MARKER}\n{}\n", header.trim_end());
    for (key, content) in merged {
        body.push_str(&format!("\n{SECTION_START}{key} -->\n{}\n{SECTION_END}\n", content.trim()));
    }
    body
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;
    use crate::lint::{Check, CheckStatus};

    fn recipe(backup_capable: bool) -> RecipeCrate {
        RecipeCrate {
            package: "recipe-x".into(),
            dir: "recipes/x".into(),
            name: "x".into(),
            fixture: "x".into(),
            requires: vec![],
            test_requires: vec![],
            sso_provider: None,
            backup_capable,
        }
    }

    /// `p` pass, `f` fail, `u` unverified, `s` skipped.
    fn case(name: &str, how: char) -> Case {
        let (outcome, text) = match how {
            'p' => (Outcome::Passed, String::new()),
            'f' => (Outcome::Failed, "thread 't' panicked at x.rs:1:1:\nassertion failed: marker present".to_owned()),
            'u' => (Outcome::Failed, "Error: [unverified] infrastructure: docker: connection refused".to_owned()),
            's' => (Outcome::Skipped, String::new()),
            _ => unreachable!(),
        };
        Case { suite: "recipe-x::x".into(), name: name.into(), time_secs: 1.0, outcome, message: None, text }
    }

    fn lint(ok: bool) -> LintReport {
        let status = if ok { CheckStatus::Pass } else { CheckStatus::Fail };
        LintReport { dir: "x".into(), checks: vec![Check { id: "image-tags", status, message: "m".into() }] }
    }

    /// One test per rung module, by status letter: install, upgrade, backup, functional.
    fn run(statuses: &str, backup_capable: bool, lint_ok: Option<bool>) -> RecipeResult {
        let modules = ["install", "upgrade", "backup", "functional"];
        let cases: Vec<Case> = statuses
            .chars()
            .zip(modules)
            .filter(|(s, _)| *s != '-')
            .map(|(s, m)| case(&format!("{m}::t"), s))
            .collect();
        evaluate(&recipe(backup_capable), &cases, lint_ok.map(lint), None)
    }

    #[rstest]
    #[case::all_green("pppp", true, Some(true), 5, Verdict::Success, "L5 lint: 4 passed")]
    #[case::lint_fails("pppp", true, Some(false), 4, Verdict::Failure, "L4 functional: 4 passed; lint failed")]
    #[case::install_fails("fppp", true, Some(true), 0, Verdict::Failure, "L0 not healthy: 3 passed, 1 failed; install failed")]
    #[case::upgrade_fails("pfpp", true, Some(true), 1, Verdict::Failure, "L1 install: 3 passed, 1 failed; upgrade failed")]
    #[case::backup_unverified("ppup", true, Some(true), 2, Verdict::Error, "L2 upgrade: 3 passed, 1 unverified; backup/restore unverified")]
    #[case::functional_unverified("pppu", true, Some(true), 3, Verdict::Error, "L3 backup/restore: 3 passed, 1 unverified; functional unverified")]
    #[case::fail_beats_unverified("pfpu", true, Some(true), 1, Verdict::Failure, "L1 install: 2 passed, 1 failed, 1 unverified; upgrade failed")]
    #[case::not_backup_capable_skips_l3("pp-p", false, Some(true), 5, Verdict::Success, "L5 lint: 3 passed")]
    #[case::backup_capable_without_backup_tests("pp-p", true, Some(true), 2, Verdict::Success, "L2 upgrade: 3 passed; backup/restore has no tests")]
    #[case::no_upgrade_tests("p-pp", true, Some(true), 1, Verdict::Success, "L1 install: 3 passed; upgrade has no tests")]
    #[case::all_skipped_rung_blocks("psps", true, Some(true), 1, Verdict::Success, "L1 install: 2 passed, 2 skipped; upgrade has no tests")]
    #[case::lint_did_not_run("pppp", true, None, 4, Verdict::Error, "L4 functional: 4 passed; lint unverified")]
    fn the_level_is_the_highest_rung_reached_without_a_gap(
        #[case] statuses: &str,
        #[case] backup_capable: bool,
        #[case] lint_ok: Option<bool>,
        #[case] level: u8,
        #[case] verdict: Verdict,
        #[case] description: &str,
    ) {
        let r = run(statuses, backup_capable, lint_ok);
        assert_eq!((r.level, r.verdict, r.description.as_str()), (level, verdict, description), "{:#?}", r.rungs);
    }

    #[test]
    fn browser_tests_belong_to_the_functional_rung() {
        let cases = vec![case("install::a", 'p'), case("upgrade::b", 'p'), case("backup::c", 'p'), case("browser::login", 'p')];
        let r = evaluate(&recipe(true), &cases, Some(lint(true)), None);
        assert_eq!(r.level, 5);
        let cases = vec![case("install::a", 'p'), case("upgrade::b", 'p'), case("backup::c", 'p'), case("functional::d", 'p'), case("browser::e", 'f')];
        let r = evaluate(&recipe(true), &cases, Some(lint(true)), None);
        assert_eq!((r.level, r.verdict), (3, Verdict::Failure));
    }

    #[rstest]
    #[case::pass('p', TestStatus::Pass)]
    #[case::fail('f', TestStatus::Fail)]
    #[case::unverified('u', TestStatus::Unverified)]
    #[case::skip('s', TestStatus::Skip)]
    fn infrastructure_failures_are_unverified_not_failed(#[case] how: char, #[case] expected: TestStatus) {
        assert_eq!(classify(&case("install::t", how)), expected);
    }

    #[test]
    fn the_marker_in_the_failure_message_alone_also_counts() {
        let mut c = case("install::t", 'f');
        c.text.clear();
        c.message = Some(format!("{} configuration: CCCI_DRIVER", harness::UNVERIFIED_MARKER));
        assert_eq!(classify(&c), TestStatus::Unverified);
    }

    #[test]
    fn a_recipe_without_results_is_an_error_or_a_failure_as_the_runner_says() {
        let none = NoResults { verdict: Verdict::Error, reason: "the test runner exited with 96 and wrote no JUnit".into() };
        let r = evaluate(&recipe(true), &[], Some(lint(true)), Some(none));
        assert_eq!((r.level, r.verdict), (0, Verdict::Error));
        assert_eq!(r.rungs[0].status, RungStatus::Unverified);
        assert_eq!(r.notes, ["the test runner exited with 96 and wrote no JUnit"]);
        let none = NoResults { verdict: Verdict::Failure, reason: "the recipe crate does not compile".into() };
        let r = evaluate(&recipe(true), &[], Some(lint(true)), Some(none));
        assert_eq!((r.level, r.verdict), (0, Verdict::Failure));
        assert!(r.description.starts_with("L0 not healthy: no tests ran; install failed"), "{}", r.description);
    }

    #[test]
    fn failure_lines_are_kept_for_the_report() {
        let r = run("pfpu", true, Some(true));
        let upgrade = r.tests.iter().find(|t| t.stage == "upgrade").unwrap();
        assert_eq!(upgrade.message.as_deref(), Some("thread 't' panicked at x.rs:1:1: assertion failed: marker present"), "a panic's line carries its message");
        let functional = r.tests.iter().find(|t| t.stage == "functional").unwrap();
        assert!(functional.message.as_deref().unwrap().contains("[unverified] infrastructure"));
        assert!(r.tests.iter().find(|t| t.stage == "install").unwrap().message.is_none());
    }

    fn info() -> RunInfo {
        RunInfo { run_id: "pr7-abc1234-1".into(), head_sha: "abc1234def".into(), started: "2026-01-01T00:00:00Z".into(), duration_secs: 24.0, artifacts: "/var/lib/ccci/runs/x/artifacts".into() }
    }

    #[test]
    fn a_section_shows_level_rungs_and_problems() {
        let r = run("pfpu", true, Some(false));
        let md = recipe_section(&r, &info());
        assert!(md.starts_with("#### ❌ x: L1 install\n2 passed, 1 failed, 1 unverified · head `abc1234` · run `pr7-abc1234-1`"), "{md}");
        assert!(md.contains("| L2 upgrade | ❌ fail | 0 of 1 passed |"), "{md}");
        assert!(md.contains("- ❌ fail `upgrade::t`: `thread 't' panicked at x.rs:1:1: assertion failed: marker present`"), "{md}");
        assert!(md.contains("- ❌ lint `image-tags`: m"), "{md}");
        assert!(md.contains("<details><summary>4 tests</summary>"), "{md}");
    }

    #[test]
    fn comments_keep_other_sections_and_replace_their_own() {
        let first = compose_comment(None, "### results", &[("recipe-a".into(), "A running".into()), ("recipe-b".into(), "B old".into())], &[]);
        assert!(first.starts_with(COMMENT_MARKER));
        assert_eq!(sections(&first), [("recipe-a".to_string(), "A running".to_string()), ("recipe-b".to_string(), "B old".to_string())]);
        let second = compose_comment(Some(&first), "### results again", &[("recipe-b".into(), "B new\nwith lines".into())], &[]);
        assert_eq!(sections(&second), [("recipe-a".to_string(), "A running".to_string()), ("recipe-b".to_string(), "B new\nwith lines".to_string())]);
        assert!(second.contains("### results again") && !second.contains("### results\n"), "{second}");
        let third = compose_comment(Some(&second), "h", &[("none".into(), "nothing".into())], &["recipe-a".into(), "recipe-b".into()]);
        assert_eq!(sections(&third), [("none".to_string(), "nothing".to_string())]);
    }
}
