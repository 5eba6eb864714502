//! The offline testbed: a single-node Swarm on this machine with everything the fixture
//! recipes need, made from package registries only.
//!
//! `up` is idempotent and cheap when nothing changed: it reuses a Docker engine that answers
//! (else installs Debian's `docker.io` and starts `dockerd`), initialises the Swarm, creates
//! the `proxy` overlay network, makes a CA and a `*.<domain>` certificate, builds the base
//! image with `debootstrap` + `docker import` (no registry to pull from), builds every
//! `ccci-testbed/<app>:<tag>` image that a fixture or the proxy references (rebuilding when its
//! context changes), and deploys the ingress ([`ingress`]).
//!
//! This module is an adapter: [`platform`] hands the deploy layer a [`Platform`] whose proxy
//! is the testbed ingress, whose CA is the testbed's and whose helper image is the base
//! image. Nothing below the suite layer imports it. It is also the one part of the harness
//! that may name the apps whose fixtures it builds.

mod ingress;
mod routes;

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::Context as _;
use sha2::{Digest, Sha256};

use crate::{
    config::RunConfig,
    error::{HarnessError, Result},
    platform::Platform,
    poll::converge,
    progress,
    swarm::Swarm,
};

pub(crate) const BASE_IMAGE: &str = "ccci-testbed/base:bookworm";
const IMAGE_PREFIX: &str = "ccci-testbed/";
const PROXY_STACK: &str = "ccci-proxy";

fn testbed_dir(config: &RunConfig) -> PathBuf {
    config.state_dir.join("testbed")
}

/// The CA every harness HTTP client trusts (and nothing else).
pub(crate) fn ca_cert_path(config: &RunConfig) -> PathBuf {
    testbed_dir(config).join("proxy").join("tls").join("ca.pem")
}

/// The platform a run deploys onto: the testbed's (its ingress, CA and base image), or a
/// cc-ci host's Traefik when `CCCI_PROXY=traefik`.
pub fn platform(config: &RunConfig) -> Platform {
    if !config.testbed_ingress {
        return Platform::traefik(config);
    }
    Platform {
        proxy: std::sync::Arc::new(ingress::TestbedIngress::new(config)),
        ca_pem: Some(config.ca_pem.clone().unwrap_or_else(|| ca_cert_path(config))),
        ingress: config.ingress,
        helper_image: config.helper_image.clone().unwrap_or_else(|| BASE_IMAGE.to_owned()),
    }
}

