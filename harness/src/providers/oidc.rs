//! OpenID Connect against a provider the harness deployed, whatever its kind: discovery checks,
//! grants through `openidconnect`, token verification against the realm's JWKS through
//! `jsonwebtoken`, and the code flow through a real browser.
//!
//! The provider is reached the way relying parties reach it: `https://<domain>` through the
//! ingress, trusting only the platform CA. The issuer is therefore the public URL (its path
//! from the provider kind's [`Layout`]) and discovery fails if the provider names any other.
//!
//! - [`Provider`]: discovery ([`Provider::discover`], [`Provider::wait_for_discovery`]), the
//!   JWKS verifier ([`Provider::verifier`]) and OIDC clients ([`Provider::oidc_client`]);
//! - [`OidcClient`]: password, client-credentials and authorization-code + PKCE grants; the
//!   code flow is driven through a real browser on the provider's login page
//!   ([`OidcClient::browser_login`]), found by the kind's [`LoginForm`] selectors.
//!
//! Administering a provider (realms, clients, users) is the kind's own module
//! (`super::keycloak`, e.g.), behind `super::IdentityProvider`.
//!
//! openidconnect 4 implements its HTTP trait for its own reqwest 0.12, so its client is built
//! with `openidconnect::reqwest::ClientBuilder` (testbed CA only, domain resolved to the
//! ingress, no redirects); everything else uses the workspace's reqwest 0.13.
//!
//! Secrets (passwords, client secrets) travel as [`Secret`]; tokens are credentials too and
//! never appear in errors or `Debug` output.

use std::{net::SocketAddr, path::Path, time::Duration};

use jsonwebtoken::{
    Algorithm, DecodingKey, Validation,
    errors::ErrorKind,
    jwk::{JwkSet, PublicKeyUse},
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl,
    Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError,
    ResourceOwnerPassword, ResourceOwnerUsername, Scope, TokenResponse,
    core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreTokenResponse},
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    deploy::Deployment,
    error::HarnessError,
    http::AppClient,
    poll::converge,
    secret::Secret,
};

/// Where a provider kind serves its realms, and what its login page looks like.
#[derive(Debug)]
pub struct Layout {
    /// The issuer's path, with `{realm}` for the realm (or application) name.
    pub issuer_path: &'static str,
    pub login: LoginForm,
}

/// CSS selectors of a provider's login page, for [`OidcClient::browser_login`].
#[derive(Debug)]
pub struct LoginForm {
    /// The login form.
    pub form: &'static str,
    /// Inside the form: the username field, the password field, the submit button.
    pub username: &'static str,
    pub password: &'static str,
    pub submit: &'static str,
    /// The element that carries the provider's refusal ("Invalid username or password.").
    pub error: &'static str,
}

/// What went wrong talking OIDC; tokens and secrets are never part of the message.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The provider could not be reached or answered garbage.
    #[error("{what}: {message}")]
    Http { what: String, message: String },

    /// An unexpected HTTP status; `body` is the provider's (trimmed) answer.
    #[error("{what}: HTTP {status}: {body}")]
    Status { what: String, status: u16, body: String },

    /// The discovery document is missing or inconsistent.
    #[error("discovery of {issuer}: {message}")]
    Discovery { issuer: String, message: String },

    /// The provider names another issuer than the public URL the harness reaches it at.
    #[error("the provider's issuer is {got:?}, expected {expected:?}")]
    IssuerMismatch { expected: String, got: String },

    /// The token endpoint refused a grant (`invalid_grant`, `unauthorized_client`, ...).
    #[error("{grant} grant refused: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    GrantRefused { grant: &'static str, error: String, description: Option<String> },

    /// A token failed verification.
    #[error("token rejected: {0}")]
    Token(#[from] TokenError),

    /// A browser-driven login did not complete.
    #[error("browser login: {0}")]
    Browser(String),

    /// The harness was asked for something it cannot build (bad URL, missing CA).
    #[error("[unverified] configuration: {0}")]
    Config(String),
}

impl From<OidcError> for HarnessError {
    fn from(e: OidcError) -> Self {
        match e {
            OidcError::Config(message) => HarnessError::Config(message),
            other => HarnessError::deploy("OIDC", other),
        }
    }
}

