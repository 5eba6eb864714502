//! What the matrix-synapse suite knows about the recipe: Synapse (`app`) serves the client and
//! federation APIs at `https://<domain>` with the domain as its server name, users are made
//! through the shared-secret admin registration API (the `registration_shared_secret` secret),
//! rooms and events live in PostgreSQL (`db`, dumped by the recipe's backupbot hooks) and media
//! in the `data` volume, and users can log in through the recipe's SSO provider
//! (`oidc-keycloak`).
//!
//! [`Synapse`] is a small client of the Matrix client-server and Synapse admin APIs (tokens
//! travel as [`Secret`] and are never part of an error); [`MarkerRoom`] is the backup and
//! upgrade marker (two users, a room, a message and a media file); [`png`] makes the image the
//! thumbnail test uploads.

use std::time::Duration;

use anyhow::Context as _;
use harness::prelude::*;
use hmac::{Hmac, Mac as _};
use reqwest::Method;
use serde_json::{Value, json};

pub use harness::fixture::{encode, png, png_size, sha256_hex, tag, upstream_version};

/// The recipe's secret that keys the admin registration API (`registration_shared_secret` in
/// homeserver.yaml; a short name: Swarm secret names are at most 64 characters).
pub const REGISTRATION_SECRET: &str = "reg_secret";
/// The SSO provider's id as Synapse names it (`oidc-` + the recipe's `idp_id`).
pub const SSO_IDP: &str = "oidc-keycloak";

/// A Matrix error answer (`errcode`, `error`), with the HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatrixError {
    pub status: u16,
    pub errcode: String,
    pub error: String,
}

impl std::fmt::Display for MatrixError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {} {}: {}", self.status, self.errcode, self.error)
    }
}

impl std::error::Error for MatrixError {}

/// A logged-in Matrix user. `Debug` never shows the token.
#[derive(Clone)]
pub struct Session {
    pub user_id: String,
    pub device_id: String,
    pub access_token: Secret,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("user_id", &self.user_id).field("device_id", &self.device_id).finish_non_exhaustive()
    }
}

/// A raw answer of Synapse.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> anyhow::Result<Value> {
        serde_json::from_slice(&self.body).with_context(|| format!("HTTP {}: not JSON ({} bytes, {})", self.status, self.body.len(), self.content_type))
    }

    /// The Matrix error this answer carries, if it is one.
    pub fn error(&self) -> Option<MatrixError> {
        if (200..300).contains(&self.status) {
            return None;
        }
        let v: Value = serde_json::from_slice(&self.body).unwrap_or(Value::Null);
        Some(MatrixError {
            status: self.status,
            errcode: v["errcode"].as_str().unwrap_or("(none)").to_owned(),
            error: v["error"].as_str().unwrap_or_default().chars().take(200).collect(),
        })
    }

    /// The JSON body of a 2xx answer, else the Matrix error (never the body of a success,
    /// which may hold a token).
    pub fn ok_json(&self, what: &str) -> anyhow::Result<Value> {
        match self.error() {
            Some(e) => Err(anyhow::Error::new(e).context(what.to_owned())),
            None => self.json().with_context(|| what.to_owned()),
        }
    }
}

/// The client-server and admin APIs of one deployment, through the proxy.
#[derive(Clone, Debug)]
pub struct Synapse {
    http: AppClient,
    /// The homeserver's name: the domain (`server_name` in homeserver.yaml).
    pub server_name: String,
}

impl Synapse {
    pub fn of(d: &Deployment) -> anyhow::Result<Synapse> {
        Ok(Synapse { http: d.http()?, server_name: d.domain().to_owned() })
    }

    /// `@<localpart>:<server name>`.
    pub fn user_id(&self, localpart: &str) -> String {
        format!("@{localpart}:{}", self.server_name)
    }

