//! What Drone is for, against the real Gitea: a user logs in through Gitea's OAuth2 (scripted
//! over HTTP: Drone's `/login`, Gitea's sign-in form, the grant, the callback); Drone syncs
//! the user's repositories and activating one creates Drone's webhook in Gitea; a push of a
//! `.drone.yml` makes the runner execute the pipeline on the Docker engine, its step's output
//! in the build log; a failing step fails the build; a repository secret reaches the step and
//! is masked in the log. Build containers are removed when their build is over.

use std::time::Duration;

use harness::prelude::*;
use recipe_drone::{MASK, pipeline, step_of};

use crate::project;

#[tokio::test(flavor = "multi_thread")]
async fn login_through_gitea_and_activation_put_drones_webhook_in_gitea() -> anyhow::Result<()> {
    let (_suite, app, p) = project().await?;
    let me = p.session.user().await?;
    anyhow::ensure!(me["login"] == p.owner.as_str(), "Drone's /api/user is {}, not the Gitea user {}", me["login"], p.owner);
    let repo = p.session.repo(&p.owner, &p.repo).await?.ok_or_else(|| anyhow::format_err!("Drone does not know {}/{} after the activation", p.owner, p.repo))?;
    anyhow::ensure!(repo["active"] == true, "{}/{} is not active: {repo}", p.owner, p.repo);
    let hooks = p.gitea_hooks().await?;
    // The hook target Drone registers: its app service on the proxy network (the fixture's
    // DRONE_SERVER_PROXY_*; Gitea cannot resolve Drone's public domain on the testbed).
    let target = format!("http://{}/hook", app.service("app"));
    anyhow::ensure!(
        hooks.iter().any(|h| h["active"] == true && h["config"]["url"].as_str().is_some_and(|u| u.starts_with(&target))),
        "Gitea holds no active webhook to {target}: {:?}",
        hooks.iter().map(|h| h["config"]["url"].clone()).collect::<Vec<_>>()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pushed_pipeline_runs_to_success_and_its_log_holds_the_steps_output() -> anyhow::Result<()> {
    let (_suite, _app, p) = project().await?;
    let line = format!("hello-from-{}", recipe_drone::tag());
    let echo = format!("echo {line}");
    let build = p.run(&pipeline(&[("greet", &[echo.as_str(), "uname -s"])], None), "a passing pipeline").await?;
    anyhow::ensure!(build["status"] == "success", "the build ended {}: {}", build["status"], build["stages"]);
    anyhow::ensure!(build["event"] == "push", "the build was not started by the push: event {}", build["event"]);
    let (stage, step) = step_of(&build, "greet")?;
    let log = p.session.log(&p.owner, &p.repo, build["number"].as_i64().unwrap_or(0), stage, step).await?;
    anyhow::ensure!(log.lines().any(|l| l.trim() == line), "the step's log lacks {line}: {log}");
    anyhow::ensure!(log.lines().any(|l| l.trim() == "Linux"), "the step's log lacks uname's output: {log}");
    no_build_containers_left(&p.owner).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_step_fails_the_build_and_stops_the_pipeline() -> anyhow::Result<()> {
    let (_suite, _app, p) = project().await?;
    let yaml = pipeline(&[("before", &["echo before"]), ("broken", &["echo failing on purpose", "exit 3"]), ("after", &["echo never"])], None);
    let build = p.run(&yaml, "a failing pipeline").await?;
    anyhow::ensure!(build["status"] == "failure", "the build ended {}, not failure", build["status"]);
    let steps = build["stages"][0]["steps"].as_array().cloned().unwrap_or_default();
    let by_name = |name: &str| steps.iter().find(|s| s["name"] == name).cloned().unwrap_or_default();
    anyhow::ensure!(by_name("before")["status"] == "success", "the first step: {}", by_name("before"));
    anyhow::ensure!(
        by_name("broken")["status"] == "failure" && by_name("broken")["exit_code"] == 3,
        "the failing step: {}",
        by_name("broken")
    );
    anyhow::ensure!(by_name("after")["status"] == "skipped", "the step after the failure ran: {}", by_name("after"));
    no_build_containers_left(&p.owner).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_repository_secret_reaches_the_step_and_is_masked_in_the_log() -> anyhow::Result<()> {
    let (_suite, _app, p) = project().await?;
    let value = Secret::generate(24);
    p.session.create_secret(&p.owner, &p.repo, "deploy_token", &value).await?;
    let listed = p.session.secrets(&p.owner, &p.repo).await?;
    anyhow::ensure!(listed.iter().any(|s| s["name"] == "deploy_token"), "Drone does not list the secret: {listed:?}");
    anyhow::ensure!(!serde_json::to_string(&listed)?.contains(value.expose()), "Drone's secret list shows the value");
    let digest = harness::fixture::sha256_hex(value.expose().as_bytes());
    let yaml = pipeline(
        &[("use-secret", &["printf %s \"$DEPLOY_TOKEN\" | sha256sum", "echo \"token: $DEPLOY_TOKEN\""])],
        Some(("DEPLOY_TOKEN", "deploy_token")),
    );
    let build = p.run(&yaml, "a pipeline using a secret").await?;
    anyhow::ensure!(build["status"] == "success", "the build ended {}", build["status"]);
    let (stage, step) = step_of(&build, "use-secret")?;
    let log = p.session.log(&p.owner, &p.repo, build["number"].as_i64().unwrap_or(0), stage, step).await?;
    anyhow::ensure!(!log.contains(value.expose()), "the secret's value appears in the build log");
    anyhow::ensure!(log.contains(&digest), "the step did not see the secret: its sha256 is not in the log");
    anyhow::ensure!(log.contains(&format!("token: {MASK}")), "the secret is not masked in the log: {log}");
    no_build_containers_left(&p.owner).await
}

/// Drone's runner labels its containers with the repository's namespace: none may remain once
/// the build is over (the runner removes them after the pipeline).
async fn no_build_containers_left(owner: &str) -> anyhow::Result<()> {
    let filter = format!("label=io.drone.repo.namespace={owner}");
    harness::converge(&format!("the build containers of {owner} to be removed"), Duration::from_secs(60), Duration::from_millis(500), || async {
        let out = tokio::process::Command::new("docker").args(["ps", "-a", "-q", "--filter", &filter]).output().await.map_err(|e| e.to_string())?;
        let ids = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if out.status.success() && ids.is_empty() { Ok(()) } else { Err(format!("containers left: {ids}")) }
    })
    .await?;
    Ok(())
}
