//! `DetailPoint`: one point of the host page's detail charts (disk I/O, pressure,
//! temperatures, network errors, kernel activity, file handles, inodes), the element of
//! `GET /api/v1/hosts/{host}/details` and the `detail` of the detail stream.
//!
//! Built from a sample (its gauges) and the rates over the span the point stands for
//! (`crate::rates`), so a live point and a stored raw point of the same sample are equal,
//! and a bucket shows the average rate over the bucket (`crate::downsample`).

use serde::Serialize;
use utizmon_protocol::{Filesystem, Sample};

use super::sample::{FileHandlesView, TemperatureView};
use super::DiskRateView;
use crate::rates::{NetworkRate, Rates, StallRates};

/// One moment (raw) or bucket of the detail charts; `ts_ms` is the sample's time or the
/// bucket's start. A section the host does not send is left out; rates are left out (or
/// `null`) where there is no span to compute them over (a bucket's only sample, the first
/// sample of a host, a counter reset).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DetailPoint {
    pub ts_ms: u64,
    /// Per whole block device (as `HostView.rates.disks`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub disks: Vec<DiskRateView>,
    /// Share of the span tasks were stalled, per resource.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pressure: Option<PressureShareView>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub temperatures: Vec<TemperatureView>,
    /// Errors and drops of the interfaces with packet counters.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<NetworkErrorsView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel: Option<KernelActivityView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_handles: Option<FileHandlesView>,
    /// Filesystems with an inode table (`files` > 0), each mountpoint once.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inodes: Vec<InodesView>,
}

/// `DetailPoint.pressure`: resources the kernel reports in both ends of the span.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PressureShareView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<StallShareView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<StallShareView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub io: Option<StallShareView>,
}

/// Share of the span, 0..=1, that some (or all non-idle) tasks were stalled on a resource.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StallShareView {
    pub some_ratio: f64,
    /// Absent where the kernel has no `full` line (cpu before Linux 5.13).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_ratio: Option<f64>,
}

/// Errors and drops per second of one interface, in and out.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NetworkErrorsView {
    pub device: String,
    pub rx_errors_per_second: f64,
    pub tx_errors_per_second: f64,
    pub rx_dropped_per_second: f64,
    pub tx_dropped_per_second: f64,
}

/// `DetailPoint.kernel`: `/proc/stat` activity; the rates are `null` without a span.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KernelActivityView {
    pub context_switches_per_second: Option<f64>,
    pub interrupts_per_second: Option<f64>,
    pub forks_per_second: Option<f64>,
    /// Runnable tasks at the point's sample.
    pub procs_running: u64,
    /// Tasks blocked on I/O at the point's sample.
    pub procs_blocked: u64,
}

/// Inode use of one filesystem.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InodesView {
    pub mountpoint: String,
    pub fstype: String,
    /// Used inodes over the table's size, 0..=1.
    pub used_ratio: f64,
}

impl DetailPoint {
    /// The point at `ts_ms` showing `sample`'s gauges and `rates` (over the point's span).
    pub fn of(ts_ms: u64, sample: &Sample, rates: Option<&Rates>) -> DetailPoint {
        let pressure = rates.and_then(|r| r.pressure).map(|p| PressureShareView {
            cpu: p.cpu.map(StallShareView::from),
            memory: p.memory.map(StallShareView::from),
            io: p.io.map(StallShareView::from),
        });
        let kernel_rates = rates.and_then(|r| r.kernel);
        let mut inodes: Vec<InodesView> = Vec::new();
        for fs in sample.filesystems.iter().filter(|fs| fs.files > 0) {
            if !inodes.iter().any(|i| i.mountpoint == fs.mountpoint) {
                inodes.push(InodesView::from(fs));
            }
        }
        DetailPoint {
            ts_ms,
            disks: rates
                .map(|r| r.disks.iter().map(DiskRateView::from).collect())
                .unwrap_or_default(),
            pressure,
            temperatures: sample
                .temperatures
                .iter()
                .map(TemperatureView::from)
                .collect(),
            networks: rates
                .map(|r| {
                    r.networks
                        .iter()
                        .filter_map(NetworkErrorsView::of)
                        .collect()
                })
                .unwrap_or_default(),
            kernel: sample.kernel.map(|k| KernelActivityView {
                context_switches_per_second: kernel_rates.map(|r| r.context_switches_per_second),
                interrupts_per_second: kernel_rates.map(|r| r.interrupts_per_second),
                forks_per_second: kernel_rates.map(|r| r.forks_per_second),
                procs_running: k.procs_running,
                procs_blocked: k.procs_blocked,
            }),
            file_handles: sample.file_handles.as_ref().map(FileHandlesView::from),
            inodes,
        }
    }
}

