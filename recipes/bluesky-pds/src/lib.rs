//! What the bluesky-pds suite knows about the recipe: the PDS (`app`) serves the atproto XRPC
//! API at `https://<domain>`, gives accounts handles `<name>.<domain>` (with an admin invite
//! code) and `did:plc` identities registered in the recipe's PLC directory (`plc`, a
//! test-only stand-in for plc.directory on PostgreSQL `plc_db`), keeps accounts, repos and
//! the sequencer in SQLite and blobs on disk in the `data` volume, and takes HTTP Basic
//! `admin:<admin_password>` on its admin routes.
//!
//! [`Pds`] is a small XRPC client (tokens and passwords travel as [`Secret`] and are never
//! part of an error); [`MarkerAccount`] is the backup and upgrade marker (an account, a post
//! and the image blob it embeds); [`png`] makes that image; [`firehose`] reads the repo
//! event stream.

pub mod firehose;

use anyhow::Context as _;
use harness::prelude::*;
use reqwest::Method;
use serde_json::{Value, json};

pub use harness::fixture::{encode, png, png_size, sha256_hex, tag, upstream_version};

/// The secret holding the admin password (HTTP Basic `admin:<password>`).
pub const ADMIN_SECRET: &str = "admin_password";
/// The collection of posts.
pub const POST: &str = "app.bsky.feed.post";

/// An XRPC error answer (`error`, `message`), with the HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XrpcError {
    pub status: u16,
    pub error: String,
    pub message: String,
}

impl std::fmt::Display for XrpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {} {}: {}", self.status, self.error, self.message)
    }
}

impl std::error::Error for XrpcError {}

/// A raw answer of the PDS.
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

    /// The XRPC error this answer carries, if it is one.
    pub fn error(&self) -> Option<XrpcError> {
        if (200..300).contains(&self.status) {
            return None;
        }
        let v: Value = serde_json::from_slice(&self.body).unwrap_or(Value::Null);
        Some(XrpcError {
            status: self.status,
            error: v["error"].as_str().unwrap_or("(none)").to_owned(),
            message: v["message"].as_str().unwrap_or_default().chars().take(200).collect(),
        })
    }

    /// The JSON body of a 2xx answer, else the XRPC error as `Err` (never the body of a
    /// success, which may hold a token).
    pub fn result(&self, what: &str) -> anyhow::Result<Result<Value, XrpcError>> {
        match self.error() {
            Some(e) => Ok(Err(e)),
            None => Ok(Ok(self.json().with_context(|| what.to_owned())?)),
        }
    }

    /// Nothing but success (procedures that answer 200 with an empty body), else the XRPC
    /// error.
    pub fn ok(&self, what: &str) -> anyhow::Result<()> {
        match self.error() {
            Some(e) => Err(anyhow::Error::new(e).context(what.to_owned())),
            None => Ok(()),
        }
    }

    /// The JSON body of a 2xx answer, else the XRPC error.
    pub fn ok_json(&self, what: &str) -> anyhow::Result<Value> {
        self.result(what)?.map_err(|e| anyhow::Error::new(e).context(what.to_owned()))
    }
}

/// How a request authenticates.
#[derive(Clone, Copy)]
pub enum Auth<'a> {
    None,
    /// A session's access token.
    Bearer(&'a Secret),
    /// The admin password (HTTP Basic `admin:<password>`).
    Admin(&'a Secret),
}

/// A request body.
pub enum Body<'a> {
    None,
    Json(&'a Value),
    Bytes(&'a [u8], &'a str),
}

/// A logged-in account. `Debug` never shows the tokens.
#[derive(Clone)]
pub struct Session {
    pub did: String,
    pub handle: String,
    pub access_jwt: Secret,
    /// The DID document the PDS resolved (from the PLC directory), if it returned one.
    pub did_doc: Option<Value>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("did", &self.did).field("handle", &self.handle).finish_non_exhaustive()
    }
}

/// A record's address: `at://<did>/<collection>/<rkey>` and its CID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRef {
    pub uri: String,
    pub cid: String,
    pub rkey: String,
}

/// The XRPC API of one deployment, through the proxy.
#[derive(Clone, Debug)]
pub struct Pds {
    http: AppClient,
    /// The PDS's hostname (`PDS_HOSTNAME`): the deployment's domain.
    pub domain: String,
}

impl Pds {
    pub fn of(d: &Deployment) -> anyhow::Result<Pds> {
        Ok(Pds { http: d.http()?, domain: d.domain().to_owned() })
    }

