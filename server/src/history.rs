//! In-memory history of each host: recent raw samples plus per-minute rollups, queried in
//! buckets for the charts (`GET /api/v1/hosts/{host}/samples`).
//!
//! One [`HostHistory`] lives inside each host's state in `state::Fleet`, so recording costs
//! no extra lock. Both rings are bounded by age and by count. Durable storage (issue #6) is
//! out of scope here: a SQLite store can later take the same `record` calls from
//! `Fleet::take` (the step after which an edge is acknowledged) and answer the same
//! [`HistoryQuery`]; only [`HistoryPoint`] is part of the API contract.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use utizmon_protocol::Sample;

use crate::state::Rates;

/// How much history each host keeps in memory.
#[derive(Debug, Clone, Copy)]
pub struct HistoryLimits {
    /// Raw samples younger than this (by sample time) are kept.
    pub raw: Duration,
    /// Per-minute rollups younger than this are kept.
    pub rollup: Duration,
}

/// One point of a host's history, as served by the API (see `docs/api.md`).
///
/// A raw point is one sample; a bucketed point carries averages in the plain fields and
/// min/max for CPU. `ts_ms` is the sample time, or the bucket start.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryPoint {
    pub ts_ms: u64,
    pub cpu_ratio: f32,
    pub cpu_ratio_min: f32,
    pub cpu_ratio_max: f32,
    pub cores: Vec<f32>,
    pub mem_used_bytes: u64,
    pub mem_total_bytes: u64,
    pub swap_used_bytes: u64,
    pub swap_total_bytes: u64,
    pub load1: f32,
    pub load5: f32,
    pub load15: f32,
    pub networks: Vec<NetworkPoint>,
}

/// Network rates of one interface within a [`HistoryPoint`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NetworkPoint {
    pub device: String,
    pub rx_bytes_per_second: f32,
    pub tx_bytes_per_second: f32,
}

/// A resolved history request: every bound is explicit, in Unix milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryQuery {
    /// First sample time included.
    pub from_ms: u64,
    /// Last sample time included.
    pub to_ms: u64,
    /// Bucket width; `0` asks for raw points.
    pub step_ms: u64,
}

/// Recent samples and per-minute rollups of one host, bounded by [`HistoryLimits`].
#[derive(Debug)]
pub struct HostHistory {
    raw: VecDeque<Point>,
    minutes: VecDeque<Point>,
    minute: Option<Bucket>,
    /// Interface names, so points store a small index instead of a string.
    devices: Vec<Arc<str>>,
    raw_keep_ms: u64,
    raw_max: usize,
    rollup_keep_ms: u64,
    rollup_max: usize,
}

/// Most distinct interface names remembered per host; others are left out of history.
const MAX_DEVICES: usize = 1024;
const MINUTE_MS: u64 = 60_000;
/// Smallest edge interval the protocol allows; bounds the raw ring by count.
const MIN_INTERVAL_MS: u64 = 100;

/// One stored point: a raw sample (`n == 1`) or a finished rollup.
#[derive(Debug, Clone)]
struct Point {
    ts_ms: u64,
    n: u32,
    cpu: f32,
    cpu_min: f32,
    cpu_max: f32,
    cores: Box<[f32]>,
    mem_used: u64,
    mem_total: u64,
    swap_used: u64,
    swap_total: u64,
    load: [f32; 3],
    /// `(device index, rx bytes/s, tx bytes/s)`.
    net: Box<[(u16, f32, f32)]>,
}

/// Running sums of the points that fall into one bucket.
#[derive(Debug, Clone)]
struct Bucket {
    ts_ms: u64,
    n: u64,
    cpu: f64,
    cpu_min: f32,
    cpu_max: f32,
    /// Per core: sum and weight.
    cores: Vec<(f64, u64)>,
    mem_used: f64,
    mem_total: f64,
    swap_used: f64,
    swap_total: f64,
    load: [f64; 3],
    /// Per device: index, rx sum, tx sum, weight.
    net: Vec<(u16, f64, f64, u64)>,
}

