//! `cargo xtask lint <recipe dir>`: the L5 rung, static checks of a recipe checkout against
//! Co-op Cloud conventions (the ones `abra recipe lint` and the deploy tooling rely on).
//!
//! It lints the compose a deploy sees: `COMPOSE_FILE` from `.env.sample` (colon-separated, may be
//! quoted, commented-out lines ignored, `$COMPOSE_FILE` appends; `compose.yml` by default), every
//! listed file merged in order as `docker stack config` does for the keys the checks read
//! ([`merge_all`]). Images and label values are read with `${VAR:-default}` resolved to its
//! default and `${VAR}` to `.env.sample`'s value when it sets one.
//!
//! | check | what it wants |
//! |---|---|
//! | `compose-files` | every file `COMPOSE_FILE` lists exists and parses (one failure naming each missing one) |
//! | `compose-version` | the merged compose declares `version: "3.8"` |
//! | `app-service` | a service named `app` (abra's default service) |
//! | `healthchecks` | every service of the merge has a healthcheck (convergence depends on it) |
//! | `image-tags` | every image pinned to a literal tag or digest by its default, never `latest` (`${V:-1.0.6}` passes, `${IMAGE:-x:latest}` fails) |
//! | `env-sample` | `.env.sample` sets `TYPE` and `DOMAIN` |
//! | `traefik-enable` | `traefik.enable=true` in the app's `deploy.labels` |
//! | `version-label` | a `coop-cloud.${STACK_NAME}.version` label (what abra reads back) |
//! | `backupbot` | a `backupbot.backup` label (on by default) when `recipe.toml` says `[backup] capable = true` |
//!
//! Each check is one line, naming every offending service in it. One cause fails one check: when
//! the compose files cannot be read every compose check skips naming `compose-files`; with no
//! `app` (or no services) `traefik-enable` (and `healthchecks`, `image-tags`) skip naming
//! `app-service`; `backupbot` skips saying why when the recipe is not backup-capable or no
//! `recipe.toml` is known.
//!
//! Given a recipe crate (`recipes/<name>`, recognised by its `recipe.toml`), it checks the crate
//! first and then its testbed fixture head (`testbed/recipes/<fixture>/head`) with the checks
//! above:
//!
//! | check | what it wants |
//! |---|---|
//! | `recipe-toml` | `recipe.toml` loads with the harness's own model |
//! | `parity` | `PARITY.md` with a table row for the maintainers' `health_check` |
//! | `test-modules` | the test binary declares `install`, `functional`, `upgrade` and (backup-capable) `backup` |
//! | `fixture` | skipped, with the reason, when the recipe has no testbed fixture head |
//!
//! Lint is static: a scaffolded suite whose tests are not written yet passes it.

use std::path::Path;

use serde::Serialize;
use serde_yaml::Value;

use crate::workspace;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Pass,
    Fail,
    Skip,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub id: &'static str,
    pub status: CheckStatus,
    pub message: String,
}

fn pass(id: &'static str, message: impl Into<String>) -> Check {
    Check { id, status: CheckStatus::Pass, message: message.into() }
}

fn fail(id: &'static str, message: impl Into<String>) -> Check {
    Check { id, status: CheckStatus::Fail, message: message.into() }
}

fn skip(id: &'static str, message: impl Into<String>) -> Check {
    Check { id, status: CheckStatus::Skip, message: message.into() }
}

/// All checks of one recipe directory.
#[derive(Debug, Clone, Serialize)]
pub struct LintReport {
    pub dir: String,
    pub checks: Vec<Check>,
}

impl LintReport {
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.status != CheckStatus::Fail)
    }

    pub fn failures(&self) -> usize {
        self.checks.iter().filter(|c| c.status == CheckStatus::Fail).count()
    }

    /// A plain-text table, one check a line.
    pub fn table(&self) -> String {
        let mut out = format!("lint {}\n", self.dir);
        for c in &self.checks {
            let mark = match c.status {
                CheckStatus::Pass => "pass",
                CheckStatus::Fail => "FAIL",
                CheckStatus::Skip => "skip",
            };
            out.push_str(&format!("  {mark}  {:<16} {}\n", c.id, c.message));
        }
        out.push_str(&format!(
            "lint: {} of {} checks failed\n",
            self.failures(),
            self.checks.len()
        ));
        out
    }
}

/// Whether `dir` is a recipe crate (it has a `recipe.toml`) rather than a recipe checkout.
pub fn is_recipe_crate(dir: &Path) -> bool {
    dir.join("recipe.toml").is_file()
}

/// Lints the recipe crate `crate_dir`, then its testbed fixture head.
pub fn lint_crate(crate_dir: &Path) -> LintReport {
    let mut checks = vec![];
    let dir_name = crate_dir.canonicalize().ok().and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned())).unwrap_or_default();
    let recipe = workspace::load_recipe(crate_dir);
    let (name, fixture, capable) = match &recipe {
        Ok(r) => {
            checks.push(pass("recipe-toml", format!("recipe.toml: name = {:?}, fixture {:?}", r.name(), r.fixture())));
            (r.name().to_owned(), Some(r.fixture().to_owned()), r.toml.backup.capable)
        }
        Err(e) => {
            checks.push(fail("recipe-toml", format!("{e:#}")));
            (dir_name, None, true)
        }
    };
    checks.push(parity(std::fs::read_to_string(crate_dir.join("PARITY.md")).ok().as_deref()));
    checks.push(test_modules(crate_dir, &name, capable));
    if let Some(check) = real_tests(crate_dir, recipe.as_ref().ok().and_then(|r| r.toml.unverified_here.as_ref()).map(|u| u.why.as_str())) {
        checks.push(check);
    }
    let root = workspace::workspace_root_of(crate_dir);
    let mut shown = crate_dir.display().to_string();
    match (fixture, root) {
        (Some(fixture), Some(root)) => {
            let head = root.join("testbed/recipes").join(&fixture).join("head");
            if head.is_dir() {
                shown.push_str(&format!(" (and its fixture testbed/recipes/{fixture}/head)"));
                checks.extend(lint_dir(&head, Some(capable)).checks);
            } else {
                checks.push(skip(
                    "fixture",
                    format!("no testbed fixture at testbed/recipes/{fixture}/head: lint a checkout with `cargo xtask lint <dir> --recipe {name}`"),
                ));
            }
        }
        (None, _) => checks.push(skip("fixture", "recipe.toml did not load, so its fixture is unknown")),
        (_, None) => checks.push(skip("fixture", format!("{} is not inside a Cargo workspace", crate_dir.display()))),
    }
    LintReport { dir: shown, checks }
}

