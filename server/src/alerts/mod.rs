//! Alerts: rules evaluated on the master, on every fresh sample and by a ticker, with
//! notifications, silences and a history that survive restarts.
//!
//! One file per job: `metric` reads values out of a sample, `rules` parses the YAML,
//! `eval` is the pure state machine, `predict` the linear fit, `summary` the texts,
//! `silence` the matching, `notify/` the receivers. This file is the handle the rest of
//! the server holds: ingest calls [`Alerts::observe`] (a lock of microseconds, never an
//! `.await`), [`run_ticker`] calls [`Alerts::tick`] every second, and changes go to the
//! notifier task through a bounded channel.

pub mod eval;
pub mod metric;
pub mod metrics;
pub mod notify;
mod objects;
pub mod predict;
pub mod rules;
pub mod setup;
pub mod silence;
pub mod summary;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;
use utizmon_protocol::Sample;
use utizmon_store::{AlertStore, Record, Silence, StoredAlert};

pub use eval::{Alert, AlertState, Change, Engine, RestoredAlert};
pub use rules::{RuleSet, RulesError, Severity};

use crate::alerts::summary::TemplateContext;

/// Changes waiting for the notifier. Changes are rare (a state change, not a sample), but
/// they come in bursts: a switch failing takes a whole rack or fleet down in one tick, and
/// every host's `HostDown` fires at once (a 1,024-slot queue dropped 4,000 of 5,000). So
/// the queue holds many fleets' worth; its slots are allocated only as they fill. It fills
/// only if the notifier is stuck for long (its store is wedged): then further changes are
/// dropped, counted in `utizmon_alert_changes_dropped_total` and logged, and ingest goes
/// on undisturbed. The dropped alerts still show in the API and dashboard.
pub const CHANGE_QUEUE: usize = 1 << 18;

/// How often [`run_ticker`] evaluates time-based conditions.
pub const TICK: Duration = Duration::from_secs(1);

/// How often [`run_ticker`] deletes alert history older than `--alert-retention`.
pub const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Shared handle to the alert engine, silences and counters; cheap to clone.
#[derive(Clone)]
pub struct Alerts(Arc<Inner>);

struct Inner {
    engine: Mutex<Engine>,
    changes: mpsc::Sender<Change>,
    dropped: AtomicU64,
    silences: RwLock<Vec<Silence>>,
    store: AlertStore,
    /// Bumped when the set of active alerts or silences changes (dashboards wait on it).
    version: AtomicU64,
    changed: Notify,
    clock: Clock,
    counters: Arc<notify::deliver::Counters>,
}

/// Returns "now" as Unix milliseconds; injected by tests.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// One active alert as the API, the dashboard and `/metrics` show it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AlertView {
    pub alertname: String,
    pub host: String,
    /// `alertname`, `host`, `severity` and the object label, if any.
    pub labels: BTreeMap<String, String>,
    pub state: AlertState,
    pub severity: Severity,
    pub value: f64,
    pub active_since_ms: u64,
    pub summary: String,
}

