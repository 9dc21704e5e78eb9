//! `Fleet`: the latest state of every host, the one piece of shared mutable state.
//!
//! Each host has its own small mutex; the map of hosts is locked only to find or add a host.
//! Methods are sync and no lock is held across `.await`. Every change bumps a global version
//! and stamps the host with it, so dashboard clients can ask "what changed since version v"
//! at their own pace instead of receiving a queue of samples (see `http::live`).
//!
//! This is the model only: it knows nothing of JSON or HTTP. Readers get [`HostSnapshot`]s,
//! plain copies taken under the host's lock, and `http::views` decides how they look.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use utizmon_protocol::{now_ms, Hello, HostInfo, RejectReason, Sample};

use utizmon_store::{Point, Record, StoredHost};

use crate::auth::secret::{constant_time_eq, sha256, Digest256};
use crate::history::{self, CpuRing};
use crate::rates::Rates;

/// Number of CPU ratios sent with each host in a dashboard snapshot.
pub const CPU_HISTORY_LEN: usize = 120;

/// Default of `--max-hosts`.
pub const DEFAULT_MAX_HOSTS: usize = 10_000;

/// Shared handle to the state of every host; cheap to clone.
#[derive(Debug, Clone)]
pub struct Fleet(Arc<Inner>);

/// One host's slot. Connections keep an `Arc` to it, so a sample needs no map lookup.
#[derive(Debug)]
pub struct HostSlot {
    name: Arc<str>,
    state: Mutex<HostState>,
    /// Set by [`Fleet::forget`]: the slot is no longer in the fleet, and its connection
    /// must stop and store nothing more.
    forgotten: AtomicBool,
}

/// The live connection of an edge, as returned by [`Fleet::connect`].
#[derive(Debug)]
pub struct EdgeSession {
    slot: Arc<HostSlot>,
    conn_id: u64,
    run_id: Arc<str>,
    /// Cancelled when a newer connection of the same edge run replaces this one.
    pub superseded: CancellationToken,
}

/// Why [`Fleet::connect`] refused a hello. Messages name no run id: they reach the
/// connecting client, who may not own the run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    /// Another run of the host is live and still sending. The message names no run id:
    /// run ids are shown only to logged-in users.
    #[error("host name {host:?} is held by another edge run that sent a sample {held_for_ms} ms ago; it can be taken over after {takeover_after_ms} ms without new samples")]
    HostConflict {
        host: String,
        held_for_ms: u64,
        takeover_after_ms: u64,
    },
    #[error("the server already tracks {limit} hosts (--max-hosts); refusing the new host name {host:?}")]
    TooManyHosts { host: String, limit: usize },
    /// The hello names a run whose secret it does not present.
    #[error("this run of host {host:?} was started by another connection (run secret mismatch)")]
    NotYourRun { host: String },
}

impl ConnectError {
    /// The refusal reason (and close code) for this error.
    pub fn reason(&self) -> RejectReason {
        match self {
            ConnectError::HostConflict { .. } => RejectReason::HostConflict,
            ConnectError::TooManyHosts { .. } => RejectReason::TooManyHosts,
            ConnectError::NotYourRun { .. } => RejectReason::Forbidden,
        }
    }
}

/// What [`Fleet::forget`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForgottenHost {
    /// Its edge was connected; that connection is being closed.
    pub was_connected: bool,
}

/// What [`Fleet::take`] did with a sample; both variants carry the cumulative ack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// New sample: stored, now the host's latest.
    Applied { ack: u64 },
    /// Already had it (replay): not stored again, counted.
    Duplicate { ack: u64 },
}

/// Why [`Fleet::take`] refused a sample.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TakeError {
    /// The host's current run is not this session's: another connection took the slot.
    /// Cannot happen while the session lives; the connection is closed rather than acked.
    #[error("the host's current run is no longer this connection's")]
    RunReplaced,
}

