//! `--remote-write`: every committed sample goes to Prometheus remote write 1.0 receivers
//! (Prometheus, VictoriaMetrics, Mimir, Thanos receive), at least once and in order per
//! series, across receiver outages and server restarts.
//!
//! The store is the queue: the writer logs each committed sample, and one [`sender`] task
//! per receiver reads the log after that receiver's cursor and moves the cursor once the
//! receiver answered 2xx. Nothing is buffered in memory beyond the batch in flight and
//! the last few batches read, which senders at the same cursor share (`recent.rs`).
//! `proto.rs` is the wire format, `stats.rs` the `/metrics` series.

pub mod proto;
mod recent;
pub mod sender;
pub mod stats;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use utizmon_store::{CursorChange, Store};

pub use stats::{RemoteStats, RemoteWriteCollector};

/// One receiver and how to authenticate to it; from `--remote-write` (with the shared
/// `--remote-write-*` options) or from an entry of `--remote-write-config`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RemoteConfig {
    /// Endpoint, e.g. `http://127.0.0.1:9090/api/v1/write`.
    pub url: String,
    /// Name in `/metrics` and in the store's cursor table; default: the URL without
    /// credentials or query.
    #[serde(default)]
    pub name: Option<String>,
    /// File whose trimmed content is sent as `Authorization: Bearer ...`.
    #[serde(default)]
    pub bearer_token_file: Option<PathBuf>,
    /// Basic-auth user name; the password is read from `basic_auth_password_file`.
    #[serde(default)]
    pub basic_auth_user: Option<String>,
    #[serde(default)]
    pub basic_auth_password_file: Option<PathBuf>,
    /// PEM file of the CA that signed the receiver's certificate (added to the system's).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

impl RemoteConfig {
    /// The `remote` label: `name`, else the URL without userinfo, query or fragment.
    pub fn label(&self) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        let url = self.url.split(['?', '#']).next().unwrap_or_default();
        match url.split_once("://") {
            Some((scheme, rest)) => {
                let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
                format!("{scheme}://{rest}")
            }
            None => url.to_owned(),
        }
    }

    /// Checks the URL and reads the credential files, so a typo fails the start-up.
    pub fn validate(&self) -> anyhow::Result<()> {
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            bail!(
                "remote write URL {:?} must start with http:// or https://",
                self.url
            );
        }
        if self.basic_auth_user.is_some() != self.basic_auth_password_file.is_some() {
            bail!(
                "remote write {}: basic auth needs both a user and a password file",
                self.label()
            );
        }
        sender::client(self).with_context(|| format!("remote write {}", self.label()))?;
        Ok(())
    }
}

/// Reads `--remote-write-config`: a JSON array of [`RemoteConfig`] objects.
pub fn read_config_file(path: &Path) -> anyhow::Result<Vec<RemoteConfig>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading --remote-write-config {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| {
        format!(
            "--remote-write-config {}: expected a JSON array of {{\"url\": ...}} objects",
            path.display()
        )
    })
}

/// Starts one sender per receiver on `tasks`; they stop with `shutdown`. Cursors of
/// receivers no longer configured are forgotten first, so the commit log can shrink.
pub async fn start(
    remotes: Vec<RemoteConfig>,
    store: &Store,
    tasks: &TaskTracker,
    shutdown: &CancellationToken,
) -> anyhow::Result<Vec<Arc<RemoteStats>>> {
    let names: Vec<String> = remotes.iter().map(RemoteConfig::label).collect();
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = names.iter().find(|n| !seen.insert(*n)) {
        bail!("remote write {dup} is configured twice");
    }
    store
        .change_cursors(CursorChange::Retain(names))
        .await
        .context("forgetting cursors of removed remote-write receivers")?;
    let mut all = Vec::new();
    let recent = Arc::new(recent::RecentBatches::default());
    for remote in remotes {
        let stats = Arc::new(RemoteStats::new(remote.label()));
        let sender = sender::Sender::new(remote, store.clone(), stats.clone(), recent.clone())?;
        tasks.spawn(sender.run(shutdown.clone()));
        all.push(stats);
    }
    Ok(all)
}