impl Alerts {
    /// Starts from `rules`, puts back the alerts firing before a restart and the running
    /// silences; returns the handle and the receiving end of the change queue (for
    /// `notify::run`). Alerts of rules that no longer exist are resolved in the store.
    pub fn open(
        rules: Arc<RuleSet>,
        store: AlertStore,
        clock: Clock,
    ) -> anyhow::Result<(Alerts, mpsc::Receiver<Change>, Vec<StoredAlert>)> {
        let now = clock();
        let mut engine = Engine::new(rules);
        let firing = store.firing()?;
        let mut kept = Vec::new();
        for stored in firing {
            let restored = RestoredAlert {
                alertname: stored.alertname.clone(),
                host: stored.host.clone(),
                object: stored.object.clone(),
                value: stored.value,
                active_since_ms: stored.active_since_ms,
                fired_at_ms: stored.fired_at_ms,
            };
            if engine.restore(&restored) {
                kept.push(stored);
            } else {
                tracing::info!(
                    alert = stored.alertname,
                    host = stored.host,
                    "rule gone: resolving its alert"
                );
                store.resolved(
                    &stored.alertname,
                    &stored.host,
                    &stored.object,
                    stored.value,
                    now,
                )?;
            }
        }
        let silences = store.silences(now)?;
        let (tx, rx) = mpsc::channel(CHANGE_QUEUE);
        let alerts = Alerts(Arc::new(Inner {
            engine: Mutex::new(engine),
            changes: tx,
            dropped: AtomicU64::new(0),
            silences: RwLock::new(silences),
            store,
            version: AtomicU64::new(1),
            changed: Notify::new(),
            clock,
            counters: Arc::default(),
        }));
        Ok((alerts, rx, kept))
    }

    /// Built-in rules over `store`, no notifier (the change queue is dropped): for tests
    /// of what reads alerts.
    pub fn for_tests(store: &utizmon_store::Store) -> Alerts {
        let store = store
            .alerts()
            .expect("opening the alert tables of a test store");
        let (alerts, _, _) = Alerts::open(
            Arc::new(RuleSet::defaults()),
            store,
            utizmon_store::system_clock(),
        )
        .expect("opening alerts on a test store");
        alerts
    }

    /// Current time by this handle's clock, Unix ms.
    pub fn now_ms(&self) -> u64 {
        (self.0.clock)()
    }

    /// Makes a host known at start-up; see [`Engine::know_host`].
    pub fn know_host(&self, host: &str, last_seen_ms: u64, offline_after: Duration) {
        self.engine()
            .know_host(host, last_seen_ms, millis(offline_after));
    }

    /// Evaluates one fresh sample. Cheap and non-blocking: called by ingest per sample.
    pub fn observe(&self, record: &Record, offline_after: Duration) {
        let now = self.now_ms();
        let mut changes = Vec::new();
        let version_before;
        {
            let mut engine = self.engine();
            version_before = engine.revision();
            engine.observe(record, now, millis(offline_after), &mut changes);
            if engine.revision() == version_before {
                return;
            }
        }
        self.publish(changes);
    }

    /// Time-based evaluation (`host_down`, minimum firing times); see [`run_ticker`].
    pub fn tick(&self) {
        let now = self.now_ms();
        let mut changes = Vec::new();
        let changed = {
            let mut engine = self.engine();
            let before = engine.revision();
            engine.tick(now, &mut changes);
            engine.revision() != before
        };
        if changed || !changes.is_empty() {
            self.publish(changes);
        }
        self.expire_silences(now);
    }

    /// Drops silences that ended by `now` and tells dashboards (their alerts are no
    /// longer shown as silenced); started ones take effect when their start passes.
    fn expire_silences(&self, now: u64) {
        let ended = {
            let silences = self.0.silences.read().unwrap_or_else(|p| p.into_inner());
            silences.iter().any(|s| s.ends_ms <= now)
        };
        if ended {
            self.0
                .silences
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .retain(|s| s.ends_ms > now);
            self.bump();
        }
    }

    /// Forgets a deleted host: its firing alerts are resolved (receivers are told, the
    /// store moves them to the history) and it is evaluated no more, so no `HostDown`
    /// fires for it; a sample from it later makes it known again.
    pub fn forget_host(&self, host: &str) {
        let now = self.now_ms();
        let mut changes = Vec::new();
        self.engine().forget_host(host, now, &mut changes);
        self.publish(changes);
    }

    /// The newest sample of `host` evaluated, if it is known.
    pub fn latest_sample(&self, host: &str) -> Option<Arc<Sample>> {
        self.engine().latest_sample(host)
    }

