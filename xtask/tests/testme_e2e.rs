//! `cargo xtask testme` end to end: a `!testme` on a custom-html recipe PR, served by the
//! Gitea fake, deploys the PR head onto the testbed, runs the real custom-html suite under
//! `cargo nextest run --profile ci`, and reports back. Two `!testme` runs start at once on the
//! same PR: the second waits for the first (per-PR lock), both report into the same comment
//! (created once, then edited), each sets a commit status carrying the level, each writes
//! results.json and the JUnit report, and nothing of either run is left on the Swarm.
//!
//! Needs the testbed (`cargo xtask testbed up`; the test brings it up itself if it can) and
//! takes about a minute: two real suite runs, one after the other.
//!
//! Nested cargo: the xtask binary runs `cargo nextest run` while this test runs under
//! `cargo test` or `cargo nextest run`. Cargo holds its build lock only while compiling, not
//! while tests run, so the nested build goes ahead (it may print "Blocking waiting for file
//! lock" while another build finishes); this test is the proof that it does not deadlock.

mod support;

use std::path::{Path, PathBuf};

use support::{
    TOKEN, TempDir,
    gitea_fake::{FakeGitea, FakePull},
    after, docker_lines, git, recipe_repository, run, workspace_root, xtask,
};

#[tokio::test(flavor = "multi_thread")]
async fn two_testme_runs_on_one_pr_queue_and_share_one_edited_comment() {
    // The PR's repository as Gitea stores it: the custom-html fixture's releases as commits
    // with annotated tags on `main`, the fixture's head as the PR branch, at refs/pull/7/head.
    let server = TempDir::new("gitea-repos");
    let bare = server.path().join("custom-html.git");
    let head = recipe_repository(&workspace_root().join("testbed/recipes/custom-html"), &bare, 7);
    let sha7 = &head[..7];

    let owner = format!("e2e{}", std::process::id());
    let fake = FakeGitea::start().await;
    fake.add_user("ccci-bot", false, Some(TOKEN));
    fake.add_user("maintainer", false, None);
    fake.add_repo(&owner, "custom-html", bare.to_str().unwrap());
    fake.add_collaborator(&owner, "custom-html", "ccci-bot", "admin");
    fake.add_collaborator(&owner, "custom-html", "maintainer", "write");
    let mut pull = FakePull::new(7, "contributor", &head).with_files(&["compose.yml", "abra.sh", "nginx.conf"]);
    pull.base_sha = git(&bare, &["rev-parse", "main"]);
    fake.add_pull(&owner, "custom-html", pull);
    let comment = fake.add_comment(&owner, "custom-html", 7, "maintainer", "!testme").to_string();

    let pr = format!("{owner}/custom-html#7");
    let start = || {
        let mut cmd = xtask(&workspace_root(), &["testme", &pr, "--comment-id", &comment]);
        cmd.env("GITEA_URL", &fake.url).env("GITEA_TOKEN", TOKEN);
        run(cmd)
    };
    let (a, b) = tokio::join!(start(), start());
    eprintln!("--- testme A ---\n{}\n--- testme B ---\n{}", a.all(), b.all());
    for out in [&a, &b] {
        assert_eq!(out.code, Some(0), "testme failed:\n{}", out.all());
        assert!(!out.all().contains(TOKEN), "the token leaked");
    }

    // Exactly one of them waited for the other's lock, and said whom it waited for.
    let waited: Vec<_> = [&a, &b].into_iter().filter(|o| o.stdout.contains("testme: waiting for the lock of")).collect();
    assert_eq!(waited.len(), 1, "one run waits:\nA:\n{}\nB:\n{}", a.stdout, b.stdout);
    let (first, second) = if waited[0].stdout == a.stdout { (&b, &a) } else { (&a, &b) };
    let run_of = |o: &support::Output| after(&o.stdout, "testme: run ").and_then(|r| r.split_whitespace().next()).map(str::to_owned).expect("run id line");
    let (run1, run2) = (run_of(first), run_of(second));
    assert!(second.stdout.contains(&format!("held by run {run1} (pid ")), "the waiter names the holder:\n{}", second.stdout);
    assert!(run1.starts_with(&format!("pr7-{sha7}-")) && run2.starts_with(&format!("pr7-{sha7}-")) && run1 != run2);

    // One comment by the bot, created once and edited by every later update.
    let comments = fake.comments_on(&owner, "custom-html", 7);
    let bot: Vec<_> = comments.iter().filter(|c| c.user == "ccci-bot").collect();
    assert_eq!(bot.len(), 1, "one bot comment: {comments:#?}");
    assert_eq!(bot[0].edits, 3, "run 1: post running, edit results; run 2: edit running, edit results");
    let body = &bot[0].body;
    assert!(body.starts_with("<!-- ccci:testme -->"), "{body}");
    assert!(body.contains(&format!("run `{run2}`")) && !body.contains(&format!("run `{run1}`")), "the comment shows the latest run:\n{body}");
    assert!(!body.contains("⏳"), "no run is shown as still running:\n{body}");
    assert!(body.contains("#### ✅ custom-html: L5 lint"), "the comment carries the level:\n{body}");

    // Per run: pending, then the result; the description carries the level.
    let statuses = fake.statuses_on(&head);
    let states: Vec<(&str, &str)> = statuses.iter().map(|s| (s.context.as_str(), s.state.as_str())).collect();
    assert_eq!(
        states,
        [("ccci/custom-html", "pending"), ("ccci/custom-html", "success"), ("ccci/custom-html", "pending"), ("ccci/custom-html", "success")]
    );
    assert_eq!(statuses[0].description, format!("running: run {run1}"));

    for (out, run_id, status) in [(first, &run1, &statuses[1]), (second, &run2, &statuses[3])] {
        let artifacts = PathBuf::from(after(&out.stdout, &format!("testme: run {run_id} (artifacts: ")).unwrap().trim_end_matches(')'));
        check_artifacts(&artifacts, run_id, &head, &status.description);
        // The PR head was checked out into the run directory and was what got deployed.
        let run_dir = artifacts.parent().unwrap();
        assert_eq!(git(&run_dir.join("checkout/custom-html"), &["rev-parse", "HEAD"]), head);
        let resources = std::fs::read_to_string(run_dir.join("resources.jsonl")).unwrap();
        assert!(resources.contains(&format!("pr7-{sha7}")), "deployments are named for the PR: {resources}");
        // Nothing of the run is left on the Swarm.
        let label = format!("label=ccci.run={run_id}");
        assert_eq!(docker_lines(&["service", "ls", "-q", "--filter", &label]), Vec::<String>::new());
        assert_eq!(docker_lines(&["volume", "ls", "-q", "--filter", &label]), Vec::<String>::new());
    }
    let services = docker_lines(&["service", "ls", "--format", "{{.Name}}"]);
    assert!(services.iter().all(|s| !s.contains(&format!("pr7-{sha7}"))), "services of the PR remain: {services:?}");
}

