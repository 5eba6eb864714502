//! What the mailu suite knows about the recipe: users reach the mail server on the Traefik
//! entrypoints `smtp` (25, inbound mail, STARTTLS), `smtp-submission` (587, STARTTLS then
//! AUTH), `imap` (143, STARTTLS) and `imaps` (993, implicit TLS) of the address every app
//! domain resolves to; the mail domain is the app's domain; the first mailbox is
//! `<INITIAL_ADMIN_ACCOUNT>@<domain>` (default `admin`) with the `admin_password` secret (Mailu's
//! INITIAL_ADMIN_* settings); mail is stored per user on the `mail` volume.
//!
//! The protocol clients are this crate's own ([`smtp`], [`imap`], over [`conn`]): line-based,
//! TLS with tokio-rustls on the workspace's rustls, trusting the server as [`tls`] says.

pub mod conn;
pub mod imap;
pub mod smtp;
pub mod tls;

use std::{net::SocketAddr, time::Duration};

use anyhow::Context as _;
use harness::prelude::*;

pub use harness::fixture::tag;
pub use imap::Imap;
pub use smtp::{Outcome, Reply, Smtp};
pub use tls::Trust;

pub const SMTP_PORT: u16 = 25;
pub const SUBMISSION_PORT: u16 = 587;
pub const IMAP_PORT: u16 = 143;
pub const IMAPS_PORT: u16 = 993;
/// The secret holding the first mailbox's password.
pub const ADMIN_PASSWORD_SECRET: &str = "admin_password";
/// The first mailbox's local part when `INITIAL_ADMIN_ACCOUNT` is not set.
pub const DEFAULT_ADMIN_ACCOUNT: &str = "admin";
/// The GTUBE test string (Generic Test for Unsolicited Bulk Email): every spam filter must
/// score a message containing it as spam; rspamd's action for it is `reject`.
pub const GTUBE: &str = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

/// How long a connection may keep failing at the connection level (a route being reloaded, a
/// server restarting after a restore) before it is an error.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long an accepted mail may take to reach the mailbox.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(60);

/// Where users reach `port`: the entrypoint of that port on the proxy the app's domain resolves
/// to (the harness has no accessor for a TCP entrypoint's address; the ingress address it
/// resolves app domains to is the proxy's, and the port is the mail protocol's).
pub fn address(d: &Deployment, port: u16) -> SocketAddr {
    SocketAddr::new(d.run().platform.ingress.ip(), port)
}

/// A generated secret of the deployment, by compose name.
pub fn secret(d: &Deployment, name: &str) -> anyhow::Result<Secret> {
    Ok(d.secret(name).with_context(|| format!("{} has no {name} secret", d.stack()))?.clone())
}

/// The mail domain: the app's domain.
pub fn mail_domain(d: &Deployment) -> String {
    d.domain().to_ascii_lowercase()
}

/// The first mailbox's address and password.
pub fn admin(d: &Deployment) -> anyhow::Result<(String, Secret)> {
    let account = d.env().get("INITIAL_ADMIN_ACCOUNT").map(|a| a.trim_matches('"').to_owned()).filter(|a| !a.is_empty()).unwrap_or_else(|| DEFAULT_ADMIN_ACCOUNT.into());
    Ok((format!("{}@{}", account.to_ascii_lowercase(), mail_domain(d)), secret(d, ADMIN_PASSWORD_SECRET)?))
}

/// The aliases the recipe's `ALIASES` setting declares: (alias address, target address).
pub fn aliases(d: &Deployment) -> Vec<(String, String)> {
    let domain = mail_domain(d);
    d.env()
        .get("ALIASES")
        .map(|v| v.trim_matches('"').to_owned())
        .unwrap_or_default()
        .split(',')
        .filter_map(|e| e.trim().split_once('='))
        .map(|(local, target)| {
            let target = if target.contains('@') { target.to_ascii_lowercase() } else { format!("{}@{domain}", target.to_ascii_lowercase()) };
            (format!("{}@{domain}", local.to_ascii_lowercase()), target)
        })
        .collect()
}

/// A mail with a unique subject and a random body, rendered with CRLF line endings.
#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: String,
    pub subject: String,
    /// The body exactly as IMAP's `BODY[TEXT]` must return it.
    pub body: Vec<u8>,
}

