//! `recipes/<name>/recipe.toml`: what a recipe suite needs from the harness.
//!
//! ```toml
//! name = "web-site"               # the Co-op Cloud recipe name, e.g. custom-html
//! requires = []                   # recipes deployed first, in the same run
//! test_requires = []              # recipes deployed only for tests
//!
//! [testbed]
//! fixture = "web-site"            # testbed/recipes/<fixture>, the offline stand-in
//!
//! [upgrade]
//! base = "previous"               # "previous" (newest release before head) or a version
//!
//! [backup]
//! capable = true                  # the recipe carries backupbot labels
//!
//! [sso]                           # optional: an OIDC client at a provider recipe
//! provider = "idp"               # e.g. keycloak
//! issuer_env = "OIDC_ISSUER"      # .env keys the harness sets (these are the defaults)
//! client_id_env = "OIDC_CLIENT_ID"
//! client_secret = "oidc_client_secret"   # the secret (SECRET_OIDC_CLIENT_SECRET_VERSION)
//! redirect_path = "/*"            # the client's redirect URI below https://<domain> (exact
//!                                 # for providers without wildcards, e.g. "/login" at gitea)
//!
//! [ready]                         # how the app says it is ready; every deploy waits on it
//! http = "/health"                # a path through the proxy (or `tcp = <port>`, or `log = "..."`)
//! status = 200                    # expected status (default 200)
//! json_pointer = "/status"        # optional: a JSON field of the body ...
//! json_value = "ok"               # ... and its value (`${DOMAIN}` is the app's domain)
//! body_contains = "..."           # optional: a substring of the body
//! service = "app"                 # the service probed (`tcp`, `log`); default `app`
//!
//! [provides.oidc]                 # on a provider recipe: how to administer it
//! kind = "keycloak"               # the identity-provider implementation, e.g. keycloak
//! admin_user = "admin"
//! admin_secret = "admin_password"
//!
//! [unverified_here]               # optional: parts of the real recipe the testbed cannot run
//! why = "..."                     # what is missing here, e.g. "the backend is on no registry"
//! ```
//! A recipe with `[unverified_here]` keeps the tests of those parts in its `real` test binary
//! (`tests/real/`, built only with the crate's `real-recipe` feature): they run on a cc-ci host
//! against the real recipe, never here, where `cargo xtask coverage` lists them as unverified
//! with the reason.
//! Errors name the file and the key.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

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
    #[serde(default)]
    pub ready: Option<ReadySection>,
    #[serde(default)]
    pub unverified_here: Option<UnverifiedHere>,
}

/// `[unverified_here]`: what of the real recipe the offline testbed cannot run, and why. The
/// tests of that part live in the crate's `real` test binary (feature `real-recipe`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnverifiedHere {
    pub why: String,
}

/// The test binary (and cargo feature) holding the tests of a recipe's `[unverified_here]` part.
pub const REAL_TESTS_BINARY: &str = "real";
pub const REAL_TESTS_FEATURE: &str = "real-recipe";

/// `[ready]`: the app's own "I am serving" signal, beyond a converged task and a routed port.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReadySection {
    /// The service probed by `tcp` and `log` (HTTP goes through the proxy to the domain).
    #[serde(default = "app_service")]
    pub service: String,
    /// `GET <path>` through the proxy.
    #[serde(default)]
    pub http: Option<String>,
    /// The status `http` must answer (default 200).
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub json_pointer: Option<String>,
    /// The value at `json_pointer` (any JSON value; `${DOMAIN}` in a string is the app's
    /// domain). Without it, the pointer must merely exist.
    #[serde(default)]
    pub json_value: Option<serde_json::Value>,
    #[serde(default)]
    pub body_contains: Option<String>,
    /// A TCP port the service accepts connections on (probed from inside its container).
    #[serde(default)]
    pub tcp: Option<u16>,
    /// A substring of the service's log that says it is ready.
    #[serde(default)]
    pub log: Option<String>,
    /// Overrides the run's readiness timeout for slow apps.
    #[serde(default)]
    pub timeout_secs: Option<u64>,
}

