//! `Point`: one history point as the API serves it, and the arithmetic that merges points
//! into wider buckets (per-minute rollups, query steps). Pure: no SQL, no clock.

use serde::{Deserialize, Serialize};
use utizmon_protocol::Sample;

/// One minute in milliseconds: the width of a per-minute rollup.
pub(crate) const MINUTE_MS: u64 = 60_000;

/// One hour in milliseconds: the width of a per-hour rollup.
pub(crate) const HOUR_MS: u64 = 3_600_000;

/// One moment (raw sample) or one bucket (average over `n` samples) of a host's history.
///
/// Plain fields hold the value (raw) or the average (bucket); CPU also carries min and max.
/// Units are in the names; `ts_ms` of a bucket is its start, Unix milliseconds.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Point {
    pub ts_ms: u64,
    pub cpu_ratio: f64,
    pub cpu_ratio_min: f64,
    pub cpu_ratio_max: f64,
    pub cores: Vec<f64>,
    pub mem_used_bytes: f64,
    pub mem_total_bytes: f64,
    pub swap_used_bytes: f64,
    pub swap_total_bytes: f64,
    pub load1: f64,
    pub load5: f64,
    pub load15: f64,
    pub networks: Vec<NetRate>,
    /// How many raw samples this point stands for; 1 for a raw sample.
    #[serde(skip)]
    pub n: u32,
}

impl Point {
    /// The raw point of one sample, with the network rates derived for it (none for the
    /// first sample of a host or after a counter reset).
    pub fn of_sample(sample: &Sample, networks: Vec<NetRate>) -> Point {
        let m = &sample.memory;
        Point {
            ts_ms: sample.ts_ms,
            cpu_ratio: sample.cpu.usage_ratio,
            cpu_ratio_min: sample.cpu.usage_ratio,
            cpu_ratio_max: sample.cpu.usage_ratio,
            cores: sample.cpu.cores.clone(),
            mem_used_bytes: m.used_bytes as f64,
            mem_total_bytes: m.total_bytes as f64,
            swap_used_bytes: m.swap_used_bytes as f64,
            swap_total_bytes: m.swap_total_bytes as f64,
            load1: sample.load.load1,
            load5: sample.load.load5,
            load15: sample.load.load15,
            networks,
            n: 1,
        }
    }
}

/// Receive and transmit rate of one interface, bytes per second.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NetRate {
    pub device: String,
    pub rx_bytes_per_second: f64,
    pub tx_bytes_per_second: f64,
}

/// Running weighted average of points falling into one bucket.
#[derive(Debug, Default)]
pub struct Bucket {
    start_ms: u64,
    n: u64,
    sums: Point,
    cpu_min: f64,
    cpu_max: f64,
    core_counts: Vec<u64>,
    nets: Vec<(NetRate, u64)>,
}

impl Bucket {
    /// An empty bucket starting at `start_ms`.
    pub fn new(start_ms: u64) -> Bucket {
        Bucket {
            start_ms,
            cpu_min: f64::INFINITY,
            cpu_max: f64::NEG_INFINITY,
            ..Bucket::default()
        }
    }

    /// Start of this bucket, Unix ms.
    pub fn start_ms(&self) -> u64 {
        self.start_ms
    }

    /// Adds a point (raw or already averaged over `point.n` samples) to the bucket.
    pub fn add(&mut self, point: &Point) {
        let w = u64::from(point.n.max(1));
        let wf = w as f64;
        self.n += w;
        let s = &mut self.sums;
        s.cpu_ratio += point.cpu_ratio * wf;
        s.mem_used_bytes += point.mem_used_bytes * wf;
        s.mem_total_bytes += point.mem_total_bytes * wf;
        s.swap_used_bytes += point.swap_used_bytes * wf;
        s.swap_total_bytes += point.swap_total_bytes * wf;
        s.load1 += point.load1 * wf;
        s.load5 += point.load5 * wf;
        s.load15 += point.load15 * wf;
        self.cpu_min = self.cpu_min.min(point.cpu_ratio_min);
        self.cpu_max = self.cpu_max.max(point.cpu_ratio_max);
        if s.cores.len() < point.cores.len() {
            s.cores.resize(point.cores.len(), 0.0);
            self.core_counts.resize(point.cores.len(), 0);
        }
        for (i, core) in point.cores.iter().enumerate() {
            s.cores[i] += core * wf;
            self.core_counts[i] += w;
        }
        for net in &point.networks {
            match self.nets.iter_mut().find(|(n, _)| n.device == net.device) {
                Some((sum, count)) => {
                    sum.rx_bytes_per_second += net.rx_bytes_per_second * wf;
                    sum.tx_bytes_per_second += net.tx_bytes_per_second * wf;
                    *count += w;
                }
                None => self.nets.push((
                    NetRate {
                        device: net.device.clone(),
                        rx_bytes_per_second: net.rx_bytes_per_second * wf,
                        tx_bytes_per_second: net.tx_bytes_per_second * wf,
                    },
                    w,
                )),
            }
        }
    }

    /// The averaged point; `None` for an empty bucket.
    pub fn finish(self) -> Option<Point> {
        if self.n == 0 {
            return None;
        }
        let nf = self.n as f64;
        let s = self.sums;
        Some(Point {
            ts_ms: self.start_ms,
            cpu_ratio: s.cpu_ratio / nf,
            cpu_ratio_min: self.cpu_min,
            cpu_ratio_max: self.cpu_max,
            cores: s
                .cores
                .iter()
                .zip(&self.core_counts)
                .map(|(sum, &count)| sum / count.max(1) as f64)
                .collect(),
            mem_used_bytes: s.mem_used_bytes / nf,
            mem_total_bytes: s.mem_total_bytes / nf,
            swap_used_bytes: s.swap_used_bytes / nf,
            swap_total_bytes: s.swap_total_bytes / nf,
            load1: s.load1 / nf,
            load5: s.load5 / nf,
            load15: s.load15 / nf,
            networks: self
                .nets
                .into_iter()
                .map(|(sum, count)| NetRate {
                    device: sum.device,
                    rx_bytes_per_second: sum.rx_bytes_per_second / count as f64,
                    tx_bytes_per_second: sum.tx_bytes_per_second / count as f64,
                })
                .collect(),
            n: u32::try_from(self.n).unwrap_or(u32::MAX),
        })
    }
}