    /// One request; `token` as a Bearer, `body` as JSON or raw bytes with a content type.
    pub async fn call(&self, method: Method, path: &str, token: Option<&Secret>, body: Body<'_>) -> anyhow::Result<Answer> {
        let mut req = self.http.request(method.clone(), path);
        if let Some(token) = token {
            req = req.bearer_auth(token.expose());
        }
        req = match body {
            Body::None => req,
            Body::Json(v) => req.json(v),
            Body::Bytes(bytes, content_type) => req.header("Content-Type", content_type).body(bytes.to_vec()),
        };
        let resp = req.send().await.map_err(|e| anyhow::format_err!("{method} {}: {e:#}", self.http.url(path.split('?').next().unwrap_or(path))))?;
        let status = resp.status().as_u16();
        let content_type = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let body = resp.bytes().await?.to_vec();
        Ok(Answer { status, content_type, body })
    }

    /// Registers a user through the shared-secret admin API (`/_synapse/admin/v1/register`):
    /// a nonce, then the HMAC-SHA1 of `nonce\0user\0password\0admin|notadmin` keyed with the
    /// secret.
    pub async fn register(&self, shared_secret: &Secret, localpart: &str, password: &Secret, admin: bool) -> anyhow::Result<Session> {
        let what = format!("registering {localpart} through the shared-secret admin API");
        let nonce = self.call(Method::GET, "/_synapse/admin/v1/register", None, Body::None).await?.ok_json(&what)?;
        let nonce = nonce["nonce"].as_str().with_context(|| format!("{what}: no nonce"))?.to_owned();
        let mac = registration_mac(shared_secret, &nonce, localpart, password, admin)?;
        let body = json!({
            "nonce": nonce,
            "username": localpart,
            "password": password.expose(),
            "admin": admin,
            "mac": mac,
        });
        let answer = self.call(Method::POST, "/_synapse/admin/v1/register", None, Body::Json(&body)).await?;
        session(&answer.ok_json(&what)?, &what)
    }

    /// `m.login.password`: the session, or Synapse's refusal.
    pub async fn try_login(&self, localpart: &str, password: &Secret) -> anyhow::Result<Result<Session, MatrixError>> {
        let body = json!({
            "type": "m.login.password",
            "identifier": { "type": "m.id.user", "user": localpart },
            "password": password.expose(),
        });
        self.login_with(&body, &format!("logging {localpart} in with a password")).await
    }

    /// `m.login.token` with a login token from the SSO redirect.
    pub async fn try_token_login(&self, login_token: &Secret) -> anyhow::Result<Result<Session, MatrixError>> {
        let body = json!({ "type": "m.login.token", "token": login_token.expose() });
        self.login_with(&body, "logging in with an SSO login token").await
    }

    async fn login_with(&self, body: &Value, what: &str) -> anyhow::Result<Result<Session, MatrixError>> {
        let answer = self.call(Method::POST, "/_matrix/client/v3/login", None, Body::Json(body)).await?;
        match answer.error() {
            Some(e) => Ok(Err(e)),
            None => Ok(Ok(session(&answer.json().context(what.to_owned())?, what)?)),
        }
    }

    pub async fn login(&self, localpart: &str, password: &Secret) -> anyhow::Result<Session> {
        self.try_login(localpart, password).await?.map_err(|e| anyhow::Error::new(e).context(format!("logging {localpart} in")))
    }

    /// `GET /_matrix/client/v3/account/whoami` -> the user id.
    pub async fn whoami(&self, s: &Session) -> anyhow::Result<String> {
        let v = self.call(Method::GET, "/_matrix/client/v3/account/whoami", Some(&s.access_token), Body::None).await?.ok_json("whoami")?;
        Ok(v["user_id"].as_str().context("whoami: no user_id")?.to_owned())
    }

    /// Creates a private room named `name`, inviting `invite`; returns its id.
    pub async fn create_room(&self, s: &Session, name: &str, invite: &[&str]) -> anyhow::Result<String> {
        let body = json!({ "name": name, "preset": "private_chat", "invite": invite });
        let v = self.call(Method::POST, "/_matrix/client/v3/createRoom", Some(&s.access_token), Body::Json(&body)).await?.ok_json("creating a room")?;
        Ok(v["room_id"].as_str().context("createRoom: no room_id")?.to_owned())
    }