fn sh(what: &str, cmd: &mut Command) -> anyhow::Result<String> {
    let out = cmd.stdin(Stdio::null()).output().with_context(|| format!("{what}: cannot start"))?;
    if !out.status.success() {
        anyhow::bail!(
            "{what} exited {}: {}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim(),
            String::from_utf8_lossy(&out.stdout).lines().last().map(|l| format!(" / {l}")).unwrap_or_default()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn docker(args: &[&str]) -> anyhow::Result<String> {
    sh(&format!("docker {}", args.join(" ")), Command::new("docker").args(args))
}

/// Runs `f`, and once more if it fails: these steps fetch from the Debian mirror and package
/// registries, which fail transiently. Both are idempotent; a second failure is the error.
fn once_more<T>(what: &str, mut f: impl FnMut() -> anyhow::Result<T>) -> anyhow::Result<T> {
    f().or_else(|e| {
        progress!("testbed: {what} failed ({e:#}); trying once more (mirrors and registries fail transiently)");
        f()
    })
}

fn step<T>(what: &str, f: impl FnOnce() -> anyhow::Result<T>) -> Result<T> {
    f().map_err(|e| HarnessError::infra(format!("testbed: {what}"), e))
}

/// Which fixtures' images `up` builds.
#[derive(Debug, Clone, Default)]
pub enum Fixtures {
    /// Every fixture under `testbed/recipes` (CI, `testbed up`).
    #[default]
    All,
    /// Only these fixtures (a recipe and its dependencies: `xtask test <recipe>`).
    Only(Vec<String>),
}

/// Brings the testbed up with every fixture's images; see the module docs.
pub async fn up(config: &RunConfig) -> Result<()> {
    up_for(config, &Fixtures::All).await
}

/// Brings the testbed up, building only the images `fixtures` reference (and the proxy's).
pub async fn up_for(config: &RunConfig, fixtures: &Fixtures) -> Result<()> {
    let start = Instant::now();
    let swarm = ensure_engine(config).await?;
    step("swarm init", ensure_swarm)?;
    step("proxy network", || {
        if docker(&["network", "inspect", "proxy"]).is_err() {
            progress!("testbed: creating the proxy overlay network");
            docker(&["network", "create", "--driver", "overlay", "--attachable", "proxy"])?;
        }
        Ok(())
    })?;
    step("TLS certificates", || ensure_certificates(config))?;
    step("base image", || once_more("the base image", || ensure_base_image(config)))?;
    let images = step("scanning fixture images", || referenced_images(config, fixtures))?;
    build_images(config, images, config.testbed_jobs)?;
    ensure_proxy(config, &swarm).await?;
    progress!("testbed: up in {:.1}s", start.elapsed().as_secs_f64());
    Ok(())
}

/// One line per component, and whether the testbed is ready.
pub async fn status(config: &RunConfig) -> (bool, Vec<String>) {
    let mut lines = vec![];
    let mut ok = true;
    let mut check = |name: &str, result: std::result::Result<String, String>| {
        match &result {
            Ok(detail) => lines.push(format!("ok       {name}: {detail}")),
            Err(detail) => {
                ok = false;
                lines.push(format!("MISSING  {name}: {detail}"));
            }
        }
    };
    check("docker engine", docker(&["version", "--format", "{{.Server.Version}}"]).map_err(|e| e.to_string()));
    check(
        "swarm",
        docker(&["info", "--format", "{{.Swarm.LocalNodeState}}"])
            .map_err(|e| e.to_string())
            .and_then(|s| if s == "active" { Ok(s) } else { Err(s) }),
    );
    check("proxy network", docker(&["network", "inspect", "--format", "{{.Driver}}", "proxy"]).map_err(|e| e.to_string()));
    check("CA", if ca_cert_path(config).exists() { Ok(ca_cert_path(config).display().to_string()) } else { Err("absent".into()) });
    check("base image", docker(&["image", "inspect", "--format", "{{.Id}}", BASE_IMAGE]).map(|id| id[..19.min(id.len())].to_owned()).map_err(|_| "absent".into()));
    match referenced_images(config, &Fixtures::All) {
        Ok(images) => {
            for (image, _) in images {
                check(&image, docker(&["image", "inspect", "--format", "{{.Created}}", &image]).map_err(|_| "not built".into()));
            }
        }
        Err(e) => check("fixture images", Err(e.to_string())),
    }
    check(
        "ingress",
        docker(&["service", "ls", "--filter", &format!("name={PROXY_STACK}_app"), "--format", "{{.Replicas}}"])
            .map_err(|e| e.to_string())
            .and_then(|r| if r == "1/1" { Ok(r) } else { Err(if r.is_empty() { "not deployed".into() } else { r }) }),
    );
    (ok, lines)
}

/// Removes the ingress stack; images, the Swarm and the engine stay (they are the cache).
pub async fn down(_config: &RunConfig) -> Result<()> {
    step("removing the ingress", || {
        if !docker(&["stack", "ls", "--format", "{{.Name}}"])?.lines().any(|s| s == PROXY_STACK) {
            return Ok(());
        }
        docker(&["stack", "rm", PROXY_STACK]).map(|_| ())
    })?;
    progress!("testbed: ingress removed (images and swarm kept; `docker swarm leave --force` ends the swarm)");
    Ok(())
}

/// Connects to a running engine, or installs and starts one.
async fn ensure_engine(config: &RunConfig) -> Result<Swarm> {
    if let Ok(swarm) = Swarm::connect(config).await {
        return Ok(swarm);
    }
    step("starting dockerd", || {
        if Command::new("sh").args(["-c", "command -v dockerd"]).stdout(Stdio::null()).status()?.success() {
            progress!("testbed: dockerd installed but not answering; starting it");
        } else {
            progress!("testbed: installing Debian's docker.io (no engine found)");
            sh("apt-get update", Command::new("apt-get").args(["update", "-q"]))?;
            sh(
                "apt-get install docker.io",
                Command::new("apt-get")
                    .args(["install", "-y", "-q", "--no-install-recommends", "docker.io", "debootstrap", "iptables"])
                    .env("DEBIAN_FRONTEND", "noninteractive"),
            )?;
        }
        let log = std::fs::File::create("/var/log/ccci-dockerd.log")?;
        use std::os::unix::process::CommandExt as _;
        Command::new("dockerd").stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log).process_group(0).spawn()?;
        Ok(())
    })?;
    let start = Instant::now();
    let swarm = converge("dockerd to answer (log: /var/log/ccci-dockerd.log)", Duration::from_secs(90), Duration::from_millis(250), || async {
        Swarm::connect(config).await.map_err(|e| e.to_string())
    })
    .await?;
    progress!("testbed: dockerd answering after {:.1}s", start.elapsed().as_secs_f64());
    Ok(swarm)
}

fn ensure_swarm() -> anyhow::Result<()> {
    if docker(&["info", "--format", "{{.Swarm.LocalNodeState}}"])? != "active" {
        progress!("testbed: docker swarm init");
        docker(&["swarm", "init", "--advertise-addr", "127.0.0.1"])?;
    }
    Ok(())
}

/// A CA and a wildcard certificate for `*.<domain suffix>`, made once with openssl.
fn ensure_certificates(config: &RunConfig) -> anyhow::Result<()> {
    let tls = testbed_dir(config).join("proxy").join("tls");
    let suffix = &config.domain_suffix;
    let stamp = tls.join("domain");
    if tls.join("wildcard.pem").exists() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(suffix.as_str()) {
        return Ok(());
    }
    progress!("testbed: making a CA and a *.{suffix} certificate");
    std::fs::create_dir_all(&tls)?;
    let script = format!(
        r#"set -eu
cd "$1"
openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=ccci testbed CA" \
  -keyout ca.key -out ca.pem -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=*.{suffix}" -keyout wildcard.key -out wildcard.csr 2>/dev/null
printf 'subjectAltName=DNS:*.{suffix},DNS:{suffix}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > ext.cnf
openssl x509 -req -in wildcard.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 825 -extfile ext.cnf -out wildcard.pem 2>/dev/null
chmod 644 wildcard.key
"#
    );
    sh("openssl", Command::new("sh").args(["-c", &script, "certs"]).arg(&tls))?;
    std::fs::write(stamp, suffix)?;
    Ok(())
}

/// `debootstrap --variant=minbase bookworm` + `docker import`, unless the image exists.
fn ensure_base_image(config: &RunConfig) -> anyhow::Result<()> {
    let exists = || docker(&["image", "inspect", "--format", "{{.Id}}", BASE_IMAGE]).is_ok();
    if exists() {
        return Ok(());
    }
    let _building = build_lock(config, "base", BASE_IMAGE)?;
    if exists() {
        return Ok(());
    }
    let rootfs = testbed_dir(config).join("rootfs");
    let mirror = config.debian_mirror.clone();
    progress!("testbed: debootstrap --variant=minbase bookworm (about a minute)");
    let _ = std::fs::remove_dir_all(&rootfs);
    std::fs::create_dir_all(&rootfs)?;
    if !Command::new("sh").args(["-c", "command -v debootstrap"]).stdout(Stdio::null()).status()?.success() {
        sh("apt-get install debootstrap", Command::new("apt-get").args(["install", "-y", "-q", "debootstrap"]).env("DEBIAN_FRONTEND", "noninteractive"))?;
    }
    sh(
        "debootstrap",
        Command::new("debootstrap").args(["--variant=minbase", "bookworm"]).arg(&rootfs).arg(&mirror),
    )?;
    // Security updates too, as the Debian images have them.
    std::fs::write(
        rootfs.join("etc/apt/sources.list"),
        format!("deb {mirror} bookworm main\ndeb {mirror} bookworm-updates main\ndeb {}-security bookworm-security main\n", mirror.trim_end_matches("/debian").to_owned() + "/debian"),
    )?;
    progress!("testbed: docker import {BASE_IMAGE}");
    let script = "tar -C \"$1\" -c . | docker import --change 'CMD [\"bash\"]' - \"$2\"";
    sh("docker import", Command::new("sh").args(["-c", script, "import"]).arg(&rootfs).arg(BASE_IMAGE))?;
    std::fs::remove_dir_all(&rootfs)?;
    Ok(())
}

/// Every `ccci-testbed/<app>:<tag>` referenced by the chosen fixture recipes (any release) or
/// the proxy, with its build context `testbed/images/<app>`.
pub fn referenced_images(config: &RunConfig, fixtures: &Fixtures) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let testbed = config.workspace_root.join("testbed");
    let mut images = BTreeSet::new();
    let mut files = vec![];
    match fixtures {
        Fixtures::All => collect_compose_files(&testbed.join("recipes"), &mut files)?,
        Fixtures::Only(names) => {
            for name in names {
                let dir = testbed.join("recipes").join(name);
                anyhow::ensure!(dir.is_dir(), "no testbed fixture {} ({} is missing)", name, dir.display());
                collect_compose_files(&dir, &mut files)?;
            }
        }
    }
    collect_compose_files(&testbed.join("proxy"), &mut files)?;
    for file in files {
        for line in std::fs::read_to_string(&file)?.lines() {
            if let Some(image) = line.trim().strip_prefix("image:") {
                let image = image.trim().trim_matches(['"', '\'']);
                if image.starts_with(IMAGE_PREFIX) {
                    images.insert(image.to_owned());
                }
            }
        }
    }
    images
        .into_iter()
        .map(|image| {
            let app = image_app(&image).to_owned();
            let context = testbed.join("images").join(&app);
            anyhow::ensure!(context.join("Dockerfile").is_file(), "{image} is referenced but {} has no Dockerfile", context.display());
            Ok((image, context))
        })
        .collect()
}

fn collect_compose_files(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(()) };
    for entry in entries {
        let path = entry?.path();
        if path.is_dir() {
            collect_compose_files(&path, out)?;
        } else if path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("compose") && n.ends_with(".yml")) {
            out.push(path);
        }
    }
    Ok(())
}

