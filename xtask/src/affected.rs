//! `cargo xtask affected --base <rev>`: the recipe crates that the commits `<rev>..HEAD` of
//! the current checkout need, with reasons: the decision `testme` makes for a PR on this
//! project, for CI jobs that have a git checkout rather than a PR.

use std::{path::Path, process::Command};

use anyhow::Context as _;

use crate::{select, workspace::Workspace};

/// Paths changed between `base` and `HEAD` below `dir`, relative to `dir`.
/// Renames count as a deletion plus an addition, so both sides select.
pub fn changed_paths(dir: &Path, base: &str) -> anyhow::Result<Vec<String>> {
    let verify = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--verify", "--quiet", &format!("{base}^{{commit}}")])
        .output()
        .context("running git rev-parse")?;
    anyhow::ensure!(verify.status.success(), "unknown revision {base:?} in {}", dir.display());
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["diff", "--name-only", "--no-renames", "--relative", "-z", &format!("{base}..HEAD"), "--"])
        .output()
        .context("running git diff")?;
    anyhow::ensure!(
        out.status.success(),
        "git diff {base}..HEAD failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(out.stdout.split(|b| *b == 0).filter(|p| !p.is_empty()).map(|p| String::from_utf8_lossy(p).into_owned()).collect())
}

/// The decision for `base..HEAD` of the workspace at `dir`, and the text to print.
pub fn run(dir: &Path, base: &str) -> anyhow::Result<(select::Decision, String)> {
    let ws = Workspace::load(dir)?;
    let paths = changed_paths(&ws.root, base)?;
    let decision = select::for_paths(&ws, &paths);
    let mut text = format!("affected: {base}..HEAD changes {} file{}\n", paths.len(), if paths.len() == 1 { "" } else { "s" });
    text.push_str(&decision.to_string());
    Ok((decision, text))
}
