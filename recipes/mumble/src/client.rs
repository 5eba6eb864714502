//! A Mumble client on the TLS control channel: connect, log in, follow the server's state
//! (channels, users, text messages, refusals), chat and create or remove channels.
//!
//! The server's certificate is self-signed (generated on first start and kept in its
//! database), so this test client accepts it explicitly: it does not chain it to any root,
//! but the TLS handshake still proves the server holds the certificate's key, and the
//! certificate's SHA-256 is kept for the tests to compare. No voice: the client announces
//! Opus and never sends audio.
//!
//! A reader task decodes the server's frames into a channel; [`Client::wait_until`] applies
//! them to [`ServerState`] until a condition holds or its deadline passes (no fixed waits). A
//! keepalive task sends a `Ping` every 10 s, as the real client does every 5 s, because the
//! server drops a client that stays silent for 30 s.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::Context as _;
use harness::Secret;
use rustls::{
    DigitallySignedStruct, SignatureScheme,
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    crypto::CryptoProvider,
    pki_types::{CertificateDer, ServerName, UnixTime},
};
use sha2::{Digest as _, Sha256};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _, ReadHalf, WriteHalf},
    net::TcpStream,
    sync::mpsc,
    task::JoinHandle,
};
use tokio_rustls::{TlsConnector, client::TlsStream};

use crate::proto::{self, Incoming, RejectType, ServerVersion, kind};

/// The version this client announces (1.4.0: understood by 1.3 and 1.5 servers alike).
const CLIENT_VERSION: ServerVersion = ServerVersion { major: 1, minor: 4, patch: 0 };
/// How long a login may take, from the TCP connect to `ServerSync` or `Reject`.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(20);
const KEEPALIVE: Duration = Duration::from_secs(10);

/// Where and as whom to connect.
#[derive(Debug, Clone)]
pub struct Connect {
    /// The server's address (on the testbed: the ingress's `mumble` entrypoint).
    pub addr: SocketAddr,
    /// The host name the client is told (TLS SNI), as a user types it.
    pub host: String,
    pub username: String,
    /// The server password for a normal user; the user's own for a registered one (SuperUser).
    pub password: Option<Secret>,
}

/// What a login ended with.
#[derive(Debug)]
pub enum Login {
    Joined(Box<Client>),
    Rejected { kind: RejectType, reason: String },
}

impl Login {
    /// The joined client, or an error naming the refusal.
    pub fn joined(self) -> anyhow::Result<Client> {
        match self {
            Login::Joined(client) => Ok(*client),
            Login::Rejected { kind, reason } => anyhow::bail!("the server rejected the login: {kind:?} ({reason})"),
        }
    }
}

/// A channel as the server announced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    pub id: u32,
    pub parent: Option<u32>,
    pub name: String,
    pub description: Option<String>,
    pub temporary: bool,
}

/// A connected user as the server announced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub session: u32,
    pub name: String,
    pub user_id: Option<u32>,
    /// The channel the user is in (0: the root channel).
    pub channel: u32,
}

/// A text message received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    pub actor: Option<u32>,
    pub channels: Vec<u32>,
    pub sessions: Vec<u32>,
    pub message: String,
}

/// Everything the client has been told, as the server's messages left it.
#[derive(Debug, Clone, Default)]
pub struct ServerState {
    pub channels: BTreeMap<u32, Channel>,
    pub users: BTreeMap<u32, User>,
    pub texts: Vec<Text>,
    pub denied: Vec<proto::PermissionDenied>,
    /// Channels removed since the client connected.
    pub removed_channels: Vec<u32>,
    pub max_users: Option<u32>,
    /// Why the connection ended, once it has.
    pub closed: Option<String>,
}

impl ServerState {
    pub fn channel_named(&self, name: &str) -> Option<&Channel> {
        self.channels.values().find(|c| c.name == name)
    }

