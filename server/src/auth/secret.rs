//! Random tokens, their hashes and constant-time comparison: the primitives behind edge
//! tokens, run secrets, session cookies and the generated admin password.
//!
//! Tokens are 256 random bits, so a single SHA-256 is enough to store them (nothing to
//! brute-force); passwords chosen by people go through Argon2id instead (`users.rs`).

use sha2::{Digest, Sha256};

/// A SHA-256 digest.
pub type Digest256 = [u8; 32];

/// A fresh random token: 64 lowercase hex digits (256 bits from the OS's generator).
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    hex(&bytes)
}

/// SHA-256 of `text`.
pub fn sha256(text: &str) -> Digest256 {
    Sha256::digest(text.as_bytes()).into()
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses 64 hex digits into a digest.
pub fn parse_digest(text: &str) -> Option<Digest256> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// Whether `a == b`, in a time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, &x) in a.iter().enumerate() {
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_hex_and_digests_round_trip() {
        let (a, b) = (random_token(), random_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        let digest = sha256(&a);
        assert_eq!(parse_digest(&hex(&digest)), Some(digest));
        assert_eq!(parse_digest("zz"), None);
        assert_eq!(parse_digest(&"g".repeat(64)), None);
    }

    #[test]
    fn comparison_is_exact() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}
