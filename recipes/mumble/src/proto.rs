//! The Mumble control protocol's messages, as far as this suite speaks them.
//!
//! On the TLS control channel every message is a frame: a 2-byte big-endian type, a 4-byte
//! big-endian payload length, and the payload, a protobuf message (proto2) of that type. The
//! types are the positions of the messages in the protocol's `Mumble.proto` (Version = 0,
//! UDPTunnel = 1, Authenticate = 2, ...). Only the messages and fields this client needs are
//! defined here, with the field numbers of the protocol; protobuf ignores the fields a side
//! does not know, so a partial definition reads every server's messages.

use anyhow::Context as _;

/// A frame's payload may not be larger than this (the server's own limit is 8 MiB).
pub const MAX_PAYLOAD: usize = 8 * 1024 * 1024;

/// Message types (the frame header's first two bytes).
pub mod kind {
    pub const VERSION: u16 = 0;
    pub const UDP_TUNNEL: u16 = 1;
    pub const AUTHENTICATE: u16 = 2;
    pub const PING: u16 = 3;
    pub const REJECT: u16 = 4;
    pub const SERVER_SYNC: u16 = 5;
    pub const CHANNEL_REMOVE: u16 = 6;
    pub const CHANNEL_STATE: u16 = 7;
    pub const USER_REMOVE: u16 = 8;
    pub const USER_STATE: u16 = 9;
    pub const TEXT_MESSAGE: u16 = 11;
    pub const PERMISSION_DENIED: u16 = 12;
    pub const SERVER_CONFIG: u16 = 24;
}

/// `Version`: each side's version, sent first by both.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Version {
    /// `0x00MMmmpp` (patch capped at 255 by servers from 1.5 on).
    #[prost(uint32, optional, tag = "1")]
    pub version_v1: Option<u32>,
    #[prost(string, optional, tag = "2")]
    pub release: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub os: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub os_version: Option<String>,
    /// From 1.5 on: major << 48 | minor << 32 | patch << 16.
    #[prost(uint64, optional, tag = "5")]
    pub version_v2: Option<u64>,
}

/// `Authenticate`: the client's user name and password (the server password, or the
/// registered user's own, e.g. SuperUser's).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Authenticate {
    #[prost(string, optional, tag = "1")]
    pub username: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub password: Option<String>,
    #[prost(string, repeated, tag = "3")]
    pub tokens: Vec<String>,
    #[prost(bool, optional, tag = "5")]
    pub opus: Option<bool>,
}

/// `Ping` on the control channel: the keepalive (the server drops a silent client after 30 s).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Ping {
    #[prost(uint64, optional, tag = "1")]
    pub timestamp: Option<u64>,
}

/// `Reject`: the server refuses the connection, and closes it.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Reject {
    /// A [`RejectType`] value.
    #[prost(int32, optional, tag = "1")]
    pub r#type: Option<i32>,
    #[prost(string, optional, tag = "2")]
    pub reason: Option<String>,
}

/// `Reject.RejectType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectType {
    None,
    WrongVersion,
    InvalidUsername,
    WrongUserPw,
    WrongServerPw,
    UsernameInUse,
    ServerFull,
    NoCertificate,
    AuthenticatorFail,
    Other(i32),
}

impl RejectType {
    pub fn from_wire(value: Option<i32>) -> RejectType {
        match value.unwrap_or(0) {
            0 => RejectType::None,
            1 => RejectType::WrongVersion,
            2 => RejectType::InvalidUsername,
            3 => RejectType::WrongUserPw,
            4 => RejectType::WrongServerPw,
            5 => RejectType::UsernameInUse,
            6 => RejectType::ServerFull,
            7 => RejectType::NoCertificate,
            8 => RejectType::AuthenticatorFail,
            other => RejectType::Other(other),
        }
    }
}

/// `ServerSync`: the end of the login; the client's session id.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ServerSync {
    #[prost(uint32, optional, tag = "1")]
    pub session: Option<u32>,
    #[prost(uint32, optional, tag = "2")]
    pub max_bandwidth: Option<u32>,
    #[prost(string, optional, tag = "3")]
    pub welcome_text: Option<String>,
    #[prost(uint64, optional, tag = "4")]
    pub permissions: Option<u64>,
}

/// `ChannelRemove`: a channel is gone (sent by the server), or remove it (sent by a client).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ChannelRemove {
    #[prost(uint32, required, tag = "1")]
    pub channel_id: u32,
}

/// `ChannelState`: a channel as the server announces it; sent by a client without
/// `channel_id`, a request to create one.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ChannelState {
    #[prost(uint32, optional, tag = "1")]
    pub channel_id: Option<u32>,
    #[prost(uint32, optional, tag = "2")]
    pub parent: Option<u32>,
    #[prost(string, optional, tag = "3")]
    pub name: Option<String>,
    #[prost(string, optional, tag = "5")]
    pub description: Option<String>,
    #[prost(bool, optional, tag = "8")]
    pub temporary: Option<bool>,
    #[prost(int32, optional, tag = "9")]
    pub position: Option<i32>,
}

