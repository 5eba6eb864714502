//! The mutants: the generic catalogue, which applies to any recipe by reading its compose
//! files and labels, and a recipe's own (`recipes/<name>/mutants/*.toml`).
//!
//! A mutant is a small, realistic breakage of the recipe's head and the test stages (test
//! modules) that must notice it. Applying one edits a scratch checkout's working tree; the
//! generic ones edit compose files line by line ([`super::compose_text`]) and then re-read the
//! merged compose to prove the edit took effect: a mutant that cannot be applied as it claims
//! is "n/a" with the reason, never run as a no-op that then "survives".

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Deserialize;
use serde_yaml::Value;

use super::compose_text::{ComposeText, Edits, Node};
use crate::lint::{self, Compose};

const VERSION_LABEL: &str = "coop-cloud.${STACK_NAME}.version";
/// Where `backup-path-wrong` points a volume's backup: a path no volume holds.
pub const WRONG_BACKUP_PATH: &str = "ccci-mutant/not-there";

/// One mutant of the catalogue, generic or the recipe's own.
#[derive(Debug, Clone)]
pub struct Mutant {
    pub id: String,
    pub about: String,
    /// The test modules that must fail on it (`install`, `upgrade`, `backup`, ...).
    pub stages: Vec<String>,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Generic(fn(&Recipe<'_>) -> Applied),
    Own { file: PathBuf, edits: Vec<TextEdit> },
}

/// What applying a mutant to a checkout gives: the files to write, or why it does not apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    Files(Vec<(String, String)>),
    NotApplicable(String),
}

/// The recipe checkout a mutant applies to, with what the generic mutants read.
pub struct Recipe<'a> {
    pub head: &'a Path,
    pub compose: Compose,
    /// The previous release's merged compose, when there is one.
    pub previous: Option<(String, Value)>,
    pub toml: &'a harness::ops::RecipeToml,
}

impl<'a> Recipe<'a> {
    /// Reads `head` (and the previous release exported at `previous`, when given).
    pub fn read(head: &'a Path, previous: Option<(String, &Path)>, toml: &'a harness::ops::RecipeToml) -> anyhow::Result<Recipe<'a>> {
        let env_sample = |dir: &Path| std::fs::read_to_string(dir.join(".env.sample")).ok();
        let compose = Compose::load(head, env_sample(head).as_deref());
        if let Err(e) = &compose.merged {
            anyhow::bail!("the recipe's compose files cannot be read: {e}");
        }
        let previous = match previous {
            Some((tag, dir)) => match Compose::load(dir, env_sample(dir).as_deref()).merged {
                Ok(merged) => Some((tag, merged)),
                Err(e) => anyhow::bail!("release {tag}'s compose files cannot be read: {e}"),
            },
            None => None,
        };
        Ok(Recipe { head, compose, previous, toml })
    }

    fn merged(&self) -> &Value {
        self.compose.merged.as_ref().expect("checked in read")
    }

    /// The service that serves the app: `traefik.enable=true`, else the first.
    fn app_service(&self) -> Option<String> {
        let services = lint::services(self.merged());
        services
            .iter()
            .find(|(_, s)| lint::labels_at(s, true).iter().any(|(k, v)| k == "traefik.enable" && v == "true"))
            .or(services.first())
            .map(|(n, _)| n.clone())
    }

    /// Edits every compose file with `edit` (file text, its name); returns the changed files.
    fn edit_files(&self, edit: impl Fn(&ComposeText, &mut Edits)) -> anyhow::Result<Vec<(String, String)>> {
        let mut out = vec![];
        for file in &self.compose.files {
            let path = self.head.join(file);
            let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            let compose = ComposeText::parse(&text);
            let mut edits = Edits::default();
            edit(&compose, &mut edits);
            if !edits.is_empty() {
                out.push((file.clone(), compose.apply(edits).render()));
            }
        }
        Ok(out)
    }

    /// The merged compose the head would have with `files` written.
    fn merged_with(&self, files: &[(String, String)]) -> Result<Value, String> {
        let mut docs = vec![];
        for file in &self.compose.files {
            let text = match files.iter().find(|(f, _)| f == file) {
                Some((_, text)) => text.clone(),
                None => std::fs::read_to_string(self.head.join(file)).map_err(|e| format!("{file}: {e}"))?,
            };
            let mut doc: Value = serde_yaml::from_str(&text).map_err(|e| format!("{file} is no longer YAML: {e}"))?;
            doc.apply_merge().map_err(|e| e.to_string())?;
            docs.push(doc);
        }
        Ok(lint::merge_all(docs))
    }

    /// `files`, if the merged compose they make satisfies `holds`; else why the mutant does
    /// not apply.
    fn checked(&self, files: anyhow::Result<Vec<(String, String)>>, holds: impl Fn(&Value) -> bool) -> Applied {
        let files = match files {
            Ok(files) if files.is_empty() => return Applied::NotApplicable("no compose file has what it changes".into()),
            Ok(files) => files,
            Err(e) => return Applied::NotApplicable(format!("{e:#}")),
        };
        match self.merged_with(&files) {
            Ok(merged) if emptied(&merged).is_some() => {
                Applied::NotApplicable(format!("the edit would leave `{}` without a value", emptied(&merged).unwrap_or_default()))
            }
            Ok(merged) if holds(&merged) => Applied::Files(files),
            Ok(_) => Applied::NotApplicable("the edit does not show in the merged compose (a layout the line editor does not follow, e.g. flow style)".into()),
            Err(e) => Applied::NotApplicable(e),
        }
    }
}

