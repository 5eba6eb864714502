//! Which recipe crates a change needs, and why: the decision `testme` acts on and `affected`
//! prints.
//!
//! - A PR on a recipe's own repository (`coop-cloud/<recipe>`) needs that recipe's crate; with
//!   `--with-dependents` also every recipe whose `recipe.toml` `requires`, `test_requires` or
//!   `[sso] provider` names it, transitively.
//! - A change to this project maps each changed path to crates: shared parts (harness, xtask,
//!   the workspace manifests, cargo and nextest config, shared testbed parts) need every recipe;
//!   `testbed/recipes/<fixture>/` the recipes using that fixture; `recipes/<name>/` that recipe;
//!   documentation (`docs/`, `*.md`) none. A path no rule knows selects every recipe: testing
//!   too much is cheaper than missing a break.

use std::collections::BTreeMap;

use crate::workspace::{RecipeCrate, Workspace};

/// How one changed path bears on the recipe suites.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathClass {
    /// Documentation: no suite reads it.
    Docs,
    /// Files with no effect on any build or deployment (`.gitignore`, `LICENSE`).
    Inert,
    /// Something every suite depends on; the text says what it is.
    Shared(&'static str),
    /// `testbed/recipes/<fixture>/...`.
    Fixture(String),
    /// `recipes/<dir>/...`.
    RecipeCrate(String),
}

/// Classifies a path relative to the workspace root (forward slashes, as git prints them).
pub fn classify(path: &str) -> PathClass {
    let path = path.trim_start_matches("./");
    let file_name = path.rsplit('/').next().unwrap_or(path);
    if path.starts_with("docs/") || file_name.to_ascii_lowercase().ends_with(".md") {
        return PathClass::Docs;
    }
    if path == ".gitignore" || path.starts_with("LICENSE") || path == ".editorconfig" {
        return PathClass::Inert;
    }
    if let Some(rest) = path.strip_prefix("recipes/")
        && let Some((dir, _)) = rest.split_once('/')
    {
        return PathClass::RecipeCrate(dir.to_owned());
    }
    if let Some(rest) = path.strip_prefix("testbed/recipes/")
        && let Some((fixture, _)) = rest.split_once('/')
    {
        return PathClass::Fixture(fixture.to_owned());
    }
    let shared = if path.starts_with("harness/") {
        "the harness every suite runs on"
    } else if path.starts_with("xtask/") {
        "xtask, which selects and runs every suite"
    } else if path == "Cargo.toml" || path == "Cargo.lock" {
        "the workspace manifest and lockfile every suite builds with"
    } else if path.starts_with(".cargo/") {
        "cargo configuration"
    } else if path.starts_with(".config/") {
        "nextest configuration"
    } else if path.starts_with("testbed/") {
        "a shared testbed part (images, proxy)"
    } else if path == ".drone.yml" || path.starts_with(".ci/") {
        "the CI pipeline definition"
    } else {
        "a path no rule classifies (tested everywhere to be safe)"
    };
    PathClass::Shared(shared)
}

/// The decision: selected recipe packages with their reasons, and what selected nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    /// Recipe package -> why it is selected (one line per distinct reason).
    pub selected: BTreeMap<String, Vec<String>>,
    /// Inputs that selected nothing, each with why.
    pub unselected: Vec<String>,
    /// One line saying what was decided.
    pub headline: String,
}

impl Decision {
    pub fn packages(&self) -> Vec<String> {
        self.selected.keys().cloned().collect()
    }

    pub fn is_empty(&self) -> bool {
        self.selected.is_empty()
    }

    /// Keeps only `only` (package names), recording what was dropped.
    pub fn restrict(&mut self, only: &[String]) {
        if only.is_empty() {
            return;
        }
        let dropped: Vec<String> = self.selected.keys().filter(|p| !only.contains(p)).cloned().collect();
        for package in dropped {
            self.selected.remove(&package);
            self.unselected.push(format!("{package}: selected, but this job runs only {}", only.join(", ")));
        }
        for package in only {
            if !self.selected.contains_key(package) {
                self.unselected.push(format!("{package}: not needed by this change"));
            }
        }
    }
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "selection: {}", self.headline)?;
        for (package, reasons) in &self.selected {
            writeln!(f, "  {package}: {}", reasons.join("; "))?;
        }
        for line in &self.unselected {
            writeln!(f, "  (nothing) {line}")?;
        }
        Ok(())
    }
}