    pub async fn join(&self, s: &Session, room_id: &str) -> anyhow::Result<()> {
        let path = format!("/_matrix/client/v3/join/{}", encode(room_id));
        self.call(Method::POST, &path, Some(&s.access_token), Body::Json(&json!({}))).await?.ok_json(&format!("{} joining {room_id}", s.user_id))?;
        Ok(())
    }

    /// Sends an `m.text` message; returns its event id.
    pub async fn send_text(&self, s: &Session, room_id: &str, text: &str) -> anyhow::Result<String> {
        let path = format!("/_matrix/client/v3/rooms/{}/send/m.room.message/{}", encode(room_id), tag());
        let body = json!({ "msgtype": "m.text", "body": text });
        let v = self.call(Method::PUT, &path, Some(&s.access_token), Body::Json(&body)).await?.ok_json("sending a message")?;
        Ok(v["event_id"].as_str().context("send: no event_id")?.to_owned())
    }

    /// The room's latest `m.room.message` events as `s` sees them (newest first), or the
    /// refusal (e.g. `M_FORBIDDEN` for a user not in the room).
    pub async fn messages(&self, s: &Session, room_id: &str) -> anyhow::Result<Result<Vec<Value>, MatrixError>> {
        let path = format!("/_matrix/client/v3/rooms/{}/messages?dir=b&limit=50", encode(room_id));
        let answer = self.call(Method::GET, &path, Some(&s.access_token), Body::None).await?;
        if let Some(e) = answer.error() {
            return Ok(Err(e));
        }
        let v = answer.json()?;
        let chunk = v["chunk"].as_array().cloned().unwrap_or_default();
        Ok(Ok(chunk.into_iter().filter(|e| e["type"] == "m.room.message").collect()))
    }

    /// Uploads `bytes` as `content_type`; returns the `mxc://` URI.
    pub async fn upload(&self, s: &Session, filename: &str, content_type: &str, bytes: &[u8]) -> anyhow::Result<String> {
        let path = format!("/_matrix/media/v3/upload?filename={}", encode(filename));
        let v = self.call(Method::POST, &path, Some(&s.access_token), Body::Bytes(bytes, content_type)).await?.ok_json("uploading media")?;
        let uri = v["content_uri"].as_str().context("upload: no content_uri")?.to_owned();
        anyhow::ensure!(uri.starts_with(&format!("mxc://{}/", self.server_name)), "upload: {uri} is not on this server");
        Ok(uri)
    }

    /// `GET /_matrix/client/v1/media/download/<server>/<id>` (authenticated media), with
    /// `token` or without one.
    pub async fn download(&self, token: Option<&Secret>, mxc: &str) -> anyhow::Result<Answer> {
        self.call(Method::GET, &format!("/_matrix/client/v1/media/download/{}", mxc_path(mxc)?), token, Body::None).await
    }

    /// `GET /_matrix/client/v1/media/thumbnail/<server>/<id>?width&height&method`.
    pub async fn thumbnail(&self, s: &Session, mxc: &str, width: u32, height: u32, method: &str) -> anyhow::Result<Answer> {
        let path = format!("/_matrix/client/v1/media/thumbnail/{}?width={width}&height={height}&method={method}", mxc_path(mxc)?);
        self.call(Method::GET, &path, Some(&s.access_token), Body::None).await
    }
}

/// A request body.
pub enum Body<'a> {
    None,
    Json(&'a Value),
    Bytes(&'a [u8], &'a str),
}

/// `mxc://server/id` -> `server/id` (each part encoded).
fn mxc_path(mxc: &str) -> anyhow::Result<String> {
    let rest = mxc.strip_prefix("mxc://").with_context(|| format!("{mxc} is not an mxc:// URI"))?;
    let (server, id) = rest.split_once('/').with_context(|| format!("{mxc} has no media id"))?;
    Ok(format!("{}/{}", encode(server), encode(id)))
}

fn session(v: &Value, what: &str) -> anyhow::Result<Session> {
    Ok(Session {
        user_id: v["user_id"].as_str().with_context(|| format!("{what}: no user_id"))?.to_owned(),
        device_id: v["device_id"].as_str().unwrap_or_default().to_owned(),
        access_token: Secret::new(v["access_token"].as_str().with_context(|| format!("{what}: no access_token"))?),
    })
}

