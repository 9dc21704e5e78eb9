//! The notifier: one task that takes alert changes off the engine's queue, records them
//! in the store, applies silences, and hands notices to the receivers (`deliver.rs`).
//!
//! Order per alert: the store first, then receivers, so a restart knows what was said.
//! A firing alert muted by a silence is recorded as not notified; if it is still firing
//! when the silence ends, it is announced then, and its resolution is announced only if
//! its firing was. Alertmanager receives every notified firing alert again every
//! [`RESEND_EVERY`], as Prometheus does, so it never times one out while it fires.

pub mod deliver;
pub mod payload;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use utizmon_store::StoredAlert;

use crate::alerts::notify::deliver::ReceiverHandle;
use crate::alerts::notify::payload::{Notice, Status};
use crate::alerts::{labels, render_description, render_summary, Alert, Alerts, Change};

/// How often firing alerts are sent to Alertmanager again.
pub const RESEND_EVERY: Duration = Duration::from_secs(60);

/// How often ended silences are checked for alerts to announce.
const SILENCE_CHECK: Duration = Duration::from_secs(1);

/// Runs the notifier until `shutdown`. `restored` are the alerts firing before a restart.
pub async fn run(
    alerts: Alerts,
    mut changes: mpsc::Receiver<Change>,
    restored: Vec<StoredAlert>,
    receivers: Vec<ReceiverHandle>,
    external_url: String,
    shutdown: CancellationToken,
) {
    let mut notifier = Notifier {
        alerts,
        receivers,
        external_url,
        firing: BTreeMap::new(),
    };
    for stored in restored {
        notifier.firing.insert(
            key_of_stored(&stored),
            Tracked::from_stored(&stored, &notifier.external_url),
        );
    }
    let mut silence_check = tokio::time::interval(SILENCE_CHECK);
    let mut resend = tokio::time::interval(RESEND_EVERY);
    resend.tick().await; // The first tick is immediate; firing alerts were just sent.
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            change = changes.recv() => match change {
                Some(change) => notifier.apply(change).await,
                None => return,
            },
            _ = silence_check.tick() => notifier.announce_unmuted().await,
            _ = resend.tick() => notifier.resend(),
        }
    }
}

/// Identifies an alert: alert name, host, object label value.
type Key = (String, String, String);

struct Notifier {
    alerts: Alerts,
    receivers: Vec<ReceiverHandle>,
    external_url: String,
    firing: BTreeMap<Key, Tracked>,
}

/// A firing alert as the notifier knows it.
struct Tracked {
    notice: Notice,
    /// Receivers were told it fired.
    notified: bool,
}

impl Notifier {
    async fn apply(&mut self, change: Change) {
        match change {
            Change::Fired(alert) => self.fired(&alert).await,
            Change::Resolved { alert, at_ms } => self.resolved(&alert, at_ms).await,
        }
    }

    async fn fired(&mut self, alert: &Alert) {
        let rules = self.alerts.rules();
        let latest = self.alerts.latest_sample(&alert.host);
        let notice = Notice {
            status: Status::Firing,
            labels: labels(alert),
            summary: render_summary(&rules, alert),
            description: render_description(&rules, alert, latest.as_deref()),
            starts_at_ms: alert.active_since_ms,
            ends_at_ms: None,
            generator_url: host_url(&self.external_url, &alert.host),
        };
        let muted = self.alerts.is_silenced(&alert.alertname, &alert.host);
        let stored = StoredAlert {
            alertname: alert.alertname.to_string(),
            host: alert.host.to_string(),
            object_label: alert.object.as_ref().map(|(l, _)| (*l).to_owned()),
            object: object(alert).to_owned(),
            severity: alert.severity.as_str().to_owned(),
            value: alert.value,
            summary: notice.summary.clone(),
            description: notice.description.clone(),
            active_since_ms: alert.active_since_ms,
            fired_at_ms: alert.fired_at_ms.unwrap_or(alert.active_since_ms),
            resolved_ms: None,
            notified: !muted,
        };
        self.write(move |store| store.fired(&stored)).await;
        tracing::info!(alert = %alert.alertname, host = %alert.host, object = object(alert), muted, "alert firing");
        if !muted {
            self.send(vec![notice.clone()], false);
        }
        self.firing.insert(
            key(alert),
            Tracked {
                notice,
                notified: !muted,
            },
        );
    }

