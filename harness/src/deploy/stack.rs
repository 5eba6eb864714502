//! The stack driver: what abra does on deploy, done with `docker stack deploy`.
//!
//! From a recipe checkout it builds the app's `.env` (from `.env.sample`), reads `abra.sh`
//! exports, generates the versioned secrets `<stack>_<name>_<vN>`, merges and interpolates the
//! `COMPOSE_FILE` list with `docker stack config`, adds the run label to every service,
//! volume, network, config and secret it defines, and deploys without resolving images
//! (the testbed has no registry).

use std::{collections::BTreeMap, path::Path, time::Duration};

use bollard::{Docker, models::SecretSpec};
use base64::Engine as _;
use serde_yaml::{Mapping, Value};

use crate::{
    envfile::EnvFile,
    error::{HarnessError, InfraExt, Result},
    progress,
    secret::Secret,
    swarm::RUN_LABEL,
};

/// The app `.env` for a new deployment: the recipe's `.env.sample` with the domain set and
/// ACME off (the proxy serves the wildcard certificate).
pub(crate) fn initial_env(checkout: &Path, domain: &str) -> Result<EnvFile> {
    let sample = checkout.join(".env.sample");
    let mut env = EnvFile::read(&sample).map_err(|e| HarnessError::Recipe {
        path: sample.clone(),
        key: "(file)".into(),
        message: format!("cannot read: {e}"),
    })?;
    env.set("DOMAIN", domain.to_owned());
    env.set("LETS_ENCRYPT_ENV", "");
    Ok(env)
}

/// The version a checkout declares in its compose labels (`coop-cloud.${STACK_NAME}.version=`).
pub(crate) fn declared_version(checkout: &Path) -> Result<Option<String>> {
    let compose = std::fs::read_to_string(checkout.join("compose.yml")).map_err(|e| HarnessError::Recipe {
        path: checkout.join("compose.yml"),
        key: "(file)".into(),
        message: format!("cannot read: {e}"),
    })?;
    Ok(compose.lines().find_map(|line| {
        let rest = line.split("coop-cloud.${STACK_NAME}.version=").nth(1)?;
        Some(rest.trim_end_matches(['"', '\'', ' ']).to_owned())
    }))
}

/// The variables compose files are interpolated with: the app env, `abra.sh` exports and
/// `STACK_NAME`, as abra provides them.
fn interpolation_env(checkout: &Path, env: &EnvFile, stack: &str) -> BTreeMap<String, String> {
    let mut vars = env.vars();
    if let Ok(abra_sh) = EnvFile::read(&checkout.join("abra.sh")) {
        vars.extend(abra_sh.vars());
    }
    vars.insert("STACK_NAME".into(), stack.to_owned());
    vars
}

/// What one `docker stack deploy` of a checkout needs.
pub(super) struct StackDeploy<'a> {
    pub docker: &'a Docker,
    pub stack: &'a str,
    pub run_id: &'a str,
    pub env: &'a EnvFile,
    /// Values handed in or generated so far, by compose name; generated ones are added.
    pub secrets: &'a mut BTreeMap<String, Secret>,
    pub checkout: &'a Path,
    /// How containers reach the platform's domains and trust its CA (the testbed's), if the
    /// platform needs it done for them.
    pub access: Option<ContainerAccess>,
    /// The host variables the docker CLI may see (`RunConfig::docker_cli_env`).
    pub cli_env: &'a [(String, String)],
}

/// What a deployment's containers are given so an app can call another app of the run by its
/// public domain over HTTPS, as on a host with wildcard DNS and a trusted certificate.
#[derive(Debug, Clone)]
pub(super) struct ContainerAccess {
    /// Every domain of the run (the app's own, its dependencies', the other deployments').
    pub hosts: Vec<String>,
    /// Where the proxy is reached from containers.
    pub address: std::net::IpAddr,
    /// A CA bundle (the system roots plus the platform CA) to install as the containers'.
    pub ca_bundle: Option<std::path::PathBuf>,
}