/// Delivery statistics of the current (or last) run of a host's edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeRun {
    /// The edge process's run id, from its hello; views show it only to logged-in users.
    pub run_id: String,
    /// Sampling interval announced in the hello, in ms.
    pub interval_ms: u64,
    /// First sequence number this server received in this run; `None` before any.
    pub first_seq: Option<u64>,
    /// Highest sequence number taken; `0` before any.
    pub last_seq: u64,
    /// Samples taken (duplicates excluded).
    pub received: u64,
    /// Samples received again after they were taken (replays).
    pub duplicates: u64,
    /// Sequence numbers skipped between `first_seq` and `last_seq`, never received.
    pub gaps: u64,
    /// SHA-256 of the run secret its first hello presented; later hellos of the run must
    /// present the same one. `None`: an edge older than protocol minor 1.
    pub secret_hash: Option<Digest256>,
}

/// A copy of one host's live state, taken under its lock: what views and `/metrics` read.
/// The big parts are shared (`Arc`), so a snapshot costs a few reference counts.
#[derive(Debug, Clone)]
pub struct HostSnapshot {
    /// Host name, as the edge announced it.
    pub host: Arc<str>,
    /// Whether an edge connection for this host is open (the host is online).
    pub connected: bool,
    /// Server time of the last hello or sample, Unix ms.
    pub last_seen_ms: Option<u64>,
    /// From the last hello, or from the store after a restart.
    pub info: Option<Arc<HostInfo>>,
    /// The last sample taken.
    pub latest: Option<Arc<Sample>>,
    /// Rates between the last two samples; `None` until a second sample.
    pub rates: Option<Arc<Rates>>,
    /// The history point of the last sample, as handed to the store; `None` until the
    /// host's first sample since the server started.
    pub point: Option<Arc<Point>>,
    /// The current (or last) run of the host's edge; `None` for a host restored from the
    /// store whose edge has not connected since.
    pub run: Option<EdgeRun>,
    /// The last [`CPU_HISTORY_LEN`] CPU ratios, oldest first; only when asked for.
    pub cpu_history: Option<Vec<f32>>,
}

/// Server-wide counters for `/metrics`.
#[derive(Debug, Clone)]
pub struct ServerCounters {
    pub samples_received: u64,
    /// Same order as [`RejectReason::ALL`].
    pub samples_rejected: [u64; RejectReason::ALL.len()],
    pub edges_connected: u64,
    /// Edge connections opened (sessions registered by a hello), reconnects included.
    pub edge_connections: u64,
    /// Edge connections the server closed because no new sample came in time.
    pub edges_silent: u64,
    pub dashboard_clients: u64,
}

/// Decrements the dashboard client gauge when dropped.
#[derive(Debug)]
pub struct DashboardClientGuard(Fleet);

#[derive(Debug)]
struct Inner {
    hosts: RwLock<BTreeMap<Arc<str>, Arc<HostSlot>>>,
    /// `--max-hosts`: a hello for a new name beyond it is refused.
    max_hosts: usize,
    version: AtomicU64,
    changed: Notify,
    next_conn_id: AtomicU64,
    samples_received: AtomicU64,
    samples_rejected: [AtomicU64; RejectReason::ALL.len()],
    edges_connected: AtomicU64,
    edge_connections: AtomicU64,
    edges_silent: AtomicU64,
    dashboard_clients: AtomicU64,
}

#[derive(Debug)]
struct HostState {
    info: Option<Arc<HostInfo>>,
    latest: Option<Arc<Sample>>,
    rates: Option<Arc<Rates>>,
    /// The history point of `latest`, as stored (for the detail stream).
    point: Option<Arc<Point>>,
    last_seen_ms: Option<u64>,
    live: Option<LiveConn>,
    run: Option<EdgeRun>,
    /// The edge interval of the current (or last) run, or as stored before a restart.
    interval_ms: Option<u64>,
    /// Recent CPU ratios for sparklines.
    cpu: CpuRing,
    /// Fleet version of this host's last change.
    changed_at: u64,
}

