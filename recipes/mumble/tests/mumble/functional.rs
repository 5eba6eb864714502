//! Functional: what users of a Mumble server do, with real protocol clients on the shared
//! deployment (the ping, which counts the server's users, on one of its own): two users with the server password see each other in the root channel and
//! chat; SuperUser (password from the recipe's secret) creates a channel both see, where a
//! normal user is refused; the UDP ping reports the server's version and its users.

use std::time::Duration;

use harness::prelude::*;
use recipe_mumble::{Login, RejectType, SUPERUSER, join, join_superuser, login, max_users, ping, tag, upstream_version};

use crate::{own, shared};

const SEEN: Duration = Duration::from_secs(20);

/// nixos `mumble.nix`: two clients with the server password join; here each must see the other
/// in the root channel (`UserState`), a text message from one reaches the other with its
/// sender, and a leaving user is removed from the other's view (`UserRemove`).
#[tokio::test(flavor = "multi_thread")]
async fn two_users_see_each_other_in_the_root_channel_and_chat() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let app = &app;
    {
        let t = tag();
        let (alice_name, bob_name) = (format!("alice-{t}"), format!("bob-{t}"));
        let mut alice = join(app, &alice_name).await?;
        let mut bob = join(app, &bob_name).await?;
        // Bob saw Alice at his login; Alice sees Bob arrive.
        assert_eq!(bob.state.user_named(&alice_name).map(|u| (u.session, u.channel)), Some((alice.session, 0)));
        alice.wait_until(&format!("{bob_name} in the root channel"), harness::scaled(SEEN), |s| s.user_named(&bob_name).is_some_and(|u| u.channel == 0)).await?;
        assert_eq!(alice.state.user_named(&bob_name).map(|u| u.session), Some(bob.session));

        let text = format!("hello from {alice_name} {}", tag());
        alice.send_text_to_channel(0, &text).await?;
        bob.wait_until("Alice's message", harness::scaled(SEEN), |s| s.texts.iter().any(|m| m.message == text)).await?;
        let got = bob.state.texts.iter().find(|m| m.message == text).expect("just seen");
        assert_eq!(got.actor, Some(alice.session), "the message does not name Alice as its sender: {got:?}");
        assert_eq!(got.channels, [0], "the message was not addressed to the root channel: {got:?}");
        // The server does not echo a message to its sender.
        assert!(alice.state.texts.iter().all(|m| m.message != text), "Alice got her own message back");

        let bob_session = bob.session;
        bob.disconnect().await?;
        alice.wait_until(&format!("{bob_name} to leave"), harness::scaled(SEEN), |s| !s.users.contains_key(&bob_session)).await?;
        alice.disconnect().await
    }
}