/// Where the CA bundle goes in containers: Debian, Ubuntu and Alpine read it there (OpenSSL,
/// curl, Go, Python's ssl); the variables below point the rest (Node, requests) at it.
const CA_BUNDLE_TARGET: &str = "/etc/ssl/certs/ca-certificates.crt";
const CA_VARS: [&str; 3] = ["SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE"];

pub(super) async fn deploy(ctx: StackDeploy<'_>) -> Result<()> {
    let StackDeploy { docker, stack, run_id, env, secrets, checkout, access, cli_env } = ctx;
    create_secrets(docker, env, secrets, stack, run_id).await?;
    let vars = interpolation_env(checkout, env, stack);
    let files = env.compose_files();
    for file in &files {
        if !checkout.join(file).is_file() {
            return Err(HarnessError::Recipe {
                path: checkout.join(".env"),
                key: "COMPOSE_FILE".into(),
                message: format!("{file} does not exist in the recipe"),
            });
        }
    }
    let mut args = vec!["stack".to_owned(), "config".to_owned()];
    for file in &files {
        args.extend(["-c".to_owned(), file.clone()]);
    }
    let merged = docker_cli(&args, cli_env, &vars, checkout).await.map_err(|e| HarnessError::deploy(format!("merging {}", files.join(":")), e))?;
    let mut doc: Value = serde_yaml::from_str(&merged).map_err(|e| HarnessError::deploy("parsing the merged compose file", e))?;
    if let Some(access) = &access {
        grant_access(&mut doc, access, stack)?;
    }
    label_everything(&mut doc, run_id);
    escape_dollars(&mut doc);
    let final_path = checkout.join("compose.ccci-final.yml");
    std::fs::write(&final_path, serde_yaml::to_string(&doc).expect("YAML serialises")).infra(|| "writing the final compose file".into())?;
    let args: Vec<String> = ["stack", "deploy", "--detach=true", "--resolve-image", "never", "-c", "compose.ccci-final.yml", stack]
        .map(str::to_owned)
        .to_vec();
    docker_cli(&args, cli_env, &vars, checkout).await.map_err(|e| HarnessError::deploy(format!("docker stack deploy {stack}"), e))?;
    Ok(())
}

/// Deploys the compose file [`deploy`] rendered into `checkout` again, as it is.
pub(super) async fn deploy_rendered(checkout: &Path, stack: &str, cli_env: &[(String, String)]) -> Result<()> {
    let args: Vec<String> =
        ["stack", "deploy", "--detach=true", "--resolve-image", "never", "-c", "compose.ccci-final.yml", stack].map(str::to_owned).to_vec();
    docker_cli(&args, cli_env, &BTreeMap::new(), checkout).await.map_err(|e| HarnessError::deploy(format!("docker stack deploy {stack}"), e))?;
    Ok(())
}

/// Creates every secret `SECRET_*_VERSION` declares that does not exist yet.
async fn create_secrets(docker: &Docker, env: &EnvFile, secrets: &mut BTreeMap<String, Secret>, stack: &str, run_id: &str) -> Result<()> {
    for decl in env.secrets() {
        let name = format!("{stack}_{}_{}", decl.name, decl.version);
        if docker.inspect_secret(&name).await.is_ok() {
            continue;
        }
        // A value handed in (an SSO client secret, a suite's insert) is inserted as it is.
        let provided = secrets.get(&decl.name).cloned();
        if provided.is_none() && !decl.generate {
            return Err(HarnessError::Recipe {
                path: "(app .env)".into(),
                key: format!("SECRET_{}_VERSION", decl.name.to_ascii_uppercase()),
                message: "marked generate=false: the suite must insert it before deploying".into(),
            });
        }
        let value = provided.unwrap_or_else(|| Secret::generate(decl.length.unwrap_or(32)));
        let spec = SecretSpec {
            name: Some(name.clone()),
            labels: Some([(RUN_LABEL.to_owned(), run_id.to_owned())].into()),
            data: Some(base64::engine::general_purpose::STANDARD.encode(value.expose())),
            ..Default::default()
        };
        docker.create_secret(spec).await.map_err(|e| HarnessError::infra(format!("creating secret {name}"), e))?;
        progress!("{stack}: secret {name} created ({} chars)", value.expose().len());
        secrets.insert(decl.name, value);
    }
    Ok(())
}