/// A service key the compose schema wants a collection for, left null by an edit.
fn emptied(merged: &Value) -> Option<String> {
    for (name, s) in lint::services(merged) {
        for key in ["volumes", "secrets", "configs", "environment", "networks", "labels", "healthcheck", "deploy"] {
            if s.get(key).is_some_and(Value::is_null) {
                return Some(format!("services.{name}.{key}"));
            }
        }
        if s.get("deploy").and_then(|d| d.get("labels")).is_some_and(Value::is_null) {
            return Some(format!("services.{name}.deploy.labels"));
        }
    }
    None
}

/// The nodes `path` names below a service (`["deploy", "labels"]`).
fn at(c: &ComposeText, service: &Node, path: &[&str]) -> Option<Node> {
    let mut node = service.clone();
    for key in path {
        node = c.child(node.body.clone(), key)?;
    }
    Some(node)
}

fn deploy_labels(service: &Value) -> Vec<(String, String)> {
    lint::labels_at(service, true)
}

fn service_of<'v>(merged: &'v Value, name: &str) -> Option<&'v Value> {
    merged.get("services")?.get(name)
}

/// Every generic mutant, in the order they run.
pub fn generic() -> Vec<Mutant> {
    let m = |id: &str, about: &str, stages: &[&str], apply: fn(&Recipe<'_>) -> Applied| Mutant {
        id: id.into(),
        about: about.into(),
        stages: stages.iter().map(|s| (*s).to_owned()).collect(),
        kind: Kind::Generic(apply),
    };
    vec![
        m("head-image-repinned", "the head's images re-pinned to the previous release's (an overlay or a bad merge)", &["upgrade"], image_repinned),
        m("version-label-not-bumped", "the head's version label left at the previous release's", &["upgrade"], version_not_bumped),
        m("backup-labels-removed", "every backupbot.* label removed", &["backup"], backup_labels_removed),
        m("backup-path-wrong", "each backed-up volume's backup path pointed at a path that holds nothing", &["backup"], backup_path_wrong),
        m("backup-pre-hook-noop", "the backup pre-hook made a no-op (`true`)", &["backup"], pre_hook_noop),
        m("volume-dropped", "named volumes unmounted: the data lives in the container and dies with it", &["backup", "upgrade"], volume_dropped),
        m("healthcheck-never-passes", "the app's healthcheck fails every probe", &["install"], healthcheck_never_passes),
        m("secret-not-mounted", "the app service mounts none of its secrets", &["install"], secret_not_mounted),
        m("oidc-secret-dropped", "the environment entry carrying the OIDC client secret dropped", &["sso", "browser"], oidc_secret_dropped),
    ]
}

