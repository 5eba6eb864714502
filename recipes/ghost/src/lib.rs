//! What the ghost suite knows about the recipe: Ghost (`app`) serves the public site, the
//! Admin API (`/ghost/api/admin/`) and the Content API (`/ghost/api/content/`) at
//! `https://<domain>` (its configured `url`); posts, members, staff users and integrations live
//! in the database (`db`, dumped by the recipe's backupbot hooks), uploaded images in the
//! `content` volume (`/var/lib/ghost/content/images`).
//!
//! [`Ghost`] is a small client of those APIs. The site's owner is set up through Ghost's own
//! setup call with credentials derived from a recipe secret ([`owner`]), so that every test
//! process of a run (nextest runs one per test) reaches the same owner on the shared
//! deployment without passing a password around. Staff calls authenticate with the session
//! cookie ([`Auth::Session`]) or with an integration's Admin API key as a short-lived JWT
//! ([`Auth::Key`], [`admin_jwt`]); cookies, keys and JWTs travel as [`Secret`] and never
//! appear in an error. [`Marker`] is the backup and upgrade marker (a published post and an
//! uploaded image); [`png`] makes the images the tests upload.

use std::time::Duration;

use anyhow::Context as _;
use harness::prelude::*;
use reqwest::Method;
use serde_json::{Value, json};

pub use harness::fixture::{encode, png, png_size, sha256_hex, tag, upstream_version};

/// The recipe secret the owner's credentials are derived from (never printed, never stored).
const OWNER_SEED_SECRET: &str = "db_root_password";

/// The owner's email address on every deployment.
pub const OWNER_EMAIL: &str = "owner@ccci.example.test";

/// How long to wait for the public site or the admin SPA to show what the API wrote.
pub const PAGE_TIMEOUT: Duration = Duration::from_secs(90);
/// How long a staff login is tried again while Ghost answers it with a 5xx.
pub const LOGIN_TIMEOUT: Duration = Duration::from_secs(30);
/// How often to look again.
pub const POLL: Duration = Duration::from_millis(300);

/// The version Ghost reports (`site.version` is `<major>.<minor>`) for a recipe version
/// `x.y.z+<ghost version>`.
pub fn reported_version(recipe_version: &str) -> anyhow::Result<String> {
    let upstream = upstream_version(recipe_version)?;
    let mut parts = upstream.split('.');
    match (parts.next(), parts.next()) {
        (Some(major), Some(minor)) => Ok(format!("{major}.{minor}")),
        _ => anyhow::bail!("Ghost version {upstream:?} has no minor part"),
    }
}

/// The site owner's credentials on one deployment: a fixed address (not the domain's: a backup
/// restored onto another deployment keeps its owner) and a password derived from the
/// deployment's `db_root_password` secret (a one-way hash: the same in every test process,
/// and after a restore onto a deployment given the same secrets).
#[derive(Clone)]
pub struct Owner {
    pub name: String,
    pub email: String,
    pub password: Secret,
}

impl std::fmt::Debug for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Owner").field("email", &self.email).finish_non_exhaustive()
    }
}

pub fn owner(d: &Deployment) -> anyhow::Result<Owner> {
    let seed = d.secret(OWNER_SEED_SECRET).with_context(|| format!("{} has no {OWNER_SEED_SECRET} secret", d.stack()))?;
    let digest = sha256_hex(format!("ccci ghost owner\0{}", seed.expose()).as_bytes());
    Ok(Owner { name: "Ccci Owner".into(), email: OWNER_EMAIL.to_owned(), password: Secret::new(format!("Gh-{}", &digest[..32])) })
}

/// A raw answer of Ghost.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
    /// The `ghost-admin-api-session` cookie a login sets (`name=value`).
    session_cookie: Option<Secret>,
}

impl Answer {
    pub fn json(&self) -> anyhow::Result<Value> {
        serde_json::from_slice(&self.body).with_context(|| format!("HTTP {}: not JSON ({} bytes, {})", self.status, self.body.len(), self.content_type))
    }

