//! `cargo xtask new-recipe <name>`: scaffolds a recipe suite, so that enrolling a recipe needs
//! no edit of the harness.
//!
//! It writes the crate `recipes/<name>` (package `recipe-<name>`: Cargo.toml, recipe.toml,
//! PARITY.md, `src/lib.rs` with a `Marker` data probe, and a test binary with the install,
//! functional, backup and upgrade modules on the contract API) and a testbed fixture skeleton
//! `testbed/recipes/<name>/` (README.md, `head/compose.yml`, `head/.env.sample`), then
//! regenerates `.drone.yml` (the workspace's `recipes/*` glob already takes the crate in).
//!
//! Every scaffolded test fails with one line, "not written yet: <what to write>"
//! (`harness::unwritten!`), so a scaffold never passes empty; it does pass `cargo xtask lint`,
//! which is static. The templates are `xtask/templates/new-recipe/**/*.tmpl`, where `{name}`
//! is the recipe name and `{crate}` the library crate's name (`recipe_<name>` with `_`).
//! The fixture image is `ccci-scaffold/<name>`, never `ccci-testbed/...`: the testbed builds
//! every `ccci-testbed/` image a fixture names and would fail on one without a Dockerfile.

use std::path::Path;

use crate::{matrix, workspace::Workspace};

/// (path below the workspace root, template). Paths use the same placeholders as templates.
const CRATE: &[(&str, &str)] = &[
    ("recipes/{name}/Cargo.toml", include_str!("../templates/new-recipe/crate/Cargo.toml.tmpl")),
    ("recipes/{name}/recipe.toml", include_str!("../templates/new-recipe/crate/recipe.toml.tmpl")),
    ("recipes/{name}/PARITY.md", include_str!("../templates/new-recipe/crate/PARITY.md.tmpl")),
    ("recipes/{name}/src/lib.rs", include_str!("../templates/new-recipe/crate/src/lib.rs.tmpl")),
    ("recipes/{name}/tests/{name}/main.rs", include_str!("../templates/new-recipe/crate/tests/main.rs.tmpl")),
    ("recipes/{name}/tests/{name}/install.rs", include_str!("../templates/new-recipe/crate/tests/install.rs.tmpl")),
    ("recipes/{name}/tests/{name}/functional.rs", include_str!("../templates/new-recipe/crate/tests/functional.rs.tmpl")),
    ("recipes/{name}/tests/{name}/backup.rs", include_str!("../templates/new-recipe/crate/tests/backup.rs.tmpl")),
    ("recipes/{name}/tests/{name}/upgrade.rs", include_str!("../templates/new-recipe/crate/tests/upgrade.rs.tmpl")),
];

const FIXTURE: &[(&str, &str)] = &[
    ("testbed/recipes/{name}/README.md", include_str!("../templates/new-recipe/fixture/README.md.tmpl")),
    ("testbed/recipes/{name}/head/compose.yml", include_str!("../templates/new-recipe/fixture/head/compose.yml.tmpl")),
    ("testbed/recipes/{name}/head/.env.sample", include_str!("../templates/new-recipe/fixture/head/env.sample.tmpl")),
];

/// Refuses anything but a Co-op Cloud recipe name (`[a-z0-9-]+`, as `recipe.toml` wants).
pub fn validate_name(name: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
        "{name:?} is not a recipe name: use lowercase letters, digits and hyphens ([a-z0-9-]+)"
    );
    Ok(())
}

fn substitute(text: &str, name: &str) -> String {
    text.replace("{name}", name).replace("{crate}", &format!("recipe_{}", name.replace('-', "_")))
}

/// The files of a scaffold for `name`: (path below the workspace root, content). The fixture
/// files come last.
pub fn render(name: &str) -> Vec<(String, String)> {
    CRATE.iter().chain(FIXTURE).map(|(path, text)| (substitute(path, name), substitute(text, name))).collect()
}

/// What [`scaffold`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scaffolded {
    /// Written files, relative to the root, in order.
    pub written: Vec<String>,
    /// `testbed/recipes/<name>` existed already and was left as it was.
    pub kept_fixture: bool,
}