/// `UserRemove`: a user left (or was kicked).
#[derive(Clone, PartialEq, prost::Message)]
pub struct UserRemove {
    #[prost(uint32, required, tag = "1")]
    pub session: u32,
    #[prost(uint32, optional, tag = "2")]
    pub actor: Option<u32>,
    #[prost(string, optional, tag = "3")]
    pub reason: Option<String>,
}

/// `UserState`: a connected user (its session) and the channel it is in (absent: unchanged,
/// or the root channel in the first state of a user).
#[derive(Clone, PartialEq, prost::Message)]
pub struct UserState {
    #[prost(uint32, optional, tag = "1")]
    pub session: Option<u32>,
    #[prost(uint32, optional, tag = "2")]
    pub actor: Option<u32>,
    #[prost(string, optional, tag = "3")]
    pub name: Option<String>,
    /// Registered users only (SuperUser is 0).
    #[prost(uint32, optional, tag = "4")]
    pub user_id: Option<u32>,
    #[prost(uint32, optional, tag = "5")]
    pub channel_id: Option<u32>,
}

/// `TextMessage`: a chat message to sessions, channels or channel trees.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TextMessage {
    #[prost(uint32, optional, tag = "1")]
    pub actor: Option<u32>,
    #[prost(uint32, repeated, packed = "false", tag = "2")]
    pub session: Vec<u32>,
    #[prost(uint32, repeated, packed = "false", tag = "3")]
    pub channel_id: Vec<u32>,
    #[prost(uint32, repeated, packed = "false", tag = "4")]
    pub tree_id: Vec<u32>,
    #[prost(string, required, tag = "5")]
    pub message: String,
}

/// `PermissionDenied`: the server refused what the client asked.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PermissionDenied {
    #[prost(uint32, optional, tag = "1")]
    pub permission: Option<u32>,
    #[prost(uint32, optional, tag = "2")]
    pub channel_id: Option<u32>,
    #[prost(uint32, optional, tag = "3")]
    pub session: Option<u32>,
    #[prost(string, optional, tag = "4")]
    pub reason: Option<String>,
    /// `DenyType`: 0 Text, 1 Permission, 2 SuperUser, 3 ChannelName, ...
    #[prost(int32, optional, tag = "5")]
    pub r#type: Option<i32>,
    #[prost(string, optional, tag = "6")]
    pub name: Option<String>,
}

/// `ServerConfig`: limits the server announces after the login.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ServerConfig {
    #[prost(uint32, optional, tag = "1")]
    pub max_bandwidth: Option<u32>,
    #[prost(string, optional, tag = "2")]
    pub welcome_text: Option<String>,
    #[prost(bool, optional, tag = "3")]
    pub allow_html: Option<bool>,
    #[prost(uint32, optional, tag = "4")]
    pub message_length: Option<u32>,
    #[prost(uint32, optional, tag = "6")]
    pub max_users: Option<u32>,
}

/// A message from the server, decoded (the ones this client does not use are `Other`).
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    Version(Version),
    Ping(Ping),
    Reject(Reject),
    ServerSync(ServerSync),
    ChannelRemove(ChannelRemove),
    ChannelState(ChannelState),
    UserRemove(UserRemove),
    UserState(UserState),
    TextMessage(TextMessage),
    PermissionDenied(PermissionDenied),
    ServerConfig(ServerConfig),
    Other(u16),
}

/// Decodes a frame's payload of type `kind`.
pub fn decode(kind: u16, payload: &[u8]) -> anyhow::Result<Incoming> {
    fn de<M: prost::Message + Default>(name: &str, payload: &[u8]) -> anyhow::Result<M> {
        M::decode(payload).with_context(|| format!("decoding a {name} message ({} bytes)", payload.len()))
    }
    Ok(match kind {
        kind::VERSION => Incoming::Version(de("Version", payload)?),
        kind::PING => Incoming::Ping(de("Ping", payload)?),
        kind::REJECT => Incoming::Reject(de("Reject", payload)?),
        kind::SERVER_SYNC => Incoming::ServerSync(de("ServerSync", payload)?),
        kind::CHANNEL_REMOVE => Incoming::ChannelRemove(de("ChannelRemove", payload)?),
        kind::CHANNEL_STATE => Incoming::ChannelState(de("ChannelState", payload)?),
        kind::USER_REMOVE => Incoming::UserRemove(de("UserRemove", payload)?),
        kind::USER_STATE => Incoming::UserState(de("UserState", payload)?),
        kind::TEXT_MESSAGE => Incoming::TextMessage(de("TextMessage", payload)?),
        kind::PERMISSION_DENIED => Incoming::PermissionDenied(de("PermissionDenied", payload)?),
        kind::SERVER_CONFIG => Incoming::ServerConfig(de("ServerConfig", payload)?),
        other => Incoming::Other(other),
    })
}