    /// A handle on this server: `<name>.<domain>`.
    pub fn handle(&self, name: &str) -> String {
        format!("{name}.{}", self.domain)
    }

    /// One XRPC call: `nsid` with its query string, if any.
    pub async fn call(&self, method: Method, nsid: &str, auth: Auth<'_>, body: Body<'_>) -> anyhow::Result<Answer> {
        let path = format!("/xrpc/{nsid}");
        let mut req = self.http.request(method.clone(), &path);
        req = match auth {
            Auth::None => req,
            Auth::Bearer(token) => req.bearer_auth(token.expose()),
            Auth::Admin(password) => req.basic_auth("admin", Some(password.expose())),
        };
        req = match body {
            Body::None => req,
            Body::Json(v) => req.json(v),
            Body::Bytes(bytes, content_type) => req.header("Content-Type", content_type).body(bytes.to_vec()),
        };
        let url = self.http.url(path.split('?').next().unwrap_or(&path));
        let resp = req.send().await.map_err(|e| anyhow::format_err!("{method} {url}: {e:#}"))?;
        let status = resp.status().as_u16();
        let content_type = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let body = resp.bytes().await?.to_vec();
        Ok(Answer { status, content_type, body })
    }

    /// `com.atproto.server.describeServer`.
    pub async fn describe_server(&self) -> anyhow::Result<Value> {
        self.call(Method::GET, "com.atproto.server.describeServer", Auth::None, Body::None).await?.ok_json("describing the server")
    }

    /// An invite code for `uses` accounts, made with the admin password.
    pub async fn create_invite_code(&self, admin: &Secret, uses: u32) -> anyhow::Result<String> {
        let body = json!({ "useCount": uses });
        let v = self.call(Method::POST, "com.atproto.server.createInviteCode", Auth::Admin(admin), Body::Json(&body)).await?.ok_json("creating an invite code")?;
        Ok(v["code"].as_str().context("createInviteCode: no code")?.to_owned())
    }

    /// `com.atproto.server.createAccount`: the new account's session, or the refusal.
    pub async fn try_create_account(&self, handle: &str, password: &Secret, invite: Option<&str>) -> anyhow::Result<Result<Session, XrpcError>> {
        let mut body = json!({ "handle": handle, "email": format!("{}@example.com", handle.split('.').next().unwrap_or("user")), "password": password.expose() });
        if let Some(code) = invite {
            body["inviteCode"] = json!(code);
        }
        let what = format!("creating the account {handle}");
        let answer = self.call(Method::POST, "com.atproto.server.createAccount", Auth::None, Body::Json(&body)).await?;
        match answer.result(&what)? {
            Ok(v) => Ok(Ok(session(&v, &what)?)),
            Err(e) => Ok(Err(e)),
        }
    }

    /// An account `<name>.<domain>` with a fresh single-use invite code from the admin.
    pub async fn create_account(&self, admin: &Secret, name: &str, password: &Secret) -> anyhow::Result<Session> {
        let code = self.create_invite_code(admin, 1).await?;
        let handle = self.handle(name);
        self.try_create_account(&handle, password, Some(&code)).await?.map_err(|e| anyhow::Error::new(e).context(format!("creating the account {handle}")))
    }

    /// `com.atproto.server.createSession` (handle or DID and password): the session, or the
    /// refusal.
    pub async fn try_login(&self, identifier: &str, password: &Secret) -> anyhow::Result<Result<Session, XrpcError>> {
        let body = json!({ "identifier": identifier, "password": password.expose() });
        let what = format!("logging {identifier} in");
        let answer = self.call(Method::POST, "com.atproto.server.createSession", Auth::None, Body::Json(&body)).await?;
        match answer.result(&what)? {
            Ok(v) => Ok(Ok(session(&v, &what)?)),
            Err(e) => Ok(Err(e)),
        }
    }

    pub async fn login(&self, identifier: &str, password: &Secret) -> anyhow::Result<Session> {
        self.try_login(identifier, password).await?.map_err(|e| anyhow::Error::new(e).context(format!("logging {identifier} in")))
    }

    /// `com.atproto.server.getSession` with the session's token: (did, handle).
    pub async fn get_session(&self, s: &Session) -> anyhow::Result<(String, String)> {
        let v = self.call(Method::GET, "com.atproto.server.getSession", Auth::Bearer(&s.access_jwt), Body::None).await?.ok_json("getSession")?;
        Ok((v["did"].as_str().unwrap_or_default().to_owned(), v["handle"].as_str().unwrap_or_default().to_owned()))
    }

