//! The workspace as xtask sees it: crates from `cargo metadata`, and for each recipe crate
//! (`recipe-<name>` under `recipes/`) its `recipe.toml`, parsed by the harness's own model so
//! the two never disagree about what a recipe declares.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use harness::ops::Recipe;

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
                let recipe = Recipe::load(&crate_dir)?;
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