/// `PARITY.md` exists and maps the maintainers' `health_check` in a table row (not one inside an
/// HTML comment).
pub fn parity(text: Option<&str>) -> Check {
    const ID: &str = "parity";
    let Some(text) = text else { return fail(ID, "PARITY.md is missing: it maps the maintainers' tests to these") };
    let mut in_comment = false;
    let found = text.lines().any(|line| {
        let l = line.trim();
        let live = !in_comment && !l.starts_with("<!--");
        if l.contains("<!--") && !l.contains("-->") {
            in_comment = true;
        } else if l.contains("-->") {
            in_comment = false;
        }
        live && l.starts_with('|') && l.split('|').nth(1).is_some_and(|cell| cell.contains("health_check"))
    });
    if found {
        pass(ID, "PARITY.md maps health_check")
    } else {
        fail(ID, "PARITY.md has no table row for the maintainers' `health_check`")
    }
}

/// A recipe with `[unverified_here]` keeps those tests in a `real` test binary that only the
/// `real-recipe` feature builds (so no run here can report them as passed), and a `real`
/// binary needs `[unverified_here]` to say why it cannot run here. `None`: neither.
pub fn real_tests(crate_dir: &Path, why: Option<&str>) -> Option<Check> {
    const ID: &str = "real-tests";
    use harness::ops::{REAL_TESTS_BINARY as BINARY, REAL_TESTS_FEATURE as FEATURE};
    let manifest: Option<toml::Table> = std::fs::read_to_string(crate_dir.join("Cargo.toml")).ok().and_then(|t| toml::from_str(&t).ok());
    let test = manifest
        .as_ref()
        .and_then(|m| m.get("test"))
        .and_then(|t| t.as_array())
        .and_then(|tests| tests.iter().find(|t| t.get("name").and_then(|n| n.as_str()) == Some(BINARY)).cloned());
    let feature = manifest.as_ref().and_then(|m| m.get("features")).and_then(|f| f.get(FEATURE)).is_some();
    match (why, test) {
        (None, None) => None,
        (None, Some(_)) => Some(fail(ID, format!("a [[test]] named {BINARY:?} without [unverified_here] in recipe.toml: say what cannot run here and why"))),
        (Some(_), None) => Some(fail(ID, format!("recipe.toml has [unverified_here] but Cargo.toml declares no [[test]] named {BINARY:?} (path tests/{BINARY}/main.rs)"))),
        (Some(why), Some(test)) => {
            let gated = test.get("required-features").and_then(|f| f.as_array()).is_some_and(|f| f.iter().any(|v| v.as_str() == Some(FEATURE)));
            let path = crate_dir.join(test.get("path").and_then(|p| p.as_str()).unwrap_or("tests/real/main.rs"));
            let count = workspace::binary_tests(&path).len();
            Some(if !feature || !gated {
                fail(ID, format!("the {BINARY:?} test binary must have required-features = [{FEATURE:?}] and Cargo.toml a feature {FEATURE:?}: without it, a run here would compile and report those tests"))
            } else if count == 0 {
                fail(ID, format!("the {BINARY:?} test binary ({}) holds no test", path.display()))
            } else {
                pass(ID, format!("{count} tests unverified here, behind the {FEATURE:?} feature: {why}"))
            })
        }
    }
}

/// The test binary declares a module per stage, each with its file.
pub fn test_modules(crate_dir: &Path, name: &str, backup_capable: bool) -> Check {
    const ID: &str = "test-modules";
    let main = workspace::test_main(crate_dir, name);
    let shown = main.strip_prefix(crate_dir).unwrap_or(&main).display().to_string();
    let Ok(text) = std::fs::read_to_string(&main) else { return fail(ID, format!("no test binary at {shown}")) };
    let declared = workspace::declared_modules(&text);
    let mut wanted = vec!["install", "functional", "upgrade"];
    if backup_capable {
        wanted.push("backup");
    }
    let missing: Vec<&str> = wanted.iter().copied().filter(|m| !declared.iter().any(|d| d == m)).collect();
    let no_file: Vec<&str> = wanted.iter().copied().filter(|m| !missing.contains(m) && workspace::module_files(&main, m).is_empty()).collect();
    let note = if backup_capable { "" } else { " (no backup: recipe.toml says [backup] capable = false)" };
    if !missing.is_empty() {
        fail(ID, format!("{shown} does not declare mod {}", missing.join(", mod ")))
    } else if !no_file.is_empty() {
        fail(ID, format!("{shown} declares mod {} without its file", no_file.join(", mod ")))
    } else {
        pass(ID, format!("{shown}: mod {}{note}", wanted.join(", ")))
    }
}

/// Lints `dir`. `backup_capable` is `recipe.toml`'s `[backup] capable`, `None` when no
/// recipe crate is known for the checkout (the backupbot check is then skipped, saying why).
pub fn lint_dir(dir: &Path, backup_capable: Option<bool>) -> LintReport {
    let env_sample = std::fs::read_to_string(dir.join(".env.sample")).ok();
    let compose = Compose::load(dir, env_sample.as_deref());
    LintReport { dir: dir.display().to_string(), checks: checks(&compose, env_sample.as_deref(), backup_capable) }
}

/// The recipe's compose as a deploy sees it: every file `COMPOSE_FILE` lists, merged.
#[derive(Debug, Clone)]
pub struct Compose {
    /// The files merged, in order (`COMPOSE_FILE`, or `compose.yml` by default).
    pub files: Vec<String>,
    /// Where `files` came from, for the `compose-files` line.
    pub from: &'static str,
    /// The merged compose, or every file that could not be read or parsed, in one message.
    pub merged: Result<Value, String>,
    /// `.env.sample`'s variables (for `${VAR}` without a default).
    pub env: Vec<(String, String)>,
}

impl Compose {
    /// One compose document as it stands (tests, and recipes without overlays).
    pub fn single(value: Value) -> Self {
        Compose { files: vec!["compose.yml".into()], from: "default", merged: Ok(merge_all([value])), env: vec![] }
    }

