//! Small helpers every recipe suite needs for its test data: random name tags, the upstream
//! part of a Co-op Cloud recipe version, percent-encoding of one URL component, sha256
//! digests, and PNG images made in memory (for upload round trips). They lived as copies in each recipe crate; they live here once.

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

/// A `width` x `height` RGB PNG: a gradient shifted by `seed` (unfiltered rows, stored
/// deflate blocks), so that every seed gives different bytes.
pub fn png(width: u32, height: u32, seed: u8) -> Vec<u8> {
    let mut raw = Vec::with_capacity(((width * 3 + 1) * height) as usize);
    for y in 0..height {
        raw.push(0); // filter: none
        for x in 0..width {
            raw.extend([(x * 255 / width.max(1)) as u8 ^ seed, (y * 255 / height.max(1)) as u8, ((x + y) % 256) as u8 ^ seed.rotate_left(3)]);
        }
    }
    let mut z = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65535).collect();
    for (i, block) in blocks.iter().enumerate() {
        z.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        z.extend(len.to_le_bytes());
        z.extend((!len).to_le_bytes());
        z.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for byte in &raw {
        a = (a + u32::from(*byte)) % 65521;
        b = (b + a) % 65521;
    }
    z.extend(((b << 16) | a).to_be_bytes());
    let mut png = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    let mut ihdr = Vec::new();
    ihdr.extend(width.to_be_bytes());
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    for (kind, data) in [(b"IHDR", &ihdr[..]), (b"IDAT", &z[..]), (b"IEND", &[][..])] {
        png.extend((data.len() as u32).to_be_bytes());
        let start = png.len();
        png.extend_from_slice(kind);
        png.extend_from_slice(data);
        let crc = crc32(&png[start..]);
        png.extend(crc.to_be_bytes());
    }
    png
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for byte in bytes {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// The dimensions in a PNG's IHDR, or `None` if `bytes` is not a PNG.
pub fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    if bytes.len() < 24 || &bytes[..8] != b"\x89PNG\r\n\x1a\n" || &bytes[12..16] != b"IHDR" {
        return None;
    }
    Some((u32::from_be_bytes(bytes[16..20].try_into().ok()?), u32::from_be_bytes(bytes[20..24].try_into().ok()?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_png_is_well_formed_has_its_size_and_differs_by_seed() {
        let img = png(300, 200, 7);
        assert_eq!(&img[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(png_size(&img), Some((300, 200)));
        assert_eq!(u32::from_be_bytes(img[29..33].try_into().unwrap()), crc32(&img[12..29]), "the IHDR chunk's CRC");
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926, "the CRC-32 check value");
        assert_ne!(png(64, 48, 1), png(64, 48, 2));
        assert_eq!(png_size(b"not a png"), None);
    }

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