/// SuperUser logs in with the `superuser_password` secret (a wrong one gets `Reject`
/// WrongUserPW) and creates a permanent channel; both users see it appear (`ChannelState`)
/// and, when SuperUser removes it, disappear (`ChannelRemove`). A normal user asking for a
/// permanent channel gets `PermissionDenied` and no channel.
#[tokio::test(flavor = "multi_thread")]
async fn superuser_creates_a_channel_that_both_users_see() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let app = &app;
    {
        let t = tag();
        let mut alice = join(app, &format!("alice-{t}")).await?;
        let mut bob = join(app, &format!("bob-{t}")).await?;

        match login(app, SUPERUSER, Some(Secret::generate(32))).await? {
            Login::Rejected { kind, reason } => assert_eq!(kind, RejectType::WrongUserPw, "rejected for another reason ({reason})"),
            Login::Joined(_) => anyhow::bail!("SuperUser got in with a wrong password"),
        }

        let refused = format!("refused-{t}");
        alice.create_channel(0, &refused, "", false).await?;
        alice.wait_until("PermissionDenied for a normal user's channel", harness::scaled(SEEN), |s| !s.denied.is_empty()).await?;
        assert!(alice.state.channel_named(&refused).is_none(), "a normal user created a permanent channel");

        let admin = join_superuser(app).await?;
        assert_eq!(admin.state.user_named(SUPERUSER).and_then(|u| u.user_id), Some(0), "SuperUser is not registered user 0");
        let room = format!("room-{t}");
        admin.create_channel(0, &room, "created by the ccci mumble suite", false).await?;
        for client in [&mut alice, &mut bob] {
            let who = client.username.clone();
            client.wait_until(&format!("{who} to see channel {room}"), harness::scaled(SEEN), |s| s.channel_named(&room).is_some()).await?;
        }
        let seen_by_alice = alice.state.channel_named(&room).expect("just seen").clone();
        let seen_by_bob = bob.state.channel_named(&room).expect("just seen").clone();
        assert_eq!(seen_by_alice, seen_by_bob);
        assert_eq!((seen_by_alice.parent, seen_by_alice.temporary), (Some(0), false), "{seen_by_alice:?}");
        assert!(seen_by_alice.id > 0);
        // Still there for a user who logs in now: it is part of the server's channel tree.
        let carol = join(app, &format!("carol-{t}")).await?;
        assert_eq!(carol.state.channel_named(&room).map(|c| c.id), Some(seen_by_alice.id));
        carol.disconnect().await?;

        admin.remove_channel(seen_by_alice.id).await?;
        for client in [&mut alice, &mut bob] {
            let who = client.username.clone();
            client.wait_until(&format!("{who} to see channel {room} removed"), harness::scaled(SEEN), |s| s.removed_channels.contains(&seen_by_alice.id)).await?;
            assert!(client.state.channel_named(&room).is_none());
        }
        admin.disconnect().await?;
        alice.disconnect().await?;
        bob.disconnect().await
    }
}

/// The UDP ping through the `mumble-udp` route answers with the server's version (the head's,
/// in the ping's v1 form), the configured user limit, the bandwidth `ServerSync` announces, and
/// the number of users connected: none, then two while Alice and Bob are in, one after Bob
/// leaves.
#[tokio::test(flavor = "multi_thread")]
async fn udp_ping_reports_the_server_version_and_its_users() -> anyhow::Result<()> {
    own("ping", async |suite, app| {
        let head = upstream_version(&suite.head_version()?)?;
        let pong = ping(app).await?;
        assert_eq!(pong.version, head.as_v1(), "the ping's version is not the head's server");
        assert_eq!(pong.max_users, max_users(app)?);
        assert_eq!(pong.users, 0, "users counted on a server nobody joined");

        let t = tag();
        let mut alice = join(app, &format!("alice-{t}")).await?;
        let bob = join(app, &format!("bob-{t}")).await?;
        let bob_name = bob.username.clone();
        alice.wait_until("Bob's arrival", harness::scaled(SEEN), |s| s.user_named(&bob_name).is_some()).await?;
        assert_eq!(alice.state.users.len(), 2, "Alice sees {:?}", alice.state.root_users());
        let pong = ping(app).await?;
        assert_eq!(pong.users, 2, "the ping does not count Alice and Bob");
        assert_eq!(Some(pong.bandwidth), alice.max_bandwidth, "the ping's bandwidth differs from ServerSync's");

        let bob_session = bob.session;
        bob.disconnect().await?;
        alice.wait_until("Bob to leave", harness::scaled(SEEN), |s| !s.users.contains_key(&bob_session)).await?;
        // The server counts Bob out when it handles his disconnect; Alice was told in the same step.
        let users = harness::converge("the ping to count one user", harness::scaled(SEEN), Duration::from_millis(100), || async {
            let pong = ping(app).await.map_err(|e| format!("{e:#}"))?;
            if pong.users == 1 { Ok(pong.users) } else { Err(format!("the ping counts {}", pong.users)) }
        })
        .await?;
        assert_eq!(users, 1);
        alice.disconnect().await
    })
    .await
}
