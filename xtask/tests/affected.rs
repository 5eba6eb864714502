//! `cargo xtask affected --base HEAD~1` in a temporary clone of this repository: after a
//! commit touching only `recipes/custom-html` it names recipe-custom-html with its reason;
//! after one touching `harness/` it names every recipe crate; after a docs-only commit none.

mod support;

use support::{TempDir, git, run, workspace_root, xtask};
use xtask::workspace::Workspace;

/// A clone of this repository's committed state (the workspace as a clean clone has it).
fn clone() -> TempDir {
    let dir = TempDir::new("affected");
    let src = workspace_root();
    git(dir.path(), &["clone", "-q", "--no-hardlinks", src.to_str().unwrap(), "repo"]);
    dir
}

fn commit(repo: &std::path::Path, file: &str, line: &str) {
    let path = repo.join(file);
    let mut text = std::fs::read_to_string(&path).unwrap_or_default();
    text.push_str(line);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    git(repo, &["add", file]);
    git(repo, &["commit", "-q", "-m", &format!("touch {file}")]);
}

#[tokio::test]
async fn each_commit_selects_the_crates_it_affects_with_reasons() {
    let dir = clone();
    let repo = dir.path().join("repo");
    let all: Vec<String> = Workspace::load(&repo).unwrap().recipes.into_iter().map(|r| r.package).collect();
    assert!(all.contains(&"recipe-custom-html".to_string()), "{all:?}");

    commit(&repo, "recipes/custom-html/src/lib.rs", "\n// a change to the custom-html suite\n");
    let out = run(xtask(&repo, &["affected", "--base", "HEAD~1"])).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.starts_with("affected: HEAD~1..HEAD changes 1 file\n"), "{}", out.stdout);
    assert!(out.stdout.contains("  recipe-custom-html: its own crate changed (recipes/custom-html/src/lib.rs)\n"), "{}", out.stdout);
    let named: Vec<&String> = all.iter().filter(|p| out.stdout.contains(&format!("  {p}: "))).collect();
    assert_eq!(named, ["recipe-custom-html"], "only custom-html:\n{}", out.stdout);

    commit(&repo, "harness/src/lib.rs", "\n// a change to the harness\n");
    let out = run(xtask(&repo, &["affected", "--base", "HEAD~1"])).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains(&format!("selection: every recipe crate ({}) from 1 changed file", all.len())), "{}", out.stdout);
    for package in &all {
        let line = format!("  {package}: the harness every suite runs on changed (harness/src/lib.rs)\n");
        assert!(out.stdout.contains(&line), "expected {line:?}:\n{}", out.stdout);
    }

    commit(&repo, "docs/levels.md", "\nmore words\n");
    let out = run(xtask(&repo, &["affected", "--base", "HEAD~1"])).await;
    assert!(out.stdout.contains("selection: no recipe crate: only documentation changed"), "{}", out.stdout);
    assert!(out.stdout.contains("  (nothing) documentation only: docs/levels.md"), "{}", out.stdout);

    // Two commits back: both the harness and the docs change.
    let out = run(xtask(&repo, &["affected", "--base", "HEAD~2"])).await;
    assert!(out.stdout.starts_with("affected: HEAD~2..HEAD changes 2 files\n"), "{}", out.stdout);
    assert!(out.stdout.contains(&format!("every recipe crate ({})", all.len())), "{}", out.stdout);
}

#[tokio::test]
async fn an_unknown_base_is_one_clear_error_line() {
    let dir = clone();
    let out = run(xtask(&dir.path().join("repo"), &["affected", "--base", "no-such-rev"])).await;
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    assert!(out.stderr.starts_with("error: unknown revision \"no-such-rev\" in "), "{out:?}");
}
