//! Gitea as an identity provider: its OAuth2 applications through the REST API (as the site
//! administrator, HTTP basic auth), users through the admin API, one instance-wide "realm"
//! (Gitea has no tenants), the issuer at the instance's root, and its sign-in page's selectors.
//!
//! Unlike providers that take the id and secret they are given, Gitea generates an
//! application's client id and secret itself: the client made by
//! [`IdentityProvider::create_client`] carries them back ([`IssuedClient`]), and the resolver
//! hands those to the dependent. Gitea matches redirect URIs exactly (no wildcards), so
//! a dependent names its callback path in `[sso] redirect_path`.
//!
//! Dependents that use Gitea as a forge (a CI server) need a little more of it than logins:
//! repositories made for a user, commits made through the contents API (a real push: Gitea
//! fires its push webhooks), and the repository's webhooks. [`Gitea`] offers those as the
//! administrator acting as the user (`Sudo`), and [`Gitea::call`] for anything else.

use futures_util::future::BoxFuture;
use serde_json::{Value, json};

use super::{
    api::{ClientSpec, IdentityProvider, IssuedClient, UserSpec},
    oidc::{Layout, LoginForm, OidcError, Provider, http_err, status_err},
};
use crate::{deploy::Deployment, error::Result, fixture::encode, secret::Secret};

/// `[provides.oidc] kind = "gitea"`.
pub const KIND: &str = "gitea";

/// Gitea's issuer (the instance root) and sign-in page (`/user/login`).
pub static LAYOUT: Layout = Layout {
    issuer_path: "",
    login: LoginForm {
        form: "form:has(input[name=user_name])",
        username: "input[name=user_name]",
        password: "input[name=password]",
        submit: "button.primary, [type=submit]",
        error: ".ui.negative.message, .flash-error",
    },
};

/// The OIDC endpoint a Gitea deployment serves.
pub fn provider(d: &Deployment) -> std::result::Result<Provider, OidcError> {
    Provider::for_deployment(d, &LAYOUT)
}

/// Gitea behind [`IdentityProvider`], administered as its site administrator.
#[derive(Clone)]
pub struct Gitea {
    provider: Provider,
    username: String,
    password: Secret,
}

impl std::fmt::Debug for Gitea {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gitea").field("provider", &self.provider).field("username", &self.username).finish()
    }
}

impl Gitea {
    pub fn for_deployment(d: &Deployment, admin_user: &str, admin_password: Secret) -> Result<Gitea> {
        Ok(Gitea::new(provider(d)?, admin_user, admin_password))
    }

    pub fn new(provider: Provider, username: &str, password: Secret) -> Gitea {
        Gitea { provider, username: username.into(), password }
    }

    /// `method /api/v1<path>` as the administrator (acting as `sudo` when given), with an
    /// optional JSON body.
    async fn send(&self, sudo: Option<&str>, method: reqwest::Method, path: &str, body: Option<&Value>) -> std::result::Result<reqwest::Response, OidcError> {
        let mut req = self
            .provider
            .http()
            .request(method.clone(), &format!("/api/v1{path}"))
            .basic_auth(&self.username, Some(self.password.expose()));
        if let Some(login) = sudo {
            req = req.header("Sudo", login);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        req.send().await.map_err(|e| http_err(format!("{method} /api/v1{path}"), format!("{e:#}")))
    }

    /// `method /api/v1<path>` as the administrator, expecting `want`; the answer's JSON
    /// (`Null` when empty).
    async fn expect(&self, method: reqwest::Method, path: &str, body: Option<&Value>, want: u16) -> std::result::Result<Value, OidcError> {
        self.call(None, method, path, body, want).await
    }

    /// `method /api/v1<path>` as the administrator, or as the user `sudo`, expecting the status
    /// `want`; the answer's JSON (`Null` when empty). Any other status is an error carrying it.
    pub async fn call(&self, sudo: Option<&str>, method: reqwest::Method, path: &str, body: Option<&Value>, want: u16) -> std::result::Result<Value, OidcError> {
        let what = format!("{method} /api/v1{path}");
        let resp = self.send(sudo, method, path, body).await?;
        if resp.status().as_u16() != want {
            return Err(status_err(what, resp).await);
        }
        let text = resp.text().await.map_err(|e| http_err(&what, e))?;
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|e| http_err(&what, e))
    }

