//! A real Chromium driven through WebDriver (chromedriver + fantoccini), for flows whose
//! core is a UI: login pages, forms.
//!
//! [`with_browser`] owns the whole lifecycle: it starts chromedriver on a free port (killed on
//! drop), waits until it answers (polled, bounded), opens a session, runs the body, takes a
//! screenshot into the run's artifacts if the body failed or panicked, closes the session,
//! stops chromedriver, and only then propagates the body's result or panic. Sessions are
//! therefore closed even when a test fails.
//!
//! Chromium reaches apps the way the harness's HTTP clients do: `*.<domain suffix>` resolves
//! to the ingress (`--host-resolver-rules`), and TLS is verified against the testbed CA, which
//! is the only CA added to an NSS database in the session's own `$HOME` (Chromium on Linux
//! reads `~/.pki/nssdb`). No `acceptInsecureCerts`: a wrong certificate fails the page load.
//! Building that database needs `certutil` (Debian `libnss3-tools`).

use std::{
    future::Future,
    net::TcpListener,
    panic::AssertUnwindSafe,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use fantoccini::Client;
use futures_util::FutureExt as _;
use serde_json::json;

use crate::{
    error::{HarnessError, InfraExt, Result},
    poll::converge,
    progress,
    run::Run,
};

/// How long chromedriver may take to answer `/status`, and a page to load.
const DRIVER_START: Duration = Duration::from_secs(30);
pub const PAGE_TIMEOUT: Duration = Duration::from_secs(60);

/// A chromedriver process on a free local port; killed when dropped.
pub struct Chromedriver {
    child: tokio::process::Child,
    port: u16,
}

impl Chromedriver {
    /// Starts chromedriver with `home` as its (and Chromium's) `$HOME`, and waits until its
    /// `/status` says it is ready.
    pub async fn start(exe: &Path, home: &Path) -> Result<Chromedriver> {
        // Ask the kernel for a free port, then hand it to chromedriver.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .infra(|| "finding a free port for chromedriver".into())?
            .port();
        let child = tokio::process::Command::new(exe)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .env("HOME", home)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| HarnessError::Config(format!("cannot start {} ({e}); install Debian's chromium-driver", exe.display())))?;
        let driver = Chromedriver { child, port };
        let status_url = format!("{}/status", driver.url());
        let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().infra(|| "building an HTTP client".into())?;
        converge("chromedriver to answer /status", DRIVER_START, Duration::from_millis(100), || async {
            let resp = http.get(&status_url).send().await.map_err(|e| format!("{e}"))?;
            let body: serde_json::Value = resp.json().await.map_err(|e| format!("{e}"))?;
            match body.pointer("/value/ready").and_then(serde_json::Value::as_bool) {
                Some(true) => Ok(()),
                _ => Err(format!("not ready: {body}")),
            }
        })
        .await
        .map_err(|e| HarnessError::infra("starting chromedriver", e))?;
        Ok(driver)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Kills chromedriver (and with it any browser it still runs) and reaps it.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// Makes `$HOME/.pki/nssdb` trusting `ca_pem` as a TLS server CA (and nothing else).
fn trust_store(home: &Path, ca_pem: &Path) -> Result<()> {
    let db = home.join(".pki").join("nssdb");
    std::fs::create_dir_all(&db).infra(|| format!("creating {}", db.display()))?;
    let db_arg = format!("sql:{}", db.display());
    let run = |args: &[&str]| -> Result<()> {
        let out = std::process::Command::new("certutil").args(args).stdin(Stdio::null()).output().map_err(|e| {
            HarnessError::Config(format!("cannot run certutil ({e}); install Debian's libnss3-tools"))
        })?;
        if !out.status.success() {
            return Err(HarnessError::infra(
                format!("certutil {}", args.first().unwrap_or(&"")),
                anyhow::format_err!("{}", String::from_utf8_lossy(&out.stderr).trim()),
            ));
        }
        Ok(())
    };
    run(&["-N", "-d", &db_arg, "--empty-password"])?;
    let ca = ca_pem.display().to_string();
    run(&["-A", "-d", &db_arg, "-n", "ccci-testbed-ca", "-t", "C,,", "-i", &ca])
}

/// Chromium's capabilities: headless, as root (no sandbox), quiet (no background traffic to
/// a network that is not there), apps under `*.<suffix>` resolved to the ingress, and fake
/// media devices (a test tone for the microphone, a test pattern for the camera) granted
/// without a prompt, so a call or meeting app's media flow runs headless.
fn capabilities(chromium: &Path, profile: &Path, suffix: &str, ingress: std::net::SocketAddr) -> serde_json::Map<String, serde_json::Value> {
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": chromium.display().to_string(),
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--no-default-browser-check",
                "--window-size=1280,1024",
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                "--autoplay-policy=no-user-gesture-required",
                format!("--user-data-dir={}", profile.display()),
                format!("--host-resolver-rules=MAP *.{suffix} {ingress}"),
            ],
        },
    });
    caps.as_object().expect("a JSON object").clone()
}

