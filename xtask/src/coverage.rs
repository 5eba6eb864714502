//! `cargo xtask coverage`: where each recipe of the set stands on this machine, one row per
//! recipe of [`RECIPE_SET`] whether or not its crate exists yet (docs/coverage.md says what
//! the columns mean). Recipe crates outside the set are listed after the table.
//!
//! It never reports a pass that did not happen here: a recipe with no results file reads
//! "never run", a recipe of the set without a suite reads "absent", and one whose suite
//! has no runnable testbed fixture reads "unverified: no fixture
//! obtainable here" whatever a results file says.
//!
//! A recipe whose `recipe.toml` has `[unverified_here]` (part of the real app cannot run on the
//! testbed) keeps those tests in its `real` test binary: the table counts them in their own
//! column, and a section after it names, per such recipe, the tests that ran here (with their
//! last result) and the tests unverified here, with the reason.

use std::path::Path;

use crate::{
    lint::{self, CheckStatus},
    results::{self, RecipeRecord},
    workspace::{self, RecipeCrate, Workspace},
};

/// The recipe set of SPEC.md ("The recipe set"), in its order: SSO providers first, then
/// their dependents, easy to hard.
pub const RECIPE_SET: [&str; 19] = [
    "custom-html",
    "keycloak",
    "authentik",
    "matrix-synapse",
    "n8n",
    "ghost",
    "bluesky-pds",
    "mumble",
    "drone",
    "uptime-kuma",
    "plausible",
    "mattermost-lts",
    "discourse",
    "mailu",
    "immich",
    "cryptpad",
    "lasuite-docs",
    "lasuite-drive",
    "lasuite-meet",
];

/// Tests of one stage: how many, and how many of them are still `harness::unwritten!`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Count {
    pub tests: usize,
    pub unwritten: usize,
}

impl Count {
    fn add(&mut self, other: Count) {
        self.tests += other.tests;
        self.unwritten += other.unwritten;
    }

    fn cell(self) -> String {
        if self.unwritten > 0 { format!("{} ({} unwritten)", self.tests, self.unwritten) } else { self.tests.to_string() }
    }
}

/// Tests per stage of a crate's test binary; `functional` includes every module that is not
/// one of the other stages (and the binary's root file).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stages {
    pub install: Count,
    pub functional: Count,
    pub browser: Count,
    pub backup: Count,
    pub upgrade: Count,
}

/// The testbed fixture of a recipe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fixture {
    /// No `testbed/recipes/<fixture>/head/compose.yml`.
    Absent,
    /// The `new-recipe` skeleton: its image is a placeholder nothing builds.
    Skeleton,
    /// A head that can deploy, and this many releases before it.
    Present { releases: usize },
}

impl Fixture {
    fn cell(&self) -> String {
        match self {
            Fixture::Absent => "no".into(),
            Fixture::Skeleton => "skeleton".into(),
            Fixture::Present { releases: 0 } => "head only".into(),
            Fixture::Present { releases: 1 } => "head + 1 release".into(),
            Fixture::Present { releases } => format!("head + {releases} releases"),
        }
    }
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub recipe: String,
    /// `recipes/<name>`, when the crate exists.
    pub crate_dir: Option<String>,
    /// `yes`, `no`, or `no health_check row`.
    pub parity: String,
    pub stages: Option<Stages>,
    pub fixture: Fixture,
    pub last_result: String,
    pub level: String,
    /// The part of the real recipe that cannot run here (`[unverified_here]`), if any.
    pub unverified: Option<Unverified>,
}

/// A recipe's tests that cannot run on the testbed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unverified {
    /// `[unverified_here] why`.
    pub why: String,
    /// The tests of the `real` binary, `module::function`.
    pub tests: Vec<String>,
    /// The tests of the binary that runs here, `module::function`, with their status in the
    /// last recorded run (`never run` without one).
    pub here: Vec<(String, String)>,
}