    /// `com.atproto.repo.createRecord` in the session's repo.
    pub async fn create_record(&self, s: &Session, collection: &str, record: &Value) -> anyhow::Result<RecordRef> {
        let body = json!({ "repo": s.did, "collection": collection, "record": record });
        let what = format!("creating a {collection} record");
        let v = self.call(Method::POST, "com.atproto.repo.createRecord", Auth::Bearer(&s.access_jwt), Body::Json(&body)).await?.ok_json(&what)?;
        let uri = v["uri"].as_str().with_context(|| format!("{what}: no uri"))?.to_owned();
        let cid = v["cid"].as_str().with_context(|| format!("{what}: no cid"))?.to_owned();
        let prefix = format!("at://{}/{collection}/", s.did);
        let rkey = uri.strip_prefix(&prefix).with_context(|| format!("{what}: {uri} is not under {prefix}"))?.to_owned();
        Ok(RecordRef { uri, cid, rkey })
    }

    /// A text post, optionally embedding images (blob objects from [`Pds::upload_blob`]).
    pub async fn post(&self, s: &Session, text: &str, images: &[Value]) -> anyhow::Result<RecordRef> {
        let mut record = json!({ "$type": POST, "text": text, "createdAt": now_iso() });
        if !images.is_empty() {
            let images: Vec<Value> = images.iter().map(|b| json!({ "image": b, "alt": "marker image" })).collect();
            record["embed"] = json!({ "$type": "app.bsky.embed.images", "images": images });
        }
        self.create_record(s, POST, &record).await
    }

    /// `com.atproto.repo.getRecord` (unauthenticated): the record (`uri`, `cid`, `value`) or
    /// the refusal (`RecordNotFound`, `RepoNotFound` ...).
    pub async fn get_record(&self, did: &str, collection: &str, rkey: &str) -> anyhow::Result<Result<Value, XrpcError>> {
        let nsid = format!("com.atproto.repo.getRecord?repo={}&collection={}&rkey={}", encode(did), encode(collection), encode(rkey));
        self.call(Method::GET, &nsid, Auth::None, Body::None).await?.result("getRecord")
    }

    /// `com.atproto.repo.listRecords` (unauthenticated, newest first).
    pub async fn list_records(&self, did: &str, collection: &str) -> anyhow::Result<Result<Vec<Value>, XrpcError>> {
        let nsid = format!("com.atproto.repo.listRecords?repo={}&collection={}&limit=100", encode(did), encode(collection));
        Ok(self.call(Method::GET, &nsid, Auth::None, Body::None).await?.result("listRecords")?.map(|v| v["records"].as_array().cloned().unwrap_or_default()))
    }

    /// `com.atproto.repo.uploadBlob`: the blob object (`$type: blob`, `ref.$link`, `mimeType`,
    /// `size`) to put in a record.
    pub async fn upload_blob(&self, s: &Session, bytes: &[u8], mime: &str) -> anyhow::Result<Value> {
        let v = self.call(Method::POST, "com.atproto.repo.uploadBlob", Auth::Bearer(&s.access_jwt), Body::Bytes(bytes, mime)).await?.ok_json("uploading a blob")?;
        anyhow::ensure!(v["blob"]["ref"]["$link"].is_string(), "uploadBlob: no blob.ref.$link in {}", v["blob"]);
        Ok(v["blob"].clone())
    }

    /// `com.atproto.sync.getBlob` (unauthenticated).
    pub async fn get_blob(&self, did: &str, cid: &str) -> anyhow::Result<Answer> {
        self.call(Method::GET, &format!("com.atproto.sync.getBlob?did={}&cid={}", encode(did), encode(cid)), Auth::None, Body::None).await
    }

    /// `com.atproto.identity.resolveHandle`: the DID, or the refusal.
    pub async fn resolve_handle(&self, handle: &str) -> anyhow::Result<Result<String, XrpcError>> {
        let answer = self.call(Method::GET, &format!("com.atproto.identity.resolveHandle?handle={}", encode(handle)), Auth::None, Body::None).await?;
        Ok(answer.result("resolveHandle")?.map(|v| v["did"].as_str().unwrap_or_default().to_owned()))
    }
}

fn session(v: &Value, what: &str) -> anyhow::Result<Session> {
    Ok(Session {
        did: v["did"].as_str().with_context(|| format!("{what}: no did"))?.to_owned(),
        handle: v["handle"].as_str().with_context(|| format!("{what}: no handle"))?.to_owned(),
        access_jwt: Secret::new(v["accessJwt"].as_str().with_context(|| format!("{what}: no accessJwt"))?),
        did_doc: v.get("didDoc").filter(|d| d.is_object()).cloned(),
    })
}