/// Why a token did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("signature does not verify")]
    BadSignature,
    #[error("expired")]
    Expired,
    #[error("issuer is not {expected}")]
    WrongIssuer { expected: String },
    #[error("audience does not contain {expected}")]
    WrongAudience { expected: String },
    #[error("authorized party is {got:?}, expected {expected}")]
    WrongAuthorizedParty { expected: String, got: Option<String> },
    #[error("nonce does not match the one sent")]
    WrongNonce,
    #[error("signed with key {0:?}, which the JWKS has no signing key for")]
    UnknownKey(String),
    #[error("malformed: {0}")]
    Malformed(String),
}

/// Claims the suites look at; anything else the token carries is ignored.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    pub iss: String,
    pub sub: Option<String>,
    #[serde(default)]
    pub aud: Audience,
    pub azp: Option<String>,
    pub exp: u64,
    pub iat: Option<u64>,
    pub typ: Option<String>,
    pub nonce: Option<String>,
    pub preferred_username: Option<String>,
    pub email: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub name: Option<String>,
}

/// `aud` is a string or a list of strings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(from = "Value", into = "Value")]
pub struct Audience(pub Vec<String>);

impl From<Value> for Audience {
    fn from(v: Value) -> Self {
        match v {
            Value::String(s) => Audience(vec![s]),
            Value::Array(items) => Audience(items.into_iter().filter_map(|i| i.as_str().map(str::to_owned)).collect()),
            _ => Audience(vec![]),
        }
    }
}

impl From<Audience> for Value {
    fn from(a: Audience) -> Self {
        Value::Array(a.0.into_iter().map(Value::String).collect())
    }
}

impl Audience {
    pub fn contains(&self, aud: &str) -> bool {
        self.0.iter().any(|a| a == aud)
    }
}

/// What a token must be, beyond a valid signature, issuer and expiry.
#[derive(Debug, Clone, Default)]
pub struct Expect {
    /// `aud` must contain this (ID tokens: the client id). `None` skips the audience check:
    /// access tokens name their resource servers (e.g. Keycloak: `account`), not the client, so
    /// suites check `azp` for them instead.
    pub audience: Option<String>,
    /// `azp` must equal this.
    pub authorized_party: Option<String>,
    /// `nonce` must equal this (ID tokens from the code flow).
    pub nonce: Option<String>,
}

impl Expect {
    /// An ID token issued to `client_id`.
    pub fn id_token(client_id: &str) -> Expect {
        Expect { audience: Some(client_id.into()), authorized_party: Some(client_id.into()), nonce: None }
    }

    /// An access token obtained by `client_id`.
    pub fn access_token(client_id: &str) -> Expect {
        Expect { audience: None, authorized_party: Some(client_id.into()), nonce: None }
    }

    pub fn with_nonce(mut self, nonce: &str) -> Expect {
        self.nonce = Some(nonce.into());
        self
    }
}

/// The parts of a discovery document the suites check.
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    pub userinfo_endpoint: Option<String>,
    #[serde(default)]
    pub grant_types_supported: Vec<String>,
    #[serde(default)]
    pub response_types_supported: Vec<String>,
    #[serde(default)]
    pub code_challenge_methods_supported: Vec<String>,
    #[serde(default)]
    pub id_token_signing_alg_values_supported: Vec<String>,
}

impl Discovery {
    /// Every endpoint lives below the issuer (no internal host name leaks), and the document
    /// advertises what the harness's flows need: the code flow with S256 PKCE and RS256 ID tokens.
    pub fn check(&self, expected_issuer: &str) -> Result<(), OidcError> {
        if self.issuer != expected_issuer {
            return Err(OidcError::IssuerMismatch { expected: expected_issuer.into(), got: self.issuer.clone() });
        }
        let err = |message: String| Err(OidcError::Discovery { issuer: expected_issuer.into(), message });
        let prefix = format!("{expected_issuer}/");
        for (name, url) in [
            ("authorization_endpoint", Some(&self.authorization_endpoint)),
            ("token_endpoint", Some(&self.token_endpoint)),
            ("jwks_uri", Some(&self.jwks_uri)),
            ("userinfo_endpoint", self.userinfo_endpoint.as_ref()),
        ] {
            if let Some(url) = url
                && !url.starts_with(&prefix)
            {
                return err(format!("{name} {url} is not below the issuer"));
            }
        }
        for (name, list, wanted) in [
            ("response_types_supported", &self.response_types_supported, "code"),
            ("code_challenge_methods_supported", &self.code_challenge_methods_supported, "S256"),
            ("id_token_signing_alg_values_supported", &self.id_token_signing_alg_values_supported, "RS256"),
            ("grant_types_supported", &self.grant_types_supported, "authorization_code"),
        ] {
            if !list.iter().any(|v| v == wanted) {
                return err(format!("{name} lacks {wanted}: {list:?}"));
            }
        }
        Ok(())
    }
}

