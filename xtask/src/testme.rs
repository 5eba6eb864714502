//! `cargo xtask testme <pr>`: one `!testme`, from the trigger to the report on the PR.
//!
//! 1. Read the PR from Gitea (repository, head sha, base, changed files).
//! 2. Started from a comment (`--comment-id`, or `CCCI_COMMENT_ID` from the Drone trigger):
//!    the comment must be exactly `!testme` and its author must have write access to the
//!    repository; anyone else gets one polite reply and nothing runs.
//! 3. Select recipe crates ([`crate::select`]) and print the decision with its reasons.
//! 4. Take the PR's per-recipe locks ([`crate::pr_lock`]): a second `!testme` on the same PR
//!    waits for the first, saying so.
//! 5. Report "running" (pending commit statuses, the PR comment), then: testbed, janitor,
//!    check out the PR head into the run directory (recipe PRs: `CCCI_RECIPE_REPO`), lint, and
//!    `cargo nextest run --profile ci` over the selected crates with the run's variables
//!    (`CCCI_RUN_ID`, `CCCI_RUN_OWNER_PID`, `CCCI_NAME_TAG=pr<N>-<sha7>`, `MAX_TESTS`).
//! 6. Tear the run down, write `results.json`, `summary.md`, the JUnit and lint reports into
//!    the run's artifact directory, update the PR's one comment in place and set one commit
//!    status per recipe whose description carries its level.
//!
//! Nested cargo: this runs `cargo nextest run` as a child. Cargo holds its build lock only
//! while building, not while tests run, so a `testme` started from inside `cargo test` or
//! `cargo nextest run` does not deadlock; an enclosing nextest's `NEXTEST_*` variables are
//! removed from the child (they would select the enclosing run's profile and thread count).

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::ExitCode,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use harness::ops::RunConfig;
use serde::Serialize;

use crate::{
    gitea::{Gitea, NewStatus, PullRequest, StatusState, User},
    junit,
    lint::{self, LintReport},
    pr::{PrRef, is_testme_command},
    pr_checkout::{self, GitAuth, short},
    pr_lock,
    report::{self, COMMENT_MARKER, NoResults, RecipeResult, RunInfo, Verdict},
    select::{self, Decision},
    workspace::{RecipeCrate, Workspace},
};

#[derive(clap::Args, Debug)]
pub struct TestmeArgs {
    /// The pull request: `owner/repo#N`, a PR URL on GITEA_URL, or `N` with --repo.
    #[arg(env = "CCCI_PR")]
    pub pr: String,
    /// Default repository (`owner/repo`) for a bare PR number.
    #[arg(long, env = "CCCI_DEFAULT_REPO")]
    pub repo: Option<String>,
    /// The comment that asked for the run: it must be `!testme` by someone with write access.
    #[arg(long, env = "CCCI_COMMENT_ID")]
    pub comment_id: Option<u64>,
    /// Also test the recipes that depend on the PR's recipe (requires, test_requires, sso).
    #[arg(long)]
    pub with_dependents: bool,
    /// Only these recipe packages, if selected (one CI job per recipe).
    #[arg(long = "only", value_name = "PACKAGE")]
    pub only: Vec<String>,
    /// This project's own repository (`owner/repo`): its PRs select crates by changed paths.
    #[arg(long, env = "CCCI_PROJECT_REPO")]
    pub project_repo: Option<String>,
    /// Print the decision only: no deployment, nothing posted to the PR.
    #[arg(long)]
    pub dry_run: bool,
    /// Skip `testbed up` (a cc-ci host with its own Swarm and Traefik).
    #[arg(long)]
    pub no_testbed: bool,
    /// After the tests of a recipe PR, run the recipe's mutants against the PR head
    /// (`cargo xtask mutants`); the report cites the kill rate, and one that survives fails
    /// the run.
    #[arg(long)]
    pub mutants: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    /// A PR on a recipe's own repository.
    Recipe,
    /// A PR on this project.
    Project,
}

