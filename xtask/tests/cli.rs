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
    assert_eq!(out.stdout.lines().filter(|l| l.starts_with("  pass  ")).count(), 8, "{}", out.stdout);
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
    for id in ["compose-version", "app-service", "healthchecks", "image-tags", "env-sample", "traefik-enable", "version-label", "backupbot"] {
        assert!(out.stdout.contains(&format!("  FAIL  {id}")), "{id} should fail:\n{}", out.stdout);
    }
    assert!(out.stdout.contains("lint: 8 of 8 checks failed"), "{}", out.stdout);
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
