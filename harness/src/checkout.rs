//! Recipe sources: a recipe is a git repository whose annotated tags are its releases
//! (`1.0.0+1.22.1`) and whose working tree is the PR head.
//!
//! On a cc-ci host the repository is the PR checkout. On the offline testbed, a fixture
//! directory `testbed/recipes/<name>/` holds one sub-directory per release plus `head/`; it is
//! materialised once into a real git repository (one commit and annotated tag per release, the
//! head committed untagged on top), so upgrades exercise the same tag logic as production.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::Context as _;
use sha2::{Digest, Sha256};

use crate::{
    config::RunConfig,
    error::{HarnessError, Result},
    lock::FileLock,
    progress,
};

/// Which state of the recipe to deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rev {
    /// The working tree as it is, uncommitted changes included (abra's `--chaos`).
    Head,
    /// A published release tag.
    Release(String),
}

/// A recipe's git repository.
#[derive(Debug, Clone)]
pub struct RecipeSource {
    pub name: String,
    pub repo: PathBuf,
}

fn git(repo: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["-c", "user.name=ccci", "-c", "user.email=ccci@localhost", "-c", "tag.gpgSign=false", "-c", "commit.gpgSign=false"])
        .args(args)
        .output()
        .with_context(|| format!("running git {}", args.join(" ")))?;
    if !out.status.success() {
        anyhow::bail!("git {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Orders Co-op Cloud versions `<major>.<minor>.<patch>+<upstream>` by the recipe part.
pub(crate) fn version_key(version: &str) -> (Vec<u64>, String) {
    let recipe_part = version.split('+').next().unwrap_or(version);
    let nums = recipe_part.split(['.', '-']).map_while(|p| p.parse::<u64>().ok()).collect();
    (nums, version.to_owned())
}

fn is_release_tag(tag: &str) -> bool {
    let recipe_part = tag.split('+').next().unwrap_or(tag);
    let parts: Vec<&str> = recipe_part.split('.').collect();
    parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

impl RecipeSource {
    pub fn git_repo(name: impl Into<String>, repo: impl Into<PathBuf>) -> RecipeSource {
        RecipeSource { name: name.into(), repo: repo.into() }
    }

    /// The testbed fixture `name`, materialised (once per content hash) into a git repository.
    pub async fn fixture(config: &RunConfig, name: &str) -> Result<RecipeSource> {
        Self::fixture_dir(config, &config.fixtures_dir().join(name), name).await
    }

    /// A fixture directory anywhere (the harness's own tests keep theirs beside them).
    pub async fn fixture_dir(config: &RunConfig, dir: &Path, name: &str) -> Result<RecipeSource> {
        let dir = dir.to_path_buf();
        if !dir.is_dir() {
            return Err(HarnessError::Config(format!(
                "no testbed fixture {name:?}: {} does not exist",
                dir.display()
            )));
        }
        let hash = tree_hash(&dir).map_err(|e| HarnessError::infra(format!("hashing {}", dir.display()), e))?;
        let cache = config.state_dir.join("fixtures");
        let repo = cache.join(format!("{name}-{}", &hash[..12]));
        if repo.join(".git").is_dir() {
            return Ok(RecipeSource::git_repo(name, repo));
        }
        let _lock = FileLock::exclusive(&cache.join(format!("{name}.lock")), config.timeouts.shared, "fixture materialisation").await?;
        if !repo.join(".git").is_dir() {
            materialise(&dir, &repo).map_err(|e| HarnessError::infra(format!("materialising fixture {name}"), e))?;
            progress!("fixture {name}: git repository at {}", repo.display());
        }
        Ok(RecipeSource::git_repo(name, repo))
    }

    /// Release tags, oldest first.
    pub fn releases(&self) -> Result<Vec<String>> {
        let tags = git(&self.repo, &["tag", "--list"]).map_err(|e| HarnessError::infra("listing recipe tags", e))?;
        let mut tags: Vec<String> = tags.lines().map(str::trim).filter(|t| is_release_tag(t)).map(str::to_owned).collect();
        tags.sort_by_key(|t| version_key(t));
        Ok(tags)
    }

    /// The newest release that is not the head itself: the upgrade base for a PR.
    pub fn previous_release(&self) -> Result<Option<String>> {
        let head = git(&self.repo, &["rev-parse", "HEAD"]).map_err(|e| HarnessError::infra("reading HEAD", e))?;
        let mut releases = self.releases()?;
        while let Some(tag) = releases.pop() {
            let at = git(&self.repo, &["rev-list", "-n", "1", &tag]).map_err(|e| HarnessError::infra("resolving tag", e))?;
            if at != head {
                return Ok(Some(tag));
            }
        }
        Ok(None)
    }

    /// Short commit id of the head, as abra's chaos label records it.
    pub fn head_sha(&self) -> Result<String> {
        git(&self.repo, &["rev-parse", "--short=7", "HEAD"]).map_err(|e| HarnessError::infra("reading HEAD", e))
    }

    /// Writes the files of `rev` into `dest` (which must not exist yet).
    pub fn export(&self, rev: &Rev, dest: &Path) -> Result<()> {
        let run = || -> anyhow::Result<()> {
            std::fs::create_dir_all(dest)?;
            let script = match rev {
                Rev::Head => "tar --exclude=.git -C \"$1\" -cf - . | tar -C \"$2\" -xf -".to_owned(),
                Rev::Release(tag) => {
                    anyhow::ensure!(is_release_tag(tag), "{tag:?} is not a release tag");
                    format!("git -C \"$1\" archive --format=tar 'refs/tags/{tag}' | tar -C \"$2\" -xf -")
                }
            };
            let status = Command::new("bash")
                .args(["-euo", "pipefail", "-c", &script, "export"])
                .arg(&self.repo)
                .arg(dest)
                .status()?;
            anyhow::ensure!(status.success(), "export exited with {status}");
            Ok(())
        };
        run().map_err(|e| HarnessError::infra(format!("exporting {} {rev:?}", self.name), e))
    }
}

/// sha256 over every file path and content below `dir`, in sorted order.
fn tree_hash(dir: &Path) -> anyhow::Result<String> {
    let mut files = vec![];
    collect_files(dir, dir, &mut files)?;
    files.sort();
    let mut hasher = Sha256::new();
    // Bumped when materialisation changes, so repositories made by an older harness are redone.
    hasher.update(b"materialise-v2\0");
    for rel in files {
        hasher.update(rel.to_string_lossy().as_bytes());
        hasher.update([0]);
        hasher.update(std::fs::read(dir.join(&rel))?);
        hasher.update([0]);
    }
    Ok(hex::encode(hasher.finalize()))
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_files(root, &path, out)?;
        } else {
            out.push(path.strip_prefix(root)?.to_path_buf());
        }
    }
    Ok(())
}

/// Builds the git repository: one commit + annotated tag per release dir (oldest first), then
/// `head/` as an untagged commit on top.
fn materialise(fixture: &Path, repo: &Path) -> anyhow::Result<()> {
    let tmp = repo.with_extension("tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    git(&tmp, &["init", "-q", "-b", "main"])?;
    let mut releases: Vec<String> = std::fs::read_dir(fixture)?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| is_release_tag(n))
        .collect();
    releases.sort_by_key(|t| version_key(t));
    anyhow::ensure!(fixture.join("head").is_dir(), "{} has no head/ directory", fixture.display());
    let steps = releases.iter().map(|r| (r.as_str(), Some(r.as_str()))).chain([("head", None)]);
    for (dir, tag) in steps {
        // Replace the tree with this version's files.
        for entry in std::fs::read_dir(&tmp)? {
            let path = entry?.path();
            if path.file_name().is_some_and(|n| n != ".git") {
                if path.is_dir() { std::fs::remove_dir_all(&path)? } else { std::fs::remove_file(&path)? }
            }
        }
        let status = Command::new("cp").arg("-a").arg(format!("{}/.", fixture.join(dir).display())).arg(&tmp).status()?;
        anyhow::ensure!(status.success(), "copying {dir}");
        // `cp -a` keeps mtimes: a same-size file would look unchanged to git's stat cache and
        // the commit would keep the previous release's content. Re-index from scratch.
        git(&tmp, &["rm", "-r", "-q", "--cached", "--ignore-unmatch", "."])?;
        git(&tmp, &["add", "-A"])?;
        let message = match tag {
            Some(tag) => format!("chore: publish {tag} release"),
            None => "PR head: unreleased changes".to_owned(),
        };
        git(&tmp, &["commit", "-q", "--allow-empty", "-m", &message])?;
        if let Some(tag) = tag {
            git(&tmp, &["tag", "-a", tag, "-m", &message])?;
        }
    }
    std::fs::rename(&tmp, repo)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_order_by_recipe_semver_not_by_text() {
        let mut v = vec!["1.10.0+1.0", "1.2.0+2.0", "1.2.0+1.0", "0.9.9+9"];
        v.sort_by_key(|t| version_key(t));
        assert_eq!(v, ["0.9.9+9", "1.2.0+1.0", "1.2.0+2.0", "1.10.0+1.0"]);
        assert!(is_release_tag("1.0.0+1.22.1"));
        assert!(!is_release_tag("head") && !is_release_tag("v1") && !is_release_tag("1.0+x"));
    }

    #[test]
    fn a_fixture_becomes_a_repo_whose_previous_release_is_the_newest_tag() {
        let base = std::env::temp_dir().join(format!("ccci-checkout-{}", std::process::id()));
        let fixture = base.join("fx");
        for (dir, body) in [("1.0.0+1", "one"), ("1.1.0+1", "two"), ("head", "six")] {
            std::fs::create_dir_all(fixture.join(dir)).unwrap();
            std::fs::write(fixture.join(dir).join("compose.yml"), body).unwrap();
            // Same size and mtime in every release: what defeats git's stat cache.
            let file = std::fs::File::options().write(true).open(fixture.join(dir).join("compose.yml")).unwrap();
            file.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000)).unwrap();
        }
        let repo = base.join("repo");
        materialise(&fixture, &repo).unwrap();
        let source = RecipeSource::git_repo("fx", &repo);
        assert_eq!(source.releases().unwrap(), ["1.0.0+1", "1.1.0+1"]);
        assert_eq!(source.previous_release().unwrap().as_deref(), Some("1.1.0+1"));
        let out = base.join("out");
        source.export(&Rev::Release("1.0.0+1".into()), &out).unwrap();
        assert_eq!(std::fs::read_to_string(out.join("compose.yml")).unwrap(), "one");
        let head = base.join("head-out");
        source.export(&Rev::Head, &head).unwrap();
        assert_eq!(std::fs::read_to_string(head.join("compose.yml")).unwrap(), "six");
        // The head *commit* holds the head's files too (same size, same mtime as a release's).
        let committed = git(&repo, &["show", "HEAD:compose.yml"]).unwrap();
        assert_eq!(committed, "six");
        std::fs::remove_dir_all(base).unwrap();
    }
}
