//! `Engine`: the alert state machine. Pure and synchronous: every method takes "now" as
//! an argument, so the tests drive hours of alerting with an injected clock.
//!
//! Per (rule, host, object) an alert is inactive, pending (condition true, `for` not yet
//! met) or firing. A firing alert resolves only when its value is past `clear` (or the
//! threshold) and it has fired for at least `min_firing`. Rules on values are evaluated
//! only on fresh samples; the ticker ([`Engine::tick`]) decides `host_down` and resolves
//! alerts whose minimum firing time ran out. A host that is down keeps its firing alerts
//! as they were and loses its pending ones: its stale values raise nothing new.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::Arc;

use utizmon_protocol::Sample;
use utizmon_store::Record;

use crate::alerts::metric::Metric;
use crate::alerts::objects::Objects;
use crate::alerts::predict::Series;
use crate::alerts::rules::{Rule, RuleSet, Severity};

/// Where an active alert stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    /// Condition true, `for` not yet met; nobody is notified.
    Pending,
    /// Condition held for `for`: receivers are notified.
    Firing,
}

/// A snapshot of one active (or just resolved) alert.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Index of its rule in the engine's [`RuleSet`].
    pub rule: usize,
    /// The rule's alert name.
    pub alertname: Arc<str>,
    /// Host name.
    pub host: Arc<str>,
    /// Object label name and value (`("mountpoint", "/home")`), for per-object metrics.
    pub object: Option<(&'static str, Arc<str>)>,
    /// Pending or firing.
    pub state: AlertState,
    /// The rule's severity.
    pub severity: Severity,
    /// The value the condition compared (predicted for `predict` rules; seconds of
    /// silence for `host_down`).
    pub value: f64,
    /// The latest measured value (equals `value` unless the rule predicts).
    pub current: f64,
    /// When the condition started to hold, Unix ms (`startsAt` of notifications).
    pub active_since_ms: u64,
    /// When it started firing, Unix ms.
    pub fired_at_ms: Option<u64>,
}

/// A change receivers are told about.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// The alert started firing.
    Fired(Alert),
    /// A firing alert resolved at `at_ms` (Unix ms).
    Resolved { alert: Alert, at_ms: u64 },
}

/// The alert state of every host; owned behind one lock by `alerts::Alerts`.
#[derive(Debug)]
pub struct Engine {
    rules: Arc<RuleSet>,
    names: Vec<Arc<str>>,
    hosts: HashMap<Arc<str>, HostAlerts>,
    /// Grows whenever an alert appears, changes state or ends.
    revision: Cell<u64>,
}

#[derive(Debug)]
struct HostAlerts {
    name: Arc<str>,
    /// When the last sample arrived (server clock), Unix ms.
    last_sample_ms: u64,
    /// Silence after which the host counts as down, ms.
    offline_after_ms: u64,
    /// Bumped per sample; objects not seen in the latest sample have an older one.
    generation: u64,
    /// The newest sample (shared with the fleet, not copied): notifications quote its
    /// top processes.
    latest: Option<Arc<Sample>>,
    rules: Vec<RuleState>,
}

/// One rule's state on one host: one of these per rule on every host, almost all empty.
#[derive(Debug, Default)]
struct RuleState {
    objects: Objects<Active>,
    series: Objects<Series>,
}

#[derive(Debug, Clone)]
struct Active {
    state: AlertState,
    active_since_ms: u64,
    fired_at_ms: Option<u64>,
    value: f64,
    current: f64,
    /// The last evaluation found the value past `clear`; waiting for `min_firing`.
    cleared: bool,
    generation: u64,
}

impl Engine {
    /// An engine with no host, evaluating `rules`.
    pub fn new(rules: Arc<RuleSet>) -> Engine {
        let names = rules
            .rules
            .iter()
            .map(|r| Arc::from(r.alert.as_str()))
            .collect();
        Engine {
            rules,
            names,
            hosts: HashMap::new(),
            revision: Cell::new(0),
        }
    }

