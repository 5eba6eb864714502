//! What the uptime-kuma suite knows about the recipe: one service (`app`, Uptime Kuma on port
//! 3001) with all its state in the `data` volume (`/app/data/kuma.db`, SQLite).
//!
//! Uptime Kuma has no REST API for administration: its web UI talks Socket.IO, and so do the
//! tests. [`Kuma`] is a small Socket.IO client over Engine.IO v4 long-polling (plain HTTPS GETs
//! and POSTs on `/socket.io/?EIO=4&transport=polling`, through the proxy like a browser):
//! events are emitted with an acknowledgement id and the answer is the matching ack packet.
//! The calls (`setup`, `login`, `add`, `getMonitor`, `getMonitorBeats`, `addStatusPage`,
//! `saveStatusPage`, `deleteMonitor`) are the server's socket handlers (`server/server.js`,
//! `server/socket-handlers/status-page-socket-handler.js`), the same in 1.x and the 2.0 dev
//! snapshot the testbed runs.
//!
//! The first admin is made by the `setup` event on a fresh database; [`admin`] does that
//! once per deployment, with a password kept in the run's directory so every test process of
//! the run logs in as the same admin. [`MonitorMarker`] is the backup/upgrade data probe: a
//! monitor with a random description, created and read back through the socket API.

use std::{
    collections::VecDeque,
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::{Context as _, anyhow, bail, ensure};
use harness::prelude::*;
use reqwest::Method;
use serde_json::{Value, json};

/// The admin user the suite sets up.
pub const ADMIN_USER: &str = "ccci-admin";

/// How long one long-polling GET may wait for the server (its ping interval is 25 s).
const POLL_WAIT: Duration = Duration::from_secs(28);

/// A Socket.IO session with one Uptime Kuma deployment, over Engine.IO v4 long-polling.
pub struct Kuma {
    http: AppClient,
    sid: String,
    next_ack: u64,
    /// Socket.IO events the server pushed (name, arguments), oldest first.
    pub events: VecDeque<(String, Vec<Value>)>,
}

impl std::fmt::Debug for Kuma {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kuma").field("domain", &self.http.domain()).field("sid", &self.sid).finish()
    }
}

/// One Engine.IO packet of a polling payload (packets are separated by U+001E).
#[derive(Debug, PartialEq)]
enum Packet {
    /// `0{...}`: the handshake, with the session id.
    Open(Value),
    /// `1`: the server closed the session.
    Close,
    /// `2`: a ping the client must answer with `3`.
    Ping,
    /// `40...`: the Socket.IO namespace is connected.
    Connected,
    /// `44...`: the Socket.IO connection was refused.
    ConnectError(String),
    /// `42[name, args...]`: an event.
    Event(String, Vec<Value>),
    /// `43<id>[args...]`: the acknowledgement of emit `id`.
    Ack(u64, Vec<Value>),
    /// Anything else (noop, pong, upgrade probes).
    Other,
}

fn parse_payload(body: &str) -> anyhow::Result<Vec<Packet>> {
    body.split('\u{1e}').filter(|p| !p.is_empty()).map(parse_packet).collect()
}

fn parse_packet(p: &str) -> anyhow::Result<Packet> {
    let mut chars = p.chars();
    Ok(match chars.next() {
        Some('0') => Packet::Open(serde_json::from_str(&p[1..]).with_context(|| format!("Engine.IO handshake {p:?}"))?),
        Some('1') => Packet::Close,
        Some('2') => Packet::Ping,
        Some('4') => {
            let sio = &p[1..];
            match sio.chars().next() {
                Some('0') => Packet::Connected,
                Some('4') => Packet::ConnectError(sio[1..].to_owned()),
                Some(kind @ ('2' | '3')) => {
                    let rest = &sio[1..];
                    let digits = rest.chars().take_while(char::is_ascii_digit).count();
                    let args: Vec<Value> = serde_json::from_str(&rest[digits..]).with_context(|| format!("Socket.IO packet {sio:?}"))?;
                    if kind == '3' {
                        Packet::Ack(rest[..digits].parse().with_context(|| format!("ack id in {sio:?}"))?, args)
                    } else {
                        let mut args = args.into_iter();
                        let name = args.next().and_then(|n| n.as_str().map(str::to_owned)).ok_or_else(|| anyhow!("event without a name: {sio:?}"))?;
                        Packet::Event(name, args.collect())
                    }
                }
                _ => Packet::Other,
            }
        }
        _ => Packet::Other,
    })
}