impl From<StallRates> for StallShareView {
    fn from(s: StallRates) -> StallShareView {
        StallShareView {
            some_ratio: s.some_ratio,
            full_ratio: s.full_ratio,
        }
    }
}

impl NetworkErrorsView {
    fn of(n: &NetworkRate) -> Option<NetworkErrorsView> {
        let p = n.packets?;
        Some(NetworkErrorsView {
            device: n.device.clone(),
            rx_errors_per_second: p.rx_errors,
            tx_errors_per_second: p.tx_errors,
            rx_dropped_per_second: p.rx_dropped,
            tx_dropped_per_second: p.tx_dropped,
        })
    }
}

impl From<&Filesystem> for InodesView {
    fn from(fs: &Filesystem) -> InodesView {
        let used = fs.files.saturating_sub(fs.files_free);
        InodesView {
            mountpoint: fs.mountpoint.clone(),
            fstype: fs.fstype.clone(),
            used_ratio: used as f64 / fs.files as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    use utizmon_protocol::{FileHandles, KernelCounters, Network, Pressure, Stall, Temperature};

    use super::*;

    fn sample(k: u64) -> Sample {
        Sample {
            seq: k,
            ts_ms: 1_700_000_000_000 + k * 1000,
            filesystems: vec![
                Filesystem {
                    mountpoint: "/".into(),
                    fstype: "ext4".into(),
                    files: 1000,
                    files_free: 750,
                    ..Filesystem::default()
                },
                // No inode table (btrfs): left out; a bind mount of / : listed once.
                Filesystem {
                    mountpoint: "/data".into(),
                    fstype: "btrfs".into(),
                    ..Filesystem::default()
                },
                Filesystem {
                    mountpoint: "/".into(),
                    fstype: "ext4".into(),
                    files: 10,
                    ..Filesystem::default()
                },
            ],
            networks: vec![
                Network {
                    device: "eth0".into(),
                    rx_bytes: 100 * k,
                    rx_packets: 10 * k,
                    rx_errors: k,
                    tx_dropped: 3 * k,
                    ..Network::default()
                },
                Network {
                    device: "tun0".into(),
                    rx_bytes: 100 * k,
                    ..Network::default()
                },
            ],
            pressure: Some(Pressure {
                io: Some(Stall {
                    some_seconds: 0.5 * k as f64,
                    some_avg10: 0.9,
                    full_seconds: Some(0.25 * k as f64),
                    full_avg10: Some(0.9),
                }),
                ..Pressure::default()
            }),
            temperatures: vec![Temperature {
                kind: "hwmon".into(),
                chip: "platform_coretemp_0".into(),
                sensor: "temp1".into(),
                label: String::new(),
                celsius: 40.0 + k as f64,
            }],
            kernel: Some(KernelCounters {
                context_switches: 1000 * k,
                interrupts: 400 * k,
                forks: k,
                procs_running: 2,
                procs_blocked: 1,
            }),
            file_handles: Some(FileHandles {
                allocated: 100 + k,
                maximum: 1 << 20,
            }),
            ..Sample::default()
        }
    }

    #[test]
    fn a_point_has_the_gauges_of_its_sample_and_the_rates_of_its_span() {
        let (prev, cur) = (sample(1), sample(3));
        let rates = Rates::between(&prev, &cur, None).unwrap();
        let p = DetailPoint::of(cur.ts_ms, &cur, Some(&rates));
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "ts_ms": cur.ts_ms,
                "pressure": {"io": {"some_ratio": 0.5, "full_ratio": 0.25}},
                "temperatures": [{"kind": "hwmon", "chip": "platform_coretemp_0", "sensor": "temp1", "celsius": 43.0}],
                "networks": [{"device": "eth0", "rx_errors_per_second": 1.0, "tx_errors_per_second": 0.0,
                              "rx_dropped_per_second": 0.0, "tx_dropped_per_second": 3.0}],
                "kernel": {"context_switches_per_second": 1000.0, "interrupts_per_second": 400.0,
                           "forks_per_second": 1.0, "procs_running": 2, "procs_blocked": 1},
                "file_handles": {"allocated": 103, "maximum": 1048576},
                "inodes": [{"mountpoint": "/", "fstype": "ext4", "used_ratio": 0.25}]
            })
        );
    }

    #[test]
    fn without_a_span_only_gauges_remain() {
        let p = DetailPoint::of(5, &sample(1), None);
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(
            json["kernel"]["context_switches_per_second"],
            serde_json::Value::Null
        );
        assert_eq!(json["kernel"]["procs_running"], 2);
        assert!(json.get("pressure").is_none() && json.get("networks").is_none());
        assert_eq!(json["temperatures"][0]["celsius"], 41.0);
        let empty = DetailPoint::of(5, &Sample::default(), None);
        assert_eq!(serde_json::to_string(&empty).unwrap(), r#"{"ts_ms":5}"#);
    }
}
