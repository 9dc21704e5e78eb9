//! The metrics a rule can watch, and how each is read out of one accepted sample.
//!
//! Names follow the `/metrics` series (`docs/metrics.md`) without the `utizmon_` prefix;
//! each per-object metric names its object label (`core`, `mountpoint`, `device`), which
//! becomes a label of the alert. Reading is pure and allocation-free: values are handed
//! to a callback, so evaluating a sample costs no more than the rules that watch it.

use std::fmt;

use utizmon_protocol::HostInfo;
use utizmon_store::Record;

/// A quantity a rule compares with its threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    /// Busy share of all cores, 0..=1.
    CpuUsageRatio,
    /// Busy share of one core, 0..=1; label `core`.
    CpuCoreUsageRatio,
    /// `(MemTotal - MemAvailable) / MemTotal`.
    MemoryUsedRatio,
    /// Used share of swap; hosts without swap have no value.
    SwapUsedRatio,
    /// 1-minute load average divided by the number of logical CPUs.
    Load1PerCore,
    /// 15-minute load average divided by the number of logical CPUs.
    Load15PerCore,
    /// `1 - avail / size` of one filesystem; label `mountpoint`.
    FilesystemUsedRatio,
    /// Bytes received per second on one interface; label `device`.
    NetworkReceiveBytesPerSecond,
    /// Bytes transmitted per second on one interface; label `device`.
    NetworkTransmitBytesPerSecond,
    /// No sample for `--offline-after`; the value is the seconds since the last one.
    HostDown,
}

impl Metric {
    /// Every metric, in the order `docs/alerts.md` lists them.
    pub const ALL: [Metric; 10] = [
        Metric::CpuUsageRatio,
        Metric::CpuCoreUsageRatio,
        Metric::MemoryUsedRatio,
        Metric::SwapUsedRatio,
        Metric::Load1PerCore,
        Metric::Load15PerCore,
        Metric::FilesystemUsedRatio,
        Metric::NetworkReceiveBytesPerSecond,
        Metric::NetworkTransmitBytesPerSecond,
        Metric::HostDown,
    ];

