//! `cargo xtask new-recipe <name>`: the scaffold's files, its names substituted, that it passes
//! lint and names no image the testbed would try to build, and that a taken or invalid name is
//! refused with one line and nothing written. The scaffolded crate is not compiled here (too
//! slow for a unit of this suite; `cargo build -p recipe-<name> --tests` does that).

mod support;

use std::path::{Path, PathBuf};

use support::{TempDir, git, run, workspace_root, xtask};
use xtask::{lint, new_recipe};

const FILES: [&str; 12] = [
    "recipes/demo-probe/Cargo.toml",
    "recipes/demo-probe/recipe.toml",
    "recipes/demo-probe/PARITY.md",
    "recipes/demo-probe/src/lib.rs",
    "recipes/demo-probe/tests/demo-probe/main.rs",
    "recipes/demo-probe/tests/demo-probe/install.rs",
    "recipes/demo-probe/tests/demo-probe/functional.rs",
    "recipes/demo-probe/tests/demo-probe/backup.rs",
    "recipes/demo-probe/tests/demo-probe/upgrade.rs",
    "testbed/recipes/demo-probe/README.md",
    "testbed/recipes/demo-probe/head/compose.yml",
    "testbed/recipes/demo-probe/head/.env.sample",
];

/// A directory that looks like the workspace root to lint (a `[workspace]` manifest).
fn scratch_root(tag: &str) -> TempDir {
    let dir = TempDir::new(tag);
    std::fs::write(dir.path().join("Cargo.toml"), "[workspace]\nmembers = [\"recipes/*\"]\n").unwrap();
    dir
}

fn read(root: &Path, path: &str) -> String {
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every file below `dir`, relative to it, sorted.
fn listing(dir: &Path) -> Vec<PathBuf> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                out.push(path.strip_prefix(base).unwrap().to_path_buf());
            }
        }
    }
    let mut out = vec![];
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn the_scaffold_writes_the_crate_and_fixture_with_the_name_substituted() {
    let dir = scratch_root("scaffold");
    let root = dir.path();
    let done = new_recipe::scaffold(root, "demo-probe").unwrap();
    assert_eq!(done.written, FILES);
    assert!(!done.kept_fixture);
    for file in FILES {
        let text = read(root, file);
        assert!(!text.contains("{name}") && !text.contains("{crate}"), "{file} keeps a placeholder");
    }
    let manifest = read(root, "recipes/demo-probe/Cargo.toml");
    assert!(manifest.contains("name = \"recipe-demo-probe\""), "{manifest}");
    assert!(manifest.contains("[[test]]\nname = \"demo-probe\"\npath = \"tests/demo-probe/main.rs\""), "{manifest}");
    assert!(manifest.contains("[lints]\nworkspace = true"), "{manifest}");
    assert!(read(root, "recipes/demo-probe/tests/demo-probe/upgrade.rs").contains("use recipe_demo_probe::Marker;"));
    assert!(read(root, "testbed/recipes/demo-probe/head/.env.sample").starts_with("TYPE=demo-probe\n"));
    // The recipe.toml parses with the harness's own model, [ready] and [sso] commented out.
    let recipe = xtask::workspace::load_recipe(&root.join("recipes/demo-probe")).unwrap();
    assert_eq!((recipe.name(), recipe.fixture(), recipe.toml.backup.capable), ("demo-probe", "demo-probe", true));
    let toml = read(root, "recipes/demo-probe/recipe.toml");
    assert!(toml.contains("# [ready]\n# http = ") && toml.contains("# [sso]\n# provider = \"keycloak\""), "{toml}");
}

#[test]
fn the_scaffold_passes_lint_and_names_no_image_the_testbed_would_build() {
    let dir = scratch_root("scaffold-lint");
    let root = dir.path();
    new_recipe::scaffold(root, "demo-probe").unwrap();
    let report = lint::lint_crate(&root.join("recipes/demo-probe"));
    assert!(report.passed(), "{}", report.table());
    assert!(report.checks.iter().any(|c| c.id == "image-tags"), "the fixture head was linted: {}", report.table());
    // `testbed up` builds every ccci-testbed/ image a fixture names; the skeleton names none.
    let mut config = harness::ops::RunConfig::from_env().unwrap();
    config.workspace_root = root.to_path_buf();
    assert_eq!(harness::ops::referenced_images(&config, &harness::ops::Fixtures::All).unwrap(), []);
    assert!(read(root, "testbed/recipes/demo-probe/head/compose.yml").contains("image: ccci-scaffold/demo-probe:0.1.0"));
}