/// Counts the tests of one Rust file: a `#[test]`, `#[tokio::test]` or `#[rstest]` function
/// counts once, or once per `#[case]` when it has cases; a test whose body holds
/// `unwritten!(` counts as unwritten.
pub fn count_tests(text: &str) -> Count {
    let mut count = Count::default();
    let (mut is_test, mut cases) = (false, 0);
    let mut current = 0; // the tests of the function being read, until its `unwritten!` or the next
    for line in text.lines() {
        let l = line.trim_start();
        if l.starts_with("//") {
            continue;
        }
        // `#[case::name(..)]` or `#[case(..)]`; a parameter's `#[case]` is not a case.
        if l.starts_with("#[case(") || l.starts_with("#[case::") {
            cases += 1;
        } else if l.starts_with("#[test]") || l.starts_with("#[tokio::test") || l.starts_with("#[rstest") {
            is_test = true;
        } else if workspace::is_fn_line(l) {
            current = if is_test { cases.max(1) } else { 0 };
            count.tests += current;
            (is_test, cases) = (false, 0);
        } else if l.contains("unwritten!(") && current > 0 {
            count.unwritten += current;
            current = 0;
        }
    }
    count
}

/// The status of test `name` in a recorded run: recorded names may carry the binary's name
/// (`recipe::install::x`, nextest's `binary test` form) before the module path.
fn recorded_status(record: Option<&RecipeRecord>, name: &str) -> String {
    let Some(record) = record else { return "never run".into() };
    record
        .tests
        .iter()
        .find(|t| t.name == name || t.name.ends_with(&format!("::{name}")) || t.name.ends_with(&format!(" {name}")))
        .map(|t| format!("{:?}", t.status).to_lowercase())
        .unwrap_or_else(|| "not in the last run".into())
}

/// The `[unverified_here]` part of the recipe crate at `crate_dir`: its reason, the tests of
/// its `real` binary, and the tests that run here with their last status.
pub fn unverified(crate_dir: &Path, name: &str, record: Option<&RecipeRecord>) -> Option<Unverified> {
    let recipe = workspace::load_recipe(crate_dir).ok()?;
    let why = recipe.toml.unverified_here?.why;
    let real = workspace::test_main(crate_dir, harness::ops::REAL_TESTS_BINARY);
    let real = if real == workspace::test_main(crate_dir, name) { crate_dir.join("tests/real/main.rs") } else { real };
    let here = workspace::binary_tests(&workspace::test_main(crate_dir, name)).into_iter().map(|t| {
        let status = recorded_status(record, &t);
        (t, status)
    });
    Some(Unverified { why, tests: workspace::binary_tests(&real), here: here.collect() })
}


/// Tests per stage of the recipe crate at `crate_dir` (recipe `name`).
pub fn stages(crate_dir: &Path, name: &str) -> Stages {
    let main = workspace::test_main(crate_dir, name);
    let mut stages = Stages::default();
    let Ok(text) = std::fs::read_to_string(&main) else { return stages };
    stages.functional.add(count_tests(&text));
    for module in workspace::declared_modules(&text) {
        let slot = match module.as_str() {
            "install" => &mut stages.install,
            "browser" => &mut stages.browser,
            "backup" => &mut stages.backup,
            "upgrade" => &mut stages.upgrade,
            _ => &mut stages.functional,
        };
        for file in workspace::module_files(&main, &module) {
            slot.add(count_tests(&std::fs::read_to_string(file).unwrap_or_default()));
        }
    }
    stages
}

/// The fixture `testbed/recipes/<fixture>` below the workspace root.
pub fn fixture_status(root: &Path, fixture: &str) -> Fixture {
    let dir = root.join("testbed/recipes").join(fixture);
    let Ok(compose) = std::fs::read_to_string(dir.join("head/compose.yml")) else { return Fixture::Absent };
    let placeholder = compose.lines().any(|l| l.trim().strip_prefix("image:").is_some_and(|i| i.trim().trim_matches(['"', '\'']).starts_with("ccci-scaffold/")));
    if placeholder {
        return Fixture::Skeleton;
    }
    let releases = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| e.path().is_dir() && e.file_name().to_string_lossy().starts_with(|c: char| c.is_ascii_digit()))
                .count()
        })
        .unwrap_or(0);
    Fixture::Present { releases }
}