/// Where a browser session lives and what it trusts and resolves.
#[derive(Debug, Clone)]
pub struct BrowserEnv {
    /// Per-session `$HOME`s (NSS database, profile) are made below this and removed after.
    pub home_root: PathBuf,
    /// Screenshots of failed sessions go to `<artifacts>/screenshots/`.
    pub artifacts: PathBuf,
    /// The only CA Chromium trusts (the system's when `None`).
    pub ca_pem: Option<PathBuf>,
    /// Debian's `chromium` and `chromedriver` unless configured otherwise.
    pub chromium: PathBuf,
    pub chromedriver: PathBuf,
    /// `*.<domain_suffix>` resolves to `ingress`.
    pub domain_suffix: String,
    pub ingress: std::net::SocketAddr,
}

impl BrowserEnv {
    /// The run's: its directory, artifacts, the testbed CA and ingress.
    pub fn of_run(run: &Run) -> BrowserEnv {
        BrowserEnv {
            home_root: run.dir().join("browser"),
            artifacts: run.artifacts(),
            ca_pem: run.platform.ca_pem.clone(),
            chromium: run.config.chromium.clone(),
            chromedriver: run.config.chromedriver.clone(),
            domain_suffix: run.config.domain_suffix.clone(),
            ingress: run.platform.ingress,
        }
    }
}

/// Runs `body` with a fresh browser session of the run; see the module docs. `name` names the
/// screenshot (`<artifacts>/screenshots/<name>-<unix time>.png`) taken on failure. The result
/// is the body's (an `anyhow` leaf error) or a [`HarnessError`] from the browser's setup.
pub async fn with_browser<T, F, Fut>(run: &Run, name: &str, body: F) -> anyhow::Result<T>
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    with_browser_in(&BrowserEnv::of_run(run), name, body).await
}

/// [`with_browser`] with an explicit environment.
pub async fn with_browser_in<T, F, Fut>(env: &BrowserEnv, name: &str, body: F) -> anyhow::Result<T>
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    // One process-wide rustls provider: reqwest 0.12 (openidconnect) compiles in ring next to
    // aws-lc-rs, and fantoccini's rustls connector asks for the process default. Already
    // installed is fine.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let home = env.home_root.join(format!("{name}-{}-{}", std::process::id(), crate::poll::now_unix()));
    let profile = home.join("profile");
    std::fs::create_dir_all(&profile).infra(|| format!("creating {}", profile.display()))?;
    if let Some(ca_pem) = &env.ca_pem {
        trust_store(&home, ca_pem)?;
    }
    let driver = Chromedriver::start(&env.chromedriver, &home).await?;
    let result = session(&driver, &profile, env, name, body).await;
    driver.stop().await;
    let _ = std::fs::remove_dir_all(&home);
    match result {
        Ok(result) => result,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

type Caught<T> = std::result::Result<anyhow::Result<T>, Box<dyn std::any::Any + Send>>;

async fn session<T, F, Fut>(driver: &Chromedriver, profile: &Path, env: &BrowserEnv, name: &str, body: F) -> Caught<T>
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let connect = async {
        let mut builder = fantoccini::ClientBuilder::rustls().map_err(|e| HarnessError::infra("building the WebDriver client", e))?;
        builder
            .capabilities(capabilities(&env.chromium, profile, &env.domain_suffix, env.ingress))
            .connect(&driver.url())
            .await
            .map_err(|e| HarnessError::infra("opening a Chromium session", anyhow::format_err!("{e}")))
    };
    let client = match connect.await {
        Ok(client) => client,
        Err(e) => return Ok(Err(e.into())),
    };
    let outcome = AssertUnwindSafe(body(client.clone())).catch_unwind().await;
    let failed = !matches!(outcome, Ok(Ok(_)));
    if failed {
        screenshot(&client, &env.artifacts, name).await;
    }
    if let Err(e) = client.close().await {
        progress!("browser {name}: closing the session failed: {e}");
    }
    outcome
}