    /// Ghost's error (`errors[0]`: type and message), if this answer is not a success.
    pub fn error(&self) -> Option<String> {
        if (200..300).contains(&self.status) {
            return None;
        }
        let v: Value = serde_json::from_slice(&self.body).unwrap_or(Value::Null);
        let e = &v["errors"][0];
        let text = match (e["type"].as_str(), e["message"].as_str()) {
            (Some(kind), Some(message)) => format!("{kind}: {message}"),
            _ => String::from_utf8_lossy(&self.body).chars().take(200).collect(),
        };
        Some(format!("HTTP {}: {text}", self.status))
    }

    /// The JSON of a 2xx answer, else Ghost's error (never the body of a success, which may
    /// hold a key).
    pub fn ok_json(&self, what: &str) -> anyhow::Result<Value> {
        match self.error() {
            Some(e) => anyhow::bail!("{what}: {e}"),
            None => self.json().with_context(|| what.to_owned()),
        }
    }
}

/// A request body.
pub enum Body<'a> {
    None,
    Json(&'a Value),
    /// One file (`file` field) and plain fields, as `multipart/form-data`.
    File { filename: &'a str, content_type: &'a str, bytes: &'a [u8], fields: &'a [(&'a str, &'a str)] },
}

/// How a staff call authenticates.
#[derive(Clone)]
pub enum Auth {
    /// The session cookie of a staff login.
    Session(Secret),
    /// An integration's Admin API key (`id` and the hex secret), sent as a fresh JWT.
    Key { id: String, secret: Secret },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Session(_) => f.write_str("Auth::Session(***)"),
            Auth::Key { id, .. } => write!(f, "Auth::Key({id}, ***)"),
        }
    }
}

/// An integration's keys (`POST /integrations/?include=api_keys`).
#[derive(Clone, Debug)]
pub struct Integration {
    pub id: String,
    pub admin: Auth,
    /// The Content API key (`?key=`).
    pub content_key: Secret,
}

/// The Admin API JWT of an Admin API key: HS256 over `{iat, exp (5 min), aud: "/admin/"}` with
/// the key id as `kid`, signed with the hex-decoded secret, as Ghost's admin key
/// authenticator expects (`Authorization: Ghost <jwt>`).
pub fn admin_jwt(id: &str, secret: &Secret) -> anyhow::Result<Secret> {
    let key = hex::decode(secret.expose()).context("the Admin API key's secret is not hex")?;
    let now = harness::ops::now_unix();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(id.to_owned());
    header.typ = Some("JWT".into());
    let claims = json!({ "iat": now, "exp": now + 300, "aud": "/admin/" });
    let token = jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_secret(&key)).context("signing the Admin API JWT")?;
    Ok(Secret::new(token))
}

/// The Admin, Content and public APIs of one deployment, through the proxy.
#[derive(Clone, Debug)]
pub struct Ghost {
    http: AppClient,
    /// `https://<domain>`: the site URL, sent as `Origin` (Ghost refuses staff writes without it).
    pub origin: String,
}

impl Ghost {
    pub fn of(d: &Deployment) -> anyhow::Result<Ghost> {
        Ok(Ghost { http: d.http()?, origin: format!("https://{}", d.domain()) })
    }

