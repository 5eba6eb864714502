//! Functional: what n8n is for. A workflow created through the public API and activated
//! answers its production webhook, through the proxy, with what its nodes computed from the
//! request, and the execution is in the history; a Code node (JavaScript in n8n's task runner)
//! runs after a webhook answered at once and only the recorded execution shows its output;
//! and a credential created through the API is decrypted to call a service after the app is
//! restarted (the encryption key is the recipe's secret, not one n8n generated).

use anyhow::Context as _;
use harness::prelude::*;
use recipe_n8n::{CredentialProbe, N8n, code_output, code_workflow, compute_workflow, computed, owner, tag};
use reqwest::Method;
use serde_json::json;

use crate::shared;

/// The workflow is stored as sent and active; its webhook answers through the proxy with
/// `a * b` and the reversed marker, a second call with other input computes again (no cached
/// answer), an inactive workflow's webhook path is not served, and the execution history
/// records the run.
#[tokio::test(flavor = "multi_thread")]
async fn an_activated_workflow_answers_its_production_webhook_with_the_computed_result() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let n8n = N8n::of(&app)?;
    let t = tag();
    let key = n8n.owner_api_key(&owner(&app)?, &format!("ccci-webhook-{t}")).await?;
    let path = format!("ccci-compute-{t}");
    let name = format!("ccci compute {t}");
    let id = n8n.create_workflow(&key, &compute_workflow(&name, &path)).await?;

    let before = n8n.webhook(Method::POST, &path, Some(&json!({ "a": 1, "b": 2, "marker": "x" }))).await?;
    assert_eq!(before.status, 404, "an inactive workflow's production webhook answered: {}", before.message());

    let activated = n8n.activate(&key, &id).await?;
    assert_eq!(activated["active"], true, "not active after activation: {}", activated["active"]);
    let stored = n8n.workflow(&key, &id).await?.expect("the created workflow is listed");
    assert_eq!(stored["name"], name.as_str());
    let types: Vec<&str> = stored["nodes"].as_array().map(|n| n.iter().filter_map(|n| n["type"].as_str()).collect()).unwrap_or_default();
    assert_eq!(types, ["n8n-nodes-base.webhook", "n8n-nodes-base.set"]);

    let marker = format!("ccci-{t}");
    let answer = n8n.call_webhook(Method::POST, &path, Some(&json!({ "a": 6, "b": 7, "marker": marker }))).await?;
    assert_eq!(answer, computed(6, 7, &marker));
    let again = n8n.call_webhook(Method::POST, &path, Some(&json!({ "a": -3, "b": 11, "marker": "abc" }))).await?;
    assert_eq!(again, computed(-3, 11, "abc"));

    let execution = n8n.wait_for_execution(&key, &id, &computed(6, 7, &marker)).await?;
    assert_eq!(execution["status"], "success");
    assert_eq!(execution["mode"], "webhook");
    assert_eq!(execution["workflowId"], id.as_str());
    Ok(())
}

/// The webhook answers before the Code node runs; the execution then appears in the history
/// as a success, and its run data holds exactly what the JavaScript computed from the request
/// (a sum, a sorted copy, an upper-cased marker).
#[tokio::test(flavor = "multi_thread")]
async fn a_code_node_workflow_runs_and_its_execution_records_the_output() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let n8n = N8n::of(&app)?;
    let t = tag();
    let key = n8n.owner_api_key(&owner(&app)?, &format!("ccci-code-{t}")).await?;
    let path = format!("ccci-code-{t}");
    let id = n8n.create_workflow(&key, &code_workflow(&format!("ccci code {t}"), &path)).await?;
    n8n.activate(&key, &id).await?;
    assert!(n8n.executions(&key, &id).await?.is_empty(), "a new workflow already has executions");

    let numbers = [42, -7, 1000, 3, 3];
    let marker = format!("ccci-{t}");
    let ack = n8n.call_webhook(Method::POST, &path, Some(&json!({ "numbers": numbers, "marker": marker }))).await?;
    assert_eq!(ack["message"], "Workflow was started", "not the immediate answer of a webhook answering on receipt: {ack}");

    let expected = code_output(&numbers, &marker);
    let execution = n8n.wait_for_execution(&key, &id, &expected).await?;
    assert_eq!(execution["status"], "success");
    let run_data = &execution["data"]["resultData"]["runData"];
    assert!(run_data["Code"].is_array() && run_data["Webhook"].is_array(), "the run data lacks the Code or Webhook node: {}", keys(run_data));
    Ok(())
}

fn keys(v: &serde_json::Value) -> String {
    v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>().join(", ")).unwrap_or_else(|| v.to_string().chars().take(200).collect())
}

/// On a deployment of its own (the restart would disturb the shared one): a header-auth
/// credential created through the public API is stored encrypted (its value is nowhere in the
/// database), a workflow that sends it to an echo workflow gets the value back, and after the
/// n8n service is restarted it still does: n8n decrypts it with the key from the recipe's
/// secret.
#[tokio::test(flavor = "multi_thread")]
async fn a_credential_still_decrypts_after_the_app_restarts() -> anyhow::Result<()> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    suite
        .scoped("restart", Rev::Head, async |app| {
            let n8n = N8n::of(app)?;
            let t = tag();
            let key = n8n.owner_api_key(&owner(app)?, &format!("ccci-credential-{t}")).await?;
            let probe = CredentialProbe::create(&n8n, &key, &t).await?;
            probe.decrypts(&n8n).await.context("before the restart")?;

            let stored = app
                .exec_ok("db", &["psql", "-U", "n8n", "-d", "n8n", "-qAtc", &format!("SELECT data FROM credentials_entity WHERE id = '{}'", probe.credential_id)])
                .await?;
            let stored = stored.stdout_str();
            anyhow::ensure!(!stored.trim().is_empty(), "credential {} is not in the database", probe.credential_id);
            anyhow::ensure!(!stored.contains(probe.value.expose()) && !stored.contains(recipe_n8n::PROBE_HEADER), "the credential is stored in clear text");

            // A new task (the harness waits for a new container, convergence and readiness).
            app.restart_service("app").await?;
            probe.decrypts(&n8n).await.context("after the restart")
        })
        .await
}
