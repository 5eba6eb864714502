//! Install: the head deploys and a real Mumble client logs in through the `mumble` TCP route:
//! TLS, the server's `Version`, the root channel, `ServerSync`; the server is the head's
//! version, and the server password is enforced.

use harness::prelude::*;
use recipe_mumble::{Login, RejectType, SERVER_PASSWORD_SECRET, join, login, max_users, secret, tag, upstream_version};

use crate::shared;

/// cc-ci's `test_protocol_handshake`, made strict: the handshake ends in `ServerSync` with a
/// session, the root channel comes first, the client is in it, and the server that answers
/// is the head's version (release label, image, and the version the server itself sends).
#[tokio::test(flavor = "multi_thread")]
async fn a_client_completes_the_handshake_with_the_head_server() -> anyhow::Result<()> {
    let (suite, app) = shared().await?;
    let (suite, app) = (&suite, &app);
    {
        let name = format!("install-{}", tag());
        let mut client = join(app, &name).await?;
        assert!(client.session > 0, "ServerSync gave session {}", client.session);
        let root = client.state.channels.get(&0).cloned();
        assert_eq!(root.map(|c| c.name), Some("Root".to_owned()), "no root channel in {:?}", client.state.channels);
        let me = client.state.users.get(&client.session).cloned();
        assert_eq!(me.as_ref().map(|u| (u.name.as_str(), u.channel)), Some((name.as_str(), 0)), "own UserState: {me:?}");
        // The welcome text is the recipe's setting, rendered into the server's ini.
        let welcome = app.env().get("WELCOME_TEXT").map(|w| w.trim_matches('"').to_owned()).unwrap_or_else(|| "Welcome to Mumble".into());
        assert_eq!(client.welcome_text.as_deref(), Some(welcome.as_str()));
        // ServerConfig follows ServerSync with the configured user limit.
        client.wait_until("ServerConfig", std::time::Duration::from_secs(10), |s| s.max_users.is_some()).await?;
        assert_eq!(client.state.max_users, Some(max_users(app)?));
        assert_eq!(client.certificate_sha256.len(), 64);

        contract::runs_head(suite, app).await?;
        let head = upstream_version(&suite.head_version()?)?;
        assert_eq!(client.version()?, head, "the server's Version message is not the head's server");
        client.disconnect().await
    }
}

/// Without the server password, or with a wrong one, the server sends `Reject`
/// (WrongServerPW) and no session; the right one still gets in.
#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_server_password_is_rejected() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let app = &app;
    {
        let name = format!("intruder-{}", tag());
        for password in [Some(Secret::generate(32)), None] {
            let what = if password.is_some() { "a wrong server password" } else { "no password" };
            match login(app, &name, password).await? {
                Login::Rejected { kind, reason } => {
                    assert_eq!(kind, RejectType::WrongServerPw, "{what}: rejected for another reason ({reason})")
                }
                Login::Joined(client) => anyhow::bail!("{what} was let in as session {}", client.session),
            }
        }
        let right = login(app, &name, Some(secret(app, SERVER_PASSWORD_SECRET)?)).await?.joined()?;
        right.disconnect().await
    }
}
