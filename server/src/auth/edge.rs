//! Which edges may connect: the shared `--edge-token-file` token, the per-host
//! `--edge-tokens-file`, or nobody checks (neither flag).
//!
//! The shared token is checked at the upgrade; a per-host token can only be checked once
//! the hello names the host, so [`EdgeCredentials::admit`] returns an [`Admission`] that
//! ingest settles after the hello.

use std::sync::Arc;

use axum::http::HeaderMap;

use super::bearer_token;
use super::edge_tokens::EdgeTokens;
use super::watched::Watched;
use crate::config::EdgeToken;

/// The configured edge credentials; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct EdgeCredentials {
    /// `--edge-token-file`: one token for every host.
    pub shared: Option<EdgeToken>,
    /// `--edge-tokens-file`: one token per host, re-read when the file changes.
    pub per_host: Option<Watched<EdgeTokens>>,
}

/// What the upgrade request's credentials allow.
#[derive(Debug, Clone)]
pub enum Admission {
    /// Any hello may follow.
    Admitted,
    /// No usable token: refused before the hello (4401).
    Unauthorized,
    /// A token to check against the host the hello names (4403 if it is not that host's).
    HostToken {
        /// The per-host tokens as of the upgrade.
        tokens: Arc<EdgeTokens>,
        /// What the edge presented.
        token: String,
    },
}

impl EdgeCredentials {
    /// Whether any credential is configured.
    pub fn is_configured(&self) -> bool {
        self.shared.is_some() || self.per_host.is_some()
    }

    /// Decides on the upgrade request's `Authorization: Bearer` header.
    pub fn admit(&self, headers: &HeaderMap) -> Admission {
        if !self.is_configured() {
            return Admission::Admitted;
        }
        let Some(token) = bearer_token(headers) else {
            return Admission::Unauthorized;
        };
        if self
            .shared
            .as_ref()
            .is_some_and(|shared| shared.matches(token))
        {
            return Admission::Admitted;
        }
        match &self.per_host {
            Some(per_host) => Admission::HostToken {
                tokens: per_host.get(),
                token: token.to_owned(),
            },
            None => Admission::Unauthorized,
        }
    }
}

impl Admission {
    /// Whether a hello naming `host` may go on.
    pub fn allows_host(&self, host: &str) -> bool {
        match self {
            Admission::Admitted => true,
            Admission::Unauthorized => false,
            Admission::HostToken { tokens, token } => tokens.admits(host, token),
        }
    }
}