    /// One request; `auth` as the session cookie or an Admin API JWT. Errors name the path
    /// without its query (which may hold the Content API key).
    pub async fn call(&self, method: Method, path: &str, auth: Option<&Auth>, body: Body<'_>) -> anyhow::Result<Answer> {
        let mut req = self.http.request(method.clone(), path).header("Origin", &self.origin).header("Accept", "application/json");
        match auth {
            Some(Auth::Session(cookie)) => req = req.header("Cookie", cookie.expose()),
            Some(Auth::Key { id, secret }) => req = req.header("Authorization", format!("Ghost {}", admin_jwt(id, secret)?.expose())),
            None => {}
        }
        req = match body {
            Body::None => req,
            Body::Json(v) => req.json(v),
            Body::File { filename, content_type, bytes, fields } => {
                let (content_type, body) = multipart(filename, content_type, bytes, fields);
                req.header("Content-Type", content_type).body(body)
            }
        };
        let shown = path.split('?').next().unwrap_or(path);
        let resp = req.send().await.map_err(|e| anyhow::format_err!("{method} {}: {:#}", self.http.url(shown), e.without_url()))?;
        let status = resp.status().as_u16();
        let content_type = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let session_cookie = resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("ghost-admin-api-session="))
            .map(|c| Secret::new(c.split(';').next().unwrap_or_default()));
        let body = resp.bytes().await?.to_vec();
        Ok(Answer { status, content_type, body, session_cookie })
    }

    /// `GET /ghost/api/admin/site/` (unauthenticated): title, url, version, ...
    pub async fn site(&self) -> anyhow::Result<Value> {
        let v = self.call(Method::GET, "/ghost/api/admin/site/", None, Body::None).await?.ok_json("reading the site")?;
        Ok(v["site"].clone())
    }

    /// Whether the site has an owner (`GET /authentication/setup/`).
    pub async fn is_set_up(&self) -> anyhow::Result<bool> {
        let v = self.call(Method::GET, "/ghost/api/admin/authentication/setup/", None, Body::None).await?.ok_json("reading the setup status")?;
        v["setup"][0]["status"].as_bool().with_context(|| format!("no setup status in {v}"))
    }

    /// Sets the owner up unless the site has one (another test process may just have done it:
    /// the credentials are the same, see [`owner`]); `blog_title` names the site.
    pub async fn ensure_owner(&self, owner: &Owner, blog_title: &str) -> anyhow::Result<()> {
        if self.is_set_up().await? {
            return Ok(());
        }
        let body = json!({ "setup": [{ "name": owner.name, "email": owner.email, "password": owner.password.expose(), "blogTitle": blog_title }] });
        let answer = self.call(Method::POST, "/ghost/api/admin/authentication/setup/", None, Body::Json(&body)).await?;
        if let Some(e) = answer.error() {
            anyhow::ensure!(self.is_set_up().await?, "setting the owner up: {e}");
        }
        Ok(())
    }

    /// A staff login (`POST /session/`): the session, or Ghost's refusal (`Err` with its
    /// status and message, e.g. no such user on a site without that owner).
    ///
    /// Concurrent logins of the same user (the tests of a run share the owner) can make Ghost
    /// answer 500 (its login updates the user's row); a 5xx is tried again for
    /// [`LOGIN_TIMEOUT`], any other answer is the result.
    pub async fn try_login(&self, email: &str, password: &Secret) -> anyhow::Result<Result<Auth, (u16, String)>> {
        let body = json!({ "username": email, "password": password.expose() });
        let answer = harness::converge(&format!("a login of {email} that Ghost does not answer with a 5xx"), harness::scaled(LOGIN_TIMEOUT), POLL, || async {
            let answer = self.call(Method::POST, "/ghost/api/admin/session/", None, Body::Json(&body)).await.map_err(|e| e.to_string())?;
            if answer.status >= 500 {
                return Err(answer.error().unwrap_or_else(|| format!("HTTP {}", answer.status)));
            }
            Ok(answer)
        })
        .await?;
        if let Some(e) = answer.error() {
            return Ok(Err((answer.status, e)));
        }
        let cookie = answer.session_cookie.with_context(|| format!("logging {email} in: HTTP {} without a session cookie", answer.status))?;
        Ok(Ok(Auth::Session(cookie)))
    }

    pub async fn login(&self, owner: &Owner) -> anyhow::Result<Auth> {
        self.try_login(&owner.email, &owner.password).await?.map_err(|(_, e)| anyhow::format_err!("logging {} in: {e}", owner.email))
    }

    /// The owner set up (if needed) and logged in.
    pub async fn owner_session(&self, owner: &Owner) -> anyhow::Result<Auth> {
        self.ensure_owner(owner, "Ccci Ghost").await?;
        self.login(owner).await
    }

    /// A new custom integration named `name`, with its Admin and Content API keys.
    pub async fn integration(&self, auth: &Auth, name: &str) -> anyhow::Result<Integration> {
        let body = json!({ "integrations": [{ "name": name }] });
        let v = self
            .call(Method::POST, "/ghost/api/admin/integrations/?include=api_keys,webhooks", Some(auth), Body::Json(&body))
            .await?
            .ok_json("creating an integration")?;
        let integration = &v["integrations"][0];
        let keys = integration["api_keys"].as_array().context("the integration has no api_keys")?;
        let key = |kind: &str| keys.iter().find(|k| k["type"] == kind).with_context(|| format!("the integration has no {kind} API key"));
        let admin = key("admin")?;
        let content = key("content")?;
        Ok(Integration {
            id: integration["id"].as_str().context("the integration has no id")?.to_owned(),
            admin: Auth::Key {
                id: admin["id"].as_str().context("the admin key has no id")?.to_owned(),
                // Ghost 6 answers the admin key's secret as the whole key, `<id>:<hex secret>`.
                secret: Secret::new(admin["secret"].as_str().context("the admin key has no secret")?.rsplit(':').next().unwrap_or_default()),
            },
            content_key: Secret::new(content["secret"].as_str().context("the content key has no secret")?),
        })
    }

    /// Publishes a post from HTML (`POST /posts/?source=html`); returns the post as Ghost
    /// answers it (id, slug, url, status, html, ...).
    pub async fn publish_html(&self, auth: &Auth, title: &str, html: &str) -> anyhow::Result<Value> {
        let body = json!({ "posts": [{ "title": title, "html": html, "status": "published" }] });
        let v = self.call(Method::POST, "/ghost/api/admin/posts/?source=html", Some(auth), Body::Json(&body)).await?.ok_json("publishing a post")?;
        Ok(v["posts"][0].clone())
    }

    /// `GET /posts/<id>/?formats=html,plaintext` through the Admin API: the post, or `None`
    /// when Ghost says there is none.
    pub async fn admin_post(&self, auth: &Auth, id: &str) -> anyhow::Result<Option<Value>> {
        let answer = self.call(Method::GET, &format!("/ghost/api/admin/posts/{}/?formats=html,plaintext", encode(id)), Some(auth), Body::None).await?;
        if answer.status == 404 {
            return Ok(None);
        }
        Ok(Some(answer.ok_json(&format!("reading post {id}"))?["posts"][0].clone()))
    }

    /// Posts through the Admin API matching an NQL `filter` (newest first).
    pub async fn admin_posts(&self, auth: &Auth, filter: &str) -> anyhow::Result<Vec<Value>> {
        let path = format!("/ghost/api/admin/posts/?filter={}&formats=html,plaintext&order=created_at%20desc", encode(filter));
        let v = self.call(Method::GET, &path, Some(auth), Body::None).await?.ok_json(&format!("listing posts ({filter})"))?;
        Ok(v["posts"].as_array().cloned().unwrap_or_default())
    }

    /// `GET /ghost/api/content/posts/slug/<slug>/?key=...`: the published post, or `None`.
    pub async fn content_post(&self, content_key: &Secret, slug: &str) -> anyhow::Result<Option<Value>> {
        let path = format!("/ghost/api/content/posts/slug/{}/?key={}&formats=html,plaintext", encode(slug), encode(content_key.expose()));
        let answer = self.call(Method::GET, &path, None, Body::None).await?;
        if answer.status == 404 {
            return Ok(None);
        }
        Ok(Some(answer.ok_json(&format!("reading post {slug} through the Content API"))?["posts"][0].clone()))
    }

    /// Uploads an image (`POST /images/upload/`, `purpose=image`); returns its public URL.
    pub async fn upload_image(&self, auth: &Auth, filename: &str, content_type: &str, bytes: &[u8]) -> anyhow::Result<String> {
        let fields = [("purpose", "image"), ("ref", filename)];
        let body = Body::File { filename, content_type, bytes, fields: &fields };
        let v = self.call(Method::POST, "/ghost/api/admin/images/upload/", Some(auth), body).await?.ok_json("uploading an image")?;
        let url = v["images"][0]["url"].as_str().context("the upload answer has no images[0].url")?.to_owned();
        anyhow::ensure!(url.starts_with(&format!("{}/content/images/", self.origin)), "the image is not served from this site's content: {url}");
        Ok(url)
    }

    /// `GET` a URL of this site (a path, or an absolute `https://<domain>/...`).
    pub async fn fetch(&self, url: &str) -> anyhow::Result<Answer> {
        let path = url.strip_prefix(&self.origin).unwrap_or(url);
        anyhow::ensure!(path.starts_with('/'), "{url} is not on {}", self.origin);
        self.call(Method::GET, path, None, Body::None).await
    }

    /// Creates a member (`POST /members/`); returns it.
    pub async fn create_member(&self, auth: &Auth, email: &str, name: &str, note: &str) -> anyhow::Result<Value> {
        let body = json!({ "members": [{ "email": email, "name": name, "note": note }] });
        let v = self.call(Method::POST, "/ghost/api/admin/members/", Some(auth), Body::Json(&body)).await?.ok_json("creating a member")?;
        Ok(v["members"][0].clone())
    }

    /// Members whose email is `email` (`GET /members/?filter=email:'<email>'`).
    pub async fn members_by_email(&self, auth: &Auth, email: &str) -> anyhow::Result<Vec<Value>> {
        let path = format!("/ghost/api/admin/members/?filter={}", encode(&format!("email:'{email}'")));
        let v = self.call(Method::GET, &path, Some(auth), Body::None).await?.ok_json("listing members")?;
        Ok(v["members"].as_array().cloned().unwrap_or_default())
    }

    /// The staff user the auth belongs to (`GET /users/me/?include=roles`).
    pub async fn me(&self, auth: &Auth) -> anyhow::Result<Value> {
        let v = self.call(Method::GET, "/ghost/api/admin/users/me/?include=roles", Some(auth), Body::None).await?.ok_json("reading the staff user")?;
        Ok(v["users"][0].clone())
    }
}