impl Kuma {
    /// Opens a session: the Engine.IO handshake, then the Socket.IO connect to `/`.
    pub async fn connect(app: &Deployment) -> anyhow::Result<Kuma> {
        let http = app.http()?;
        let body = http
            .get("/socket.io/?EIO=4&transport=polling")
            .send()
            .await
            .context("Engine.IO handshake")?
            .error_for_status()
            .context("Engine.IO handshake")?
            .text()
            .await?;
        let sid = match parse_payload(&body)?.into_iter().next() {
            Some(Packet::Open(open)) => open["sid"].as_str().ok_or_else(|| anyhow!("handshake without sid: {open}"))?.to_owned(),
            _ => bail!("not an Engine.IO handshake (is this Uptime Kuma?): {}", body.chars().take(200).collect::<String>()),
        };
        let mut kuma = Kuma { http, sid, next_ack: 0, events: VecDeque::new() };
        kuma.post("40").await?;
        let deadline = Instant::now() + harness::scaled(Duration::from_secs(30));
        loop {
            ensure!(Instant::now() < deadline, "Socket.IO connect was not confirmed within the deadline");
            for packet in kuma.poll().await? {
                match packet {
                    Packet::Connected => return Ok(kuma),
                    Packet::ConnectError(why) => bail!("Socket.IO connect refused: {why}"),
                    other => kuma.handle(other).await?,
                }
            }
        }
    }

    fn path(&self) -> String {
        format!("/socket.io/?EIO=4&transport=polling&sid={}", self.sid)
    }

    async fn post(&self, packet: &str) -> anyhow::Result<()> {
        let resp = self
            .http
            .request(Method::POST, &self.path())
            .header("content-type", "text/plain;charset=UTF-8")
            .body(packet.to_owned())
            .send()
            .await
            .context("Engine.IO POST")?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        ensure!(status.is_success() && text == "ok", "Engine.IO POST answered {status}: {}", text.chars().take(200).collect::<String>());
        Ok(())
    }

    async fn poll(&self) -> anyhow::Result<Vec<Packet>> {
        let resp = self.http.get(&self.path()).timeout(POLL_WAIT + Duration::from_secs(5)).send().await.context("Engine.IO poll")?;
        let status = resp.status();
        let text = resp.text().await?;
        ensure!(status.is_success(), "Engine.IO poll answered {status}: {}", text.chars().take(200).collect::<String>());
        parse_payload(&text)
    }

