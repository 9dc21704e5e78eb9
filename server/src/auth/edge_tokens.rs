//! Per-host edge credentials: the `--edge-tokens-file` format, its edits (`edge-token add`
//! and `revoke`) and the admission check.
//!
//! One line per host: 64 hex digits of the SHA-256 of the host's token, one space, the
//! host name exactly as its edge's hello names it (to the end of the line, so names with
//! spaces work). Lines starting with `#` and blank lines are ignored. The file holds no
//! token: whoever reads it cannot connect as any host.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context};
use utizmon_protocol::validate_host_name;

use super::secret::{constant_time_eq, hex, parse_digest, random_token, sha256, Digest256};

/// The hosts of a tokens file and their token hashes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EdgeTokens {
    by_host: HashMap<String, Digest256>,
}

impl EdgeTokens {
    /// Parses the file's text; a malformed line is an error naming its number.
    pub fn parse(text: &str) -> anyhow::Result<EdgeTokens> {
        let mut by_host = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let (hash, host) = line.split_once(' ').unwrap_or((line, ""));
            let Some(digest) = parse_digest(hash) else {
                bail!(
                    "line {}: expected 64 hex digits, a space and a host name",
                    i + 1
                );
            };
            if validate_host_name(host).is_err() {
                bail!("line {}: invalid host name {host:?}", i + 1);
            }
            by_host.insert(host.to_owned(), digest);
        }
        Ok(EdgeTokens { by_host })
    }

    /// Whether `token` is the token of `host`.
    pub fn admits(&self, host: &str, token: &str) -> bool {
        let presented = sha256(token);
        // Compare against a fixed digest for unknown hosts too: same work either way.
        let expected = self.by_host.get(host).copied().unwrap_or([0xff; 32]);
        constant_time_eq(&presented, &expected) && self.by_host.contains_key(host)
    }

    /// Number of hosts listed.
    pub fn len(&self) -> usize {
        self.by_host.len()
    }

    /// Whether no host is listed.
    pub fn is_empty(&self) -> bool {
        self.by_host.is_empty()
    }
}

/// Gives `host` a fresh token (replacing any previous one) and returns it; the file keeps
/// only its hash and is created with mode 0600.
pub fn add(path: &Path, host: &str) -> anyhow::Result<String> {
    validate_host_name(host).with_context(|| format!("host name {host:?}"))?;
    let token = random_token();
    let mut text = read_or_empty(path)?;
    EdgeTokens::parse(&text).with_context(|| format!("parsing {}", path.display()))?;
    text = without_host(&text, host);
    text.push_str(&format!("{} {host}\n", hex(&sha256(&token))));
    write_private(path, &text)?;
    Ok(token)
}

/// Removes `host`'s line; an error if it had none.
pub fn revoke(path: &Path, host: &str) -> anyhow::Result<()> {
    let text = read_or_empty(path)?;
    let tokens = EdgeTokens::parse(&text).with_context(|| format!("parsing {}", path.display()))?;
    if !tokens.by_host.contains_key(host) {
        bail!("{} has no token for host {host:?}", path.display());
    }
    write_private(path, &without_host(&text, host))
}

fn without_host(text: &str, host: &str) -> String {
    text.lines()
        .filter(|line| line.starts_with('#') || line.split_once(' ').is_none_or(|(_, h)| h != host))
        .map(|line| format!("{line}\n"))
        .collect()
}

fn read_or_empty(path: &Path) -> anyhow::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Replaces `path` with `text` atomically (write beside it, then rename), mode 0600.
pub fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_revoke_and_admit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        let web = add(&path, "web-1").unwrap();
        let db = add(&path, "db 2").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains(&web) && !text.contains(&db));
        let tokens = EdgeTokens::parse(&text).unwrap();
        assert_eq!(tokens.len(), 2);
        assert!(tokens.admits("web-1", &web));
        assert!(tokens.admits("db 2", &db));
        assert!(!tokens.admits("web-1", &db), "another host's token");
        assert!(!tokens.admits("nobody", &web));
        // A new token replaces the old one.
        let web2 = add(&path, "web-1").unwrap();
        let tokens = EdgeTokens::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert!(tokens.admits("web-1", &web2) && !tokens.admits("web-1", &web));
        revoke(&path, "web-1").unwrap();
        let tokens = EdgeTokens::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert!(!tokens.admits("web-1", &web2));
        assert!(revoke(&path, "web-1").is_err());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn malformed_lines_are_errors_with_their_number() {
        let err = EdgeTokens::parse("# comment\n\nnothex web\n").unwrap_err();
        assert!(err.to_string().contains("line 3"), "{err}");
        assert!(EdgeTokens::parse(&format!("{} \n", "a".repeat(64))).is_err());
    }
}