/// A realm's signing keys, and the checks every token must pass.
#[derive(Debug, Clone)]
pub struct TokenVerifier {
    issuer: String,
    jwks: JwkSet,
}

impl TokenVerifier {
    pub fn new(issuer: &str, jwks: JwkSet) -> TokenVerifier {
        TokenVerifier { issuer: issuer.into(), jwks }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Verifies `token`: RS256 signature by the JWKS key its `kid` names (a signing key), `iss`,
    /// `exp` (5 s leeway), then what `expect` asks for.
    pub fn verify(&self, token: &str, expect: &Expect) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| TokenError::Malformed(format!("header: {e}")))?;
        let kid = header.kid.ok_or_else(|| TokenError::Malformed("no kid in the header".into()))?;
        let jwk = self
            .jwks
            .find(&kid)
            .filter(|k| !matches!(k.common.public_key_use, Some(PublicKeyUse::Encryption)))
            .ok_or_else(|| TokenError::UnknownKey(kid.clone()))?;
        let key = DecodingKey::from_jwk(jwk).map_err(|e| TokenError::Malformed(format!("JWK {kid}: {e}")))?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "iss"]);
        validation.leeway = 5;
        match &expect.audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => TokenError::BadSignature,
            ErrorKind::ExpiredSignature => TokenError::Expired,
            ErrorKind::InvalidIssuer => TokenError::WrongIssuer { expected: self.issuer.clone() },
            ErrorKind::InvalidAudience => {
                TokenError::WrongAudience { expected: expect.audience.clone().unwrap_or_default() }
            }
            _ => TokenError::Malformed(e.to_string()),
        })?;
        let claims = data.claims;
        if let Some(azp) = &expect.authorized_party
            && claims.azp.as_ref() != Some(azp)
        {
            return Err(TokenError::WrongAuthorizedParty { expected: azp.clone(), got: claims.azp });
        }
        if let Some(nonce) = &expect.nonce
            && claims.nonce.as_ref() != Some(nonce)
        {
            return Err(TokenError::WrongNonce);
        }
        Ok(claims)
    }
}

/// `token` with claim `key` of its payload set to `value`, header and signature kept: what
/// an attacker who edits a token produces. Verification must reject it (negative tests).
pub fn forge_claim(token: &str, key: &str, value: Value) -> Result<String, TokenError> {
    use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(TokenError::Malformed("not three dot-separated parts".into()));
    };
    let bytes = URL_SAFE_NO_PAD.decode(payload).map_err(|e| TokenError::Malformed(format!("payload: {e}")))?;
    let mut claims: serde_json::Map<String, Value> =
        serde_json::from_slice(&bytes).map_err(|e| TokenError::Malformed(format!("payload: {e}")))?;
    claims.insert(key.into(), value);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).expect("claims serialise"));
    Ok(format!("{header}.{payload}.{signature}"))
}

/// An OIDC provider reachable at `https://<domain>`.
#[derive(Clone)]
pub struct Provider {
    http: AppClient,
    oidc_http: openidconnect::reqwest::Client,
    layout: &'static Layout,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider").field("domain", &self.http.domain()).finish()
    }
}

pub(super) fn http_err(what: impl Into<String>, e: impl std::fmt::Display) -> OidcError {
    OidcError::Http { what: what.into(), message: e.to_string() }
}

pub(super) async fn status_err(what: impl Into<String>, resp: reqwest::Response) -> OidcError {
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap_or_default();
    OidcError::Status { what: what.into(), status, body: body.trim().chars().take(300).collect() }
}

