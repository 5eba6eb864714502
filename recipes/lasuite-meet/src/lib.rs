//! What the lasuite-meet suite knows about the recipe: LiveKit's server API as meet's backend
//! uses it (join tokens signed with the recipe's API key and secret, the Twirp RoomService
//! under `/twirp`, token validation on `/rtc`), and the meet backend's own API for the tests
//! of the real recipe (`meet`).
//!
//! LiveKit holds no state beyond its rooms in memory (Redis only for several nodes); what meet
//! keeps (rooms, accesses, users) lives in the backend's postgres, which does not run here
//! (recipe.toml `[unverified_here]`).

pub mod meet;

use anyhow::Context as _;
use harness::prelude::*;
use serde_json::{Value, json};

/// How long a page or a join may take (stretched by `CCCI_TIMEOUT_SCALE` where used).
pub const PAGE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The secret holding LiveKit's API secret (`SECRET_LIVEKIT_API_SECRET_VERSION`).
pub const API_SECRET: &str = "livekit_api_secret";
/// The `.env` key naming LiveKit's API key.
pub const API_KEY_ENV: &str = "LIVEKIT_API_KEY";

/// A random lowercase hex tag for names made by one test.
pub fn tag() -> String {
    hex::encode(rand::random::<[u8; 6]>())
}

/// The `video` grant of a LiveKit access token (livekit/protocol `auth.VideoGrant`; the JSON
/// names are LiveKit's). `None` leaves a permission out of the token.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    pub room: Option<String>,
    pub room_join: bool,
    pub room_create: bool,
    pub room_list: bool,
    pub room_admin: bool,
    pub can_publish: Option<bool>,
    pub can_subscribe: Option<bool>,
}

impl Grants {
    /// What meet's backend grants a participant: join `room`, publish and subscribe.
    pub fn join(room: &str) -> Grants {
        Grants { room: Some(room.to_owned()), room_join: true, can_publish: Some(true), can_subscribe: Some(true), ..Grants::default() }
    }

    /// A server token for the RoomService: create, list, and administer `room` (when given).
    pub fn server(room: Option<&str>) -> Grants {
        Grants { room: room.map(str::to_owned), room_create: true, room_list: true, room_admin: room.is_some(), ..Grants::default() }
    }

    fn to_json(&self) -> Value {
        let mut video = serde_json::Map::new();
        let mut flag = |name: &str, on: bool| {
            if on {
                video.insert(name.into(), Value::Bool(true));
            }
        };
        flag("roomJoin", self.room_join);
        flag("roomCreate", self.room_create);
        flag("roomList", self.room_list);
        flag("roomAdmin", self.room_admin);
        if let Some(room) = &self.room {
            video.insert("room".into(), Value::String(room.clone()));
        }
        if let Some(p) = self.can_publish {
            video.insert("canPublish".into(), Value::Bool(p));
        }
        if let Some(s) = self.can_subscribe {
            video.insert("canSubscribe".into(), Value::Bool(s));
        }
        Value::Object(video)
    }
}

/// An HS256 LiveKit access token: `iss` the API key, `sub` the participant identity, the
/// `video` grant, valid from a minute ago for ten minutes, signed with `secret`.
pub fn access_token(key: &str, secret: &Secret, identity: &str, grants: &Grants) -> anyhow::Result<Secret> {
    let now = harness::ops::now_unix();
    let claims = json!({
        "iss": key,
        "sub": identity,
        "name": identity,
        "nbf": now.saturating_sub(60),
        "exp": now + 600,
        "video": grants.to_json(),
    });
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    let token = jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_secret(secret.expose().as_bytes()))
        .context("signing a LiveKit access token")?;
    Ok(Secret::new(token))
}

/// A Twirp answer: the status and the JSON body (Twirp errors are JSON too: `{code, msg}`).
#[derive(Debug)]
pub struct Twirp {
    pub status: u16,
    pub body: Value,
}

impl Twirp {
    /// The body of a 200, or an error naming the call, the status and Twirp's error code.
    pub fn ok(self, what: &str) -> anyhow::Result<Value> {
        anyhow::ensure!(self.status == 200, "{what}: HTTP {}: {}", self.status, self.body);
        Ok(self.body)
    }
}