/// A `multipart/form-data` body: `fields`, then `file` with `filename` and `content_type`.
fn multipart(filename: &str, content_type: &str, bytes: &[u8], fields: &[(&str, &str)]) -> (String, Vec<u8>) {
    let boundary = format!("ccci-{}{}", tag(), tag());
    let mut body = Vec::with_capacity(bytes.len() + 512);
    for (name, value) in fields {
        body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes());
    }
    body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n").as_bytes());
    body.extend_from_slice(bytes);
    body.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// The backup and upgrade marker: a post published by the owner (random title and body) and
/// an image the owner uploaded (random pixels). Read back by logging the owner in and
/// reading the post through the Admin API (title, slug, status, plain text) and the image
/// from the public site (its sha256). `None` when the owner cannot log in (the site has no
/// such owner: its database is not there), the post is not found, or the image is a 404.
pub struct Marker {
    tag: String,
    planted: Option<Planted>,
}

struct Planted {
    post_id: String,
    /// The image's path on the site (`/content/images/...`): the same after a restore onto
    /// another domain.
    image_path: String,
}

impl Marker {
    pub fn new() -> Marker {
        Marker { tag: tag(), planted: None }
    }
}

impl Default for Marker {
    fn default() -> Self {
        Marker::new()
    }
}

impl DataProbe for Marker {
    fn describe(&self) -> String {
        format!("marker post and image {}", self.tag)
    }