impl Provider {
    /// The provider at `https://<domain>`, connecting to `ingress` and trusting only `ca_pem`
    /// (the system roots when `None`), laid out as its kind's `layout` says.
    pub fn new(domain: &str, ingress: SocketAddr, ca_pem: Option<&Path>, layout: &'static Layout) -> Result<Provider, OidcError> {
        let http = AppClient::new(domain, ingress, ca_pem).map_err(|e| OidcError::Config(e.to_string()))?;
        let mut builder = openidconnect::reqwest::ClientBuilder::new();
        if let Some(ca_pem) = ca_pem {
            let pem = std::fs::read(ca_pem).map_err(|e| OidcError::Config(format!("reading {}: {e}", ca_pem.display())))?;
            let ca = openidconnect::reqwest::Certificate::from_pem(&pem)
                .map_err(|e| OidcError::Config(format!("parsing {}: {e}", ca_pem.display())))?;
            builder = builder.tls_built_in_root_certs(false).add_root_certificate(ca);
        }
        let oidc_http = builder
            .resolve(domain, ingress)
            // The openidconnect docs' SSRF advice; the code flow's redirects are the browser's.
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| OidcError::Config(format!("building the OIDC HTTP client: {e}")))?;
        Ok(Provider { http, oidc_http, layout })
    }

    /// The provider a deployment serves, through the run's platform.
    pub fn for_deployment(d: &Deployment, layout: &'static Layout) -> Result<Provider, OidcError> {
        let platform = &d.run().platform;
        Provider::new(d.domain(), platform.ingress, platform.ca_pem.as_deref(), layout)
    }

    pub fn domain(&self) -> &str {
        self.http.domain()
    }

    /// The workspace reqwest client bound to the provider (admin API, raw checks).
    pub fn http(&self) -> &AppClient {
        &self.http
    }

    /// `https://<domain><issuer path>`: what the provider must call itself.
    pub fn issuer(&self, realm: &str) -> String {
        self.http.url(&self.layout.issuer_path.replace("{realm}", realm))
    }

    /// Fetches and checks the realm's discovery document ([`Discovery::check`]).
    pub async fn discover(&self, realm: &str) -> Result<Discovery, OidcError> {
        let issuer = self.issuer(realm);
        let what = format!("GET {issuer}/.well-known/openid-configuration");
        let resp = self
            .http
            .inner()
            .get(format!("{issuer}/.well-known/openid-configuration"))
            .send()
            .await
            .map_err(|e| http_err(&what, format!("{e:#}")))?;
        if !resp.status().is_success() {
            return Err(status_err(what, resp).await);
        }
        let doc: Discovery = resp.json().await.map_err(|e| http_err(&what, e))?;
        doc.check(&issuer)?;
        Ok(doc)
    }

    /// Polls discovery until the realm is really served (the app's readiness, not a port's),
    /// at most `timeout`; the timeout error carries the last answer.
    pub async fn wait_for_discovery(&self, realm: &str, timeout: Duration, poll: Duration) -> crate::error::Result<Discovery> {
        converge(&format!("{} to serve its discovery document", self.issuer(realm)), timeout, poll, || async {
            self.discover(realm).await.map_err(|e| e.to_string())
        })
        .await
    }

    /// The realm's JWKS (from the `jwks_uri` discovery names) and issuer, ready to verify tokens.
    pub async fn verifier(&self, realm: &str) -> Result<TokenVerifier, OidcError> {
        let doc = self.discover(realm).await?;
        let resp = self.http.inner().get(&doc.jwks_uri).send().await.map_err(|e| http_err(&doc.jwks_uri, format!("{e:#}")))?;
        if !resp.status().is_success() {
            return Err(status_err(format!("GET {}", doc.jwks_uri), resp).await);
        }
        let jwks: JwkSet = resp.json().await.map_err(|e| http_err(&doc.jwks_uri, e))?;
        if jwks.keys.is_empty() {
            return Err(OidcError::Discovery { issuer: doc.issuer, message: "the JWKS has no keys".into() });
        }
        Ok(TokenVerifier::new(&doc.issuer, jwks))
    }

    /// An OIDC client of `realm` from discovery (which openidconnect checks again, issuer
    /// included). `secret` is `None` for a public client; `redirect_uri` is needed for the
    /// code flow only.
    pub async fn oidc_client(
        &self,
        realm: &str,
        client_id: &str,
        secret: Option<&Secret>,
        redirect_uri: Option<&str>,
    ) -> Result<OidcClient, OidcError> {
        let issuer = self.issuer(realm);
        let issuer_url = IssuerUrl::new(issuer.clone()).map_err(|e| OidcError::Config(format!("issuer {issuer}: {e}")))?;
        let metadata = CoreProviderMetadata::discover_async(issuer_url, &self.oidc_http)
            .await
            .map_err(|e| OidcError::Discovery { issuer: issuer.clone(), message: error_chain(&e) })?;
        let mut client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(client_id.into()),
            secret.map(|s| ClientSecret::new(s.expose().to_owned())),
        );
        if let Some(uri) = redirect_uri {
            client = client.set_redirect_uri(
                RedirectUrl::new(uri.into()).map_err(|e| OidcError::Config(format!("redirect URI {uri}: {e}")))?,
            );
        }
        Ok(OidcClient {
            client,
            http: self.oidc_http.clone(),
            client_id: client_id.into(),
            redirect_uri: redirect_uri.map(str::to_owned),
            login: &self.layout.login,
        })
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// A client built from discovery: auth and token endpoints set, userinfo maybe.
pub type DiscoveredClient =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