impl HostHistory {
    /// An empty history with these limits.
    pub fn new(limits: HistoryLimits) -> HostHistory {
        let raw_keep_ms = duration_ms(limits.raw);
        let rollup_keep_ms = duration_ms(limits.rollup);
        HostHistory {
            raw: VecDeque::new(),
            minutes: VecDeque::new(),
            minute: None,
            devices: Vec::new(),
            raw_keep_ms,
            raw_max: usize::try_from(raw_keep_ms / MIN_INTERVAL_MS + 1).unwrap_or(usize::MAX),
            rollup_keep_ms,
            rollup_max: usize::try_from(rollup_keep_ms / MINUTE_MS + 1).unwrap_or(usize::MAX),
        }
    }

    /// Adds one accepted sample and its network rates (if known), dropping what aged out.
    pub fn record(&mut self, sample: &Sample, rates: Option<&Rates>) {
        let net = match rates {
            Some(rates) => rates
                .networks
                .iter()
                .filter_map(|n| {
                    let idx = self.device_index(&n.device)?;
                    Some((
                        idx,
                        n.rx_bytes_per_second as f32,
                        n.tx_bytes_per_second as f32,
                    ))
                })
                .collect(),
            None => Box::default(),
        };
        let cpu = sample.cpu.usage_ratio as f32;
        let point = Point {
            ts_ms: sample.ts_ms,
            n: 1,
            cpu,
            cpu_min: cpu,
            cpu_max: cpu,
            cores: sample.cpu.cores.iter().map(|&c| c as f32).collect(),
            mem_used: sample.memory.used_bytes,
            mem_total: sample.memory.total_bytes,
            swap_used: sample.memory.swap_used_bytes,
            swap_total: sample.memory.swap_total_bytes,
            load: [
                sample.load.load1 as f32,
                sample.load.load5 as f32,
                sample.load.load15 as f32,
            ],
            net,
        };

        let minute_start = point.ts_ms - point.ts_ms % MINUTE_MS;
        match &mut self.minute {
            // A sample from an older minute (clock stepped back) is folded into the current one.
            Some(bucket) if minute_start <= bucket.ts_ms => bucket.add(&point),
            slot => {
                if let Some(done) = slot.take() {
                    self.minutes.push_back(done.finish());
                }
                let mut bucket = Bucket::new(minute_start);
                bucket.add(&point);
                *slot = Some(bucket);
            }
        }
        let now = point.ts_ms;
        self.raw.push_back(point);

        trim(&mut self.raw, now, self.raw_keep_ms, self.raw_max);
        trim(&mut self.minutes, now, self.rollup_keep_ms, self.rollup_max);
    }

    /// The last `n` CPU ratios, oldest first.
    pub fn recent_cpu(&self, n: usize) -> Vec<f32> {
        let skip = self.raw.len().saturating_sub(n);
        self.raw.iter().skip(skip).map(|p| p.cpu).collect()
    }

    /// Points in `query.from_ms..=query.to_ms`, oldest first: raw where still kept, older
    /// ones from the minute rollups; with `step_ms > 0`, averaged into buckets of that width.
    pub fn query(&self, query: &HistoryQuery) -> Vec<HistoryPoint> {
        let in_range = |p: &&Point| (query.from_ms..=query.to_ms).contains(&p.ts_ms);
        // Rollups cover only whole minutes that ended before the oldest raw point.
        let raw_start = self.raw.front().map_or(u64::MAX, |p| p.ts_ms);
        let open_minute = self.minute.as_ref().map(Bucket::finish);
        let older = self
            .minutes
            .iter()
            .chain(open_minute.as_ref())
            .filter(move |p| p.ts_ms.saturating_add(MINUTE_MS) <= raw_start);
        let points = older.chain(self.raw.iter()).filter(in_range);

        if query.step_ms == 0 {
            return points.map(|p| self.to_api(p)).collect();
        }
        let mut buckets: BTreeMap<u64, Bucket> = BTreeMap::new();
        for point in points {
            let start = point.ts_ms - point.ts_ms % query.step_ms;
            buckets
                .entry(start)
                .or_insert_with(|| Bucket::new(start))
                .add(point);
        }
        buckets
            .values()
            .map(|bucket| self.to_api(&bucket.finish()))
            .collect()
    }

    fn device_index(&mut self, device: &str) -> Option<u16> {
        if let Some(idx) = self.devices.iter().position(|d| &**d == device) {
            return u16::try_from(idx).ok();
        }
        if self.devices.len() >= MAX_DEVICES {
            return None;
        }
        self.devices.push(Arc::from(device));
        u16::try_from(self.devices.len() - 1).ok()
    }