    async fn resolved(&mut self, alert: &Alert, at_ms: u64) {
        let (name, host, obj) = key(alert);
        let value = alert.value;
        {
            let (name, host, obj) = (name.clone(), host.clone(), obj.clone());
            self.write(move |store| store.resolved(&name, &host, &obj, value, at_ms).map(|_| ()))
                .await;
        }
        tracing::info!(alert = %name, host = %host, object = obj, "alert resolved");
        let tracked = self.firing.remove(&(name, host, obj));
        // An alert the notifier never heard of (its change was dropped) is announced
        // resolved anyway: a stray resolution is harmless, a missing one is not.
        let (mut notice, notified) = match tracked {
            Some(t) => (t.notice, t.notified),
            None => {
                let rules = self.alerts.rules();
                let notice = Notice {
                    status: Status::Firing,
                    labels: labels(alert),
                    summary: render_summary(&rules, alert),
                    description: render_description(&rules, alert, None),
                    starts_at_ms: alert.active_since_ms,
                    ends_at_ms: None,
                    generator_url: host_url(&self.external_url, &alert.host),
                };
                (notice, true)
            }
        };
        if notified {
            notice.status = Status::Resolved;
            notice.ends_at_ms = Some(at_ms);
            self.send(vec![notice], false);
        }
    }

    /// Announces firing alerts whose silence has ended.
    async fn announce_unmuted(&mut self) {
        let mut due = Vec::new();
        for ((name, host, obj), tracked) in &mut self.firing {
            if !tracked.notified && !self.alerts.is_silenced(name, host) {
                tracked.notified = true;
                due.push((
                    name.clone(),
                    host.clone(),
                    obj.clone(),
                    tracked.notice.clone(),
                ));
            }
        }
        for (name, host, obj, notice) in due {
            self.write(move |store| store.notified(&name, &host, &obj))
                .await;
            self.send(vec![notice], false);
        }
    }

    /// Sends every notified firing alert to the receivers that want a re-send.
    fn resend(&self) {
        let batch: Vec<Notice> = self
            .firing
            .values()
            .filter(|t| t.notified)
            .map(|t| t.notice.clone())
            .collect();
        if !batch.is_empty() {
            self.send(batch, true);
        }
    }

    fn send(&self, batch: Vec<Notice>, resend_only: bool) {
        let batch = Arc::new(batch);
        for receiver in &self.receivers {
            if !resend_only || receiver.wants_resend {
                receiver.send(batch.clone());
            }
        }
    }

    /// Runs one store write on a blocking thread; a failure is logged (the notice still
    /// goes out: telling people matters more than remembering that we did).
    async fn write<F>(&self, f: F)
    where
        F: FnOnce(&utizmon_store::AlertStore) -> Result<(), utizmon_store::StoreError>
            + Send
            + 'static,
    {
        let store = self.alerts.store().clone();
        match tokio::task::spawn_blocking(move || f(&store)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "recording an alert change"),
            Err(e) => tracing::error!(error = %e, "recording an alert change"),
        }
    }
}

impl Tracked {
    fn from_stored(stored: &StoredAlert, external_url: &str) -> Tracked {
        let mut labels = BTreeMap::from([
            ("alertname".to_owned(), stored.alertname.clone()),
            ("host".to_owned(), stored.host.clone()),
            ("severity".to_owned(), stored.severity.clone()),
        ]);
        if let Some(label) = &stored.object_label {
            labels.insert(label.clone(), stored.object.clone());
        }
        Tracked {
            notice: Notice {
                status: Status::Firing,
                labels,
                summary: stored.summary.clone(),
                description: stored.description.clone(),
                starts_at_ms: stored.active_since_ms,
                ends_at_ms: None,
                generator_url: host_url(external_url, &stored.host),
            },
            notified: stored.notified,
        }
    }
}

fn key(alert: &Alert) -> Key {
    (
        alert.alertname.to_string(),
        alert.host.to_string(),
        object(alert).to_owned(),
    )
}

fn key_of_stored(stored: &StoredAlert) -> Key {
    (
        stored.alertname.clone(),
        stored.host.clone(),
        stored.object.clone(),
    )
}

fn object(alert: &Alert) -> &str {
    alert.object.as_ref().map_or("", |(_, v)| v)
}

/// The host's page: `{external_url}/hosts/{host}`, the host name percent-encoded.
pub fn host_url(external_url: &str, host: &str) -> String {
    let mut url = format!("{}/hosts/", external_url.trim_end_matches('/'));
    for byte in host.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            url.push(char::from(byte));
        } else {
            url.push_str(&format!("%{byte:02X}"));
        }
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_urls_are_encoded() {
        assert_eq!(
            host_url("http://m:5000/", "web-1"),
            "http://m:5000/hosts/web-1"
        );
        assert_eq!(host_url("http://m", "a b/c"), "http://m/hosts/a%20b%2Fc");
    }
}