/// Tokens from a grant. `Debug` shows which tokens exist, never their values.
pub struct Tokens {
    pub access_token: Secret,
    pub id_token: Option<Secret>,
    pub refresh_token: Option<Secret>,
    /// Seconds, as the provider said.
    pub expires_in: Option<Duration>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("access_token", &"***")
            .field("id_token", &self.id_token.as_ref().map(|_| "***"))
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "***"))
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

impl Tokens {
    fn from_response(resp: &CoreTokenResponse) -> Tokens {
        Tokens {
            access_token: Secret::new(resp.access_token().secret().clone()),
            id_token: resp.id_token().map(|t| Secret::new(t.to_string())),
            refresh_token: resp.refresh_token().map(|t| Secret::new(t.secret().clone())),
            expires_in: resp.expires_in(),
        }
    }

    /// The ID token, which `openid` scope grants must carry.
    pub fn id_token(&self) -> Result<&Secret, OidcError> {
        self.id_token.as_ref().ok_or_else(|| OidcError::Token(TokenError::Malformed("the response has no id_token".into())))
    }
}

/// A started authorization-code request: the URL to open and what the callback must match.
pub struct AuthRequest {
    pub url: String,
    pub state: CsrfToken,
    pub nonce: Nonce,
    pkce_verifier: PkceCodeVerifier,
}

impl std::fmt::Debug for AuthRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthRequest").field("url", &self.url).finish_non_exhaustive()
    }
}

/// Where a browser login ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginOutcome {
    /// The provider redirected to the callback with a code (state already checked).
    Code(String),
    /// The provider stayed on its login page and showed this error.
    Refused(String),
}

/// An OIDC client of one realm.
#[derive(Clone)]
pub struct OidcClient {
    client: DiscoveredClient,
    http: openidconnect::reqwest::Client,
    client_id: String,
    redirect_uri: Option<String>,
    login: &'static LoginForm,
}

impl std::fmt::Debug for OidcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcClient").field("client_id", &self.client_id).finish()
    }
}

