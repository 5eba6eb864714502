//! `cargo xtask testme` against a real Gitea: the testbed's gitea fixture (Gitea 1.27.3 built
//! from the Go module proxy) holds an organisation `coop-cloud`-like org with a
//! `maintainers` team, the custom-html recipe repository (its fixture's releases as tagged
//! commits on `main`, its head as the PR branch) and a PR. Real `!testme` comments by a team
//! member, a direct collaborator and an outsider go through Gitea's own API and permission
//! model; `testme` reads them, runs the custom-html suite on the testbed, and reports through
//! Gitea's real API: one comment edited in place across two runs, commit statuses carrying the
//! level on the head sha, the outsider answered politely with nothing run, and the second run
//! compiles nothing.
//!
//! What a real Gitea cannot be made to do (a 500 mid-run, an expired token, a PR pushed to
//! between the API read and the fetch) stays with the fake in `testme_cli.rs` and
//! `testme_e2e.rs`.
//!
//! Needs the testbed (`cargo xtask testbed up custom-html gitea`); about two minutes: a Gitea
//! deployment and two real suite runs.

mod support;

use harness::{Rev, Suite};
use support::{TempDir, after, docker_lines, gitea_real::RealGitea, recipe_repository, run, workspace_root, xtask};

#[tokio::test(flavor = "multi_thread")]
async fn testme_against_a_real_gitea_reports_in_place_and_refuses_outsiders() -> anyhow::Result<()> {
    let suite = Suite::start(workspace_root().join("recipes/gitea")).await?;
    suite.scoped("forge", Rev::Head, async |app| against(RealGitea::of(app)?).await).await
}