    /// Answers pings, keeps events; a close ends the session.
    async fn handle(&mut self, packet: Packet) -> anyhow::Result<()> {
        match packet {
            Packet::Ping => self.post("3").await,
            Packet::Close => bail!("the server closed the Socket.IO session"),
            Packet::Event(name, args) => {
                self.events.push_back((name, args));
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Emits `event` with `args` and returns the arguments of its acknowledgement.
    pub async fn call(&mut self, event: &str, args: &[Value]) -> anyhow::Result<Vec<Value>> {
        let id = self.next_ack;
        self.next_ack += 1;
        let mut frame = vec![json!(event)];
        frame.extend(args.iter().cloned());
        self.post(&format!("42{id}{}", Value::Array(frame))).await.with_context(|| format!("emitting {event}"))?;
        let deadline = Instant::now() + harness::scaled(Duration::from_secs(60));
        loop {
            ensure!(Instant::now() < deadline, "no answer to {event} within the deadline");
            for packet in self.poll().await.with_context(|| format!("waiting for the answer to {event}"))? {
                match packet {
                    Packet::Ack(ack, args) if ack == id => return Ok(args),
                    other => self.handle(other).await?,
                }
            }
        }
    }

    /// The arguments of the first `event` the server pushes (or pushed already and is still
    /// queued) for which `wanted` holds, waiting at most `timeout`.
    pub async fn event_where(&mut self, event: &str, timeout: Duration, wanted: impl Fn(&[Value]) -> bool) -> anyhow::Result<Vec<Value>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(pos) = self.events.iter().position(|(name, args)| name == event && wanted(args)) {
                return Ok(self.events.remove(pos).expect("found").1);
            }
            ensure!(Instant::now() < deadline, "the server pushed no matching {event} event within {timeout:?}");
            for packet in self.poll().await.with_context(|| format!("waiting for the {event} event"))? {
                self.handle(packet).await?;
            }
        }
    }

    /// The first argument of the next `event` the server pushes (or pushed already and is
    /// still queued), waiting at most `timeout`.
    pub async fn event(&mut self, event: &str, timeout: Duration) -> anyhow::Result<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(pos) = self.events.iter().position(|(name, _)| name == event) {
                let (_, args) = self.events.remove(pos).expect("found");
                return Ok(args.into_iter().next().unwrap_or(Value::Null));
            }
            ensure!(Instant::now() < deadline, "the server pushed no {event} event within {timeout:?}");
            for packet in self.poll().await.with_context(|| format!("waiting for the {event} event"))? {
                self.handle(packet).await?;
            }
        }
    }

    /// [`Kuma::call`] for handlers that answer one object `{ok, msg, ...}`; fails unless `ok`.
    pub async fn call_ok(&mut self, event: &str, args: &[Value]) -> anyhow::Result<Value> {
        let answer = self.call(event, args).await?.into_iter().next().unwrap_or(Value::Null);
        ensure!(answer["ok"] == json!(true), "{event} failed: {}", answer["msg"]);
        Ok(answer)
    }

    /// Whether the server still needs its first admin (`needSetup`).
    pub async fn need_setup(&mut self) -> anyhow::Result<bool> {
        let answer = self.call("needSetup", &[]).await?;
        answer.first().and_then(Value::as_bool).ok_or_else(|| anyhow!("needSetup answered {answer:?}"))
    }

    /// Creates the first admin (`setup`); refused once any user exists.
    pub async fn setup(&mut self, username: &str, password: &Secret) -> anyhow::Result<Value> {
        Ok(self.call("setup", &[json!(username), json!(password.expose())]).await?.into_iter().next().unwrap_or(Value::Null))
    }

    /// Logs in (`login`); the answer is `{ok: true, token}` or `{ok: false, msg}`.
    pub async fn login(&mut self, username: &str, password: &Secret) -> anyhow::Result<Value> {
        let answer = self.call("login", &[json!({"username": username, "password": password.expose(), "token": ""})]).await?;
        Ok(answer.into_iter().next().unwrap_or(Value::Null))
    }

    /// Adds a monitor (`add`) and returns its id.
    pub async fn add_monitor(&mut self, monitor: Value) -> anyhow::Result<i64> {
        let answer = self.call_ok("add", &[monitor]).await?;
        answer["monitorID"].as_i64().ok_or_else(|| anyhow!("add answered no monitorID: {answer}"))
    }

    /// The monitor `id` as the server stores it, or `None` when it has none of that id.
    pub async fn monitor(&mut self, id: i64) -> anyhow::Result<Option<Value>> {
        let answer = self.call("getMonitor", &[json!(id)]).await?.into_iter().next().unwrap_or(Value::Null);
        Ok(match answer["ok"].as_bool() {
            Some(true) if answer["monitor"].is_object() => Some(answer["monitor"].clone()),
            // The 1.x/2.0 handler reads a missing row as null and fails on it.
            Some(false) => None,
            _ => bail!("getMonitor answered {answer}"),
        })
    }

    /// Deletes monitor `id` (`deleteMonitor`).
    pub async fn delete_monitor(&mut self, id: i64) -> anyhow::Result<()> {
        self.call_ok("deleteMonitor", &[json!(id)]).await.map(drop)
    }
}

/// Heartbeat status values (`status` of a heartbeat row).
pub const DOWN: i64 = 0;
pub const UP: i64 = 1;

/// The fields an HTTP(S) monitor needs in `add`, as the web UI's form sends them.
pub fn http_monitor(name: &str, url: &str, interval_secs: u32) -> Value {
    json!({
        "type": "http",
        "name": name,
        "url": url,
        "method": "GET",
        "interval": interval_secs,
        "retryInterval": interval_secs,
        "resendInterval": 0,
        "maxretries": 0,
        "timeout": 10,
        "accepted_statuscodes": ["200-299"],
        "notificationIDList": {},
        "ignoreTls": false,
        "upsideDown": false,
        "maxredirects": 10,
        "expiryNotification": false,
    })
}

/// The fields a push monitor needs in `add`: it is UP while something calls
/// `GET /api/push/<token>` within `interval_secs`.
pub fn push_monitor(name: &str, token: &str, interval_secs: u32) -> Value {
    json!({
        "type": "push",
        "name": name,
        "pushToken": token,
        "interval": interval_secs,
        "retryInterval": interval_secs,
        "resendInterval": 0,
        "maxretries": 0,
        "accepted_statuscodes": ["200-299"],
        "notificationIDList": {},
        "upsideDown": false,
    })
}

/// A random lowercase token of `len` characters (monitor names, push tokens, slugs).
pub fn token(len: usize) -> String {
    Secret::generate(len).expose().to_ascii_lowercase()
}