impl Mail {
    /// A mail whose body carries a fresh random secret (64 hex characters) on its own line.
    pub fn random(from: &str, to: &str, what: &str) -> Mail {
        let secret = hex::encode(rand::random::<[u8; 32]>());
        let body = format!("ccci mailu suite: {what}\r\nsecret: {secret}\r\n\r\n-- \r\nsent by the ccci mailu suite\r\n");
        Mail::with_body(from, to, what, body.into_bytes())
    }

    pub fn with_body(from: &str, to: &str, what: &str, body: Vec<u8>) -> Mail {
        Mail { from: from.to_owned(), to: to.to_owned(), subject: format!("ccci {what} {}", tag()), body }
    }

    /// Headers and body, as DATA sends it (before dot-stuffing).
    pub fn render(&self) -> Vec<u8> {
        let mut out = format!(
            "From: <{}>\r\nTo: <{}>\r\nSubject: {}\r\nMessage-ID: <{}.ccci@{}>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n",
            self.from,
            self.to,
            self.subject,
            tag(),
            self.from.split('@').nth(1).unwrap_or("ccci.test")
        )
        .into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

/// Retries `attempt` while it fails at the connection level, for up to a minute.
async fn connecting<T>(what: &str, attempt: impl AsyncFn() -> anyhow::Result<T>) -> anyhow::Result<T> {
    Ok(harness::converge(what, harness::scaled(CONNECT_TIMEOUT), Duration::from_millis(250), || async { attempt().await.map_err(|e| format!("{e:#}")) }).await?)
}

/// An SMTP session on `port`, greeted (retrying connection failures).
pub async fn smtp(d: &Deployment, port: u16) -> anyhow::Result<Smtp> {
    let addr = address(d, port);
    connecting(&format!("SMTP on {addr} ({}) to greet", d.stack()), async || Smtp::connect(addr).await).await
}

/// A submission session on 587: STARTTLS, then AUTH PLAIN as `user`, which must succeed.
pub async fn submission(d: &Deployment, trust: &Trust, user: &str, password: &Secret) -> anyhow::Result<Smtp> {
    let mut s = smtp(d, SUBMISSION_PORT).await?;
    s.ehlo().await?;
    s.starttls(trust).await?;
    let auth = s.auth_plain(user, password).await?;
    anyhow::ensure!(auth.code == 235, "AUTH PLAIN as {user} on 587 after STARTTLS: {auth}");
    Ok(s)
}

/// Submits `mail` on 587 as the first mailbox (STARTTLS + AUTH), which must be accepted.
pub async fn submit(d: &Deployment, trust: &Trust, mail: &Mail) -> anyhow::Result<Reply> {
    let (user, password) = admin(d)?;
    let mut s = submission(d, trust, &user, &password).await?;
    let (outcome, _) = s.send(&mail.from, &[mail.to.as_str()], &mail.render(), false).await?;
    s.quit().await;
    match outcome {
        Outcome::Accepted(reply) => Ok(reply),
        other => anyhow::bail!("submitting {:?} to {} on 587: {other:?}", mail.subject, mail.to),
    }
}

/// Offers `mail` on 25 as another mail server would (EHLO, STARTTLS, no AUTH): how the server
/// answered.
pub async fn deliver_inbound(d: &Deployment, trust: &Trust, mail: &Mail, to: &[&str]) -> anyhow::Result<Outcome> {
    let mut s = smtp(d, SMTP_PORT).await?;
    let ehlo = s.ehlo().await?;
    anyhow::ensure!(ehlo.has_extension("STARTTLS"), "port 25 offers no STARTTLS: {ehlo}");
    s.starttls(trust).await?;
    let (outcome, _) = s.send(&mail.from, to, &mail.render(), false).await?;
    s.quit().await;
    Ok(outcome)
}

/// An IMAPS session as `user`, logged in and with INBOX selected (retrying connection
/// failures, not refusals).
pub async fn imaps(d: &Deployment, trust: &Trust, user: &str, password: &Secret) -> anyhow::Result<Imap> {
    let addr = address(d, IMAPS_PORT);
    let mut imap = connecting(&format!("IMAPS on {addr} ({}) to greet", d.stack()), async || Imap::connect_tls(addr, trust).await).await?;
    let login = imap.login(user, password).await?;
    anyhow::ensure!(login.is_ok(), "IMAPS LOGIN as {user}: {login}");
    imap.select("INBOX").await?;
    Ok(imap)
}

/// The body (`BODY[TEXT]`) of the INBOX message of `user` whose subject is `subject`, if there
/// is one; an error if there are several.
pub async fn find(d: &Deployment, trust: &Trust, user: &str, password: &Secret, subject: &str) -> anyhow::Result<Option<Vec<u8>>> {
    let mut imap = imaps(d, trust, user, password).await?;
    let uids = imap.search_header("Subject", subject).await?;
    anyhow::ensure!(uids.len() <= 1, "{} messages with subject {subject:?} in {user}'s INBOX", uids.len());
    let body = match uids.first() {
        Some(&uid) => Some(imap.fetch(uid, "TEXT").await?.with_context(|| format!("UID {uid} listed but not fetched"))?),
        None => None,
    };
    imap.logout().await;
    Ok(body)
}

/// Waits until the message with `subject` is in `user`'s INBOX; its body.
pub async fn wait_for(d: &Deployment, trust: &Trust, user: &str, password: &Secret, subject: &str) -> anyhow::Result<Vec<u8>> {
    Ok(harness::converge(&format!("{subject:?} to reach {user}'s INBOX"), harness::scaled(DELIVERY_TIMEOUT), Duration::from_millis(500), || async {
        match find(d, trust, user, password, subject).await {
            Ok(Some(body)) => Ok(body),
            Ok(None) => Err("not there yet".to_owned()),
            Err(e) => Err(format!("{e:#}")),
        }
    })
    .await?)
}

/// The backup and upgrade marker: a mail with a random secret, submitted on 587 to the first
/// mailbox and read back over IMAPS by its unique subject (`None` when the mailbox, which the
/// server let the user log in to, has no such message).
pub struct MailboxMarker {
    mail: Option<Mail>,
}

impl MailboxMarker {
    pub fn new() -> MailboxMarker {
        MailboxMarker { mail: None }
    }
}

impl Default for MailboxMarker {
    fn default() -> Self {
        MailboxMarker::new()
    }
}

impl DataProbe for MailboxMarker {
    fn describe(&self) -> String {
        match &self.mail {
            Some(m) => format!("the mail {:?} in {}'s INBOX", m.subject, m.to),
            None => "a marker mail in the first mailbox".into(),
        }
    }

    async fn seed(&mut self, d: &Deployment) -> anyhow::Result<Vec<u8>> {
        let trust = Trust::of(d).await?;
        let (user, password) = admin(d)?;
        let mail = Mail::random(&user, &user, "marker");
        submit(d, &trust, &mail).await?;
        let body = wait_for(d, &trust, &user, &password, &mail.subject).await?;
        anyhow::ensure!(body == mail.body, "the marker mail's body came back different");
        self.mail = Some(mail);
        Ok(body)
    }

    async fn read(&self, d: &Deployment) -> anyhow::Result<Option<Vec<u8>>> {
        let mail = self.mail.as_ref().context("the marker was never seeded")?;
        let trust = Trust::of(d).await?;
        let (user, password) = admin(d)?;
        find(d, &trust, &user, &password, &mail.subject).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_stuffing_doubles_leading_dots_and_ends_the_data() {
        assert_eq!(smtp::dot_stuff(b"a\r\n.b\r\n..c"), b"a\r\n..b\r\n...c\r\n.\r\n");
    }

    #[test]
    fn an_ehlo_reply_lists_its_extensions_and_auth_mechanisms() {
        let r = Reply { code: 250, lines: vec!["mail.test".into(), "PIPELINING".into(), "auth PLAIN LOGIN".into(), "STARTTLS".into()] };
        assert!(r.has_extension("STARTTLS") && r.has_extension("AUTH") && !r.has_extension("SMTPUTF8"));
        assert_eq!(r.auth_mechanisms(), ["PLAIN", "LOGIN"]);
    }
}