#[derive(Debug)]
struct LiveConn {
    id: u64,
    superseded: CancellationToken,
    /// When this run last applied a new sample (or connected, for a new run). Duplicates
    /// and reconnects of the same run do not move it, so a holder that only replays or
    /// reconnects cannot keep a name from a new run (see [`Fleet::connect`]).
    applied_at: Instant,
}

impl Fleet {
    /// An empty fleet holding at most [`DEFAULT_MAX_HOSTS`] hosts.
    pub fn new() -> Fleet {
        Fleet::with_max_hosts(DEFAULT_MAX_HOSTS)
    }

    /// An empty fleet holding at most `max_hosts` hosts (`--max-hosts`).
    pub fn with_max_hosts(max_hosts: usize) -> Fleet {
        Fleet(Arc::new(Inner {
            hosts: RwLock::new(BTreeMap::new()),
            max_hosts,
            version: AtomicU64::new(1),
            changed: Notify::new(),
            next_conn_id: AtomicU64::new(1),
            samples_received: AtomicU64::new(0),
            samples_rejected: Default::default(),
            edges_connected: AtomicU64::new(0),
            edge_connections: AtomicU64::new(0),
            edges_silent: AtomicU64::new(0),
            dashboard_clients: AtomicU64::new(0),
        }))
    }

    /// Registers the connection that sent `hello`, applying the host-name rules.
    ///
    /// A new name is refused once the fleet holds `--max-hosts` hosts. A live connection
    /// of the same run is superseded. One of another run wins, unless it has applied no new
    /// sample for `takeover_after` (the newcomer's `--offline-after`): then the newcomer
    /// takes the name over, so an edge is never kept out of its own name for longer than
    /// that by a holder that went quiet, only replays, or announced a huge interval.
    ///
    /// The session's `superseded` token is a child of `stop` (the server's shutdown), so a
    /// connection waits on one token of its own for both. Waiting on the shutdown token
    /// itself took that one token's lock at every wake-up of every connection: 1-2 % of
    /// the server's CPU in `perf`, on two threads contending for it.
    pub fn connect(
        &self,
        hello: Hello,
        now: Instant,
        takeover_after: Duration,
        stop: &CancellationToken,
    ) -> Result<EdgeSession, ConnectError> {
        let slot = self.admit(&hello.host.host_name)?;
        let conn_id = self.0.next_conn_id.fetch_add(1, Ordering::Relaxed);
        self.0.edge_connections.fetch_add(1, Ordering::Relaxed);
        let superseded = stop.child_token();
        let run_id: Arc<str> = Arc::from(hello.run_id.as_str());
        let secret_hash = hello.run_secret.as_deref().map(sha256);
        {
            let mut state = slot.state.lock();
            let run = state.run.as_ref().filter(|r| r.run_id == hello.run_id);
            if let Some(expected) = run.and_then(|r| r.secret_hash.as_ref()) {
                // Only the process that started the run knows its secret.
                if !secret_hash.is_some_and(|h| constant_time_eq(&h, expected)) {
                    return Err(ConnectError::NotYourRun {
                        host: hello.host.host_name,
                    });
                }
            }
            let same_run = run.is_some();
            let mut applied_at = now;
            if let Some(live) = &state.live {
                let held_for = now.saturating_duration_since(live.applied_at);
                if !same_run && held_for < takeover_after {
                    return Err(ConnectError::HostConflict {
                        host: hello.host.host_name,
                        held_for_ms: held_for.as_millis() as u64,
                        takeover_after_ms: takeover_after.as_millis() as u64,
                    });
                }
                if same_run {
                    applied_at = live.applied_at;
                } else {
                    tracing::warn!(host = %slot.name, ?held_for, "a new edge run takes over a host name whose holder sent nothing new");
                }
                live.superseded.cancel();
            } else {
                self.0.edges_connected.fetch_add(1, Ordering::Relaxed);
            }
            state.live = Some(LiveConn {
                id: conn_id,
                superseded: superseded.clone(),
                applied_at,
            });
            match &mut state.run {
                Some(run) if run.run_id == hello.run_id => run.interval_ms = hello.interval_ms,
                run => {
                    *run = Some(EdgeRun {
                        run_id: hello.run_id,
                        interval_ms: hello.interval_ms,
                        first_seq: None,
                        last_seq: 0,
                        received: 0,
                        duplicates: 0,
                        gaps: 0,
                        secret_hash,
                    })
                }
            }
            state.interval_ms = Some(hello.interval_ms);
            state.info = Some(Arc::new(hello.host));
            state.last_seen_ms = Some(now_ms());
            state.changed_at = self.bump();
        }
        self.0.changed.notify_waiters();
        Ok(EdgeSession {
            slot,
            conn_id,
            run_id,
            superseded,
        })
    }

