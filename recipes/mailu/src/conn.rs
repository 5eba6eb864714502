//! A line-oriented connection that starts in plaintext and may be upgraded to TLS in place
//! (STARTTLS), or starts in TLS (implicit TLS, IMAPS): what the SMTP and IMAP clients share.

use std::{net::SocketAddr, time::Duration};

use anyhow::Context as _;
use tokio::{
    io::{AsyncBufReadExt as _, AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, BufReader},
    net::TcpStream,
};
use tokio_rustls::TlsConnector;

use crate::tls::Trust;

/// How long one exchange (a command and its reply) may take.
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);

pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub struct Conn {
    io: Option<BufReader<Box<dyn Io>>>,
    pub addr: SocketAddr,
    /// Whether the connection is in TLS now.
    pub tls: bool,
}

impl Conn {
    pub async fn plain(addr: SocketAddr) -> anyhow::Result<Conn> {
        let tcp = tokio::time::timeout(IO_TIMEOUT, TcpStream::connect(addr)).await.with_context(|| format!("connecting to {addr}"))??;
        tcp.set_nodelay(true)?;
        Ok(Conn { io: Some(BufReader::new(Box::new(tcp))), addr, tls: false })
    }

    pub async fn implicit_tls(addr: SocketAddr, trust: &Trust) -> anyhow::Result<Conn> {
        let mut conn = Conn::plain(addr).await?;
        conn.start_tls(trust).await?;
        Ok(conn)
    }

    /// The TLS handshake on the connection as it is (after the server's go-ahead for
    /// STARTTLS). Fails if the server had sent anything not yet read: it must wait for it.
    pub async fn start_tls(&mut self, trust: &Trust) -> anyhow::Result<()> {
        let reader = self.io.take().context("the connection is gone")?;
        anyhow::ensure!(reader.buffer().is_empty(), "the server sent data before the TLS handshake");
        let inner = reader.into_inner();
        let tls = tokio::time::timeout(IO_TIMEOUT, TlsConnector::from(trust.client_config()?).connect(trust.server_name()?, inner))
            .await
            .with_context(|| format!("the TLS handshake with {} timed out", self.addr))?
            .with_context(|| format!("the TLS handshake with {} as {}", self.addr, trust.domain))?;
        self.io = Some(BufReader::new(Box::new(tls)));
        self.tls = true;
        Ok(())
    }

    fn io(&mut self) -> anyhow::Result<&mut BufReader<Box<dyn Io>>> {
        self.io.as_mut().context("the connection is gone")
    }

    /// One line without its CRLF; an error at end of stream.
    pub async fn read_line(&mut self) -> anyhow::Result<String> {
        let addr = self.addr;
        let mut buf = Vec::new();
        let n = tokio::time::timeout(IO_TIMEOUT, self.io()?.read_until(b'\n', &mut buf)).await.with_context(|| format!("no line from {addr} in {IO_TIMEOUT:?}"))??;
        anyhow::ensure!(n > 0, "{addr} closed the connection");
        while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            buf.pop();
        }
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    /// Exactly `n` bytes (an IMAP literal).
    pub async fn read_exact(&mut self, n: usize) -> anyhow::Result<Vec<u8>> {
        let addr = self.addr;
        let mut buf = vec![0; n];
        tokio::time::timeout(IO_TIMEOUT, self.io()?.read_exact(&mut buf)).await.with_context(|| format!("no {n}-byte literal from {addr} in {IO_TIMEOUT:?}"))??;
        Ok(buf)
    }

    pub async fn write_all(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        let io = self.io()?.get_mut();
        io.write_all(bytes).await?;
        io.flush().await?;
        Ok(())
    }

    pub async fn shutdown(&mut self) {
        if let Some(io) = self.io.as_mut() {
            let _ = io.get_mut().shutdown().await;
        }
    }
}