/// The "last result" and "level" cells. Without a runnable fixture nothing could have passed
/// here; without a record the recipe never ran here.
pub fn last_result(fixture: &Fixture, record: Option<&RecipeRecord>) -> (String, String) {
    if !matches!(fixture, Fixture::Present { .. }) {
        return ("unverified: no fixture obtainable here".into(), "-".into());
    }
    let Some(r) = record else { return ("never run".into(), "-".into()) };
    let date = r.timestamp.get(..10).unwrap_or(&r.timestamp);
    let c = &r.counts;
    let total = c.total();
    let text = if total == 0 {
        format!("unverified: no per-test results ({date})")
    } else if c.fail > 0 {
        format!("fail {}/{total} ({date})", c.fail)
    } else if c.unverified > 0 {
        format!("unverified {}/{total} ({date})", c.unverified)
    } else if c.pass > 0 {
        let skipped = if c.skip > 0 { format!(", {} skipped", c.skip) } else { String::new() };
        format!("pass {}/{total}{skipped} ({date})", c.pass)
    } else {
        format!("skip {}/{total} ({date})", c.skip)
    };
    (text, format!("L{} {}", r.level, r.level_name))
}

/// The row of recipe `name`, whose crate is `recipe` (if any), under the workspace `root`.
pub fn row(root: &Path, state_dir: &Path, name: &str, recipe: Option<&RecipeCrate>) -> Row {
    let crate_dir = recipe.map(|r| root.join(&r.dir));
    let parity = match &crate_dir {
        None => "-".into(),
        Some(dir) => match std::fs::read_to_string(dir.join("PARITY.md")) {
            Err(_) => "no".into(),
            Ok(text) if lint::parity(Some(&text)).status == CheckStatus::Pass => "yes".into(),
            Ok(_) => "no health_check row".into(),
        },
    };
    let fixture = fixture_status(root, recipe.map(|r| r.fixture.as_str()).unwrap_or(name));
    let record = results::load_record(state_dir, name).ok().flatten();
    let unverified = crate_dir.as_deref().and_then(|d| unverified(d, name, record.as_ref()));
    let (last_result, level) = match results::load_record(state_dir, name) {
        // No suite: nothing ran here, whatever a fixture or a stray results file says.
        _ if recipe.is_none() && !matches!(fixture, Fixture::Present { .. }) => ("absent: no suite, no fixture".into(), "-".into()),
        _ if recipe.is_none() => ("absent: no suite".into(), "-".into()),
        Ok(record) => last_result(&fixture, record.as_ref()),
        Err(e) if matches!(fixture, Fixture::Present { .. }) => (format!("unreadable results: {e:#}"), "-".into()),
        Err(_) => last_result(&fixture, None),
    };
    Row { recipe: name.into(), crate_dir: recipe.map(|r| r.dir.clone()), parity, stages: crate_dir.map(|d| stages(&d, name)), fixture, last_result, level, unverified }
}

/// The rows of the recipe set (exactly [`RECIPE_SET`], in order) and of the workspace's other
/// recipe crates.
pub fn rows(ws: &Workspace, state_dir: &Path) -> (Vec<Row>, Vec<Row>) {
    let set = RECIPE_SET.iter().map(|name| row(&ws.root, state_dir, name, ws.recipe_named(name))).collect();
    let others = ws.recipes.iter().filter(|r| !RECIPE_SET.contains(&r.name.as_str())).map(|r| row(&ws.root, state_dir, &r.name, Some(r))).collect();
    (set, others)
}

const HEADER: [&str; 12] =
    ["recipe", "crate", "PARITY.md", "install", "functional", "browser", "backup", "upgrade", "unverified here", "fixture", "last result", "level"];

fn cells(row: &Row) -> Vec<String> {
    let stage = |f: fn(&Stages) -> Count| row.stages.as_ref().map(|s| f(s).cell()).unwrap_or_else(|| "-".into());
    vec![
        row.recipe.clone(),
        if row.crate_dir.is_some() { "yes".into() } else { "no".into() },
        row.parity.clone(),
        stage(|s| s.install),
        stage(|s| s.functional),
        stage(|s| s.browser),
        stage(|s| s.backup),
        stage(|s| s.upgrade),
        row.unverified.as_ref().map(|u| u.tests.len().to_string()).unwrap_or_else(|| "-".into()),
        row.fixture.cell(),
        row.last_result.clone(),
        row.level.clone(),
    ]
}

