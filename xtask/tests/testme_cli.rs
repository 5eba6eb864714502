//! `cargo xtask testme` as a process against the Gitea fake, up to the point where it would
//! deploy: the trigger check, refusals, selection, bad input and the "nothing to test" report.
//! (`testme_e2e.rs` runs a real suite on the testbed.)

mod support;

use rstest::rstest;
use support::{
    TOKEN, Output,
    gitea_fake::{FakeGitea, FakePull},
    git, run, workspace_root, xtask,
};

const HEAD: &str = "2222222222222222222222222222222222222222";

/// A Gitea with the custom-html recipe repository (PR 7), this project's repository (PRs 1..),
/// a bot (admin on both), a maintainer (write) and a passer-by (read).
async fn fake() -> FakeGitea {
    let fake = FakeGitea::start().await;
    fake.add_user("ccci-bot", false, Some(TOKEN));
    fake.add_user("maintainer", false, None);
    fake.add_user("passer-by", false, None);
    for (owner, repo) in [("coop-cloud", "custom-html"), ("coop-cloud", "wordpress"), ("toolshed", "ccci")] {
        fake.add_repo(owner, repo, "/nonexistent.git");
        fake.add_collaborator(owner, repo, "ccci-bot", "admin");
        fake.add_collaborator(owner, repo, "maintainer", "write");
    }
    fake.add_pull("coop-cloud", "custom-html", FakePull::new(7, "contributor", HEAD).with_files(&["compose.yml"]));
    fake.add_pull("coop-cloud", "wordpress", FakePull::new(1, "contributor", HEAD));
    fake
}

fn testme(fake: &FakeGitea, args: &[&str]) -> tokio::process::Command {
    let mut all = vec!["testme"];
    all.extend_from_slice(args);
    let mut cmd = xtask(&workspace_root(), &all);
    cmd.env("GITEA_URL", &fake.url).env("GITEA_TOKEN", TOKEN).env("CCCI_PROJECT_REPO", "toolshed/ccci");
    cmd
}

/// Bad input ends in exactly one `error:` line on stderr and a non-zero exit.
fn assert_one_error_line(out: &Output, expected: &str) {
    assert_ne!(out.code, Some(0), "{out:?}");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stderr: {out:?}");
    assert!(lines[0].starts_with("error: "), "{out:?}");
    assert!(lines[0].contains(expected), "expected {expected:?} in {:?}", lines[0]);
    assert!(!out.all().contains(TOKEN), "the token leaked: {out:?}");
}

#[rstest]
#[case::unknown_repo("coop-cloud/nope#1", &[], "unknown repository coop-cloud/nope on http://127.0.0.1")]
#[case::pr_not_found("coop-cloud/custom-html#404", &[], "PR not found: coop-cloud/custom-html has no pull request #404")]
#[case::not_a_recipe_repo("coop-cloud/wordpress#1", &[], "not a recipe repo: coop-cloud/wordpress has no recipe crate here for recipe \"wordpress\" (known recipes: ")]
#[case::bad_syntax("custom-html 7", &[], "expected `owner/repo#N`")]
#[case::bare_number_without_default("7", &[], "no default repository is configured")]
#[case::other_host("https://github.com/coop-cloud/custom-html/pulls/7", &[], "is not a pull request on http://127.0.0.1")]
#[case::unknown_comment("coop-cloud/custom-html#7", &["--comment-id", "999999"], "comment 999999 not found in coop-cloud/custom-html")]
#[case::unknown_only_package("coop-cloud/custom-html#7", &["--only", "recipe-nope", "--dry-run"], "--only recipe-nope: no such recipe crate")]
#[tokio::test]
async fn bad_input_is_one_clear_error_line(#[case] pr: &str, #[case] extra: &[&str], #[case] expected: &str) {
    let fake = fake().await;
    let mut args = vec![pr];
    args.extend_from_slice(extra);
    let out = run(testme(&fake, &args)).await;
    assert_one_error_line(&out, expected);
    assert!(fake.statuses_on(HEAD).is_empty(), "nothing is reported on bad input");
}

#[tokio::test]
async fn a_refused_token_is_one_clear_error_line_without_the_token() {
    let fake = fake().await;
    let mut cmd = testme(&fake, &["coop-cloud/custom-html#7"]);
    cmd.env("GITEA_TOKEN", "gta_not_the_right_token_0000");
    let out = run(cmd).await;
    assert_one_error_line(&out, "GITEA_TOKEN was refused by http://127.0.0.1");
    assert!(!out.all().contains("gta_not_the_right_token_0000"), "{out:?}");
}

#[tokio::test]
async fn a_missing_token_is_one_clear_error_line() {
    let fake = fake().await;
    let mut cmd = testme(&fake, &["coop-cloud/custom-html#7"]);
    cmd.env_remove("GITEA_TOKEN");
    assert_one_error_line(&run(cmd).await, "GITEA_TOKEN is not set");
}