    /// Grows whenever an alert appears, changes state or ends (dashboards refresh then).
    pub fn revision(&self) -> u64 {
        self.revision.get()
    }

    /// The rules being evaluated.
    pub fn rules(&self) -> &Arc<RuleSet> {
        &self.rules
    }

    /// Makes a host known without a sample (start-up): it counts as last heard of at
    /// `last_seen_ms`, so `HostDown` fires `offline_after_ms` later unless it reports.
    pub fn know_host(&mut self, host: &str, last_seen_ms: u64, offline_after_ms: u64) {
        let n_rules = self.rules.rules.len();
        let entry = self
            .hosts
            .entry(Arc::from(host))
            .or_insert_with_key(|name| HostAlerts::new(name.clone(), n_rules));
        entry.last_sample_ms = entry.last_sample_ms.max(last_seen_ms);
        entry.offline_after_ms = offline_after_ms;
    }

    /// Forgets a host and its alerts (the host was deleted): its firing alerts are
    /// reported resolved at `now_ms`, so receivers and the store stop counting them, and
    /// nothing (not even `HostDown`) is evaluated for it again until it sends a sample.
    pub fn forget_host(&mut self, host: &str, now_ms: u64, changes: &mut Vec<Change>) {
        let Some(mut gone) = self.hosts.remove(host) else {
            return;
        };
        bump(&self.revision);
        let each = contexts(
            &self.rules,
            &self.names,
            &self.revision,
            &gone.name,
            gone.generation,
            now_ms,
        );
        for context in each {
            for (object, active) in std::mem::take(&mut gone.rules[context.idx].objects) {
                context.resolve(&object, active, changes);
            }
        }
    }

    /// The newest sample of `host` the engine saw (for the "why" of notifications).
    pub fn latest_sample(&self, host: &str) -> Option<Arc<Sample>> {
        self.hosts.get(host).and_then(|h| h.latest.clone())
    }

    /// Puts back an alert that was firing before a restart, without notifying; returns
    /// `false` when its rule no longer exists (the caller resolves it).
    pub fn restore(&mut self, alert: &RestoredAlert) -> bool {
        let Some(rule) = self
            .rules
            .rules
            .iter()
            .position(|r| r.alert == alert.alertname)
        else {
            return false;
        };
        let n_rules = self.rules.rules.len();
        let host = self
            .hosts
            .entry(Arc::from(alert.host.as_str()))
            .or_insert_with_key(|name| HostAlerts::new(name.clone(), n_rules));
        host.rules[rule].objects.insert(
            Arc::from(alert.object.as_str()),
            Active {
                state: AlertState::Firing,
                active_since_ms: alert.active_since_ms,
                fired_at_ms: Some(alert.fired_at_ms),
                value: alert.value,
                current: alert.value,
                cleared: false,
                generation: host.generation,
            },
        );
        bump(&self.revision);
        true
    }

    /// Evaluates one fresh sample of `record.host` that arrived at `now_ms`; pushes the
    /// resulting changes to `changes`.
    pub fn observe(
        &mut self,
        record: &Record,
        now_ms: u64,
        offline_after_ms: u64,
        changes: &mut Vec<Change>,
    ) {
        let n_rules = self.rules.rules.len();
        let host = match self.hosts.get_mut(&*record.host) {
            Some(host) => host,
            None => self
                .hosts
                .entry(record.host.clone())
                .or_insert_with(|| HostAlerts::new(record.host.clone(), n_rules)),
        };
        // After a silence the condition was not observed all along: `for` starts again.
        if now_ms.saturating_sub(host.last_sample_ms) > host.offline_after_ms && host.drop_pending()
        {
            bump(&self.revision);
        }
        host.last_sample_ms = now_ms;
        host.offline_after_ms = offline_after_ms;
        host.latest = Some(record.sample.clone());
        host.generation += 1;
        let generation = host.generation;
        let each = contexts(
            &self.rules,
            &self.names,
            &self.revision,
            &host.name,
            generation,
            now_ms,
        );
        for context in each {
            let rule = context.rule;
            if !rule.applies_to(&host.name) {
                continue;
            }
            let state = &mut host.rules[context.idx];
            if rule.metric == Metric::HostDown {
                // A sample is the host's answer: it is up again.
                if let Some(active) = state.objects.remove("") {
                    context.resolve("", active, changes);
                }
                continue;
            }
            rule.metric.read(record, |object, value| {
                context.evaluate(state, object, value, changes);
            });
            // Objects missing from this sample (unmounted, interface gone) end.
            let gone: Vec<Arc<str>> = state
                .objects
                .iter()
                .filter(|(_, a)| a.generation != generation)
                .map(|(k, _)| k.clone())
                .collect();
            for object in gone {
                if let Some(active) = state.objects.remove(&object) {
                    context.resolve(&object, active, changes);
                }
                state.series.remove(&object);
            }
        }
    }