    /// Every pending and firing alert, sorted by host and name.
    pub fn active(&self) -> Vec<AlertView> {
        let (alerts, rules) = {
            let engine = self.engine();
            (engine.active(), engine.rules().clone())
        };
        alerts
            .iter()
            .map(|a| AlertView {
                alertname: a.alertname.to_string(),
                host: a.host.to_string(),
                labels: labels(a),
                state: a.state,
                severity: a.severity,
                value: a.value,
                active_since_ms: a.active_since_ms,
                summary: render_summary(&rules, a),
            })
            .collect()
    }

    /// The rules being evaluated.
    pub fn rules(&self) -> Arc<RuleSet> {
        self.engine().rules().clone()
    }

    /// Running and future silences (the ticker drops ended ones and tells dashboards).
    pub fn silences_now(&self) -> Vec<Silence> {
        let now = self.now_ms();
        let silences = self.0.silences.read().unwrap_or_else(|p| p.into_inner());
        silences
            .iter()
            .filter(|s| s.ends_ms > now)
            .cloned()
            .collect()
    }

    /// Whether a silence mutes `alertname` of `host` now.
    pub fn is_silenced(&self, alertname: &str, host: &str) -> bool {
        let now = self.now_ms();
        let silences = self.0.silences.read().unwrap_or_else(|p| p.into_inner());
        silences
            .iter()
            .any(|s| silence::mutes(s, alertname, host, now))
    }

    /// Stores and applies a new silence.
    pub fn add_silence(&self, silence: Silence) -> anyhow::Result<Silence> {
        let silence = self.0.store.add_silence(silence)?;
        self.0
            .silences
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(silence.clone());
        self.bump();
        Ok(silence)
    }

    /// Ends silence `id` now; `false` if no such silence is running.
    pub fn end_silence(&self, id: i64) -> anyhow::Result<bool> {
        let now = self.now_ms();
        let ended = self.0.store.end_silence(id, now)?;
        let mut silences = self.0.silences.write().unwrap_or_else(|p| p.into_inner());
        let before = silences.len();
        silences.retain(|s| s.id != id);
        let removed = silences.len() != before;
        drop(silences);
        if ended || removed {
            self.bump();
        }
        Ok(ended || removed)
    }

    /// The alert tables of the store.
    pub fn store(&self) -> &AlertStore {
        &self.0.store
    }

    /// `utizmon_alert_notifications_total{receiver,outcome}`.
    pub fn notification_counters(&self) -> &Arc<notify::deliver::Counters> {
        &self.0.counters
    }

    /// Changes dropped because the notifier's queue was full.
    pub fn dropped_total(&self) -> u64 {
        self.0.dropped.load(Ordering::Relaxed)
    }

    /// Grows whenever alerts or silences change.
    pub fn version(&self) -> u64 {
        self.0.version.load(Ordering::Acquire)
    }

    /// Resolves after the next change; create it before reading [`Alerts::version`].
    pub fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.0.changed.notified()
    }

    fn publish(&self, changes: Vec<Change>) {
        for change in changes {
            if let Err(e) = self.0.changes.try_send(change) {
                let n = self.0.dropped.fetch_add(1, Ordering::Relaxed);
                if n.is_power_of_two() {
                    tracing::warn!(dropped = n + 1, error = %e, "alert notifier queue full: change dropped");
                }
            }
        }
        self.bump();
    }

    fn bump(&self) {
        self.0.version.fetch_add(1, Ordering::AcqRel);
        self.0.changed.notify_waiters();
    }

    fn engine(&self) -> MutexGuard<'_, Engine> {
        self.0.engine.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl std::fmt::Debug for Alerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alerts").finish_non_exhaustive()
    }
}

