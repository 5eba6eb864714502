//! `cargo xtask matrix [--check]` and `cargo xtask lint <dir>` as processes.

mod support;

use support::{TempDir, git, run, workspace_root, xtask};

#[tokio::test]
async fn the_committed_drone_yml_is_current() {
    let out = run(xtask(&workspace_root(), &["matrix", "--check"])).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains(".drone.yml is up to date"), "{out:?}");
}

#[tokio::test]
async fn a_stale_drone_yml_fails_the_check_until_regenerated() {
    let dir = TempDir::new("matrix");
    git(dir.path(), &["clone", "-q", workspace_root().to_str().unwrap(), "repo"]);
    let repo = dir.path().join("repo");
    assert_eq!(run(xtask(&repo, &["matrix"])).await.code, Some(0));
    let drone = repo.join(".drone.yml");
    let mut text = std::fs::read_to_string(&drone).unwrap();
    text.push_str("\n---\nkind: pipeline\ntype: exec\nname: recipe-gone\n");
    std::fs::write(&drone, &text).unwrap();

    let out = run(xtask(&repo, &["matrix", "--check"])).await;
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    assert!(out.stderr.contains(".drone.yml is stale (missing pipelines: [], extra pipelines: [recipe-gone])"), "{out:?}");
    assert_eq!(std::fs::read_to_string(&drone).unwrap(), text, "--check writes nothing");

    assert_eq!(run(xtask(&repo, &["matrix"])).await.code, Some(0));
    assert_eq!(run(xtask(&repo, &["matrix", "--check"])).await.code, Some(0));
}

#[tokio::test]
async fn the_custom_html_fixture_head_lints_clean() {
    let out = run(xtask(&workspace_root(), &["lint", "testbed/recipes/custom-html/head"])).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout.lines().filter(|l| l.starts_with("  pass  ")).count(), 9, "{}", out.stdout);
    assert!(out.stdout.contains("backupbot.backup="), "recipe.toml's [backup] capable was found: {}", out.stdout);
}

#[tokio::test]
async fn a_recipe_breaking_conventions_fails_lint_naming_each_check() {
    let dir = TempDir::new("lint");
    std::fs::write(
        dir.path().join("compose.yml"),
        "version: \"3.7\"\nservices:\n  web:\n    image: nginx:latest\n    deploy:\n      labels: [\"traefik.enable=true\"]\n",
    )
    .unwrap();
    std::fs::write(dir.path().join(".env.sample"), "TYPE=custom-html\n").unwrap();
    let out = run(xtask(&workspace_root(), &["lint", dir.path().to_str().unwrap()])).await;
    assert_eq!(out.code, Some(1), "{out:?}");
    for id in ["compose-version", "app-service", "healthchecks", "image-tags", "env-sample", "version-label", "backupbot"] {
        assert!(out.stdout.contains(&format!("  FAIL  {id}")), "{id} should fail:\n{}", out.stdout);
    }
    // No `app` is app-service's failure, reported once: traefik-enable says so and skips.
    assert!(out.stdout.contains("  skip  traefik-enable   not checked: no `app` service to route (see app-service)"), "{}", out.stdout);
    assert!(out.stdout.contains("lint: 7 of 9 checks failed"), "{}", out.stdout);
}

#[tokio::test]
async fn lint_of_an_unknown_recipe_is_one_clear_error_line() {
    let out = run(xtask(&workspace_root(), &["lint", "testbed/recipes/custom-html/head", "--recipe", "nope"])).await;
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    assert!(out.stderr.starts_with("error: no recipe crate for \"nope\""), "{out:?}");
}

#[tokio::test]
async fn testing_an_unknown_recipe_is_one_clear_error_line_and_deploys_nothing() {
    let out = run(xtask(&workspace_root(), &["test", "no-such-recipe"])).await;
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    assert!(out.stderr.starts_with("error: no recipe suite named \"no-such-recipe\": known recipes are "), "{out:?}");
    assert!(out.stderr.contains("custom-html"), "the error lists the known recipes: {out:?}");
    // It fails before any run starts, so no run directory names it.
    assert!(!out.stdout.contains("run "), "a run was started: {out:?}");
}

#[tokio::test]
async fn the_janitor_refuses_a_run_id_that_is_a_path() {
    let out = run(xtask(&workspace_root(), &["janitor", "--run", "../x"])).await;
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    assert!(out.stderr.contains("\"../x\"") && out.stderr.contains("[a-z0-9-]"), "{out:?}");
    assert!(!out.stdout.contains("nothing to remove"), "{out:?}");
}

#[tokio::test]
async fn testme_names_a_malformed_pull_request_before_a_missing_gitea_url() {
    let mut cmd = xtask(&workspace_root(), &["testme", "not-a-pr"]);
    cmd.env_remove("GITEA_URL").env_remove("GITEA_TOKEN");
    let out = run(cmd).await;
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("\"not-a-pr\"") && !out.stderr.contains("GITEA_URL"), "{out:?}");
}

/// A syntax error in a recipe.toml (`[backup` for `[backup]`) stops `xtask test` before
/// anything is built or deployed, in one line naming file, line, column and key.
#[tokio::test]
async fn a_broken_recipe_toml_is_one_line_naming_file_line_and_key() {
    let scratch = std::env::temp_dir().join(format!("ccci-broken-toml-{}", std::process::id()));
    let crate_dir = scratch.join("recipes").join("custom-html");
    std::fs::create_dir_all(&crate_dir).unwrap();
    let good = std::fs::read_to_string(workspace_root().join("recipes/custom-html/recipe.toml")).unwrap();
    std::fs::write(crate_dir.join("recipe.toml"), good.replace("[backup]", "[backup")).unwrap();
    let mut cmd = xtask(&workspace_root(), &["test", "custom-html"]);
    cmd.env("CCCI_WORKSPACE", &scratch);
    let out = run(cmd).await;
    let _ = std::fs::remove_dir_all(&scratch);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    let line = out.stderr.trim();
    assert!(line.contains("recipes/custom-html/recipe.toml:") && line.contains(": backup: "), "{line}");
    assert!(!out.stdout.contains("run "), "a run was started: {out:?}");
}

/// `mutants --list` reads the catalogue against the fixture without deploying anything: what
/// applies, and for the rest the reason.
#[tokio::test]
async fn mutants_list_says_which_apply_to_custom_html_and_why_the_others_do_not() {
    let out = run(xtask(&workspace_root(), &["mutants", "custom-html", "--list", "--no-testbed"])).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    for id in ["head-image-repinned", "version-label-not-bumped", "backup-labels-removed", "backup-path-wrong", "volume-dropped", "healthcheck-never-passes", "fallback-page"] {
        assert!(out.stdout.lines().any(|l| l.starts_with(id) && l.contains("applies")), "{id} should apply:\n{}", out.stdout);
    }
    assert!(out.stdout.lines().any(|l| l.starts_with("secret-not-mounted") && l.contains("n/a: no service mounts a secret")), "{}", out.stdout);
    assert!(out.stdout.lines().any(|l| l.starts_with("oidc-secret-dropped") && l.contains("n/a: recipe.toml has no [sso] section")), "{}", out.stdout);
}

#[tokio::test]
async fn mutants_of_an_unknown_mutant_name_the_catalogue_in_one_line() {
    let out = run(xtask(&workspace_root(), &["mutants", "custom-html", "--only", "no-such-mutant", "--no-testbed"])).await;
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    assert!(out.stderr.contains("no mutant \"no-such-mutant\": the catalogue has head-image-repinned,"), "{out:?}");
}