    /// Time-based evaluation: `host_down`, and firing alerts whose value cleared and
    /// whose minimum firing time has now passed. Call about once a second.
    pub fn tick(&mut self, now_ms: u64, changes: &mut Vec<Change>) {
        for host in self.hosts.values_mut() {
            let silent_ms = now_ms.saturating_sub(host.last_sample_ms);
            let down = silent_ms >= host.offline_after_ms;
            if down && host.drop_pending() {
                bump(&self.revision);
            }
            let (name, generation) = (&host.name, host.generation);
            for context in contexts(
                &self.rules,
                &self.names,
                &self.revision,
                name,
                generation,
                now_ms,
            ) {
                let rule = context.rule;
                let state = &mut host.rules[context.idx];
                if rule.metric == Metric::HostDown {
                    if !rule.applies_to(&host.name) {
                        continue;
                    }
                    if down {
                        let since = host.last_sample_ms.saturating_add(host.offline_after_ms);
                        context.hold(state, "", silent_ms as f64 / 1000.0, since, changes);
                    } else if let Some(active) = state.objects.remove("") {
                        context.resolve("", active, changes);
                    }
                    continue;
                }
                if down {
                    continue; // Frozen: stale values decide nothing.
                }
                let due: Vec<Arc<str>> = state
                    .objects
                    .iter()
                    .filter(|(_, a)| a.cleared && context.min_firing_passed(a))
                    .map(|(k, _)| k.clone())
                    .collect();
                for object in due {
                    if let Some(active) = state.objects.remove(&object) {
                        context.resolve(&object, active, changes);
                    }
                }
            }
        }
    }

    /// Every pending and firing alert, sorted by host, alert name and object.
    pub fn active(&self) -> Vec<Alert> {
        let mut out = Vec::new();
        for host in self.hosts.values() {
            for (idx, state) in host.rules.iter().enumerate() {
                for (object, active) in &state.objects {
                    out.push(self.snapshot(idx, &host.name, object, active));
                }
            }
        }
        out.sort_by(|a, b| {
            (&a.host, &a.alertname, &a.object).cmp(&(&b.host, &b.alertname, &b.object))
        });
        out
    }

    fn snapshot(&self, idx: usize, host: &Arc<str>, object: &Arc<str>, a: &Active) -> Alert {
        let rule = &self.rules.rules[idx];
        snapshot(rule, idx, &self.names[idx], host, object, a)
    }
}

/// An alert that was firing when the server stopped, as the store kept it.
#[derive(Debug, Clone, PartialEq)]
pub struct RestoredAlert {
    /// Rule name.
    pub alertname: String,
    /// Host name.
    pub host: String,
    /// Object label value, `""` for host-wide alerts.
    pub object: String,
    /// Last known value.
    pub value: f64,
    /// When the condition started to hold, Unix ms.
    pub active_since_ms: u64,
    /// When it started firing, Unix ms.
    pub fired_at_ms: u64,
}

