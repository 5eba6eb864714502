//! Small helpers every recipe suite needs for its test data: random name tags, the upstream
//! part of a Co-op Cloud recipe version, percent-encoding of one URL component, and sha256
//! digests. They lived as copies in each recipe crate; they live here once.

use sha2::{Digest as _, Sha256};

/// A short random tag (8 hex characters) for names that must not collide within a run.
pub fn tag() -> String {
    hex::encode(rand::random::<[u8; 4]>())
}

/// The upstream app version of a recipe version: `10.5.0+26.5.6` -> `26.5.6` (and a head's
/// `1.1.0+1.22.1+chaos-abc1234` -> `1.22.1`).
pub fn upstream_version(recipe_version: &str) -> anyhow::Result<&str> {
    recipe_version
        .split('+')
        .nth(1)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| anyhow::format_err!("recipe version {recipe_version:?} has no +<upstream version>"))
}

/// Percent-encodes one path segment or query value (everything but RFC 3986's unreserved).
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The sha256 of `bytes`, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_upstream_version_is_the_part_after_the_first_plus() {
        assert_eq!(upstream_version("10.5.0+26.5.6").unwrap(), "26.5.6");
        assert_eq!(upstream_version("1.1.0+1.22.1+chaos-abc1234").unwrap(), "1.22.1");
        assert!(upstream_version("1.0.0").is_err() && upstream_version("1.0.0+").is_err());
    }

    #[test]
    fn encoding_keeps_only_unreserved_characters_and_tags_differ() {
        assert_eq!(encode("a b/c~d@e"), "a%20b%2Fc~d%40e");
        assert_eq!(sha256_hex(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(tag().len(), 8);
        assert_ne!(tag(), tag());
    }
}