    async fn seed(&mut self, d: &Deployment) -> anyhow::Result<Vec<u8>> {
        let g = Ghost::of(d)?;
        let owner = owner(d)?;
        let auth = g.owner_session(&owner).await?;
        let text = format!("marker-{}", hex::encode(rand::random::<[u8; 16]>()));
        let post = g.publish_html(&auth, &format!("Marker {}", self.tag), &format!("<p>{text}</p>")).await?;
        let image = png(64, 48, rand::random());
        let image_url = g.upload_image(&auth, &format!("marker-{}.png", self.tag), "image/png", &image).await?;
        let image_path = image_url.strip_prefix(&g.origin).unwrap_or(&image_url).to_owned();
        self.planted = Some(Planted { post_id: post["id"].as_str().context("the published post has no id")?.to_owned(), image_path });
        let read = self.read(d).await?.with_context(|| format!("{} is not served right after seeding it", self.describe()))?;
        let v: Value = serde_json::from_slice(&read)?;
        anyhow::ensure!(v["plaintext"].as_str().is_some_and(|p| p.contains(&text)), "the marker post does not hold its text");
        Ok(read)
    }

    async fn read(&self, d: &Deployment) -> anyhow::Result<Option<Vec<u8>>> {
        let planted = self.planted.as_ref().context("the marker was not seeded")?;
        let g = Ghost::of(d)?;
        let owner = owner(d)?;
        let auth = match g.try_login(&owner.email, &owner.password).await? {
            Ok(auth) => auth,
            // "There is no user with that email address": not this site's database.
            Err((404, _)) => return Ok(None),
            Err((_, e)) => anyhow::bail!("logging the owner in: {e}"),
        };
        let Some(post) = g.admin_post(&auth, &planted.post_id).await? else { return Ok(None) };
        let image = g.fetch(&planted.image_path).await?;
        if image.status == 404 {
            return Ok(None);
        }
        anyhow::ensure!(image.status == 200, "fetching the marker image: HTTP {}", image.status);
        let marker = json!({
            "id": post["id"],
            "title": post["title"],
            "slug": post["slug"],
            "status": post["status"],
            "plaintext": post["plaintext"].as_str().map(str::trim),
            "image": planted.image_path,
            "image_sha256": sha256_hex(&image.body),
        });
        Ok(Some(serde_json::to_vec(&marker)?))
    }

