//! The workspace as xtask sees it: crates from `cargo metadata`, and for each recipe crate
//! (`recipe-<name>` under `recipes/`) its `recipe.toml`, parsed by the harness's own model so
//! the two never disagree about what a recipe declares.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
// The one place xtask names the harness's recipe model.
pub use harness::ops::Recipe;

/// Loads and validates `<crate_dir>/recipe.toml` with the harness's own model.
pub fn load_recipe(crate_dir: &Path) -> anyhow::Result<Recipe> {
    Ok(Recipe::load(crate_dir)?)
}

/// The workspace root above `dir`: the nearest ancestor whose `Cargo.toml` has `[workspace]`.
pub fn workspace_root_of(dir: &Path) -> Option<PathBuf> {
    let dir = dir.canonicalize().ok()?;
    dir.ancestors()
        .find(|a| std::fs::read_to_string(a.join("Cargo.toml")).is_ok_and(|t| t.lines().any(|l| l.trim() == "[workspace]")))
        .map(Path::to_path_buf)
}

/// The main file of a recipe crate's test binary: the `[[test]]` named like the recipe (else
/// the first one) in its `Cargo.toml`, else the convention `tests/<name>/main.rs`.
pub fn test_main(crate_dir: &Path, name: &str) -> PathBuf {
    let manifest: Option<toml::Table> = std::fs::read_to_string(crate_dir.join("Cargo.toml")).ok().and_then(|t| toml::from_str(&t).ok());
    let tests: Vec<&toml::Value> = manifest.as_ref().and_then(|m| m.get("test")).and_then(|t| t.as_array()).map(|a| a.iter().collect()).unwrap_or_default();
    let chosen = tests.iter().find(|t| t.get("name").and_then(|n| n.as_str()) == Some(name)).or(tests.first());
    match chosen.and_then(|t| t.get("path")).and_then(|p| p.as_str()) {
        Some(path) => crate_dir.join(path),
        None => crate_dir.join("tests").join(name).join("main.rs"),
    }
}

/// The modules a Rust file declares as files: `mod x;` (also `pub mod x;`, `pub(crate) mod x;`).
pub fn declared_modules(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = l.strip_prefix("pub(crate) ").or_else(|| l.strip_prefix("pub ")).unwrap_or(l);
            let name = l.strip_prefix("mod ")?.strip_suffix(';')?.trim();
            name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_').then(|| name.to_owned())
        })
        .collect()
}

