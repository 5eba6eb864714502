//! `recipes/<name>/recipe.toml`: what a recipe suite needs from the harness.
//!
//! ```toml
//! name = "custom-html"            # the Co-op Cloud recipe name
//! requires = []                   # recipes deployed first, in the same run
//! test_requires = []              # recipes deployed only for tests
//!
//! [testbed]
//! fixture = "custom-html"         # testbed/recipes/<fixture>, the offline stand-in
//!
//! [upgrade]
//! base = "previous"               # "previous" (newest release before head) or a version
//!
//! [backup]
//! capable = true                  # the recipe carries backupbot labels
//!
//! [sso]                           # optional: an OIDC client at a provider recipe
//! provider = "keycloak"
//! issuer_env = "OIDC_ISSUER"      # .env keys the harness sets (these are the defaults)
//! client_id_env = "OIDC_CLIENT_ID"
//! client_secret = "oidc_client_secret"   # the secret (SECRET_OIDC_CLIENT_SECRET_VERSION)
//!
//! [provides.oidc]                 # on a provider recipe: how to administer it
//! admin_user = "admin"
//! admin_secret = "admin_password"
//! ```
//! Errors name the file and the key.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{HarnessError, Result};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipeToml {
    pub name: String,
    #[serde(default)]
    pub requires: Vec<String>,
    #[serde(default)]
    pub test_requires: Vec<String>,
    #[serde(default)]
    pub testbed: Option<TestbedSection>,
    #[serde(default)]
    pub upgrade: UpgradeSection,
    #[serde(default)]
    pub backup: BackupSection,
    #[serde(default)]
    pub sso: Option<SsoSection>,
    #[serde(default)]
    pub provides: ProvidesSection,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvidesSection {
    #[serde(default)]
    pub oidc: Option<OidcProvides>,
}