    fn to_api(&self, p: &Point) -> HistoryPoint {
        HistoryPoint {
            ts_ms: p.ts_ms,
            cpu_ratio: p.cpu,
            cpu_ratio_min: p.cpu_min,
            cpu_ratio_max: p.cpu_max,
            cores: p.cores.to_vec(),
            mem_used_bytes: p.mem_used,
            mem_total_bytes: p.mem_total,
            swap_used_bytes: p.swap_used,
            swap_total_bytes: p.swap_total,
            load1: p.load[0],
            load5: p.load[1],
            load15: p.load[2],
            networks: p
                .net
                .iter()
                .filter_map(|&(idx, rx, tx)| {
                    Some(NetworkPoint {
                        device: self.devices.get(usize::from(idx))?.to_string(),
                        rx_bytes_per_second: rx,
                        tx_bytes_per_second: tx,
                    })
                })
                .collect(),
        }
    }
}

impl Bucket {
    fn new(ts_ms: u64) -> Bucket {
        Bucket {
            ts_ms,
            n: 0,
            cpu: 0.0,
            cpu_min: f32::INFINITY,
            cpu_max: f32::NEG_INFINITY,
            cores: Vec::new(),
            mem_used: 0.0,
            mem_total: 0.0,
            swap_used: 0.0,
            swap_total: 0.0,
            load: [0.0; 3],
            net: Vec::new(),
        }
    }

    fn add(&mut self, p: &Point) {
        let w = u64::from(p.n);
        let wf = f64::from(p.n);
        self.n += w;
        self.cpu += f64::from(p.cpu) * wf;
        self.cpu_min = self.cpu_min.min(p.cpu_min);
        self.cpu_max = self.cpu_max.max(p.cpu_max);
        if self.cores.len() < p.cores.len() {
            self.cores.resize(p.cores.len(), (0.0, 0));
        }
        for (acc, &c) in self.cores.iter_mut().zip(p.cores.iter()) {
            acc.0 += f64::from(c) * wf;
            acc.1 += w;
        }
        self.mem_used += p.mem_used as f64 * wf;
        self.mem_total += p.mem_total as f64 * wf;
        self.swap_used += p.swap_used as f64 * wf;
        self.swap_total += p.swap_total as f64 * wf;
        for (acc, &l) in self.load.iter_mut().zip(p.load.iter()) {
            *acc += f64::from(l) * wf;
        }
        for &(idx, rx, tx) in p.net.iter() {
            match self.net.iter_mut().find(|n| n.0 == idx) {
                Some(acc) => {
                    acc.1 += f64::from(rx) * wf;
                    acc.2 += f64::from(tx) * wf;
                    acc.3 += w;
                }
                None => self
                    .net
                    .push((idx, f64::from(rx) * wf, f64::from(tx) * wf, w)),
            }
        }
    }

    fn finish(&self) -> Point {
        let n = self.n.max(1) as f64;
        let avg = |sum: f64, w: u64| (sum / w.max(1) as f64) as f32;
        Point {
            ts_ms: self.ts_ms,
            n: u32::try_from(self.n).unwrap_or(u32::MAX),
            cpu: (self.cpu / n) as f32,
            cpu_min: if self.n == 0 { 0.0 } else { self.cpu_min },
            cpu_max: if self.n == 0 { 0.0 } else { self.cpu_max },
            cores: self.cores.iter().map(|&(s, w)| avg(s, w)).collect(),
            mem_used: (self.mem_used / n).round() as u64,
            mem_total: (self.mem_total / n).round() as u64,
            swap_used: (self.swap_used / n).round() as u64,
            swap_total: (self.swap_total / n).round() as u64,
            load: self.load.map(|l| (l / n) as f32),
            net: self
                .net
                .iter()
                .map(|&(idx, rx, tx, w)| (idx, avg(rx, w), avg(tx, w)))
                .collect(),
        }
    }
}