/// The minutes an image's Dockerfile says its cold build takes (`# ccci-build-minutes: N`,
/// measured on two cores with nothing cached); 1 when it does not say.
fn build_minutes(context: &Path) -> u32 {
    std::fs::read_to_string(context.join("Dockerfile"))
        .ok()
        .and_then(|text| text.lines().find_map(|l| l.trim().strip_prefix("# ccci-build-minutes:").and_then(|n| n.trim().parse().ok())))
        .unwrap_or(1)
}

/// The order builds start in: the longest first, so that none is left to run alone at the
/// end while the short ones finished long ago.
fn build_order(images: Vec<(String, PathBuf)>) -> Vec<(u32, String, PathBuf)> {
    let mut images: Vec<_> = images.into_iter().map(|(image, context)| (build_minutes(&context), image, context)).collect();
    images.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    images
}

/// `ccci-testbed/<app>:<tag>` -> `<app>`.
fn image_app(image: &str) -> &str {
    image.strip_prefix(IMAGE_PREFIX).unwrap_or(image).split(':').next().unwrap_or_default()
}

/// What the build threads share: the images not started yet (with their minutes), how many
/// builds of each app are under way, and the failures so far.
#[derive(Default)]
struct Builds {
    queue: Vec<(u32, String, PathBuf)>,
    building: std::collections::BTreeMap<String, usize>,
    failures: Vec<(String, anyhow::Error)>,
}