/// A markdown table with padded columns (readable as text and as markdown).
pub fn table(rows: &[Row]) -> String {
    let body: Vec<Vec<String>> = rows.iter().map(cells).collect();
    let widths: Vec<usize> = (0..HEADER.len())
        .map(|i| body.iter().map(|r| r[i].chars().count()).chain([HEADER[i].len()]).max().unwrap_or(0))
        .collect();
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        format!("| {} |\n", padded.join(" | "))
    };
    let mut out = line(&HEADER.map(str::to_owned));
    out.push_str(&format!("|{}|\n", widths.iter().map(|w| "-".repeat(w + 2)).collect::<Vec<_>>().join("|")));
    for r in &body {
        out.push_str(&line(r));
    }
    out
}

/// The whole report.
pub fn render(set: &[Row], others: &[Row]) -> String {
    let crates = set.iter().filter(|r| r.crate_dir.is_some()).count();
    let fixtures = set.iter().filter(|r| matches!(r.fixture, Fixture::Present { .. })).count();
    let passing = set.iter().filter(|r| r.last_result.starts_with("pass ")).count();
    let mut out = format!("Recipe set of SPEC.md ({} recipes; columns: docs/coverage.md)\n\n", set.len());
    out.push_str(&table(set));
    out.push_str(&format!(
        "\n{crates} of {n} have a crate, {fixtures} a runnable testbed fixture; {passing} passed every test when last run here.\n",
        n = set.len()
    ));
    let partial: Vec<&Row> = set.iter().chain(others).filter(|r| r.unverified.is_some()).collect();
    if !partial.is_empty() {
        out.push_str("\nParts of the real recipe unverified here (the `real` test binary; run on a cc-ci host with --features real-recipe)\n");
    }
    for row in partial {
        let u = row.unverified.as_ref().expect("filtered");
        out.push_str(&format!("\n{}: {} tests run here, {} unverified here: {}\n", row.recipe, u.here.len(), u.tests.len(), u.why));
        for (test, status) in &u.here {
            out.push_str(&format!("  ran here      {test} ({status})\n"));
        }
        for test in &u.tests {
            out.push_str(&format!("  unverified    {test}\n"));
        }
    }
    if !others.is_empty() {
        out.push_str("\nRecipe crates outside the recipe set\n\n");
        out.push_str(&table(others));
    }
    out
}