fn image_repinned(r: &Recipe<'_>) -> Applied {
    let Some((tag, previous)) = &r.previous else { return Applied::NotApplicable("no previous release to re-pin to".into()) };
    let repins: Vec<(String, String)> = lint::services(r.merged())
        .into_iter()
        .filter_map(|(name, s)| {
            let head = s.get("image")?.as_str()?;
            let old = service_of(previous, &name)?.get("image")?.as_str()?;
            (head != old).then(|| (name, old.to_owned()))
        })
        .collect();
    if repins.is_empty() {
        return Applied::NotApplicable(format!("the head runs the same images as {tag}"));
    }
    let files = r.edit_files(|c, edits| {
        for (name, old) in &repins {
            let Some(image) = c.service(name).and_then(|s| at(c, &s, &["image"])) else { continue };
            let indent = " ".repeat(image.indent);
            edits.replace(image.whole(), vec![format!("{indent}image: {old}")]);
        }
    });
    r.checked(files, |merged| repins.iter().all(|(name, old)| service_of(merged, name).and_then(|s| s.get("image")?.as_str()) == Some(old.as_str())))
}

fn version_not_bumped(r: &Recipe<'_>) -> Applied {
    let Some((tag, _)) = &r.previous else { return Applied::NotApplicable("no previous release".into()) };
    let has_label = lint::services(r.merged()).into_iter().any(|(_, s)| deploy_labels(s).iter().any(|(k, _)| k == VERSION_LABEL));
    if !has_label {
        return Applied::NotApplicable(format!("no `{VERSION_LABEL}` deploy label"));
    }
    let files = r.edit_files(|c, edits| {
        for service in c.services() {
            let Some(labels) = at(c, &service, &["deploy", "labels"]) else { continue };
            for (range, key, _) in c.entries(&labels) {
                if key == VERSION_LABEL {
                    edits.replace(range, vec![c.entry_line(&labels, &key, tag)]);
                }
            }
        }
    });
    r.checked(files, |merged| {
        lint::services(merged).into_iter().flat_map(|(_, s)| deploy_labels(s)).filter(|(k, _)| k == VERSION_LABEL).all(|(_, v)| &v == tag)
    })
}

fn backup_capable(r: &Recipe<'_>) -> Result<(), Applied> {
    if r.toml.backup.capable { Ok(()) } else { Err(Applied::NotApplicable("recipe.toml: [backup] capable = false".into())) }
}

fn has_backup_labels(merged: &Value) -> bool {
    lint::services(merged).into_iter().any(|(_, s)| deploy_labels(s).iter().any(|(k, _)| k.starts_with("backupbot.")))
}

fn backup_labels_removed(r: &Recipe<'_>) -> Applied {
    if let Err(na) = backup_capable(r) {
        return na;
    }
    if !has_backup_labels(r.merged()) {
        return Applied::NotApplicable("no service has a backupbot.* label".into());
    }
    let files = r.edit_files(|c, edits| {
        for service in c.services() {
            let Some(labels) = at(c, &service, &["deploy", "labels"]) else { continue };
            let doomed = c.entries(&labels).into_iter().filter(|(_, key, _)| key.starts_with("backupbot.")).map(|(range, _, _)| range).collect();
            c.remove_entries(&labels, doomed, edits);
        }
    });
    r.checked(files, |merged| !has_backup_labels(merged))
}

/// Named volumes a service mounts (short `name:/path` or long `type: volume` syntax).
fn named_mounts(merged: &Value, service: &Value) -> Vec<String> {
    let declared = merged.get("volumes").and_then(Value::as_mapping);
    let is_named = |name: &str| declared.is_some_and(|d| d.contains_key(name));
    service
        .get("volumes")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(|v| match v {
            Value::String(s) => s.split(':').next().map(str::to_owned),
            Value::Mapping(m) => m.get("source").and_then(Value::as_str).map(str::to_owned),
            _ => None,
        })
        .filter(|name| is_named(name))
        .collect()
}