/// Builds every image of `images` that is not current, `jobs` at a time, the longest first.
/// Two tags of one app build one after the other, so that the second finds the first's
/// downloads and compiles in the registry caches (npm, pnpm, Go, pip, Maven) instead of
/// repeating them alongside it; only the longest app's tags build side by side, because one
/// after the other they would be the testbed's critical path. After a failure no new build
/// starts; the ones under way finish (what they built is kept, as a cache), and the first
/// failure is the error, naming any others.
fn build_images(config: &RunConfig, images: Vec<(String, PathBuf)>, jobs: usize) -> Result<()> {
    schedule(images, jobs, |image, context| once_more(&format!("building {image}"), || ensure_image(config, image, context)))
}

/// [`build_images`]'s scheduling, with the build itself given.
fn schedule(images: Vec<(String, PathBuf)>, jobs: usize, build: impl Fn(&str, &Path) -> anyhow::Result<()> + Sync) -> Result<()> {
    let queue = build_order(images);
    let longest = queue.iter().map(|(minutes, ..)| *minutes).max().unwrap_or(0);
    let state = std::sync::Mutex::new(Builds { queue, ..Builds::default() });
    let changed = std::sync::Condvar::new();
    let next = || {
        let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if !s.failures.is_empty() || s.queue.is_empty() {
                return None;
            }
            let free = |(minutes, image, _): &(u32, String, PathBuf)| *minutes == longest || !s.building.contains_key(image_app(image));
            if let Some(i) = s.queue.iter().position(free) {
                let (_, image, context) = s.queue.remove(i);
                *s.building.entry(image_app(&image).to_owned()).or_default() += 1;
                return Some((image, context));
            }
            // Every image left is a tag of an app under way: wait for one to finish.
            s = changed.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    };
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| {
                while let Some((image, context)) = next() {
                    let result = build(&image, &context);
                    let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
                    let app = image_app(&image);
                    if let Some(n) = s.building.get_mut(app) {
                        *n -= 1;
                        if *n == 0 {
                            s.building.remove(app);
                        }
                    }
                    if let Err(e) = result {
                        progress!("testbed: building {image} failed: {e:#}");
                        s.failures.push((image, e));
                    }
                    changed.notify_all();
                }
            });
        }
    });
    let mut failures = state.into_inner().unwrap_or_else(|e| e.into_inner()).failures;
    if failures.is_empty() {
        return Ok(());
    }
    let (image, first) = failures.remove(0);
    let others: Vec<&str> = failures.iter().map(|(image, _)| image.as_str()).collect();
    let what = if others.is_empty() { format!("building {image}") } else { format!("building {image} (also failed: {})", others.join(", ")) };
    Err(HarnessError::infra(format!("testbed: {what}"), first))
}