    /// Takes one sample of a connected edge into the live state, and returns the record
    /// to persist; the edge may be acknowledged once the store has committed that record.
    ///
    /// Samples at or below the run's highest sequence number are duplicates: counted, not
    /// applied again, but still handed to the store (which keeps each `(run, seq)` once),
    /// so a sample whose first commit failed is stored when the edge replays it.
    /// Skipped sequence numbers are counted as gaps.
    pub fn take(
        &self,
        session: &EdgeSession,
        sample: impl Into<Arc<Sample>>,
    ) -> Result<(Taken, Record), TakeError> {
        let sample = sample.into();
        let (taken, record) = {
            let mut state = session.slot.state.lock();
            let state = &mut *state;
            let record = |state: &HostState, rates: Option<&Rates>| Record {
                host: session.slot.name.clone(),
                run_id: session.run_id.clone(),
                info: state.info.clone(),
                interval_ms: state.interval_ms.unwrap_or_default(),
                point: history::point(&sample, rates),
                sample: sample.clone(),
                frame: None,
            };
            let Some(run) = state.run.as_mut().filter(|r| *r.run_id == *session.run_id) else {
                return Err(TakeError::RunReplaced);
            };
            if sample.seq <= run.last_seq {
                run.duplicates += 1;
                let ack = run.last_seq;
                return Ok((Taken::Duplicate { ack }, record(state, None)));
            }
            match run.first_seq {
                None => run.first_seq = Some(sample.seq),
                Some(_) => run.gaps += sample.seq - run.last_seq - 1,
            }
            run.last_seq = sample.seq;
            run.received += 1;
            let ack = run.last_seq;
            if let Some(prev) = &state.latest {
                state.rates = Rates::between(prev, &sample, state.rates.as_deref()).map(Arc::new);
            }
            state.cpu.push(sample.cpu.usage_ratio);
            if let Some(live) = state.live.as_mut().filter(|l| l.id == session.conn_id) {
                live.applied_at = Instant::now();
            }
            let record = record(state, state.rates.as_deref());
            state.point = Some(Arc::new(record.point.clone()));
            state.latest = Some(sample.clone());
            state.last_seen_ms = Some(now_ms());
            state.changed_at = self.bump();
            (Taken::Applied { ack }, record)
        };
        self.0.samples_received.fetch_add(1, Ordering::Relaxed);
        self.0.changed.notify_waiters();
        Ok((taken, record))
    }

    /// Lists a host remembered by the store (after a restart), offline until its edge
    /// connects again, with its stored interval. A host already known is left as it is.
    pub fn restore(&self, stored: StoredHost) {
        let slot = self.slot(&stored.name);
        {
            let mut state = slot.state.lock();
            if state.latest.is_some() || state.live.is_some() {
                return;
            }
            state.info = stored.info.map(Arc::new);
            state.latest = stored.latest.map(Arc::new);
            state.interval_ms = stored.interval_ms;
            state.last_seen_ms = stored.last_seen_ms;
            state.changed_at = self.bump();
        }
        self.0.changed.notify_waiters();
    }

