//! The dependency resolver: what `recipe.toml` asks for is deployed in the same run first.
//!
//! `requires` and `test_requires` name recipes (their crates' `recipe.toml` give the fixture);
//! each is deployed once per run at its newest release and shared by every dependent of the
//! run, holds a MAX_TESTS slot like any deployment, and is removed when the run ends.
//! `[sso] provider` names a provider recipe whose `[provides.oidc]` says how to administer it:
//! the resolver makes a realm and a confidential client for the dependent (redirect URIs on the
//! dependent's domain, `[sso] redirect_path`) and hands over the issuer and client id as `.env`
//! settings and the client secret as the dependent's secret, before the dependent deploys. A
//! provider that generates the client id and secret itself (Gitea) hands over its own.

use std::sync::Arc;

use crate::{
    checkout::{RecipeSource, Rev},
    deploy::{
        Deployment,
        spec::{AppSpec, SsoGrant},
    },
    error::{HarnessError, Result},
    progress,
    providers::{ClientSpec, IdentityProvider, KINDS, for_kind},
    recipe::Recipe,
    run::Run,
    secret::Secret,
    shared::shared_deployment,
};

/// The dependencies of one deployment, ready to hand over.
#[derive(Debug, Default)]
pub(crate) struct Resolved {
    /// Recipe names deployed (or attached to) for this dependent, in order.
    pub deployed: Vec<String>,
    pub env: Vec<(String, String)>,
    pub secrets: Vec<(String, Secret)>,
    pub sso: Option<SsoGrant>,
    /// Use leases on the dependencies: the dependent holds them for its life.
    pub uses: Vec<std::sync::Arc<crate::lock::FileLock>>,
}

/// Loads `recipes/<name>/recipe.toml` of a dependency, blaming the dependent's key if absent.
fn dependency_recipe(run: &Run, dependent: &Recipe, name: &str) -> Result<Recipe> {
    let dir = run.config.workspace_root.join("recipes").join(name);
    if !dir.join("recipe.toml").is_file() {
        return Err(HarnessError::Recipe {
            path: dependent.path.clone(),
            key: "requires".into(),
            message: format!("{name:?} has no suite here ({} is missing)", dir.join("recipe.toml").display()),
        });
    }
    Recipe::load(dir)
}

/// Deploys (or attaches to) every dependency of `recipe` and provisions its SSO client.
/// `domain` is the dependent's domain, known before it deploys.
pub(crate) async fn resolve(run: &Arc<Run>, recipe: &Recipe, domain: &str) -> Result<Resolved> {
    let mut resolved = Resolved::default();
    let provider_name = recipe.toml.sso.as_ref().map(|s| s.provider.clone());
    let mut provider = None;
    for name in recipe.dependencies() {
        let dep = dependency_recipe(run, recipe, &name)?;
        let source = RecipeSource::fixture(&run.config, dep.fixture()).await?;
        let rev = match source.releases()?.pop() {
            Some(latest) => Rev::Release(latest),
            None => Rev::Head,
        };
        let key = format!("dep-{name}");
        let spec = AppSpec::new(&name, source.clone(), rev, "dep").with_ready(dep.toml.ready.clone());
        let d = shared_deployment(run, &key, source, spec).await?;
        resolved.uses.push(crate::shared::use_lease(run, &key).await?);
        progress!("{}: dependency {name} is {} ({})", recipe.name(), d.stack(), d.version());
        resolved.deployed.push(name.clone());
        if Some(&name) == provider_name.as_ref() {
            provider = Some((dep, d));
        }
    }
    if let (Some(sso), Some((provider_recipe, provider_d))) = (&recipe.toml.sso, provider) {
        let grant = provision_sso(recipe, &provider_recipe, &provider_d, domain).await?;
        resolved.env.push((sso.issuer_env.clone(), grant.0.issuer.clone()));
        resolved.env.push((sso.client_id_env.clone(), grant.0.client_id.clone()));
        resolved.secrets.push((sso.client_secret.clone(), grant.1));
        resolved.sso = Some(grant.0);
    }
    Ok(resolved)
}