/// Builds `image` from `context` unless an image with the same context hash exists.
///
/// A context may hold an executable `prepare` script: it runs on the host first, as
/// `prepare <tag> <build dir>`, to fetch what the build cannot (the build container has no
/// trust in this host's registry TLS), e.g. a release archive through Maven. The build then
/// uses the prepared copy of the context.
fn ensure_image(config: &RunConfig, image: &str, context: &Path) -> anyhow::Result<()> {
    let tag = image.rsplit(':').next().unwrap_or("dev");
    let app = image_app(image);
    let hash = context_hash(context)?;
    let current = || docker(&["image", "inspect", "--format", "{{index .Config.Labels \"ccci.context-hash\"}}", image]).unwrap_or_default() == hash;
    if current() {
        return Ok(());
    }
    // Another `testbed up` on this host (a second run starting on a fresh machine) may be
    // building the same image in the same build directory: wait for it, then look again.
    let _building = build_lock(config, &format!("{app}-{tag}"), image)?;
    if current() {
        return Ok(());
    }
    progress!("testbed: building {image}");
    let start = Instant::now();
    let mut context = context.to_path_buf();
    let mut build_dir = None;
    if context.join("prepare").is_file() {
        let build = testbed_dir(config).join("build").join(format!("{app}-{tag}"));
        let _ = std::fs::remove_dir_all(&build);
        std::fs::create_dir_all(&build)?;
        sh("copying the build context", Command::new("cp").arg("-a").arg(format!("{}/.", context.display())).arg(&build))?;
        progress!("testbed: {image}: running prepare");
        sh(&format!("{}/prepare {tag}", context.display()), Command::new(build.join("prepare")).arg(tag).arg(&build).current_dir(&build))?;
        context = build.clone();
        build_dir = Some(build);
    }
    let mut cmd = Command::new("docker");
    cmd.args(["build", "--network", "host", "-t", image, "--build-arg", &format!("TAG={tag}"), "--label", &format!("ccci.context-hash={hash}")])
        .arg(&context)
        .env("DOCKER_BUILDKIT", "0");
    sh(&format!("docker build {image}"), &mut cmd)?;
    // The prepared context is in the image now; a failed build's stays, to be looked at.
    if let Some(build) = build_dir {
        let _ = std::fs::remove_dir_all(build);
    }
    progress!("testbed: built {image} in {:.0}s", start.elapsed().as_secs_f64());
    Ok(())
}