impl HostAlerts {
    fn new(name: Arc<str>, n_rules: usize) -> HostAlerts {
        HostAlerts {
            name,
            last_sample_ms: 0,
            offline_after_ms: u64::MAX,
            generation: 0,
            latest: None,
            rules: (0..n_rules).map(|_| RuleState::default()).collect(),
        }
    }

    /// Drops every pending alert; `true` if there was one.
    fn drop_pending(&mut self) -> bool {
        let mut dropped = false;
        for state in &mut self.rules {
            let before = state.objects.len();
            state.objects.retain(|_, a| a.state == AlertState::Firing);
            dropped |= state.objects.len() != before;
        }
        dropped
    }
}

/// What evaluating one rule for one host needs.
struct Context<'a> {
    rule: &'a Rule,
    idx: usize,
    name: &'a Arc<str>,
    host: &'a Arc<str>,
    now_ms: u64,
    generation: u64,
    revision: &'a Cell<u64>,
}

/// Each rule's evaluation context for `host` at `now_ms`, in rule order. A free function
/// over the engine's fields, so a host can be borrowed mutably beside it.
fn contexts<'a>(
    rules: &'a RuleSet,
    names: &'a [Arc<str>],
    revision: &'a Cell<u64>,
    host: &'a Arc<str>,
    generation: u64,
    now_ms: u64,
) -> impl Iterator<Item = Context<'a>> {
    rules
        .rules
        .iter()
        .zip(names)
        .enumerate()
        .map(move |(idx, (rule, name))| Context {
            rule,
            idx,
            name,
            host,
            now_ms,
            generation,
            revision,
        })
}

impl Context<'_> {
    /// Feeds one measured value of `object`.
    fn evaluate(&self, state: &mut RuleState, object: &str, value: f64, changes: &mut Vec<Change>) {
        let compared = match self.rule.predict {
            None => Some(value),
            Some(p) => {
                let series = state
                    .series
                    .get_or_insert_with(object, || Series::new(p.over));
                series.push(self.now_ms, value);
                series.predict(self.now_ms, p.ahead)
            }
        };
        let Some(compared) = compared else {
            // Not enough history to predict: nothing changes, the object is still there.
            if let Some(active) = state.objects.get_mut(object) {
                active.generation = self.generation;
            }
            return;
        };
        match state.objects.get_mut(object) {
            None => {
                if self.rule.holds(compared) {
                    let mut active = Active {
                        state: AlertState::Pending,
                        active_since_ms: self.now_ms,
                        fired_at_ms: None,
                        value: compared,
                        current: value,
                        cleared: false,
                        generation: self.generation,
                    };
                    self.promote(object, &mut active, changes);
                    state.objects.insert(Arc::from(object), active);
                    bump(self.revision);
                }
            }
            Some(active) => {
                active.generation = self.generation;
                active.value = compared;
                active.current = value;
                match active.state {
                    AlertState::Pending if self.rule.holds(compared) => {
                        self.promote(object, active, changes)
                    }
                    AlertState::Pending => {
                        state.objects.remove(object);
                        bump(self.revision);
                    }
                    AlertState::Firing => {
                        active.cleared = self.rule.cleared(compared);
                        if active.cleared && self.min_firing_passed(active) {
                            if let Some(active) = state.objects.remove(object) {
                                self.resolve(object, active, changes);
                            }
                        }
                    }
                }
            }
        }
    }

    /// `host_down` is true with `value`, having become true at `since_ms`.
    fn hold(
        &self,
        state: &mut RuleState,
        object: &str,
        value: f64,
        since_ms: u64,
        changes: &mut Vec<Change>,
    ) {
        let active = state.objects.get_or_insert_with(object, || {
            bump(self.revision);
            Active {
                state: AlertState::Pending,
                active_since_ms: since_ms,
                fired_at_ms: None,
                value,
                current: value,
                cleared: false,
                generation: self.generation,
            }
        });
        active.value = value;
        active.current = value;
        self.promote(object, active, changes);
    }

    /// Pending to firing once `for` has passed.
    fn promote(&self, object: &str, active: &mut Active, changes: &mut Vec<Change>) {
        if active.state == AlertState::Pending
            && self.now_ms.saturating_sub(active.active_since_ms) >= duration_ms(self.rule.for_)
        {
            active.state = AlertState::Firing;
            active.fired_at_ms = Some(self.now_ms);
            bump(self.revision);
            changes.push(Change::Fired(snapshot(
                self.rule,
                self.idx,
                self.name,
                self.host,
                &Arc::from(object),
                active,
            )));
        }
    }

    fn min_firing_passed(&self, active: &Active) -> bool {
        let fired = active.fired_at_ms.unwrap_or(active.active_since_ms);
        self.now_ms.saturating_sub(fired) >= duration_ms(self.rule.min_firing)
    }

    /// Reports a firing alert as resolved now; a pending one just ends.
    fn resolve(&self, object: &str, active: Active, changes: &mut Vec<Change>) {
        bump(self.revision);
        if active.state == AlertState::Firing {
            changes.push(Change::Resolved {
                alert: snapshot(
                    self.rule,
                    self.idx,
                    self.name,
                    self.host,
                    &Arc::from(object),
                    &active,
                ),
                at_ms: self.now_ms,
            });
        }
    }
}

