//! Readiness as data: the one implementation of `recipe.toml` `[ready]`.
//!
//! A converged stack and a routed port are not an app that serves (e.g. an identity provider
//! answers 404/503 for a while after its port opens, e.g. a homeserver migrates its database
//! first). Every deployment
//! (own, shared, dependency, after an upgrade, a restore or a restart) waits here on its
//! recipe's own signal, so no suite calls a readiness helper and no missed call flakes.

use std::time::Duration;

/// One readiness request may take this long: a request that hangs (the proxy dialling a
/// task that is gone) is one failed look, retried at once, not the client's 30 s timeout.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);

use crate::{
    error::{HarnessError, Result},
    http::AppClient,
    platform::Proxy,
    poll::{Step, poll},
    recipe::ReadySection,
    swarm::Swarm,
};

/// What a readiness probe needs to reach the app.
pub(super) struct Probe<'a> {
    pub swarm: &'a Swarm,
    pub http: &'a AppClient,
    pub proxy: &'a dyn Proxy,
    pub stack: &'a str,
    pub domain: &'a str,
}

/// Waits until the app passes `ready`, at most `timeout` (or the section's own).
pub(super) async fn wait(p: &Probe<'_>, ready: &ReadySection, timeout: Duration, every: Duration) -> Result<()> {
    let timeout = ready.timeout_secs.map(Duration::from_secs).unwrap_or(timeout);
    let what = describe(p, ready);
    poll(&what, timeout, every, || async { check(p, ready).await }).await
}

/// Waits until `GET /` reaches the app rather than the proxy (no route yet, no backend):
/// for routed apps without a `[ready]` of their own.
pub(super) async fn wait_routed(p: &Probe<'_>, timeout: Duration, every: Duration) -> Result<()> {
    poll(&format!("{} to be routed to the app", p.http.url("/")), timeout, every, || async {
        match p.http.get("/").timeout(ATTEMPT_TIMEOUT).send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let body = resp.text().await.unwrap_or_default();
                if p.proxy.answered(status, &body) {
                    Step::Pending(format!("{} answered {status}: {}", p.proxy.name(), snippet(&body)))
                } else {
                    Step::Done(())
                }
            }
            Err(e) => Step::Pending(format!("{e:#}")),
        }
    })
    .await
}

/// One look, no waiting: routed past the proxy (when `routed`) and, if the recipe has one,
/// its `[ready]` signal answered.
pub(super) async fn ready_now(p: &Probe<'_>, routed: bool, ready: Option<&ReadySection>) -> bool {
    if routed {
        match p.http.get("/").timeout(ATTEMPT_TIMEOUT).send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let body = resp.text().await.unwrap_or_default();
                if p.proxy.answered(status, &body) {
                    return false;
                }
            }
            Err(_) => return false,
        }
    }
    match ready {
        Some(spec) => matches!(check(p, spec).await, Step::Done(())),
        None => true,
    }
}

fn describe(p: &Probe<'_>, ready: &ReadySection) -> String {
    match (&ready.http, ready.tcp, &ready.log) {
        (Some(path), _, _) => format!("{} to be ready", p.http.url(path)),
        (_, Some(port), _) => format!("{}_{} to accept TCP on port {port}", p.stack, ready.service),
        (_, _, Some(line)) => format!("{}_{} to log {line:?}", p.stack, ready.service),
        _ => format!("{} to be ready", p.stack),
    }
}

async fn check(p: &Probe<'_>, ready: &ReadySection) -> Step<()> {
    if let Some(path) = &ready.http {
        return check_http(p, ready, path).await;
    }
    let service = format!("{}_{}", p.stack, ready.service);
    if let Some(port) = ready.tcp {
        let container = match p.swarm.running_container(&service).await {
            Ok(c) => c,
            Err(e) => return Step::Pending(e.to_string()),
        };
        // From inside the service's container: its own network namespace, no published port
        // needed. bash's /dev/tcp, else netcat.
        let script = format!("(exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null || nc -z 127.0.0.1 {port}");
        return match p.swarm.exec(&container, &["sh", "-c", &script]).await {
            Ok(out) if out.exit_code == 0 => Step::Done(()),
            Ok(out) => Step::Pending(format!("port {port} closed (exit {})", out.exit_code)),
            Err(e) => Step::Pending(e.to_string()),
        };
    }
    if let Some(line) = &ready.log {
        let logs = p.swarm.service_logs(&service, 2000).await;
        return if logs.iter().any(|l| l.contains(line.as_str())) {
            Step::Done(())
        } else {
            Step::Pending(format!("not logged yet; last: {}", logs.last().map(|l| snippet(l)).unwrap_or_default()))
        };
    }
    Step::Fail(HarnessError::Config("[ready] names no probe".into()))
}

async fn check_http(p: &Probe<'_>, ready: &ReadySection, path: &str) -> Step<()> {
    let resp = match p.http.get(path).timeout(ATTEMPT_TIMEOUT).send().await {
        Ok(resp) => resp,
        Err(e) => return Step::Pending(format!("{e:#}")),
    };
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap_or_default();
    if p.proxy.answered(status, &body) {
        return Step::Pending(format!("{} answered {status}: {}", p.proxy.name(), snippet(&body)));
    }
    let want = ready.status.unwrap_or(200);
    if status != want {
        return Step::Pending(format!("HTTP {status} (want {want}): {}", snippet(&body)));
    }
    if let Some(needle) = &ready.body_contains
        && !body.contains(&needle.replace("${DOMAIN}", p.domain))
    {
        return Step::Pending(format!("body lacks {needle:?}: {}", snippet(&body)));
    }
    if let Some(pointer) = &ready.json_pointer {
        let Ok(doc) = serde_json::from_str::<serde_json::Value>(&body) else {
            return Step::Pending(format!("not JSON: {}", snippet(&body)));
        };
        let Some(found) = doc.pointer(pointer) else {
            return Step::Pending(format!("no {pointer} in {}", snippet(&body)));
        };
        if let Some(expected) = &ready.json_value {
            let expected = substitute(expected, p.domain);
            if *found != expected {
                return Step::Pending(format!("{pointer} is {found}, want {expected}"));
            }
        }
    }
    Step::Done(())
}

fn substitute(value: &serde_json::Value, domain: &str) -> serde_json::Value {
    match value {
        serde_json::Value::String(s) => serde_json::Value::String(s.replace("${DOMAIN}", domain)),
        other => other.clone(),
    }
}

fn snippet(text: &str) -> String {
    text.trim().chars().take(100).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_domain_placeholder_is_filled_in_strings_only() {
        let v = serde_json::json!("https://${DOMAIN}/realms/master");
        assert_eq!(substitute(&v, "kc.ccci.test"), serde_json::json!("https://kc.ccci.test/realms/master"));
        assert_eq!(substitute(&serde_json::json!(3), "x"), serde_json::json!(3));
    }
}