/// What a failed session leaves to read: a screenshot, the page's source and what the page
/// loaded (`<name>-<unix time>.{png,html,json}`), and one line saying how far the page got. A
/// blank screenshot alone does not say whether the HTML, a script or an API call was stuck.
async fn screenshot(client: &Client, artifacts: &Path, name: &str) {
    let dir = artifacts.join("screenshots");
    let stem = dir.join(format!("{name}-{}", crate::poll::now_unix()));
    let url = client.current_url().await.map(|u| u.to_string()).unwrap_or_default();
    if let Err(e) = std::fs::create_dir_all(&dir) {
        progress!("browser {name}: failed at {url}; creating {}: {e}", dir.display());
        return;
    }
    let shot = match client.screenshot().await {
        Ok(png) => std::fs::write(stem.with_extension("png"), png).map(|()| format!("screenshot {}", stem.with_extension("png").display())),
        Err(e) => Ok(format!("no screenshot: {e}")),
    };
    if let Ok(source) = client.source().await {
        let _ = std::fs::write(stem.with_extension("html"), source);
    }
    let loaded = match client.execute(PAGE_STATE, vec![]).await {
        Ok(state) => {
            let _ = std::fs::write(stem.with_extension("json"), serde_json::to_vec_pretty(&state).unwrap_or_default());
            page_summary(&state)
        }
        Err(e) => format!("page state unreadable: {e}"),
    };
    match shot {
        Ok(shot) => progress!("browser {name}: failed at {url}; {loaded}; {shot} (source and loads beside it)"),
        Err(e) => progress!("browser {name}: failed at {url}; {loaded}; writing the screenshot: {e}"),
    }
}

/// The page's own account of its loading: ready state, visible text, and every resource it
/// fetched with its status and time (an unanswered request is absent from the list).
const PAGE_STATE: &str = r#"
const resources = performance.getEntriesByType('resource').map(e => ({
  url: e.name, ms: Math.round(e.duration), status: e.responseStatus || 0, bytes: e.transferSize || 0 }));
return { readyState: document.readyState, title: document.title,
  text: (document.body ? document.body.innerText : '').length, resources };
"#;

/// One line of [`PAGE_STATE`]: how far the page got and its slowest or failed loads.
fn page_summary(state: &serde_json::Value) -> String {
    let resources = state["resources"].as_array().cloned().unwrap_or_default();
    let failed: Vec<String> = resources
        .iter()
        .filter(|r| r["status"].as_u64().is_some_and(|s| s >= 400))
        .map(|r| format!("{} {}", r["status"], r["url"].as_str().unwrap_or("")))
        .collect();
    let slowest = resources.iter().max_by_key(|r| r["ms"].as_u64().unwrap_or(0));
    let mut line = format!(
        "page {}, {} chars of text, {} resources loaded",
        state["readyState"].as_str().unwrap_or("?"),
        state["text"].as_u64().unwrap_or(0),
        resources.len()
    );
    if let Some(r) = slowest {
        line.push_str(&format!(", slowest {} ms {}", r["ms"], r["url"].as_str().unwrap_or("")));
    }
    if !failed.is_empty() {
        line.push_str(&format!(", failed: {}", failed.join(", ")));
    }
    line
}

