//! Dashboard users: the `--users-file` format, `user add`, and password checks.
//!
//! One line per user, `NAME:PHC` where PHC is an Argon2id hash string
//! (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`). Names are 1..=64 bytes of
//! `[A-Za-z0-9._-]`. Passwords never touch the disk or the log in clear.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use super::edge_tokens::write_private;

/// Longest password accepted, in bytes (Argon2 takes any length; this bounds the work a
/// request can ask for).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Shortest password `user add` accepts.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// The users of a users file and their password hashes.
#[derive(Debug, Default, Clone)]
pub struct Users {
    by_name: HashMap<String, String>,
}

impl Users {
    /// Parses the file's text; a malformed line is an error naming its number.
    pub fn parse(text: &str) -> anyhow::Result<Users> {
        let mut by_name = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((name, hash)) = line.split_once(':') else {
                bail!("line {}: expected NAME:ARGON2-HASH", i + 1);
            };
            check_name(name).with_context(|| format!("line {}", i + 1))?;
            PasswordHash::new(hash)
                .map_err(|e| anyhow::anyhow!("line {}: not a password hash: {e}", i + 1))?;
            by_name.insert(name.to_owned(), hash.to_owned());
        }
        Ok(Users { by_name })
    }

    /// Whether `password` is `name`'s. Slow on purpose (Argon2id, tens of milliseconds):
    /// call it off the async runtime. An unknown name costs the same as a wrong password.
    pub fn verify(&self, name: &str, password: &str) -> bool {
        if password.len() > MAX_PASSWORD_BYTES {
            return false;
        }
        let known = self.by_name.get(name);
        let stored = known.map_or(DUMMY_HASH.as_str(), String::as_str);
        let Ok(hash) = PasswordHash::new(stored) else {
            return false;
        };
        let ok = Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok();
        ok && known.is_some()
    }

    /// Whether no user is listed.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

/// A hash nobody's password matches, verified for unknown names so that response time
/// does not tell which names exist.
static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| hash_password("not a password of anyone").unwrap_or_default());

/// The Argon2id PHC string of `password`, with a fresh random salt.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes)
        .map_err(|e| anyhow::anyhow!("encoding the salt: {e}"))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))
}

/// Adds `name` with `password` to the users file (creating it, mode 0600), or replaces
/// the password of an existing `name`.
pub fn add(path: &Path, name: &str, password: &str) -> anyhow::Result<()> {
    check_name(name)?;
    if password.chars().count() < MIN_PASSWORD_CHARS {
        bail!("the password must be at least {MIN_PASSWORD_CHARS} characters");
    }
    if password.len() > MAX_PASSWORD_BYTES {
        bail!("the password must be at most {MAX_PASSWORD_BYTES} bytes");
    }
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    Users::parse(&text).with_context(|| format!("parsing {}", path.display()))?;
    let mut kept: String = text
        .lines()
        .filter(|line| line.split_once(':').is_none_or(|(n, _)| n != name))
        .map(|line| format!("{line}\n"))
        .collect();
    kept.push_str(&format!("{name}:{}\n", hash_password(password)?));
    write_private(path, &kept)
}

/// Checks a user name: 1..=64 bytes of `[A-Za-z0-9._-]`.
pub fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !ok {
        bail!("user name {name:?} must be 1..=64 characters of A-Z a-z 0-9 . _ -");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_users_verify_only_with_their_password() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users");
        add(&path, "alice", "correct horse").unwrap();
        add(&path, "bob", "battery staple").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("correct horse"));
        assert!(text.contains("$argon2id$"));
        let users = Users::parse(&text).unwrap();
        assert!(users.verify("alice", "correct horse"));
        assert!(!users.verify("alice", "battery staple"));
        assert!(!users.verify("carol", "correct horse"));
        add(&path, "alice", "new password").unwrap();
        let users = Users::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert!(users.verify("alice", "new password"));
        assert!(!users.verify("alice", "correct horse"));
        assert!(users.verify("bob", "battery staple"));
    }

    #[test]
    fn bad_names_passwords_and_lines_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users");
        assert!(add(&path, "a b", "long enough").is_err());
        assert!(add(&path, "ok", "short").is_err());
        assert!(Users::parse("alice\n").is_err());
        assert!(Users::parse("alice:plaintext\n").is_err());
        assert!(Users::parse("# comment\n\n").unwrap().is_empty());
    }
}