    /// The administrator's OAuth2 applications named `name` (their numeric ids).
    async fn applications_named(&self, name: &str) -> std::result::Result<Vec<i64>, OidcError> {
        let list = self.expect(reqwest::Method::GET, "/user/applications/oauth2?limit=50", None, 200).await?;
        Ok(matching_ids(&list, name))
    }
}

impl Gitea {
    /// Creates the repository `owner/name` for the user `owner` (initialised with a README
    /// on `main` when `auto_init`); returns Gitea's answer.
    pub async fn create_repo(&self, owner: &str, name: &str, auto_init: bool) -> std::result::Result<Value, OidcError> {
        let body = json!({"name": name, "auto_init": auto_init, "default_branch": "main", "private": false});
        self.expect(reqwest::Method::POST, &format!("/admin/users/{}/repos", encode(owner)), Some(&body), 201).await
    }

    /// Commits `content` as `path` on `branch` of `owner/repo`, as the user `owner`, through
    /// the contents API (created, or updated when it exists): Gitea records it as a push and
    /// fires the repository's push webhooks. Returns the new commit's sha.
    pub async fn commit_file(&self, owner: &str, repo: &str, branch: &str, path: &str, content: &[u8], message: &str) -> std::result::Result<String, OidcError> {
        use base64::Engine as _;
        let author = owner;
        let at = format!("/repos/{}/{}/contents/{}", encode(owner), encode(repo), path.split('/').map(encode).collect::<Vec<_>>().join("/"));
        let existing = self.send(Some(author), reqwest::Method::GET, &format!("{at}?ref={}", encode(branch)), None).await?;
        let sha = match existing.status().as_u16() {
            200 => existing.json::<Value>().await.map_err(|e| http_err(format!("GET /api/v1{at}"), e))?["sha"].as_str().map(str::to_owned),
            404 => None,
            _ => return Err(status_err(format!("GET /api/v1{at}"), existing).await),
        };
        let mut body = json!({"branch": branch, "message": message, "content": base64::engine::general_purpose::STANDARD.encode(content)});
        let answer = match sha {
            Some(sha) => {
                body["sha"] = json!(sha);
                self.call(Some(author), reqwest::Method::PUT, &at, Some(&body), 200).await?
            }
            None => self.call(Some(author), reqwest::Method::POST, &at, Some(&body), 201).await?,
        };
        answer["commit"]["sha"].as_str().map(str::to_owned).ok_or_else(|| OidcError::Http { what: format!("commit to {at}"), message: "no commit.sha in the answer".into() })
    }

    /// The webhooks of `owner/repo`.
    pub async fn hooks(&self, owner: &str, repo: &str) -> std::result::Result<Vec<Value>, OidcError> {
        let hooks = self.expect(reqwest::Method::GET, &format!("/repos/{}/{}/hooks", encode(owner), encode(repo)), None, 200).await?;
        Ok(hooks.as_array().cloned().unwrap_or_default())
    }
}

/// The ids of the applications in `list` (Gitea's answer) named `name`.
fn matching_ids(list: &Value, name: &str) -> Vec<i64> {
    list.as_array().into_iter().flatten().filter(|a| a["name"] == name).filter_map(|a| a["id"].as_i64()).collect()
}

/// The name of the application made for `client_id` of `realm`.
fn application_name(realm: &str, client_id: &str) -> String {
    if realm.is_empty() { client_id.to_owned() } else { format!("{client_id}@{realm}") }
}

/// The body of `POST /user/applications/oauth2`: the application `name`, confidential unless
/// the spec asks for a public one. Gitea chooses the client id and secret.
fn application_representation(name: &str, spec: &ClientSpec) -> Value {
    json!({
        "name": name,
        "redirect_uris": spec.redirect_uris,
        "confidential_client": spec.secret.is_some(),
    })
}

/// What Gitea answered to the creation: the generated id and (for a confidential client) secret.
fn issued_from(answer: &Value, confidential: bool) -> std::result::Result<IssuedClient, OidcError> {
    let missing = |field: &str| OidcError::Http { what: "POST /api/v1/user/applications/oauth2".into(), message: format!("no {field} in the answer") };
    let client_id = answer["client_id"].as_str().filter(|s| !s.is_empty()).ok_or_else(|| missing("client_id"))?.to_owned();
    let secret = if confidential {
        Some(Secret::new(answer["client_secret"].as_str().filter(|s| !s.is_empty()).ok_or_else(|| missing("client_secret"))?))
    } else {
        None
    };
    Ok(IssuedClient { client_id, secret })
}

