//! Shared by xtask's integration tests: the Gitea fake and a way to run the real `xtask`
//! binary (what `cargo xtask` runs) with a clean environment.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

pub(crate) mod gitea_fake;

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
