//! Upgrade: the previous published release (Gitea 1.26.0), with a repository and a pushed
//! commit, moves to the PR head (1.27.3) in place: the version Gitea reports moves, the
//! database migrates (`gitea migrate` before the server starts), and the repository, its
//! commit and its file survive; git over HTTPS still works afterwards.

use harness::{contract::Phase, prelude::*};
use recipe_gitea::{DEFAULT_BRANCH, RepoMarker, admin, admin_credentials, tag, upstream_version};

#[tokio::test(flavor = "multi_thread")]
async fn upgrade_from_the_previous_release_moves_the_version_and_keeps_the_repository() -> anyhow::Result<()> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    let (base, head) = (suite.upgrade_base()?, suite.head_version()?);
    let (base, head) = (upstream_version(&base)?.to_owned(), upstream_version(&head)?.to_owned());
    anyhow::ensure!(base != head, "the head must move Gitea ({base} -> {head})");
    contract::upgrade_keeps_checking(&suite, &mut RepoMarker::new(), async |app, phase| {
        let expected = if phase == Phase::Base { &base } else { &head };
        let api = admin(app)?;
        let version = api.version().await?;
        anyhow::ensure!(&version == expected, "Gitea reports {version}, not {expected} ({phase:?})");
        if phase == Phase::Head {
            // A push on the migrated database: git over HTTPS and the hooks still work.
            let (login, password) = admin_credentials(app)?;
            let repo = format!("after-upgrade-{}", tag());
            api.create_repo(&login, &repo, false).await?;
            let git = api.gitea().git(recipe_gitea::Auth::basic(&login, password));
            let sha = git.push_files(&login, &repo, DEFAULT_BRANCH, None, &[("README.md", b"upgraded\n")], "after the upgrade").await?;
            anyhow::ensure!(api.branch_sha(&login, &repo, DEFAULT_BRANCH).await?.as_deref() == Some(sha.as_str()), "the push after the upgrade is not on {DEFAULT_BRANCH}");
        }
        Ok(())
    })
    .await
    .map(drop)
}