/// `cargo xtask coverage`.
pub fn run(ws: &Workspace, state_dir: &Path) -> String {
    let (set, others) = rows(ws, state_dir);
    render(&set, &others)
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;
    use crate::{report::Verdict, results::Counts};

    fn record(pass: usize, fail: usize, skip: usize, unverified: usize) -> RecipeRecord {
        RecipeRecord {
            recipe: "x".into(),
            package: "recipe-x".into(),
            timestamp: "2026-12-01T10:00:00Z".into(),
            run_id: "x1".into(),
            runner: "cargo nextest run --profile ci".into(),
            exit_code: Some(0),
            counts: Counts { pass, fail, skip, unverified },
            level: 4,
            level_name: "functional".into(),
            verdict: Verdict::Success,
            description: String::new(),
            tests: vec![],
            notes: vec![],
        }
    }

    const PRESENT: Fixture = Fixture::Present { releases: 1 };

    #[rstest]
    #[case::never_ran(PRESENT, None, "never run")]
    #[case::all_passed(PRESENT, Some(record(12, 0, 0, 0)), "pass 12/12 (2026-12-01)")]
    #[case::some_skipped(PRESENT, Some(record(11, 0, 1, 0)), "pass 11/12, 1 skipped (2026-12-01)")]
    #[case::failed(PRESENT, Some(record(9, 3, 0, 0)), "fail 3/12 (2026-12-01)")]
    #[case::fail_beats_unverified(PRESENT, Some(record(8, 3, 0, 1)), "fail 3/12 (2026-12-01)")]
    #[case::unverified(PRESENT, Some(record(10, 0, 0, 2)), "unverified 2/12 (2026-12-01)")]
    #[case::no_tests_recorded(PRESENT, Some(record(0, 0, 0, 0)), "unverified: no per-test results (2026-12-01)")]
    #[case::no_fixture(Fixture::Absent, None, "unverified: no fixture obtainable here")]
    #[case::no_fixture_but_a_passing_record(Fixture::Absent, Some(record(12, 0, 0, 0)), "unverified: no fixture obtainable here")]
    #[case::skeleton_fixture(Fixture::Skeleton, Some(record(12, 0, 0, 0)), "unverified: no fixture obtainable here")]
    fn the_last_result_is_a_pass_only_when_a_run_here_passed(#[case] fixture: Fixture, #[case] record: Option<RecipeRecord>, #[case] expected: &str) {
        assert_eq!(last_result(&fixture, record.as_ref()).0, expected);
    }

    #[test]
    fn an_empty_workspace_still_has_the_19_rows_none_passing() {
        let root = std::env::temp_dir().join(format!("ccci-coverage-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        let ws = Workspace { root: root.clone(), ..Workspace::default() };
        let (set, others) = rows(&ws, &root.join("state"));
        std::fs::remove_dir_all(&root).unwrap();
        assert_eq!(set.iter().map(|r| r.recipe.as_str()).collect::<Vec<_>>(), RECIPE_SET);
        assert!(others.is_empty());
        for r in &set {
            assert_eq!((r.crate_dir.as_deref(), r.last_result.as_str()), (None, "absent: no suite, no fixture"), "{r:?}");
        }
        let text = render(&set, &others);
        assert_eq!(text.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| recipe ")).count(), 19, "{text}");
    }

    #[test]
    fn this_workspace_has_19_rows_and_its_crates_are_found() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let ws = Workspace::load(root).unwrap();
        let state = std::env::temp_dir().join(format!("ccci-coverage-none-{}", std::process::id()));
        let (set, _) = rows(&ws, &state);
        assert_eq!(set.len(), 19);
        let custom_html = &set[0];
        assert_eq!(custom_html.crate_dir.as_deref(), Some("recipes/custom-html"));
        assert_eq!(custom_html.parity, "yes");
        assert_eq!(custom_html.last_result, "never run", "no results file: {custom_html:?}");
        let stages = custom_html.stages.unwrap();
        assert!(stages.install.tests >= 2 && stages.backup.tests >= 1 && stages.upgrade.tests >= 1, "{stages:?}");
        // rstest cases count one each: the content-type test alone has 4.
        assert!(stages.functional.tests >= 8, "{stages:?}");
        assert!(set.iter().all(|r| !r.last_result.starts_with("pass")));
    }

    #[rstest]
    #[case::plain("#[test]\nfn a() {}\n#[tokio::test(flavor = \"multi_thread\")]\nasync fn b() -> anyhow::Result<()> {\n    Ok(())\n}\n", 2, 0)]
    #[case::rstest_cases("#[rstest]\n#[case::a(1)]\n#[case::b(2)]\n#[case::c(3)]\n#[tokio::test]\nasync fn c(#[case] n: u8) {}\n", 3, 0)]
    #[case::multiline_case_parameters("#[rstest]\n#[case::a(1)]\n#[test]\nfn c(\n    #[case] n: u8,\n) {}\n", 1, 0)]
    #[case::helpers_do_not_count("async fn shared() {}\n#[test]\nfn a() {}\n", 1, 0)]
    #[case::unwritten("/// doc\n// let x = 1;\n#[tokio::test]\nasync fn a() -> anyhow::Result<()> {\n    harness::unwritten!(\"write it\");\n}\n#[test]\nfn b() {}\n", 2, 1)]
    #[case::commented_out("// #[test]\n// fn a() {}\n", 0, 0)]
    fn tests_are_counted_from_attributes_and_cases_and_named(#[case] text: &str, #[case] tests: usize, #[case] unwritten: usize) {
        assert_eq!(count_tests(text), Count { tests, unwritten });
        let names = workspace::test_names(text);
        assert!(names.len() <= tests && (tests == 0) == names.is_empty(), "{names:?}");
        assert!(!names.iter().any(|n| n == "shared"), "{names:?}");
    }

    /// A recipe whose real app cannot fully run here: the table counts the `real` binary's
    /// tests in their own column, and the section after it names every test with what
    /// happened to it here, and the reason for the rest.
    #[test]
    fn tests_of_parts_that_cannot_run_here_are_listed_as_unverified_with_the_reason() {
        let dir = std::env::temp_dir().join(format!("ccci-coverage-real-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (file, text) in [
            ("recipe.toml", "name = \"x\"\n[unverified_here]\nwhy = \"the backend is on no registry\"\n"),
            ("Cargo.toml", "[package]\nname = \"recipe-x\"\n[features]\nreal-recipe = []\n[[test]]\nname = \"x\"\npath = \"tests/x/main.rs\"\n[[test]]\nname = \"real\"\npath = \"tests/real/main.rs\"\nrequired-features = [\"real-recipe\"]\n"),
            ("tests/x/main.rs", "mod install;\n"),
            ("tests/x/install.rs", "#[tokio::test]\nasync fn livekit_answers() {}\n#[test]\nfn token_is_signed() {}\n"),
            ("tests/real/main.rs", "mod sso;\n"),
            ("tests/real/sso.rs", "#[tokio::test]\nasync fn oidc_login_through_keycloak() {}\n"),
        ] {
            std::fs::create_dir_all(dir.join(file).parent().unwrap()).unwrap();
            std::fs::write(dir.join(file), text).unwrap();
        }
        let mut rec = record(1, 1, 0, 0);
        rec.tests = vec![
            crate::results::TestRecord { name: "x::install::livekit_answers".into(), status: crate::report::TestStatus::Pass },
            crate::results::TestRecord { name: "x::install::token_is_signed".into(), status: crate::report::TestStatus::Fail },
        ];
        let u = unverified(&dir, "x", Some(&rec)).unwrap();
        assert_eq!(u.why, "the backend is on no registry");
        assert_eq!(u.tests, ["sso::oidc_login_through_keycloak"]);
        assert_eq!(u.here, [("install::livekit_answers".to_owned(), "pass".to_owned()), ("install::token_is_signed".to_owned(), "fail".to_owned())]);
        assert_eq!(unverified(&dir, "x", None).unwrap().here[0].1, "never run");
        assert_eq!(lint::real_tests(&dir, Some("why")).map(|c| c.status), Some(CheckStatus::Pass));

        let row = Row {
            recipe: "x".into(),
            crate_dir: Some("recipes/x".into()),
            parity: "yes".into(),
            stages: Some(stages(&dir, "x")),
            fixture: PRESENT,
            last_result: "fail 1/2 (2026-12-01)".into(),
            level: "-".into(),
            unverified: Some(u),
        };
        let text = render(std::slice::from_ref(&row), &[]);
        assert!(text.contains("x: 2 tests run here, 1 unverified here: the backend is on no registry"), "{text}");
        assert!(text.contains("ran here      install::token_is_signed (fail)"), "{text}");
        assert!(text.contains("unverified    sso::oidc_login_through_keycloak"), "{text}");
        let table_row = text.lines().find(|l| l.starts_with("| x ")).unwrap();
        assert_eq!(table_row.split('|').map(str::trim).nth(9), Some("1"), "{table_row}");

        // The feature gate is what keeps them out of a run here: without it, lint fails.
        std::fs::write(dir.join("Cargo.toml"), "[package]\nname = \"recipe-x\"\n[[test]]\nname = \"real\"\npath = \"tests/real/main.rs\"\n").unwrap();
        assert_eq!(lint::real_tests(&dir, Some("why")).map(|c| c.status), Some(CheckStatus::Fail));
        assert_eq!(lint::real_tests(&dir, None).map(|c| c.status), Some(CheckStatus::Fail));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
