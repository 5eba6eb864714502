//! Functional: the mail matrix of the best public mail-server suites (Mailu's own
//! `tests/compose`, nixos `simple-nixos-mailserver` and `stalwart-mail`): a random secret
//! submitted on 587 (STARTTLS + AUTH) is read back over IMAPS byte for byte, also across a
//! restart of the server between sending and reading; plaintext logins without TLS are refused
//! on 587 and 143; the GTUBE test mail is rejected and never stored; an alias delivers to its
//! mailbox; a mail to an unknown user is refused and stored nowhere.

use harness::prelude::*;
use recipe_mailu::{
    GTUBE, IMAP_PORT, Imap, Mail, Outcome, SUBMISSION_PORT, Trust, address, admin, aliases, deliver_inbound, find, mail_domain, smtp, submit, submission, tag, wait_for,
};

use crate::{own, shared};

/// A barrier for negative checks: a plain mail sent after the one that must not arrive, on the
/// same path, is waited for; once it is in the INBOX the refused one would have been too.
async fn barrier(app: &Deployment, trust: &Trust, via_submission: bool) -> anyhow::Result<()> {
    let (user, password) = admin(app)?;
    let mail = Mail::random(if via_submission { &user } else { "peer@sender.invalid" }, &user, "barrier");
    if via_submission {
        submit(app, trust, &mail).await?;
    } else {
        let outcome = deliver_inbound(app, trust, &mail, &[user.as_str()]).await?;
        anyhow::ensure!(matches!(outcome, Outcome::Accepted(_)), "the barrier mail on 25: {outcome:?}");
    }
    let body = wait_for(app, trust, &user, &password, &mail.subject).await?;
    anyhow::ensure!(body == mail.body, "the barrier mail's body changed");
    Ok(())
}

/// Mailu `tests/compose` (send on 587, read on 993): a fresh random secret, submitted with
/// STARTTLS + AUTH, is in the INBOX over IMAPS with exactly the body that was sent.
#[tokio::test(flavor = "multi_thread")]
async fn a_secret_sent_on_587_is_read_back_over_imaps_byte_for_byte() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let app = &app;
    let trust = Trust::of(app).await?;
    let (user, password) = admin(app)?;
    let mail = Mail::random(&user, &user, "round trip");
    let accepted = submit(app, &trust, &mail).await?;
    assert_eq!(accepted.code, 250);
    let body = wait_for(app, &trust, &user, &password, &mail.subject).await?;
    assert_eq!(body, mail.body, "the body read over IMAPS differs from the one sent");
    Ok(())
}

/// The same round trip with the server restarted between the send and the read (the mail may
/// then be in the queue or in the maildir: both must survive the restart).
#[tokio::test(flavor = "multi_thread")]
async fn a_mail_sent_before_a_restart_is_read_after_it() -> anyhow::Result<()> {
    own("restart", async |_suite, app| {
        let trust = Trust::of(app).await?;
        let (user, password) = admin(app)?;
        let mail = Mail::random(&user, &user, "before restart");
        submit(app, &trust, &mail).await?;
        app.restart_service("app").await?;
        let trust = Trust::of(app).await?;
        let body = wait_for(app, &trust, &user, &password, &mail.subject).await?;
        anyhow::ensure!(body == mail.body, "the body read after the restart differs from the one sent");
        Ok(())
    })
    .await
}

/// simple-nixos-mailserver's must-fail cases: without TLS, submission (587) refuses AUTH with
/// the right password (530, "issue STARTTLS first", not 535: the password is never checked),
/// and IMAP (143) announces LOGINDISABLED and refuses LOGIN with the right password; the same
/// IMAP connection, after STARTTLS, logs in.
#[tokio::test(flavor = "multi_thread")]
async fn plaintext_logins_without_tls_are_refused() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let app = &app;
    let trust = Trust::of(app).await?;
    let (user, password) = admin(app)?;

    let mut s = smtp(app, SUBMISSION_PORT).await?;
    s.ehlo().await?;
    assert!(!s.is_tls());
    let auth = s.auth_plain(&user, &password).await?;
    assert_eq!(auth.code, 530, "AUTH without TLS on 587 was not refused for want of TLS: {auth}");
    let mail = Mail::random(&user, &user, "plaintext submission");
    let (outcome, _) = s.send(&mail.from, &[mail.to.as_str()], &mail.render(), false).await?;
    assert!(!matches!(outcome, Outcome::Accepted(_)), "587 took a mail without TLS and AUTH: {outcome:?}");
    s.quit().await;

    let mut imap = Imap::connect_plain(address(app, IMAP_PORT)).await?;
    let caps = imap.capabilities().await?;
    assert!(caps.iter().any(|c| c == "STARTTLS"), "143 offers no STARTTLS: {caps:?}");
    assert!(caps.iter().any(|c| c == "LOGINDISABLED"), "143 does not announce LOGINDISABLED before TLS: {caps:?}");
    let login = imap.login(&user, &password).await?;
    assert!(!login.is_ok(), "143 let the right password in without TLS: {login}");
    imap.starttls(&trust).await?;
    let caps = imap.capabilities().await?;
    assert!(!caps.iter().any(|c| c == "LOGINDISABLED"), "LOGINDISABLED after STARTTLS: {caps:?}");
    let login = imap.login(&user, &password).await?;
    assert!(login.is_ok(), "LOGIN after STARTTLS on 143: {login}");
    imap.logout().await;
    Ok(())
}

