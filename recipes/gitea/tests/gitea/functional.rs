//! Functional: what a forge is used for, as the administrator from the recipe's secret and as
//! users it creates, on the shared deployment: users and repositories through the API, a
//! commit pushed with git over HTTPS through the proxy and read back through the API, a pull
//! request with a comment edited in place and a commit status (what a CI bot does), write
//! access through an org team, and wrong credentials refused.

use harness::prelude::*;
use recipe_gitea::{Api, Auth, DEFAULT_BRANCH, Gitea, admin, tag};
use reqwest::Method;

use crate::shared;

/// A user with a repository of its own (empty unless `auto_init`), made by the admin.
async fn user_with_repo(api: &Api, what: &str, auto_init: bool) -> anyhow::Result<(recipe_gitea::User, String)> {
    let t = tag();
    let user = api.create_user(&format!("{what}-{t}")).await?;
    let repo = format!("{what}-repo-{t}");
    api.create_repo(&user.login, &repo, auto_init).await?;
    Ok((user, repo))
}

/// The admin creates a user and a repository for it; the user logs in with its password and
/// reads the repository back: owner, default branch, the README of `auto_init`, and links on
/// the testbed domain (`ROOT_URL`), so a clone URL from the API is usable as it is.
#[tokio::test(flavor = "multi_thread")]
async fn an_admin_made_user_reads_back_its_repository_with_links_on_the_app_domain() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let api = admin(&app)?;
    let (user, repo) = user_with_repo(&api, "alice", true).await?;
    let as_user = api.gitea().api(user.auth());
    assert_eq!(as_user.me().await?["login"].as_str(), Some(user.login.as_str()));
    let r = as_user.repo(&user.login, &repo).await?.ok_or_else(|| anyhow::format_err!("{}/{repo} not found by its owner", user.login))?;
    assert_eq!(r["owner"]["login"].as_str(), Some(user.login.as_str()));
    assert_eq!(r["default_branch"].as_str(), Some(DEFAULT_BRANCH));
    assert_eq!(r["empty"].as_bool(), Some(false), "auto_init made no commit");
    assert_eq!(r["permissions"]["admin"].as_bool(), Some(true), "the owner is not admin of its repository");
    let base = format!("https://{}/", app.domain());
    assert_eq!(r["clone_url"].as_str(), Some(format!("{base}{}/{repo}.git", user.login).as_str()));
    assert_eq!(r["html_url"].as_str(), Some(format!("{base}{}/{repo}", user.login).as_str()));
    let readme = as_user.file(&user.login, &repo, "README.md", DEFAULT_BRANCH).await?.ok_or_else(|| anyhow::format_err!("no README.md"))?;
    assert!(String::from_utf8_lossy(&readme).contains(&repo), "the README does not name the repository");
    // Anyone may read a public repository; nobody but Gitea has heard of a random one.
    assert!(api.gitea().anonymous().repo(&user.login, &repo).await?.is_some());
    assert!(as_user.repo(&user.login, &format!("missing-{}", tag())).await?.is_none());
    Ok(())
}

/// A user pushes a commit with git over HTTPS through the proxy (authenticated with a scoped
/// access token), and the API reads it back: the branch points at the pushed sha, the commit
/// carries the message, the files are byte for byte what was pushed; a fresh clone agrees.
#[tokio::test(flavor = "multi_thread")]
async fn a_commit_pushed_over_https_reads_back_through_the_api() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let api = admin(&app)?;
    let (user, repo) = user_with_repo(&api, "pusher", false).await?;
    let as_user = api.gitea().api(user.auth());
    let token = as_user.create_token(&format!("push-{}", tag()), &["write:repository", "read:user"]).await?;
    let git = api.gitea().git(Auth::token(&user.login, token.clone()));

    let src = std::env::temp_dir().join(format!("ccci-gitea-src-{}", tag()));
    std::fs::create_dir_all(src.join("docs"))?;
    let data: Vec<u8> = (0..4096).map(|_| rand::random::<u8>()).collect();
    std::fs::write(src.join("data.bin"), &data)?;
    std::fs::write(src.join("docs/notes.md"), b"# notes\n")?;
    let message = format!("first commit {}", tag());
    let pushed = git.push_dir(&src, &user.login, &repo, DEFAULT_BRANCH, None, &message).await;
    let _ = std::fs::remove_dir_all(&src);
    let sha = pushed?;

    assert_eq!(as_user.branch_sha(&user.login, &repo, DEFAULT_BRANCH).await?.as_deref(), Some(sha.as_str()));
    let commit = as_user.commit(&user.login, &repo, &sha).await?;
    assert_eq!(commit["sha"].as_str(), Some(sha.as_str()));
    assert_eq!(commit["commit"]["message"].as_str().map(str::trim), Some(message.as_str()));
    assert_eq!(as_user.file(&user.login, &repo, "data.bin", &sha).await?.as_deref(), Some(&data[..]));
    assert_eq!(as_user.file(&user.login, &repo, "docs/notes.md", DEFAULT_BRANCH).await?.as_deref(), Some(&b"# notes\n"[..]));

    // The token authenticates the API too, as its user.
    let by_token = api.gitea().api(Auth::token(&user.login, token));
    assert_eq!(by_token.me().await?["login"].as_str(), Some(user.login.as_str()));

    // A clone through the same route sees the same commit.
    let dest = std::env::temp_dir().join(format!("ccci-gitea-clone-{}", tag()));
    let cloned = async {
        git.clone_into(&user.login, &repo, &dest).await?;
        let head = git.run(&dest, &["rev-parse", "HEAD"]).await?;
        let bytes = std::fs::read(dest.join("data.bin"))?;
        anyhow::Ok((head, bytes))
    }
    .await;
    let _ = std::fs::remove_dir_all(&dest);
    let (head, bytes) = cloned?;
    assert_eq!(head, sha);
    assert_eq!(bytes, data);
    Ok(())
}