pub async fn run(args: TestmeArgs) -> anyhow::Result<ExitCode> {
    let cwd = std::env::current_dir().context("reading the current directory")?;
    // A malformed argument is the first thing to say, before any missing setting.
    if !args.pr.trim().starts_with("http") {
        PrRef::parse(&args.pr, args.repo.as_deref(), "")?;
    }
    let gitea = Gitea::from_env()?;
    let pr_ref = PrRef::parse(&args.pr, args.repo.as_deref(), gitea.base())?;
    println!("testme: {pr_ref}: reading the pull request from {}", gitea.base());
    let pr = gitea.pull_request(&pr_ref).await?;
    println!(
        "testme: {pr_ref} \"{}\" by {}: head {} ({}), base {} ({})",
        pr.title,
        pr.user.login,
        short(&pr.head.sha),
        pr.head.label,
        pr.base.ref_name,
        short(&pr.base.sha)
    );
    if pr.state != "open" {
        println!("testme: note: the PR is {}{}", pr.state, if pr.merged { " (merged)" } else { "" });
    }
    let config = RunConfig::from_env()?;
    let lock_dir = pr_lock::pr_dir(&config.state_dir, &pr_ref);
    let bot = gitea.current_user().await?;
    if let Some(id) = args.comment_id {
        match check_trigger(&gitea, &pr_ref, id, &bot, &lock_dir, &config, args.dry_run).await? {
            Trigger::Accepted => {}
            Trigger::Ignored | Trigger::Refused => return Ok(ExitCode::SUCCESS),
        }
    }

    let ws = Workspace::load(&cwd)?;
    for package in &args.only {
        anyhow::ensure!(
            ws.recipe_package(package).is_some(),
            "--only {package}: no such recipe crate (known recipes: {})",
            ws.recipe_names()
        );
    }
    let kind = match &args.project_repo {
        Some(project) if project.eq_ignore_ascii_case(&pr_ref.full_name()) => Kind::Project,
        _ => Kind::Recipe,
    };
    // Gitea repository names are case-insensitive; recipe names are lower case.
    let recipe_name = pr_ref.repo.to_ascii_lowercase();
    let mut decision = match kind {
        Kind::Project => {
            let files = gitea.pull_request_files(&pr_ref).await?;
            let mut paths = vec![];
            for f in files {
                if !f.previous_filename.is_empty() && f.previous_filename != f.filename {
                    paths.push(f.previous_filename);
                }
                paths.push(f.filename);
            }
            println!("testme: {pr_ref} is a PR on this project; {} changed file(s)", paths.len());
            select::for_paths(&ws, &paths)
        }
        Kind::Recipe => select::for_recipe_repo(&ws, &pr_ref.full_name(), &recipe_name, args.with_dependents).ok_or_else(|| {
            anyhow::format_err!(
                "not a recipe repo: {} has no recipe crate here for recipe {:?} (known recipes: {}{})",
                pr_ref.full_name(),
                pr_ref.repo,
                ws.recipe_names(),
                match &args.project_repo {
                    Some(p) => format!("; this project's repository is {p}"),
                    None => "; set CCCI_PROJECT_REPO to test PRs on this project".into(),
                }
            )
        })?,
    };
    let headline = decision.headline.clone();
    decision.restrict(&args.only);
    print!("{decision}");
    if args.dry_run {
        println!("testme: --dry-run: nothing deployed, nothing posted");
        return Ok(ExitCode::SUCCESS);
    }
    if decision.is_empty() && !args.only.is_empty() {
        println!("testme: {} not needed by this PR; nothing to do", args.only.join(", "));
        return Ok(ExitCode::SUCCESS);
    }
    if kind == Kind::Project {
        let local = git_head(&ws.root)?;
        anyhow::ensure!(
            local == pr.head.sha,
            "this checkout is at {} but the PR head is {}: check out the PR head first (git fetch origin refs/pull/{}/head && git checkout FETCH_HEAD)",
            short(&local),
            short(&pr.head.sha),
            pr.number
        );
    }

    let reporter = Reporter::new(&gitea, &pr_ref, &pr, bot, lock_dir.clone(), &config, headline, args.only.is_empty());
    let mut config = config;
    config.run_id = run_id(&config, pr.number, &pr.head.sha);
    config.owner_pid = std::process::id();
    let run_dir = config.run_dir();
    let artifacts = run_dir.join("artifacts");
    std::fs::create_dir_all(&artifacts).with_context(|| format!("creating {}", artifacts.display()))?;
    let mut started_unix = harness::ops::now_unix();
    let mut started = Instant::now();
    println!("testme: run {} (artifacts: {})", config.run_id, artifacts.display());

    if decision.is_empty() {
        reporter.nothing_to_test(&decision).await?;
        let info = run_info(&config, &pr, started_unix, started, &artifacts, &reporter);
        write_results(&artifacts, &pr, kind, &decision, &info, &[], &[])?;
        // Nothing was deployed; the marker lets the janitor prune the directory in due time.
        std::fs::write(run_dir.join("finished"), harness::ops::now_unix().to_string()).ok();
        println!("testme: nothing to test; reported on {pr_ref}");
        return Ok(ExitCode::SUCCESS);
    }

    let holder = format!("run {} (pid {}, started {})", config.run_id, std::process::id(), crate::rfc3339(started_unix));
    let mut locks = vec![];
    for package in decision.packages() {
        let what = format!("the lock of {pr_ref} for {package}");
        locks.push(pr_lock::acquire(&lock_dir.join(format!("{package}.lock")), &what, &holder, config.timeouts.run, Duration::from_secs(30)).await?);
    }
    // The run's clock starts once it may run: time spent queued behind another run is not its.
    (started_unix, started) = (harness::ops::now_unix(), Instant::now());
    let recipes: Vec<RecipeCrate> = decision.packages().iter().filter_map(|p| ws.recipe_package(p).cloned()).collect();
    let info = run_info(&config, &pr, started_unix, started, &artifacts, &reporter);
    reporter.running(&recipes, &info).await?;

    let mut runs = vec![];
    let executed = execute(&config, &ws, &pr_ref, &pr, kind, &recipes, &gitea, &artifacts, &mut runs, args.no_testbed).await;
    let teardown = teardown(&config, executed.as_ref().map(|r| r.iter().all(|x| x.verdict == Verdict::Success)).unwrap_or(false)).await;
    let results: Vec<RecipeResult> = match executed {
        Ok(results) => results,
        Err(e) => {
            println!("testme: the run could not complete: {e:#}");
            let reason = format!("{} the run could not complete: {}", harness::UNVERIFIED_MARKER, one_line(&format!("{e:#}")));
            recipes
                .iter()
                .map(|r| report::evaluate(r, &[], None, Some(NoResults { verdict: Verdict::Error, reason: reason.clone() })))
                .collect()
        }
    };
    if let Err(e) = &teardown {
        println!("testme: teardown failed (the janitor will retry): {e:#}");
    }
    let mut notes: BTreeMap<String, String> = BTreeMap::new();
    let mut mutants_failed = false;
    if args.mutants {
        match kind {
            Kind::Recipe => {
                for recipe in recipes.iter().filter(|r| r.name == recipe_name) {
                    let note = mutants_of_head(&config, recipe, &pr_ref, &artifacts).await;
                    mutants_failed |= note.0;
                    notes.insert(recipe.package.clone(), note.1);
                }
            }
            Kind::Project => println!("testme: --mutants: only a recipe PR has a head to mutate; none run"),
        }
    }
    let info = run_info(&config, &pr, started_unix, started, &artifacts, &reporter);
    write_results(&artifacts, &pr, kind, &decision, &info, &results, &runs)?;
    let summary = reporter.summary(&results, &info, &notes);
    std::fs::write(artifacts.join("summary.md"), &summary).context("writing summary.md")?;
    for r in &results {
        println!("testme: {}: {} ({})", r.recipe, r.description, r.verdict.state().as_str());
    }
    reporter.finished(&results, &info, &notes).await?;
    drop(locks);
    println!("testme: results: {}", artifacts.join("results.json").display());
    let verdict = results.iter().fold(Verdict::Success, |v, r| v.worst(r.verdict));
    Ok(if verdict == Verdict::Success && !mutants_failed { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// `--mutants`: the recipe's mutants against the PR head checkout, each as a run of its own.
/// Returns whether one was not killed (or they could not run), and the line for the report.
async fn mutants_of_head(config: &RunConfig, recipe: &RecipeCrate, pr_ref: &PrRef, artifacts: &Path) -> (bool, String) {
    let mut base = config.clone();
    base.recipe_repo = Some(config.run_dir().join("checkout").join(&pr_ref.repo));
    println!("testme: running the mutants of {} against the PR head", recipe.name);
    match crate::mutants::run_for(&base, &recipe.name, &crate::mutants::Options::default()).await {
        Ok(Some(record)) => {
            print!("{}", crate::mutants::table(&record));
            if let Err(e) = crate::mutants::write_record(&artifacts.join(format!("mutants-{}.json", recipe.name)), &record) {
                println!("testme: mutants of {} not recorded: {e:#}", recipe.name);
            }
            (record.fails(), record.kill_line())
        }
        Ok(None) => (false, String::new()),
        Err(e) => (true, format!("Mutants: not run: {}", one_line(&format!("{e:#}")))),
    }
}

enum Trigger {
    Accepted,
    /// Not the command: nothing to say.
    Ignored,
    /// Someone without write access: told so on the PR.
    Refused,
}

/// Whether comment `id` triggers a run. A refusal is answered on the PR once, except under
/// `--dry-run`, which posts nothing and says what it would have answered.
async fn check_trigger(gitea: &Gitea, pr: &PrRef, id: u64, bot: &User, lock_dir: &Path, config: &RunConfig, dry_run: bool) -> anyhow::Result<Trigger> {
    let comment = gitea.comment(&pr.owner, &pr.repo, id).await?;
    let expected = format!("/{}/{}/pulls/{}", pr.owner, pr.repo, pr.number).to_ascii_lowercase();
    if !comment.pull_request_url.to_ascii_lowercase().ends_with(&expected) {
        let on = if comment.pull_request_url.is_empty() { &comment.issue_url } else { &comment.pull_request_url };
        anyhow::bail!("comment {id} is not on {pr} (it is on {on}); nothing runs");
    }
    let login = &comment.user.login;
    if !is_testme_command(&comment.body) {
        println!("testme: comment {id} by {login} is not the `!testme` command; nothing to do");
        return Ok(Trigger::Ignored);
    }
    let permission = gitea.permission(&pr.owner, &pr.repo, login).await?;
    if matches!(permission.as_str(), "owner" | "admin" | "write") {
        println!("testme: `!testme` by {login} ({permission} access to {}) accepted", pr.full_name());
        return Ok(Trigger::Accepted);
    }
    let marker = format!("<!-- ccci:refusal {id} -->");
    let reply = format!(
        "{marker}\n@{login} thanks for asking! `!testme` deploys this PR onto the shared CI host, so it only runs when \
         someone with write access to {} asks. A maintainer can comment `!testme` here to start it.",
        pr.full_name()
    );
    if dry_run {
        println!("testme: {login} has {permission} access to {}: would be refused with a reply on the PR (--dry-run: nothing posted)", pr.full_name());
        return Ok(Trigger::Refused);
    }
    let holder = format!("refusal of comment {id} (pid {})", std::process::id());
    let _lock = pr_lock::acquire(&lock_dir.join("comment.lock"), "the PR comment lock", &holder, config.timeouts.shared, Duration::from_secs(30)).await?;
    let already = gitea.comments(pr).await?.into_iter().any(|c| c.user.login == bot.login && c.body.contains(&marker));
    if !already {
        gitea.create_comment(pr, &reply).await?;
    }
    println!(
        "testme: {login} has {permission} access to {}: refused{}; nothing runs",
        pr.full_name(),
        if already { " (already told)" } else { " with a reply on the PR" }
    );
    Ok(Trigger::Refused)
}

fn git_head(dir: &Path) -> anyhow::Result<String> {
    let out = std::process::Command::new("git").arg("-C").arg(dir).args(["rev-parse", "HEAD"]).output().context("running git rev-parse")?;
    anyhow::ensure!(out.status.success(), "{} is not a git checkout", dir.display());
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// `pr<N>-<sha7>-<pid>`: unique on the host while the run lives; a reused pid gets a suffix.
fn run_id(config: &RunConfig, number: u64, sha: &str) -> String {
    let id = format!("pr{number}-{}-{}", short(sha), std::process::id());
    if config.runs_dir().join(&id).exists() { format!("{id}-{}", harness::ops::now_unix() % 10_000) } else { id }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn run_info(config: &RunConfig, pr: &PullRequest, started_unix: u64, started: Instant, artifacts: &Path, reporter: &Reporter<'_>) -> RunInfo {
    RunInfo {
        run_id: config.run_id.clone(),
        head_sha: pr.head.sha.clone(),
        started: crate::rfc3339(started_unix),
        duration_secs: started.elapsed().as_secs_f64(),
        artifacts: if reporter.target_url.is_empty() { artifacts.display().to_string() } else { reporter.target_url.clone() },
    }
}

/// One `cargo nextest run` of a group of packages.
#[derive(Debug, Clone, Serialize)]
struct RunnerRun {
    packages: Vec<String>,
    exit_code: Option<i32>,
    /// The JUnit file in the artifact directory, when nextest wrote one.
    junit: Option<String>,
    /// Whether the PR head checkout was the recipe source (`CCCI_RECIPE_REPO`).
    pr_head: bool,
}

#[allow(clippy::too_many_arguments)]
async fn execute(
    config: &RunConfig,
    ws: &Workspace,
    pr_ref: &PrRef,
    pr: &PullRequest,
    kind: Kind,
    recipes: &[RecipeCrate],
    gitea: &Gitea,
    artifacts: &Path,
    runs: &mut Vec<RunnerRun>,
    no_testbed: bool,
) -> anyhow::Result<Vec<RecipeResult>> {
    // The testbed first: on a fresh machine it is what starts the Docker engine.
    if !no_testbed {
        println!("testme: bringing the testbed up");
    }
    harness::ops::RunGuard::for_config(config.clone(), (!no_testbed).then_some(&harness::ops::Fixtures::All)).await?;
    // Recipe PR: its own crate runs against the PR head; dependents against their fixtures.
    let mut groups: Vec<(String, Vec<String>, Option<PathBuf>)> = vec![];
    let mut lint_dirs: BTreeMap<String, PathBuf> = BTreeMap::new();
    match kind {
        Kind::Recipe => {
            let checkout = config.run_dir().join("checkout").join(&pr_ref.repo);
            println!("testme: checking out {} into {}", short(&pr.head.sha), checkout.display());
            let auth = std::env::var("GITEA_TOKEN").ok().map(|token| GitAuth { base_url: gitea.base().to_owned(), token, reach: gitea.reach().clone() });
            pr_checkout::checkout_head(pr, &checkout, auth.as_ref())?;
            let own_name = pr_ref.repo.to_ascii_lowercase();
            let (own, dependents): (Vec<&RecipeCrate>, Vec<&RecipeCrate>) = recipes.iter().partition(|r| r.name == own_name);
            if let Some(own) = own.first() {
                lint_dirs.insert(own.package.clone(), checkout.clone());
                groups.push(("pr-head".into(), vec![own.package.clone()], Some(checkout)));
            }
            if !dependents.is_empty() {
                groups.push(("dependents".into(), dependents.iter().map(|r| r.package.clone()).collect(), None));
            }
        }
        Kind::Project => groups.push(("workspace".into(), recipes.iter().map(|r| r.package.clone()).collect(), None)),
    }
    for recipe in recipes {
        lint_dirs.entry(recipe.package.clone()).or_insert_with(|| ws.root.join("testbed/recipes").join(&recipe.fixture).join("head"));
    }
    let mut lints: BTreeMap<String, LintReport> = BTreeMap::new();
    for recipe in recipes {
        let dir = &lint_dirs[&recipe.package];
        if dir.is_dir() {
            let report = lint::lint_dir(dir, Some(recipe.backup_capable));
            std::fs::write(artifacts.join(format!("lint-{}.txt", recipe.name)), report.table())?;
            println!("testme: lint {}: {} of {} checks failed", recipe.name, report.failures(), report.checks.len());
            lints.insert(recipe.package.clone(), report);
        } else {
            println!("testme: lint {}: no recipe checkout at {}", recipe.name, dir.display());
        }
    }

    let name_tag = format!("pr{}-{}", pr.number, short(&pr.head.sha));
    let mut cases: Vec<junit::Case> = vec![];
    let mut no_results: BTreeMap<String, NoResults> = BTreeMap::new();
    for (label, packages, recipe_repo) in groups {
        let junit_name = if label == "dependents" { "junit-dependents.xml" } else { "junit.xml" };
        let (code, junit_text) = nextest(config, ws, &packages, recipe_repo.as_deref(), &name_tag, artifacts, &label).await?;
        let junit_path = artifacts.join(junit_name);
        let mut parsed = vec![];
        if let Some(text) = &junit_text {
            std::fs::write(&junit_path, text).with_context(|| format!("writing {}", junit_path.display()))?;
            parsed = junit::parse(text).with_context(|| format!("parsing {}", junit_path.display()))?;
        }
        for package in &packages {
            if !parsed.iter().any(|c| c.package() == package) {
                let (verdict, reason) = match (code, kind) {
                    (Some(101), Kind::Project) => (Verdict::Failure, format!("{package} does not build (cargo nextest exited 101): see the CI log")),
                    (Some(101), Kind::Recipe) => (Verdict::Error, format!("{} {package} did not build (cargo nextest exited 101): the suite, not the PR, is broken", harness::UNVERIFIED_MARKER)),
                    (code, _) => (Verdict::Error, format!(
                        "{} the test runner exited with {} and reported no test of {package}",
                        harness::UNVERIFIED_MARKER,
                        code.map(|c| c.to_string()).unwrap_or_else(|| "a signal".into())
                    )),
                };
                no_results.insert(package.clone(), NoResults { verdict, reason });
            }
        }
        runs.push(RunnerRun { packages, exit_code: code, junit: junit_text.map(|_| junit_name.to_owned()), pr_head: recipe_repo.is_some() });
        cases.extend(parsed);
    }
    Ok(recipes
        .iter()
        .map(|r| {
            let mine: Vec<junit::Case> = cases.iter().filter(|c| c.package() == r.package).cloned().collect();
            report::evaluate(r, &mine, lints.remove(&r.package), no_results.remove(&r.package))
        })
        .collect())
}

/// Runs `cargo nextest run --profile ci` over `packages`; returns its exit code and JUnit.
#[allow(clippy::too_many_arguments)]
async fn nextest(
    config: &RunConfig,
    ws: &Workspace,
    packages: &[String],
    recipe_repo: Option<&Path>,
    name_tag: &str,
    artifacts: &Path,
    label: &str,
) -> anyhow::Result<(Option<i32>, Option<String>)> {
    // This run's own store directory, so concurrent runs of different PRs never write the same
    // junit.xml.
    let (config_path, junit_path) = crate::results::private_nextest_config(&ws.root, artifacts, label)?;

    let mut cmd = tokio::process::Command::from(crate::cargo());
    cmd.current_dir(&ws.root).args(["nextest", "run", "--profile", "ci", "--no-fail-fast", "--config-file"]).arg(&config_path);
    for p in packages {
        cmd.args(["-p", p]);
    }
    crate::results::clear_nextest_env(&mut cmd);
    // Recipe suites have no business with the bot's token.
    cmd.env_remove("GITEA_TOKEN");
    cmd.env("CCCI_RUN_ID", &config.run_id)
        .env("CCCI_RUN_OWNER_PID", config.owner_pid.to_string())
        .env("CCCI_NAME_TAG", name_tag)
        .env("MAX_TESTS", config.max_tests.to_string())
        .env("CCCI_STATE_DIR", &config.state_dir);
    match recipe_repo {
        Some(repo) => cmd.env("CCCI_RECIPE_REPO", repo),
        None => cmd.env_remove("CCCI_RECIPE_REPO"),
    };
    println!(
        "testme: run {}: cargo nextest run --profile ci {} (MAX_TESTS={}, CCCI_NAME_TAG={name_tag}{})",
        config.run_id,
        packages.iter().map(|p| format!("-p {p}")).collect::<Vec<_>>().join(" "),
        config.max_tests,
        recipe_repo.map(|r| format!(", CCCI_RECIPE_REPO={}", r.display())).unwrap_or_default()
    );
    let started = Instant::now();
    let status = cmd.status().await.context("starting cargo nextest")?;
    println!("testme: cargo nextest finished in {:.0}s ({status})", started.elapsed().as_secs_f64());
    let junit = std::fs::read_to_string(&junit_path).ok();
    Ok((status.code(), junit))
}

async fn teardown(config: &RunConfig, success: bool) -> anyhow::Result<()> {
    let run_dir = config.run_dir();
    println!("testme: run {}: {} deployments", config.run_id, harness::ops::deploy_count(&run_dir));
    if config.keep_on_failure && !success {
        println!("testme: run {} failed; kept (CCCI_KEEP). Remove with `cargo xtask janitor --run {} --force`", config.run_id, config.run_id);
        std::fs::write(run_dir.join("kept"), "").ok();
        return Ok(());
    }
    let guard = harness::ops::RunGuard { config: config.clone(), platform: harness::ops::platform(config) };
    println!("testme: {}", guard.finish(success).await?);
    Ok(())
}

#[derive(Serialize)]
struct ResultsJson<'a> {
    schema: u32,
    run_id: &'a str,
    kind: Kind,
    pr: PrJson<'a>,
    started: &'a str,
    duration_secs: f64,
    selection: SelectionJson<'a>,
    runs: &'a [RunnerRun],
    verdict: Verdict,
    recipes: &'a [RecipeResult],
}

#[derive(Serialize)]
struct PrJson<'a> {
    repo: String,
    number: u64,
    title: &'a str,
    url: &'a str,
    head_sha: &'a str,
    base: &'a str,
}

#[derive(Serialize)]
struct SelectionJson<'a> {
    headline: &'a str,
    selected: &'a BTreeMap<String, Vec<String>>,
    unselected: &'a [String],
}

fn write_results(
    artifacts: &Path,
    pr: &PullRequest,
    kind: Kind,
    decision: &Decision,
    info: &RunInfo,
    results: &[RecipeResult],
    runs: &[RunnerRun],
) -> anyhow::Result<()> {
    let json = ResultsJson {
        schema: 1,
        run_id: &info.run_id,
        kind,
        pr: PrJson {
            repo: pr.base.repo.as_ref().map(|r| r.full_name.clone()).unwrap_or_default(),
            number: pr.number,
            title: &pr.title,
            url: &pr.html_url,
            head_sha: &pr.head.sha,
            base: &pr.base.ref_name,
        },
        started: &info.started,
        duration_secs: info.duration_secs,
        selection: SelectionJson { headline: &decision.headline, selected: &decision.selected, unselected: &decision.unselected },
        runs,
        verdict: results.iter().fold(Verdict::Success, |v, r| v.worst(r.verdict)),
        recipes: results,
    };
    let path = artifacts.join("results.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&json)?).with_context(|| format!("writing {}", path.display()))
}

/// Everything said to the PR: one comment, updated in place, and commit statuses.
struct Reporter<'a> {
    gitea: &'a Gitea,
    pr_ref: &'a PrRef,
    head_sha: String,
    bot: User,
    lock_dir: PathBuf,
    lock_timeout: Duration,
    target_url: String,
    header_selection: String,
    /// A full run replaces the comment's sections; a `--only` job keeps the other jobs'.
    replace_all: bool,
}

impl<'a> Reporter<'a> {
    #[allow(clippy::too_many_arguments)]
    fn new(gitea: &'a Gitea, pr_ref: &'a PrRef, pr: &PullRequest, bot: User, lock_dir: PathBuf, config: &RunConfig, headline: String, replace_all: bool) -> Self {
        let target_url = std::env::var("DRONE_BUILD_LINK")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_default();
        Reporter {
            gitea,
            pr_ref,
            head_sha: pr.head.sha.clone(),
            bot,
            lock_dir,
            lock_timeout: config.timeouts.shared,
            target_url,
            header_selection: headline,
            replace_all,
        }
    }

    fn header(&self) -> String {
        format!(
            "### 🧪 `!testme` results for {}\nHead `{}` · selection: {} · updated {}",
            self.pr_ref,
            short(&self.head_sha),
            self.header_selection,
            crate::rfc3339(harness::ops::now_unix())
        )
    }

    fn context(recipe: &str) -> String {
        format!("ccci/{recipe}")
    }

    async fn status(&self, context: &str, state: StatusState, description: &str) -> anyhow::Result<()> {
        let status = NewStatus { state, target_url: self.target_url.clone(), description: description.to_owned(), context: context.to_owned() };
        self.gitea.create_status(&self.pr_ref.owner, &self.pr_ref.repo, &self.head_sha, &status).await?;
        println!("testme: status {context} on {}: {} \"{description}\"", short(&self.head_sha), state.as_str());
        Ok(())
    }

    /// Finds the bot's comment by its marker and edits it, or posts it the first time.
    async fn update_comment(&self, updates: &[(String, String)]) -> anyhow::Result<()> {
        let holder = format!("comment update (pid {})", std::process::id());
        let _lock = pr_lock::acquire(&self.lock_dir.join("comment.lock"), "the PR comment lock", &holder, self.lock_timeout, Duration::from_secs(30)).await?;
        let comments = self.gitea.comments(self.pr_ref).await?;
        let mine = comments.iter().find(|c| c.user.login == self.bot.login && c.body.contains(COMMENT_MARKER));
        let drop: Vec<String> = match (mine, self.replace_all) {
            (Some(c), true) => report::sections(&c.body).into_iter().map(|(k, _)| k).filter(|k| !updates.iter().any(|(u, _)| u == k)).collect(),
            (_, false) => vec![NOTHING_KEY.to_owned()],
            (None, true) => vec![],
        };
        let body = report::compose_comment(mine.map(|c| c.body.as_str()), &self.header(), updates, &drop);
        match mine {
            Some(c) => {
                self.gitea.edit_comment(self.pr_ref, c.id, &body).await?;
                println!("testme: updated comment {} on {}", c.id, self.pr_ref);
            }
            None => {
                let c = self.gitea.create_comment(self.pr_ref, &body).await?;
                println!("testme: posted comment {} on {}", c.id, self.pr_ref);
            }
        }
        Ok(())
    }

    async fn nothing_to_test(&self, decision: &Decision) -> anyhow::Result<()> {
        let mut text = format!("#### ➖ nothing to test\n{}\n", decision.headline);
        for line in &decision.unselected {
            text.push_str(&format!("- {line}\n"));
        }
        self.update_comment(&[(NOTHING_KEY.to_owned(), text)]).await?;
        self.status("ccci/testme", StatusState::Success, &format!("nothing to test: {}", decision.headline)).await
    }

    async fn running(&self, recipes: &[RecipeCrate], info: &RunInfo) -> anyhow::Result<()> {
        for r in recipes {
            self.status(&Self::context(&r.name), StatusState::Pending, &format!("running: run {}", info.run_id)).await?;
        }
        let updates: Vec<(String, String)> = recipes.iter().map(|r| (r.package.clone(), report::running_section(&r.name, info))).collect();
        self.update_comment(&updates).await
    }

    /// Each recipe's section, with its note (the mutants' kill rate) when there is one.
    fn sections(results: &[RecipeResult], info: &RunInfo, notes: &BTreeMap<String, String>) -> Vec<(String, String)> {
        results
            .iter()
            .map(|r| {
                let mut section = report::recipe_section(r, info);
                if let Some(note) = notes.get(&r.package).filter(|n| !n.is_empty()) {
                    section.push_str(&format!("\n\n{note}\n"));
                }
                (r.package.clone(), section)
            })
            .collect()
    }

    fn summary(&self, results: &[RecipeResult], info: &RunInfo, notes: &BTreeMap<String, String>) -> String {
        let updates = Self::sections(results, info, notes);
        report::compose_comment(None, &self.header(), &updates, &[])
    }

    async fn finished(&self, results: &[RecipeResult], info: &RunInfo, notes: &BTreeMap<String, String>) -> anyhow::Result<()> {
        let updates = Self::sections(results, info, notes);
        self.update_comment(&updates).await?;
        for r in results {
            self.status(&Self::context(&r.recipe), r.verdict.state(), &r.description).await?;
        }
        Ok(())
    }
}

/// The comment section of a run that selected nothing.
const NOTHING_KEY: &str = "~nothing";
