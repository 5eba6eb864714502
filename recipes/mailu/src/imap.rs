//! A small IMAP4rev1 client (RFC 3501): greeting, CAPABILITY, STARTTLS, LOGIN, SELECT,
//! UID SEARCH, UID FETCH with literals, LOGOUT. Every tagged reply is returned as it is
//! (OK / NO / BAD and its text), so tests assert on refusals too.

use std::net::SocketAddr;

use anyhow::Context as _;
use harness::prelude::*;

use crate::{conn::Conn, tls::Trust};

/// An untagged response line, its literals taken out (`{n}` stays in `text`).
#[derive(Debug, Clone)]
pub struct Untagged {
    pub text: String,
    pub literals: Vec<Vec<u8>>,
}

/// The server's answer to one command.
#[derive(Debug, Clone)]
pub struct Response {
    pub untagged: Vec<Untagged>,
    /// `OK`, `NO` or `BAD`.
    pub status: String,
    /// The rest of the tagged line (e.g. `[AUTHENTICATIONFAILED] Authentication failed.`).
    pub text: String,
}

impl Response {
    pub fn is_ok(&self) -> bool {
        self.status == "OK"
    }
}

impl std::fmt::Display for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.text)
    }
}

pub struct Imap {
    conn: Conn,
    next_tag: u32,
    /// The greeting line after `* `.
    pub greeting: String,
}

impl Imap {
    /// A plaintext connection (port 143), greeted.
    pub async fn connect_plain(addr: SocketAddr) -> anyhow::Result<Imap> {
        Imap::greeted(Conn::plain(addr).await?).await
    }

    /// An implicit-TLS connection (IMAPS, port 993), greeted.
    pub async fn connect_tls(addr: SocketAddr, trust: &Trust) -> anyhow::Result<Imap> {
        Imap::greeted(Conn::implicit_tls(addr, trust).await?).await
    }

    async fn greeted(mut conn: Conn) -> anyhow::Result<Imap> {
        let line = conn.read_line().await?;
        let greeting = line.strip_prefix("* ").with_context(|| format!("not an IMAP greeting: {line:?}"))?.to_owned();
        anyhow::ensure!(greeting.starts_with("OK"), "{} greeted with {greeting:?}", conn.addr);
        Ok(Imap { conn, next_tag: 1, greeting })
    }

    pub fn is_tls(&self) -> bool {
        self.conn.tls
    }

    /// Sends `<tag> <command>` and reads until the tagged reply.
    pub async fn command(&mut self, command: &str) -> anyhow::Result<Response> {
        let tag = format!("c{}", self.next_tag);
        self.next_tag += 1;
        self.conn.write_all(format!("{tag} {command}\r\n").as_bytes()).await?;
        let mut untagged = vec![];
        loop {
            let mut line = self.conn.read_line().await?;
            if let Some(rest) = line.strip_prefix(&format!("{tag} ")) {
                let (status, text) = rest.split_once(' ').unwrap_or((rest, ""));
                return Ok(Response { untagged, status: status.to_owned(), text: text.to_owned() });
            }
            anyhow::ensure!(line.starts_with("* "), "unexpected line from {}: {line:?}", self.conn.addr);
            let mut literals = vec![];
            // A line ending in `{n}` continues after n bytes of literal.
            while let Some(n) = literal_length(&line) {
                literals.push(self.conn.read_exact(n).await?);
                let more = self.conn.read_line().await?;
                line.push_str(&more);
            }
            untagged.push(Untagged { text: line[2..].to_owned(), literals });
        }
    }

    /// The capabilities the server announces now (upper-cased).
    pub async fn capabilities(&mut self) -> anyhow::Result<Vec<String>> {
        let r = self.command("CAPABILITY").await?;
        anyhow::ensure!(r.is_ok(), "CAPABILITY: {r}");
        Ok(r.untagged
            .iter()
            .filter_map(|u| u.text.strip_prefix("CAPABILITY "))
            .flat_map(|c| c.split_whitespace().map(|w| w.to_ascii_uppercase()).collect::<Vec<_>>())
            .collect())
    }

    pub async fn starttls(&mut self, trust: &Trust) -> anyhow::Result<()> {
        let r = self.command("STARTTLS").await?;
        anyhow::ensure!(r.is_ok(), "STARTTLS: {r}");
        self.conn.start_tls(trust).await
    }

    /// LOGIN; the tagged reply as it is (OK, or NO / BAD with the server's reason).
    pub async fn login(&mut self, user: &str, password: &Secret) -> anyhow::Result<Response> {
        self.command(&format!("LOGIN {} {}", quote(user), quote(password.expose()))).await
    }

    pub async fn select(&mut self, mailbox: &str) -> anyhow::Result<Response> {
        let r = self.command(&format!("SELECT {}", quote(mailbox))).await?;
        anyhow::ensure!(r.is_ok(), "SELECT {mailbox}: {r}");
        Ok(r)
    }

    /// UIDs of the selected mailbox's messages whose `header` contains `value`.
    pub async fn search_header(&mut self, header: &str, value: &str) -> anyhow::Result<Vec<u32>> {
        let r = self.command(&format!("UID SEARCH HEADER {} {}", quote(header), quote(value))).await?;
        anyhow::ensure!(r.is_ok(), "UID SEARCH: {r}");
        Ok(r.untagged
            .iter()
            .filter_map(|u| u.text.strip_prefix("SEARCH"))
            .flat_map(|ids| ids.split_whitespace().filter_map(|id| id.parse().ok()).collect::<Vec<u32>>())
            .collect())
    }

    /// A section of one message (`TEXT`: the body; `HEADER`; empty: all of it), not marking
    /// it seen; `None` when the server returns no such message.
    pub async fn fetch(&mut self, uid: u32, section: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let r = self.command(&format!("UID FETCH {uid} (BODY.PEEK[{section}])")).await?;
        anyhow::ensure!(r.is_ok(), "UID FETCH {uid}: {r}");
        Ok(r.untagged.into_iter().find(|u| u.text.contains(" FETCH ") && u.text.contains(&format!("UID {uid}"))).and_then(|u| u.literals.into_iter().next()))
    }

    pub async fn logout(mut self) {
        let _ = self.command("LOGOUT").await;
        self.conn.shutdown().await;
    }
}

fn literal_length(line: &str) -> Option<usize> {
    let open = line.strip_suffix('}')?.rfind('{')?;
    line[open + 1..line.len() - 1].trim_end_matches('+').parse().ok()
}

/// An IMAP quoted string.
pub fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_literal_length_is_read_from_the_end_of_a_line() {
        assert_eq!(literal_length("* 1 FETCH (UID 4 BODY[TEXT] {42}"), Some(42));
        assert_eq!(literal_length("* 1 FETCH (UID 4 FLAGS (\\Seen))"), None);
    }
}
