//! The stack driver deploys a recipe the way abra would: versioned secrets, interpolated
//! compose, and the run label on everything it creates; teardown removes all of it.

use harness::{Deployment, ops::{RUN_LABEL, STACK_LABEL}};

use crate::{labelled, spec, this_run};

#[tokio::test(flavor = "multi_thread")]
async fn secrets_are_versioned_readable_and_everything_carries_the_run_label() -> anyhow::Result<()> {
    let run = this_run().await?;
    let d = Deployment::deploy(&run, spec(&run, "probe").await?).await?;
    let checks = async {
        let secret_name = format!("{}_probe_token_v1", d.stack());
        let token = d.secret("probe_token").ok_or_else(|| anyhow::format_err!("no probe_token generated"))?;
        assert_eq!(token.expose().len(), 40, "length=40 from the .env.sample annotation");
        let in_container = d.exec_ok("app", &["cat", "/run/secrets/probe_token"]).await?;
        assert_eq!(in_container.stdout, token.expose().as_bytes(), "the service reads the generated value");

        let of_run = labelled(&format!("{RUN_LABEL}={}", run.id())).await?;
        assert!(of_run.contains(&("secret".into(), secret_name.clone())), "{secret_name} lacks the run label: {of_run:?}");
        let of_stack = labelled(&format!("{STACK_LABEL}={}", d.stack())).await?;
        let kinds: Vec<&str> = of_stack.iter().map(|(k, _)| k.as_str()).collect();
        for kind in ["service", "volume", "config", "network"] {
            assert!(kinds.contains(&kind), "no {kind} in stack {}: {of_stack:?}", d.stack());
        }
        for item in &of_stack {
            assert!(of_run.contains(item), "{item:?} of the stack does not carry {RUN_LABEL}={}", run.id());
        }
        // The app is routed through the ingress and serves the fixture's config.
        let body = d.http()?.get("/env").send().await?.text().await?;
        assert_eq!(body, "probe\n");
        anyhow::Ok(secret_name)
    }
    .await;
    let stack = d.stack().to_owned();
    d.teardown().await?;
    let secret_name = checks?;
    let left_of_stack = labelled(&format!("{STACK_LABEL}={stack}")).await?;
    assert!(left_of_stack.is_empty(), "stack {stack} left resources: {left_of_stack:?}");
    let left = labelled(&format!("{RUN_LABEL}={}", run.id())).await?;
    assert!(!left.iter().any(|(_, n)| *n == secret_name), "secret {secret_name} left behind");
    Ok(())
}

/// An app can call an app of its run by its public domain over HTTPS from inside its
/// container, as on a host with wildcard DNS and a trusted certificate (what a confidential
/// OIDC client does with its provider's token endpoint): the name resolves to the proxy and
/// the platform CA verifies, with no `-k`. The app calls itself here; the resolver test
/// covers a provider deployed before its dependent.
#[tokio::test(flavor = "multi_thread")]
async fn containers_resolve_and_trust_the_run_s_domains() -> anyhow::Result<()> {
    let run = this_run().await?;
    let d = Deployment::deploy(&run, spec(&run, "probe").await?).await?;
    let url = format!("https://{}/env", d.domain());
    let inside = d.exec("app", &["curl", "-sS", "--max-time", "10", &url]).await;
    let plain = d.exec("app", &["sh", "-c", "echo $SSL_CERT_FILE"]).await;
    d.teardown().await?;
    let inside = inside?;
    assert_eq!(inside.exit_code, 0, "curl {url} from inside failed: {}", String::from_utf8_lossy(&inside.stderr));
    assert_eq!(inside.stdout_str(), "probe\n", "not the app's answer");
    assert_eq!(plain?.stdout_str().trim(), "/etc/ssl/certs/ca-certificates.crt");
    Ok(())
}

/// A deploy is hermetic: a recipe's `${VAR:-default}` takes its default, not the value the
/// CI host (here: cargo, which sets CARGO_PKG_NAME for this process) has in its environment.
#[tokio::test(flavor = "multi_thread")]
async fn a_host_variable_the_recipe_references_does_not_reach_the_deploy() -> anyhow::Result<()> {
    assert!(std::env::var_os("CARGO_PKG_NAME").is_some(), "the premise: the host environment has the variable");
    let run = this_run().await?;
    let d = Deployment::deploy(&run, spec(&run, "probe").await?).await?;
    let seen = d.exec_ok("app", &["printenv", "HOST_LEAK"]).await;
    d.teardown().await?;
    assert_eq!(seen?.stdout_str().trim(), "not-leaked");
    Ok(())
}