fn user_representation(spec: &UserSpec) -> Value {
    json!({
        "username": spec.username,
        "email": spec.email,
        "full_name": format!("{} {}", spec.first_name, spec.last_name),
        "password": spec.password.expose(),
        "must_change_password": false,
        "send_notify": false,
    })
}

impl IdentityProvider for Gitea {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn layout(&self) -> &'static Layout {
        &LAYOUT
    }

    /// Gitea is one realm: nothing to create.
    fn ensure_realm<'a>(&'a self, _realm: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async { Ok(()) })
    }

    /// Gitea is one realm for every dependent: the application is named after the realm and
    /// the client (`<client>@<realm>`), so two deployments of a dependent in one run (shared,
    /// backup, upgrade) get an application each, and only a redeploy under the same domain
    /// replaces one.
    fn create_client<'a>(&'a self, realm: &'a str, client: &'a ClientSpec) -> BoxFuture<'a, Result<IssuedClient>> {
        Box::pin(async move {
            let name = application_name(realm, &client.client_id);
            for id in self.applications_named(&name).await? {
                self.expect(reqwest::Method::DELETE, &format!("/user/applications/oauth2/{id}"), None, 204).await?;
            }
            let answer = self
                .expect(reqwest::Method::POST, "/user/applications/oauth2", Some(&application_representation(&name, client)), 201)
                .await?;
            Ok(issued_from(&answer, client.secret.is_some())?)
        })
    }

    fn create_user<'a>(&'a self, _realm: &'a str, user: &'a UserSpec) -> BoxFuture<'a, Result<String>> {
        Box::pin(async move {
            let answer = self.expect(reqwest::Method::POST, "/admin/users", Some(&user_representation(user)), 201).await?;
            Ok(answer["id"].as_i64().map(|id| id.to_string()).ok_or_else(|| OidcError::Http {
                what: "POST /api/v1/admin/users".into(),
                message: "no id in the answer".into(),
            })?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_application_asks_for_the_exact_redirects_and_confidentiality() {
        let spec = ClientSpec::confidential("ci", Secret::new("unused-by-gitea"), &["https://ci.test/login"]);
        let body = application_representation("ci@ci-sha-1", &spec);
        assert_eq!(body, json!({"name": "ci@ci-sha-1", "redirect_uris": ["https://ci.test/login"], "confidential_client": true}));
        assert!(!body.to_string().contains("unused-by-gitea"));
        assert_eq!(application_representation("ci", &ClientSpec::public("ci", &[]))["confidential_client"], false);
    }

    #[test]
    fn each_deployment_of_a_dependent_gets_its_own_application() {
        assert_eq!(application_name("ci-sha-4402f1", "ci"), "ci@ci-sha-4402f1");
        assert_ne!(application_name("ci-sha-4402f1", "ci"), application_name("ci-bac-4402f1", "ci"));
        assert_eq!(application_name("", "ci"), "ci");
    }

    #[test]
    fn the_issued_client_is_what_gitea_generated() {
        let answer = json!({"id": 7, "name": "ci", "client_id": "0c1d-generated", "client_secret": "gto_generated"});
        let issued = issued_from(&answer, true).unwrap();
        assert_eq!(issued.client_id, "0c1d-generated");
        assert_eq!(issued.secret.as_ref().map(Secret::expose), Some("gto_generated"));
        assert!(issued_from(&json!({"client_id": "x"}), true).unwrap_err().to_string().contains("client_secret"));
        assert!(issued_from(&json!({"client_id": "x"}), false).unwrap().secret.is_none());
        assert!(issued_from(&json!({}), false).is_err());
    }

    #[test]
    fn only_applications_of_that_name_are_replaced() {
        let list = json!([{"id": 1, "name": "ci"}, {"id": 2, "name": "other"}, {"id": 3, "name": "ci"}]);
        assert_eq!(matching_ids(&list, "ci"), [1, 3]);
        assert!(matching_ids(&json!(null), "ci").is_empty());
    }

    #[test]
    fn the_password_stays_out_of_debug_output() {
        let p = Provider::new("gitea.ccci.test", "127.0.0.1:443".parse().unwrap(), None, &LAYOUT).unwrap();
        let g = Gitea::new(p, "admin", Secret::new("admin-password-value"));
        assert!(!format!("{g:?}").contains("admin-password-value"));
    }
}