fn grant_error<RE, T>(grant: &'static str, e: RequestTokenError<RE, T>) -> OidcError
where
    RE: std::error::Error + 'static,
    T: openidconnect::ErrorResponse + 'static,
{
    match e {
        RequestTokenError::ServerResponse(resp) => {
            // `error` is the RFC 6749 code (`invalid_grant`); serialise to get it verbatim.
            let body = serde_json::to_value(&resp).unwrap_or(Value::Null);
            OidcError::GrantRefused {
                grant,
                error: body.get("error").and_then(Value::as_str).unwrap_or("unknown").to_owned(),
                description: body.get("error_description").and_then(Value::as_str).map(str::to_owned),
            }
        }
        other => OidcError::Http { what: format!("{grant} grant"), message: error_chain(&other) },
    }
}

impl OidcClient {
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Resource-owner password grant with `scope=openid` (so an ID token comes back too).
    pub async fn password_grant(&self, username: &str, password: &Secret) -> Result<Tokens, OidcError> {
        let resp = self
            .client
            .exchange_password(&ResourceOwnerUsername::new(username.into()), &ResourceOwnerPassword::new(password.expose().into()))
            .map_err(|e| OidcError::Config(format!("password grant: {e}")))?
            .add_scope(Scope::new("openid".into()))
            .request_async(&self.http)
            .await
            .map_err(|e| grant_error("password", e))?;
        Ok(Tokens::from_response(&resp))
    }

    /// Client-credentials grant (the client's service account).
    pub async fn client_credentials(&self) -> Result<Tokens, OidcError> {
        let resp = self
            .client
            .exchange_client_credentials()
            .map_err(|e| OidcError::Config(format!("client credentials grant: {e}")))?
            .request_async(&self.http)
            .await
            .map_err(|e| grant_error("client_credentials", e))?;
        Ok(Tokens::from_response(&resp))
    }

    /// Starts an authorization-code request with S256 PKCE, a random state and nonce, and
    /// `scope=openid email profile`.
    pub fn authorize(&self) -> AuthRequest {
        let (challenge, pkce_verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = self
            .client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge)
            .url();
        AuthRequest { url: url.to_string(), state, nonce, pkce_verifier }
    }

    /// Exchanges the code with the PKCE verifier. openidconnect verifies the ID token on the
    /// way (signature by the discovered JWKS, issuer, audience, expiry, and the nonce).
    pub async fn exchange_code(&self, request: AuthRequest, code: &str) -> Result<Tokens, OidcError> {
        let resp = self
            .client
            .exchange_code(AuthorizationCode::new(code.into()))
            .map_err(|e| OidcError::Config(format!("code exchange: {e}")))?
            .set_pkce_verifier(request.pkce_verifier)
            .request_async(&self.http)
            .await
            .map_err(|e| grant_error("authorization_code", e))?;
        let id_token = resp
            .id_token()
            .ok_or_else(|| OidcError::Token(TokenError::Malformed("the code exchange returned no id_token".into())))?;
        id_token.claims(&self.client.id_token_verifier(), &request.nonce).map_err(|e| {
            OidcError::Token(match e {
                openidconnect::ClaimsVerificationError::InvalidNonce(_) => TokenError::WrongNonce,
                other => TokenError::Malformed(error_chain(&other)),
            })
        })?;
        Ok(Tokens::from_response(&resp))
    }

    /// Drives `request` through a real browser on the provider's login page: opens the
    /// authorization URL, fills `username`/`password` in the login form, submits, and waits
    /// (at most `timeout`) until the browser is at the redirect URI with a code and the state
    /// sent, or the login page shows an error.
    ///
    /// Chromium aborts page loads with `ERR_NETWORK_CHANGED` when network interfaces come and
    /// go, which Docker does whenever any stack on the host is deployed or removed. That one
    /// error says nothing about the provider, so the login starts over from the authorization
    /// URL (at most [`LOGIN_ATTEMPTS`] times); every other browser error page (a certificate
    /// error included) fails the login.
    pub async fn browser_login(
        &self,
        browser: &fantoccini::Client,
        request: &AuthRequest,
        username: &str,
        password: &Secret,
        timeout: Duration,
    ) -> Result<LoginOutcome, OidcError> {
        let mut attempt = 1;
        loop {
            match self.login_attempt(browser, request, username, password, timeout).await? {
                Attempt::Done(outcome) => return Ok(outcome),
                Attempt::NetworkChanged(at) if attempt < LOGIN_ATTEMPTS => {
                    crate::progress!("browser login: Chromium reported ERR_NETWORK_CHANGED {at}; starting the login over");
                    attempt += 1;
                }
                Attempt::NetworkChanged(at) => {
                    return Err(OidcError::Browser(format!("ERR_NETWORK_CHANGED {at}, {LOGIN_ATTEMPTS} times in a row")));
                }
            }
        }
    }

    async fn login_attempt(
        &self,
        browser: &fantoccini::Client,
        request: &AuthRequest,
        username: &str,
        password: &Secret,
        timeout: Duration,
    ) -> Result<Attempt, OidcError> {
        use fantoccini::Locator;
        let redirect = self.redirect_uri.clone().ok_or_else(|| OidcError::Config("the client has no redirect URI".into()))?;
        let poll = Duration::from_millis(200);
        // A navigation that fails on the network shows Chromium's error page, which the wait
        // below recognises; any other failure of the command ends the login.
        if let Err(e) = browser.goto(&request.url).await
            && crate::browser::net_error(browser).await.is_none()
        {
            return Err(OidcError::Browser(format!("opening the authorization URL: {e}")));
        }
        let form = converge("the login form", timeout, poll, || async {
            if let Some(code) = crate::browser::net_error(browser).await {
                return Ok(Err(Landed::NetError(code)));
            }
            // A provider session from an attempt whose redirect was cut off: no form, straight back.
            if let Ok(url) = browser.current_url().await
                && url.as_str().starts_with(&redirect)
            {
                return Ok(Err(Landed::Callback(url)));
            }
            match browser.find(Locator::Css(self.login.form)).await {
                Ok(form) => Ok(Ok(form)),
                Err(_) => Err(format!("no login form at {}", page_url(browser).await)),
            }
        })
        .await
        .map_err(|e| OidcError::Browser(e.to_string()))?;
        let outcome = match form {
            Ok(form) => self.submit_login(browser, &form, username, password, &redirect, timeout).await?,
            Err(landed) => landed,
        };
        let url = match outcome {
            Landed::Callback(url) => url,
            Landed::Refused(message) => return Ok(Attempt::Done(LoginOutcome::Refused(message))),
            Landed::NetError(code) if code == NETWORK_CHANGED => return Ok(Attempt::NetworkChanged(format!("at {}", page_url(browser).await))),
            Landed::NetError(code) => return Err(OidcError::Browser(format!("the browser shows {code} at {}", page_url(browser).await))),
        };
        let param = |key: &str| url.query_pairs().find(|(k, _)| k == key).map(|(_, v)| v.into_owned());
        if let Some(error) = param("error") {
            return Err(OidcError::Browser(format!("the provider redirected with error={error}")));
        }
        if param("state").as_deref() != Some(request.state.secret().as_str()) {
            return Err(OidcError::Browser("the callback's state is not the one sent".into()));
        }
        let code = param("code").ok_or_else(|| OidcError::Browser("the callback carries no code".into()))?;
        Ok(Attempt::Done(LoginOutcome::Code(code)))
    }

    /// Fills and submits the login form, then waits for where the browser lands.
    async fn submit_login(
        &self,
        browser: &fantoccini::Client,
        form: &fantoccini::elements::Element,
        username: &str,
        password: &Secret,
        redirect: &str,
        timeout: Duration,
    ) -> Result<Landed, OidcError> {
        use fantoccini::Locator;
        let cmd = |what: &str, e: fantoccini::error::CmdError| OidcError::Browser(format!("{what}: {e}"));
        let find = |selector: &'static str| {
            let form = form.clone();
            async move { form.find(Locator::Css(selector)).await }
        };
        find(self.login.username).await.map_err(|e| cmd("finding the username field", e))?.send_keys(username).await.map_err(|e| cmd("typing the username", e))?;
        find(self.login.password).await.map_err(|e| cmd("finding the password field", e))?.send_keys(password.expose()).await.map_err(|e| cmd("typing the password", e))?;
        let start_url = page_url(browser).await;
        form.find(Locator::Css(self.login.submit)).await.map_err(|e| cmd("finding the submit button", e))?.click().await.map_err(|e| cmd("submitting", e))?;
        converge("the login to redirect or show an error", timeout, Duration::from_millis(200), || async {
            let url = browser.current_url().await.map_err(|e| e.to_string())?;
            if url.as_str().starts_with(redirect) {
                return Ok(Landed::Callback(url));
            }
            if let Some(code) = crate::browser::net_error(browser).await {
                return Ok(Landed::NetError(code));
            }
            // Still (or again) on the login page: an error message means the provider refused.
            if let Ok(el) = browser.find(Locator::Css(self.login.error)).await
                && let Ok(text) = el.text().await
                && !text.trim().is_empty()
            {
                return Ok(Landed::Refused(text.trim().to_owned()));
            }
            Err(format!("at {} (started from {start_url})", url.as_str().split('?').next().unwrap_or_default()))
        })
        .await
        .map_err(|e| OidcError::Browser(e.to_string()))
    }
}