/// The lock that makes one process at a time build `name` (`<app>-<tag>`), taken at once if
/// free, else after saying whom it waits for. The kernel releases it when its holder dies.
fn build_lock(config: &RunConfig, name: &str, image: &str) -> anyhow::Result<crate::lock::FileLock> {
    let path = testbed_dir(config).join("build").join(format!("{name}.lock"));
    if let Some(lock) = crate::lock::FileLock::try_exclusive(&path)? {
        return Ok(lock);
    }
    progress!("testbed: another testbed up is building {image}; waiting for it");
    // Blocking: a build is a blocking step of `up` (one of the build threads, or the base
    // image's, which every build needs first).
    Ok(crate::lock::FileLock::blocking_exclusive(&path)?)
}

fn context_hash(dir: &Path) -> anyhow::Result<String> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect();
    entries.sort();
    let mut hasher = Sha256::new();
    for path in entries {
        hasher.update(path.file_name().unwrap_or_default().as_encoded_bytes());
        hasher.update(std::fs::read(&path)?);
    }
    Ok(hex::encode(&hasher.finalize()[..8]))
}

/// Deploys the ingress stack (or leaves it if it is running the current config).
async fn ensure_proxy(config: &RunConfig, swarm: &Swarm) -> Result<()> {
    let proxy_dir = testbed_dir(config).join("proxy");
    let source = config.workspace_root.join("testbed").join("proxy");
    step("proxy config", || {
        std::fs::create_dir_all(proxy_dir.join("routes").join("http"))?;
        std::fs::create_dir_all(proxy_dir.join("routes").join("stream"))?;
        let conf = std::fs::read(source.join("nginx.conf"))?;
        if std::fs::read(proxy_dir.join("nginx.conf")).ok().as_deref() != Some(&conf[..]) {
            std::fs::write(proxy_dir.join("nginx.conf"), conf)?;
        }
        Ok(())
    })?;
    let running = swarm.stack_state(PROXY_STACK, 0).await.map(|s| s.converged()).unwrap_or(false);
    let deployed_env = docker(&["service", "inspect", "--format", "{{json .Spec.TaskTemplate.ContainerSpec.Env}}", &format!("{PROXY_STACK}_app")]).unwrap_or_default();
    let hash = step("hashing proxy config", || context_hash(&source))?;
    if running && deployed_env.contains(&format!("CCCI_CONFIG_HASH={hash}")) {
        return Ok(());
    }
    progress!("testbed: deploying the ingress ({PROXY_STACK})");
    step("deploying the ingress", || {
        let final_path = source.join("compose.yml");
        sh(
            "docker stack deploy ccci-proxy",
            Command::new("docker")
                .args(["stack", "deploy", "--detach=true", "--resolve-image", "never", "-c"])
                .arg(&final_path)
                .arg(PROXY_STACK)
                .env("CCCI_PROXY_DIR", &proxy_dir)
                .env("CCCI_CONFIG_HASH", &hash),
        )
        .map(|_| ())
    })?;
    swarm.wait_converged(PROXY_STACK, Duration::from_secs(120), config.timeouts.poll).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Build contexts with the given minute hints, in a directory removed on drop.
    struct Contexts(PathBuf, Vec<(String, PathBuf)>);

    impl Drop for Contexts {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn contexts(test: &str, images: &[(&str, Option<u32>)]) -> Contexts {
        let dir = std::env::temp_dir().join(format!("ccci-testbed-{test}-{}", std::process::id()));
        let list = images
            .iter()
            .map(|(image, minutes)| {
                let context = dir.join(image.replace([':', '/'], "_"));
                std::fs::create_dir_all(&context).unwrap();
                let hint = minutes.map(|m| format!("# ccci-build-minutes: {m}\n")).unwrap_or_default();
                std::fs::write(context.join("Dockerfile"), format!("# an image\n{hint}FROM scratch\n")).unwrap();
                (image.to_string(), context)
            })
            .collect();
        Contexts(dir, list)
    }

    #[test]
    fn the_longest_builds_start_first_and_unmarked_ones_count_a_minute() {
        let Contexts(_, ref images) = contexts("order", &[
            ("ccci-testbed/a:1", None),
            ("ccci-testbed/slow:1", Some(15)),
            ("ccci-testbed/mid:1", Some(5)),
            ("ccci-testbed/b:1", Some(1)),
        ]);
        let order: Vec<(u32, String)> = build_order(images.clone()).into_iter().map(|(minutes, image, _)| (minutes, image)).collect();
        let expected = [(15, "ccci-testbed/slow:1"), (5, "ccci-testbed/mid:1"), (1, "ccci-testbed/a:1"), (1, "ccci-testbed/b:1")];
        assert_eq!(order, expected.map(|(m, i)| (m, i.to_owned())));
    }

    #[test]
    fn builds_overlap_up_to_the_job_count_and_tags_of_one_app_only_for_the_longest() {
        let Contexts(_, ref images) = contexts("overlap", &[
            ("ccci-testbed/n8n:1", Some(15)),
            ("ccci-testbed/n8n:2", Some(15)),
            ("ccci-testbed/ghost:1", Some(5)),
            ("ccci-testbed/ghost:2", Some(5)),
            ("ccci-testbed/nginx:1", None),
            ("ccci-testbed/postgres:15", None),
        ]);
        let running = std::sync::Mutex::new(Vec::<String>::new());
        let (most, overlapped, built) = (std::sync::atomic::AtomicUsize::new(0), std::sync::Mutex::new(BTreeSet::new()), std::sync::Mutex::new(vec![]));
        // The first three builds wait (with a deadline) until three have started: a scheduler
        // that runs fewer at once fails the count below instead of hanging.
        let gate = (std::sync::Mutex::new(0usize), std::sync::Condvar::new());
        schedule(images.clone(), 3, |image, _| {
            {
                let mut now = running.lock().unwrap();
                if now.iter().any(|other| image_app(other) == image_app(image)) {
                    overlapped.lock().unwrap().insert(image_app(image).to_owned());
                }
                now.push(image.to_owned());
                most.fetch_max(now.len(), std::sync::atomic::Ordering::SeqCst);
            }
            let (started, cv) = &gate;
            let mut n = started.lock().unwrap();
            *n += 1;
            cv.notify_all();
            drop(cv.wait_timeout_while(n, Duration::from_secs(5), |n| *n < 3).unwrap());
            running.lock().unwrap().retain(|other| other != image);
            built.lock().unwrap().push(image.to_owned());
            Ok(())
        })
        .unwrap();
        assert_eq!(built.into_inner().unwrap().len(), 6, "every image is built once");
        assert_eq!(overlapped.into_inner().unwrap(), BTreeSet::from(["n8n".to_owned()]), "apps whose tags built at once");
        assert_eq!(most.into_inner(), 3, "three builds ran at once");
    }

    #[test]
    fn after_a_failure_no_new_build_starts_and_the_error_names_the_image() {
        let Contexts(_, ref images) = contexts("failure", &[("ccci-testbed/broken:1", Some(9)), ("ccci-testbed/a:1", None), ("ccci-testbed/b:1", None)]);
        let started = std::sync::Mutex::new(vec![]);
        let err = schedule(images.clone(), 1, |image, _| {
            started.lock().unwrap().push(image.to_owned());
            if image.contains("broken") { anyhow::bail!("npm: 503") } else { Ok(()) }
        })
        .unwrap_err()
        .to_string();
        assert_eq!(started.into_inner().unwrap(), ["ccci-testbed/broken:1"]);
        assert!(err.contains("[unverified]") && err.contains("building ccci-testbed/broken:1") && err.contains("npm: 503"), "{err}");
    }

    #[test]
    fn a_failing_fetch_is_tried_once_more_and_a_second_failure_is_the_error() {
        let mut calls = 0;
        let ok = once_more("the flaky step", || {
            calls += 1;
            if calls == 1 { anyhow::bail!("mirror: connection reset") } else { Ok(calls) }
        });
        assert_eq!(ok.unwrap(), 2);
        let mut calls = 0;
        let err = once_more("the broken step", || -> anyhow::Result<()> {
            calls += 1;
            anyhow::bail!("attempt {calls}")
        });
        assert_eq!((err.unwrap_err().to_string(), calls), ("attempt 2".to_owned(), 2));
    }
}
