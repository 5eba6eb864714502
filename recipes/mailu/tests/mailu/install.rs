//! Install: the head deploys and speaks the mail protocols on every entrypoint: SMTP on 25
//! offers STARTTLS and no AUTH, and relays nothing for others; submission on 587 offers AUTH
//! only inside TLS; IMAPS on 993 greets, announces its capabilities and logs the first mailbox
//! in with the recipe's secret (and refuses a wrong password). The certificate every endpoint
//! presents is trusted explicitly (`recipe_mailu::tls`).

use harness::prelude::*;
use recipe_mailu::{IMAPS_PORT, Imap, Mail, Outcome, SMTP_PORT, SUBMISSION_PORT, Trust, address, admin, imaps, mail_domain, smtp};

use crate::shared;

/// Submission (587): the greeting names the mail domain; before TLS the server offers
/// STARTTLS and no AUTH; after STARTTLS (with a trusted certificate for the domain) it offers
/// AUTH PLAIN, and the first mailbox authenticates with the `admin_password` secret while a
/// wrong password gets 535.
#[tokio::test(flavor = "multi_thread")]
async fn submission_offers_auth_only_after_starttls() -> anyhow::Result<()> {
    let (suite, app) = shared().await?;
    let (suite, app) = (&suite, &app);
    contract::runs_head(suite, app).await?;
    let trust = Trust::of(app).await?;
    let (user, password) = admin(app)?;

    let mut s = smtp(app, SUBMISSION_PORT).await?;
    assert!(s.greeting.text().to_ascii_lowercase().contains(&mail_domain(app)), "the 587 greeting does not name {}: {}", mail_domain(app), s.greeting);
    let plain = s.ehlo().await?;
    assert!(plain.has_extension("STARTTLS"), "587 offers no STARTTLS: {plain}");
    assert!(!plain.has_extension("AUTH"), "587 offers AUTH before TLS: {plain}");
    let secured = s.starttls(&trust).await?;
    assert!(s.is_tls());
    assert!(secured.auth_mechanisms().iter().any(|m| m == "PLAIN"), "587 offers no AUTH PLAIN inside TLS: {secured}");
    let wrong = s.auth_plain(&user, &Secret::generate(24)).await?;
    assert_eq!(wrong.code, 535, "a wrong password on 587: {wrong}");
    s.quit().await;

    let mut s = smtp(app, SUBMISSION_PORT).await?;
    s.ehlo().await?;
    s.starttls(&trust).await?;
    let right = s.auth_plain(&user, &password).await?;
    assert_eq!(right.code, 235, "the admin_password secret on 587: {right}");
    s.quit().await;
    Ok(())
}

/// Inbound SMTP (25), where other mail servers deliver: STARTTLS offered, AUTH never (not even
/// inside TLS); mail for the domain's mailbox is accepted at RCPT, mail for another domain is
/// refused (no open relay).
#[tokio::test(flavor = "multi_thread")]
async fn inbound_smtp_takes_mail_for_the_domain_and_relays_nothing_else() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let app = &app;
    let trust = Trust::of(app).await?;
    let (user, _) = admin(app)?;

    let mut s = smtp(app, SMTP_PORT).await?;
    let plain = s.ehlo().await?;
    assert!(plain.has_extension("STARTTLS"), "25 offers no STARTTLS: {plain}");
    assert!(!plain.has_extension("AUTH"), "25 offers AUTH before TLS: {plain}");
    let secured = s.starttls(&trust).await?;
    assert!(!secured.has_extension("AUTH"), "25 offers AUTH: {secured}");
    let relay = Mail::random("someone@sender.invalid", "victim@elsewhere.invalid", "relay attempt");
    let (outcome, _) = s.send(&relay.from, &["victim@elsewhere.invalid"], &relay.render(), false).await?;
    match outcome {
        Outcome::RecipientRefused(_, reply) => assert_eq!(reply.code / 100, 5, "relaying to another domain: {reply}"),
        other => anyhow::bail!("port 25 relays mail for another domain: {other:?}"),
    }
    let (outcome, rcpts) = s.send("someone@sender.invalid", &[user.as_str()], &Mail::random("someone@sender.invalid", &user, "inbound").render(), false).await?;
    assert!(matches!(outcome, Outcome::Accepted(_)), "mail for {user} on 25: {outcome:?} (RCPT: {rcpts:?})");
    s.quit().await;
    Ok(())
}

/// IMAPS (993): the greeting and the capabilities are IMAP4rev1 with AUTH=PLAIN; the first
/// mailbox logs in with the `admin_password` secret and selects its INBOX; a wrong password
/// gets NO.
#[tokio::test(flavor = "multi_thread")]
async fn imaps_logs_in_the_first_mailbox_with_the_recipe_secret() -> anyhow::Result<()> {
    let (_suite, app) = shared().await?;
    let app = &app;
    let trust = Trust::of(app).await?;
    let (user, password) = admin(app)?;

    let mut imap = Imap::connect_tls(address(app, IMAPS_PORT), &trust).await?;
    assert!(imap.is_tls());
    let caps = imap.capabilities().await?;
    assert!(caps.iter().any(|c| c == "IMAP4REV1"), "IMAPS capabilities: {caps:?}");
    assert!(caps.iter().any(|c| c == "AUTH=PLAIN"), "IMAPS offers no AUTH=PLAIN inside TLS: {caps:?}");
    assert!(!caps.iter().any(|c| c == "LOGINDISABLED"), "IMAPS disables LOGIN inside TLS: {caps:?}");
    let wrong = imap.login(&user, &Secret::generate(24)).await?;
    assert_eq!(wrong.status, "NO", "a wrong password on 993: {wrong}");
    imap.logout().await;

    let mut imap = imaps(app, &trust, &user, &password).await?;
    let caps = imap.capabilities().await?;
    assert!(caps.iter().any(|c| c == "IMAP4REV1"), "capabilities after login: {caps:?}");
    imap.logout().await;
    Ok(())
}
