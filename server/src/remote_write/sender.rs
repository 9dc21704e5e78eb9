//! One receiver's delivery loop: read the commit log after the cursor, post it, move the
//! cursor on 2xx; retry 5xx, 429 and network errors with capped backoff; drop (and count)
//! what any other 4xx refuses, since sending it again would be refused again.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context;
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, USER_AGENT};
use tokio_util::sync::CancellationToken;
use utizmon_protocol::now_ms;
use utizmon_store::{CursorChange, LogReader, LoggedSample, Store};

use super::proto;
use super::recent::RecentBatches;
use super::{RemoteConfig, RemoteStats};
use crate::ingest::truncate;

/// Stored samples per request: about 30 values each (the columns and the whole sample's
/// filesystems and interfaces), so ~15,000 values per request.
const BATCH_ROWS: usize = 500;
/// How often an idle sender looks for new samples.
const IDLE_POLL: Duration = Duration::from_millis(500);
/// First retry delay; doubled per failure up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// One request, including connect.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Delivers to one receiver until shutdown.
pub struct Sender {
    remote: RemoteConfig,
    client: reqwest::Client,
    store: Store,
    reader: Arc<Mutex<LogReader>>,
    /// Batches the other senders read lately.
    recent: Arc<RecentBatches>,
    stats: Arc<RemoteStats>,
}

/// What the receiver made of one request.
#[derive(Debug, PartialEq)]
enum Outcome {
    Sent,
    /// Refused for good (4xx but 429): sending it again cannot help.
    Dropped(String),
    /// Worth retrying (5xx, 429, network).
    Retry(String),
}

/// The HTTP client for `remote`: its CA file added to the system's roots.
pub fn client(remote: &RemoteConfig) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(Duration::from_secs(10));
    if let Some(path) = &remote.ca_file {
        let pem =
            std::fs::read(path).with_context(|| format!("reading CA file {}", path.display()))?;
        let cert = reqwest::Certificate::from_pem(&pem)
            .with_context(|| format!("CA file {} is not a PEM certificate", path.display()))?;
        builder = builder.add_root_certificate(cert);
    }
    builder.build().context("building the HTTP client")
}

fn read_secret(path: &std::path::Path) -> anyhow::Result<String> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let secret = text.trim();
    if secret.is_empty() {
        anyhow::bail!("{} is empty", path.display());
    }
    Ok(secret.to_owned())
}

impl Sender {
    /// A sender for `remote` with its own read connection to `store`, sharing the batches
    /// it reads with the other senders through `recent`.
    pub fn new(
        remote: RemoteConfig,
        store: Store,
        stats: Arc<RemoteStats>,
        recent: Arc<RecentBatches>,
    ) -> anyhow::Result<Sender> {
        let client = client(&remote)?;
        let reader = store
            .log_reader()
            .context("opening the commit log for remote write")?;
        Ok(Sender {
            remote,
            client,
            store,
            reader: Arc::new(Mutex::new(reader)),
            recent,
            stats,
        })
    }

