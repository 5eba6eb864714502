//! Shared by xtask's integration tests: the Gitea fake and a way to run the real `xtask`
//! binary (what `cargo xtask` runs) with a clean environment.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

pub(crate) mod gitea_fake;
pub(crate) mod gitea_real;

use std::{
    path::{Path, PathBuf},
    process::Stdio,
};

/// The bot's token in the fake. Tests assert it never appears in any output.
pub(crate) const TOKEN: &str = "gta_0123456789abcdef0123456789abcdef01234567";

pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// `xtask <args>` in `cwd`, with none of the caller's Gitea, PR or nextest variables.
pub(crate) fn xtask(cwd: &Path, args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.current_dir(cwd).args(args).stdin(Stdio::null());
    for (key, _) in std::env::vars_os() {
        let key_text = key.to_string_lossy();
        let foreign = key_text.starts_with("NEXTEST")
            || key_text.starts_with("GITEA_")
            || matches!(
                key_text.as_ref(),
                "CCCI_PR" | "CCCI_COMMENT_ID" | "CCCI_DEFAULT_REPO" | "CCCI_PROJECT_REPO" | "CCCI_RECIPE_REPO" | "CCCI_NAME_TAG" | "CCCI_RUN_ID" | "CCCI_RUN_OWNER_PID" | "DRONE_BUILD_LINK"
            );
        if foreign {
            cmd.env_remove(&key);
        }
    }
    // This test process routes Docker through its own API bridge (see harness::bridge); the
    // child starts its own, as it would from a shell.
    if std::env::var_os("CCCI_DOCKER_BRIDGE").is_some() {
        cmd.env_remove("DOCKER_HOST").env_remove("CCCI_DOCKER_BRIDGE");
    }
    cmd
}

/// The value after `prefix` on the first stdout line that has it.
pub(crate) fn after<'a>(stdout: &'a str, prefix: &str) -> Option<&'a str> {
    stdout.lines().find_map(|l| l.strip_prefix(prefix))
}

/// `docker <args>` output lines (the engine is the testbed's).
pub(crate) fn docker_lines(args: &[&str]) -> Vec<String> {
    let out = std::process::Command::new("docker").args(args).output().expect("running docker");
    assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.trim().is_empty()).map(str::to_owned).collect()
}

/// What a finished process said.
#[derive(Debug)]
pub(crate) struct Output {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Output {
    pub(crate) fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

pub(crate) async fn run(mut cmd: tokio::process::Command) -> Output {
    let out = cmd.output().await.expect("running xtask");
    Output { code: out.status.code(), stdout: String::from_utf8_lossy(&out.stdout).into_owned(), stderr: String::from_utf8_lossy(&out.stderr).into_owned() }
}

/// `git -C dir args...`, which must succeed; returns stdout.
pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=ccci-test", "-c", "user.email=ccci-test@localhost", "-c", "commit.gpgSign=false", "-c", "tag.gpgSign=false"])
        .args(args)
        .output()
        .expect("running git");
    assert!(out.status.success(), "git {args:?} in {}: {}", dir.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Builds a bare recipe repository from a testbed fixture directory (`<version>/` per release,
/// `head/`): one commit and annotated tag per release on `main`, then the head as branch
/// `feature`, also published as Gitea's `refs/pull/<pr>/head`. Returns the head sha.
pub(crate) fn recipe_repository(fixture: &Path, bare: &Path, pr: u64) -> String {
    let work = bare.with_extension("work");
    std::fs::create_dir_all(&work).unwrap();
    git(&work, &["init", "-q", "-b", "main"]);
    let mut releases: Vec<String> = std::fs::read_dir(fixture)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != "head")
        .collect();
    releases.sort_by_key(|v| v.split(['.', '+']).take(3).map(|p| p.parse::<u64>().unwrap_or(0)).collect::<Vec<_>>());
    let versions = releases.iter().map(|r| (r.as_str(), Some(r.as_str()))).chain([("head", None)]);
    for (dir, tag) in versions {
        if tag.is_none() {
            git(&work, &["checkout", "-q", "-b", "feature"]);
        }
        for entry in std::fs::read_dir(&work).unwrap() {
            let path = entry.unwrap().path();
            if path.file_name().unwrap() != ".git" {
                if path.is_dir() { std::fs::remove_dir_all(&path).unwrap() } else { std::fs::remove_file(&path).unwrap() }
            }
        }
        let copied = std::process::Command::new("cp").arg("-a").arg(format!("{}/.", fixture.join(dir).display())).arg(&work).status().unwrap();
        assert!(copied.success());
        // A fresh index: `cp -a` keeps mtimes, and a same-size file with the same mtime would
        // otherwise look unchanged to git and keep the previous version's content.
        git(&work, &["rm", "-r", "-q", "--cached", "--ignore-unmatch", "."]);
        git(&work, &["add", "-A"]);
        git(&work, &["commit", "-q", "-m", &tag.map(|t| format!("chore: publish {t} release")).unwrap_or_else(|| "PR head".into())]);
        if let Some(tag) = tag {
            git(&work, &["tag", "-a", tag, "-m", tag]);
        }
    }
    git(bare.parent().unwrap(), &["clone", "-q", "--bare", work.to_str().unwrap(), bare.to_str().unwrap()]);
    let head = git(bare, &["rev-parse", "feature"]);
    git(bare, &["update-ref", &format!("refs/pull/{pr}/head"), &head]);
    head
}

/// A fresh directory under the system temp dir, removed when dropped.
pub(crate) struct TempDir(pub PathBuf);

impl TempDir {
    pub(crate) fn new(label: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("ccci-xtask-{label}-{}-{}", std::process::id(), rand_suffix()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}