fn backup_path_wrong(r: &Recipe<'_>) -> Applied {
    if let Err(na) = backup_capable(r) {
        return na;
    }
    let merged = r.merged();
    // Per backed-up service: its explicit path labels, else one per named volume it mounts.
    let mut plan: Vec<(String, Vec<String>)> = vec![];
    for (name, s) in lint::services(merged) {
        let labels = deploy_labels(s);
        if !labels.iter().any(|(k, v)| k == "backupbot.backup" && v != "false") {
            continue;
        }
        let volumes: Vec<String> = named_mounts(merged, s)
            .into_iter()
            .filter(|v| !labels.iter().any(|(k, val)| k == &format!("backupbot.backup.volumes.{v}") && val == "false"))
            .collect();
        if !volumes.is_empty() {
            plan.push((name, volumes));
        }
    }
    if plan.is_empty() {
        return Applied::NotApplicable("no backed-up service mounts a named volume".into());
    }
    let files = r.edit_files(|c, edits| {
        for (name, volumes) in &plan {
            let Some(service) = c.service(name) else { continue };
            let Some(labels) = at(c, &service, &["deploy", "labels"]) else { continue };
            let entries = c.entries(&labels);
            let mut added = vec![];
            for volume in volumes {
                let key = format!("backupbot.backup.volumes.{volume}.path");
                match entries.iter().find(|(_, k, _)| k == &key) {
                    Some((range, _, _)) => edits.replace(range.clone(), vec![c.entry_line(&labels, &key, WRONG_BACKUP_PATH)]),
                    None => added.push(c.entry_line(&labels, &key, WRONG_BACKUP_PATH)),
                }
            }
            if !added.is_empty() {
                edits.insert(labels.body.end, added);
            }
        }
    });
    r.checked(files, |merged| {
        plan.iter().all(|(name, volumes)| {
            let labels = service_of(merged, name).map(deploy_labels).unwrap_or_default();
            volumes.iter().all(|v| labels.iter().any(|(k, val)| k == &format!("backupbot.backup.volumes.{v}.path") && val == WRONG_BACKUP_PATH))
        })
    })
}

fn pre_hook_noop(r: &Recipe<'_>) -> Applied {
    const KEY: &str = "backupbot.backup.pre-hook";
    if let Err(na) = backup_capable(r) {
        return na;
    }
    if !lint::services(r.merged()).into_iter().any(|(_, s)| deploy_labels(s).iter().any(|(k, _)| k == KEY)) {
        return Applied::NotApplicable(format!("no service has a {KEY} label"));
    }
    let files = r.edit_files(|c, edits| {
        for service in c.services() {
            let Some(labels) = at(c, &service, &["deploy", "labels"]) else { continue };
            for (range, key, _) in c.entries(&labels) {
                if key == KEY {
                    edits.replace(range, vec![c.entry_line(&labels, &key, "true")]);
                }
            }
        }
    });
    r.checked(files, |merged| lint::services(merged).into_iter().flat_map(|(_, s)| deploy_labels(s)).filter(|(k, _)| k == KEY).all(|(_, v)| v == "true"))
}

fn volume_dropped(r: &Recipe<'_>) -> Applied {
    let merged = r.merged();
    let mounting: Vec<(String, Vec<String>)> =
        lint::services(merged).into_iter().map(|(n, s)| (n, named_mounts(merged, s))).filter(|(_, v)| !v.is_empty()).collect();
    if mounting.is_empty() {
        return Applied::NotApplicable("no service mounts a named volume".into());
    }
    let files = r.edit_files(|c, edits| {
        for (name, volumes) in &mounting {
            let Some(list) = c.service(name).and_then(|s| at(c, &s, &["volumes"])) else { continue };
            let mut doomed = vec![];
            for item in c.items(list.body.clone()) {
                let source = match c.item_scalar(&item) {
                    Some(s) => s.split(':').next().unwrap_or_default().to_owned(),
                    None => item
                        .clone()
                        .find_map(|at| {
                            let l = c.line(at).trim_start().trim_start_matches("- ");
                            l.strip_prefix("source:").map(super::compose_text::unquote)
                        })
                        .unwrap_or_default(),
                };
                if volumes.contains(&source) {
                    doomed.push(item);
                }
            }
            c.remove_entries(&list, doomed, edits);
        }
    });
    r.checked(files, |merged| lint::services(merged).into_iter().all(|(_, s)| named_mounts(merged, s).is_empty()))
}