/// Calls [`Alerts::tick`] every [`TICK`], and applies `retention` to the alert history
/// and silences at start-up and every [`PRUNE_EVERY`], until `shutdown`.
pub async fn run_ticker(alerts: Alerts, retention: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut prune = tokio::time::interval(PRUNE_EVERY);
    prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => alerts.tick(),
            _ = prune.tick() => {
                let store = alerts.store().clone();
                let before = alerts.now_ms().saturating_sub(millis(retention));
                match tokio::task::spawn_blocking(move || store.prune(before)).await {
                    Ok(Ok(0)) => {}
                    Ok(Ok(n)) => tracing::debug!(rows = n, "pruned expired alert history"),
                    Ok(Err(e)) => tracing::warn!(error = %e, "pruning alert history failed; retrying later"),
                    Err(e) => tracing::warn!(error = %e, "pruning alert history panicked"),
                }
            }
        }
    }
}

/// The labels of an alert: `alertname`, `host`, `severity` and its object label.
pub fn labels(alert: &Alert) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    labels.insert("alertname".to_owned(), alert.alertname.to_string());
    labels.insert("host".to_owned(), alert.host.to_string());
    labels.insert("severity".to_owned(), alert.severity.as_str().to_owned());
    if let Some((label, value)) = &alert.object {
        labels.insert((*label).to_owned(), value.to_string());
    }
    labels
}

/// The template context of an alert under `rules`.
fn context<'a>(rules: &'a RuleSet, alert: &'a Alert) -> TemplateContext<'a> {
    let rule = &rules.rules[alert.rule];
    TemplateContext {
        host: &alert.host,
        alertname: &alert.alertname,
        severity: alert.severity.as_str(),
        metric: rule.metric.name(),
        value: alert.value,
        current: alert.current,
        threshold: rule.threshold(),
        object: alert.object.as_ref().map_or("", |(_, v)| v),
    }
}

/// The rendered summary of an alert.
pub fn render_summary(rules: &RuleSet, alert: &Alert) -> String {
    let rule = &rules.rules[alert.rule];
    summary::render(&rule.summary, &context(rules, alert), rule)
}

/// The rendered description: the rule's template, or the generated "why"; for CPU,
/// load, memory and swap rules followed by the top processes of `sample` (the host's
/// newest), when its edge reports them.
pub fn render_description(rules: &RuleSet, alert: &Alert, sample: Option<&Sample>) -> String {
    let rule = &rules.rules[alert.rule];
    let context = context(rules, alert);
    let text = match &rule.description {
        Some(template) => summary::render(template, &context, rule),
        None => summary::why(rule, &context, alert.active_since_ms),
    };
    match sample.and_then(|s| summary::top_processes(rule.metric, &s.top_processes)) {
        Some(processes) => format!("{text}\n{processes}"),
        None => text,
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fleet-wide outage: every host's `HostDown` fires in the same tick, and every
    /// change reaches the notifier's queue.
    #[test]
    fn a_mass_outage_queues_every_change() {
        const HOSTS: usize = 5_000;
        let dir = tempfile::tempdir().unwrap();
        let store =
            utizmon_store::Store::open(utizmon_store::StoreConfig::new(dir.path())).unwrap();
        let now = Arc::new(AtomicU64::new(1_000_000));
        let clock: Clock = {
            let now = now.clone();
            Arc::new(move || now.load(Ordering::Relaxed))
        };
        let rules = Arc::new(RuleSet::defaults());
        let (alerts, mut changes, _) = Alerts::open(rules, store.alerts().unwrap(), clock).unwrap();
        for i in 0..HOSTS {
            alerts.know_host(&format!("host-{i:05}"), 1_000_000, Duration::from_secs(3));
        }
        for minutes in 1..=10 {
            now.store(1_000_000 + minutes * 60_000, Ordering::Relaxed);
            alerts.tick();
        }
        let mut fired = 0;
        while let Ok(change) = changes.try_recv() {
            if matches!(change, Change::Fired(ref a) if &*a.alertname == "HostDown") {
                fired += 1;
            }
        }
        assert_eq!(fired, HOSTS);
        assert_eq!(alerts.dropped_total(), 0);
    }
}