/// The `mac` of the admin registration API: hex HMAC-SHA1 keyed with the shared secret over
/// `nonce \0 user \0 password \0 (admin|notadmin)`.
pub fn registration_mac(secret: &Secret, nonce: &str, user: &str, password: &Secret, admin: bool) -> anyhow::Result<String> {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.expose().as_bytes()).map_err(|e| anyhow::format_err!("HMAC key: {e}"))?;
    for (i, part) in [nonce.as_bytes(), user.as_bytes(), password.expose().as_bytes(), if admin { b"admin" } else { b"notadmin" }].iter().enumerate() {
        if i > 0 {
            mac.update(b"\0");
        }
        mac.update(part);
    }
    Ok(hex::encode(mac.finalize().into_bytes()))
}

/// The deployment's Synapse client and its registration secret.
pub fn synapse(d: &Deployment) -> anyhow::Result<(Synapse, Secret)> {
    let secret = d.secret(REGISTRATION_SECRET).with_context(|| format!("{} has no {REGISTRATION_SECRET} secret", d.stack()))?.clone();
    Ok((Synapse::of(d)?, secret))
}

/// Two users registered through the admin API: `alice` (a server admin) and `bob`.
pub struct Pair {
    pub alice: Session,
    pub bob: Session,
    pub alice_name: String,
    pub bob_name: String,
    pub alice_password: Secret,
    pub bob_password: Secret,
}

impl Pair {
    pub async fn register(m: &Synapse, shared_secret: &Secret) -> anyhow::Result<Pair> {
        let t = tag();
        let (alice_name, bob_name) = (format!("alice-{t}"), format!("bob-{t}"));
        let (alice_password, bob_password) = (Secret::generate(24), Secret::generate(24));
        let alice = m.register(shared_secret, &alice_name, &alice_password, true).await?;
        let bob = m.register(shared_secret, &bob_name, &bob_password, false).await?;
        Ok(Pair { alice, bob, alice_name, bob_name, alice_password, bob_password })
    }
}

/// The backup and upgrade marker: alice and bob (random names and passwords), a room alice
/// made and bob joined, alice's random message in it and a random media file she uploaded.
/// Read back as bob, logging in with his password: the room id, the message's sender and
/// body, and the media's sha256, downloaded with bob's token. `None` when bob cannot log in
/// (his account is not in the database), is not in the room, or the media is not found.
pub struct MarkerRoom {
    tag: String,
    bob_password: Secret,
    /// Set by `seed`.
    planted: Option<Planted>,
}

struct Planted {
    room_id: String,
    mxc: String,
}

impl MarkerRoom {
    pub fn new() -> MarkerRoom {
        MarkerRoom { tag: tag(), bob_password: Secret::generate(24), planted: None }
    }

    fn bob(&self) -> String {
        format!("bob-{}", self.tag)
    }
}

impl Default for MarkerRoom {
    fn default() -> Self {
        MarkerRoom::new()
    }
}

impl DataProbe for MarkerRoom {
    fn describe(&self) -> String {
        format!("marker room of alice-{} read by {} (message and media)", self.tag, self.bob())
    }

    async fn seed(&mut self, d: &Deployment) -> anyhow::Result<Vec<u8>> {
        let (m, secret) = synapse(d)?;
        let alice_name = format!("alice-{}", self.tag);
        let alice = m.register(&secret, &alice_name, &Secret::generate(24), true).await?;
        let bob = m.register(&secret, &self.bob(), &self.bob_password, false).await?;
        let room_id = m.create_room(&alice, &format!("marker {}", self.tag), &[&bob.user_id]).await?;
        m.join(&bob, &room_id).await?;
        m.send_text(&alice, &room_id, &format!("marker-{}", hex::encode(rand::random::<[u8; 16]>()))).await?;
        let media: Vec<u8> = (0..48 * 1024).map(|_| rand::random::<u8>()).collect();
        let mxc = m.upload(&alice, &format!("marker-{}.bin", self.tag), "application/octet-stream", &media).await?;
        self.planted = Some(Planted { room_id, mxc });
        let read = self.read(d).await?.with_context(|| format!("{} is not served right after seeding it", self.describe()))?;
        let expected = String::from_utf8_lossy(&read).contains(&sha256_hex(&media));
        anyhow::ensure!(expected, "the media bob downloads is not the file alice uploaded");
        Ok(read)
    }

