//! `Fleet`: the latest state of every host, the one piece of shared mutable state.
//!
//! Each host has its own small mutex; the map of hosts is locked only to find or add a host.
//! Methods are sync and no lock is held across `.await`. Every change bumps a global version
//! and stamps the host with it, so dashboard clients can ask "what changed since version v"
//! at their own pace instead of receiving a queue of samples (see `http::live`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Serialize, Serializer};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use utizmon_protocol::{Hello, HostInfo, RejectReason, Sample};

use utizmon_store::{Record, StoredHost};

use crate::history::{self, CpuRing};

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
    #[error("host name {host:?} is held by another edge run that sent a sample {held_for_ms} ms ago; it can be taken over after {takeover_after_ms} ms without new samples")]
    HostConflict {
        host: String,
        held_for_ms: u64,
        takeover_after_ms: u64,
    },
    #[error("the server already tracks {limit} hosts (--max-hosts); refusing the new host name {host:?}")]
    TooManyHosts { host: String, limit: usize },
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

/// Per-second rates computed from the last two samples' counters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rates {
    /// Sum over the interfaces that have a rate, except loopback (`lo`).
    pub rx_bytes_per_second: f64,
    /// Sum over the interfaces that have a rate, except loopback (`lo`).
    pub tx_bytes_per_second: f64,
    /// Interfaces present in both samples whose counters did not go backwards.
    pub networks: Vec<NetworkRate>,
}

/// Rates of one network interface.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NetworkRate {
    pub device: String,
    pub rx_bytes_per_second: f64,
    pub tx_bytes_per_second: f64,
}

/// Delivery statistics of the current (or last) run of a host's edge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EdgeRun {
    pub run_id: String,
    pub interval_ms: u64,
    /// First sequence number this server received in this run; `null` before any.
    pub first_seq: Option<u64>,
    /// Highest sequence number taken; `0` before any.
    pub last_seq: u64,
    /// Samples taken (duplicates excluded).
    pub received: u64,
    /// Samples received again after they were taken (replays).
    pub duplicates: u64,
    /// Sequence numbers skipped between `first_seq` and `last_seq`, never received.
    pub gaps: u64,
}

/// `"online"` or `"offline"`, as in the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Online,
    Offline,
}

/// Everything known about one host: `GET /api/v1/hosts/{host}` and the detail stream.
#[derive(Debug, Clone, Serialize)]
pub struct HostView {
    #[serde(serialize_with = "arc_str")]
    pub host: Arc<str>,
    pub status: Status,
    pub connected: bool,
    pub last_seen_ms: Option<u64>,
    #[serde(serialize_with = "arc_opt")]
    pub info: Option<Arc<HostInfo>>,
    #[serde(serialize_with = "arc_opt")]
    pub latest: Option<Arc<Sample>>,
    #[serde(serialize_with = "arc_opt")]
    pub rates: Option<Arc<Rates>>,
    pub edge: Option<EdgeRun>,
}

/// One row of the overview stream (see `docs/api.md`, `HostSummary`).
#[derive(Debug, Clone, Serialize)]
pub struct HostSummary {
    #[serde(serialize_with = "arc_str")]
    pub host: Arc<str>,
    pub status: Status,
    pub last_seen_ms: Option<u64>,
    pub os: Option<String>,
    pub cores: Option<u32>,
    pub uptime_seconds: Option<f64>,
    pub cpu_ratio: Option<f64>,
    pub mem_ratio: Option<f64>,
    pub swap_ratio: Option<f64>,
    pub load1: Option<f64>,
    pub fs_max_ratio: Option<f64>,
    pub fs_max_mountpoint: Option<String>,
    pub rx_bytes_per_second: Option<f64>,
    pub tx_bytes_per_second: Option<f64>,
    /// Only in snapshots: the last [`CPU_HISTORY_LEN`] CPU ratios, oldest first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_history: Option<Vec<f32>>,
}

/// What `/metrics` needs of one host, copied out under its lock.
#[derive(Debug, Clone)]
pub struct HostMetrics {
    pub host: Arc<str>,
    pub connected: bool,
    pub info: Option<Arc<HostInfo>>,
    pub latest: Option<Arc<Sample>>,
}

/// Server-wide counters for `/metrics`.
#[derive(Debug, Clone)]
pub struct ServerCounters {
    pub samples_received: u64,
    /// Same order as [`RejectReason::ALL`].
    pub samples_rejected: [u64; RejectReason::ALL.len()],
    pub edges_connected: u64,
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
    dashboard_clients: AtomicU64,
}

