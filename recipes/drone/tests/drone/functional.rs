//! What Drone is for, against the real Gitea: a user logs in through Gitea's OAuth2 (scripted
//! over HTTP: Drone's `/login`, Gitea's sign-in form, the grant, the callback); Drone syncs
//! the user's repositories and activating one creates Drone's webhook in Gitea; a push of a
//! `.drone.yml` makes the runner execute the pipeline on the Docker engine, its step's output
//! in the build log; a failing step fails the build; a repository secret reaches the step and
//! is masked in the log. Build containers are removed when their build is over, and when the
//! deployment is torn down in the middle of a build (the runner's containers, networks and
//! volumes are no labels of the run: the runner's own cleanup and the harness's removal of
//! containers attached to the run's networks must see to them).

use std::time::Duration;

use harness::prelude::*;
use recipe_drone::{GITEA, MASK, Project, pipeline, step_of};

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

#[tokio::test(flavor = "multi_thread")]
async fn a_teardown_in_the_middle_of_a_build_leaves_no_build_container_network_or_volume() -> anyhow::Result<()> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    let owner = suite
        .scoped("cutoff", Rev::Head, async |app| {
            let gitea = suite.dependency(app, GITEA)?;
            let p = Project::create(app, &gitea).await?;
            // A step that outlives the deployment: it is running when the stack goes.
            p.push_pipeline(&pipeline(&[("long", &["echo started", "sleep 600"])], None), "a long build").await?;
            harness::converge(&format!("a running build container of {}", p.owner), harness::scaled(recipe_drone::BUILD_TIMEOUT), Duration::from_millis(500), || async {
                let running = build_resources(&p.owner, "ps", &["--filter", "status=running"]).await?;
                if running.is_empty() { Err("none yet".to_owned()) } else { Ok(()) }
            })
            .await?;
            Ok(p.owner)
        })
        .await?;
    // The deployment is gone: nothing the runner made for the build may remain.
    for (kind, list) in [("container", "ps"), ("network", "network"), ("volume", "volume")] {
        let left = build_resources(&owner, list, &[]).await.map_err(anyhow::Error::msg)?;
        anyhow::ensure!(left.is_empty(), "{kind}s of the cut-off build remain after the teardown: {left:?}");
    }
    Ok(())
}

/// Drone's runner labels the containers, networks and volumes of a build with the repository's
/// namespace: the ids of those of `owner` (`docker ps -a`, `docker network ls`, `docker volume
/// ls`, by `list`), with `extra` filters.
async fn build_resources(owner: &str, list: &str, extra: &[&str]) -> Result<Vec<String>, String> {
    let filter = format!("label=io.drone.repo.namespace={owner}");
    let mut args: Vec<&str> = match list {
        "ps" => vec!["ps", "-a", "-q"],
        other => vec![other, "ls", "-q"],
    };
    args.extend(["--filter", filter.as_str()]);
    args.extend(extra);
    let out = tokio::process::Command::new("docker").args(&args).output().await.map_err(|e| format!("docker {}: {e}", args.join(" ")))?;
    if !out.status.success() {
        return Err(format!("docker {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_owned).collect())
}

/// None of the build's containers, networks or volumes may remain once the build is over (the
/// runner removes them after the pipeline).
async fn no_build_containers_left(owner: &str) -> anyhow::Result<()> {
    harness::converge(&format!("the build resources of {owner} to be removed"), harness::scaled(Duration::from_secs(60)), Duration::from_millis(500), || async {
        let mut left = build_resources(owner, "ps", &[]).await?;
        left.extend(build_resources(owner, "network", &[]).await?);
        left.extend(build_resources(owner, "volume", &[]).await?);
        if left.is_empty() { Ok(()) } else { Err(format!("left: {left:?}")) }
    })
    .await?;
    Ok(())
}