/// Gives every service the run's domains (`extra_hosts` to the proxy) and, with a bundle, the
/// platform CA as its trust store (a config over [`CA_BUNDLE_TARGET`], plus [`CA_VARS`]
/// unless the recipe sets them itself).
fn grant_access(doc: &mut Value, access: &ContainerAccess, stack: &str) -> Result<()> {
    let config_key = Value::String("ccci_ca_bundle".into());
    if let Some(bundle) = &access.ca_bundle {
        let bytes = std::fs::read(bundle).infra(|| format!("reading {}", bundle.display()))?;
        let hash = hex::encode(&<sha2::Sha256 as sha2::Digest>::digest(&bytes)[..4]);
        let mut config = Mapping::new();
        config.insert("file".into(), Value::String(bundle.display().to_string()));
        config.insert("name".into(), Value::String(format!("{stack}_ccci_ca_{hash}")));
        let configs = doc.as_mapping_mut().expect("a compose file is a mapping").entry("configs".into()).or_insert_with(|| Value::Mapping(Mapping::new()));
        if let Some(configs) = configs.as_mapping_mut() {
            configs.insert(config_key.clone(), Value::Mapping(config));
        }
    }
    let Some(services) = doc.get_mut("services").and_then(Value::as_mapping_mut) else { return Ok(()) };
    for (_, service) in services.iter_mut() {
        let Some(service) = service.as_mapping_mut() else { continue };
        let hosts = service.entry("extra_hosts".into()).or_insert_with(|| Value::Sequence(vec![]));
        if let Value::Sequence(list) = hosts {
            for host in &access.hosts {
                list.push(Value::String(format!("{host}:{}", access.address)));
            }
        }
        if access.ca_bundle.is_none() {
            continue;
        }
        let mut mount = Mapping::new();
        mount.insert("source".into(), config_key.clone());
        mount.insert("target".into(), Value::String(CA_BUNDLE_TARGET.into()));
        mount.insert("mode".into(), Value::Number(0o444.into()));
        if let Value::Sequence(list) = service.entry("configs".into()).or_insert_with(|| Value::Sequence(vec![])) {
            list.push(Value::Mapping(mount));
        }
        match service.entry("environment".into()).or_insert_with(|| Value::Mapping(Mapping::new())) {
            Value::Mapping(env) => {
                for var in CA_VARS {
                    env.entry(Value::String(var.into())).or_insert_with(|| Value::String(CA_BUNDLE_TARGET.into()));
                }
            }
            Value::Sequence(list) => {
                for var in CA_VARS {
                    if !list.iter().any(|e| e.as_str().is_some_and(|e| e.split('=').next() == Some(var))) {
                        list.push(Value::String(format!("{var}={CA_BUNDLE_TARGET}")));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Adds `ccci.run=<id>` to every service's deploy labels and container labels (so task
/// containers carry it too) and to every volume, network, config and secret the stack defines
/// itself (external ones belong to someone else).
/// `docker stack config` has already interpolated the merged file (a recipe's `$$` is a `$`
/// in it), and `docker stack deploy` interpolates what it deploys once more: every `$` of the
/// rendered file is literal, so it is written as `$$` to come out of that pass unchanged (a
/// healthcheck's `$$(cat /run/secrets/...)` stays a shell substitution, as on a real host).
fn escape_dollars(doc: &mut Value) {
    match doc {
        Value::String(text) if text.contains('$') => *text = text.replace('$', "$$"),
        Value::Sequence(items) => items.iter_mut().for_each(escape_dollars),
        Value::Mapping(map) => {
            let keys: Vec<Value> = map.keys().filter(|k| k.as_str().is_some_and(|k| k.contains('$'))).cloned().collect();
            for key in keys {
                if let Some(value) = map.remove(&key) {
                    map.insert(Value::String(key.as_str().unwrap_or_default().replace('$', "$$")), value);
                }
            }
            map.values_mut().for_each(escape_dollars);
        }
        Value::Tagged(tagged) => escape_dollars(&mut tagged.value),
        _ => {}
    }
}

fn label_everything(doc: &mut Value, run_id: &str) {
    let key = Value::String(RUN_LABEL.into());
    let value = Value::String(run_id.into());
    let add = |labels: &mut Value| match labels {
        Value::Mapping(map) => {
            map.insert(key.clone(), value.clone());
        }
        Value::Sequence(list) => list.push(Value::String(format!("{RUN_LABEL}={run_id}"))),
        other => {
            let mut map = Mapping::new();
            map.insert(key.clone(), value.clone());
            *other = Value::Mapping(map);
        }
    };
    if let Some(services) = doc.get_mut("services").and_then(Value::as_mapping_mut) {
        for (_, service) in services.iter_mut() {
            let Some(service) = service.as_mapping_mut() else { continue };
            add(service.entry("labels".into()).or_insert(Value::Null));
            let deploy = service.entry("deploy".into()).or_insert_with(|| Value::Mapping(Mapping::new()));
            if let Some(deploy) = deploy.as_mapping_mut() {
                add(deploy.entry("labels".into()).or_insert(Value::Null));
            }
        }
    }
    for section in ["volumes", "networks", "configs", "secrets"] {
        let Some(items) = doc.get_mut(section).and_then(Value::as_mapping_mut) else { continue };
        for (_, item) in items.iter_mut() {
            if item.is_null() {
                *item = Value::Mapping(Mapping::new());
            }
            let Some(item) = item.as_mapping_mut() else { continue };
            if item.get("external").and_then(Value::as_bool) == Some(true) {
                continue;
            }
            add(item.entry("labels".into()).or_insert(Value::Null));
        }
    }
}

/// The converge timeout a recipe asks for through `coop-cloud.<stack>.timeout` (abra's knob).
pub(super) fn timeout_label(labels: &std::collections::HashMap<String, String>, stack: &str) -> Option<Duration> {
    labels.get(&format!("coop-cloud.{stack}.timeout"))?.trim().parse().ok().map(Duration::from_secs)
}

/// `docker stack rm`.
pub(super) fn stack_rm(stack: &str) -> Result<()> {
    let out = std::process::Command::new("docker").args(["stack", "rm", stack]).output().infra(|| "running docker stack rm".into())?;
    if !out.status.success() {
        return Err(HarnessError::infra(format!("docker stack rm {stack}"), anyhow::format_err!("{}", String::from_utf8_lossy(&out.stderr).trim())));
    }
    Ok(())
}

/// Runs the docker CLI with exactly `vars` as extra environment; stderr becomes the error.
/// Runs the docker CLI with exactly `host` (its own settings) and `vars` (the app's) as its
/// environment: a merge or deploy is hermetic, whatever the CI host's environment holds.
async fn docker_cli(args: &[String], host: &[(String, String)], vars: &BTreeMap<String, String>, cwd: &Path) -> anyhow::Result<String> {
    let out = tokio::process::Command::new("docker")
        .args(args)
        .env_clear()
        .envs(host.iter().map(|(k, v)| (k, v)))
        .envs(vars)
        .current_dir(cwd)
        .kill_on_drop(true)
        .output()
        .await?;
    if !out.status.success() {
        anyhow::bail!("docker {} exited {}: {}", args[..2.min(args.len())].join(" "), out.status, String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dollar_of_the_rendered_file_survives_the_deploys_interpolation() {
        // As `docker stack config` prints a recipe's `$$(cat /run/secrets/db_password)`.
        let mut doc: Value = serde_yaml::from_str(
            "services:\n  db:\n    healthcheck:\n      test: [CMD-SHELL, 'mysqladmin ping -p\"$(cat /run/secrets/db_password)\"']\n    environment:\n      PRICE: 5$\n",
        )
        .unwrap();
        escape_dollars(&mut doc);
        assert_eq!(doc["services"]["db"]["healthcheck"]["test"][1], Value::from("mysqladmin ping -p\"$$(cat /run/secrets/db_password)\""));
        assert_eq!(doc["services"]["db"]["environment"]["PRICE"], Value::from("5$$"));
    }

    #[test]
    fn every_owned_object_gets_the_run_label_and_external_ones_do_not() {
        let mut doc: Value = serde_yaml::from_str(
            r#"
services:
  app:
    image: x
    deploy:
      labels:
        traefik.enable: "true"
  db:
    image: y
    deploy:
      labels: ["a=b"]
  worker:
    image: z
volumes:
  content: {}
  bare:
networks:
  proxy:
    external: true
  internal: {}
secrets:
  db_password:
    external: true
    name: s_db_password_v1
"#,
        )
        .unwrap();
        label_everything(&mut doc, "run-1");
        let get = |path: &[&str]| path.iter().fold(&doc, |v, k| &v[*k]).clone();
        assert_eq!(get(&["services", "app", "deploy", "labels", RUN_LABEL]), Value::from("run-1"));
        assert_eq!(get(&["services", "app", "deploy", "labels", "traefik.enable"]), Value::from("true"));
        assert_eq!(get(&["services", "db", "deploy", "labels"]), serde_yaml::from_str::<Value>("[a=b, ccci.run=run-1]").unwrap());
        assert_eq!(get(&["services", "worker", "deploy", "labels", RUN_LABEL]), Value::from("run-1"));
        assert_eq!(get(&["services", "worker", "labels", RUN_LABEL]), Value::from("run-1"), "container labels");
        assert_eq!(get(&["volumes", "bare", "labels", RUN_LABEL]), Value::from("run-1"));
        assert_eq!(get(&["networks", "internal", "labels", RUN_LABEL]), Value::from("run-1"));
        assert!(get(&["networks", "proxy", "labels"]).is_null());
        assert!(get(&["secrets", "db_password", "labels"]).is_null());
    }

    #[test]
    fn containers_get_the_run_domains_and_the_ca_bundle_without_losing_their_own_settings() {
        let dir = std::env::temp_dir().join(format!("ccci-access-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bundle = dir.join("ca-bundle.pem");
        std::fs::write(&bundle, "-----BEGIN CERTIFICATE-----\n").unwrap();
        let mut doc: Value = serde_yaml::from_str(
            "services:\n  app:\n    image: x\n    environment:\n      SSL_CERT_FILE: /own.pem\n  db:\n    image: y\n    environment: [A=1]\n",
        )
        .unwrap();
        let access = ContainerAccess { hosts: vec!["a.ccci.test".into(), "idp.ccci.test".into()], address: "172.18.0.1".parse().unwrap(), ca_bundle: Some(bundle.clone()) };
        grant_access(&mut doc, &access, "s").unwrap();
        let app = &doc["services"]["app"];
        assert_eq!(app["extra_hosts"], serde_yaml::from_str::<Value>("[a.ccci.test:172.18.0.1, idp.ccci.test:172.18.0.1]").unwrap());
        assert_eq!(app["environment"]["SSL_CERT_FILE"], Value::from("/own.pem"), "a recipe's own setting wins");
        assert_eq!(app["environment"]["NODE_EXTRA_CA_CERTS"], Value::from(CA_BUNDLE_TARGET));
        assert_eq!(app["configs"][0]["target"], Value::from(CA_BUNDLE_TARGET));
        let db_env = doc["services"]["db"]["environment"].as_sequence().unwrap();
        assert!(db_env.contains(&Value::from("A=1")) && db_env.contains(&Value::from(format!("REQUESTS_CA_BUNDLE={CA_BUNDLE_TARGET}"))));
        let config = &doc["configs"]["ccci_ca_bundle"];
        assert_eq!(config["file"], Value::from(bundle.display().to_string()));
        assert!(config["name"].as_str().unwrap().starts_with("s_ccci_ca_"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_declared_version_is_read_from_the_compose_label() {
        let dir = std::env::temp_dir().join(format!("ccci-declared-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("compose.yml"), "      - \"coop-cloud.${STACK_NAME}.version=1.1.0+1.22.1\"\n").unwrap();
        assert_eq!(declared_version(&dir).unwrap().as_deref(), Some("1.1.0+1.22.1"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
