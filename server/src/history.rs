//! The seam between live state and durable history: turns an accepted sample into the
//! history point the store keeps, and answers history requests from the store.
//!
//! The store (`utizmon-store`) owns SQLite, batching, rollups and retention; `Fleet` owns
//! the live view. This module only translates between them, so neither knows the other.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::Arc;

use anyhow::Context;
use utizmon_protocol::Sample;
use utizmon_store::{NetRate, Point, Store, MAX_POINTS};

use crate::downsample::Downsample;
use crate::rates::Rates;

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

/// The last few CPU ratios of a host, oldest first, for the overview's sparklines.
///
/// Bounded: holds at most `capacity` values, dropping the oldest. Kept in thousandths
/// (0.1 % steps, all a sparkline can show) as `u16`: every host holds one, and this is
/// half the memory of `f32`s for the same values.
#[derive(Debug, Clone)]
pub struct CpuRing {
    per_mille: VecDeque<u16>,
    capacity: usize,
}

impl CpuRing {
    /// An empty ring holding at most `capacity` values.
    pub fn new(capacity: usize) -> CpuRing {
        CpuRing {
            per_mille: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    /// Appends one ratio, dropping the oldest when full. Ratios outside 0..=65.535 (a
    /// broken reading; validation allows none) are clamped.
    pub fn push(&mut self, ratio: f64) {
        if self.per_mille.len() == self.capacity {
            self.per_mille.pop_front();
        }
        let per_mille = (ratio * 1000.0).round().clamp(0.0, f64::from(u16::MAX));
        self.per_mille.push_back(per_mille as u16);
    }

    /// Every value, oldest first.
    pub fn to_vec(&self) -> Vec<f32> {
        self.per_mille
            .iter()
            .map(|&v| f32::from(v) / 1000.0)
            .collect()
    }
}

/// The history point of one sample: its values plus the network rates since the previous
/// sample (none for the first sample of a host or after a counter reset).
pub fn point(sample: &Sample, rates: Option<&Rates>) -> Point {
    let networks = rates
        .map(|r| {
            r.networks
                .iter()
                .map(|n| NetRate {
                    device: n.device.clone(),
                    rx_bytes_per_second: n.rx_bytes_per_second,
                    tx_bytes_per_second: n.tx_bytes_per_second,
                })
                .collect()
        })
        .unwrap_or_default();
    Point::of_sample(sample, networks)
}

/// Reads history from the store on a blocking thread, so SQLite never stalls the runtime.
pub async fn query(
    store: &Store,
    host: Arc<str>,
    query: HistoryQuery,
) -> anyhow::Result<Vec<Point>> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || {
        store
            .query(&host, query.from_ms, query.to_ms, query.step_ms)
            .with_context(|| format!("reading the history of {host:?}"))
    })
    .await
    .context("history query task")?
}

/// Sections of a stored sample no detail point reads: left in the chunk, never rebuilt.
const UNUSED_SECTIONS: [&str; 8] = [
    "sample.meminfo.",
    "sample.vmstat.",
    "sample.netstat.",
    "sample.sockstat.",
    "sample.top_processes.",
    "sample.cgroups.",
    "sample.cpu.core_seconds.",
    "sample.failed_units",
];

/// Reads the whole samples of a range from the store on a blocking thread and turns them
/// into one point per bucket of `query.step_ms` (raw points for `0`), each made by
/// `build(ts_ms, sample, rates)` (see [`Downsample`]): the history of the values the store
/// keeps only inside whole samples. At most [`MAX_POINTS`] points, in bounded memory
/// however long the range.
pub async fn downsampled<T, F>(
    store: &Store,
    host: Arc<str>,
    query: HistoryQuery,
    build: F,
) -> anyhow::Result<Vec<T>>
where
    T: Send + 'static,
    F: FnMut(u64, &Sample, Option<&Rates>) -> T + Send + 'static,
{
    let store = store.clone();
    tokio::task::spawn_blocking(move || {
        let points = RefCell::new(Downsample::new(query.step_ms, MAX_POINTS as usize, build));
        store
            .each_wanted_sample(
                &host,
                (query.from_ms, query.to_ms),
                &|path| !UNUSED_SECTIONS.iter().any(|s| path.starts_with(s)),
                |ts_ms| points.borrow().wants(ts_ms),
                |s| points.borrow_mut().push(s.sample),
            )
            .with_context(|| format!("reading the stored samples of {host:?}"))?;
        Ok(points.into_inner().finish())
    })
    .await
    .context("history query task")?
}

#[cfg(test)]
mod tests {
    use utizmon_protocol::{Cpu, Memory};

    use super::*;
    use crate::rates::NetworkRate;

    #[test]
    fn cpu_ring_keeps_the_newest_values_oldest_first() {
        let mut ring = CpuRing::new(3);
        for v in [0.1, 0.2, 0.3, 0.4] {
            ring.push(v);
        }
        assert_eq!(ring.to_vec(), vec![0.2f32, 0.3, 0.4]);
    }

    #[test]
    fn cpu_ring_keeps_thousandths_and_clamps_what_it_cannot_hold() {
        let mut ring = CpuRing::new(4);
        for v in [0.12345, 1.0, -0.5, 1e9] {
            ring.push(v);
        }
        assert_eq!(ring.to_vec(), vec![0.123f32, 1.0, 0.0, 65.535]);
    }

    #[test]
    fn point_carries_values_and_rates() {
        let sample = Sample {
            seq: 1,
            ts_ms: 5_000,
            cpu: Cpu {
                usage_ratio: 0.25,
                cores: vec![0.5, 0.0],
                ..Cpu::default()
            },
            memory: Memory {
                total_bytes: 100,
                used_bytes: 40,
                ..Memory::default()
            },
            ..Sample::default()
        };
        let rates = Rates {
            rx_bytes_per_second: 10.0,
            tx_bytes_per_second: 5.0,
            networks: vec![NetworkRate {
                device: "eth0".into(),
                rx_bytes_per_second: 10.0,
                tx_bytes_per_second: 5.0,
                packets: None,
            }],
            disks: Vec::new(),
            cgroups: Default::default(),
            pressure: None,
            kernel: None,
        };
        let p = point(&sample, Some(&rates));
        assert_eq!((p.ts_ms, p.cpu_ratio, p.cpu_ratio_min), (5_000, 0.25, 0.25));
        assert_eq!(p.cores, vec![0.5, 0.0]);
        assert_eq!((p.mem_used_bytes, p.mem_total_bytes), (40.0, 100.0));
        assert_eq!(p.networks[0].device, "eth0");
        assert!(point(&sample, None).networks.is_empty());
    }
}