/// The identity provider a dependent's deployment logs in through, administered as the
/// provider's `[provides.oidc]` says, and the realm of the dependent's client: what a test
/// needs to make users there. The provider is the run's shared dependency deployment, alive
/// while `app` (which holds a use of it) is.
pub(crate) fn sso_provider(run: &Arc<Run>, recipe: &Recipe, app: &Deployment) -> Result<(Box<dyn IdentityProvider>, String)> {
    let no_sso = |message: String| HarnessError::Recipe { path: recipe.path.clone(), key: "sso.provider".into(), message };
    let sso = recipe.toml.sso.as_ref().ok_or_else(|| no_sso("recipe.toml has no [sso]: the app has no identity provider".into()))?;
    let grant = app.sso().ok_or_else(|| no_sso(format!("{} was deployed without an SSO client", app.stack())))?;
    let provider_recipe = dependency_recipe(run, recipe, &sso.provider)?;
    let oidc = provides_oidc(recipe, &provider_recipe)?;
    let provider_d = dependency(run, recipe, &sso.provider)?;
    Ok((administer(&provider_recipe, oidc, &provider_d)?, grant.realm.clone()))
}

/// The run's deployment of `name`, one of `recipe`'s dependencies (`requires`,
/// `test_requires`, `[sso] provider`), attached from its record: alive while a deployment of
/// `recipe` (which holds a use of it) is.
pub(crate) fn dependency(run: &Arc<Run>, recipe: &Recipe, name: &str) -> Result<Deployment> {
    if !recipe.dependencies().iter().any(|d| d == name) {
        return Err(HarnessError::Recipe {
            path: recipe.path.clone(),
            key: "requires".into(),
            message: format!("{name:?} is not a dependency of {} (requires, test_requires, sso.provider)", recipe.name()),
        });
    }
    let key = format!("dep-{name}");
    let record = run.dir().join("shared").join(format!("{key}.app"));
    let app_dir = std::fs::read_to_string(&record).map_err(|e| HarnessError::infra(format!("the run's {name} deployment ({})", record.display()), e))?;
    let app_dir = std::path::Path::new(app_dir.trim());
    Deployment::attach(run, app_dir, RecipeSource::git_repo(key, app_dir.to_path_buf()))
}

fn provides_oidc<'a>(recipe: &Recipe, provider_recipe: &'a Recipe) -> Result<&'a crate::recipe::OidcProvides> {
    provider_recipe.toml.provides.oidc.as_ref().ok_or_else(|| HarnessError::Recipe {
        path: recipe.path.clone(),
        key: "sso.provider".into(),
        message: format!("{} is not an OIDC provider (its recipe.toml has no [provides.oidc])", provider_recipe.name()),
    })
}

/// The provider deployment `provider_d`, administered with the credentials its recipe names.
fn administer(provider_recipe: &Recipe, oidc: &crate::recipe::OidcProvides, provider_d: &Deployment) -> Result<Box<dyn IdentityProvider>> {
    let password = provider_d.secret(&oidc.admin_secret).cloned().ok_or_else(|| HarnessError::Recipe {
        path: provider_recipe.path.clone(),
        key: "provides.oidc.admin_secret".into(),
        message: format!("the deployment has no secret {:?}", oidc.admin_secret),
    })?;
    for_kind(&oidc.kind, provider_d, &oidc.admin_user, password).ok_or_else(|| HarnessError::Recipe {
        path: provider_recipe.path.clone(),
        key: "provides.oidc.kind".into(),
        message: format!("unknown identity provider kind {:?} (known: {})", oidc.kind, KINDS.join(", ")),
    })?
}

/// A realm named after the dependent's deployment and a confidential client for it.
async fn provision_sso(recipe: &Recipe, provider_recipe: &Recipe, provider_d: &Deployment, domain: &str) -> Result<(SsoGrant, Secret)> {
    let sso = recipe.toml.sso.as_ref().expect("called for SSO recipes only");
    let oidc = provides_oidc(recipe, provider_recipe)?;
    let provider = administer(provider_recipe, oidc, provider_d)?;
    let endpoint = crate::providers::endpoint(&oidc.kind, provider_d)?;
    let realm = domain.split('.').next().unwrap_or(domain).to_owned();
    provider.ensure_realm(&realm).await?;
    let redirect = format!("https://{domain}{}", sso.redirect_path);
    let client = ClientSpec::confidential(recipe.name(), Secret::generate(32), &[redirect.as_str()]);
    let issued = provider.create_client(&realm, &client).await?;
    let secret = issued.secret.ok_or_else(|| HarnessError::deploy("SSO", anyhow::anyhow!("{} issued no secret for the confidential client {}", oidc.kind, issued.client_id)))?;
    let grant = SsoGrant {
        provider_kind: oidc.kind.clone(),
        provider_domain: provider_d.domain().to_owned(),
        realm: realm.clone(),
        issuer: endpoint.issuer(&realm),
        client_id: issued.client_id,
        client_secret_name: sso.client_secret.clone(),
    };
    progress!("{}: SSO client {} in realm {realm} at {}", recipe.name(), grant.client_id, grant.provider_domain);
    Ok((grant, secret))
}