/// A recipe that is an OIDC provider (Keycloak's admin REST API).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcProvides {
    pub admin_user: String,
    /// The generated secret holding the admin password.
    pub admin_secret: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestbedSection {
    pub fixture: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpgradeSection {
    #[serde(default = "previous")]
    pub base: String,
}

impl Default for UpgradeSection {
    fn default() -> Self {
        UpgradeSection { base: previous() }
    }
}

fn previous() -> String {
    "previous".into()
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupSection {
    #[serde(default)]
    pub capable: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsoSection {
    pub provider: String,
    #[serde(default = "default_issuer_env")]
    pub issuer_env: String,
    #[serde(default = "default_client_id_env")]
    pub client_id_env: String,
    #[serde(default = "default_client_secret")]
    pub client_secret: String,
}

fn default_issuer_env() -> String {
    "OIDC_ISSUER".into()
}

fn default_client_id_env() -> String {
    "OIDC_CLIENT_ID".into()
}

fn default_client_secret() -> String {
    "oidc_client_secret".into()
}

/// A loaded `recipe.toml` and where it came from.
#[derive(Debug, Clone)]
pub struct Recipe {
    pub path: PathBuf,
    pub toml: RecipeToml,
}

impl Recipe {
    /// Loads `<crate_dir>/recipe.toml`.
    pub fn load(crate_dir: impl AsRef<Path>) -> Result<Recipe> {
        let path = crate_dir.as_ref().join("recipe.toml");
        let text = std::fs::read_to_string(&path).map_err(|e| HarnessError::Recipe {
            path: path.clone(),
            key: "(file)".into(),
            message: format!("cannot read: {e}"),
        })?;
        Self::parse(&path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Recipe> {
        let toml: RecipeToml = toml::from_str(text).map_err(|e| HarnessError::Recipe {
            path: path.to_path_buf(),
            key: key_at(text, e.span()),
            message: e.message().to_owned(),
        })?;
        let err = |key: &str, message: String| HarnessError::Recipe { path: path.to_path_buf(), key: key.into(), message };
        if toml.name.is_empty() || !toml.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
            return Err(err("name", format!("{:?} is not a recipe name ([a-z0-9-]+)", toml.name)));
        }
        for (key, list) in [("requires", &toml.requires), ("test_requires", &toml.test_requires)] {
            if list.contains(&toml.name) {
                return Err(err(key, format!("{} cannot require itself", toml.name)));
            }
        }
        if let Some(sso) = &toml.sso
            && sso.provider.is_empty()
        {
            return Err(err("sso.provider", "must name the provider recipe".into()));
        }
        Ok(Recipe { path: path.to_path_buf(), toml })
    }

    pub fn name(&self) -> &str {
        &self.toml.name
    }

    /// Recipes to deploy before this one, in order: `requires`, `test_requires`, then the
    /// SSO provider (each once).
    pub fn dependencies(&self) -> Vec<String> {
        let mut deps: Vec<String> = vec![];
        let provider = self.toml.sso.as_ref().map(|s| s.provider.clone());
        for name in self.toml.requires.iter().chain(&self.toml.test_requires).cloned().chain(provider) {
            if !deps.contains(&name) {
                deps.push(name);
            }
        }
        deps
    }

    /// The testbed fixture directory name, defaulting to the recipe name.
    pub fn fixture(&self) -> &str {
        self.toml.testbed.as_ref().map(|t| t.fixture.as_str()).unwrap_or(&self.toml.name)
    }
}

/// The dotted key whose line contains the error span, for "file: key: message" errors.
fn key_at(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    let Some(span) = span else { return "(document)".into() };
    let mut table = String::new();
    let mut key = String::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if let Some(name) = trimmed.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            table = name.trim().to_owned();
            key.clear();
        } else if let Some((k, _)) = trimmed.split_once('=') {
            key = k.trim().to_owned();
        }
        if span.start < offset + line.len() {
            break;
        }
        offset += line.len();
    }
    match (table.is_empty(), key.is_empty()) {
        (true, true) => "(document)".into(),
        (true, false) => key,
        (false, true) => table,
        (false, false) => format!("{table}.{key}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Recipe> {
        Recipe::parse(Path::new("recipes/x/recipe.toml"), text)
    }

    #[test]
    fn a_minimal_recipe_gets_defaults() {
        let r = parse("name = \"custom-html\"\n").unwrap();
        assert_eq!(r.fixture(), "custom-html");
        assert_eq!(r.toml.upgrade.base, "previous");
        assert!(!r.toml.backup.capable);
    }

    #[test]
    fn dependencies_come_in_order_and_once() {
        let r = parse("name = \"app\"\nrequires = [\"db\", \"keycloak\"]\ntest_requires = [\"mail\"]\n[sso]\nprovider = \"keycloak\"\n").unwrap();
        assert_eq!(r.dependencies(), ["db", "keycloak", "mail"]);
        let sso = r.toml.sso.unwrap();
        assert_eq!((sso.issuer_env.as_str(), sso.client_secret.as_str()), ("OIDC_ISSUER", "oidc_client_secret"));
        let p = parse("name = \"keycloak\"\n[provides.oidc]\nadmin_user = \"admin\"\nadmin_secret = \"admin_password\"\n").unwrap();
        assert_eq!(p.toml.provides.oidc.unwrap().admin_secret, "admin_password");
    }

    #[test]
    fn errors_name_the_file_and_the_key() {
        let e = parse("name = \"x\"\n[backup]\ncapable = \"yes\"\n").unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("recipes/x/recipe.toml: backup.capable: "), "{text}");

        let e = parse("name = \"x\"\n[testbed]\nfixtur = \"y\"\n").unwrap_err().to_string();
        assert!(e.contains("testbed.fixtur") && e.contains("unknown field"), "{e}");

        let e = parse("name = \"Bad Name\"\n").unwrap_err().to_string();
        assert!(e.contains(": name: "), "{e}");

        let e = parse("name = \"x\"\nrequires = [\"x\"]\n").unwrap_err().to_string();
        assert!(e.contains(": requires: x cannot require itself"), "{e}");
    }
}