    /// Reads `COMPOSE_FILE` from `env_sample` and merges every file it lists under `dir`.
    pub fn load(dir: &Path, env_sample: Option<&str>) -> Self {
        let env = env_sample.map(parse_env).unwrap_or_default();
        let listed = env.iter().rev().find(|(k, _)| k == "COMPOSE_FILE").map(|(_, v)| v.clone());
        let (files, from): (Vec<String>, &'static str) = match listed {
            Some(v) if v.split(':').any(|f| !f.trim().is_empty()) => {
                (v.split(':').map(str::trim).filter(|f| !f.is_empty()).map(str::to_owned).collect(), "COMPOSE_FILE in .env.sample")
            }
            _ => (vec!["compose.yml".into()], "default: .env.sample sets no COMPOSE_FILE"),
        };
        let mut docs = vec![];
        let mut problems = vec![];
        for file in &files {
            match std::fs::read_to_string(dir.join(file)) {
                Ok(text) => match serde_yaml::from_str::<Value>(&text).map_err(|e| e.to_string()).and_then(|mut v| {
                    v.apply_merge().map_err(|e| e.to_string())?;
                    Ok(v)
                }) {
                    Ok(v) => docs.push(v),
                    Err(e) => problems.push(format!("{file} is not YAML: {e}")),
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => problems.push(format!("{file} is missing ({from} lists it)")),
                Err(e) => problems.push(format!("cannot read {file}: {e}")),
            }
        }
        let merged = if problems.is_empty() { Ok(merge_all(docs)) } else { Err(problems.join("; ")) };
        Compose { files, from, merged, env }
    }

    fn var(&self, name: &str) -> Option<&str> {
        self.env.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// `.env.sample`'s uncommented `KEY=value` lines in order: `export ` dropped, quotes removed, an
/// unquoted value's ` # comment` cut, and `$VAR` / `${VAR}` expanded from the lines before (unset
/// is empty, as abra's dotenv reads it), so `COMPOSE_FILE="$COMPOSE_FILE:compose.x.yml"` appends.
pub fn parse_env(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = vec![];
    for line in text.lines() {
        let l = line.trim();
        let l = l.strip_prefix("export ").unwrap_or(l).trim_start();
        if l.starts_with('#') {
            continue;
        }
        let Some((key, raw)) = l.split_once('=') else { continue };
        let key = key.trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let raw = raw.trim();
        let (value, expand) = if let Some(q) = raw.strip_prefix('\'') {
            (q.split('\'').next().unwrap_or_default().to_owned(), false)
        } else if let Some(q) = raw.strip_prefix('"') {
            (q.split('"').next().unwrap_or_default().to_owned(), true)
        } else {
            let cut = raw.find(" #").map_or(raw, |at| &raw[..at]);
            (cut.trim().to_owned(), true)
        };
        let value = if expand { expand_env(&value, &out) } else { value };
        out.push((key.to_owned(), value));
    }
    out
}

fn expand_env(value: &str, known: &[(String, String)]) -> String {
    let lookup = |name: &str| known.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
    let mut out = String::new();
    let mut rest = value;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, tail) = if let Some(inner) = after.strip_prefix('{') {
            match inner.find('}') {
                Some(end) => (&inner[..end], &inner[end + 1..]),
                None => ("", after),
            }
        } else {
            let len = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
            (&after[..len], &after[len..])
        };
        if name.is_empty() {
            out.push('$');
        } else {
            out.push_str(&lookup(name));
        }
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// Merges compose documents in order, as `docker stack config` does for what the checks read:
/// services by name (scalars such as `image` override, `labels`, `deploy.labels` and
/// `environment` merge as maps whether written as `k=v` lists or maps, `healthcheck` fields
/// override, port/volume/secret/config/network lists add up), and the top-level `volumes`,
/// `secrets`, `configs` and `networks` by name.
pub fn merge_all(docs: impl IntoIterator<Item = Value>) -> Value {
    let mut merged = Value::Mapping(Default::default());
    for doc in docs {
        merge_into(&mut merged, normalise(doc, &[]), &[]);
    }
    merged
}

/// Keys whose list form is a map in disguise (`- "k=v"`).
fn map_like(path: &[&str]) -> bool {
    matches!(path, ["services", _, "labels" | "environment"] | ["services", _, "deploy", "labels"])
}

/// Service keys whose lists add up across files rather than override.
fn list_adds(path: &[&str]) -> bool {
    matches!(
        path,
        ["services", _, "ports" | "volumes" | "secrets" | "configs" | "networks" | "depends_on" | "extra_hosts" | "expose" | "cap_add" | "cap_drop" | "devices" | "dns" | "tmpfs"]
    )
}

/// Rewrites list-form labels and environment into maps, recursively.
fn normalise(value: Value, path: &[&str]) -> Value {
    match value {
        Value::Sequence(items) if map_like(path) => {
            let mut map = serde_yaml::Mapping::new();
            for item in items.iter().filter_map(scalar) {
                match item.split_once('=') {
                    Some((k, v)) => map.insert(Value::String(k.trim().to_owned()), Value::String(v.trim().to_owned())),
                    None => map.insert(Value::String(item.trim().to_owned()), Value::Null),
                };
            }
            Value::Mapping(map)
        }
        Value::Mapping(map) => Value::Mapping(
            map.into_iter()
                .map(|(k, v)| {
                    let name = k.as_str().unwrap_or_default().to_owned();
                    let mut sub = path.to_vec();
                    sub.push(&name);
                    let v = normalise(v, &sub);
                    (k, v)
                })
                .collect(),
        ),
        other => other,
    }
}

fn merge_into(base: &mut Value, over: Value, path: &[&str]) {
    match (base, over) {
        (Value::Mapping(base), Value::Mapping(over)) => {
            for (k, v) in over {
                let name = k.as_str().unwrap_or_default().to_owned();
                let mut sub = path.to_vec();
                sub.push(&name);
                match base.get_mut(&k) {
                    Some(existing) => merge_into(existing, v, &sub),
                    None => {
                        base.insert(k, v);
                    }
                }
            }
        }
        (Value::Sequence(base), Value::Sequence(over)) if list_adds(path) => {
            for item in over {
                if !base.contains(&item) {
                    base.push(item);
                }
            }
        }
        (base, over) => *base = over,
    }
}

const UNREADABLE: &str = "not checked: the compose files could not be read (see compose-files)";
const NO_SERVICES: &str = "not checked: the compose files define no services (see app-service)";

/// Every check over the merged compose and `.env.sample`. One cause fails one check: the checks
/// that depend on what failed skip, naming the check that reports it.
pub fn checks(compose: &Compose, env_sample: Option<&str>, backup_capable: Option<bool>) -> Vec<Check> {
    let mut out = vec![compose_files(compose)];
    let var = |name: &str| compose.var(name).map(str::to_owned);
    match &compose.merged {
        Ok(merged) => {
            out.push(compose_version(merged));
            out.push(app_service(merged));
            out.push(healthchecks(merged));
            out.push(image_tags_with(merged, &var));
        }
        Err(_) => {
            for id in ["compose-version", "app-service", "healthchecks", "image-tags"] {
                out.push(skip(id, UNREADABLE));
            }
        }
    }
    out.push(env_sample_check(env_sample));
    match &compose.merged {
        Ok(merged) => {
            out.push(traefik_enable(merged));
            out.push(version_label(merged));
            out.push(backupbot_with(merged, backup_capable, &var));
        }
        Err(_) => {
            for id in ["traefik-enable", "version-label", "backupbot"] {
                out.push(skip(id, UNREADABLE));
            }
        }
    }
    out
}

/// Every file `COMPOSE_FILE` lists is there and parses.
pub fn compose_files(compose: &Compose) -> Check {
    const ID: &str = "compose-files";
    match &compose.merged {
        Ok(_) => pass(ID, format!("{} ({})", compose.files.join(" + "), compose.from)),
        Err(e) => fail(ID, e.clone()),
    }
}

pub(crate) fn services(compose: &Value) -> Vec<(String, &Value)> {
    compose
        .get("services")
        .and_then(Value::as_mapping)
        .map(|m| m.iter().map(|(k, v)| (k.as_str().unwrap_or("?").to_owned(), v)).collect())
        .unwrap_or_default()
}

/// A YAML scalar as text (`true`, `3.8` and `"x"` alike).
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Labels under `key` (`labels` or `deploy.labels`), list or map form, as (name, value).
pub(crate) fn labels_at(service: &Value, deploy: bool) -> Vec<(String, String)> {
    let holder = if deploy { service.get("deploy") } else { Some(service) };
    let Some(labels) = holder.and_then(|h| h.get("labels")) else { return vec![] };
    match labels {
        Value::Sequence(items) => items
            .iter()
            .filter_map(scalar)
            .map(|l| match l.split_once('=') {
                Some((k, v)) => (k.trim().to_owned(), v.trim().to_owned()),
                None => (l.trim().to_owned(), String::new()),
            })
            .collect(),
        Value::Mapping(map) => map
            .iter()
            .filter_map(|(k, v)| Some((scalar(k)?, scalar(v).unwrap_or_default())))
            .collect(),
        _ => vec![],
    }
}

pub fn compose_version(compose: &Value) -> Check {
    const ID: &str = "compose-version";
    match compose.get("version").and_then(scalar) {
        Some(v) if v == "3.8" => pass(ID, "version: \"3.8\""),
        Some(v) => fail(ID, format!("version is {v:?}, Co-op Cloud recipes use \"3.8\"")),
        None => fail(ID, "compose.yml has no `version:`; Co-op Cloud recipes declare version: \"3.8\""),
    }
}

pub fn app_service(compose: &Value) -> Check {
    const ID: &str = "app-service";
    let names: Vec<String> = services(compose).into_iter().map(|(n, _)| n).collect();
    if names.iter().any(|n| n == "app") {
        pass(ID, "service `app` present")
    } else if names.is_empty() {
        fail(ID, "compose.yml has no services")
    } else {
        fail(ID, format!("no service named `app` (services: {}); abra expects the main service to be `app`", names.join(", ")))
    }
}

pub fn healthchecks(compose: &Value) -> Check {
    const ID: &str = "healthchecks";
    let all = services(compose);
    if all.is_empty() {
        return skip(ID, NO_SERVICES);
    }
    let missing: Vec<String> = all
        .iter()
        .filter(|(_, s)| {
            let Some(hc) = s.get("healthcheck") else { return true };
            let disabled = hc.get("disable").and_then(Value::as_bool).unwrap_or(false);
            let test_none = hc.get("test").and_then(Value::as_sequence).and_then(|t| t.first()).and_then(Value::as_str) == Some("NONE");
            disabled || test_none || hc.get("test").is_none()
        })
        .map(|(n, _)| n.clone())
        .collect();
    if missing.is_empty() {
        pass(ID, format!("all {} service(s) have a healthcheck", all.len()))
    } else {
        fail(ID, format!("no healthcheck on: {}", missing.join(", ")))
    }
}

/// An image reference with each `${VAR:-default}` (or `${VAR-default}`) replaced by its
/// default, the value a deploy gets when the operator sets nothing; `Err` names a variable
/// that has no default (`${VAR}`, `$VAR`, `${VAR:?message}`).
pub fn resolve_defaults(text: &str) -> Result<String, String> {
    resolve(text, &|_| None)
}

/// [`resolve_defaults`], and `${VAR}` (or `${VAR:?message}`) takes `var(VAR)` when it has one
/// (`.env.sample`'s value); `$$` is a literal `$`.
pub fn resolve(text: &str, var: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
            continue;
        }
        let Some(inner) = after.strip_prefix('{') else {
            let name: String = after.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if let Some(value) = var(&name).filter(|_| !name.is_empty()) {
                out.push_str(&value);
                rest = &after[name.len()..];
                continue;
            }
            return Err(if name.is_empty() { "a stray `$`".into() } else { format!("${name} has no default") });
        };
        // The matching brace, allowing a nested `${...}` in the default.
        let mut depth = 1;
        let end = inner
            .char_indices()
            .find(|&(_, c)| {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                depth == 0
            })
            .map(|(i, _)| i)
            .ok_or_else(|| format!("unclosed `${{` in {text}"))?;
        let expr = &inner[..end];
        let name_len = expr.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(expr.len());
        let (name, op) = expr.split_at(name_len);
        let default = op.strip_prefix(":-").or_else(|| op.strip_prefix('-'));
        match (default, var(name)) {
            (Some(default), _) => out.push_str(&resolve(default, var)?),
            (None, Some(value)) if op.is_empty() || op.starts_with(":?") || op.starts_with('?') => out.push_str(&value),
            (None, _) => return Err(format!("${{{name}}} has no default")),
        }
        rest = &inner[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Why an image reference is not pinned, if it is not. Variables count by their default:
/// `app:${VERSION:-1.0.6}` is pinned, `${IMAGE:-app:latest}` is not.
pub fn unpinned(image: &str) -> Option<String> {
    unpinned_with(image, &|_| None)
}

/// [`unpinned`], with `.env.sample`'s values for `${VAR}`s that have no default.
pub fn unpinned_with(image: &str, var: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let resolved = match resolve(image, var) {
        Ok(resolved) => resolved,
        Err(why) => return Some(format!("{image}: the image comes from a variable ({why})")),
    };
    let shown = if resolved == image { image.to_owned() } else { format!("{image} (by default {resolved})") };
    if resolved.contains('@') {
        return None; // a digest pins it
    }
    let last = resolved.rsplit('/').next().unwrap_or(&resolved);
    match last.split_once(':') {
        None => Some(format!("{shown} has no tag (means latest)")),
        Some((_, "latest")) => Some(format!("{shown} uses the `latest` tag")),
        Some((_, "")) => Some(format!("{shown} has an empty tag")),
        Some(_) => None,
    }
}

pub fn image_tags(compose: &Value) -> Check {
    image_tags_with(compose, &|_| None)
}

/// `image-tags` with `var` giving `.env.sample`'s value of a `${VAR}` that has no default.
pub fn image_tags_with(compose: &Value, var: &dyn Fn(&str) -> Option<String>) -> Check {
    const ID: &str = "image-tags";
    let all = services(compose);
    if all.is_empty() {
        return skip(ID, NO_SERVICES);
    }
    let mut problems = vec![];
    let mut pinned = vec![];
    for (name, service) in &all {
        match service.get("image").and_then(scalar) {
            Some(image) => match unpinned_with(&image, var) {
                Some(p) => problems.push(format!("{name}: {p}")),
                None => pinned.push(format!("{name} {}", resolve(&image, var).unwrap_or(image))),
            },
            None => problems.push(format!("{name}: no image")),
        }
    }
    if problems.is_empty() {
        pass(ID, format!("all {} image(s) pinned: {}", all.len(), pinned.join(", ")))
    } else {
        fail(ID, problems.join("; "))
    }
}

pub fn env_sample_check(env_sample: Option<&str>) -> Check {
    const ID: &str = "env-sample";
    let Some(text) = env_sample else { return fail(ID, ".env.sample is missing") };
    let set = |key: &str| {
        text.lines().map(str::trim).filter(|l| !l.starts_with('#')).any(|l| {
            let l = l.strip_prefix("export ").unwrap_or(l);
            l.split_once('=').is_some_and(|(k, v)| k.trim() == key && !v.trim().is_empty())
        })
    };
    let missing: Vec<&str> = ["TYPE", "DOMAIN"].into_iter().filter(|k| !set(k)).collect();
    if missing.is_empty() {
        pass(ID, ".env.sample sets TYPE and DOMAIN")
    } else {
        fail(ID, format!(".env.sample does not set {}", missing.join(" or ")))
    }
}

pub fn traefik_enable(compose: &Value) -> Check {
    const ID: &str = "traefik-enable";
    let Some(app) = compose.get("services").and_then(|s| s.get("app")) else {
        return skip(ID, "not checked: no `app` service to route (see app-service)");
    };
    let on = |labels: Vec<(String, String)>| labels.iter().any(|(k, v)| k == "traefik.enable" && v == "true");
    if on(labels_at(app, true)) {
        pass(ID, "app has traefik.enable=true")
    } else if on(labels_at(app, false)) {
        fail(ID, "traefik.enable=true is under `labels:` (container labels); in Swarm mode Traefik reads `deploy.labels`")
    } else {
        fail(ID, "app's deploy.labels lack traefik.enable=true: Traefik will not route to it")
    }
}

pub fn version_label(compose: &Value) -> Check {
    const ID: &str = "version-label";
    const KEY: &str = "coop-cloud.${STACK_NAME}.version";
    let found = services(compose).into_iter().find_map(|(name, s)| {
        labels_at(s, true).into_iter().find(|(k, _)| k == KEY).map(|(_, v)| (name, v))
    });
    match found {
        Some((name, v)) if !v.is_empty() => pass(ID, format!("{name}: {KEY}={v}")),
        Some((name, _)) => fail(ID, format!("{name}: {KEY} is empty")),
        None => {
            let old = services(compose).into_iter().find_map(|(name, s)| {
                labels_at(s, true)
                    .into_iter()
                    .find(|(k, _)| k.starts_with("coop-cloud.") && k.ends_with(".version"))
                    .map(|(k, _)| format!(" ({name} has `{k}`, not the key abra reads)"))
            });
            fail(ID, format!("no `{KEY}` deploy label: abra cannot tell which version is deployed{}", old.unwrap_or_default()))
        }
    }
}

pub fn backupbot(compose: &Value, backup_capable: Option<bool>) -> Check {
    backupbot_with(compose, backup_capable, &|_| None)
}

/// `backupbot`, reading `backupbot.backup=${ENABLE_BACKUPS:-true}` by its default (or
/// `.env.sample`'s value of a variable without one). Every labelled service is named.
pub fn backupbot_with(compose: &Value, backup_capable: Option<bool>, var: &dyn Fn(&str) -> Option<String>) -> Check {
    const ID: &str = "backupbot";
    let Some(capable) = backup_capable else {
        return skip(ID, "no recipe crate known for this checkout: its recipe.toml would say whether it is backup-capable");
    };
    if !capable {
        return skip(ID, "recipe.toml: [backup] capable = false");
    }
    let labelled: Vec<(String, String, String)> = services(compose)
        .into_iter()
        .filter_map(|(name, s)| {
            let (_, raw) = labels_at(s, true).into_iter().find(|(k, _)| k == "backupbot.backup")?;
            let value = resolve(&raw, var).unwrap_or_else(|_| raw.clone());
            Some((name, raw, value))
        })
        .collect();
    let shown = |(name, raw, value): &(String, String, String)| {
        if raw == value { format!("{name}: backupbot.backup={raw}") } else { format!("{name}: backupbot.backup={raw} ({value} by default)") }
    };
    let on: Vec<String> = labelled.iter().filter(|(_, _, v)| v != "false" && !v.is_empty()).map(shown).collect();
    if !on.is_empty() {
        pass(ID, on.join(", "))
    } else if !labelled.is_empty() {
        let off: Vec<String> = labelled.iter().map(shown).collect();
        fail(ID, format!("{} turns backups off, but recipe.toml says backup-capable", off.join(", ")))
    } else {
        fail(ID, "recipe.toml says [backup] capable = true, but no service has a backupbot.backup deploy label")
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    fn yaml(text: &str) -> Value {
        serde_yaml::from_str(text).unwrap()
    }

    /// The shape of a real Co-op Cloud recipe (the custom-html fixture, trimmed).
    const GOOD: &str = r#"
version: "3.8"
services:
  app:
    image: nginx:1.22.1
    healthcheck:
      test: ["CMD", "curl", "-f", "http://localhost"]
    deploy:
      labels:
        - "traefik.enable=true"
        - "coop-cloud.${STACK_NAME}.version=1.0.0+1.22.1"
        - "backupbot.backup=${ENABLE_BACKUPS:-true}"
"#;

    #[rstest]
    #[case::quoted("version: \"3.8\"", CheckStatus::Pass)]
    #[case::number("version: 3.8", CheckStatus::Pass)]
    #[case::old("version: \"3.7\"", CheckStatus::Fail)]
    #[case::three("version: \"3\"", CheckStatus::Fail)]
    #[case::absent("services: {}", CheckStatus::Fail)]
    fn compose_version_must_be_3_8(#[case] text: &str, #[case] expected: CheckStatus) {
        assert_eq!(compose_version(&yaml(text)).status, expected, "{text}");
    }

    #[rstest]
    #[case::present("services: {app: {image: a:1}, db: {image: b:2}}", CheckStatus::Pass)]
    #[case::named_otherwise("services: {web: {image: a:1}}", CheckStatus::Fail)]
    #[case::no_services("version: \"3.8\"", CheckStatus::Fail)]
    fn a_service_must_be_called_app(#[case] text: &str, #[case] expected: CheckStatus) {
        assert_eq!(app_service(&yaml(text)).status, expected, "{text}");
    }

    #[rstest]
    #[case::all("services: {app: {healthcheck: {test: [CMD, 'true']}}, db: {healthcheck: {test: 'pg_isready'}}}", CheckStatus::Pass, "")]
    #[case::one_missing("services: {app: {healthcheck: {test: [CMD, 'true']}}, db: {image: x:1}}", CheckStatus::Fail, "db")]
    #[case::disabled("services: {app: {healthcheck: {disable: true}}}", CheckStatus::Fail, "app")]
    #[case::none_test("services: {app: {healthcheck: {test: [NONE]}}}", CheckStatus::Fail, "app")]
    #[case::no_test("services: {app: {healthcheck: {interval: 5s}}}", CheckStatus::Fail, "app")]
    fn every_service_needs_a_healthcheck(#[case] text: &str, #[case] expected: CheckStatus, #[case] names: &str) {
        let check = healthchecks(&yaml(text));
        assert_eq!(check.status, expected, "{text}: {}", check.message);
        assert!(check.message.contains(names), "{}", check.message);
    }

    #[rstest]
    #[case::tag("nginx:1.22.1", None)]
    #[case::registry_port("registry.local:5000/team/app:2.1", None)]
    #[case::digest("nginx@sha256:0123abcd", None)]
    #[case::tag_and_digest("nginx:1.22@sha256:0123abcd", None)]
    #[case::no_tag("nginx", Some("has no tag"))]
    #[case::registry_port_no_tag("registry.local:5000/team/app", Some("has no tag"))]
    #[case::latest("nginx:latest", Some("`latest`"))]
    #[case::variable("nginx:${NGINX_VERSION}", Some("${NGINX_VERSION} has no default"))]
    #[case::bare_variable("nginx:$NGINX_VERSION", Some("$NGINX_VERSION has no default"))]
    #[case::required_variable("nginx:${NGINX_VERSION:?set it}", Some("variable"))]
    // Real recipes (bonfire): a pinned default is what a deploy gets when nothing is set.
    #[case::pinned_default("bonfire/app:${APP_VERSION:-1.0.6}", None)]
    #[case::pinned_default_no_colon("bonfire/app:${APP_VERSION-1.0.6}", None)]
    #[case::whole_image_default("${IMAGE:-nginx:1.22.1}", None)]
    #[case::nested_default("${IMAGE:-nginx:${TAG:-1.22.1}}", None)]
    #[case::latest_default("${IMAGE:-x:latest}", Some("(by default x:latest) uses the `latest` tag"))]
    #[case::latest_tag_default("nginx:${TAG:-latest}", Some("`latest`"))]
    #[case::untagged_default("${IMAGE:-nginx}", Some("has no tag"))]
    fn images_are_pinned_to_a_literal_tag(#[case] image: &str, #[case] problem: Option<&str>) {
        let found = unpinned(image);
        match problem {
            None => assert_eq!(found, None, "{image}"),
            Some(p) => assert!(found.as_deref().is_some_and(|f| f.contains(p)), "{image}: {found:?}"),
        }
    }

    #[rstest]
    #[case::pinned("services: {app: {image: a:1}, db: {image: 'postgres:16'}}", CheckStatus::Pass)]
    #[case::one_latest("services: {app: {image: a:1}, db: {image: 'postgres:latest'}}", CheckStatus::Fail)]
    #[case::build_only("services: {app: {build: .}}", CheckStatus::Fail)]
    fn every_service_image_is_checked(#[case] text: &str, #[case] expected: CheckStatus) {
        assert_eq!(image_tags(&yaml(text)).status, expected, "{text}");
    }

    #[rstest]
    #[case::both(Some("TYPE=custom-html\nDOMAIN=x.example.com\n"), CheckStatus::Pass)]
    #[case::exported(Some("export TYPE=x\nexport DOMAIN=y\n"), CheckStatus::Pass)]
    #[case::commented_domain(Some("TYPE=x\n#DOMAIN=y\n"), CheckStatus::Fail)]
    #[case::empty_type(Some("TYPE=\nDOMAIN=y\n"), CheckStatus::Fail)]
    #[case::missing_file(None, CheckStatus::Fail)]
    fn env_sample_sets_type_and_domain(#[case] text: Option<&str>, #[case] expected: CheckStatus) {
        assert_eq!(env_sample_check(text).status, expected, "{text:?}");
    }

    #[rstest]
    #[case::list("services: {app: {deploy: {labels: ['traefik.enable=true']}}}", CheckStatus::Pass)]
    #[case::map_bool("services: {app: {deploy: {labels: {traefik.enable: true}}}}", CheckStatus::Pass)]
    #[case::map_string("services: {app: {deploy: {labels: {traefik.enable: 'true'}}}}", CheckStatus::Pass)]
    #[case::off("services: {app: {deploy: {labels: ['traefik.enable=false']}}}", CheckStatus::Fail)]
    #[case::container_labels("services: {app: {labels: ['traefik.enable=true']}}", CheckStatus::Fail)]
    #[case::on_another_service("services: {app: {image: a:1}, web: {deploy: {labels: ['traefik.enable=true']}}}", CheckStatus::Fail)]
    #[case::no_app_is_app_services_failure("services: {web: {deploy: {labels: ['traefik.enable=true']}}}", CheckStatus::Skip)]
    fn traefik_is_enabled_on_app_deploy_labels(#[case] text: &str, #[case] expected: CheckStatus) {
        assert_eq!(traefik_enable(&yaml(text)).status, expected, "{text}");
    }

    #[rstest]
    #[case::present("services: {app: {deploy: {labels: ['coop-cloud.${STACK_NAME}.version=1.0.0+1.2']}}}", CheckStatus::Pass)]
    #[case::empty("services: {app: {deploy: {labels: ['coop-cloud.${STACK_NAME}.version=']}}}", CheckStatus::Fail)]
    #[case::hardcoded_stack("services: {app: {deploy: {labels: ['coop-cloud.myapp.version=1.0.0']}}}", CheckStatus::Fail)]
    #[case::absent("services: {app: {deploy: {labels: ['traefik.enable=true']}}}", CheckStatus::Fail)]
    fn a_version_label_names_the_stack(#[case] text: &str, #[case] expected: CheckStatus) {
        assert_eq!(version_label(&yaml(text)).status, expected, "{text}");
    }

    #[rstest]
    #[case::capable_labelled("services: {app: {deploy: {labels: ['backupbot.backup=true']}}}", Some(true), CheckStatus::Pass)]
    #[case::capable_variable("services: {app: {deploy: {labels: ['backupbot.backup=${ENABLE_BACKUPS:-true}']}}}", Some(true), CheckStatus::Pass)]
    #[case::capable_unlabelled("services: {app: {image: a:1}}", Some(true), CheckStatus::Fail)]
    #[case::capable_switched_off("services: {app: {deploy: {labels: ['backupbot.backup=false']}}}", Some(true), CheckStatus::Fail)]
    #[case::db_labelled("services: {app: {image: a:1}, db: {deploy: {labels: {backupbot.backup: 'true'}}}}", Some(true), CheckStatus::Pass)]
    #[case::not_capable("services: {app: {image: a:1}}", Some(false), CheckStatus::Skip)]
    #[case::unknown_recipe("services: {app: {image: a:1}}", None, CheckStatus::Skip)]
    fn backup_capable_recipes_carry_backupbot_labels(#[case] text: &str, #[case] capable: Option<bool>, #[case] expected: CheckStatus) {
        let check = backupbot(&yaml(text), capable);
        assert_eq!(check.status, expected, "{text}: {}", check.message);
        assert!(!check.message.is_empty(), "a skip says why");
    }

    #[test]
    fn a_conventional_recipe_passes_every_check() {
        let checks = checks(&Compose::single(yaml(GOOD)), Some("TYPE=x\nDOMAIN=x.example.com\n"), Some(true));
        assert_eq!(checks.len(), 9);
        let failed: Vec<&Check> = checks.iter().filter(|c| c.status != CheckStatus::Pass).collect();
        assert!(failed.is_empty(), "{failed:?}");
    }

    #[test]
    fn an_unreadable_compose_is_one_failure_and_the_other_compose_checks_say_why_they_skipped() {
        let compose = Compose { merged: Err("compose.yml is missing".into()), ..Compose::single(Value::Null) };
        let checks = checks(&compose, Some("TYPE=x\nDOMAIN=y\n"), Some(true));
        let failed: Vec<&Check> = checks.iter().filter(|c| c.status == CheckStatus::Fail).collect();
        assert_eq!(failed.len(), 1, "{checks:?}");
        assert_eq!((failed[0].id, failed[0].message.as_str()), ("compose-files", "compose.yml is missing"));
        assert_eq!(checks.iter().filter(|c| c.status == CheckStatus::Skip && c.message.contains("see compose-files")).count(), 7);
        assert_eq!(checks.iter().find(|c| c.id == "env-sample").unwrap().status, CheckStatus::Pass);
    }

    #[test]
    fn no_services_fails_app_service_once_and_the_service_checks_skip() {
        let checks = checks(&Compose::single(yaml("version: \"3.8\"")), Some("TYPE=x\nDOMAIN=y\n"), Some(false));
        let failed: Vec<&str> = checks.iter().filter(|c| c.status == CheckStatus::Fail).map(|c| c.id).collect();
        assert_eq!(failed, ["app-service", "version-label"], "{checks:?}");
        for id in ["healthchecks", "image-tags", "traefik-enable"] {
            let c = checks.iter().find(|c| c.id == id).unwrap();
            assert_eq!(c.status, CheckStatus::Skip, "{c:?}");
            assert!(c.message.contains("see app-service"), "{c:?}");
        }
    }

    #[rstest]
    #[case::absent("TYPE=x\n", &["compose.yml"])]
    #[case::plain("COMPOSE_FILE=compose.yml:compose.db.yml\n", &["compose.yml", "compose.db.yml"])]
    #[case::quoted("COMPOSE_FILE=\"compose.yml:compose.db.yml\"\n", &["compose.yml", "compose.db.yml"])]
    #[case::commented_out("#COMPOSE_FILE=\"compose.yml:compose.db.yml\"\n", &["compose.yml"])]
    #[case::uncommented_wins("# COMPOSE_FILE=\"compose.yml:compose.a.yml\"\nCOMPOSE_FILE=\"compose.yml:compose.b.yml\"\n", &["compose.yml", "compose.b.yml"])]
    #[case::appended("COMPOSE_FILE=\"compose.yml\"\nCOMPOSE_FILE=\"$COMPOSE_FILE:compose.db.yml\"\n#COMPOSE_FILE=\"$COMPOSE_FILE:compose.x.yml\"\n", &["compose.yml", "compose.db.yml"])]
    #[case::exported("export COMPOSE_FILE='compose.yml:compose.db.yml'\n", &["compose.yml", "compose.db.yml"])]
    fn compose_file_is_read_from_env_sample(#[case] env: &str, #[case] files: &[&str]) {
        let compose = Compose::load(Path::new("/nonexistent"), Some(env));
        assert_eq!(compose.files, files, "{env}");
    }

    #[test]
    fn env_sample_values_drop_quotes_and_inline_comments() {
        let env = parse_env("A=v1 # length=128\nB=\"x # y\"\n# C=no\nexport D=${A}-d\n");
        assert_eq!(env, [("A".into(), "v1".into()), ("B".into(), "x # y".into()), ("D".into(), "v1-d".into())]);
    }

    #[test]
    fn an_overlay_image_wins_and_other_keys_survive() {
        let merged = merge_all([
            yaml("services: {app: {image: 'a:1', healthcheck: {test: [CMD, 'true'], interval: 5s}}}"),
            yaml("services: {app: {image: 'a:2', healthcheck: {test: [CMD, curl]}}, db: {image: 'pg:16'}}"),
        ]);
        let app = &merged["services"]["app"];
        assert_eq!(app["image"], yaml("a:2"));
        assert_eq!(app["healthcheck"]["test"], yaml("[CMD, curl]"), "the overlay's test replaces, not appends");
        assert_eq!(app["healthcheck"]["interval"], yaml("5s"));
        assert_eq!(merged["services"]["db"]["image"], yaml("pg:16"));
    }

    #[test]
    fn labels_and_environment_merge_across_list_and_map_forms() {
        let merged = merge_all([
            yaml("services: {app: {deploy: {labels: ['traefik.enable=true', 'backupbot.backup=false']}, environment: ['A=1', 'B']}}"),
            yaml("services: {app: {deploy: {labels: {backupbot.backup: 'true', x.y: 1}}, environment: {C: 3}}}"),
        ]);
        let app = &merged["services"]["app"];
        let labels: Vec<(String, String)> = labels_at(app, true);
        assert_eq!(labels, [("traefik.enable".into(), "true".into()), ("backupbot.backup".into(), "true".into()), ("x.y".into(), "1".into())]);
        assert_eq!(app["environment"], yaml("{A: '1', B: null, C: 3}"));
    }

    #[test]
    fn top_level_definitions_merge_by_name_and_lists_add_up() {
        let merged = merge_all([
            yaml("services: {app: {secrets: [a]}}\nsecrets: {a: {external: true}}\nvolumes: {data: {}}"),
            yaml("services: {app: {secrets: [b, a]}}\nsecrets: {b: {external: true}}\nnetworks: {internal: {}}"),
        ]);
        assert_eq!(merged["services"]["app"]["secrets"], yaml("[a, b]"));
        for (key, name) in [("secrets", "a"), ("secrets", "b"), ("volumes", "data"), ("networks", "internal")] {
            assert!(merged[key].get(name).is_some(), "{key}.{name}: {merged:?}");
        }
    }

    #[test]
    fn a_missing_overlay_is_one_compose_files_failure_naming_it() {
        let dir = std::env::temp_dir().join(format!("ccci-lint-overlay-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("compose.yml"), GOOD).unwrap();
        let env = "TYPE=x\nDOMAIN=y\nCOMPOSE_FILE=\"compose.yml:compose.gone.yml\"\n";
        std::fs::write(dir.join(".env.sample"), env).unwrap();
        let report = lint_dir(&dir, Some(true));
        let _ = std::fs::remove_dir_all(&dir);
        let failed: Vec<&Check> = report.checks.iter().filter(|c| c.status == CheckStatus::Fail).collect();
        assert_eq!(failed.len(), 1, "{}", report.table());
        assert_eq!(failed[0].id, "compose-files");
        assert!(failed[0].message.contains("compose.gone.yml is missing"), "{}", failed[0].message);
    }

    #[rstest]
    #[case::from_env_sample("app:${TAG}", &[("TAG", "1.2")], None)]
    #[case::unset("app:${TAG}", &[], Some("${TAG} has no default"))]
    #[case::default_beats_env_sample("app:${TAG:-latest}", &[("TAG", "1.2")], Some("`latest`"))]
    fn a_variable_without_default_takes_the_env_sample_value(#[case] image: &str, #[case] env: &[(&str, &str)], #[case] problem: Option<&str>) {
        let var = |n: &str| env.iter().find(|(k, _)| *k == n).map(|(_, v)| (*v).to_owned());
        let found = unpinned_with(image, &var);
        match problem {
            None => assert_eq!(found, None, "{image}"),
            Some(p) => assert!(found.as_deref().is_some_and(|f| f.contains(p)), "{image}: {found:?}"),
        }
    }

    #[rstest]
    #[case::mapped("| test | x | here |\n|---|---|---|\n| `health_check` | answers | `install::a` |\n", CheckStatus::Pass)]
    #[case::only_in_a_comment("| test | x | here |\n<!--\n| `health_check` | answers | `install::a` |\n-->\n", CheckStatus::Fail)]
    #[case::only_in_prose("The `health_check` is not mapped yet.\n", CheckStatus::Fail)]
    #[case::in_another_column("| `oidc_login` | health_check | x |\n", CheckStatus::Fail)]
    fn parity_maps_health_check_in_a_table_row(#[case] text: &str, #[case] expected: CheckStatus) {
        assert_eq!(parity(Some(text)).status, expected, "{text}");
        assert_eq!(parity(None).status, CheckStatus::Fail);
    }

    /// Every crate under recipes/ (a new recipe is linted here without an edit).
    #[test]
    fn the_recipe_crates_and_their_fixtures_are_lint_clean() {
        let recipes = Path::new(env!("CARGO_MANIFEST_DIR")).join("../recipes");
        let mut dirs: Vec<_> = std::fs::read_dir(&recipes).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
        dirs.sort();
        assert!(dirs.len() >= 2, "recipes/ holds the recipe crates: {dirs:?}");
        for dir in dirs {
            assert!(is_recipe_crate(&dir), "{} is not a recipe crate", dir.display());
            let report = lint_crate(&dir);
            assert!(report.passed(), "{}:\n{}", dir.display(), report.table());
            let ids: Vec<&str> = report.checks.iter().map(|c| c.id).collect();
            assert_eq!(ids[..3], ["recipe-toml", "parity", "test-modules"]);
            assert!(ids.contains(&"image-tags") && ids.contains(&"backupbot"), "{}: the fixture head is linted: {ids:?}", dir.display());
        }
    }

    #[test]
    fn the_testbed_fixture_head_is_lint_clean() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testbed/recipes/custom-html/head");
        let report = lint_dir(&dir, Some(true));
        assert!(report.passed(), "{}", report.table());
    }
}