/// The deployment's PDS client and its admin password.
pub fn pds(d: &Deployment) -> anyhow::Result<(Pds, Secret)> {
    let admin = d.secret(ADMIN_SECRET).with_context(|| format!("{} has no {ADMIN_SECRET} secret", d.stack()))?.clone();
    Ok((Pds::of(d)?, admin))
}

/// The DID document the recipe's PLC directory holds for `did`, read inside the `plc`
/// service (the directory is internal to the stack): `None` when it has none.
pub async fn plc_document(d: &Deployment, did: &str) -> anyhow::Result<Option<Value>> {
    anyhow::ensure!(did.starts_with("did:plc:") && did.bytes().all(|b| b.is_ascii_alphanumeric() || b == b':'), "{did:?} is not a did:plc");
    let script = format!(
        "fetch('http://127.0.0.1:2582/{did}').then(async r => {{ process.stdout.write(r.status === 200 ? await r.text() : 'null') }}, e => {{ console.error(e); process.exit(1) }})"
    );
    let out = d.exec_ok("plc", &["node", "-e", &script]).await?;
    let v: Value = serde_json::from_slice(&out.stdout).with_context(|| format!("the PLC document of {did} is not JSON"))?;
    Ok(Some(v).filter(|v| !v.is_null()))
}

/// The names of the account database's applied migrations (Kysely's bookkeeping).
pub async fn account_migrations(d: &Deployment) -> anyhow::Result<Vec<String>> {
    let out = d.exec_ok("app", &["sqlite3", "/pds/account.sqlite", "SELECT name FROM kysely_migration ORDER BY name"]).await?;
    Ok(out.stdout_str().lines().map(str::to_owned).collect())
}