    /// Removes `host` from the fleet (`DELETE /api/v1/hosts/{host}`); `None` if unknown.
    /// A connected edge's session is cancelled (its connection closes; the edge may
    /// reconnect and be listed again). The store is told separately.
    pub fn forget(&self, host: &str) -> Option<ForgottenHost> {
        let slot = self.0.hosts.write().remove(host)?;
        slot.forgotten.store(true, Ordering::Release);
        let was_connected = {
            let state = slot.state.lock();
            if let Some(live) = &state.live {
                live.superseded.cancel();
            }
            state.live.is_some()
        };
        self.bump();
        self.0.changed.notify_waiters();
        Some(ForgottenHost { was_connected })
    }

    /// Number of hosts in the fleet (at most `--max-hosts`, plus any restored at start).
    pub fn len(&self) -> usize {
        self.0.hosts.read().len()
    }

    /// Whether the fleet holds no host.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Marks the session's connection closed; the host stays listed, offline.
    pub fn disconnect(&self, session: &EdgeSession) {
        {
            let mut state = session.slot.state.lock();
            if state.live.as_ref().is_none_or(|l| l.id != session.conn_id) {
                return; // Superseded: the newer connection owns the slot.
            }
            state.live = None;
            state.changed_at = self.bump();
        }
        self.0.edges_connected.fetch_sub(1, Ordering::Relaxed);
        self.0.changed.notify_waiters();
    }

    /// Counts one edge connection closed as silent.
    pub fn silenced(&self) {
        self.0.edges_silent.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one refused frame or connection.
    pub fn reject(&self, reason: RejectReason) {
        let idx = RejectReason::ALL
            .iter()
            .position(|r| *r == reason)
            .unwrap_or_default();
        self.0.samples_rejected[idx].fetch_add(1, Ordering::Relaxed);
    }

    /// Current version; grows with every change of any host.
    pub fn version(&self) -> u64 {
        self.0.version.load(Ordering::Acquire)
    }

    /// Resolves after the next change. Create it before reading [`Fleet::version`] to
    /// never miss a change in between.
    pub fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.0.changed.notified()
    }

    /// Every host, sorted by name, without CPU history.
    pub fn hosts(&self) -> Vec<HostSnapshot> {
        self.slots().iter().map(|s| s.snapshot(false)).collect()
    }

    /// One host, if known, without CPU history.
    pub fn host(&self, host: &str) -> Option<HostSnapshot> {
        self.find(host).map(|s| s.snapshot(false))
    }

    /// One host, if known and changed after version `since`.
    pub fn host_changed_since(&self, host: &str, since: u64) -> Option<HostSnapshot> {
        let slot = self.find(host)?;
        let changed_at = slot.state.lock().changed_at;
        (changed_at > since).then(|| slot.snapshot(false))
    }

    /// Hosts changed after version `since` (`0`: every host), sorted by name; with their
    /// CPU history when `cpu_history` is set.
    pub fn changed_since(&self, since: u64, cpu_history: bool) -> Vec<HostSnapshot> {
        self.slots()
            .iter()
            .filter_map(|slot| {
                let state = slot.state.lock();
                (state.changed_at > since).then(|| slot.snapshot_of(&state, cpu_history))
            })
            .collect()
    }

    /// The edge interval of a host's current (or last) run, in ms; for a host restored
    /// from the store, the interval it had before the restart.
    pub fn interval_ms(&self, host: &str) -> Option<u64> {
        self.find(host)?.state.lock().interval_ms
    }

    /// Server-wide counters.
    pub fn counters(&self) -> ServerCounters {
        ServerCounters {
            samples_received: self.0.samples_received.load(Ordering::Relaxed),
            samples_rejected: std::array::from_fn(|i| {
                self.0.samples_rejected[i].load(Ordering::Relaxed)
            }),
            edges_connected: self.0.edges_connected.load(Ordering::Relaxed),
            edge_connections: self.0.edge_connections.load(Ordering::Relaxed),
            edges_silent: self.0.edges_silent.load(Ordering::Relaxed),
            dashboard_clients: self.0.dashboard_clients.load(Ordering::Relaxed),
        }
    }

    /// Counts a dashboard client until the guard is dropped.
    pub fn dashboard_client(&self) -> DashboardClientGuard {
        self.0.dashboard_clients.fetch_add(1, Ordering::Relaxed);
        DashboardClientGuard(self.clone())
    }