/// A mail carrying the GTUBE string, offered on 25 by another server, is refused with a
/// permanent error at the end of DATA (rspamd's `reject`), and never reaches the INBOX (a
/// barrier mail sent after it does).
#[tokio::test(flavor = "multi_thread")]
async fn the_gtube_spam_test_mail_is_rejected_and_not_stored() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let app = &app;
    let trust = Trust::of(app).await?;
    let (user, password) = admin(app)?;
    let spam = Mail::with_body("spammer@sender.invalid", &user, "gtube", format!("Buy now.\r\n{GTUBE}\r\n").into_bytes());
    match deliver_inbound(app, &trust, &spam, &[user.as_str()]).await? {
        Outcome::MessageRefused(reply) => assert_eq!(reply.code / 100, 5, "GTUBE refused only temporarily: {reply}"),
        other => anyhow::bail!("the GTUBE mail was not refused: {other:?}"),
    }
    barrier(app, &trust, false).await?;
    assert_eq!(find(app, &trust, &user, &password, &spam.subject).await?, None, "the GTUBE mail is in the INBOX");
    Ok(())
}

/// Every alias the recipe declares (`ALIASES`) takes mail on 25 and delivers it, unchanged, to
/// its target's mailbox.
#[tokio::test(flavor = "multi_thread")]
async fn an_alias_delivers_to_its_mailbox() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let app = &app;
    let trust = Trust::of(app).await?;
    let (user, password) = admin(app)?;
    let declared = aliases(app);
    anyhow::ensure!(!declared.is_empty(), "the deployment declares no ALIASES to test");
    for (alias, target) in declared {
        anyhow::ensure!(target == user, "alias {alias} -> {target}: the suite reads only the first mailbox");
        let mail = Mail::random("peer@sender.invalid", &alias, &format!("to alias {alias}"));
        let outcome = deliver_inbound(app, &trust, &mail, &[alias.as_str()]).await?;
        assert!(matches!(outcome, Outcome::Accepted(_)), "mail to {alias}: {outcome:?}");
        let body = wait_for(app, &trust, &user, &password, &mail.subject).await?;
        assert_eq!(body, mail.body, "the mail to {alias} arrived changed");
    }
    Ok(())
}

/// A mail to an unknown user of the domain is refused at RCPT with 550 on 25 and on
/// authenticated submission alike, and stored nowhere: a barrier mail sent after it arrives,
/// it does not (a mail with a known and an unknown recipient reaches the known one only).
#[tokio::test(flavor = "multi_thread")]
async fn a_mail_to_an_unknown_user_is_refused_and_not_delivered() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let app = &app;
    let trust = Trust::of(app).await?;
    let (user, password) = admin(app)?;
    let unknown = format!("nobody-{}@{}", tag(), mail_domain(app));

    let mail = Mail::random("peer@sender.invalid", &unknown, "to an unknown user");
    match deliver_inbound(app, &trust, &mail, &[unknown.as_str()]).await? {
        Outcome::RecipientRefused(rcpt, reply) => {
            assert_eq!(rcpt, unknown);
            assert_eq!(reply.code, 550, "an unknown user on 25: {reply}");
        }
        other => anyhow::bail!("a mail to an unknown user was not refused at RCPT on 25: {other:?}"),
    }

    let (from, _) = admin(app)?;
    let both = Mail::random(&from, &unknown, "to an unknown and a known user");
    let mut s = submission(app, &trust, &user, &password).await?;
    let (outcome, rcpts) = s.send(&from, &[unknown.as_str(), user.as_str()], &both.render(), true).await?;
    s.quit().await;
    assert_eq!(rcpts.iter().map(|(r, reply)| (r.as_str(), reply.code)).collect::<Vec<_>>(), [(unknown.as_str(), 550), (user.as_str(), 250)], "RCPT replies on 587");
    assert!(matches!(outcome, Outcome::Accepted(_)), "the mail for the known recipient: {outcome:?}");
    assert_eq!(wait_for(app, &trust, &user, &password, &both.subject).await?, both.body);

    barrier(app, &trust, false).await?;
    assert_eq!(find(app, &trust, &user, &password, &mail.subject).await?, None, "the refused mail reached the first mailbox");
    Ok(())
}
