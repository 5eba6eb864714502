//! The repo event stream, `com.atproto.sync.subscribeRepos`, read as a client does: an HTTP/1.1
//! WebSocket upgrade through the proxy (reqwest's upgraded connection), unmasked server frames
//! (RFC 6455) read by hand, each binary message two DAG-CBOR values (header `{op, t}` and the
//! event body) decoded into JSON values with CID links as their base32 string form.

use std::time::Duration;

use anyhow::Context as _;
use harness::prelude::*;
use serde_json::{Map, Value, json};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};

/// One message of the stream: the header's type (`#commit`, `#identity`, `#account` ...) and
/// the event body.
#[derive(Debug, Clone)]
pub struct Event {
    pub kind: String,
    pub body: Value,
}

/// An open subscription to a deployment's repo event stream.
pub struct Firehose {
    io: reqwest::Upgraded,
}

impl Firehose {
    /// Subscribes to the stream of `d` (live events only: no cursor).
    pub async fn subscribe(d: &Deployment) -> anyhow::Result<Firehose> {
        let platform = &d.run().platform;
        let client = AppClient::builder(d.domain(), platform.ingress, platform.ca_pem.as_deref())?.http1_only().build()?;
        let url = format!("https://{}/xrpc/com.atproto.sync.subscribeRepos", d.domain());
        let key = base64_std(&rand::random::<[u8; 16]>());
        let resp = client
            .get(&url)
            .header("Connection", "Upgrade")
            .header("Upgrade", "websocket")
            .header("Sec-WebSocket-Version", "13")
            .header("Sec-WebSocket-Key", key)
            .send()
            .await
            .with_context(|| format!("GET {url} (WebSocket upgrade)"))?;
        anyhow::ensure!(resp.status().as_u16() == 101, "subscribeRepos: HTTP {} instead of 101 Switching Protocols", resp.status());
        let io = resp.upgrade().await.context("subscribeRepos: upgrading the connection")?;
        Ok(Firehose { io })
    }

    /// The next message, or an error at `timeout` (a deadline on the read, not a sleep).
    pub async fn next(&mut self, timeout: Duration) -> anyhow::Result<Event> {
        let payload = tokio::time::timeout(timeout, read_message(&mut self.io))
            .await
            .map_err(|_| anyhow::format_err!("no message on subscribeRepos within {timeout:?}"))??;
        let (header, used) = decode(&payload).context("subscribeRepos: the frame header is not CBOR")?;
        let (body, _) = decode(&payload[used..]).context("subscribeRepos: the event body is not CBOR")?;
        anyhow::ensure!(header["op"] == 1, "subscribeRepos: error frame {header} {body}");
        Ok(Event { kind: header["t"].as_str().unwrap_or_default().to_owned(), body })
    }

    /// The first `#commit` event of `repo` that `accept`s, skipping the others, until `timeout`.
    pub async fn commit_of(&mut self, repo: &str, timeout: Duration, accept: impl Fn(&Value) -> bool) -> anyhow::Result<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut seen = vec![];
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let event = self.next(left).await.with_context(|| format!("waiting for a commit of {repo}; seen: {seen:?}"))?;
            if event.kind == "#commit" && event.body["repo"] == repo && accept(&event.body) {
                return Ok(event.body);
            }
            seen.push(format!("{} seq {} of {}", event.kind, event.body["seq"], event.body["repo"]));
        }
    }

    /// Closes the connection (a close frame, masked as a client's must be).
    pub async fn close(mut self) {
        let _ = self.io.write_all(&[0x88, 0x80, 0, 0, 0, 0]).await;
        let _ = self.io.shutdown().await;
    }
}

/// Reads frames until a complete data message; answers nothing (pings need no pong for a
/// short read).
async fn read_message<R: AsyncRead + Unpin>(io: &mut R) -> anyhow::Result<Vec<u8>> {
    let mut message = vec![];
    loop {
        let mut head = [0u8; 2];
        io.read_exact(&mut head).await.context("reading a WebSocket frame")?;
        let (fin, opcode, masked) = (head[0] & 0x80 != 0, head[0] & 0x0f, head[1] & 0x80 != 0);
        let len = match head[1] & 0x7f {
            126 => u64::from(io.read_u16().await?),
            127 => io.read_u64().await?,
            n => u64::from(n),
        };
        anyhow::ensure!(!masked, "the server sent a masked frame");
        anyhow::ensure!(len < 64 << 20, "a {len}-byte WebSocket frame");
        let mut payload = vec![0u8; len as usize];
        io.read_exact(&mut payload).await?;
        match opcode {
            0x8 => anyhow::bail!("the server closed the stream: {}", String::from_utf8_lossy(payload.get(2..).unwrap_or_default())),
            0x9 | 0xa => continue,
            _ => message.extend_from_slice(&payload),
        }
        if fin {
            return Ok(message);
        }
    }
}