    fn bump(&self) -> u64 {
        self.0.version.fetch_add(1, Ordering::AcqRel) + 1
    }

    fn find(&self, host: &str) -> Option<Arc<HostSlot>> {
        self.0.hosts.read().get(host).cloned()
    }

    fn slots(&self) -> Vec<Arc<HostSlot>> {
        self.0.hosts.read().values().cloned().collect()
    }

    /// The slot of `host`, created if there is room under `--max-hosts`.
    fn admit(&self, host: &str) -> Result<Arc<HostSlot>, ConnectError> {
        if let Some(slot) = self.find(host) {
            return Ok(slot);
        }
        let limit = self.0.max_hosts;
        let hosts = self.0.hosts.write();
        if hosts.len() >= limit && !hosts.contains_key(host) {
            return Err(ConnectError::TooManyHosts {
                host: host.to_owned(),
                limit,
            });
        }
        Ok(Self::slot_in(hosts, host))
    }

    /// The slot of `host`, created if missing whatever the limit (hosts restored from the
    /// store were admitted before).
    fn slot(&self, host: &str) -> Arc<HostSlot> {
        if let Some(slot) = self.find(host) {
            return slot;
        }
        Self::slot_in(self.0.hosts.write(), host)
    }

    fn slot_in(
        mut hosts: parking_lot::RwLockWriteGuard<'_, BTreeMap<Arc<str>, Arc<HostSlot>>>,
        host: &str,
    ) -> Arc<HostSlot> {
        hosts
            .entry(Arc::from(host))
            .or_insert_with_key(|name| {
                Arc::new(HostSlot {
                    name: name.clone(),
                    state: Mutex::new(HostState {
                        info: None,
                        latest: None,
                        rates: None,
                        point: None,
                        last_seen_ms: None,
                        live: None,
                        run: None,
                        interval_ms: None,
                        cpu: CpuRing::new(CPU_HISTORY_LEN),
                        changed_at: 0,
                    }),
                    forgotten: AtomicBool::new(false),
                })
            })
            .clone()
    }
}

impl Default for Fleet {
    fn default() -> Fleet {
        Fleet::new()
    }
}

impl Drop for DashboardClientGuard {
    fn drop(&mut self) {
        self.0 .0.dashboard_clients.fetch_sub(1, Ordering::Relaxed);
    }
}

impl EdgeSession {
    /// Host name this connection sends for.
    pub fn host(&self) -> &str {
        &self.slot.name
    }

    /// Whether an operator removed this host ([`Fleet::forget`]): the connection must end
    /// and store nothing more.
    pub fn forgotten(&self) -> bool {
        self.slot.forgotten.load(Ordering::Acquire)
    }
}

impl HostSlot {
    fn snapshot(&self, cpu_history: bool) -> HostSnapshot {
        self.snapshot_of(&self.state.lock(), cpu_history)
    }

    fn snapshot_of(&self, state: &HostState, cpu_history: bool) -> HostSnapshot {
        HostSnapshot {
            host: self.name.clone(),
            connected: state.live.is_some(),
            last_seen_ms: state.last_seen_ms,
            info: state.info.clone(),
            latest: state.latest.clone(),
            rates: state.rates.clone(),
            point: state.point.clone(),
            run: state.run.clone(),
            cpu_history: cpu_history.then(|| state.cpu.to_vec()),
        }
    }
}

/// How long a connection may stay silent: the flag if set, else three edge intervals.
pub fn offline_after(flag: Option<Duration>, interval_ms: u64) -> Duration {
    flag.unwrap_or(Duration::from_millis(interval_ms.saturating_mul(3)))
}

#[cfg(test)]
mod tests {
    use utizmon_protocol::PROTOCOL_VERSION;

    use super::*;
    use crate::rates::tests::sample;

    const TAKEOVER: Duration = Duration::from_secs(3);

    fn fleet() -> Fleet {
        Fleet::new()
    }