/// How often a browser login starts over after `ERR_NETWORK_CHANGED`.
pub const LOGIN_ATTEMPTS: u32 = 3;
const NETWORK_CHANGED: &str = "ERR_NETWORK_CHANGED";

enum Attempt {
    Done(LoginOutcome),
    NetworkChanged(String),
}

enum Landed {
    Callback(openidconnect::url::Url),
    Refused(String),
    NetError(String),
}

async fn page_url(browser: &fantoccini::Client) -> String {
    browser.current_url().await.map(|u| u.as_str().split('?').next().unwrap_or_default().to_owned()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::api::{ClientSpec, UserSpec};
    use serde_json::json;

    fn discovery(issuer: &str) -> Discovery {
        Discovery {
            issuer: issuer.into(),
            authorization_endpoint: format!("{issuer}/protocol/openid-connect/auth"),
            token_endpoint: format!("{issuer}/protocol/openid-connect/token"),
            jwks_uri: format!("{issuer}/protocol/openid-connect/certs"),
            userinfo_endpoint: Some(format!("{issuer}/protocol/openid-connect/userinfo")),
            grant_types_supported: vec!["authorization_code".into(), "password".into()],
            response_types_supported: vec!["code".into()],
            code_challenge_methods_supported: vec!["plain".into(), "S256".into()],
            id_token_signing_alg_values_supported: vec!["RS256".into()],
        }
    }

    #[test]
    fn discovery_must_name_the_public_issuer_and_keep_endpoints_below_it() {
        let public = "https://kc.ccci.test/realms/master";
        assert!(discovery(public).check(public).is_ok());
        let internal = discovery("http://app:8080/realms/master");
        assert!(matches!(internal.check(public), Err(OidcError::IssuerMismatch { .. })));
        let mut leaky = discovery(public);
        leaky.token_endpoint = "http://app:8080/realms/master/protocol/openid-connect/token".into();
        let e = leaky.check(public).unwrap_err().to_string();
        assert!(e.contains("token_endpoint") && e.contains("not below the issuer"), "{e}");
        let mut no_pkce = discovery(public);
        no_pkce.code_challenge_methods_supported = vec!["plain".into()];
        assert!(no_pkce.check(public).unwrap_err().to_string().contains("S256"));
    }

    #[test]
    fn audience_reads_a_string_or_a_list() {
        let one: Claims = serde_json::from_value(json!({"iss": "i", "exp": 1, "aud": "a"})).unwrap();
        assert!(one.aud.contains("a"));
        let many: Claims = serde_json::from_value(json!({"iss": "i", "exp": 1, "aud": ["a", "b"]})).unwrap();
        assert!(many.aud.contains("b") && !many.aud.contains("c"));
        let none: Claims = serde_json::from_value(json!({"iss": "i", "exp": 1})).unwrap();
        assert!(none.aud.0.is_empty());
    }

    #[test]
    fn malformed_tokens_and_unknown_keys_are_rejected_before_any_claim_is_read() {
        let verifier = TokenVerifier::new("https://kc.ccci.test/realms/x", JwkSet { keys: vec![] });
        assert!(matches!(verifier.verify("not-a-jwt", &Expect::default()), Err(TokenError::Malformed(_))));
        // {"alg":"RS256","kid":"k1"} . {} . (no signature)
        let token = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.e30.";
        assert_eq!(verifier.verify(token, &Expect::default()), Err(TokenError::UnknownKey("k1".into())));
    }

    #[test]
    fn a_forged_claim_keeps_header_and_signature() {
        use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
        let payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"alice","exp":1}"#);
        let token = format!("hdr.{payload}.sig");
        let forged = forge_claim(&token, "sub", json!("mallory")).unwrap();
        let parts: Vec<&str> = forged.split('.').collect();
        assert_eq!((parts[0], parts[2]), ("hdr", "sig"));
        let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims, json!({"sub": "mallory", "exp": 1}));
        assert!(forge_claim("a.b", "sub", json!(1)).is_err());
    }

    #[test]
    fn secrets_and_tokens_stay_out_of_debug_output() {
        let spec = ClientSpec::confidential("c", Secret::new("client-secret-value"), &["https://x/cb"]);
        let user = UserSpec {
            username: "u".into(),
            email: "u@x".into(),
            first_name: "U".into(),
            last_name: "X".into(),
            password: Secret::new("user-password-value"),
        };
        let tokens = Tokens { access_token: Secret::new("access-value"), id_token: None, refresh_token: None, expires_in: None };
        let text = format!("{spec:?} {user:?} {tokens:?}");
        for value in ["client-secret-value", "user-password-value", "access-value"] {
            assert!(!text.contains(value), "{value} leaked: {text}");
        }
    }
}