/// A PR on a recipe's repository: why no crate matches is the caller's error to word.
pub fn for_recipe_repo(ws: &Workspace, repo_full_name: &str, recipe_name: &str, with_dependents: bool) -> Option<Decision> {
    let target = ws.recipe_named(recipe_name)?;
    let mut decision = Decision::default();
    decision
        .selected
        .insert(target.package.clone(), vec![format!("the PR is on {repo_full_name}, the {} recipe's repository", target.name)]);
    if with_dependents {
        // A work list over "X depends on Y". The target is expanded first, so a recipe that
        // depends on it directly records that rather than a longer path.
        let mut frontier = vec![target.name.clone()];
        while let Some(dependency) = frontier.pop() {
            for recipe in &ws.recipes {
                if decision.selected.contains_key(&recipe.package) {
                    continue;
                }
                if let Some(how) = depends_on(recipe, &dependency) {
                    let via = if dependency == target.name { String::new() } else { format!(", which depends on {}", target.name) };
                    decision.selected.insert(recipe.package.clone(), vec![format!("dependent: {how} {dependency}{via}")]);
                    frontier.push(recipe.name.clone());
                }
            }
        }
    }
    let n = decision.selected.len();
    decision.headline = if n == 1 {
        format!("{} (recipe PR)", target.package)
    } else {
        format!("{} and {} dependent recipe crate{} (recipe PR, --with-dependents)", target.package, n - 1, plural(n - 1))
    };
    if with_dependents && n == 1 {
        decision.unselected.push(format!("no recipe declares a dependency on {}", target.name));
    }
    Some(decision)
}

/// How `recipe` depends on the recipe named `dependency`, if it does.
fn depends_on(recipe: &RecipeCrate, dependency: &str) -> Option<&'static str> {
    if recipe.requires.iter().any(|r| r == dependency) {
        Some("`requires` names")
    } else if recipe.test_requires.iter().any(|r| r == dependency) {
        Some("`test_requires` names")
    } else if recipe.sso_provider.as_deref() == Some(dependency) {
        Some("its `[sso] provider` is")
    } else {
        None
    }
}