/// One frame: header and payload.
pub fn frame(kind: u16, message: &impl prost::Message) -> Vec<u8> {
    let len = message.encoded_len();
    let mut out = Vec::with_capacity(6 + len);
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&u32::try_from(len).expect("a message under 4 GiB").to_be_bytes());
    message.encode(&mut out).expect("a Vec grows as needed");
    out
}

/// Splits a frame header into (type, payload length), refusing absurd lengths.
pub fn header(bytes: [u8; 6]) -> anyhow::Result<(u16, usize)> {
    let kind = u16::from_be_bytes([bytes[0], bytes[1]]);
    let len = u32::from_be_bytes([bytes[2], bytes[3], bytes[4], bytes[5]]) as usize;
    anyhow::ensure!(len <= MAX_PAYLOAD, "a frame of type {kind} announces {len} bytes, over the {MAX_PAYLOAD}-byte limit");
    Ok((kind, len))
}

/// A server version, from either encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServerVersion {
    pub major: u16,
    pub minor: u16,
    pub patch: u16,
}

impl ServerVersion {
    /// `1.5.735` -> 1.5.735.
    pub fn parse(text: &str) -> anyhow::Result<ServerVersion> {
        let parts: Vec<u16> = text.split('.').map(str::parse).collect::<Result<_, _>>().with_context(|| format!("version {text:?}"))?;
        match parts[..] {
            [major, minor, patch] => Ok(ServerVersion { major, minor, patch }),
            _ => anyhow::bail!("version {text:?} is not major.minor.patch"),
        }
    }

    /// The `Version` message's version: v2 when the server sends it (1.5+), else v1.
    pub fn from_message(v: &Version) -> Option<ServerVersion> {
        if let Some(v2) = v.version_v2 {
            return Some(ServerVersion { major: (v2 >> 48) as u16, minor: (v2 >> 32) as u16, patch: (v2 >> 16) as u16 });
        }
        v.version_v1.map(ServerVersion::from_v1)
    }

    /// `0x00MMmmpp`.
    pub fn from_v1(v1: u32) -> ServerVersion {
        ServerVersion { major: (v1 >> 16) as u16, minor: ((v1 >> 8) & 0xff) as u16, patch: (v1 & 0xff) as u16 }
    }

    /// As the v1 encoding carries it: the patch level is capped at 255.
    pub fn as_v1(self) -> ServerVersion {
        ServerVersion { patch: self.patch.min(255), ..self }
    }

    pub fn v1(self) -> u32 {
        (u32::from(self.major) << 16) | (u32::from(self.minor.min(255)) << 8) | u32::from(self.patch.min(255))
    }

    pub fn v2(self) -> u64 {
        (u64::from(self.major) << 48) | (u64::from(self.minor) << 32) | (u64::from(self.patch) << 16)
    }
}

impl std::fmt::Display for ServerVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;

    #[test]
    fn a_frame_is_type_length_and_the_protobuf_payload() {
        let msg = Ping { timestamp: Some(300) };
        let bytes = frame(kind::PING, &msg);
        // field 1, varint: 0x08, then 300 as a varint (0xac 0x02).
        assert_eq!(bytes, [0, 3, 0, 0, 0, 3, 0x08, 0xac, 0x02]);
        let (k, len) = header(bytes[..6].try_into().unwrap()).unwrap();
        assert_eq!((k, len), (kind::PING, 3));
        assert_eq!(decode(k, &bytes[6..]).unwrap(), Incoming::Ping(msg));
    }

    #[test]
    fn repeated_ids_are_sent_unpacked_as_proto2_declares_them() {
        let msg = TextMessage { actor: None, session: vec![], channel_id: vec![0, 7], tree_id: vec![], message: "hi".into() };
        let mut buf = Vec::new();
        msg.encode(&mut buf).unwrap();
        // channel_id (field 3, varint) twice, then message (field 5, length-delimited).
        assert_eq!(buf, [0x18, 0, 0x18, 7, 0x2a, 2, b'h', b'i']);
    }

    #[test]
    fn an_oversized_frame_is_refused() {
        assert!(header([0, 7, 0x7f, 0, 0, 0]).is_err());
    }

    #[test]
    fn versions_read_from_either_encoding() {
        let v = ServerVersion::parse("1.5.735").unwrap();
        assert_eq!(ServerVersion::from_message(&Version { version_v2: Some(v.v2()), version_v1: Some(v.v1()), ..Default::default() }), Some(v));
        assert_eq!(ServerVersion::from_v1(0x0001_0304), ServerVersion::parse("1.3.4").unwrap());
        assert_eq!(ServerVersion::from_v1(v.v1()), v.as_v1());
        assert_eq!(v.as_v1().to_string(), "1.5.255");
        assert!(ServerVersion::parse("1.5").is_err());
    }

    #[test]
    fn reject_types_are_named() {
        assert_eq!(RejectType::from_wire(Some(4)), RejectType::WrongServerPw);
        assert_eq!(RejectType::from_wire(Some(42)), RejectType::Other(42));
    }
}