    pub fn user_named(&self, name: &str) -> Option<&User> {
        self.users.values().find(|u| u.name == name)
    }

    /// The root channel's users' names, sorted.
    pub fn root_users(&self) -> Vec<String> {
        let mut names: Vec<String> = self.users.values().filter(|u| u.channel == 0).map(|u| u.name.clone()).collect();
        names.sort();
        names
    }

    fn apply(&mut self, message: &Incoming) {
        match message {
            Incoming::ChannelState(c) => {
                let Some(id) = c.channel_id else { return };
                let entry = self.channels.entry(id).or_insert_with(|| Channel {
                    id,
                    parent: None,
                    name: String::new(),
                    description: None,
                    temporary: false,
                });
                if c.parent.is_some() {
                    entry.parent = c.parent;
                }
                if let Some(name) = &c.name {
                    entry.name = name.clone();
                }
                if c.description.is_some() {
                    entry.description = c.description.clone();
                }
                if let Some(temporary) = c.temporary {
                    entry.temporary = temporary;
                }
            }
            Incoming::ChannelRemove(r) => {
                self.channels.remove(&r.channel_id);
                self.removed_channels.push(r.channel_id);
            }
            Incoming::UserState(u) => {
                let Some(session) = u.session else { return };
                let entry =
                    self.users.entry(session).or_insert_with(|| User { session, name: String::new(), user_id: None, channel: 0 });
                if let Some(name) = &u.name {
                    entry.name = name.clone();
                }
                if u.user_id.is_some() {
                    entry.user_id = u.user_id;
                }
                if let Some(channel) = u.channel_id {
                    entry.channel = channel;
                }
            }
            Incoming::UserRemove(r) => {
                self.users.remove(&r.session);
            }
            Incoming::TextMessage(t) => self.texts.push(Text {
                actor: t.actor,
                channels: t.channel_id.clone(),
                sessions: t.session.clone(),
                message: t.message.clone(),
            }),
            Incoming::PermissionDenied(d) => self.denied.push(d.clone()),
            Incoming::ServerConfig(c) if c.max_users.is_some() => self.max_users = c.max_users,
            _ => {}
        }
    }

    /// A short description for timeout messages.
    fn summary(&self) -> String {
        let channels: Vec<&str> = self.channels.values().map(|c| c.name.as_str()).collect();
        let users: Vec<String> = self.users.values().map(|u| format!("{}@{}", u.name, u.channel)).collect();
        format!(
            "channels {channels:?}, users {users:?}, {} text message(s), {} refusal(s){}",
            self.texts.len(),
            self.denied.len(),
            self.closed.as_deref().map(|c| format!(", connection closed: {c}")).unwrap_or_default()
        )
    }
}

