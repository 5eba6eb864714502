//! A small SMTP client (RFC 5321, ESMTP): greeting, EHLO, STARTTLS (RFC 3207), AUTH PLAIN
//! (RFC 4954), one mail transaction, each step returning the server's reply as it is, so
//! tests assert on the codes of refusals as well as of acceptances.

use std::net::SocketAddr;

use anyhow::Context as _;
use base64::Engine as _;
use harness::prelude::*;

use crate::{conn::Conn, tls::Trust};

/// A reply: its code and its text lines (without the code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    pub fn is_positive(&self) -> bool {
        (200..400).contains(&self.code)
    }

    pub fn text(&self) -> String {
        self.lines.join(" / ")
    }

    /// An EHLO reply's extension keywords, upper-cased (`STARTTLS`, `AUTH PLAIN LOGIN`, ...).
    pub fn extensions(&self) -> Vec<String> {
        self.lines.iter().skip(1).map(|l| l.to_ascii_uppercase()).collect()
    }

    pub fn has_extension(&self, keyword: &str) -> bool {
        self.extensions().iter().any(|e| e.split_whitespace().next() == Some(keyword))
    }

    /// The mechanisms an EHLO reply's AUTH line names.
    pub fn auth_mechanisms(&self) -> Vec<String> {
        self.extensions().iter().filter(|e| e.starts_with("AUTH ")).flat_map(|e| e.split_whitespace().skip(1).map(str::to_owned).collect::<Vec<_>>()).collect()
    }
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.code, self.text())
    }
}

pub struct Smtp {
    conn: Conn,
    pub greeting: Reply,
}

/// Where a mail transaction stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The server took the message (the DATA reply).
    Accepted(Reply),
    /// MAIL FROM refused.
    SenderRefused(Reply),
    /// A RCPT TO refused (the recipient and the reply); the transaction was reset.
    RecipientRefused(String, Reply),
    /// The message itself refused after DATA (e.g. spam).
    MessageRefused(Reply),
}

impl Smtp {
    pub async fn connect(addr: SocketAddr) -> anyhow::Result<Smtp> {
        let conn = Conn::plain(addr).await?;
        let mut smtp = Smtp { conn, greeting: Reply { code: 0, lines: vec![] } };
        smtp.greeting = smtp.reply().await?;
        anyhow::ensure!(smtp.greeting.code == 220, "{addr} greeted with {}", smtp.greeting);
        Ok(smtp)
    }

    pub fn is_tls(&self) -> bool {
        self.conn.tls
    }

    async fn reply(&mut self) -> anyhow::Result<Reply> {
        let mut lines = vec![];
        loop {
            let line = self.conn.read_line().await?;
            let code: u16 = line.get(..3).and_then(|c| c.parse().ok()).with_context(|| format!("not an SMTP reply line: {line:?}"))?;
            let more = line.as_bytes().get(3) == Some(&b'-');
            lines.push(line.get(4..).unwrap_or("").to_owned());
            if !more {
                return Ok(Reply { code, lines });
            }
        }
    }

    /// Sends one command line and reads its reply.
    pub async fn command(&mut self, line: &str) -> anyhow::Result<Reply> {
        self.conn.write_all(format!("{line}\r\n").as_bytes()).await?;
        self.reply().await
    }

    pub async fn ehlo(&mut self) -> anyhow::Result<Reply> {
        let reply = self.command("EHLO ccci-suite.test").await?;
        anyhow::ensure!(reply.code == 250, "EHLO: {reply}");
        Ok(reply)
    }

    /// STARTTLS, the handshake, and EHLO again (RFC 3207: the session starts over); the new
    /// EHLO reply.
    pub async fn starttls(&mut self, trust: &Trust) -> anyhow::Result<Reply> {
        let reply = self.command("STARTTLS").await?;
        anyhow::ensure!(reply.code == 220, "STARTTLS: {reply}");
        self.conn.start_tls(trust).await?;
        self.ehlo().await
    }

    /// AUTH PLAIN with the credentials in the initial response; the server's reply (235 on
    /// success).
    pub async fn auth_plain(&mut self, user: &str, password: &Secret) -> anyhow::Result<Reply> {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{}", password.expose()));
        self.command(&format!("AUTH PLAIN {token}")).await
    }

    /// One mail transaction: MAIL FROM, RCPT TO for each recipient (a refused one ends the
    /// transaction with RSET unless `keep_going`), DATA, the message (dot-stuffed), `.`.
    pub async fn send(&mut self, from: &str, to: &[&str], message: &[u8], keep_going: bool) -> anyhow::Result<(Outcome, Vec<(String, Reply)>)> {
        let mut rcpts = vec![];
        let mail = self.command(&format!("MAIL FROM:<{from}>")).await?;
        if mail.code != 250 {
            return Ok((Outcome::SenderRefused(mail), rcpts));
        }
        let mut refused = None;
        for rcpt in to {
            let reply = self.command(&format!("RCPT TO:<{rcpt}>")).await?;
            if !reply.is_positive() && refused.is_none() {
                refused = Some(((*rcpt).to_owned(), reply.clone()));
            }
            rcpts.push(((*rcpt).to_owned(), reply));
        }
        if let Some((rcpt, reply)) = refused.clone()
            && !keep_going
        {
            self.command("RSET").await?;
            return Ok((Outcome::RecipientRefused(rcpt, reply), rcpts));
        }
        let data = self.command("DATA").await?;
        if data.code != 354 {
            return Ok((Outcome::MessageRefused(data), rcpts));
        }
        self.conn.write_all(&dot_stuff(message)).await?;
        let end = self.reply().await?;
        Ok((if end.code == 250 { Outcome::Accepted(end) } else { Outcome::MessageRefused(end) }, rcpts))
    }

    pub async fn quit(mut self) {
        let _ = self.command("QUIT").await;
        self.conn.shutdown().await;
    }
}

/// The message as DATA sends it: lines starting with `.` doubled, CRLF endings, `.` at the end.
pub fn dot_stuff(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 5);
    let mut at_line_start = true;
    for &b in message {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}