    fn connect(fleet: &Fleet, hello: Hello) -> Result<EdgeSession, ConnectError> {
        fleet.connect(hello, Instant::now(), TAKEOVER, &CancellationToken::new())
    }

    fn hello(host: &str, run_id: &str) -> Hello {
        Hello {
            version: PROTOCOL_VERSION,
            minor: 0,
            run_id: run_id.into(),
            run_secret: None,
            interval_ms: 1000,
            host: HostInfo {
                host_name: host.into(),
                ..HostInfo::default()
            },
        }
    }

    fn take(fleet: &Fleet, session: &EdgeSession, sample: Sample) -> Taken {
        fleet.take(session, sample).unwrap().0
    }

    #[test]
    fn duplicates_and_gaps_are_counted() {
        let fleet = fleet();
        let session = connect(&fleet, hello("a", "r1")).unwrap();
        assert_eq!(take(&fleet, &session, sample(1)), Taken::Applied { ack: 1 });
        assert_eq!(take(&fleet, &session, sample(2)), Taken::Applied { ack: 2 });
        assert_eq!(
            take(&fleet, &session, sample(2)),
            Taken::Duplicate { ack: 2 }
        );
        assert_eq!(take(&fleet, &session, sample(5)), Taken::Applied { ack: 5 });
        assert_eq!(
            take(&fleet, &session, sample(3)),
            Taken::Duplicate { ack: 5 }
        );
        let edge = fleet.host("a").unwrap().run.unwrap();
        assert_eq!(
            (
                edge.first_seq,
                edge.last_seq,
                edge.received,
                edge.duplicates,
                edge.gaps
            ),
            (Some(1), 5, 3, 2, 2)
        );
        assert_eq!(fleet.counters().samples_received, 3);
    }

    #[test]
    fn same_run_supersedes_other_run_is_refused() {
        let fleet = fleet();
        let first = connect(&fleet, hello("a", "r1")).unwrap();
        take(&fleet, &first, sample(1));
        let second = connect(&fleet, hello("a", "r1")).unwrap();
        assert!(first.superseded.is_cancelled());
        assert!(!second.superseded.is_cancelled());
        // The run continues: stats are kept.
        assert_eq!(take(&fleet, &second, sample(2)), Taken::Applied { ack: 2 });
        let err = connect(&fleet, hello("a", "r2")).unwrap_err();
        assert!(matches!(err, ConnectError::HostConflict { .. }), "{err}");
        assert!(!err.to_string().contains("r1"), "no run id in {err}");
        // The superseded connection closing does not mark the host offline.
        fleet.disconnect(&first);
        assert!(fleet.host("a").unwrap().connected);
        assert_eq!(fleet.counters().edges_connected, 1);
        fleet.disconnect(&second);
        assert!(!fleet.host("a").unwrap().connected);
        assert_eq!(fleet.counters().edges_connected, 0);
        // A new run starts fresh statistics.
        let third = connect(&fleet, hello("a", "r2")).unwrap();
        assert_eq!(take(&fleet, &third, sample(7)), Taken::Applied { ack: 7 });
        let edge = fleet.host("a").unwrap().run.unwrap();
        assert_eq!((edge.first_seq, edge.gaps, edge.received), (Some(7), 0, 1));
    }

    #[test]
    fn new_names_beyond_max_hosts_are_refused() {
        let fleet = Fleet::with_max_hosts(2);
        let _a = connect(&fleet, hello("a", "r1")).unwrap();
        let _b = connect(&fleet, hello("b", "r1")).unwrap();
        let err = connect(&fleet, hello("c", "r1")).unwrap_err();
        assert_eq!(
            err,
            ConnectError::TooManyHosts {
                host: "c".into(),
                limit: 2
            }
        );
        assert_eq!(fleet.len(), 2);
        // Known names still connect; forgetting one makes room.
        let _a2 = connect(&fleet, hello("a", "r1")).unwrap();
        assert!(fleet.forget("b").is_some());
        assert!(fleet.forget("b").is_none());
        assert!(connect(&fleet, hello("c", "r1")).is_ok());
    }