/// The files of module `module` of the crate root `main`: `<dir>/<module>.rs` and every `.rs`
/// below `<dir>/<module>/` (which holds `mod.rs` or the submodules).
pub fn module_files(main: &Path, module: &str) -> Vec<PathBuf> {
    fn below(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
        paths.sort();
        for path in paths {
            if path.is_dir() {
                below(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let dir = main.parent().unwrap_or(Path::new("."));
    let mut files = vec![];
    let file = dir.join(format!("{module}.rs"));
    if file.is_file() {
        files.push(file);
    }
    below(&dir.join(module), &mut files);
    files
}

/// The test functions of one Rust file, by name, in file order (an `rstest` with cases is
/// named once).
pub fn test_names(text: &str) -> Vec<String> {
    let mut names = vec![];
    let mut is_test = false;
    for line in text.lines() {
        let l = line.trim_start();
        if l.starts_with("//") {
            continue;
        }
        if l.starts_with("#[test]") || l.starts_with("#[tokio::test") || l.starts_with("#[rstest") {
            is_test = true;
        } else if is_fn_line(l) {
            if is_test {
                let after = l.split_once("fn ").map(|(_, rest)| rest).unwrap_or("");
                let name: String = after.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                names.push(name);
            }
            is_test = false;
        }
    }
    names
}

/// A line that starts a function (`fn`, `async fn`, `pub`/`pub(crate)` too).
pub fn is_fn_line(l: &str) -> bool {
    let l = l.strip_prefix("pub(crate) ").or_else(|| l.strip_prefix("pub ")).unwrap_or(l);
    l.starts_with("fn ") || l.starts_with("async fn ")
}

/// The tests of the test binary rooted at `main`: `module::function` (a test in the root file
/// is its bare name).
pub fn binary_tests(main: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(main) else { return vec![] };
    let mut tests = test_names(&text);
    for module in declared_modules(&text) {
        for file in module_files(main, &module) {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            tests.extend(test_names(&text).into_iter().map(|t| format!("{module}::{t}")));
        }
    }
    tests
}

/// What selection and reporting need to know about one recipe crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipeCrate {
    /// Cargo package, `recipe-<name>`.
    pub package: String,
    /// The crate directory relative to the workspace root, `recipes/<name>`.
    pub dir: String,
    /// The Co-op Cloud recipe name (`recipe.toml` `name`).
    pub name: String,
    /// `testbed/recipes/<fixture>`.
    pub fixture: String,
    pub requires: Vec<String>,
    pub test_requires: Vec<String>,
    pub sso_provider: Option<String>,
    pub backup_capable: bool,
}

impl RecipeCrate {
    pub fn from_recipe(package: &str, dir: &str, recipe: &Recipe) -> RecipeCrate {
        RecipeCrate {
            package: package.to_owned(),
            dir: dir.to_owned(),
            name: recipe.name().to_owned(),
            fixture: recipe.fixture().to_owned(),
            requires: recipe.toml.requires.clone(),
            test_requires: recipe.toml.test_requires.clone(),
            sso_provider: recipe.toml.sso.as_ref().map(|s| s.provider.clone()),
            backup_capable: recipe.toml.backup.capable,
        }
    }
}

/// The workspace's crates: recipe crates with their declarations, and the others by name and
/// directory (harness, xtask).
#[derive(Debug, Clone, Default)]
pub struct Workspace {
    pub root: PathBuf,
    pub recipes: Vec<RecipeCrate>,
    /// Every other crate: (package, directory relative to the root).
    pub others: Vec<(String, String)>,
}

impl Workspace {
    /// Runs `cargo metadata --no-deps` in `dir` and loads every recipe crate's `recipe.toml`.
    pub fn load(dir: &Path) -> anyhow::Result<Workspace> {
        let out = std::process::Command::new(crate::cargo_bin())
            .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
            .current_dir(dir)
            .output()
            .context("running cargo metadata")?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let first = stderr.lines().find(|l| l.contains("error")).unwrap_or(stderr.trim());
            anyhow::bail!("cargo metadata in {} failed: {first}", dir.display());
        }
        let meta: serde_json::Value = serde_json::from_slice(&out.stdout).context("parsing cargo metadata")?;
        let root = PathBuf::from(meta["workspace_root"].as_str().context("cargo metadata has no workspace_root")?);
        let mut ws = Workspace { root: root.clone(), ..Workspace::default() };
        for package in meta["packages"].as_array().into_iter().flatten() {
            let name = package["name"].as_str().unwrap_or_default().to_owned();
            let manifest = PathBuf::from(package["manifest_path"].as_str().unwrap_or_default());
            let crate_dir = manifest.parent().unwrap_or(&root).to_path_buf();
            let rel = crate_dir.strip_prefix(&root).unwrap_or(&crate_dir).to_string_lossy().into_owned();
            if name.starts_with("recipe-") && rel.starts_with("recipes/") {
                let recipe = load_recipe(&crate_dir)?;
                ws.recipes.push(RecipeCrate::from_recipe(&name, &rel, &recipe));
            } else {
                ws.others.push((name, rel));
            }
        }
        ws.recipes.sort_by(|a, b| a.package.cmp(&b.package));
        ws.others.sort();
        Ok(ws)
    }

    /// The recipe crate whose Co-op Cloud recipe is `name`.
    pub fn recipe_named(&self, name: &str) -> Option<&RecipeCrate> {
        self.recipes.iter().find(|r| r.name == name)
    }

    pub fn recipe_package(&self, package: &str) -> Option<&RecipeCrate> {
        self.recipes.iter().find(|r| r.package == package)
    }

    /// Recipe names, for "known recipes are ..." errors.
    pub fn recipe_names(&self) -> String {
        let names: Vec<&str> = self.recipes.iter().map(|r| r.name.as_str()).collect();
        if names.is_empty() { "(none)".into() } else { names.join(", ") }
    }
}