/// results.json, summary.md, junit.xml and the lint report of one run agree with each other
/// and with the commit status.
fn check_artifacts(artifacts: &Path, run_id: &str, head: &str, status_description: &str) {
    let results: serde_json::Value = serde_json::from_slice(&std::fs::read(artifacts.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["run_id"], run_id);
    assert_eq!(results["pr"]["head_sha"], head);
    assert_eq!(results["runs"][0]["pr_head"], true, "the recipe ran from the PR head checkout");
    let recipe = &results["recipes"][0];
    assert_eq!(recipe["recipe"], "custom-html");
    assert_eq!(recipe["description"], status_description, "the status carries the results' level");
    // The testbed runs custom-html green: every rung up to lint.
    assert_eq!((recipe["level"].as_u64(), recipe["verdict"].as_str()), (Some(5), Some("success")), "{recipe:#}");
    assert!(status_description.starts_with("L5 lint: "), "{status_description}");

    let junit = std::fs::read_to_string(artifacts.join("junit.xml")).unwrap();
    let cases = xtask::junit::parse(&junit).unwrap();
    let tests = recipe["tests"].as_array().unwrap();
    assert_eq!(tests.len(), cases.len());
    assert!(cases.len() >= 8, "the whole custom-html suite ran: {} cases", cases.len());
    for module in ["install::", "upgrade::", "backup::", "functional::"] {
        assert!(cases.iter().any(|c| c.name.starts_with(module)), "no {module} test in the JUnit");
    }
    assert_eq!(recipe["counts"]["passed"].as_u64(), Some(cases.len() as u64));
    assert_eq!(status_description, format!("L5 lint: {} passed", cases.len()));

    let summary = std::fs::read_to_string(artifacts.join("summary.md")).unwrap();
    assert!(summary.contains("#### ✅ custom-html: L5 lint"), "{summary}");
    let lint = std::fs::read_to_string(artifacts.join("lint-custom-html.txt")).unwrap();
    assert!(lint.contains("lint: 0 of 9 checks failed"), "{lint}");
}

/// A run that cannot test the recipe (here: the PR head cannot be fetched) reports `error`,
/// never `failure` or `success`, and says why on the PR.
#[tokio::test(flavor = "multi_thread")]
async fn a_run_that_cannot_test_reports_error_not_failure() {
    let owner = format!("e2e-broken{}", std::process::id());
    let head = "3333333333333333333333333333333333333333";
    let fake = FakeGitea::start().await;
    fake.add_user("ccci-bot", false, Some(TOKEN));
    fake.add_repo(&owner, "custom-html", "/nonexistent/custom-html.git");
    fake.add_collaborator(&owner, "custom-html", "ccci-bot", "admin");
    fake.add_pull(&owner, "custom-html", FakePull::new(3, "contributor", head));
    let pr = format!("{owner}/custom-html#3");
    let mut cmd = xtask(&workspace_root(), &["testme", &pr, "--no-testbed"]);
    cmd.env("GITEA_URL", &fake.url).env("GITEA_TOKEN", TOKEN);
    let out = run(cmd).await;
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert!(!out.all().contains(TOKEN));

    let statuses = fake.statuses_on(head);
    let states: Vec<&str> = statuses.iter().map(|s| s.state.as_str()).collect();
    assert_eq!(states, ["pending", "error"], "{statuses:#?}");
    assert_eq!(statuses[1].description, "L0 not healthy: no tests ran; install unverified");
    let comments = fake.comments_on(&owner, "custom-html", 3);
    assert_eq!(comments.len(), 1);
    let body = &comments[0].body;
    assert!(body.contains("#### ⚠️ custom-html: L0 not healthy"), "{body}");
    assert!(body.contains("[unverified] the run could not complete"), "{body}");
    assert!(body.contains("/nonexistent/custom-html.git"), "the reason names what failed: {body}");

    let artifacts = PathBuf::from(after(&out.stdout, "testme: run ").and_then(|r| r.split_once("(artifacts: ")).unwrap().1.trim_end_matches(')'));
    let results: serde_json::Value = serde_json::from_slice(&std::fs::read(artifacts.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["verdict"], "error");
    assert_eq!(results["recipes"][0]["verdict"], "error");
    assert_eq!(results["recipes"][0]["level"], 0);
}

/// `testme --mutants` on a recipe PR: after the suite, the recipe's mutants run against the
/// PR head checkout, the comment cites the kill rate, and the record is in the artifacts.
/// About two minutes: one suite run, then each mutant's stages.
#[tokio::test(flavor = "multi_thread")]
async fn testme_with_mutants_cites_the_kill_rate_of_the_pr_head() {
    let server = TempDir::new("gitea-repos-mutants");
    let bare = server.path().join("custom-html.git");
    let head = recipe_repository(&workspace_root().join("testbed/recipes/custom-html"), &bare, 9);
    let owner = format!("e2e-mutants{}", std::process::id());
    let fake = FakeGitea::start().await;
    fake.add_user("ccci-bot", false, Some(TOKEN));
    fake.add_repo(&owner, "custom-html", bare.to_str().unwrap());
    fake.add_collaborator(&owner, "custom-html", "ccci-bot", "admin");
    let mut pull = FakePull::new(9, "contributor", &head).with_files(&["compose.yml"]);
    pull.base_sha = git(&bare, &["rev-parse", "main"]);
    fake.add_pull(&owner, "custom-html", pull);

    let mut cmd = xtask(&workspace_root(), &["testme", &format!("{owner}/custom-html#9"), "--mutants"]);
    cmd.env("GITEA_URL", &fake.url).env("GITEA_TOKEN", TOKEN);
    let out = run(cmd).await;
    eprintln!("{}", out.all());
    assert_eq!(out.code, Some(0), "testme --mutants failed:\n{}", out.all());
    assert!(out.stdout.contains("testme: running the mutants of custom-html against the PR head"), "{}", out.stdout);

    let artifacts = PathBuf::from(out.stdout.lines().find_map(|l| l.split_once("(artifacts: ").map(|x| x.1.trim_end_matches(')').to_owned())).expect("artifacts line"));
    let record: serde_json::Value = serde_json::from_slice(&std::fs::read(artifacts.join("mutants-custom-html.json")).unwrap()).unwrap();
    let (killed, applicable) = (record["killed"].as_u64().unwrap(), record["applicable"].as_u64().unwrap());
    assert!(applicable >= 6, "the generic catalogue and fallback-page apply to custom-html: {record:#}");
    assert_eq!(killed, applicable, "every applicable mutant of the PR head is killed: {record:#}");
    for m in record["mutants"].as_array().unwrap().iter().filter(|m| m["verdict"] == "killed") {
        assert!(!m["by"].as_array().unwrap().is_empty(), "a kill names its test: {m:#}");
    }
    let comments = fake.comments_on(&owner, "custom-html", 9);
    let bot = comments.iter().find(|c| c.user == "ccci-bot").expect("a bot comment");
    assert!(bot.body.contains(&format!("Mutants: {killed} of {applicable} applicable killed")), "the comment cites the kill rate:\n{}", bot.body);
}