/// Writes the scaffold for `name` below the workspace root `root`. Refuses, writing nothing,
/// an invalid name or an existing `recipes/<name>`; an existing fixture directory is kept as
/// it is (a fixture may come before its suite).
pub fn scaffold(root: &Path, name: &str) -> anyhow::Result<Scaffolded> {
    validate_name(name)?;
    let crate_dir = root.join("recipes").join(name);
    anyhow::ensure!(!crate_dir.exists(), "recipes/{name} exists already: pick another name or edit that crate");
    let fixture_dir = root.join("testbed/recipes").join(name);
    let kept_fixture = fixture_dir.exists();
    let files: Vec<(String, String)> = render(name).into_iter().filter(|(path, _)| !(kept_fixture && path.starts_with("testbed/"))).collect();
    let mut written = vec![];
    let result = files.iter().try_for_each(|(path, text)| {
        let target = root.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| anyhow::format_err!("creating {}: {e}", parent.display()))?;
        }
        std::fs::write(&target, text).map_err(|e| anyhow::format_err!("writing {}: {e}", target.display()))?;
        written.push(path.clone());
        anyhow::Ok(())
    });
    if let Err(e) = result {
        // All or nothing: a half-written crate would break every cargo command of the workspace.
        let _ = std::fs::remove_dir_all(&crate_dir);
        if !kept_fixture {
            let _ = std::fs::remove_dir_all(&fixture_dir);
        }
        return Err(e);
    }
    Ok(Scaffolded { written, kept_fixture })
}

/// `cargo xtask new-recipe <name>` in the workspace around `dir`: scaffold, then `.drone.yml`.
/// Returns what to print.
pub fn run(dir: &Path, name: &str) -> anyhow::Result<String> {
    validate_name(name)?;
    let ws = Workspace::load(dir)?;
    if let Some(existing) = ws.recipes.iter().find(|r| r.name == name || r.package == format!("recipe-{name}")) {
        anyhow::bail!("a recipe crate for {name:?} exists already ({}, package {})", existing.dir, existing.package);
    }
    let done = scaffold(&ws.root, name)?;
    let mut out = String::new();
    for path in &done.written {
        out.push_str(&format!("new-recipe: wrote {path}\n"));
    }
    if done.kept_fixture {
        out.push_str(&format!("new-recipe: kept the existing fixture testbed/recipes/{name}\n"));
    }
    let ws = Workspace::load(&ws.root)?;
    out.push_str(&matrix::run(&ws, false)?);
    out.push('\n');
    out.push_str(&next_steps(name));
    Ok(out)
}

fn next_steps(name: &str) -> String {
    format!(
        "next: cargo build -p recipe-{name} --tests && cargo xtask lint recipes/{name}\n\
         then: the fixture (testbed/recipes/{name}/README.md), [ready] in recipe.toml, Marker in src/lib.rs, \
         and each test (each fails with \"not written yet\" until written); see docs/enroll-recipe.md\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_outside_a_z_0_9_and_hyphen_are_refused() {
        for bad in ["", "Demo", "demo_probe", "demo probe", "../x", "demo/x", "dé"] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
        for good in ["demo-probe", "n8n", "lasuite-meet"] {
            validate_name(good).unwrap();
        }
    }

    #[test]
    fn every_placeholder_is_substituted() {
        for (path, text) in render("demo-probe") {
            assert!(!path.contains('{') && !text.contains("{name}") && !text.contains("{crate}"), "{path}");
        }
        let files = render("demo-probe");
        let backup = &files.iter().find(|(p, _)| p == "recipes/demo-probe/tests/demo-probe/backup.rs").unwrap().1;
        assert!(backup.contains("use recipe_demo_probe::Marker;"), "{backup}");
    }

    #[test]
    fn every_scaffolded_test_starts_with_unwritten_and_says_what_to_write() {
        let mut checked = 0;
        for (path, text) in render("x") {
            if !path.ends_with(".rs") {
                continue;
            }
            assert!(text.starts_with("//! "), "{path} lacks its //! header");
            let lines: Vec<&str> = text.lines().collect();
            for (i, line) in lines.iter().enumerate() {
                if line.starts_with("async fn ") || line.trim_start().starts_with("async fn seed") || line.trim_start().starts_with("async fn read") {
                    let body = lines[i + 1].trim();
                    assert!(body.starts_with("harness::unwritten!(\"write "), "{path}: {line} starts with {body}");
                    assert_eq!(lines[i + 2].trim(), "}", "{path}: {line}: nothing may follow unwritten!");
                    checked += 1;
                }
            }
        }
        // 7 tests (install 2, functional 2, backup 2, upgrade 1) and the probe's seed and read.
        assert_eq!(checked, 9);
    }
}