fn app_service() -> String {
    "app".into()
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvidesSection {
    #[serde(default)]
    pub oidc: Option<OidcProvides>,
}

/// A recipe that is an OIDC provider, administered through the implementation `kind` names.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcProvides {
    /// The identity-provider implementation (`harness::providers`).
    pub kind: String,
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
    #[serde(default = "default_redirect_path")]
    pub redirect_path: String,
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

fn default_redirect_path() -> String {
    "/*".into()
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
        let toml: RecipeToml = toml::from_str(text).map_err(|e| {
            let (line, col) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
            HarnessError::Recipe {
                path: PathBuf::from(format!("{}:{line}:{col}", path.display())),
                key: key_at(text, e.span()),
                message: e.message().trim().to_owned(),
            }
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
        if let Some(unverified) = &toml.unverified_here
            && unverified.why.trim().is_empty()
        {
            return Err(err("unverified_here.why", "must say what cannot run here and why".into()));
        }
        if let Some(ready) = &toml.ready {
            let probes = [ready.http.is_some(), ready.tcp.is_some(), ready.log.is_some()].iter().filter(|p| **p).count();
            if probes != 1 {
                return Err(err("ready", "name exactly one of `http`, `tcp` or `log`".into()));
            }
            if let Some(path) = &ready.http
                && !path.starts_with('/')
            {
                return Err(err("ready.http", format!("{path:?} must be a path starting with `/`")));
            }
            if ready.http.is_none() && (ready.status.is_some() || ready.json_pointer.is_some() || ready.body_contains.is_some()) {
                return Err(err("ready", "`status`, `json_pointer` and `body_contains` go with `http`".into()));
            }
            if ready.json_value.is_some() && ready.json_pointer.is_none() {
                return Err(err("ready.json_value", "needs `json_pointer`".into()));
            }
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

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
    (line, col)
}

/// The dotted key whose line contains the error span, for "file: key: message" errors.
fn key_at(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    let Some(span) = span else { return "(document)".into() };
    let mut table = String::new();
    let mut key = String::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if let Some(name) = trimmed.strip_prefix('[') {
            table = name.trim_end_matches(']').trim().to_owned();
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
        let r = parse("name = \"web-site\"\n").unwrap();
        assert_eq!(r.fixture(), "web-site");
        assert_eq!(r.toml.upgrade.base, "previous");
        assert!(!r.toml.backup.capable);
    }

    #[test]
    fn dependencies_come_in_order_and_once() {
        let r = parse("name = \"app\"\nrequires = [\"db\", \"idp\"]\ntest_requires = [\"mail\"]\n[sso]\nprovider = \"idp\"\n").unwrap();
        assert_eq!(r.dependencies(), ["db", "idp", "mail"]);
        let sso = r.toml.sso.unwrap();
        assert_eq!((sso.issuer_env.as_str(), sso.client_secret.as_str()), ("OIDC_ISSUER", "oidc_client_secret"));
        assert_eq!(sso.redirect_path, "/*");
        let exact = parse("name = \"app\"\n[sso]\nprovider = \"idp\"\nredirect_path = \"/login\"\n").unwrap();
        assert_eq!(exact.toml.sso.unwrap().redirect_path, "/login");
        let p = parse("name = \"idp\"\n[provides.oidc]\nkind = \"idp\"\nadmin_user = \"admin\"\nadmin_secret = \"admin_password\"\n").unwrap();
        assert_eq!(p.toml.provides.oidc.unwrap().admin_secret, "admin_password");
    }

    #[test]
    fn errors_name_the_file_line_column_and_key() {
        let e = parse("name = \"x\"\n[backup]\ncapable = \"yes\"\n").unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("recipes/x/recipe.toml:3:11: backup.capable: "), "{text}");
        assert_eq!(text.lines().count(), 1, "{text}");

        // A broken table header is blamed on that table, not on an earlier key.
        let e = parse("name = \"x\"\n[upgrade]\nbase = \"previous\"\n[backup\ncapable = true\n").unwrap_err().to_string();
        assert!(e.starts_with("recipes/x/recipe.toml:4:") && e.contains(": backup: "), "{e}");

        let e = parse("name = \"x\"\n[testbed]\nfixtur = \"y\"\n").unwrap_err().to_string();
        assert!(e.contains("testbed.fixtur") && e.contains("unknown field"), "{e}");

        let e = parse("name = \"Bad Name\"\n").unwrap_err().to_string();
        assert!(e.contains(": name: "), "{e}");

        let e = parse("name = \"x\"\nrequires = [\"x\"]\n").unwrap_err().to_string();
        assert!(e.contains(": requires: x cannot require itself"), "{e}");
    }

    #[test]
    fn an_unverified_part_must_say_why() {
        let r = parse("name = \"x\"\n[unverified_here]\nwhy = \"the backend is on no registry\"\n").unwrap();
        assert_eq!(r.toml.unverified_here.unwrap().why, "the backend is on no registry");
        let e = parse("name = \"x\"\n[unverified_here]\nwhy = \" \"\n").unwrap_err().to_string();
        assert!(e.contains(": unverified_here.why: "), "{e}");
        assert!(parse("name = \"x\"\n[unverified_here]\n").is_err());
    }

    #[test]
    fn readiness_is_one_probe_with_its_own_options() {
        let r = parse("name = \"x\"\n[ready]\nhttp = \"/health\"\njson_pointer = \"/status\"\njson_value = \"ok\"\n").unwrap();
        let ready = r.toml.ready.unwrap();
        assert_eq!((ready.service.as_str(), ready.http.as_deref()), ("app", Some("/health")));
        assert_eq!(ready.json_value, Some(serde_json::json!("ok")));
        for bad in ["[ready]\n", "[ready]\nhttp = \"/\"\ntcp = 1\n", "[ready]\ntcp = 1\nstatus = 200\n", "[ready]\nhttp = \"health\"\n"] {
            let e = parse(&format!("name = \"x\"\n{bad}")).unwrap_err().to_string();
            assert!(e.contains(": ready"), "{bad:?}: {e}");
        }
    }
}