fn snapshot(
    rule: &Rule,
    idx: usize,
    name: &Arc<str>,
    host: &Arc<str>,
    object: &Arc<str>,
    a: &Active,
) -> Alert {
    Alert {
        rule: idx,
        alertname: name.clone(),
        host: host.clone(),
        object: rule
            .metric
            .object_label()
            .map(|label| (label, object.clone())),
        state: a.state,
        severity: rule.severity,
        value: a.value,
        current: a.current,
        active_since_ms: a.active_since_ms,
        fired_at_ms: a.fired_at_ms,
    }
}

fn bump(revision: &Cell<u64>) {
    revision.set(revision.get() + 1);
}

fn duration_ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::metric::tests::record;

    const S: u64 = 1000;

    fn engine(yaml: &str) -> Engine {
        Engine::new(Arc::new(RuleSet::parse(yaml).unwrap()))
    }

    const CPU_BUSY: &str = "rules:\n  - alert: CpuBusy\n    metric: cpu_usage_ratio\n    above: 0.5\n    for: 2s\n    clear: 0.4\n    min_firing: 3s\n";

    /// Feeds one CPU value at `t` seconds and returns the changes.
    fn feed(engine: &mut Engine, host: &str, t: u64, cpu: f64) -> Vec<Change> {
        let mut changes = Vec::new();
        engine.observe(&record(host, cpu), t * S, 5 * S, &mut changes);
        changes
    }

    fn tick(engine: &mut Engine, t: u64) -> Vec<Change> {
        let mut changes = Vec::new();
        engine.tick(t * S, &mut changes);
        changes
    }

    fn names(changes: &[Change]) -> Vec<String> {
        changes
            .iter()
            .map(|c| match c {
                Change::Fired(a) => format!("fired {} {}", a.alertname, a.host),
                Change::Resolved { alert, .. } => {
                    format!("resolved {} {}", alert.alertname, alert.host)
                }
            })
            .collect()
    }

    #[test]
    fn pending_then_firing_after_for() {
        let mut e = engine(CPU_BUSY);
        assert!(feed(&mut e, "a", 0, 0.9).is_empty());
        assert_eq!(e.active()[0].state, AlertState::Pending);
        assert!(feed(&mut e, "a", 1, 0.9).is_empty());
        let changes = feed(&mut e, "a", 2, 0.9);
        assert_eq!(names(&changes), ["fired CpuBusy a"]);
        let Change::Fired(alert) = &changes[0] else {
            unreachable!()
        };
        assert_eq!(alert.active_since_ms, 0);
        assert_eq!(alert.fired_at_ms, Some(2 * S));
        assert_eq!(alert.value, 0.9);
        assert!(feed(&mut e, "a", 3, 0.9).is_empty(), "fires once");
    }

    #[test]
    fn pending_ends_quietly_when_the_condition_breaks() {
        let mut e = engine(CPU_BUSY);
        feed(&mut e, "a", 0, 0.9);
        assert!(feed(&mut e, "a", 1, 0.45).is_empty());
        assert!(e.active().is_empty());
        // `for` starts again.
        feed(&mut e, "a", 2, 0.9);
        assert!(feed(&mut e, "a", 3, 0.9).is_empty());
        assert_eq!(names(&feed(&mut e, "a", 4, 0.9)), ["fired CpuBusy a"]);
    }

    #[test]
    fn hysteresis_and_minimum_firing_time_stop_flapping() {
        let mut e = engine(CPU_BUSY);
        for t in 0..3 {
            feed(&mut e, "a", t, 0.9);
        }
        // Oscillating around the threshold, never below clear: no change at all.
        let mut all = Vec::new();
        for t in 3..60 {
            all.extend(feed(&mut e, "a", t, if t % 2 == 0 { 0.55 } else { 0.45 }));
            all.extend(tick(&mut e, t));
        }
        assert!(all.is_empty(), "{:?}", names(&all));
        assert_eq!(names(&feed(&mut e, "a", 60, 0.3)), ["resolved CpuBusy a"]);
        assert!(e.active().is_empty());
    }

    #[test]
    fn minimum_firing_time_delays_the_resolution_to_a_tick() {
        let mut e = engine(CPU_BUSY);
        for t in 0..3 {
            feed(&mut e, "a", t, 0.9); // Fires at 2 s.
        }
        assert!(
            feed(&mut e, "a", 3, 0.1).is_empty(),
            "fired 1 s ago, minimum 3 s"
        );
        assert!(tick(&mut e, 4).is_empty());
        assert_eq!(names(&tick(&mut e, 5)), ["resolved CpuBusy a"]);
    }

    #[test]
    fn host_down_fires_after_offline_after_and_resolves_on_a_sample() {
        let mut e = engine("rules:\n  - alert: HostDown\n    metric: host_down\n");
        feed(&mut e, "a", 0, 0.1);
        assert!(tick(&mut e, 4).is_empty());
        let changes = tick(&mut e, 5);
        assert_eq!(names(&changes), ["fired HostDown a"]);
        let Change::Fired(alert) = &changes[0] else {
            unreachable!()
        };
        assert_eq!(alert.active_since_ms, 5 * S);
        assert!(tick(&mut e, 6).is_empty(), "fires once");
        assert_eq!(e.active()[0].value, 6.0, "seconds of silence");
        assert_eq!(names(&feed(&mut e, "a", 7, 0.1)), ["resolved HostDown a"]);
    }

    #[test]
    fn a_down_host_raises_nothing_from_stale_values() {
        let mut e = engine(&format!(
            "{CPU_BUSY}  - alert: HostDown\n    metric: host_down\n"
        ));
        feed(&mut e, "a", 0, 0.9); // CpuBusy pending.
        let mut changes = Vec::new();
        for t in 1..30 {
            changes.extend(tick(&mut e, t));
        }
        assert_eq!(names(&changes), ["fired HostDown a"]);
        let active = e.active();
        assert_eq!(
            active.len(),
            1,
            "the pending CPU alert was dropped: {active:?}"
        );
        // Back with a high value: `for` starts from this sample, not from before.
        let changes = feed(&mut e, "a", 30, 0.9);
        assert_eq!(names(&changes), ["resolved HostDown a"]);
        assert!(feed(&mut e, "a", 31, 0.9).is_empty());
        assert_eq!(names(&feed(&mut e, "a", 32, 0.9)), ["fired CpuBusy a"]);
    }

    #[test]
    fn a_firing_alert_is_frozen_while_its_host_is_down() {
        let mut e = engine(CPU_BUSY);
        for t in 0..3 {
            feed(&mut e, "a", t, 0.9);
        }
        feed(&mut e, "a", 3, 0.1); // Cleared, but the minimum firing time (until 5 s) ...
        for t in 9..100 {
            assert!(
                tick(&mut e, t).is_empty(),
                "... runs out while the host is down"
            );
        }
        assert_eq!(e.active()[0].state, AlertState::Firing);
    }

    #[test]
    fn objects_are_separate_alerts_and_vanished_ones_resolve() {
        let mut e = engine(
            "rules:\n  - alert: CoreBusy\n    metric: cpu_core_usage_ratio\n    above: 0.5\n",
        );
        let changes = feed(&mut e, "a", 0, 0.9);
        assert_eq!(names(&changes), ["fired CoreBusy a"]);
        let Change::Fired(alert) = &changes[0] else {
            unreachable!()
        };
        assert_eq!(alert.object, Some(("core", Arc::from("0"))));
        let mut r = record("a", 0.9);
        Arc::make_mut(&mut r.sample).cpu.cores.clear();
        let mut changes = Vec::new();
        e.observe(&r, S, 5 * S, &mut changes);
        assert_eq!(names(&changes), ["resolved CoreBusy a"]);
    }

    #[test]
    fn host_globs_limit_a_rule() {
        let mut e = engine("rules:\n  - alert: A\n    metric: cpu_usage_ratio\n    above: 0.5\n    hosts: \"web-*\"\n");
        assert!(feed(&mut e, "db-1", 0, 0.9).is_empty());
        assert_eq!(names(&feed(&mut e, "web-1", 0, 0.9)), ["fired A web-1"]);
    }

    #[test]
    fn restored_alerts_do_not_fire_again_and_still_resolve() {
        let mut e = engine(CPU_BUSY);
        assert!(e.restore(&RestoredAlert {
            alertname: "CpuBusy".into(),
            host: "a".into(),
            object: String::new(),
            value: 0.9,
            active_since_ms: 0,
            fired_at_ms: 2 * S,
        }));
        assert!(!e.restore(&RestoredAlert {
            alertname: "Gone".into(),
            host: "a".into(),
            object: String::new(),
            value: 0.9,
            active_since_ms: 0,
            fired_at_ms: 2 * S,
        }));
        assert!(feed(&mut e, "a", 100, 0.9).is_empty());
        assert_eq!(names(&feed(&mut e, "a", 101, 0.1)), ["resolved CpuBusy a"]);
    }

    #[test]
    fn disk_filling_up_fires_from_the_fit() {
        let mut e = Engine::new(Arc::new(RuleSet::defaults()));
        let mut fired = Vec::new();
        // `/` grows 0.5 % an hour from 80 %: full in 40 h, not within 24 h.
        // Then 2 % an hour: full within 24 h.
        for minute in 0..(8 * 60) {
            let t = minute * 60 * S;
            let used = if minute < 4 * 60 {
                0.80 + 0.005 * minute as f64 / 60.0
            } else {
                0.82 + 0.02 * (minute - 4 * 60) as f64 / 60.0
            };
            let mut r = record("a", 0.1);
            let fs = &mut Arc::make_mut(&mut r.sample).filesystems[0];
            fs.size_bytes = 1_000_000;
            fs.avail_bytes = ((1.0 - used) * 1_000_000.0) as u64;
            let mut changes = Vec::new();
            e.observe(&r, t, 5 * 60 * S, &mut changes);
            fired.extend(changes.into_iter().map(|c| (minute, c)));
        }
        let first = fired.first().expect("DiskFillingUp fired");
        assert!(first.0 > 4 * 60, "not before the faster growth: {first:?}");
        let Change::Fired(alert) = &first.1 else {
            panic!("{first:?}")
        };
        assert_eq!(&*alert.alertname, "DiskFillingUp");
        assert_eq!(alert.object, Some(("mountpoint", Arc::from("/"))));
        assert!(alert.value > 1.0 && alert.current < 0.95);
    }
}