/// Where the run keeps the password of a deployment's admin: every test process of the run
/// (nextest runs one per test) logs in to the shared deployment as the same admin.
fn admin_password_file(app: &Deployment) -> PathBuf {
    app.run().dir().join("uptime-kuma").join(format!("{}.admin", app.stack()))
}

/// The password of `app`'s admin, made on first use (the first process to write it wins).
pub async fn admin_password(app: &Deployment) -> anyhow::Result<Secret> {
    let path = admin_password_file(app);
    std::fs::create_dir_all(path.parent().expect("has a parent")).context("creating the run's uptime-kuma directory")?;
    // Uptime Kuma refuses "too weak" passwords: mixed letters and digits, long.
    let fresh = Secret::new(format!("{}7q", Secret::generate(30).expose()));
    match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
        Ok(mut file) => {
            use std::io::Write as _;
            file.write_all(fresh.expose().as_bytes()).context("recording the admin password")?;
            Ok(fresh)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            // The writer may not have finished: an empty file is read again.
            let read = harness::converge("the admin password of the run", harness::scaled(Duration::from_secs(10)), Duration::from_millis(100), || async {
                match std::fs::read_to_string(&path) {
                    Ok(p) if !p.is_empty() => Ok(Secret::new(p)),
                    Ok(_) => Err("not written yet".to_owned()),
                    Err(e) => Err(e.to_string()),
                }
            })
            .await?;
            Ok(read)
        }
        Err(e) => Err(e).context("recording the admin password"),
    }
}

/// A session on `app` logged in as the run's admin (its password kept in the run directory),
/// set up first if the database has no user yet.
pub async fn admin(app: &Deployment) -> anyhow::Result<Kuma> {
    login_or_setup(app, &admin_password(app).await?).await
}

/// The backup/upgrade marker: a push monitor (it needs no network to exist) whose description
/// is random, created by an admin the probe sets up on the deployment's empty database, and
/// read back through `getMonitor`. A wiped deployment has no user at all (`needSetup`), which
/// reads as the marker being absent.
#[derive(Debug)]
pub struct MonitorMarker {
    password: Secret,
    name: String,
    id: Option<i64>,
}

impl Default for MonitorMarker {
    fn default() -> Self {
        MonitorMarker { password: Secret::new(format!("{}7q", Secret::generate(30).expose())), name: format!("ccci-marker-{}", token(12)), id: None }
    }
}

impl MonitorMarker {
    pub fn new() -> Self {
        Self::default()
    }

    /// The password of the admin the marker sets up (user [`ADMIN_USER`]).
    pub fn password(&self) -> Secret {
        self.password.clone()
    }
}

/// A session on `app` logged in as [`ADMIN_USER`] with `password`, setting that admin up first
/// when the database has no user yet.
///
/// The check and the setup are one step for the whole run: two tests (threads under cargo
/// test, processes under nextest) that both see `needSetup` would both send `setup`, and
/// Uptime Kuma answers the second with its database's UNIQUE error (seen under cargo test).
/// A file lock beside the run's password file makes the second wait, then see the admin made.
pub async fn login_or_setup(app: &Deployment, password: &Secret) -> anyhow::Result<Kuma> {
    let mut kuma = Kuma::connect(app).await?;
    {
        let lock = admin_password_file(app).with_extension("setup.lock");
        let _setting_up = harness::ops::FileLock::exclusive(&lock, harness::scaled(Duration::from_secs(60)), "the uptime-kuma admin setup").await?;
        if kuma.need_setup().await? {
            let answer = kuma.setup(ADMIN_USER, password).await?;
            ensure!(answer["ok"] == json!(true), "setup failed: {}", answer["msg"]);
        }
    }
    let login = kuma.login(ADMIN_USER, password).await?;
    ensure!(login["ok"] == json!(true), "the admin cannot log in: {}", login["msg"]);
    Ok(kuma)
}

/// Whether `value` is the id `id`: the server sends ids as numbers, or as strings where it
/// walked the keys of its monitor list (the login's heartbeat lists).
fn same_id(value: Option<&Value>, id: i64) -> bool {
    match value {
        Some(Value::Number(n)) => n.as_i64() == Some(id),
        Some(Value::String(s)) => s.parse::<i64>().ok() == Some(id),
        _ => false,
    }
}