/// Now as an RFC 3339 UTC timestamp with milliseconds (`createdAt`).
pub fn now_iso() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let (secs, millis) = (now.as_secs(), now.subsec_millis());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Days since 1970-01-01 -> (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The backup and upgrade marker: an account (random name and password, made with an admin
/// invite code), a post with a random text embedding a random PNG uploaded as a blob. Read back
/// by logging in with the password: the account's DID and handle, the post's text, CID and
/// place in listRecords, the blob's sha256 fetched with getBlob, the handle's resolution and
/// the handle in the PLC directory's document of the DID. `None` when the account cannot log
/// in (it is not in the database), or the post or the blob is not found.
pub struct MarkerAccount {
    name: String,
    password: Secret,
    /// Set by `seed`.
    planted: Option<Planted>,
}

struct Planted {
    did: String,
    post: RecordRef,
    blob_cid: String,
}

impl MarkerAccount {
    pub fn new() -> MarkerAccount {
        MarkerAccount { name: format!("m{}", tag()), password: Secret::generate(24), planted: None }
    }
}

impl Default for MarkerAccount {
    fn default() -> Self {
        MarkerAccount::new()
    }
}

impl DataProbe for MarkerAccount {
    fn describe(&self) -> String {
        format!("marker account {} (a post embedding an image blob)", self.name)
    }

    async fn seed(&mut self, d: &Deployment) -> anyhow::Result<Vec<u8>> {
        let (p, admin) = pds(d)?;
        let s = p.create_account(&admin, &self.name, &self.password).await?;
        let image = png(64, 48, rand::random());
        let blob = p.upload_blob(&s, &image, "image/png").await?;
        let blob_cid = blob["ref"]["$link"].as_str().unwrap_or_default().to_owned();
        let post = p.post(&s, &format!("marker {}", hex::encode(rand::random::<[u8; 16]>())), &[blob]).await?;
        self.planted = Some(Planted { did: s.did.clone(), post, blob_cid });
        let read = self.read(d).await?.with_context(|| format!("{} is not served right after seeding it", self.describe()))?;
        anyhow::ensure!(String::from_utf8_lossy(&read).contains(&sha256_hex(&image)), "the blob getBlob serves is not the image uploaded");
        Ok(read)
    }

    async fn read(&self, d: &Deployment) -> anyhow::Result<Option<Vec<u8>>> {
        let planted = self.planted.as_ref().context("the marker account was not seeded")?;
        let p = Pds::of(d)?;
        let handle = p.handle(&self.name);
        let s = match p.try_login(&handle, &self.password).await? {
            Ok(s) => s,
            Err(e) if e.status == 401 || e.status == 400 => return Ok(absent(d, &format!("{handle} cannot log in: {e}"))),
            Err(e) => return Err(anyhow::Error::new(e).context(format!("logging {handle} in"))),
        };
        anyhow::ensure!(s.did == planted.did, "{handle} logs in as {}, not {}", s.did, planted.did);
        let record = match p.get_record(&planted.did, POST, &planted.post.rkey).await? {
            Ok(r) => r,
            Err(e) if e.status == 400 || e.status == 404 => return Ok(absent(d, &format!("the marker post is not found: {e}"))),
            Err(e) => return Err(anyhow::Error::new(e).context("reading the marker post")),
        };
        let listed = p.list_records(&planted.did, POST).await?.map_err(|e| anyhow::Error::new(e).context("listing the marker's posts"))?;
        let listed: Vec<&str> = listed.iter().filter_map(|r| r["uri"].as_str()).collect();
        let embedded = &record["value"]["embed"]["images"][0]["image"]["ref"]["$link"];
        anyhow::ensure!(embedded == planted.blob_cid.as_str(), "the marker post embeds {embedded}, not the uploaded blob {}", planted.blob_cid);
        let blob = p.get_blob(&planted.did, &planted.blob_cid).await?;
        if blob.status == 400 || blob.status == 404 {
            return Ok(absent(d, &format!("the marker blob is not found: {:?}", blob.error())));
        }
        anyhow::ensure!(blob.status == 200, "getBlob {}: {:?}", planted.blob_cid, blob.error());
        let resolved = p.resolve_handle(&handle).await?.map_err(|e| anyhow::Error::new(e).context(format!("resolving {handle}")))?;
        let plc = plc_document(d, &planted.did).await?;
        let plc_handles = plc.as_ref().map(|doc| doc["alsoKnownAs"].clone()).unwrap_or(Value::Null);
        let marker = json!({
            "did": s.did,
            "handle": s.handle,
            "uri": record["uri"],
            "cid": record["cid"],
            "text": record["value"]["text"],
            "listed": listed.contains(&planted.post.uri.as_str()),
            "blob_sha256": sha256_hex(&blob.body),
            "blob_type": blob.content_type,
            "resolves_to": resolved,
            "plc_also_known_as": plc_handles,
        });
        Ok(Some(serde_json::to_vec(&marker)?))
    }

    /// The running PDS keeps the databases the wipe gave it open: the restore is staged by
    /// the recipe's post-hook and applied when `app` starts again (as an operator restarts it
    /// after `abra app restore`); the PLC directory is restarted too, its connections to the
    /// dropped and re-created database being gone.
    async fn after_restore(&self, d: &Deployment) -> anyhow::Result<()> {
        // The reload may have ended the PLC server (its pool's connections were terminated):
        // Swarm starts it again; restart it only once a task of it runs.
        let t = std::time::Duration::from_secs(120);
        harness::converge("a running plc task", t, std::time::Duration::from_millis(500), || async {
            d.exec("plc", &["true"]).await.map(drop).map_err(|e| e.to_string())
        })
        .await?;
        d.restart_service("plc").await?;
        d.restart_service("app").await?;
        Ok(())
    }
}

/// Says why the marker reads as absent (in the run's progress log) and gives `None`.
fn absent<T>(d: &Deployment, why: &str) -> Option<T> {
    harness::log::progress(format!("{}: marker absent: {why}", d.stack()));
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pds_version_is_the_upstream_part_of_the_recipe_version() {
        assert_eq!(upstream_version("0.2.0+0.5.35").unwrap(), "0.5.35");
        assert_eq!(upstream_version("0.2.0+0.5.35+chaos-abc1234").unwrap(), "0.5.35");
        assert!(upstream_version("0.2.0").is_err());
    }

    #[test]
    fn timestamps_are_rfc3339_utc_with_milliseconds() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(20_513), (2026, 3, 1));
        let now = now_iso();
        assert_eq!(now.len(), 24, "{now}");
        assert!(now.ends_with('Z') && now.as_bytes()[10] == b'T', "{now}");
    }

    #[test]
    fn encoding_keeps_only_unreserved_characters() {
        assert_eq!(encode("did:plc:abc"), "did%3Aplc%3Aabc");
        assert_eq!(encode("app.bsky.feed.post"), "app.bsky.feed.post");
    }

    #[test]
    fn a_session_never_shows_its_token() {
        let s = Session { did: "did:plc:x".into(), handle: "a.b".into(), access_jwt: Secret::new("eyJsecretvalue"), did_doc: None };
        assert!(!format!("{s:?}").contains("eyJsecretvalue"));
    }
}