/// The error code (`ERR_NAME_NOT_RESOLVED`, `ERR_CERT_AUTHORITY_INVALID`, ...) when the
/// browser shows Chromium's network error page instead of a page.
pub async fn net_error(client: &Client) -> Option<String> {
    let el = client.find(fantoccini::Locator::Css("#main-frame-error")).await.ok()?;
    let text = el.text().await.unwrap_or_default();
    Some(text.split_whitespace().find(|w| w.starts_with("ERR_")).unwrap_or("an unknown network error").to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_page_is_summarised_by_its_state_its_slowest_and_its_failed_loads() {
        let state = serde_json::json!({
            "readyState": "complete", "title": "Admin", "text": 0,
            "resources": [
                {"url": "https://a.test/assets/vendor.js", "ms": 8123, "status": 200, "bytes": 5_000_000},
                {"url": "https://a.test/api/site/", "ms": 40, "status": 503, "bytes": 120},
            ]
        });
        let line = page_summary(&state);
        assert_eq!(
            line,
            "page complete, 0 chars of text, 2 resources loaded, slowest 8123 ms https://a.test/assets/vendor.js, failed: 503 https://a.test/api/site/"
        );
        assert_eq!(page_summary(&serde_json::json!({})), "page ?, 0 chars of text, 0 resources loaded");
    }

    #[test]
    fn chromium_maps_the_test_domains_to_the_ingress_and_trusts_no_bad_certificate() {
        let caps = capabilities(Path::new("/usr/bin/chromium"), Path::new("/tmp/p"), "ccci.test", "127.0.0.1:443".parse().unwrap());
        let args: Vec<&str> = caps["goog:chromeOptions"]["args"].as_array().unwrap().iter().filter_map(|a| a.as_str()).collect();
        assert!(args.contains(&"--host-resolver-rules=MAP *.ccci.test 127.0.0.1:443"), "{args:?}");
        assert!(args.contains(&"--user-data-dir=/tmp/p"));
        assert!(args.contains(&"--no-sandbox"));
        assert!(args.contains(&"--use-fake-device-for-media-stream") && args.contains(&"--use-fake-ui-for-media-stream"), "{args:?}");
        assert!(!caps.contains_key("acceptInsecureCerts"));
        assert!(!args.iter().any(|a| a.contains("ignore-certificate-errors")));
    }

    /// A browser environment on the testbed, with its home and artifacts in a private dir.
    fn testbed_env(test: &str) -> anyhow::Result<(crate::config::RunConfig, crate::platform::Platform, std::path::PathBuf, BrowserEnv)> {
        let config = crate::config::RunConfig::from_env()?;
        let platform = crate::testbed::platform(&config);
        let dir = std::env::temp_dir().join(format!("ccci-browser-{test}-{}", std::process::id()));
        let env = BrowserEnv {
            home_root: dir.join("home"),
            artifacts: dir.join("artifacts"),
            ca_pem: platform.ca_pem.clone(),
            chromium: config.chromium.clone(),
            chromedriver: config.chromedriver.clone(),
            domain_suffix: config.domain_suffix.clone(),
            ingress: platform.ingress,
        };
        Ok((config, platform, dir, env))
    }

    /// Needs the testbed: a body that fails on a loaded page leaves its error, and beside the
    /// screenshot the page's source and what it loaded (the proxy's 404 page, complete).
    #[tokio::test(flavor = "multi_thread")]
    async fn a_failed_session_leaves_a_screenshot_the_source_and_the_page_loads() -> anyhow::Result<()> {
        let (config, _, dir, env) = testbed_env("failed")?;
        let host = format!("no-such-app.{}", config.domain_suffix);
        let err = with_browser_in(&env, "fails", |client| async move {
            client.goto(&format!("https://{host}/")).await?;
            anyhow::Result::<()>::Err(anyhow::format_err!("the body gave up"))
        })
        .await
        .expect_err("a failing body succeeded");
        assert_eq!(err.to_string(), "the body gave up");
        let shots = env.artifacts.join("screenshots");
        let files: Vec<String> = std::fs::read_dir(&shots)?.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        let with = |ext: &str| files.iter().find(|f| f.starts_with("fails-") && f.ends_with(ext)).map(|f| shots.join(f));
        let (png, html, json) = (with(".png"), with(".html"), with(".json"));
        assert!(png.is_some_and(|p| std::fs::metadata(p).is_ok_and(|m| m.len() > 0)), "no screenshot among {files:?}");
        assert!(html.is_some_and(|p| std::fs::read_to_string(p).is_ok_and(|t| t.contains("<html"))), "no page source among {files:?}");
        let state: serde_json::Value = serde_json::from_slice(&std::fs::read(json.expect("no page state written"))?)?;
        assert_eq!(state["readyState"], "complete", "{state}");
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }

    /// Needs Chromium, chromedriver, certutil and the testbed (its CA and ingress): the
    /// proxy's own page loads over TLS verified against the testbed CA, and a host that does
    /// not resolve shows Chromium's error page, which `net_error` reads.
    #[tokio::test(flavor = "multi_thread")]
    async fn chromium_trusts_the_testbed_ca_and_reports_network_errors_by_code() -> anyhow::Result<()> {
        let (config, platform, dir, env) = testbed_env("selftest")?;
        let host = format!("no-such-app.{}", config.domain_suffix);
        let (proxy_page, proxy_error, unresolved_error) = with_browser_in(&env, "selftest", |client| async move {
            client.goto(&format!("https://{host}/")).await?;
            let page = client.source().await?;
            let proxy_error = net_error(&client).await;
            let _ = client.goto("https://nothing.invalid/").await;
            Ok((page, proxy_error, net_error(&client).await))
        })
        .await?;
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(proxy_error, None, "the testbed certificate was not trusted");
        assert!(platform.proxy.answered(404, &proxy_page), "not the proxy's page: {proxy_page}");
        assert_eq!(unresolved_error.as_deref(), Some("ERR_NAME_NOT_RESOLVED"));
        Ok(())
    }
}