/// A change to this project, given as changed paths relative to the workspace root.
pub fn for_paths(ws: &Workspace, paths: &[String]) -> Decision {
    // package -> reason -> paths that gave it
    let mut why: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    let mut add = |package: &str, reason: String, path: &str| {
        why.entry(package.to_owned()).or_default().entry(reason).or_default().push(path.to_owned());
    };
    let mut docs = vec![];
    let mut unselected = vec![];
    for path in paths {
        match classify(path) {
            PathClass::Docs => docs.push(path.clone()),
            PathClass::Inert => unselected.push(format!("{path}: affects no build or deployment")),
            PathClass::Shared(what) => {
                for recipe in &ws.recipes {
                    add(&recipe.package, format!("{what} changed"), path);
                }
                if ws.recipes.is_empty() {
                    unselected.push(format!("{path}: {what}, but the workspace has no recipe crate"));
                }
            }
            PathClass::Fixture(fixture) => {
                let users: Vec<&RecipeCrate> = ws.recipes.iter().filter(|r| r.fixture == fixture).collect();
                for recipe in &users {
                    add(&recipe.package, format!("its testbed fixture testbed/recipes/{fixture} changed"), path);
                }
                if users.is_empty() {
                    unselected.push(format!("{path}: no recipe uses the testbed fixture {fixture}"));
                }
            }
            PathClass::RecipeCrate(dir) => match ws.recipes.iter().find(|r| r.dir == format!("recipes/{dir}")) {
                Some(recipe) => add(&recipe.package, "its own crate changed".into(), path),
                None => unselected.push(format!("{path}: recipes/{dir} is not a recipe crate (removed?)")),
            },
        }
    }
    if !docs.is_empty() {
        unselected.push(format!("documentation only: {}", sample(&docs)));
    }
    let selected: BTreeMap<String, Vec<String>> = why
        .into_iter()
        .map(|(package, reasons)| (package, reasons.into_iter().map(|(reason, paths)| format!("{reason} ({})", sample(&paths))).collect()))
        .collect();
    let total = ws.recipes.len();
    let headline = match (paths.len(), selected.len()) {
        (0, _) => "no recipe crate: nothing changed".to_owned(),
        (_, 0) if !docs.is_empty() && docs.len() == paths.len() => "no recipe crate: only documentation changed".to_owned(),
        (_, 0) => "no recipe crate: no changed path affects a recipe suite".to_owned(),
        (n, k) if k == total => format!("every recipe crate ({k}) from {n} changed file{}", plural(n)),
        (n, k) => format!("{k} of {total} recipe crate{} from {n} changed file{}", plural(total), plural(n)),
    };
    Decision { selected, unselected, headline }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// `a, b, c (+4 more)`.
fn sample(paths: &[String]) -> String {
    const SHOWN: usize = 3;
    let mut text = paths.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
    if paths.len() > SHOWN {
        text.push_str(&format!(" (+{} more)", paths.len() - SHOWN));
    }
    text
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    fn recipe(name: &str, fixture: &str, requires: &[&str], test_requires: &[&str], sso: Option<&str>) -> RecipeCrate {
        RecipeCrate {
            package: format!("recipe-{name}"),
            dir: format!("recipes/{name}"),
            name: name.into(),
            fixture: fixture.into(),
            requires: requires.iter().map(|s| s.to_string()).collect(),
            test_requires: test_requires.iter().map(|s| s.to_string()).collect(),
            sso_provider: sso.map(str::to_owned),
            backup_capable: true,
        }
    }

    /// keycloak <- (sso) lasuite-docs <- (test_requires) drive-like; synapse requires postgres-ish
    /// fixture shared with keycloak; custom-html stands alone.
    fn workspace() -> Workspace {
        Workspace {
            root: "/ws".into(),
            recipes: vec![
                recipe("custom-html", "custom-html", &[], &[], None),
                recipe("keycloak", "keycloak", &[], &[], None),
                recipe("lasuite-docs", "lasuite-docs", &[], &[], Some("keycloak")),
                recipe("lasuite-drive", "lasuite-drive", &[], &["lasuite-docs"], None),
                recipe("matrix-synapse", "keycloak", &["keycloak"], &[], None),
            ],
            others: vec![("harness".into(), "harness".into()), ("xtask".into(), "xtask".into())],
        }
    }

    const ALL: &[&str] = &["recipe-custom-html", "recipe-keycloak", "recipe-lasuite-docs", "recipe-lasuite-drive", "recipe-matrix-synapse"];

    #[rstest]
    #[case::own_crate(&["recipes/custom-html/tests/custom-html/install.rs"], &["recipe-custom-html"])]
    #[case::own_crate_lib(&["recipes/keycloak/src/lib.rs", "recipes/keycloak/recipe.toml"], &["recipe-keycloak"])]
    #[case::harness(&["harness/src/deploy/stack.rs"], ALL)]
    #[case::xtask(&["xtask/src/main.rs"], ALL)]
    #[case::manifest(&["Cargo.toml"], ALL)]
    #[case::lockfile(&["Cargo.lock"], ALL)]
    #[case::cargo_config(&[".cargo/config.toml"], ALL)]
    #[case::nextest_config(&[".config/nextest.toml"], ALL)]
    #[case::testbed_images(&["testbed/images/nginx/Dockerfile"], ALL)]
    #[case::testbed_proxy(&["testbed/proxy/nginx.conf"], ALL)]
    #[case::unknown_top_level(&["tools/new-script.sh"], ALL)]
    #[case::fixture_one_user(&["testbed/recipes/custom-html/head/compose.yml"], &["recipe-custom-html"])]
    #[case::fixture_two_users(&["testbed/recipes/keycloak/1.0.0+26.0/compose.yml"], &["recipe-keycloak", "recipe-matrix-synapse"])]
    #[case::fixture_nobody_uses(&["testbed/recipes/orphan/head/compose.yml"], &[])]
    #[case::docs_only(&["docs/levels.md", "README.md", "recipes/custom-html/PARITY.md"], &[])]
    #[case::docs_and_a_recipe(&["docs/enroll-recipe.md", "recipes/lasuite-docs/tests/lasuite-docs/main.rs"], &["recipe-lasuite-docs"])]
    #[case::removed_recipe_crate(&["recipes/gone/src/lib.rs"], &[])]
    #[case::inert(&[".gitignore", "LICENSE"], &[])]
    #[case::nothing(&[], &[])]
    fn changed_paths_select_crates(#[case] paths: &[&str], #[case] expected: &[&str]) {
        let paths: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
        let decision = for_paths(&workspace(), &paths);
        assert_eq!(decision.packages(), expected, "{decision}");
        for reasons in decision.selected.values() {
            assert!(!reasons.is_empty() && reasons.iter().all(|r| !r.is_empty()));
        }
    }

    #[rstest]
    #[case::own_crate(&["recipes/custom-html/src/lib.rs"], "recipe-custom-html", "its own crate changed (recipes/custom-html/src/lib.rs)")]
    #[case::shared(&["harness/src/lib.rs"], "recipe-keycloak", "the harness every suite runs on changed (harness/src/lib.rs)")]
    #[case::fixture(&["testbed/recipes/keycloak/head/x"], "recipe-matrix-synapse", "its testbed fixture testbed/recipes/keycloak changed (testbed/recipes/keycloak/head/x)")]
    fn each_selected_crate_says_why(#[case] paths: &[&str], #[case] package: &str, #[case] reason: &str) {
        let paths: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
        let decision = for_paths(&workspace(), &paths);
        assert_eq!(decision.selected[package], [reason]);
    }

    #[test]
    fn many_paths_with_the_same_reason_are_summarised() {
        let paths: Vec<String> = (0..5).map(|i| format!("harness/src/f{i}.rs")).collect();
        let decision = for_paths(&workspace(), &paths);
        assert_eq!(
            decision.selected["recipe-custom-html"],
            ["the harness every suite runs on changed (harness/src/f0.rs, harness/src/f1.rs, harness/src/f2.rs (+2 more))"]
        );
        assert!(decision.headline.starts_with("every recipe crate (5)"), "{}", decision.headline);
    }

    #[rstest]
    #[case::docs(&["docs/a.md"], "no recipe crate: only documentation changed")]
    #[case::orphan_fixture(&["testbed/recipes/orphan/x"], "no recipe crate: no changed path affects a recipe suite")]
    #[case::some(&["recipes/keycloak/src/lib.rs", "docs/a.md"], "1 of 5 recipe crates from 2 changed files")]
    fn the_headline_states_the_decision(#[case] paths: &[&str], #[case] headline: &str) {
        let paths: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
        assert_eq!(for_paths(&workspace(), &paths).headline, headline);
    }

    #[rstest]
    #[case::alone("custom-html", false, &["recipe-custom-html"])]
    #[case::alone_with_dependents("custom-html", true, &["recipe-custom-html"])]
    #[case::provider_without_dependents("keycloak", false, &["recipe-keycloak"])]
    #[case::provider_with_dependents(
        "keycloak",
        true,
        &["recipe-keycloak", "recipe-lasuite-docs", "recipe-lasuite-drive", "recipe-matrix-synapse"]
    )]
    #[case::middle_of_the_chain("lasuite-docs", true, &["recipe-lasuite-docs", "recipe-lasuite-drive"])]
    #[case::leaf("lasuite-drive", true, &["recipe-lasuite-drive"])]
    fn a_recipe_pr_selects_its_crate_and_optionally_dependents(#[case] name: &str, #[case] with_dependents: bool, #[case] expected: &[&str]) {
        let decision = for_recipe_repo(&workspace(), &format!("coop-cloud/{name}"), name, with_dependents).unwrap();
        assert_eq!(decision.packages(), expected, "{decision}");
    }

    #[test]
    fn dependents_say_how_they_depend() {
        let decision = for_recipe_repo(&workspace(), "coop-cloud/keycloak", "keycloak", true).unwrap();
        assert_eq!(decision.selected["recipe-keycloak"], ["the PR is on coop-cloud/keycloak, the keycloak recipe's repository"]);
        assert_eq!(decision.selected["recipe-lasuite-docs"], ["dependent: its `[sso] provider` is keycloak"]);
        assert_eq!(decision.selected["recipe-matrix-synapse"], ["dependent: `requires` names keycloak"]);
        assert_eq!(
            decision.selected["recipe-lasuite-drive"],
            ["dependent: `test_requires` names lasuite-docs, which depends on keycloak"]
        );
    }

    #[test]
    fn a_repo_without_a_recipe_crate_selects_nothing() {
        assert_eq!(for_recipe_repo(&workspace(), "coop-cloud/wordpress", "wordpress", true), None);
    }

    #[test]
    fn restricting_to_one_job_keeps_only_its_crate_and_says_so() {
        let mut decision = for_paths(&workspace(), &["harness/src/lib.rs".to_string()]);
        decision.restrict(&["recipe-keycloak".to_string()]);
        assert_eq!(decision.packages(), ["recipe-keycloak"]);
        let mut decision = for_paths(&workspace(), &["recipes/custom-html/src/lib.rs".to_string()]);
        decision.restrict(&["recipe-keycloak".to_string()]);
        assert!(decision.is_empty());
        assert!(decision.unselected.iter().any(|l| l == "recipe-keycloak: not needed by this change"), "{decision}");
    }
}