    /// The restore recreates the database under the running Ghost (its pooled connections
    /// lose their schema) and Ghost caches settings and sessions' secrets in memory:
    /// restarting the app makes it read the restored database, as an operator would after a
    /// restore (the restart waits for `[ready]`).
    async fn after_restore(&self, d: &Deployment) -> anyhow::Result<()> {
        d.restart_service("app").await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ghost_reports_the_major_and_minor_of_the_recipe_version() {
        assert_eq!(reported_version("2.4.0+6.65.0").unwrap(), "6.65");
        assert_eq!(reported_version("2.4.0+6.65.0+chaos-abc1234").unwrap(), "6.65");
        assert!(reported_version("2.4.0").is_err());
    }

    #[test]
    fn the_admin_jwt_is_hs256_with_the_key_id_and_the_admin_audience() {
        let secret = Secret::new("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
        let jwt = admin_jwt("key-id", &secret).unwrap();
        let header = jsonwebtoken::decode_header(jwt.expose()).unwrap();
        assert_eq!(header.alg, jsonwebtoken::Algorithm::HS256);
        assert_eq!(header.kid.as_deref(), Some("key-id"));
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.set_audience(&["/admin/"]);
        let key = jsonwebtoken::DecodingKey::from_secret(&hex::decode(secret.expose()).unwrap());
        let claims = jsonwebtoken::decode::<Value>(jwt.expose(), &key, &validation).unwrap().claims;
        assert_eq!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(), 300);
        assert!(admin_jwt("key-id", &Secret::new("not hex")).is_err());
    }

    #[test]
    fn the_multipart_body_carries_the_fields_and_the_file() {
        let (content_type, body) = multipart("a.png", "image/png", b"\x89PNGdata", &[("purpose", "image")]);
        let boundary = content_type.strip_prefix("multipart/form-data; boundary=").unwrap();
        let text = String::from_utf8_lossy(&body);
        assert!(text.starts_with(&format!("--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nimage\r\n")));
        assert!(text.contains("name=\"file\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n\u{fffd}PNGdata\r\n"));
        assert!(text.ends_with(&format!("--{boundary}--\r\n")));
    }

    #[test]
    fn neither_an_owner_nor_an_auth_shows_its_secret() {
        let o = Owner { name: "n".into(), email: "e@x.test".into(), password: Secret::new("pw-value-123") };
        assert!(!format!("{o:?}").contains("pw-value-123"));
        let a = Auth::Key { id: "i".into(), secret: Secret::new("key-value") };
        assert!(!format!("{a:?}").contains("key-value"));
        assert!(!format!("{:?}", Auth::Session(Secret::new("cookie-value"))).contains("cookie-value"));
    }
}