/// Decodes one DAG-CBOR value at the start of `b`: the value (byte strings as
/// `{"$bytes": <len>}`, CID links, tag 42, as their `b...` base32 string) and the bytes used.
pub fn decode(b: &[u8]) -> anyhow::Result<(Value, usize)> {
    let mut at = 0;
    let v = item(b, &mut at, 0)?;
    Ok((v, at))
}

fn take<'a>(b: &'a [u8], at: &mut usize, n: usize) -> anyhow::Result<&'a [u8]> {
    let s = b.get(*at..*at + n).context("truncated CBOR")?;
    *at += n;
    Ok(s)
}

fn argument(b: &[u8], at: &mut usize, info: u8) -> anyhow::Result<u64> {
    Ok(match info {
        0..=23 => u64::from(info),
        24 => u64::from(take(b, at, 1)?[0]),
        25 => u64::from(u16::from_be_bytes(take(b, at, 2)?.try_into()?)),
        26 => u64::from(u32::from_be_bytes(take(b, at, 4)?.try_into()?)),
        27 => u64::from_be_bytes(take(b, at, 8)?.try_into()?),
        _ => anyhow::bail!("indefinite or reserved CBOR length {info} (not DAG-CBOR)"),
    })
}

fn item(b: &[u8], at: &mut usize, depth: usize) -> anyhow::Result<Value> {
    anyhow::ensure!(depth < 64, "CBOR nested too deep");
    let first = take(b, at, 1)?[0];
    let (major, info) = (first >> 5, first & 0x1f);
    if major == 7 {
        return Ok(match info {
            20 => json!(false),
            21 => json!(true),
            22 => Value::Null,
            27 => json!(f64::from_be_bytes(take(b, at, 8)?.try_into()?)),
            _ => anyhow::bail!("unsupported CBOR simple value {info}"),
        });
    }
    let n = argument(b, at, info)?;
    Ok(match major {
        0 => json!(n),
        1 => json!(-1 - n as i64),
        2 => json!({ "$bytes": take(b, at, n as usize)?.len() }),
        3 => json!(std::str::from_utf8(take(b, at, n as usize)?).context("CBOR text is not UTF-8")?),
        4 => Value::Array((0..n).map(|_| item(b, at, depth + 1)).collect::<anyhow::Result<_>>()?),
        5 => {
            let mut map = Map::new();
            for _ in 0..n {
                let key = item(b, at, depth + 1)?;
                let key = key.as_str().context("a CBOR map key that is not text")?.to_owned();
                map.insert(key, item(b, at, depth + 1)?);
            }
            Value::Object(map)
        }
        6 if n == 42 => {
            let first = take(b, at, 1)?[0];
            anyhow::ensure!(first >> 5 == 2, "CID tag on a non-bytes value");
            let len = argument(b, at, first & 0x1f)? as usize;
            let raw = take(b, at, len)?;
            anyhow::ensure!(raw.first() == Some(&0), "CID without its identity multibase prefix");
            json!(format!("b{}", base32_lower(&raw[1..])))
        }
        _ => anyhow::bail!("unsupported CBOR major type {major} (tag {n})"),
    })
}

/// RFC 4648 base32, lower case, no padding (multibase `b`).
pub fn base32_lower(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    let (mut out, mut buffer, mut bits) = (String::new(), 0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// RFC 4648 base64 with padding (the WebSocket key).
fn base64_std(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, &b)| acc | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            out.push(if i <= chunk.len() { ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char } else { '=' });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cbor_maps_texts_ints_arrays_and_links_decode() {
        // {"op": 1, "t": "#commit"} then {"a": [1, -2, true, null], "c": 42(h'00 01 71 12 00')}
        let header = [0xa2, 0x62, b'o', b'p', 0x01, 0x61, b't', 0x67, b'#', b'c', b'o', b'm', b'm', b'i', b't'];
        let (v, used) = decode(&header).unwrap();
        assert_eq!(v, json!({ "op": 1, "t": "#commit" }));
        assert_eq!(used, header.len());
        let body = [0xa2, 0x61, b'a', 0x84, 0x01, 0x21, 0xf5, 0xf6, 0x61, b'c', 0xd8, 0x2a, 0x45, 0x00, 0x01, 0x71, 0x12, 0x00];
        let (v, _) = decode(&body).unwrap();
        assert_eq!(v["a"], json!([1, -2, true, null]));
        assert_eq!(v["c"], json!(format!("b{}", base32_lower(&[0x01, 0x71, 0x12, 0x00]))));
        assert!(decode(&[0x9f]).is_err(), "indefinite lengths are not DAG-CBOR");
        assert!(decode(&[0x62, b'a']).is_err(), "truncated");
    }

    #[test]
    fn base32_and_base64_match_rfc4648_vectors() {
        assert_eq!(base32_lower(b"foobar"), "mzxw6ytboi");
        assert_eq!(base32_lower(b"f"), "my");
        assert_eq!(base64_std(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_std(b"fo"), "Zm8=");
        assert_eq!(base64_std(b"f"), "Zg==");
    }
}