/// Merges time-ordered points into buckets of `step_ms`, oldest first.
pub fn bucketize(points: impl IntoIterator<Item = Point>, step_ms: u64) -> Vec<Point> {
    let mut buckets = Bucketizer::new(step_ms);
    for point in points {
        buckets.push(&point);
    }
    buckets.finish(false)
}

/// Folds time-ordered points into buckets of `step_ms` as they are read, so a long range
/// costs memory per bucket, never per point.
#[derive(Debug)]
pub struct Bucketizer {
    step_ms: u64,
    out: Vec<Point>,
    /// Time of the first point of each bucket in `out`, then of `current`.
    first_ts: Vec<u64>,
    current: Option<Bucket>,
    /// Smallest positive time between two consecutive points.
    finest_ms: u64,
    last_ts: Option<u64>,
}

impl Bucketizer {
    /// No buckets yet; `step_ms` of 0 counts as 1.
    pub fn new(step_ms: u64) -> Bucketizer {
        Bucketizer {
            step_ms: step_ms.max(1),
            out: Vec::new(),
            first_ts: Vec::new(),
            current: None,
            finest_ms: u64::MAX,
            last_ts: None,
        }
    }

    /// Adds the next point; points must come oldest first.
    pub fn push(&mut self, point: &Point) {
        if let Some(gap) = self.last_ts.map(|t| point.ts_ms.saturating_sub(t)) {
            if gap > 0 {
                self.finest_ms = self.finest_ms.min(gap);
            }
        }
        self.last_ts = Some(point.ts_ms);
        let start = point.ts_ms - point.ts_ms % self.step_ms;
        match &mut self.current {
            Some(bucket) if bucket.start_ms() == start => bucket.add(point),
            _ => {
                if let Some(done) = self.current.take().and_then(Bucket::finish) {
                    self.out.push(done);
                }
                let mut bucket = Bucket::new(start);
                bucket.add(point);
                self.current = Some(bucket);
                self.first_ts.push(point.ts_ms);
            }
        }
    }

    /// The buckets, oldest first. With `raw_when_finer`, a step at or below the finest
    /// spacing of the points gives them back as they came (each bucket then holds exactly
    /// one point, so only `ts_ms` differs: the point's own time instead of the bucket start).
    pub fn finish(mut self, raw_when_finer: bool) -> Vec<Point> {
        if let Some(done) = self.current.take().and_then(Bucket::finish) {
            self.out.push(done);
        }
        if raw_when_finer && self.step_ms <= self.finest_ms {
            for (point, ts_ms) in self.out.iter_mut().zip(&self.first_ts) {
                point.ts_ms = *ts_ms;
            }
        }
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(ts_ms: u64, cpu: f64) -> Point {
        Point {
            ts_ms,
            cpu_ratio: cpu,
            cpu_ratio_min: cpu,
            cpu_ratio_max: cpu,
            cores: vec![cpu, 1.0 - cpu],
            mem_used_bytes: 100.0,
            networks: vec![NetRate {
                device: "eth0".into(),
                rx_bytes_per_second: cpu * 10.0,
                tx_bytes_per_second: 1.0,
            }],
            n: 1,
            ..Point::default()
        }
    }

    #[test]
    fn buckets_average_and_keep_extremes() {
        let points = vec![raw(0, 0.2), raw(1000, 0.4), raw(60_000, 0.9)];
        let out = bucketize(points, 60_000);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].ts_ms, 0);
        assert!((out[0].cpu_ratio - 0.3).abs() < 1e-9);
        assert_eq!(out[0].cpu_ratio_min, 0.2);
        assert_eq!(out[0].cpu_ratio_max, 0.4);
        assert!((out[0].cores[1] - 0.7).abs() < 1e-9);
        assert!((out[0].networks[0].rx_bytes_per_second - 3.0).abs() < 1e-9);
        assert_eq!(out[0].n, 2);
        assert_eq!(out[1].ts_ms, 60_000);
    }

    #[test]
    fn merging_rollups_weights_by_sample_count() {
        let mut a = raw(0, 0.0);
        a.n = 3;
        let mut b = raw(60_000, 1.0);
        b.n = 1;
        let out = bucketize(vec![a, b], 120_000);
        assert!((out[0].cpu_ratio - 0.25).abs() < 1e-9);
        assert_eq!(out[0].n, 4);
    }

    #[test]
    fn steps_finer_than_the_samples_give_them_back_raw() {
        let points = vec![raw(1_500, 0.2), raw(2_500, 0.4), raw(3_500, 0.9)];
        let mut buckets = Bucketizer::new(1_000);
        for p in &points {
            buckets.push(p);
        }
        assert_eq!(buckets.finish(true), points);
        let mut buckets = Bucketizer::new(2_000);
        for p in &points {
            buckets.push(p);
        }
        let out = buckets.finish(true);
        assert_eq!(out.iter().map(|p| p.ts_ms).collect::<Vec<_>>(), [0, 2_000]);
    }

    #[test]
    fn empty_input_gives_no_points() {
        assert!(bucketize(Vec::new(), 1000).is_empty());
    }
}