    #[test]
    fn a_holder_that_sends_nothing_new_loses_its_name_after_takeover_time() {
        let fleet = fleet();
        let long_ago = Instant::now() - Duration::from_secs(10);
        let squatter = fleet
            .connect(
                hello("a", "squat"),
                long_ago,
                TAKEOVER,
                &CancellationToken::new(),
            )
            .unwrap();
        // Reconnecting its own run does not count as news.
        let squatter = {
            let again = fleet.connect(
                hello("a", "squat"),
                Instant::now(),
                TAKEOVER,
                &CancellationToken::new(),
            );
            assert!(squatter.superseded.is_cancelled());
            again.unwrap()
        };
        let genuine = connect(&fleet, hello("a", "genuine")).unwrap();
        assert!(squatter.superseded.is_cancelled());
        assert_eq!(take(&fleet, &genuine, sample(1)), Taken::Applied { ack: 1 });
        // The genuine edge just sent news: a newcomer must wait.
        let err = connect(&fleet, hello("a", "other")).unwrap_err();
        assert!(matches!(err, ConnectError::HostConflict { .. }), "{err}");
        fleet.disconnect(&squatter);
        assert_eq!(fleet.counters().edges_connected, 1);
    }

    #[test]
    fn forgetting_a_connected_host_cancels_its_session() {
        let fleet = fleet();
        let session = connect(&fleet, hello("a", "r1")).unwrap();
        assert!(!session.forgotten());
        let v = fleet.version();
        assert_eq!(
            fleet.forget("a"),
            Some(ForgottenHost {
                was_connected: true
            })
        );
        assert!(session.forgotten() && session.superseded.is_cancelled());
        assert!(fleet.host("a").is_none());
        assert!(fleet.version() > v);
        fleet.disconnect(&session);
        assert_eq!(fleet.counters().edges_connected, 0);
    }

    #[test]
    fn changes_are_visible_by_version() {
        let fleet = fleet();
        let a = connect(&fleet, hello("a", "r1")).unwrap();
        let _b = connect(&fleet, hello("b", "r1")).unwrap();
        let all = fleet.changed_since(0, true);
        assert_eq!(all.len(), 2);
        assert!(all[0].cpu_history.is_some());
        let v = fleet.version();
        assert!(fleet.changed_since(v, true).is_empty());
        take(&fleet, &a, sample(1));
        let changed = fleet.changed_since(v, false);
        assert_eq!(changed.len(), 1);
        assert_eq!(&*changed[0].host, "a");
        assert!(changed[0].cpu_history.is_none());
    }

    #[test]
    fn a_restored_host_keeps_its_stored_interval_until_its_edge_connects() {
        let fleet = fleet();
        fleet.restore(StoredHost {
            name: "a".into(),
            info: None,
            latest: Some(sample(4)),
            interval_ms: Some(250),
            last_seen_ms: Some(1),
        });
        assert_eq!(fleet.interval_ms("a"), Some(250));
        let host = fleet.host("a").unwrap();
        assert!(!host.connected && host.run.is_none());
        assert_eq!(host.latest.unwrap().seq, 4);
        let _session = connect(&fleet, hello("a", "r1")).unwrap();
        assert_eq!(fleet.interval_ms("a"), Some(1000));
    }

    #[test]
    fn a_sample_of_a_replaced_run_is_refused_not_acked() {
        let fleet = fleet();
        let old = connect(&fleet, hello("a", "r1")).unwrap();
        fleet.disconnect(&old);
        let _new = connect(&fleet, hello("a", "r2")).unwrap();
        assert_eq!(
            fleet.take(&old, sample(1)).unwrap_err(),
            TakeError::RunReplaced
        );
        assert_eq!(fleet.counters().samples_received, 0);
    }

    #[test]
    fn offline_after_defaults_to_three_intervals() {
        assert_eq!(offline_after(None, 1000), Duration::from_secs(3));
        assert_eq!(
            offline_after(Some(Duration::from_millis(500)), 1000),
            Duration::from_millis(500)
        );
    }
}
