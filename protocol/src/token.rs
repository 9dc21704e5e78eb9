//! The bearer token file both sides read: the edge sends its content, the server compares.
//!
//! One implementation, so a file the edge accepts is a file the server accepts: content
//! trimmed, not empty, no control characters (they cannot travel in an HTTP header).
//! The only file this crate reads; everything else here is pure.

use std::path::{Path, PathBuf};

/// Why a token file cannot be used. Messages name the flag (`what`) and the path.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    #[error("reading {what} {}", path.display())]
    Read {
        what: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} {} is empty", path.display())]
    Empty { what: String, path: PathBuf },
    #[error("{what} {}: the token contains control characters", path.display())]
    Control { what: String, path: PathBuf },
}

/// Reads the token in `path`, trimmed; `what` names the file in errors (`--token-file`).
pub fn read_token_file(what: &str, path: &Path) -> Result<String, TokenFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| TokenFileError::Read {
        what: what.to_owned(),
        path: path.to_owned(),
        source,
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(TokenFileError::Empty {
            what: what.to_owned(),
            path: path.to_owned(),
        });
    }
    if token.chars().any(char::is_control) {
        return Err(TokenFileError::Control {
            what: what.to_owned(),
            path: path.to_owned(),
        });
    }
    Ok(token.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_trimmed_and_checked() {
        let dir = std::env::temp_dir().join(format!("utizmon-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("token");
        std::fs::write(&path, "  s3cret\n").unwrap();
        assert_eq!(read_token_file("--token-file", &path).unwrap(), "s3cret");
        std::fs::write(&path, " \n").unwrap();
        let err = read_token_file("--token-file", &path).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("--token-file {} is empty", path.display())
        );
        std::fs::write(&path, "a\u{7}b").unwrap();
        let err = read_token_file("edge token file", &path).unwrap_err();
        assert!(matches!(err, TokenFileError::Control { .. }), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
        let err = read_token_file("--token-file", &path).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("reading --token-file {}", path.display())
        );
        assert!(std::error::Error::source(&err).is_some());
    }
}