#[rstest]
#[case::suffix("!testmexyz")]
#[case::with_words("!testme please")]
#[case::mention("can someone !testme this")]
#[tokio::test]
async fn a_comment_that_is_not_exactly_testme_runs_nothing(#[case] body: &str) {
    let fake = fake().await;
    let id = fake.add_comment("coop-cloud", "custom-html", 7, "maintainer", body);
    let out = run(testme(&fake, &["coop-cloud/custom-html#7", "--comment-id", &id.to_string()])).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains(&format!("comment {id} by maintainer is not the `!testme` command; nothing to do")), "{out:?}");
    assert!(!out.stdout.contains("selection:"), "no selection for a non-command: {out:?}");
    assert_eq!(fake.comments_on("coop-cloud", "custom-html", 7).len(), 1, "no reply");
    assert!(fake.statuses_on(HEAD).is_empty());
    assert!(!fake.requests().iter().any(|r| r.contains("/permission")), "permissions are not even asked");
}

#[tokio::test]
async fn someone_without_write_access_gets_one_polite_refusal_and_nothing_runs() {
    let fake = fake().await;
    let id = fake.add_comment("coop-cloud", "custom-html", 7, "passer-by", "!testme");
    for _ in 0..2 {
        let out = run(testme(&fake, &["coop-cloud/custom-html#7", "--comment-id", &id.to_string()])).await;
        assert_eq!(out.code, Some(0), "{out:?}");
        assert!(out.stdout.contains("passer-by has read access to coop-cloud/custom-html: refused"), "{out:?}");
        assert!(!out.stdout.contains("selection:"), "{out:?}");
    }
    let comments = fake.comments_on("coop-cloud", "custom-html", 7);
    let replies: Vec<_> = comments.iter().filter(|c| c.user == "ccci-bot").collect();
    assert_eq!(replies.len(), 1, "one refusal, not one per attempt: {comments:?}");
    assert!(replies[0].body.contains("@passer-by thanks for asking!"), "{}", replies[0].body);
    assert!(replies[0].body.contains("write access to coop-cloud/custom-html"), "{}", replies[0].body);
    assert!(fake.statuses_on(HEAD).is_empty(), "nothing ran");
}

/// With a site-admin bot, access is read as Gitea computes it for the commenter (the
/// repository read with `Sudo`): write access through an organisation team counts, which the
/// collaborator permission endpoint (the fallback for a bot that is not a site admin) reports
/// as `read` in Gitea 1.27.
#[rstest]
#[case::team_member("team-maint", true, "team-maint (write access to coop-cloud/custom-html) accepted")]
#[case::direct_collaborator("maintainer", true, "maintainer (write access to coop-cloud/custom-html) accepted")]
#[case::outsider("passer-by", true, "passer-by has read access to coop-cloud/custom-html: would be refused")]
#[case::team_member_with_a_bot_that_cannot_sudo("team-maint", false, "team-maint has read access to coop-cloud/custom-html: would be refused")]
#[tokio::test]
async fn write_access_through_a_team_counts_when_the_bot_may_sudo(#[case] login: &str, #[case] bot_is_site_admin: bool, #[case] expected: &str) {
    let fake = fake().await;
    fake.add_user("ccci-bot", bot_is_site_admin, Some(TOKEN));
    fake.add_user("team-maint", false, None);
    fake.add_team_writer("coop-cloud", "custom-html", "team-maint");
    let id = fake.add_comment("coop-cloud", "custom-html", 7, login, "!testme");
    let out = run(testme(&fake, &["coop-cloud/custom-html#7", "--comment-id", &id.to_string(), "--dry-run"])).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains(expected), "expected {expected:?}: {out:?}");
    let asked_endpoint = fake.requests().iter().any(|r| r.ends_with(&format!("/collaborators/{login}/permission")));
    assert_eq!(asked_endpoint, !bot_is_site_admin, "the permission endpoint is only the fallback: {:?}", fake.requests());
    assert_eq!(fake.comments_on("coop-cloud", "custom-html", 7).len(), 1, "--dry-run posts nothing, not even a refusal");
    assert!(fake.statuses_on(HEAD).is_empty());
}

#[tokio::test]
async fn a_comment_from_another_pr_is_rejected() {
    let fake = fake().await;
    fake.add_pull("coop-cloud", "custom-html", FakePull::new(8, "contributor", HEAD));
    let id = fake.add_comment("coop-cloud", "custom-html", 8, "maintainer", "!testme");
    let out = run(testme(&fake, &["coop-cloud/custom-html#7", "--comment-id", &id.to_string()])).await;
    assert_one_error_line(&out, &format!("comment {id} is not on coop-cloud/custom-html#7"));
}