fn healthcheck_never_passes(r: &Recipe<'_>) -> Applied {
    let Some(app) = r.app_service() else { return Applied::NotApplicable("no services".into()) };
    let failing = |indent: usize| {
        let i = " ".repeat(indent);
        vec![
            format!("{i}healthcheck:"),
            format!("{i}  test: [\"CMD-SHELL\", \"exit 1\"]"),
            format!("{i}  interval: 1s"),
            format!("{i}  timeout: 1s"),
            format!("{i}  retries: 1"),
            format!("{i}  start_period: 0s"),
        ]
    };
    let files = r.edit_files(|c, edits| {
        let Some(service) = c.service(&app) else { return };
        match at(c, &service, &["healthcheck"]) {
            Some(hc) => edits.replace(hc.whole(), failing(hc.indent)),
            // No healthcheck of its own: give it one, in the file that defines its image.
            None => {
                if let Some(image) = at(c, &service, &["image"]) {
                    edits.insert(image.whole().end, failing(image.indent));
                }
            }
        }
    });
    r.checked(files, |merged| {
        service_of(merged, &app).and_then(|s| s.get("healthcheck")?.get("test")?.as_sequence().cloned()).is_some_and(|t| t.last().and_then(Value::as_str) == Some("exit 1"))
    })
}

fn secret_not_mounted(r: &Recipe<'_>) -> Applied {
    let merged = r.merged();
    let mounts = |s: &Value| s.get("secrets").and_then(Value::as_sequence).is_some_and(|l| !l.is_empty());
    let services = lint::services(merged);
    let app = r.app_service();
    let Some((target, _)) = services.iter().find(|(n, s)| Some(n) == app.as_ref() && mounts(s)).or_else(|| services.iter().find(|(_, s)| mounts(s))) else {
        return Applied::NotApplicable("no service mounts a secret".into());
    };
    let target = target.clone();
    let files = r.edit_files(|c, edits| {
        if let Some(secrets) = c.service(&target).and_then(|s| at(c, &s, &["secrets"])) {
            edits.remove(secrets.whole());
        }
    });
    r.checked(files, |merged| service_of(merged, &target).is_some_and(|s| !mounts(s)))
}

fn oidc_secret_dropped(r: &Recipe<'_>) -> Applied {
    let Some(sso) = &r.toml.sso else { return Applied::NotApplicable("recipe.toml has no [sso] section".into()) };
    let secret_path = format!("/run/secrets/{}", sso.client_secret);
    let carries = |k: &str, v: &str| k.contains("CLIENT_SECRET") || v.contains(&secret_path);
    let env_of = |s: &Value| -> Vec<(String, String)> {
        match s.get("environment") {
            Some(Value::Sequence(l)) => l.iter().filter_map(Value::as_str).map(|e| e.split_once('=').map_or((e.to_owned(), String::new()), |(k, v)| (k.to_owned(), v.to_owned()))).collect(),
            Some(Value::Mapping(m)) => m.iter().filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v.as_str().unwrap_or_default().to_owned()))).collect(),
            _ => vec![],
        }
    };
    let found = lint::services(r.merged()).into_iter().any(|(_, s)| env_of(s).iter().any(|(k, v)| carries(k, v)));
    if !found {
        return Applied::NotApplicable(format!("no environment entry carries the OIDC client secret (looked for *CLIENT_SECRET* and {secret_path})"));
    }
    let files = r.edit_files(|c, edits| {
        for service in c.services() {
            let Some(env) = at(c, &service, &["environment"]) else { continue };
            let doomed = c.entries(&env).into_iter().filter(|(_, k, v)| carries(k, v)).map(|(range, _, _)| range).collect();
            c.remove_entries(&env, doomed, edits);
        }
    });
    r.checked(files, |merged| lint::services(merged).into_iter().all(|(_, s)| !env_of(s).iter().any(|(k, v)| carries(k, v))))
}

/// A recipe's own mutant, `recipes/<name>/mutants/<id>.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct OwnMutant {
    about: String,
    stages: Vec<String>,
    #[serde(rename = "edit")]
    edits: Vec<TextEdit>,
}

/// Replace `find` (which must occur exactly once) by `replace` in `file` of the head.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TextEdit {
    file: String,
    find: String,
    replace: String,
}

