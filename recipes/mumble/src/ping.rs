//! The Mumble UDP ping: what server lists and clients ask before connecting.
//!
//! Request: 12 bytes, a zero `u32` and an 8-byte ident. Answer: 24 bytes, all big-endian:
//! the version in v1 form (`0x00MMmmpp`, the patch level capped at 255), the ident echoed,
//! the number of connected users, the maximum, and the bandwidth limit per user.

use std::{net::SocketAddr, time::Duration};

use anyhow::Context as _;
use tokio::net::UdpSocket;

use crate::proto::ServerVersion;

/// How long one attempt waits for its answer (UDP may drop a datagram; the caller retries).
const ATTEMPT: Duration = Duration::from_secs(1);

/// A decoded ping answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PingReply {
    pub version: ServerVersion,
    pub ident: u64,
    pub users: u32,
    pub max_users: u32,
    pub bandwidth: u32,
}

/// The 12-byte request.
pub fn request(ident: u64) -> [u8; 12] {
    let mut out = [0u8; 12];
    out[4..].copy_from_slice(&ident.to_be_bytes());
    out
}

/// Decodes an answer, which must echo `ident`.
pub fn parse(bytes: &[u8], ident: u64) -> anyhow::Result<PingReply> {
    anyhow::ensure!(bytes.len() == 24, "a ping answer is 24 bytes, got {}", bytes.len());
    let word = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let echoed = u64::from_be_bytes(bytes[4..12].try_into().expect("8 bytes"));
    anyhow::ensure!(echoed == ident, "the answer echoes ident {echoed:#x}, not {ident:#x}");
    Ok(PingReply { version: ServerVersion::from_v1(word(0)), ident, users: word(12), max_users: word(16), bandwidth: word(20) })
}

/// One ping: sends the request to `addr` and waits [`ATTEMPT`] for the answer.
pub async fn ping_once(addr: SocketAddr) -> anyhow::Result<PingReply> {
    let local: SocketAddr = if addr.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse().expect("an address");
    let socket = UdpSocket::bind(local).await.context("binding a UDP socket")?;
    socket.connect(addr).await.with_context(|| format!("UDP connect to {addr}"))?;
    let ident = rand::random::<u64>();
    socket.send(&request(ident)).await.with_context(|| format!("sending a ping to {addr}"))?;
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(ATTEMPT, socket.recv(&mut buf))
        .await
        .with_context(|| format!("no ping answer from {addr} within {ATTEMPT:?}"))?
        .with_context(|| format!("receiving the ping answer from {addr}"))?;
    parse(&buf[..n], ident)
}

/// Pings until an answer comes, at most `timeout`.
pub async fn ping(addr: SocketAddr, timeout: Duration) -> anyhow::Result<PingReply> {
    let reply = harness::converge(&format!("a UDP ping answer from {addr}"), timeout, Duration::from_millis(100), || async {
        ping_once(addr).await.map_err(|e| format!("{e:#}"))
    })
    .await?;
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_is_four_zero_bytes_and_the_ident() {
        assert_eq!(request(0x0102_0304_0506_0708), [0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn an_answer_decodes_and_must_echo_the_ident() {
        let mut answer = vec![0, 1, 3, 4];
        answer.extend_from_slice(&42u64.to_be_bytes());
        for word in [2u32, 100, 72000] {
            answer.extend_from_slice(&word.to_be_bytes());
        }
        let reply = parse(&answer, 42).unwrap();
        assert_eq!(reply.version.to_string(), "1.3.4");
        assert_eq!((reply.users, reply.max_users, reply.bandwidth), (2, 100, 72000));
        assert!(parse(&answer, 43).is_err());
        assert!(parse(&answer[..20], 42).is_err());
    }
}