    /// Runs the loop until `shutdown`; a request in flight is abandoned (its samples stay
    /// after the cursor and go out after the next start).
    pub async fn run(self, shutdown: CancellationToken) {
        let name = self.stats.name.clone();
        tracing::info!(remote = %name, "remote write starting");
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = self.deliver() => {}
        }
        tracing::info!(remote = %name, "remote write stopped");
    }

    async fn deliver(&self) {
        let name = self.stats.name.clone();
        let mut cursor = loop {
            let remote = name.clone();
            match self.blocking(move |r| r.cursor(&remote)).await {
                Ok(cursor) => break cursor,
                Err(err) => {
                    tracing::error!(remote = %name, error = %format!("{err:#}"), "cannot read the remote-write cursor; retrying");
                    tokio::time::sleep(MAX_BACKOFF).await;
                }
            }
        };
        loop {
            let after = cursor;
            self.refresh_stats(after).await;
            let rows = match self.recent.get(after) {
                Some(rows) => rows,
                None => match self.blocking(move |r| r.after(after, BATCH_ROWS)).await {
                    Ok(rows) => {
                        let rows = Arc::new(rows);
                        self.recent.put(after, rows.clone());
                        rows
                    }
                    Err(err) => {
                        tracing::error!(remote = %name, error = %format!("{err:#}"), "cannot read the commit log; retrying");
                        tokio::time::sleep(MAX_BACKOFF).await;
                        continue;
                    }
                },
            };
            let Some(last) = rows.last().map(|r| r.id) else {
                tokio::time::sleep(IDLE_POLL).await;
                continue;
            };
            self.send_batch(&rows, after).await;
            cursor = last;
            let change = CursorChange::Set {
                remote: name.clone(),
                delivered: last,
            };
            if let Err(err) = self.store.change_cursors(change).await {
                // Keep going from memory; the next cursor write records both batches.
                tracing::warn!(remote = %name, error = %err, "cannot record the remote-write cursor");
            }
        }
    }

    /// Updates the pending and lag gauges from the log after `cursor`.
    async fn refresh_stats(&self, cursor: i64) {
        match self.blocking(move |r| r.pending(cursor)).await {
            Ok((pending, oldest)) => {
                self.stats.pending.store(pending, Ordering::Relaxed);
                let lag = oldest.map_or(0, |ts| {
                    now_ms().saturating_sub(u64::try_from(ts).unwrap_or(0))
                });
                self.stats.lag_ms.store(lag, Ordering::Relaxed);
            }
            Err(err) => {
                tracing::warn!(remote = %self.stats.name, error = %format!("{err:#}"), "cannot count pending samples")
            }
        }
    }

    /// Sends `rows` (the log after `cursor`) until the receiver takes or refuses them,
    /// backing off on failures.
    async fn send_batch(&self, rows: &[LoggedSample], cursor: i64) {
        let name = &self.stats.name;
        let (request, values) = proto::write_request(rows);
        let body = match proto::compress(&request) {
            Ok(body) => body,
            Err(err) => {
                self.stats.dropped.fetch_add(values, Ordering::Relaxed);
                tracing::error!(remote = %name, error = %err, "cannot compress a remote-write request; dropped");
                return;
            }
        };
        let mut backoff = FIRST_BACKOFF;
        let mut failures: u64 = 0;
        loop {
            match self.post(body.clone()).await {
                Outcome::Sent => {
                    self.stats.sent.fetch_add(values, Ordering::Relaxed);
                    if failures > 0 {
                        tracing::info!(remote = %name, failures, "remote write recovered");
                    }
                    return;
                }
                Outcome::Dropped(why) => {
                    self.stats.dropped.fetch_add(values, Ordering::Relaxed);
                    tracing::warn!(remote = %name, values, %why, "receiver refused a remote-write request; dropped");
                    return;
                }
                Outcome::Retry(why) => {
                    self.stats.retried.fetch_add(values, Ordering::Relaxed);
                    failures += 1;
                    // 1st, 2nd, 4th, 8th ... failure in a row: a long outage logs little.
                    if failures.is_power_of_two() {
                        tracing::warn!(remote = %name, failures, retry_in = ?backoff, %why, "remote write failed; retrying");
                    }
                    // The gauges keep telling how far behind the receiver falls meanwhile.
                    self.refresh_stats(cursor).await;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    async fn post(&self, body: Vec<u8>) -> Outcome {
        let mut request = self
            .client
            .post(&self.remote.url)
            .header(CONTENT_ENCODING, "snappy")
            .header(CONTENT_TYPE, "application/x-protobuf")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .header(
                USER_AGENT,
                concat!("utizmon-server/", env!("CARGO_PKG_VERSION")),
            )
            .body(body);
        // Credentials are re-read per request, so a rotated secret needs no restart.
        if let Some(path) = &self.remote.bearer_token_file {
            match read_secret(path) {
                Ok(token) => request = request.bearer_auth(token),
                Err(err) => return Outcome::Retry(format!("{err:#}")),
            }
        }
        if let (Some(user), Some(path)) = (
            &self.remote.basic_auth_user,
            &self.remote.basic_auth_password_file,
        ) {
            match read_secret(path) {
                Ok(password) => request = request.basic_auth(user, Some(password)),
                Err(err) => return Outcome::Retry(format!("{err:#}")),
            }
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(err) => return Outcome::Retry(format!("{err}")),
        };
        let status = response.status();
        if status.is_success() {
            return Outcome::Sent;
        }
        let text = response.text().await.unwrap_or_default();
        let why = format!("HTTP {status}: {}", truncate(text.trim(), 300));
        classify(status.as_u16(), why)
    }

    /// Runs `f` on the reader off the async threads.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&LogReader) -> Result<T, utizmon_store::StoreError> + Send + 'static,
    ) -> anyhow::Result<T> {
        let reader = self.reader.clone();
        tokio::task::spawn_blocking(move || {
            let reader = reader.lock().unwrap_or_else(PoisonError::into_inner);
            f(&reader)
        })
        .await
        .context("the commit-log reader panicked")?
        .map_err(anyhow::Error::from)
    }
}

/// 2xx sent; 429 and 5xx retried; any other status dropped.
fn classify(status: u16, why: String) -> Outcome {
    match status {
        200..=299 => Outcome::Sent,
        429 | 500..=599 => Outcome::Retry(why),
        _ => Outcome::Dropped(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_sent_retried_or_dropped() {
        assert_eq!(classify(204, String::new()), Outcome::Sent);
        for status in [429, 500, 502, 503] {
            assert!(
                matches!(classify(status, String::new()), Outcome::Retry(_)),
                "{status}"
            );
        }
        for status in [400, 401, 404, 413] {
            assert!(
                matches!(classify(status, String::new()), Outcome::Dropped(_)),
                "{status}"
            );
        }
        assert_eq!(truncate("héllo", 2), "h");
    }
}