async fn against(gitea: RealGitea) -> anyhow::Result<()> {
    let org = format!("cc{}", std::process::id());
    let repo = "custom-html";

    // The bot is a site admin (so it may read commenters' access with `Sudo`), with the token
    // scopes docs/testme.md names; maint writes through the org team, collab directly.
    let bot_password = gitea.create_user("ccci-bot", true).await?;
    let token = gitea.create_token("ccci-bot", &bot_password, &["write:repository", "write:issue", "read:user"]).await?;
    for user in ["maint", "collab", "outsider"] {
        gitea.create_user(user, false).await?;
    }
    gitea.create_org_with_team(&org, &["maint"]).await?;
    gitea.create_org_repo(&org, repo).await?;
    gitea.add_collaborator(&org, repo, "collab", "write").await?;

    let work = TempDir::new("real-gitea");
    let bare = work.path().join("custom-html.git");
    let head = recipe_repository(&workspace_root().join("testbed/recipes/custom-html"), &bare, 1);
    gitea.push(&bare, &org, repo, &["main", "feature", "--tags"])?;
    gitea.wait_branch(&org, repo, "feature", &head).await?;
    let number = gitea.open_pull(&org, repo, "feature", "main").await?;
    let pr = format!("{org}/{repo}#{number}");

    let testme = |comment: u64, extra: &[&str]| {
        let mut args = vec!["testme", pr.as_str()];
        let comment = comment.to_string();
        args.extend(["--comment-id", comment.as_str()]);
        args.extend_from_slice(extra);
        let mut cmd = xtask(&workspace_root(), &args);
        cmd.env("GITEA_URL", gitea.url())
            .env("GITEA_TOKEN", token.expose())
            .env("GITEA_RESOLVE", gitea.ingress_ip.to_string())
            .env("GITEA_CA", &gitea.ca);
        run(cmd)
    };

    // A direct collaborator and a team member are accepted (decision only, for the first).
    let by_collab = gitea.comment_as("collab", &org, repo, number, "!testme").await?;
    let out = testme(by_collab, &["--dry-run"]).await;
    anyhow::ensure!(out.stdout.contains(&format!("`!testme` by collab (write access to {org}/{repo}) accepted")), "collab:\n{}", out.all());

    let by_maint = gitea.comment_as("maint", &org, repo, number, "!testme").await?;
    let first = testme(by_maint, &[]).await;
    let second = testme(by_maint, &[]).await;
    for out in [&first, &second] {
        eprintln!("--- testme ---\n{}", out.all());
        anyhow::ensure!(out.code == Some(0), "testme failed:\n{}", out.all());
        anyhow::ensure!(!out.all().contains(token.expose()), "the token leaked");
        anyhow::ensure!(out.stdout.contains(&format!("`!testme` by maint (write access to {org}/{repo}) accepted")), "team write access counts:\n{}", out.stdout);
    }
    // One build serves the xtask and the suites it runs: the second run compiles nothing.
    let compiled: Vec<&str> = second.stderr.lines().filter(|l| l.trim_start().starts_with("Compiling ")).collect();
    anyhow::ensure!(compiled.is_empty(), "the second run compiled {compiled:?}");

    let run_of = |o: &support::Output| -> anyhow::Result<String> {
        let id = after(&o.stdout, "testme: run ").and_then(|r| r.split_whitespace().next());
        id.map(str::to_owned).ok_or_else(|| anyhow::format_err!("no `testme: run <id>` line:\n{}", o.stdout))
    };
    let (run1, run2) = (run_of(&first)?, run_of(&second)?);

    // One comment by the bot, created by the first run and edited in place by the second.
    let comments = gitea.comments(&org, repo, number).await?;
    let bot: Vec<_> = comments.iter().filter(|c| c["user"]["login"] == "ccci-bot").collect();
    anyhow::ensure!(bot.len() == 1, "one bot comment: {comments:#?}");
    let body = bot[0]["body"].as_str().unwrap_or_default();
    anyhow::ensure!(body.starts_with("<!-- ccci:testme -->"), "{body}");
    anyhow::ensure!(body.contains(&format!("run `{run2}`")) && !body.contains(&format!("run `{run1}`")), "the comment shows the latest run:\n{body}");
    anyhow::ensure!(body.contains("#### ✅ custom-html: L5 lint"), "the comment carries the level:\n{body}");
    anyhow::ensure!(bot[0]["updated_at"] != bot[0]["created_at"], "the comment was edited, not re-created: {:#}", bot[0]);

    // Per run, on the head sha: pending, then the result carrying the level.
    let statuses = gitea.statuses(&org, repo, &head).await?;
    let states: Vec<(&str, &str)> = statuses.iter().map(|s| (s["context"].as_str().unwrap_or(""), s["status"].as_str().unwrap_or(""))).collect();
    anyhow::ensure!(
        states == [("ccci/custom-html", "pending"), ("ccci/custom-html", "success"), ("ccci/custom-html", "pending"), ("ccci/custom-html", "success")],
        "statuses on {head}: {states:?}"
    );
    let description = statuses[3]["description"].as_str().unwrap_or_default();
    anyhow::ensure!(description.starts_with("L5 lint: ") && description.ends_with(" passed"), "{description}");

    // An outsider is answered once, politely, and nothing runs.
    let by_outsider = gitea.comment_as("outsider", &org, repo, number, "!testme").await?;
    for _ in 0..2 {
        let out = testme(by_outsider, &[]).await;
        anyhow::ensure!(out.code == Some(0), "{}", out.all());
        anyhow::ensure!(out.stdout.contains(&format!("outsider has read access to {org}/{repo}: refused")), "{}", out.stdout);
        anyhow::ensure!(!out.stdout.contains("testme: run "), "nothing runs for an outsider:\n{}", out.stdout);
    }
    let comments = gitea.comments(&org, repo, number).await?;
    let replies: Vec<_> = comments.iter().filter(|c| c["user"]["login"] == "ccci-bot" && c["body"].as_str().unwrap_or("").contains("@outsider thanks for asking!")).collect();
    anyhow::ensure!(replies.len() == 1, "one refusal: {comments:#?}");
    anyhow::ensure!(gitea.statuses(&org, repo, &head).await?.len() == 4, "no status for the outsider's comment");

    // Nothing of either run is left on the Swarm.
    for run_id in [&run1, &run2] {
        let label = format!("label=ccci.run={run_id}");
        anyhow::ensure!(docker_lines(&["service", "ls", "-q", "--filter", &label]).is_empty(), "services of {run_id} remain");
        anyhow::ensure!(docker_lines(&["volume", "ls", "-q", "--filter", &label]).is_empty(), "volumes of {run_id} remain");
    }
    Ok(())
}
