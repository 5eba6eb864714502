//! What the mumble suite knows about the recipe: the Mumble server (`app`) is reached the way
//! users reach it, on the Traefik `mumble` entrypoint (TCP, TLS spoken by the server itself)
//! and `mumble-udp` (the UDP ping), port [`MUMBLE_PORT`] of the proxy's address; normal users
//! log in with the `server_password` secret, `SuperUser` with `superuser_password`; all state
//! (channels, registrations, the server's certificate) is one SQLite database on the `data`
//! volume, copied and swapped back by the recipe's backupbot hooks.
//!
//! The protocol client is this crate's own ([`client`], [`proto`], [`ping`]): TLS with
//! tokio-rustls on the workspace's rustls, protobuf messages with prost derive macros.

pub mod client;
pub mod ping;
pub mod proto;

use std::{net::SocketAddr, time::Duration};

use anyhow::Context as _;
use harness::prelude::*;

pub use harness::fixture::{tag};

pub use client::{Client, Connect, Login, ServerState};
pub use ping::PingReply;
pub use proto::{RejectType, ServerVersion};

/// The secret normal users give as their password.
pub const SERVER_PASSWORD_SECRET: &str = "server_password";
/// The secret holding SuperUser's password (set with `-supw` at every start).
pub const SUPERUSER_PASSWORD_SECRET: &str = "superuser_password";
/// The server's built-in administrator.
pub const SUPERUSER: &str = "SuperUser";
/// The port of the `mumble` (TCP) and `mumble-udp` (UDP) entrypoints, on the address every app
/// domain resolves to: the testbed ingress's (testbed/proxy/entrypoints.toml), as the Co-op
/// Cloud Traefik recipe publishes them.
pub const MUMBLE_PORT: u16 = 64738;
/// `MUMBLE_CONFIG_USERS` when the app's `.env` does not set `MAX_USERS`.
pub const DEFAULT_MAX_USERS: u32 = 100;

/// How long a login may keep failing at the connection level (a route being reloaded, a
/// server restarting after a restore) before it is an error.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

/// Where users reach the server: the `mumble` entrypoint of the proxy the app's domain
/// resolves to. (The harness has no accessor for a TCP/UDP entrypoint's address; the ingress
/// address it resolves app domains to is the proxy's, and the entrypoint's port is the
/// recipe's.)
pub fn address(d: &Deployment) -> SocketAddr {
    SocketAddr::new(d.run().platform.ingress.ip(), MUMBLE_PORT)
}

/// A generated secret of the deployment, by compose name.
pub fn secret(d: &Deployment, name: &str) -> anyhow::Result<Secret> {
    Ok(d.secret(name).with_context(|| format!("{} has no {name} secret", d.stack()))?.clone())
}

/// The maximum number of users the app is configured for.
pub fn max_users(d: &Deployment) -> anyhow::Result<u32> {
    match d.env().get("MAX_USERS") {
        Some(v) => v.trim_matches('"').parse().with_context(|| format!("MAX_USERS={v:?}")),
        None => Ok(DEFAULT_MAX_USERS),
    }
}

/// Logs in as `username` with `password`, retrying connection failures (not refusals) for up to
/// a minute.
pub async fn login(d: &Deployment, username: &str, password: Option<Secret>) -> anyhow::Result<Login> {
    let to = Connect { addr: address(d), host: d.domain().to_owned(), username: username.to_owned(), password };
    let login = harness::converge(&format!("{username} to log in to {} at {}", d.stack(), to.addr), harness::scaled(CONNECT_TIMEOUT), Duration::from_millis(200), || {
        let to = to.clone();
        async move { Client::connect(&to).await.map_err(|e| format!("{e:#}")) }
    })
    .await?;
    Ok(login)
}

/// A normal user, with the server password, in the root channel.
pub async fn join(d: &Deployment, username: &str) -> anyhow::Result<Client> {
    login(d, username, Some(secret(d, SERVER_PASSWORD_SECRET)?)).await?.joined().with_context(|| format!("{username} joining {}", d.stack()))
}

/// SuperUser, with the password from the recipe's secret.
pub async fn join_superuser(d: &Deployment) -> anyhow::Result<Client> {
    login(d, SUPERUSER, Some(secret(d, SUPERUSER_PASSWORD_SECRET)?)).await?.joined().with_context(|| format!("SuperUser joining {}", d.stack()))
}

/// The UDP ping through the `mumble-udp` entrypoint.
pub async fn ping(d: &Deployment) -> anyhow::Result<PingReply> {
    ping::ping(address(d), Duration::from_secs(30)).await
}

/// The server version of a recipe version: `2.0.0+1.5.735` -> 1.5.735.
pub fn upstream_version(recipe_version: &str) -> anyhow::Result<ServerVersion> {
    ServerVersion::parse(harness::fixture::upstream_version(recipe_version)?)
}

/// The backup and upgrade marker: a permanent channel SuperUser creates under the root, with a
/// random name and description. Read back by a normal user from the channel tree the server
/// sends at login: `None` when the server (which answered the login) has no such channel.
pub struct ChannelMarker {
    pub name: String,
    description: String,
}

impl ChannelMarker {
    pub fn new() -> ChannelMarker {
        let t = tag();
        ChannelMarker { name: format!("marker-{t}"), description: format!("ccci marker {}", hex::encode(rand::random::<[u8; 12]>())) }
    }

    fn bytes(name: &str, description: Option<&str>) -> Vec<u8> {
        format!("{name}\n{}", description.unwrap_or("(no description)")).into_bytes()
    }
}

impl Default for ChannelMarker {
    fn default() -> Self {
        ChannelMarker::new()
    }
}

impl DataProbe for ChannelMarker {
    fn describe(&self) -> String {
        format!("permanent channel {}", self.name)
    }

    async fn seed(&mut self, d: &Deployment) -> anyhow::Result<Vec<u8>> {
        let mut admin = join_superuser(d).await?;
        admin.create_channel(0, &self.name, &self.description, false).await?;
        let name = self.name.clone();
        admin.wait_until(&format!("channel {name} to be created"), Duration::from_secs(20), |s| s.channel_named(&name).is_some()).await?;
        let created = admin.state.channel_named(&self.name).expect("just seen").clone();
        anyhow::ensure!(!created.temporary && created.parent == Some(0), "the marker channel is not a permanent child of the root: {created:?}");
        admin.disconnect().await?;
        Ok(ChannelMarker::bytes(&self.name, Some(&self.description)))
    }

    async fn read(&self, d: &Deployment) -> anyhow::Result<Option<Vec<u8>>> {
        let reader = join(d, &format!("reader-{}", tag())).await?;
        // The whole channel tree comes before ServerSync: the login's state is complete.
        let found = reader.state.channel_named(&self.name).map(|c| ChannelMarker::bytes(&c.name, c.description.as_deref()));
        reader.disconnect().await?;
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_version_is_the_upstream_part_of_the_recipe_version() {
        assert_eq!(upstream_version("2.0.0+1.5.735").unwrap().to_string(), "1.5.735");
        assert_eq!(upstream_version("2.0.0+1.5.735+chaos-abc1234").unwrap().to_string(), "1.5.735");
        assert!(upstream_version("2.0.0").is_err());
    }
}