/// One deployment's LiveKit, reached as meet's backend and browsers reach it: under the app's
/// domain through the proxy, with the recipe's API key and secret.
#[derive(Clone, Debug)]
pub struct LiveKit {
    http: AppClient,
    pub key: String,
    secret: Secret,
    /// `wss://<domain>`: what livekit-client connects to (`/rtc` below it).
    pub url: String,
}

impl LiveKit {
    pub fn of(d: &Deployment) -> anyhow::Result<LiveKit> {
        let key = d.env().get(API_KEY_ENV).filter(|k| !k.is_empty()).with_context(|| format!("the deployment's .env sets no {API_KEY_ENV}"))?;
        let secret = d.secret(API_SECRET).cloned().with_context(|| format!("the deployment has no secret {API_SECRET}"))?;
        Ok(LiveKit { http: d.http()?, key: key.to_owned(), secret, url: format!("wss://{}", d.domain()) })
    }

    /// The recipe's API secret (prints `***`).
    pub fn secret(&self) -> &Secret {
        &self.secret
    }

    /// A token signed with the deployment's API key and secret.
    pub fn token(&self, identity: &str, grants: &Grants) -> anyhow::Result<Secret> {
        access_token(&self.key, &self.secret, identity, grants)
    }

    /// `POST /twirp/livekit.RoomService/<method>` with `body`, authorised by `token`.
    pub async fn twirp(&self, method: &str, body: &Value, token: &Secret) -> anyhow::Result<Twirp> {
        let path = format!("/twirp/livekit.RoomService/{method}");
        let resp = self
            .http
            .request(reqwest::Method::POST, &path)
            .bearer_auth(token.expose())
            .json(body)
            .send()
            .await
            .with_context(|| format!("POST {}", self.http.url(&path)))?;
        let status = resp.status().as_u16();
        let text = resp.text().await?;
        let body = serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.chars().take(200).collect()));
        Ok(Twirp { status, body })
    }

    /// A server-token call of the RoomService that must succeed.
    async fn admin(&self, method: &str, room: Option<&str>, body: &Value) -> anyhow::Result<Value> {
        let token = self.token("ccci-server", &Grants::server(room))?;
        self.twirp(method, body, &token).await?.ok(method)
    }

    /// `CreateRoom`: the room as LiveKit reports it (`sid`, `name`, `creationTime`, ...).
    pub async fn create_room(&self, name: &str) -> anyhow::Result<Value> {
        self.admin("CreateRoom", None, &json!({ "name": name, "emptyTimeout": 300 })).await
    }

    /// `ListRooms`: the names of the rooms the server holds.
    pub async fn room_names(&self) -> anyhow::Result<Vec<String>> {
        let body = self.admin("ListRooms", None, &json!({})).await?;
        Ok(body["rooms"].as_array().into_iter().flatten().filter_map(|r| r["name"].as_str().map(str::to_owned)).collect())
    }

    /// `DeleteRoom`.
    pub async fn delete_room(&self, name: &str) -> anyhow::Result<()> {
        self.admin("DeleteRoom", Some(name), &json!({ "room": name })).await.map(drop)
    }

    /// `ListParticipants`: the identities in `room`, with their published track kinds.
    pub async fn participants(&self, room: &str) -> anyhow::Result<Vec<(String, Vec<String>)>> {
        let body = self.admin("ListParticipants", Some(room), &json!({ "room": room })).await?;
        Ok(body["participants"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| {
                let identity = p["identity"].as_str()?.to_owned();
                // Track types as the protocol's JSON names them (AUDIO, VIDEO, DATA).
                let kinds = p["tracks"].as_array().into_iter().flatten().filter_map(|t| t["type"].as_str().map(str::to_owned)).collect();
                Some((identity, kinds))
            })
            .collect())
    }

    /// `GET /rtc/validate?access_token=...`: the check `/rtc` makes before it accepts a
    /// signalling connection (the same handler validates both), as status and body. LiveKit
    /// quotes a token it cannot verify in its answer: the body has it replaced by `<token>`, so
    /// no message carries a token.
    pub async fn validate(&self, token: &Secret) -> anyhow::Result<(u16, String)> {
        let resp = self.http.get("/rtc/validate").query(&[("access_token", token.expose())]).send().await.context("GET /rtc/validate")?;
        let status = resp.status().as_u16();
        let body = resp.text().await?.replace(token.expose(), "<token>");
        Ok((status, body.trim().to_owned()))
    }
}