/// What a CI bot does on a pull request: a collaborator opens it from a pushed branch, the
/// admin comments as the collaborator (`Sudo`), the comment is edited in place (same id, one
/// comment, new body), and a commit status set on the head sha reads back (per commit and
/// combined, the newest state of a context winning).
#[tokio::test(flavor = "multi_thread")]
async fn a_pull_request_takes_a_comment_edited_in_place_and_a_commit_status() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let api = admin(&app)?;
    let (owner, repo) = user_with_repo(&api, "owner", false).await?;
    let collaborator = api.create_user(&format!("collab-{}", tag())).await?;
    api.add_collaborator(&owner.login, &repo, &collaborator.login, "write").await?;

    let git = api.gitea().git(owner.auth());
    let base_sha = git.push_files(&owner.login, &repo, DEFAULT_BRANCH, None, &[("recipe.txt", b"v1\n")], "base").await?;
    let git = api.gitea().git(collaborator.auth());
    let head_sha = git.push_files(&owner.login, &repo, "change", Some(DEFAULT_BRANCH), &[("recipe.txt", b"v2\n")], "change the recipe").await?;
    assert_ne!(base_sha, head_sha);

    let as_collab = api.gitea().api(collaborator.auth());
    let pr = as_collab.create_pull(&owner.login, &repo, "change", DEFAULT_BRANCH, "Change the recipe").await?;
    let number = pr["number"].as_i64().ok_or_else(|| anyhow::format_err!("no PR number: {pr}"))?;
    let pr = api.pull(&owner.login, &repo, number).await?;
    assert_eq!(pr["head"]["sha"].as_str(), Some(head_sha.as_str()), "the PR's head is not the pushed commit");
    assert_eq!(pr["base"]["ref"].as_str(), Some(DEFAULT_BRANCH));
    assert_eq!(pr["user"]["login"].as_str(), Some(collaborator.login.as_str()));
    assert_eq!(pr["state"].as_str(), Some("open"));

    let first = format!("!testme {}", tag());
    let comment = api.sudo(&collaborator.login).comment(&owner.login, &repo, number, &first).await?;
    let id = comment["id"].as_i64().ok_or_else(|| anyhow::format_err!("no comment id: {comment}"))?;
    assert_eq!(comment["user"]["login"].as_str(), Some(collaborator.login.as_str()), "Sudo did not comment as the collaborator");
    let edited = format!("edited in place {}", tag());
    let after = api.sudo(&collaborator.login).edit_comment(&owner.login, &repo, id, &edited).await?;
    assert_eq!(after["id"].as_i64(), Some(id));
    let comments = as_collab.comments(&owner.login, &repo, number).await?;
    assert_eq!(comments.len(), 1, "the edit made another comment: {comments:?}");
    assert_eq!(comments[0]["id"].as_i64(), Some(id));
    assert_eq!(comments[0]["body"].as_str(), Some(edited.as_str()));
    // Another user (not the poster, not a repository admin) cannot edit it.
    let bystander = api.create_user(&format!("bystander-{}", tag())).await?;
    let refused = api.gitea().api(bystander.auth()).call(Method::PATCH, &format!("/repos/{}/{repo}/issues/comments/{id}", owner.login), Some(&serde_json::json!({"body": "hijacked"}))).await?;
    assert_eq!(refused.status, 403, "another user edited the comment: {}", refused.body);

    let context = "ccci/testme";
    api.set_status(&owner.login, &repo, &head_sha, "pending", context, "L0 running").await?;
    api.set_status(&owner.login, &repo, &head_sha, "success", context, "L5 lint: 12 passed").await?;
    let statuses = api.statuses(&owner.login, &repo, &head_sha).await?;
    let seen: Vec<(Option<&str>, Option<&str>, Option<&str>)> =
        statuses.iter().map(|s| (s["context"].as_str(), s["status"].as_str(), s["description"].as_str())).collect();
    assert_eq!(seen.len(), 2, "{statuses:?}");
    assert!(seen.contains(&(Some(context), Some("pending"), Some("L0 running"))), "{seen:?}");
    assert!(seen.contains(&(Some(context), Some("success"), Some("L5 lint: 12 passed"))), "{seen:?}");
    let combined = as_collab.combined_status(&owner.login, &repo, &head_sha).await?;
    assert_eq!(combined["state"].as_str(), Some("success"), "{combined}");
    assert_eq!(combined["sha"].as_str(), Some(head_sha.as_str()));
    // Nothing was set on the base commit.
    assert!(api.statuses(&owner.login, &repo, &base_sha).await?.is_empty());
    Ok(())
}