#[test]
fn a_taken_or_invalid_name_is_refused_and_nothing_is_written() {
    let dir = scratch_root("scaffold-twice");
    let root = dir.path();
    new_recipe::scaffold(root, "demo-probe").unwrap();
    std::fs::write(root.join("recipes/demo-probe/src/lib.rs"), "//! edited by hand\n").unwrap();
    let before = listing(root);
    let err = new_recipe::scaffold(root, "demo-probe").unwrap_err().to_string();
    assert_eq!(err, "recipes/demo-probe exists already: pick another name or edit that crate");
    for bad in ["Demo", "demo_probe", "../escape", ""] {
        let err = new_recipe::scaffold(root, bad).unwrap_err().to_string();
        assert!(err.ends_with("is not a recipe name: use lowercase letters, digits and hyphens ([a-z0-9-]+)"), "{bad:?}: {err}");
    }
    assert_eq!(listing(root), before);
    assert_eq!(read(root, "recipes/demo-probe/src/lib.rs"), "//! edited by hand\n");
}

#[test]
fn an_existing_fixture_is_kept_as_it_is() {
    let dir = scratch_root("scaffold-fixture");
    let root = dir.path();
    std::fs::create_dir_all(root.join("testbed/recipes/demo-probe/head")).unwrap();
    std::fs::write(root.join("testbed/recipes/demo-probe/head/compose.yml"), "# the real one\n").unwrap();
    let done = new_recipe::scaffold(root, "demo-probe").unwrap();
    assert!(done.kept_fixture);
    assert_eq!(done.written, FILES[..9]);
    assert_eq!(read(root, "testbed/recipes/demo-probe/head/compose.yml"), "# the real one\n");
}

/// The command in a clone of this workspace: files, `.drone.yml` regenerated, lint clean; a
/// second run is one error line.
#[tokio::test]
async fn new_recipe_in_a_clone_regenerates_the_matrix_and_lints_clean() {
    let dir = TempDir::new("new-recipe");
    git(dir.path(), &["clone", "-q", workspace_root().to_str().unwrap(), "repo"]);
    let repo = dir.path().join("repo");

    let out = run(xtask(&repo, &["new-recipe", "demo-probe"])).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    for file in FILES {
        assert!(out.stdout.contains(&format!("new-recipe: wrote {file}\n")), "{file}: {}", out.stdout);
    }
    assert!(out.stdout.contains("next: cargo build -p recipe-demo-probe --tests"), "{}", out.stdout);
    assert!(read(&repo, ".drone.yml").contains("cargo xtask testme \"$${CCCI_PR}\" --only recipe-demo-probe"));
    let check = run(xtask(&repo, &["matrix", "--check"])).await;
    assert_eq!(check.code, Some(0), "{check:?}");

    let lint = run(xtask(&repo, &["lint", "recipes/demo-probe"])).await;
    assert_eq!(lint.code, Some(0), "{lint:?}");
    assert!(lint.stdout.contains("lint: 0 of 12 checks failed"), "{}", lint.stdout);

    let status_before = git(&repo, &["status", "--porcelain", "--untracked-files=all"]);
    let again = run(xtask(&repo, &["new-recipe", "demo-probe"])).await;
    assert_eq!(again.code, Some(1), "{again:?}");
    assert_eq!(again.stderr.lines().count(), 1, "{again:?}");
    assert!(again.stderr.starts_with("error: a recipe crate for \"demo-probe\" exists already (recipes/demo-probe, package recipe-demo-probe)"), "{again:?}");
    let bad = run(xtask(&repo, &["new-recipe", "Demo_Probe"])).await;
    assert_eq!(bad.code, Some(1), "{bad:?}");
    assert_eq!(bad.stderr.lines().count(), 1, "{bad:?}");
    assert_eq!(git(&repo, &["status", "--porcelain", "--untracked-files=all"]), status_before, "a refused scaffold wrote something");
}