/// The stored heartbeats of monitor `id` (the newest 100, oldest first), as the server sends
/// them to a session that logs in as [`ADMIN_USER`] (its `heartbeatList` event per monitor).
///
/// The `getMonitorBeats` call would be the direct way, but the 2.0.0-dev.0 snapshot builds
/// its SQL for MariaDB on SQLite (`DATE_ADD(NOW(), ...)`: a syntax error); the login's
/// heartbeat lists read the same table in every version.
pub async fn stored_beats(app: &Deployment, password: &Secret, id: i64) -> anyhow::Result<Vec<Value>> {
    let mut kuma = Kuma::connect(app).await?;
    let login = kuma.login(ADMIN_USER, password).await?;
    ensure!(login["ok"] == json!(true), "the admin cannot log in: {}", login["msg"]);
    let args = kuma.event_where("heartbeatList", harness::scaled(Duration::from_secs(30)), |args| same_id(args.first(), id)).await?;
    args.get(1).and_then(Value::as_array).cloned().ok_or_else(|| anyhow!("heartbeatList of monitor {id} has no list: {args:?}"))
}

/// The app version the server reports to a logged-in session (its `info` event; anonymous
/// sessions are not told the version).
pub async fn reported_version(app: &Deployment, password: &Secret) -> anyhow::Result<String> {
    let mut kuma = login_or_setup(app, password).await?;
    let deadline = Instant::now() + harness::scaled(Duration::from_secs(30));
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let info = kuma.event("info", left).await?;
        if let Some(version) = info["version"].as_str() {
            return Ok(version.to_owned());
        }
    }
}

/// The upstream part of a recipe version: `1.1.0+2.0.0-dev.0` -> `2.0.0-dev.0`.
pub fn upstream_version(recipe_version: &str) -> anyhow::Result<String> {
    recipe_version
        .split_once('+')
        .map(|(_, upstream)| upstream.to_owned())
        .ok_or_else(|| anyhow!("recipe version {recipe_version:?} has no +<upstream version>"))
}

impl DataProbe for MonitorMarker {
    fn describe(&self) -> String {
        format!("monitor {:?} (its description)", self.name)
    }

    async fn seed(&mut self, app: &Deployment) -> anyhow::Result<Vec<u8>> {
        let mut kuma = login_or_setup(app, &self.password).await?;
        let description = format!("ccci backup marker {}", token(40));
        let mut monitor = push_monitor(&self.name, &token(32), 86_400);
        monitor["description"] = json!(description);
        self.id = Some(kuma.add_monitor(monitor).await?);
        Ok(description.into_bytes())
    }

    async fn read(&self, app: &Deployment) -> anyhow::Result<Option<Vec<u8>>> {
        let id = self.id.ok_or_else(|| anyhow!("read before seed"))?;
        let mut kuma = Kuma::connect(app).await?;
        if kuma.need_setup().await? {
            return Ok(None);
        }
        let login = kuma.login(ADMIN_USER, &self.password).await?;
        ensure!(login["ok"] == json!(true), "the marker's admin cannot log in: {}", login["msg"]);
        Ok(match kuma.monitor(id).await? {
            Some(m) if m["name"] == json!(self.name) => m["description"].as_str().map(|d| d.as_bytes().to_vec()),
            _ => None,
        })
    }

    /// Uptime Kuma keeps some of its state in memory (whether setup is needed, the monitors
    /// it runs): after the database was restored under it, it is restarted to read it again.
    async fn after_restore(&self, app: &Deployment) -> anyhow::Result<()> {
        app.restart_service("app").await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_polling_payload_splits_into_engine_io_packets() {
        let body = "40{\"sid\":\"x\"}\u{1e}2\u{1e}42[\"monitorList\",{\"1\":{\"id\":1}}]\u{1e}4312[{\"ok\":true}]";
        let packets = parse_payload(body).unwrap();
        assert_eq!(packets[0], Packet::Connected);
        assert_eq!(packets[1], Packet::Ping);
        assert_eq!(packets[2], Packet::Event("monitorList".into(), vec![json!({"1": {"id": 1}})]));
        assert_eq!(packets[3], Packet::Ack(12, vec![json!({"ok": true})]));
    }

    #[test]
    fn monitor_ids_match_as_numbers_or_as_strings() {
        assert!(same_id(Some(&json!(7)), 7));
        assert!(same_id(Some(&json!("7")), 7));
        assert!(!same_id(Some(&json!("17")), 7));
        assert!(!same_id(Some(&json!(8)), 7));
        assert!(!same_id(None, 7));
    }

    #[test]
    fn the_handshake_carries_the_session_id() {
        let packets = parse_payload("0{\"sid\":\"abc\",\"pingInterval\":25000}").unwrap();
        assert!(matches!(&packets[0], Packet::Open(v) if v["sid"] == "abc"));
    }
}