#[derive(Debug)]
struct HostState {
    info: Option<Arc<HostInfo>>,
    latest: Option<Arc<Sample>>,
    rates: Option<Arc<Rates>>,
    last_seen_ms: Option<u64>,
    live: Option<LiveConn>,
    run: Option<EdgeRun>,
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
    pub fn connect(
        &self,
        hello: Hello,
        now: Instant,
        takeover_after: Duration,
    ) -> Result<EdgeSession, ConnectError> {
        let slot = self.admit(&hello.host.host_name)?;
        let conn_id = self.0.next_conn_id.fetch_add(1, Ordering::Relaxed);
        let superseded = CancellationToken::new();
        let run_id: Arc<str> = Arc::from(hello.run_id.as_str());
        {
            let mut state = lock(&slot.state);
            let same_run = state.run.as_ref().is_some_and(|r| r.run_id == hello.run_id);
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
                    })
                }
            }
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
    pub fn take(&self, session: &EdgeSession, sample: Sample) -> (Taken, Record) {
        let sample = Arc::new(sample);
        let (taken, record) = {
            let mut state = lock(&session.slot.state);
            let state = &mut *state;
            let record = |state: &HostState, rates: Option<&Rates>| Record {
                host: session.slot.name.clone(),
                run_id: session.run_id.clone(),
                info: state.info.clone(),
                interval_ms: state.run.as_ref().map_or(0, |r| r.interval_ms),
                point: history::point(&sample, rates),
                sample: sample.clone(),
            };
            let Some(run) = state.run.as_mut().filter(|r| *r.run_id == *session.run_id) else {
                // Cannot happen while the session lives; refuse to ack rather than guess.
                return (Taken::Duplicate { ack: 0 }, record(state, None));
            };
            if sample.seq <= run.last_seq {
                run.duplicates += 1;
                let ack = run.last_seq;
                return (Taken::Duplicate { ack }, record(state, None));
            }
            match run.first_seq {
                None => run.first_seq = Some(sample.seq),
                Some(_) => run.gaps += sample.seq - run.last_seq - 1,
            }
            run.last_seq = sample.seq;
            run.received += 1;
            let ack = run.last_seq;
            if let Some(prev) = &state.latest {
                state.rates = Rates::between(prev, &sample).map(Arc::new);
            }
            state.cpu.push(sample.cpu.usage_ratio);
            if let Some(live) = state.live.as_mut().filter(|l| l.id == session.conn_id) {
                live.applied_at = Instant::now();
            }
            let record = record(state, state.rates.as_deref());
            state.latest = Some(sample.clone());
            state.last_seen_ms = Some(now_ms());
            state.changed_at = self.bump();
            (Taken::Applied { ack }, record)
        };
        self.0.samples_received.fetch_add(1, Ordering::Relaxed);
        self.0.changed.notify_waiters();
        (taken, record)
    }

    /// Lists a host remembered by the store (after a restart), offline until its edge
    /// connects again. A host already known is left as it is.
    pub fn restore(&self, stored: StoredHost) {
        let slot = self.slot(&stored.name);
        {
            let mut state = lock(&slot.state);
            if state.latest.is_some() || state.live.is_some() {
                return;
            }
            state.info = stored.info.map(Arc::new);
            state.latest = stored.latest.map(Arc::new);
            state.last_seen_ms = stored.last_seen_ms;
            state.changed_at = self.bump();
        }
        self.0.changed.notify_waiters();
    }

    /// Removes `host` from the fleet (`DELETE /api/v1/hosts/{host}`); `None` if unknown.
    /// A connected edge's session is cancelled (its connection closes; the edge may
    /// reconnect and be listed again). The store is told separately.
    pub fn forget(&self, host: &str) -> Option<ForgottenHost> {
        let slot = self
            .0
            .hosts
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(host)?;
        slot.forgotten.store(true, Ordering::Release);
        let was_connected = {
            let state = lock(&slot.state);
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
        read(&self.0.hosts).len()
    }

    /// Whether the fleet holds no host.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Marks the session's connection closed; the host stays listed, offline.
    pub fn disconnect(&self, session: &EdgeSession) {
        {
            let mut state = lock(&session.slot.state);
            if state.live.as_ref().is_none_or(|l| l.id != session.conn_id) {
                return; // Superseded: the newer connection owns the slot.
            }
            state.live = None;
            state.changed_at = self.bump();
        }
        self.0.edges_connected.fetch_sub(1, Ordering::Relaxed);
        self.0.changed.notify_waiters();
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

    /// Every host, sorted by name.
    pub fn views(&self) -> Vec<HostView> {
        self.slots().iter().map(|s| s.view()).collect()
    }

    /// One host, if known.
    pub fn view(&self, host: &str) -> Option<HostView> {
        self.find(host).map(|s| s.view())
    }

    /// One host, if known and changed after version `since`.
    pub fn view_changed_since(&self, host: &str, since: u64) -> Option<HostView> {
        let slot = self.find(host)?;
        let changed_at = lock(&slot.state).changed_at;
        (changed_at > since).then(|| slot.view())
    }

    /// Summaries of hosts changed after version `since` (`0`: every host, with CPU history).
    pub fn summaries_since(&self, since: u64) -> Vec<HostSummary> {
        self.slots()
            .iter()
            .filter_map(|slot| {
                let state = lock(&slot.state);
                (state.changed_at > since).then(|| summary(&slot.name, &state, since == 0))
            })
            .collect()
    }

    /// The edge interval of a host's current (or last) run, in ms.
    pub fn interval_ms(&self, host: &str) -> Option<u64> {
        let slot = self.find(host)?;
        let state = lock(&slot.state);
        state.run.as_ref().map(|r| r.interval_ms)
    }

    /// What `/metrics` exports of every host, sorted by name; locks each host briefly.
    pub fn metrics(&self) -> Vec<HostMetrics> {
        self.slots()
            .iter()
            .map(|slot| {
                let state = lock(&slot.state);
                HostMetrics {
                    host: slot.name.clone(),
                    connected: state.live.is_some(),
                    info: state.info.clone(),
                    latest: state.latest.clone(),
                }
            })
            .collect()
    }

    /// Server-wide counters.
    pub fn counters(&self) -> ServerCounters {
        ServerCounters {
            samples_received: self.0.samples_received.load(Ordering::Relaxed),
            samples_rejected: std::array::from_fn(|i| {
                self.0.samples_rejected[i].load(Ordering::Relaxed)
            }),
            edges_connected: self.0.edges_connected.load(Ordering::Relaxed),
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
        read(&self.0.hosts).get(host).cloned()
    }

    fn slots(&self) -> Vec<Arc<HostSlot>> {
        read(&self.0.hosts).values().cloned().collect()
    }

    /// The slot of `host`, created if there is room under `--max-hosts`.
    fn admit(&self, host: &str) -> Result<Arc<HostSlot>, ConnectError> {
        if let Some(slot) = self.find(host) {
            return Ok(slot);
        }
        let limit = self.0.max_hosts;
        let hosts = self.0.hosts.write().unwrap_or_else(|e| e.into_inner());
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
        Self::slot_in(
            self.0.hosts.write().unwrap_or_else(|e| e.into_inner()),
            host,
        )
    }

    fn slot_in(
        mut hosts: std::sync::RwLockWriteGuard<'_, BTreeMap<Arc<str>, Arc<HostSlot>>>,
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
                        last_seen_ms: None,
                        live: None,
                        run: None,
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
    fn view(&self) -> HostView {
        let state = lock(&self.state);
        HostView {
            host: self.name.clone(),
            status: status(&state),
            connected: state.live.is_some(),
            last_seen_ms: state.last_seen_ms,
            info: state.info.clone(),
            latest: state.latest.clone(),
            rates: state.rates.clone(),
            edge: state.run.clone(),
        }
    }
}

impl Rates {
    /// Rates between two samples of one host; `None` when time did not advance.
    /// An interface whose counter went backwards (reset) gets no rate.
    pub fn between(prev: &Sample, cur: &Sample) -> Option<Rates> {
        if cur.ts_ms <= prev.ts_ms {
            return None;
        }
        let seconds = (cur.ts_ms - prev.ts_ms) as f64 / 1000.0;
        let mut rates = Rates {
            rx_bytes_per_second: 0.0,
            tx_bytes_per_second: 0.0,
            networks: Vec::with_capacity(cur.networks.len()),
        };
        for net in &cur.networks {
            let Some(old) = prev.networks.iter().find(|o| o.device == net.device) else {
                continue;
            };
            if net.rx_bytes < old.rx_bytes || net.tx_bytes < old.tx_bytes {
                continue;
            }
            let rx = (net.rx_bytes - old.rx_bytes) as f64 / seconds;
            let tx = (net.tx_bytes - old.tx_bytes) as f64 / seconds;
            // Loopback traffic never leaves the host: listed, but not in the totals.
            if net.device != "lo" {
                rates.rx_bytes_per_second += rx;
                rates.tx_bytes_per_second += tx;
            }
            rates.networks.push(NetworkRate {
                device: net.device.clone(),
                rx_bytes_per_second: rx,
                tx_bytes_per_second: tx,
            });
        }
        Some(rates)
    }
}

/// Current Unix time in milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// How long a connection may stay silent: the flag if set, else three edge intervals.
pub fn offline_after(flag: Option<Duration>, interval_ms: u64) -> Duration {
    flag.unwrap_or(Duration::from_millis(interval_ms.saturating_mul(3)))
}

fn status(state: &HostState) -> Status {
    if state.live.is_some() {
        Status::Online
    } else {
        Status::Offline
    }
}

fn summary(name: &Arc<str>, state: &HostState, with_history: bool) -> HostSummary {
    let latest = state.latest.as_deref();
    let ratio = |used: u64, total: u64| (total > 0).then(|| used as f64 / total as f64);
    let fs_max = latest.and_then(|s| {
        s.filesystems
            .iter()
            .filter(|fs| fs.size_bytes > 0)
            .map(|fs| {
                let used = fs.size_bytes - fs.avail_bytes.min(fs.size_bytes);
                (used as f64 / fs.size_bytes as f64, fs)
            })
            .max_by(|a, b| a.0.total_cmp(&b.0))
    });
    HostSummary {
        host: name.clone(),
        status: status(state),
        last_seen_ms: state.last_seen_ms,
        os: state
            .info
            .as_ref()
            .map(|i| format!("{} {}", i.os_name, i.os_version).trim().to_owned()),
        cores: state.info.as_ref().map(|i| i.cores),
        uptime_seconds: latest.map(|s| s.uptime_seconds.round()),
        cpu_ratio: latest.map(|s| round(s.cpu.usage_ratio, 4)),
        mem_ratio: latest
            .and_then(|s| ratio(s.memory.used_bytes, s.memory.total_bytes))
            .map(|r| round(r, 4)),
        swap_ratio: latest
            .and_then(|s| ratio(s.memory.swap_used_bytes, s.memory.swap_total_bytes))
            .map(|r| round(r, 4)),
        load1: latest.map(|s| round(s.load.load1, 2)),
        fs_max_ratio: fs_max.map(|(r, _)| round(r, 4)),
        fs_max_mountpoint: fs_max.map(|(_, fs)| fs.mountpoint.clone()),
        rx_bytes_per_second: state.rates.as_ref().map(|r| r.rx_bytes_per_second.round()),
        tx_bytes_per_second: state.rates.as_ref().map(|r| r.tx_bytes_per_second.round()),
        cpu_history: with_history.then(|| state.cpu.to_vec()),
    }
}

/// `value` rounded to `digits` decimals: the overview shows percentages with one decimal,
/// and 17-digit floats would triple the bytes each browser receives.
fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

fn arc_opt<T: Serialize, S: Serializer>(value: &Option<Arc<T>>, s: S) -> Result<S::Ok, S::Error> {
    value.as_deref().serialize(s)
}

fn arc_str<S: Serializer>(value: &Arc<str>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(value)
}

/// Locks a host; a poisoned lock (a panic elsewhere) still holds consistent plain data.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use utizmon_protocol::{Network, PROTOCOL_VERSION};

    use super::*;

    const TAKEOVER: Duration = Duration::from_secs(3);

    fn fleet() -> Fleet {
        Fleet::new()
    }

    fn connect(fleet: &Fleet, hello: Hello) -> Result<EdgeSession, ConnectError> {
        fleet.connect(hello, Instant::now(), TAKEOVER)
    }

    fn hello(host: &str, run_id: &str) -> Hello {
        Hello {
            version: PROTOCOL_VERSION,
            minor: 0,
            run_id: run_id.into(),
            interval_ms: 1000,
            host: HostInfo {
                host_name: host.into(),
                ..HostInfo::default()
            },
        }
    }

    fn sample(seq: u64) -> Sample {
        Sample {
            seq,
            ts_ms: 1_700_000_000_000 + seq * 1000,
            networks: vec![Network {
                device: "eth0".into(),
                rx_bytes: seq * 100,
                tx_bytes: 1000 - seq,
                ..Network::default()
            }],
            ..Sample::default()
        }
    }

    #[test]
    fn duplicates_and_gaps_are_counted() {
        let fleet = fleet();
        let session = connect(&fleet, hello("a", "r1")).unwrap();
        assert_eq!(fleet.take(&session, sample(1)).0, Taken::Applied { ack: 1 });
        assert_eq!(fleet.take(&session, sample(2)).0, Taken::Applied { ack: 2 });
        assert_eq!(
            fleet.take(&session, sample(2)).0,
            Taken::Duplicate { ack: 2 }
        );
        assert_eq!(fleet.take(&session, sample(5)).0, Taken::Applied { ack: 5 });
        assert_eq!(
            fleet.take(&session, sample(3)).0,
            Taken::Duplicate { ack: 5 }
        );
        let edge = fleet.view("a").unwrap().edge.unwrap();
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
        let _ = fleet.take(&first, sample(1));
        let second = connect(&fleet, hello("a", "r1")).unwrap();
        assert!(first.superseded.is_cancelled());
        assert!(!second.superseded.is_cancelled());
        // The run continues: stats are kept.
        assert_eq!(fleet.take(&second, sample(2)).0, Taken::Applied { ack: 2 });
        let err = connect(&fleet, hello("a", "r2")).unwrap_err();
        assert!(matches!(err, ConnectError::HostConflict { .. }), "{err}");
        assert!(!err.to_string().contains("r1"), "no run id in {err}");
        // The superseded connection closing does not mark the host offline.
        fleet.disconnect(&first);
        assert_eq!(fleet.view("a").unwrap().status, Status::Online);
        assert_eq!(fleet.counters().edges_connected, 1);
        fleet.disconnect(&second);
        assert_eq!(fleet.view("a").unwrap().status, Status::Offline);
        assert_eq!(fleet.counters().edges_connected, 0);
        // A new run starts fresh statistics.
        let third = connect(&fleet, hello("a", "r2")).unwrap();
        assert_eq!(fleet.take(&third, sample(7)).0, Taken::Applied { ack: 7 });
        let edge = fleet.view("a").unwrap().edge.unwrap();
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
            .connect(hello("a", "squat"), long_ago, TAKEOVER)
            .unwrap();
        // Reconnecting its own run does not count as news.
        let squatter = {
            let again = fleet.connect(hello("a", "squat"), Instant::now(), TAKEOVER);
            assert!(squatter.superseded.is_cancelled());
            again.unwrap()
        };
        let genuine = connect(&fleet, hello("a", "genuine")).unwrap();
        assert!(squatter.superseded.is_cancelled());
        assert_eq!(fleet.take(&genuine, sample(1)).0, Taken::Applied { ack: 1 });
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
        assert!(fleet.view("a").is_none());
        assert!(fleet.version() > v);
        fleet.disconnect(&session);
        assert_eq!(fleet.counters().edges_connected, 0);
    }

    #[test]
    fn changes_are_visible_by_version() {
        let fleet = fleet();
        let a = connect(&fleet, hello("a", "r1")).unwrap();
        let _b = connect(&fleet, hello("b", "r1")).unwrap();
        let all = fleet.summaries_since(0);
        assert_eq!(all.len(), 2);
        assert!(all[0].cpu_history.is_some());
        let v = fleet.version();
        assert!(fleet.summaries_since(v).is_empty());
        let _ = fleet.take(&a, sample(1));
        let changed = fleet.summaries_since(v);
        assert_eq!(changed.len(), 1);
        assert_eq!(&*changed[0].host, "a");
        assert!(changed[0].cpu_history.is_none());
    }

    #[test]
    fn rates_skip_counters_that_went_backwards() {
        let prev = sample(1);
        let mut cur = sample(3);
        // tx went from 999 to 997: backwards, so eth0 gets no rate.
        let rates = Rates::between(&prev, &cur).unwrap();
        assert!(rates.networks.is_empty());
        assert_eq!(rates.rx_bytes_per_second, 0.0);
        cur.networks[0].tx_bytes = 2000;
        let rates = Rates::between(&prev, &cur).unwrap();
        assert_eq!(rates.networks.len(), 1);
        assert_eq!(rates.networks[0].rx_bytes_per_second, 100.0);
        assert_eq!(rates.tx_bytes_per_second, (2000.0 - 999.0) / 2.0);
        assert!(Rates::between(&cur, &prev).is_none());
        // Loopback is listed but left out of the totals.
        let mut lo = cur.clone();
        lo.networks[0].device = "lo".into();
        let mut lo_prev = prev.clone();
        lo_prev.networks[0].device = "lo".into();
        let rates = Rates::between(&lo_prev, &lo).unwrap();
        assert_eq!(rates.networks.len(), 1);
        assert_eq!(rates.rx_bytes_per_second, 0.0);
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
