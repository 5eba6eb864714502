//! An API-version bridge between testcontainers and an older Docker engine.
//!
//! testcontainers 0.28 always speaks Docker API 1.53 and does not negotiate; Debian
//! bookworm's `docker.io` (the testbed's engine) answers at most 1.41 and refuses newer
//! clients. When the local engine is older, the process starts this bridge before `main`
//! ([`crate::hook`]) and points `DOCKER_HOST` at it. Per connection it rewrites the
//! `/v1.NN/` prefix of the request line down to the engine's version, asks for
//! `Connection: close` (so every request on the wire gets rewritten), and then splices bytes
//! both ways, so upgraded streams (exec, attach) pass through untouched. On a cc-ci host
//! with a current engine, no bridge starts.

use std::{
    io::{Read, Write},
    os::unix::net::{UnixListener, UnixStream},
    path::{Path, PathBuf},
};

pub(crate) const ENGINE_SOCKET: &str = "/var/run/docker.sock";

/// The engine's maximum API version (`"1.41"`), asked with a plain HTTP request.
pub(crate) fn engine_api_version(socket: &Path) -> Option<String> {
    let mut stream = UnixStream::connect(socket).ok()?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(3))).ok()?;
    stream.write_all(b"GET /version HTTP/1.0\r\nHost: docker\r\n\r\n").ok()?;
    let mut body = String::new();
    stream.read_to_string(&mut body).ok()?;
    let json = body.split("\r\n\r\n").nth(1)?;
    let value: serde_json::Value = serde_json::from_str(json.trim()).ok()?;
    value.get("ApiVersion")?.as_str().map(str::to_owned)
}

fn version_tuple(v: &str) -> (u32, u32) {
    let mut parts = v.split('.').map(|p| p.parse().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// The client version testcontainers (through bollard) sends.
pub(crate) fn client_api_version() -> String {
    let v = bollard::API_DEFAULT_VERSION;
    format!("{}.{}", v.major_version, v.minor_version)
}

/// Rewrites one request head: the version prefix in the request line, and
/// `Connection: close` unless the client asks for an upgrade.
pub(crate) fn rewrite_head(head: &str, engine_version: &str) -> String {
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let rewritten = match request_line.split_once(" /v1.") {
        Some((method, rest)) => match rest.split_once('/') {
            Some((minor, path)) if minor.bytes().all(|b| b.is_ascii_digit())
                && version_tuple(&format!("1.{minor}")) > version_tuple(engine_version) =>
            {
                format!("{method} /v{engine_version}/{path}")
            }
            _ => request_line.to_owned(),
        },
        None => request_line.to_owned(),
    };
    let mut out = vec![rewritten];
    let mut upgrade = false;
    for line in lines {
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("connection:") {
            upgrade |= lower.contains("upgrade");
            continue;
        }
        if lower.starts_with("upgrade:") {
            upgrade = true;
        }
        out.push(line.to_owned());
    }
    // `head` ends with "\r\n\r\n", so the last two split items are empty.
    while out.last().is_some_and(|l| l.is_empty()) {
        out.pop();
    }
    out.push(if upgrade { "Connection: Upgrade".into() } else { "Connection: close".into() });
    out.join("\r\n") + "\r\n\r\n"
}

fn serve(mut client: UnixStream, engine: &Path, engine_version: &str) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte)? == 0 {
            return Ok(());
        }
        head.push(byte[0]);
        if head.len() > 64 * 1024 {
            return Ok(());
        }
    }
    let mut upstream = UnixStream::connect(engine)?;
    upstream.write_all(rewrite_head(&String::from_utf8_lossy(&head), engine_version).as_bytes())?;
    let mut to_engine = (client.try_clone()?, upstream.try_clone()?);
    let forward = std::thread::spawn(move || {
        let _ = std::io::copy(&mut to_engine.0, &mut to_engine.1);
        let _ = to_engine.1.shutdown(std::net::Shutdown::Write);
    });
    let _ = std::io::copy(&mut upstream, &mut client);
    let _ = client.shutdown(std::net::Shutdown::Both);
    let _ = forward.join();
    Ok(())
}

/// Starts a bridge at `path` in background threads; returns once it accepts connections.
pub(crate) fn start(path: &Path, engine: PathBuf, engine_version: String) -> std::io::Result<()> {
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path)?;
    std::thread::Builder::new().name("ccci-docker-bridge".into()).spawn(move || {
        for client in listener.incoming().flatten() {
            let engine = engine.clone();
            let version = engine_version.clone();
            std::thread::spawn(move || {
                let _ = serve(client, &engine, &version);
            });
        }
    })?;
    Ok(())
}

/// If the local engine is older than testcontainers' API, starts a bridge and returns the
/// `DOCKER_HOST` value to use.
pub(crate) fn needed() -> Option<(PathBuf, String)> {
    if crate::config::docker_host_set() {
        return None;
    }
    let engine_version = engine_api_version(Path::new(ENGINE_SOCKET))?;
    if version_tuple(&engine_version) >= version_tuple(&client_api_version()) {
        return None;
    }
    let path = std::env::temp_dir().join(format!("ccci-docker-bridge-{}.sock", std::process::id()));
    Some((path, engine_version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_versions_are_rewritten_down_and_connections_closed() {
        let head = "GET /v1.53/containers/json?all=true HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n";
        let out = rewrite_head(head, "1.41");
        assert_eq!(out, "GET /v1.41/containers/json?all=true HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    }

    #[test]
    fn upgrades_and_older_versions_pass_through() {
        let head = "POST /v1.41/exec/abc/start HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n";
        let out = rewrite_head(head, "1.41");
        assert!(out.starts_with("POST /v1.41/exec/abc/start HTTP/1.1\r\n"));
        assert!(out.ends_with("Upgrade: tcp\r\nConnection: Upgrade\r\n\r\n"), "{out:?}");
        let ping = rewrite_head("HEAD /_ping HTTP/1.1\r\n\r\n", "1.41");
        assert_eq!(ping, "HEAD /_ping HTTP/1.1\r\nConnection: close\r\n\r\n");
    }
}