/// Drops points older than `keep_ms` before `now_ms`, and the oldest beyond `max`.
fn trim(ring: &mut VecDeque<Point>, now_ms: u64, keep_ms: u64, max: usize) {
    while ring
        .front()
        .is_some_and(|p| p.ts_ms.saturating_add(keep_ms) < now_ms)
        || ring.len() > max
    {
        ring.pop_front();
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use utizmon_protocol::{Cpu, Memory};

    use super::*;
    use crate::state::NetworkRate;

    fn limits() -> HistoryLimits {
        HistoryLimits {
            raw: Duration::from_secs(120),
            rollup: Duration::from_secs(3600),
        }
    }

    fn sample(ts_ms: u64, cpu: f64) -> Sample {
        Sample {
            seq: 1,
            ts_ms,
            cpu: Cpu {
                usage_ratio: cpu,
                cores: vec![cpu, 0.0],
                ..Cpu::default()
            },
            memory: Memory {
                total_bytes: 1000,
                used_bytes: 500,
                ..Memory::default()
            },
            ..Sample::default()
        }
    }

    fn rates(rx: f64) -> Rates {
        Rates {
            rx_bytes_per_second: rx,
            tx_bytes_per_second: 0.0,
            networks: vec![NetworkRate {
                device: "eth0".into(),
                rx_bytes_per_second: rx,
                tx_bytes_per_second: 0.0,
            }],
        }
    }

    const T0: u64 = 1_700_000_040_000; // A whole minute.

    #[test]
    fn raw_query_returns_samples_in_range() {
        let mut h = HostHistory::new(limits());
        for i in 0..10 {
            h.record(&sample(T0 + i * 1000, 0.5), Some(&rates(100.0)));
        }
        let points = h.query(&HistoryQuery {
            from_ms: T0 + 2000,
            to_ms: T0 + 4000,
            step_ms: 0,
        });
        let ts: Vec<u64> = points.iter().map(|p| p.ts_ms).collect();
        assert_eq!(ts, [T0 + 2000, T0 + 3000, T0 + 4000]);
        assert_eq!(points[0].networks[0].device, "eth0");
        assert_eq!(points[0].networks[0].rx_bytes_per_second, 100.0);
        assert_eq!(points[0].mem_used_bytes, 500);
    }

    #[test]
    fn buckets_average_and_keep_min_max() {
        let mut h = HostHistory::new(limits());
        h.record(&sample(T0, 0.2), None);
        h.record(&sample(T0 + 1000, 0.4), None);
        h.record(&sample(T0 + 10_000, 1.0), None);
        let points = h.query(&HistoryQuery {
            from_ms: T0,
            to_ms: T0 + 60_000,
            step_ms: 5000,
        });
        assert_eq!(points.len(), 2);
        assert_eq!(points[0].ts_ms, T0);
        assert!((points[0].cpu_ratio - 0.3).abs() < 1e-6);
        assert_eq!(points[0].cpu_ratio_min, 0.2);
        assert_eq!(points[0].cpu_ratio_max, 0.4);
        assert_eq!(points[0].cores.len(), 2);
        assert_eq!(points[1].ts_ms, T0 + 10_000);
    }

    #[test]
    fn old_points_come_from_rollups_and_raw_stays_bounded() {
        let mut h = HostHistory::new(limits());
        // Ten minutes at 1 Hz; raw keeps two minutes.
        for i in 0..600u64 {
            h.record(&sample(T0 + i * 1000, (i % 60) as f64 / 100.0), None);
        }
        assert!(h.raw.len() <= 121, "{}", h.raw.len());
        let points = h.query(&HistoryQuery {
            from_ms: T0,
            to_ms: T0 + 600_000,
            step_ms: 0,
        });
        // Minutes 0..=6 from rollups (they ended before the raw ring starts), then raw.
        let rollups: Vec<_> = points
            .iter()
            .filter(|p| p.ts_ms % MINUTE_MS == 0 && p.cpu_ratio_max > p.cpu_ratio_min)
            .collect();
        assert!(rollups.len() >= 7, "{}", rollups.len());
        assert_eq!(points.first().unwrap().ts_ms, T0);
        assert!((points[0].cpu_ratio - 0.295).abs() < 1e-4);
        assert_eq!(points[0].cpu_ratio_min, 0.0);
        assert_eq!(points[0].cpu_ratio_max, 0.59);
        // Oldest first, no duplicates.
        assert!(points.windows(2).all(|w| w[0].ts_ms < w[1].ts_ms));
        assert_eq!(points.last().unwrap().ts_ms, T0 + 599_000);
    }

    #[test]
    fn recent_cpu_is_oldest_first() {
        let mut h = HostHistory::new(limits());
        for i in 0..5 {
            h.record(&sample(T0 + i * 1000, i as f64 / 10.0), None);
        }
        assert_eq!(h.recent_cpu(2), [0.3, 0.4]);
        assert_eq!(h.recent_cpu(100).len(), 5);
    }
}