/// The recipe's own mutants, from `<crate_dir>/mutants/*.toml`, sorted by id.
pub fn own(crate_dir: &Path) -> anyhow::Result<Vec<Mutant>> {
    let dir = crate_dir.join("mutants");
    let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(vec![]) };
    let mut out = vec![];
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let own: OwnMutant = toml::from_str(&text).map_err(|e| anyhow::format_err!("{}: {e}", path.display()))?;
        anyhow::ensure!(!own.stages.is_empty(), "{}: `stages` names no test module", path.display());
        anyhow::ensure!(!own.edits.is_empty(), "{}: no [[edit]]", path.display());
        let id = path.file_stem().unwrap_or_default().to_string_lossy().into_owned();
        out.push(Mutant { id, about: own.about, stages: own.stages, kind: Kind::Own { file: path, edits: own.edits } });
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

impl Mutant {
    pub fn is_own(&self) -> bool {
        matches!(self.kind, Kind::Own { .. })
    }

    /// The files this mutant writes into the recipe's head, or why it does not apply. A
    /// recipe's own mutant whose text is no longer in the head is an error (the mutant is
    /// stale and must be updated), not "n/a".
    pub fn apply(&self, recipe: &Recipe<'_>) -> anyhow::Result<Applied> {
        match &self.kind {
            Kind::Generic(apply) => Ok(apply(recipe)),
            Kind::Own { file, edits } => {
                let mut files: Vec<(String, String)> = vec![];
                for edit in edits {
                    let current = match files.iter().find(|(f, _)| f == &edit.file) {
                        Some((_, text)) => text.clone(),
                        None => std::fs::read_to_string(recipe.head.join(&edit.file)).with_context(|| format!("{}: reading {} of the head", file.display(), edit.file))?,
                    };
                    let found = current.matches(&edit.find).count();
                    anyhow::ensure!(found == 1, "{}: `find` occurs {found} times in {} of the head, not once: the mutant is stale", file.display(), edit.file);
                    let changed = current.replacen(&edit.find, &edit.replace, 1);
                    files.retain(|(f, _)| f != &edit.file);
                    files.push((edit.file.clone(), changed));
                }
                Ok(Applied::Files(files))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = r#"version: "3.8"
services:
  app:
    image: nginx:1.22.2
    secrets:
      - admin_password
    volumes:
      - content:/usr/share/nginx/html
    healthcheck:
      test: ["CMD", "curl", "-f", "http://localhost"]
      start_period: 300s
    deploy:
      labels:
        - "traefik.enable=true"
        - "coop-cloud.${STACK_NAME}.version=1.1.0+1.22.2"
        - "backupbot.backup=${ENABLE_BACKUPS:-true}"
  db:
    image: postgres:15
    volumes:
      - db-data:/var/lib/postgresql/data
    configs:
      - source: pg_backup
        target: /pg_backup.sh
        mode: 0555
    deploy:
      labels:
        - "backupbot.backup=true"
        - "backupbot.backup.pre-hook=/pg_backup.sh backup"
        - "backupbot.backup.volumes.db-data.path=backup.sql"
volumes:
  content:
  db-data:
secrets:
  admin_password:
    external: true
"#;

    const PREVIOUS: &str = r#"version: "3.8"
services:
  app:
    image: nginx:1.22.1
    deploy:
      labels:
        - "coop-cloud.${STACK_NAME}.version=1.0.0+1.22.1"
  db:
    image: postgres:15
"#;

    fn toml(capable: bool) -> harness::ops::RecipeToml {
        toml::from_str(&format!("name = \"x\"\n[backup]\ncapable = {capable}\n")).unwrap()
    }

    fn with_recipe(capable: bool, f: impl FnOnce(&Recipe<'_>)) {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("ccci-mutants-{}-{n}", std::process::id()));
        let (head, prev) = (dir.join("head"), dir.join("prev"));
        std::fs::create_dir_all(&head).unwrap();
        std::fs::create_dir_all(&prev).unwrap();
        std::fs::write(head.join("compose.yml"), HEAD).unwrap();
        std::fs::write(prev.join("compose.yml"), PREVIOUS).unwrap();
        let toml = toml(capable);
        let recipe = Recipe::read(&head, Some(("1.0.0+1.22.1".into(), &prev)), &toml).unwrap();
        f(&recipe);
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn applied(m: &str, r: &Recipe<'_>) -> String {
        let mutant = generic().into_iter().find(|x| x.id == m).unwrap();
        match mutant.apply(r).unwrap() {
            Applied::Files(files) => {
                assert_eq!(files.len(), 1);
                let text = files[0].1.clone();
                assert!(text.contains("mode: 0555"), "{m}: lines it does not change stay as written");
                text
            }
            Applied::NotApplicable(why) => panic!("{m} does not apply: {why}"),
        }
    }

    #[test]
    fn each_generic_mutant_changes_what_it_names() {
        with_recipe(true, |r| {
            let t = applied("head-image-repinned", r);
            assert!(t.contains("image: nginx:1.22.1\n") && t.contains("image: postgres:15"), "{t}");
            let t = applied("version-label-not-bumped", r);
            assert!(t.contains("\"coop-cloud.${STACK_NAME}.version=1.0.0+1.22.1\""), "{t}");
            let t = applied("backup-labels-removed", r);
            assert!(!t.contains("backupbot"), "{t}");
            assert!(t.contains("traefik.enable=true"));
            let t = applied("backup-path-wrong", r);
            assert!(t.contains(&format!("backupbot.backup.volumes.content.path={WRONG_BACKUP_PATH}")), "{t}");
            assert!(t.contains(&format!("backupbot.backup.volumes.db-data.path={WRONG_BACKUP_PATH}")), "{t}");
            let t = applied("backup-pre-hook-noop", r);
            assert!(t.contains("\"backupbot.backup.pre-hook=true\""), "{t}");
            let t = applied("volume-dropped", r);
            assert!(!t.contains("content:/usr") && !t.contains("db-data:/var"), "{t}");
            assert!(t.contains("    volumes: []\n"), "a list left empty stays a list (null is not one): {t}");
            let t = applied("healthcheck-never-passes", r);
            assert!(t.contains("exit 1") && !t.contains("curl") && !t.contains("300s"), "{t}");
            let t = applied("secret-not-mounted", r);
            assert!(!t.contains("      - admin_password"), "{t}");
        });
    }

    #[test]
    fn a_mutant_that_cannot_apply_says_why() {
        with_recipe(false, |r| {
            let m = generic().into_iter().find(|x| x.id == "backup-labels-removed").unwrap();
            assert_eq!(m.apply(r).unwrap(), Applied::NotApplicable("recipe.toml: [backup] capable = false".into()));
            let m = generic().into_iter().find(|x| x.id == "oidc-secret-dropped").unwrap();
            assert!(matches!(m.apply(r).unwrap(), Applied::NotApplicable(why) if why.contains("[sso]")));
        });
    }

    #[test]
    fn a_recipe_s_own_mutant_whose_text_left_the_head_is_stale() {
        with_recipe(true, |r| {
            let crate_dir = r.head.parent().unwrap().join("crate");
            std::fs::create_dir_all(crate_dir.join("mutants")).unwrap();
            let own_toml = "about = \"x\"\nstages = [\"functional\"]\n[[edit]]\nfile = \"compose.yml\"\nfind = \"image: nginx:9\"\nreplace = \"image: nginx:8\"\n";
            std::fs::write(crate_dir.join("mutants/gone.toml"), own_toml).unwrap();
            let mutants = own(&crate_dir).unwrap();
            assert_eq!(mutants.len(), 1);
            assert!(mutants[0].is_own() && mutants[0].id == "gone");
            let err = mutants[0].apply(r).unwrap_err().to_string();
            assert!(err.contains("occurs 0 times") && err.contains("stale"), "{err}");
            std::fs::write(crate_dir.join("mutants/gone.toml"), own_toml.replace("nginx:9", "nginx:1.22.2")).unwrap();
            let Applied::Files(files) = own(&crate_dir).unwrap()[0].apply(r).unwrap() else { panic!("applies") };
            assert!(files[0].1.contains("image: nginx:8"));
        });
    }
}