/// Write access comes from a team of an organization as well as from direct collaboration;
/// the repository as each user sees it (the admin's `Sudo`) says who may push: the team
/// member and the collaborator may, an outsider and a read-only team member may not. A push
/// by the outsider is refused by the server.
#[tokio::test(flavor = "multi_thread")]
async fn write_access_through_an_org_team_or_collaboration_shows_as_push_permission() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let api = admin(&app)?;
    let t = tag();
    let org = format!("org-{t}");
    api.create_org(&org).await?;
    let repo = format!("recipe-{t}");
    api.create_repo(&org, &repo, true).await?;
    let maintainers = api.create_team(&org, "maintainers", "write").await?;
    let readers = api.create_team(&org, "readers", "read").await?;
    let member = api.create_user(&format!("maint-{t}")).await?;
    let reader = api.create_user(&format!("reader-{t}")).await?;
    let collaborator = api.create_user(&format!("collab-{t}")).await?;
    let outsider = api.create_user(&format!("outsider-{t}")).await?;
    api.add_team_member(maintainers, &member.login).await?;
    api.add_team_member(readers, &reader.login).await?;
    api.add_collaborator(&org, &repo, &collaborator.login, "write").await?;

    assert!(api.can_push(&org, &repo, &member.login).await?, "a write team member cannot push");
    assert!(api.can_push(&org, &repo, &collaborator.login).await?, "a write collaborator cannot push");
    assert!(!api.can_push(&org, &repo, &reader.login).await?, "a read team member can push");
    assert!(!api.can_push(&org, &repo, &outsider.login).await?, "an outsider can push");

    let pushed = api.gitea().git(member.auth()).push_files(&org, &repo, "by-member", Some(DEFAULT_BRANCH), &[("a.txt", b"a\n")], "member").await?;
    assert_eq!(api.branch_sha(&org, &repo, "by-member").await?.as_deref(), Some(pushed.as_str()));
    let refused = api.gitea().git(outsider.auth()).push_files(&org, &repo, "by-outsider", Some(DEFAULT_BRANCH), &[("b.txt", b"b\n")], "outsider").await;
    let err = refused.err().ok_or_else(|| anyhow::format_err!("an outsider pushed to {org}/{repo}"))?;
    assert!(format!("{err:#}").contains("403") || format!("{err:#}").contains("denied") || format!("{err:#}").contains("not allowed"), "refused for another reason: {err:#}");
    assert_eq!(api.branch_sha(&org, &repo, "by-outsider").await?, None);
    Ok(())
}

/// Wrong credentials are refused with 401, by the API and by git over HTTPS, and nothing is
/// created; no credentials at all is 401 on what needs a user.
#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_password_is_refused_with_401() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let api = admin(&app)?;
    let (user, repo) = user_with_repo(&api, "victim", true).await?;
    let gitea: &Gitea = api.gitea();
    let wrong = gitea.api(Auth::basic(&user.login, Secret::generate(24)));
    let answer = wrong.call(Method::GET, "/user", None).await?;
    assert_eq!(answer.status, 401, "a wrong password got HTTP {}", answer.status);
    let answer = gitea.anonymous().call(Method::GET, "/user", None).await?;
    assert_eq!(answer.status, 401);
    let answer = wrong.call(Method::POST, "/user/repos", Some(&serde_json::json!({"name": format!("nope-{}", tag())}))).await?;
    assert_eq!(answer.status, 401);
    // The right password works, so the 401s were about the password.
    assert_eq!(gitea.api(user.auth()).me().await?["login"].as_str(), Some(user.login.as_str()));

    let before = api.branch_sha(&user.login, &repo, DEFAULT_BRANCH).await?;
    let refused = gitea.git(Auth::basic(&user.login, Secret::generate(24))).push_files(&user.login, &repo, DEFAULT_BRANCH, None, &[("x.txt", b"x\n")], "intruder").await;
    let err = refused.err().ok_or_else(|| anyhow::format_err!("git pushed with a wrong password"))?;
    let err = format!("{err:#}");
    assert!(["Authentication failed", "401", "could not read Username"].iter().any(|m| err.contains(m)), "refused for another reason: {err}");
    assert_eq!(api.branch_sha(&user.login, &repo, DEFAULT_BRANCH).await?, before, "the branch moved");
    Ok(())
}
