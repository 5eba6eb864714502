//! Install: the head deploys and the PDS really serves, through the proxy and the testbed
//! certificate: `/xrpc/_health` reports the head's PDS version, `describeServer` names this
//! server (`did:web:<domain>`, handles under the domain, invite codes required), and the
//! session API refuses a request without a token.

use harness::prelude::*;
use recipe_bluesky_pds::{Pds, upstream_version};

use crate::shared;

/// The `health_check` of the maintainers' corpus, made strict: the PDS's own health route
/// answers JSON with exactly the head's `@atproto/pds` version; the release label and every
/// image are the head's.
#[tokio::test(flavor = "multi_thread")]
async fn health_reports_the_head_pds_version() -> anyhow::Result<()> {
    let (suite, app) = shared().await?;
    let resp = app.get("/xrpc/_health").await?;
    assert_eq!(resp.status, 200);
    assert!(resp.header("content-type").is_some_and(|t| t.starts_with("application/json")), "{:?}", resp.header("content-type"));
    let head = suite.head_version()?;
    assert_eq!(resp.json()?, serde_json::json!({ "version": upstream_version(&head)? }));
    contract::runs_head(&suite, &app).await
}

#[tokio::test(flavor = "multi_thread")]
async fn describe_server_names_the_domain_and_requires_invites() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let v = Pds::of(&app)?.describe_server().await?;
    assert_eq!(v["did"], format!("did:web:{}", app.domain()), "{v}");
    assert_eq!(v["availableUserDomains"], serde_json::json!([format!(".{}", app.domain())]), "{v}");
    assert_eq!(v["inviteCodeRequired"], true, "{v}");
    Ok(())
}

/// cc-ci's own check: `getSession` without a token is 401 `AuthMissing`, from the PDS.
#[tokio::test(flavor = "multi_thread")]
async fn get_session_without_a_token_is_refused() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let resp = app.get("/xrpc/com.atproto.server.getSession").await?;
    assert_eq!(resp.status, 401);
    assert_eq!(resp.json()?["error"], "AuthMissing");
    Ok(())
}