    async fn read(&self, d: &Deployment) -> anyhow::Result<Option<Vec<u8>>> {
        let planted = self.planted.as_ref().context("the marker room was not seeded")?;
        let (m, _) = synapse(d)?;
        let bob = match m.try_login(&self.bob(), &self.bob_password).await? {
            Ok(bob) => bob,
            Err(e) if e.errcode == "M_FORBIDDEN" => return Ok(None),
            Err(e) => return Err(anyhow::Error::new(e).context(format!("logging {} in", self.bob()))),
        };
        let events = match m.messages(&bob, &planted.room_id).await? {
            Ok(events) => events,
            Err(e) if e.errcode == "M_FORBIDDEN" || e.errcode == "M_NOT_FOUND" => return Ok(None),
            Err(e) => return Err(anyhow::Error::new(e).context("reading the marker room")),
        };
        let alice = m.user_id(&format!("alice-{}", self.tag));
        let Some(message) = events.iter().find(|e| e["sender"] == alice.as_str() && e["content"]["body"].as_str().is_some_and(|b| b.starts_with("marker-")))
        else {
            return Ok(None);
        };
        let media = m.download(Some(&bob.access_token), &planted.mxc).await?;
        if media.status == 404 {
            return Ok(None);
        }
        anyhow::ensure!(media.status == 200, "downloading {}: HTTP {} {:?}", planted.mxc, media.status, media.error());
        let marker = json!({
            "room_id": planted.room_id,
            "sender": message["sender"],
            "body": message["content"]["body"],
            "event_id": message["event_id"],
            "media_sha256": sha256_hex(&media.body),
        });
        Ok(Some(serde_json::to_vec(&marker)?))
    }

    /// Synapse caches users, rooms and events, and the restore's `DROP DATABASE ... WITH
    /// (FORCE)` ends its database connections; the signing key it holds is the one the wiped
    /// deployment generated. Restarting the app makes it read the restored database and key,
    /// as an operator would after a restore (the restart waits for `[ready]`).
    async fn after_restore(&self, d: &Deployment) -> anyhow::Result<()> {
        d.restart_service("app").await?;
        Ok(())
    }
}

/// How long to wait for pages in the SSO flow.
pub const PAGE_TIMEOUT: Duration = Duration::from_secs(60);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_synapse_version_is_the_upstream_part_of_the_recipe_version() {
        assert_eq!(upstream_version("4.2.0+1.163.2").unwrap(), "1.163.2");
        assert_eq!(upstream_version("4.2.0+1.163.2+chaos-abc1234").unwrap(), "1.163.2");
        assert!(upstream_version("4.2.0").is_err());
    }

    #[test]
    fn the_registration_mac_is_hmac_sha1_over_nul_separated_fields() {
        // RFC 2202 test case 2: HMAC-SHA1("Jefe", "what do ya want for nothing?").
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(hex::encode(mac.finalize().into_bytes()), "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
        let a = registration_mac(&Secret::new("k"), "n", "u", &Secret::new("p"), true).unwrap();
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(b"k").unwrap();
        mac.update(b"n\0u\0p\0admin");
        assert_eq!(a, hex::encode(mac.finalize().into_bytes()));
        assert_ne!(a, registration_mac(&Secret::new("k"), "n", "u", &Secret::new("p"), false).unwrap());
    }

    #[test]
    fn encoding_keeps_only_unreserved_characters() {
        assert_eq!(encode("!abc:example.test"), "%21abc%3Aexample.test");
        assert_eq!(mxc_path("mxc://s.test/AbC").unwrap(), "s.test/AbC");
        assert!(mxc_path("https://x").is_err());
    }

    #[test]
    fn a_session_never_shows_its_token() {
        let s = Session { user_id: "@a:b".into(), device_id: "D".into(), access_token: Secret::new("syt_secret_value") };
        assert!(!format!("{s:?}").contains("syt_secret_value"));
    }
}