#[tokio::test]
async fn a_maintainers_testme_on_a_recipe_pr_selects_its_crate() {
    let fake = fake().await;
    let id = fake.add_comment("coop-cloud", "custom-html", 7, "maintainer", "  !testme\n");
    let url = format!("{}/coop-cloud/custom-html/pulls/7", fake.url);
    let out = run(testme(&fake, &[&url, "--comment-id", &id.to_string(), "--dry-run"])).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("`!testme` by maintainer (write access to coop-cloud/custom-html) accepted"), "{out:?}");
    assert!(out.stdout.contains("selection: recipe-custom-html (recipe PR)"), "{out:?}");
    assert!(out.stdout.contains("  recipe-custom-html: the PR is on coop-cloud/custom-html, the custom-html recipe's repository"), "{out:?}");
    assert!(fake.statuses_on(HEAD).is_empty() && fake.comments_on("coop-cloud", "custom-html", 7).len() == 1, "--dry-run posts nothing");
}

#[tokio::test]
async fn a_job_for_another_recipe_exits_quietly() {
    let fake = fake().await;
    let out = run(testme(&fake, &["coop-cloud/custom-html#7", "--only", "recipe-custom-html", "--dry-run"])).await;
    assert!(out.stdout.contains("recipe-custom-html: the PR is on"), "{out:?}");
    // Every listed recipe crate is in the workspace; restricting a project PR to a recipe it
    // does not need leaves nothing to do, and nothing is posted.
    let head = git(&workspace_root(), &["rev-parse", "HEAD"]);
    fake.add_pull("toolshed", "ccci", FakePull::new(3, "dev", &head).with_files(&["docs/levels.md"]));
    let out = run(testme(&fake, &["toolshed/ccci#3", "--only", "recipe-custom-html"])).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("recipe-custom-html not needed by this PR; nothing to do"), "{out:?}");
    assert!(fake.statuses_on(&head).is_empty());
}

/// `{n}` in a headline stands for the number of recipe crates in the workspace, `{s}` for its plural.
#[rstest]
#[case::docs_only(&["docs/levels.md", "README.md"], "selection: no recipe crate: only documentation changed", &[])]
#[case::recipe_crate(&["recipes/custom-html/tests/custom-html/install.rs"], "selection: 1 of {n} recipe crate{s} from 1 changed file", &["  recipe-custom-html: its own crate changed (recipes/custom-html/tests/custom-html/install.rs)"])]
#[case::harness(&["harness/src/lib.rs", "docs/x.md"], "selection: every recipe crate ({n}) from 2 changed files", &["  recipe-custom-html: the harness every suite runs on changed (harness/src/lib.rs)"])]
#[case::fixture(&["testbed/recipes/custom-html/head/nginx.conf"], "selection: 1 of {n} recipe crate{s} from 1 changed file", &["  recipe-custom-html: its testbed fixture testbed/recipes/custom-html changed"])]
#[tokio::test]
async fn a_project_pr_selects_by_changed_paths(#[case] files: &[&str], #[case] headline: &str, #[case] lines: &[&str]) {
    let recipes = xtask::workspace::Workspace::load(&workspace_root()).unwrap().recipes.len();
    let headline = headline.replace("{n}", &recipes.to_string()).replace("{s}", if recipes == 1 { "" } else { "s" });
    let fake = fake().await;
    fake.add_pull("toolshed", "ccci", FakePull::new(2, "dev", HEAD).with_files(files));
    let out = run(testme(&fake, &["toolshed/ccci#2", "--dry-run"])).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains(&headline), "expected {headline:?}: {out:?}");
    for line in lines {
        assert!(out.stdout.contains(line), "expected {line:?}: {out:?}");
    }
}

#[tokio::test]
async fn a_docs_only_project_pr_reports_nothing_to_test_once() {
    let fake = fake().await;
    let head = git(&workspace_root(), &["rev-parse", "HEAD"]);
    fake.add_pull("toolshed", "ccci", FakePull::new(5, "dev", &head).with_files(&["docs/operating.md"]));
    for _ in 0..2 {
        let out = run(testme(&fake, &["toolshed/ccci#5"])).await;
        assert_eq!(out.code, Some(0), "{out:?}");
        assert!(out.stdout.contains("nothing to test"), "{out:?}");
    }
    let comments = fake.comments_on("toolshed", "ccci", 5);
    assert_eq!(comments.len(), 1, "one comment, edited: {comments:?}");
    assert_eq!(comments[0].edits, 1);
    assert!(comments[0].body.starts_with("<!-- ccci:testme -->"), "{}", comments[0].body);
    assert!(comments[0].body.contains("nothing to test"), "{}", comments[0].body);
    let statuses = fake.statuses_on(&head);
    assert_eq!(statuses.len(), 2);
    assert!(statuses.iter().all(|s| s.state == "success" && s.context == "ccci/testme"), "{statuses:?}");
    assert_eq!(statuses[0].description, "nothing to test: no recipe crate: only documentation changed");
}

#[tokio::test]
async fn a_project_pr_is_not_tested_from_another_checkout() {
    let fake = fake().await;
    fake.add_pull("toolshed", "ccci", FakePull::new(6, "dev", HEAD).with_files(&["harness/src/lib.rs"]));
    let out = run(testme(&fake, &["toolshed/ccci#6"])).await;
    assert_one_error_line(&out, "but the PR head is 2222222: check out the PR head first");
    assert!(fake.statuses_on(HEAD).is_empty());
}