    /// The name rules files use.
    pub fn name(self) -> &'static str {
        match self {
            Metric::CpuUsageRatio => "cpu_usage_ratio",
            Metric::CpuCoreUsageRatio => "cpu_core_usage_ratio",
            Metric::MemoryUsedRatio => "memory_used_ratio",
            Metric::SwapUsedRatio => "swap_used_ratio",
            Metric::Load1PerCore => "load1_per_core",
            Metric::Load15PerCore => "load15_per_core",
            Metric::FilesystemUsedRatio => "filesystem_used_ratio",
            Metric::NetworkReceiveBytesPerSecond => "network_receive_bytes_per_second",
            Metric::NetworkTransmitBytesPerSecond => "network_transmit_bytes_per_second",
            Metric::HostDown => "host_down",
        }
    }

    /// The metric called `name`, if there is one.
    pub fn from_name(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The label naming the object a value belongs to, for per-object metrics.
    pub fn object_label(self) -> Option<&'static str> {
        match self {
            Metric::CpuCoreUsageRatio => Some("core"),
            Metric::FilesystemUsedRatio => Some("mountpoint"),
            Metric::NetworkReceiveBytesPerSecond | Metric::NetworkTransmitBytesPerSecond => {
                Some("device")
            }
            _ => None,
        }
    }

    /// Whether values are shares of 0..=1 (shown as percentages).
    pub fn is_ratio(self) -> bool {
        matches!(
            self,
            Metric::CpuUsageRatio
                | Metric::CpuCoreUsageRatio
                | Metric::MemoryUsedRatio
                | Metric::SwapUsedRatio
                | Metric::FilesystemUsedRatio
        )
    }

    /// Calls `each(object, value)` for every value of this metric in `record`; `object`
    /// is `""` for host-wide metrics. `host_down` has no value in a sample.
    pub fn read(self, record: &Record, mut each: impl FnMut(&str, f64)) {
        let sample = &record.sample;
        let ratio = |used: f64, total: f64| (total > 0.0).then(|| used / total);
        match self {
            Metric::CpuUsageRatio => each("", sample.cpu.usage_ratio),
            Metric::CpuCoreUsageRatio => {
                // Core numbers as text are allocated once per core per sample only for
                // rules on this metric; a small stack buffer keeps it cheap.
                let mut name = itoa_buffer::Buffer::default();
                for (core, usage) in sample.cpu.cores.iter().enumerate() {
                    each(name.format(core), *usage);
                }
            }
            Metric::MemoryUsedRatio => {
                let m = &sample.memory;
                if let Some(r) = ratio(m.used_bytes as f64, m.total_bytes as f64) {
                    each("", r);
                }
            }
            Metric::SwapUsedRatio => {
                let m = &sample.memory;
                if let Some(r) = ratio(m.swap_used_bytes as f64, m.swap_total_bytes as f64) {
                    each("", r);
                }
            }
            Metric::Load1PerCore => each("", sample.load.load1 / cores(record)),
            Metric::Load15PerCore => each("", sample.load.load15 / cores(record)),
            Metric::FilesystemUsedRatio => {
                for fs in &sample.filesystems {
                    let used = fs.size_bytes.saturating_sub(fs.avail_bytes) as f64;
                    if let Some(r) = ratio(used, fs.size_bytes as f64) {
                        each(&fs.mountpoint, r);
                    }
                }
            }
            Metric::NetworkReceiveBytesPerSecond => {
                for net in &record.point.networks {
                    each(&net.device, net.rx_bytes_per_second);
                }
            }
            Metric::NetworkTransmitBytesPerSecond => {
                for net in &record.point.networks {
                    each(&net.device, net.tx_bytes_per_second);
                }
            }
            Metric::HostDown => {}
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Logical CPUs of the host: from its hello, else the cores its sample lists, at least 1.
fn cores(record: &Record) -> f64 {
    let announced = record.info.as_deref().map_or(0, |i: &HostInfo| i.cores);
    let listed = u32::try_from(record.sample.cpu.cores.len()).unwrap_or(u32::MAX);
    f64::from(if announced > 0 { announced } else { listed }.max(1))
}

/// Formats core numbers without allocating.
mod itoa_buffer {
    use std::fmt::Write;

    /// A reusable text buffer for one number.
    #[derive(Default)]
    pub struct Buffer(String);

    impl Buffer {
        /// `n` as decimal text, valid until the next call.
        pub fn format(&mut self, n: usize) -> &str {
            self.0.clear();
            // Cannot fail: writing to a String never errors.
            let _ = write!(self.0, "{n}");
            &self.0
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use utizmon_protocol::{Cpu, Filesystem, Load, Memory, Sample};
    use utizmon_store::{NetRate, Point, Record};

    use super::*;

    /// A record of host `host` with CPU `cpu`, two cores, memory half used, `/` 80 % used.
    pub fn record(host: &str, cpu: f64) -> Record {
        let sample = Sample {
            seq: 1,
            ts_ms: 1,
            cpu: Cpu {
                usage_ratio: cpu,
                cores: vec![cpu, 0.1],
                ..Cpu::default()
            },
            memory: Memory {
                total_bytes: 1000,
                used_bytes: 500,
                available_bytes: 500,
                swap_total_bytes: 0,
                swap_used_bytes: 0,
                ..Memory::default()
            },
            load: Load {
                load1: 3.0,
                load5: 2.0,
                load15: 1.0,
            },
            uptime_seconds: 1.0,
            filesystems: vec![Filesystem {
                mountpoint: "/".into(),
                fstype: "ext4".into(),
                size_bytes: 100,
                avail_bytes: 20,
                ..Filesystem::default()
            }],
            networks: vec![],
            ..Sample::default()
        };
        Record {
            host: host.into(),
            run_id: "r".into(),
            frame: None,
            info: None,
            interval_ms: 1000,
            sample: Arc::new(sample),
            point: Point {
                networks: vec![NetRate {
                    device: "eth0".into(),
                    rx_bytes_per_second: 10.0,
                    tx_bytes_per_second: 20.0,
                }],
                ..Point::default()
            },
        }
    }

    fn values(metric: Metric, record: &Record) -> Vec<(String, f64)> {
        let mut out = Vec::new();
        metric.read(record, |o, v| out.push((o.to_owned(), v)));
        out
    }

    #[test]
    fn names_round_trip() {
        for m in Metric::ALL {
            assert_eq!(Metric::from_name(m.name()), Some(m));
        }
        assert_eq!(Metric::from_name("cpu"), None);
    }

    #[test]
    fn reads_each_metric_with_its_object() {
        let r = record("a", 0.75);
        assert_eq!(values(Metric::CpuUsageRatio, &r), [("".into(), 0.75)]);
        assert_eq!(
            values(Metric::CpuCoreUsageRatio, &r),
            [("0".into(), 0.75), ("1".into(), 0.1)]
        );
        assert_eq!(values(Metric::MemoryUsedRatio, &r), [("".into(), 0.5)]);
        assert!(
            values(Metric::SwapUsedRatio, &r).is_empty(),
            "no swap, no value"
        );
        // Two listed cores and no hello: load per core divides by 2.
        assert_eq!(values(Metric::Load1PerCore, &r), [("".into(), 1.5)]);
        assert_eq!(values(Metric::Load15PerCore, &r), [("".into(), 0.5)]);
        assert_eq!(values(Metric::FilesystemUsedRatio, &r), [("/".into(), 0.8)]);
        assert_eq!(
            values(Metric::NetworkReceiveBytesPerSecond, &r),
            [("eth0".into(), 10.0)]
        );
        assert_eq!(
            values(Metric::NetworkTransmitBytesPerSecond, &r),
            [("eth0".into(), 20.0)]
        );
        assert!(values(Metric::HostDown, &r).is_empty());
    }

    #[test]
    fn load_per_core_prefers_the_announced_core_count() {
        let mut r = record("a", 0.1);
        r.info = Some(Arc::new(HostInfo {
            cores: 6,
            ..HostInfo::default()
        }));
        assert_eq!(values(Metric::Load1PerCore, &r), [("".into(), 0.5)]);
    }
}