/// A logged-in client.
pub struct Client {
    writer: Arc<tokio::sync::Mutex<WriteHalf<TlsStream<TcpStream>>>>,
    incoming: mpsc::UnboundedReceiver<anyhow::Result<Incoming>>,
    tasks: Vec<JoinHandle<()>>,
    /// This client's session id (from `ServerSync`).
    pub session: u32,
    pub username: String,
    /// The server's `Version` message.
    pub server_version: proto::Version,
    pub welcome_text: Option<String>,
    /// The server's bandwidth limit per user (`ServerSync`), bits per second.
    pub max_bandwidth: Option<u32>,
    /// SHA-256 of the server's certificate (hex).
    pub certificate_sha256: String,
    pub state: ServerState,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("username", &self.username).field("session", &self.session).finish()
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Client {
    /// Connects, sends `Version` and `Authenticate`, and reads until `ServerSync` (joined) or
    /// `Reject`.
    pub async fn connect(to: &Connect) -> anyhow::Result<Login> {
        let limit = harness::scaled(LOGIN_TIMEOUT);
        tokio::time::timeout(limit, Self::login(to))
            .await
            .with_context(|| format!("logging in to {} as {} took over {limit:?}", to.addr, to.username))?
    }

    async fn login(to: &Connect) -> anyhow::Result<Login> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier = Arc::new(AcceptServerCertificate { provider: provider.clone(), seen: Mutex::new(None) });
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .dangerous()
            .with_custom_certificate_verifier(verifier.clone())
            .with_no_client_auth();
        let tcp = TcpStream::connect(to.addr).await.with_context(|| format!("connecting to {}", to.addr))?;
        tcp.set_nodelay(true)?;
        let name = ServerName::try_from(to.host.clone()).with_context(|| format!("server name {:?}", to.host))?;
        let tls = TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .with_context(|| format!("TLS handshake with {} (through its TCP route)", to.addr))?;
        let certificate_sha256 = verifier.seen.lock().expect("not poisoned").clone().context("the server presented no certificate")?;
        let (read, write) = tokio::io::split(tls);
        let writer = Arc::new(tokio::sync::Mutex::new(write));
        let (tx, mut incoming) = mpsc::unbounded_channel();
        let reader = tokio::spawn(read_frames(read, tx));

        send(&writer, kind::VERSION, &proto::Version {
            version_v1: Some(CLIENT_VERSION.v1()),
            version_v2: Some(CLIENT_VERSION.v2()),
            release: Some("ccci-mumble-test".into()),
            os: Some("Linux".into()),
            os_version: Some("ccci".into()),
        })
        .await?;
        send(&writer, kind::AUTHENTICATE, &proto::Authenticate {
            username: Some(to.username.clone()),
            password: to.password.as_ref().map(|p| p.expose().to_owned()),
            tokens: vec![],
            opus: Some(true),
        })
        .await?;

        let mut state = ServerState::default();
        let mut server_version = None;
        let (session, welcome_text, max_bandwidth) = loop {
            let message = match incoming.recv().await {
                Some(message) => message?,
                None => anyhow::bail!("the server closed the connection during the login ({})", state.summary()),
            };
            match &message {
                Incoming::Version(v) => server_version = Some(v.clone()),
                Incoming::Reject(r) => {
                    reader.abort();
                    return Ok(Login::Rejected { kind: RejectType::from_wire(r.r#type), reason: r.reason.clone().unwrap_or_default() });
                }
                Incoming::ServerSync(s) => break (s.session.context("ServerSync without a session")?, s.welcome_text.clone(), s.max_bandwidth),
                other => state.apply(other),
            }
        };
        let server_version = server_version.context("the server sent no Version before ServerSync")?;
        let keepalive = tokio::spawn(keep_alive(writer.clone()));
        Ok(Login::Joined(Box::new(Client {
            writer,
            incoming,
            tasks: vec![reader, keepalive],
            session,
            username: to.username.clone(),
            server_version,
            welcome_text,
            max_bandwidth,
            certificate_sha256,
            state,
        })))
    }

    /// The server's version as its `Version` message says (v2 where the server sends it).
    pub fn version(&self) -> anyhow::Result<ServerVersion> {
        ServerVersion::from_message(&self.server_version).context("the server's Version message carries no version")
    }

    /// Applies what the server sends until `done(state)` holds, at most `timeout`.
    pub async fn wait_until(&mut self, what: &str, timeout: Duration, done: impl Fn(&ServerState) -> bool) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            self.drain();
            if done(&self.state) {
                return Ok(());
            }
            if self.state.closed.is_some() {
                anyhow::bail!("{}: waiting for {what}, but the connection is closed ({})", self.username, self.state.summary());
            }
            match tokio::time::timeout_at(deadline, self.incoming.recv()).await {
                Ok(Some(message)) => self.take(message),
                Ok(None) => self.state.closed = Some("the reader stopped".into()),
                Err(_) => anyhow::bail!("{}: {what} did not happen within {timeout:?}; last state: {}", self.username, self.state.summary()),
            }
        }
    }

    /// Applies every message already received, without waiting for more.
    pub fn drain(&mut self) {
        while let Ok(message) = self.incoming.try_recv() {
            self.take(message);
        }
    }

    fn take(&mut self, message: anyhow::Result<Incoming>) {
        match message {
            Ok(message) => self.state.apply(&message),
            Err(e) => self.state.closed = Some(format!("{e:#}")),
        }
    }

    /// Sends a text message to a channel's users.
    pub async fn send_text_to_channel(&self, channel: u32, message: &str) -> anyhow::Result<()> {
        let msg = proto::TextMessage { actor: None, session: vec![], channel_id: vec![channel], tree_id: vec![], message: message.into() };
        send(&self.writer, kind::TEXT_MESSAGE, &msg).await
    }

    /// Asks the server to create a channel (the server answers with its `ChannelState`, or
    /// `PermissionDenied`).
    pub async fn create_channel(&self, parent: u32, name: &str, description: &str, temporary: bool) -> anyhow::Result<()> {
        let msg = proto::ChannelState {
            channel_id: None,
            parent: Some(parent),
            name: Some(name.into()),
            description: Some(description.into()),
            temporary: Some(temporary),
            position: None,
        };
        send(&self.writer, kind::CHANNEL_STATE, &msg).await
    }

    /// Asks the server to remove a channel.
    pub async fn remove_channel(&self, channel: u32) -> anyhow::Result<()> {
        send(&self.writer, kind::CHANNEL_REMOVE, &proto::ChannelRemove { channel_id: channel }).await
    }

    /// Closes the connection (the other clients see a `UserRemove`).
    pub async fn disconnect(self) -> anyhow::Result<()> {
        self.writer.lock().await.shutdown().await.context("closing the TLS connection")?;
        Ok(())
    }
}

async fn send(writer: &tokio::sync::Mutex<WriteHalf<TlsStream<TcpStream>>>, kind: u16, message: &impl prost::Message) -> anyhow::Result<()> {
    let bytes = proto::frame(kind, message);
    let mut w = writer.lock().await;
    w.write_all(&bytes).await.with_context(|| format!("sending a message of type {kind}"))?;
    w.flush().await?;
    Ok(())
}

async fn read_frames(mut read: ReadHalf<TlsStream<TcpStream>>, tx: mpsc::UnboundedSender<anyhow::Result<Incoming>>) {
    loop {
        let result = async {
            let mut header = [0u8; 6];
            read.read_exact(&mut header).await.context("reading a frame header")?;
            let (kind, len) = proto::header(header)?;
            let mut payload = vec![0u8; len];
            read.read_exact(&mut payload).await.with_context(|| format!("reading a {len}-byte frame of type {kind}"))?;
            proto::decode(kind, &payload)
        }
        .await;
        let failed = result.is_err();
        if tx.send(result).is_err() || failed {
            return;
        }
    }
}

async fn keep_alive(writer: Arc<tokio::sync::Mutex<WriteHalf<TlsStream<TcpStream>>>>) {
    let mut every = tokio::time::interval(KEEPALIVE);
    every.tick().await;
    let started = tokio::time::Instant::now();
    loop {
        every.tick().await;
        let timestamp = started.elapsed().as_millis() as u64;
        if send(&writer, kind::PING, &proto::Ping { timestamp: Some(timestamp) }).await.is_err() {
            return;
        }
    }
}

/// Accepts the server's self-signed certificate without a chain (this is a test client of a
/// server whose certificate is generated at first start), records its SHA-256, and still checks
/// the handshake's signatures with it.
#[derive(Debug)]
struct AcceptServerCertificate {
    provider: Arc<CryptoProvider>,
    seen: Mutex<Option<String>>,
}

impl ServerCertVerifier for AcceptServerCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *self.seen.lock().expect("not poisoned") = Some(hex::encode(Sha256::digest(end_entity.as_ref())));
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
