//! The JSON shapes browsers and API clients see (`docs/api.md`), built from the live
//! model's [`HostSnapshot`]s.
//!
//! These types, not the wire types of `utizmon-protocol` nor the model of `state`, own the
//! field names of `/api/v1/...` and `/ws/dashboard`: the edge protocol can gain a field
//! without the API changing by accident, and the model can change without the JSON noticing.
//! The sample inside a host view has its own mirror in `views::sample`.

mod alerts;
mod detail;
mod sample;

use serde::Serialize;

pub use self::alerts::{AlertsView, LiveAlert};
pub use self::detail::DetailPoint;
pub use self::sample::{HostInfoView, SampleView};
use crate::rates::{CgroupRate, DiskRate, NetworkRate, Rates};
use crate::state::{EdgeRun, HostSnapshot};

/// `"online"` or `"offline"`, as in the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// An edge connection is open.
    Online,
    /// No connection: the host's last known state.
    Offline,
}

/// Everything known about one host: `GET /api/v1/hosts/{host}` and the detail stream.
#[derive(Debug, Clone, Serialize)]
pub struct HostView {
    pub host: String,
    pub status: Status,
    pub connected: bool,
    pub last_seen_ms: Option<u64>,
    pub info: Option<HostInfoView>,
    /// The last accepted sample, field for field as the edge sent it.
    pub latest: Option<SampleView>,
    pub rates: Option<RatesView>,
    pub edge: Option<EdgeRunView>,
}

/// Per-second rates of a host (`HostView.rates`), from the last two samples' counters.
#[derive(Debug, Clone, Serialize)]
pub struct RatesView {
    pub rx_bytes_per_second: f64,
    pub tx_bytes_per_second: f64,
    pub networks: Vec<NetworkRateView>,
    /// Block devices (protocol minor 1); left out when the edge sends none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub disks: Vec<DiskRateView>,
    /// Services and containers (protocol minor 1), between the edge's last two cgroup
    /// readings (every 5 s); left out until two readings were seen.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cgroups: Vec<CgroupRateView>,
}

/// Rates of one interface.
#[derive(Debug, Clone, Serialize)]
pub struct NetworkRateView {
    pub device: String,
    pub rx_bytes_per_second: f64,
    pub tx_bytes_per_second: f64,
    /// Packets, errors and drops per second: only when the edge sends packet counters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rx_packets_per_second: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tx_packets_per_second: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rx_errors_per_second: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tx_errors_per_second: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rx_dropped_per_second: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tx_dropped_per_second: Option<f64>,
}

/// Rates of one block device (`HostView.rates.disks`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiskRateView {
    pub device: String,
    pub read_bytes_per_second: f64,
    pub written_bytes_per_second: f64,
    pub reads_per_second: f64,
    pub writes_per_second: f64,
    /// Share of the interval the device had I/O in flight, 0..=1.
    pub busy_ratio: f64,
}

/// Rates of one service or container (`HostView.rates.cgroups`).
#[derive(Debug, Clone, Serialize)]
pub struct CgroupRateView {
    pub name: String,
    /// CPU seconds per second: how many cores it keeps busy.
    pub cpu_cores: f64,
    pub io_read_bytes_per_second: f64,
    pub io_written_bytes_per_second: f64,
}

/// Delivery statistics of the current (or last) run of a host's edge (`HostView.edge`).
#[derive(Debug, Clone, Serialize)]
pub struct EdgeRunView {
    /// `null` unless the viewer is logged in (see [`HostView::for_viewer`]).
    pub run_id: Option<String>,
    pub interval_ms: u64,
    /// `null` before the first sample of the run.
    pub first_seq: Option<u64>,
    pub last_seq: u64,
    pub received: u64,
    pub duplicates: u64,
    pub gaps: u64,
}

/// One row of the overview stream (see `docs/api.md`, `HostSummary`): ratios rounded to
/// what the table shows, so each browser receives a few hundred bytes per host.
#[derive(Debug, Clone, Serialize)]
pub struct HostSummary {
    pub host: String,
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
    /// Sum over the host's disks, leaving out the stacked ones (`dm-*`, `md*`) whose I/O
    /// their member disks already count; `null` without disk rates.
    pub disk_read_bytes_per_second: Option<f64>,
    /// As `disk_read_bytes_per_second`, for writes.
    pub disk_written_bytes_per_second: Option<f64>,
    /// The hottest temperature sensor, degrees Celsius; `null` without sensors.
    pub temp_max_celsius: Option<f64>,
    /// Its name: the sensor's label, or its chip and sensor when it has none.
    pub temp_max_sensor: Option<String>,
    /// Only in snapshots: the last CPU ratios, oldest first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_history: Option<Vec<f32>>,
}

impl Status {
    fn of(host: &HostSnapshot) -> Status {
        if host.connected {
            Status::Online
        } else {
            Status::Offline
        }
    }
}

impl From<&HostSnapshot> for HostView {
    fn from(host: &HostSnapshot) -> HostView {
        HostView {
            host: host.host.to_string(),
            status: Status::of(host),
            connected: host.connected,
            last_seen_ms: host.last_seen_ms,
            info: host.info.as_deref().map(HostInfoView::from),
            latest: host.latest.as_deref().map(SampleView::from),
            rates: host.rates.as_deref().map(RatesView::from),
            edge: host.run.as_ref().map(EdgeRunView::from),
        }
    }
}

impl HostView {
    /// The view of `host`; its run id only when `show_run_id` (a logged-in viewer), else
    /// `null`: knowing it was half of hijacking a run.
    pub fn for_viewer(host: &HostSnapshot, show_run_id: bool) -> HostView {
        let mut view = HostView::from(host);
        if let Some(edge) = view.edge.as_mut().filter(|_| !show_run_id) {
            edge.run_id = None;
        }
        view
    }
}

impl From<&Rates> for RatesView {
    fn from(rates: &Rates) -> RatesView {
        RatesView {
            rx_bytes_per_second: rates.rx_bytes_per_second,
            tx_bytes_per_second: rates.tx_bytes_per_second,
            networks: rates.networks.iter().map(NetworkRateView::from).collect(),
            disks: rates.disks.iter().map(DiskRateView::from).collect(),
            cgroups: rates
                .cgroups
                .groups
                .iter()
                .map(CgroupRateView::from)
                .collect(),
        }
    }
}

impl From<&NetworkRate> for NetworkRateView {
    fn from(n: &NetworkRate) -> NetworkRateView {
        let packets = n.packets.as_ref();
        NetworkRateView {
            device: n.device.clone(),
            rx_bytes_per_second: n.rx_bytes_per_second,
            tx_bytes_per_second: n.tx_bytes_per_second,
            rx_packets_per_second: packets.map(|p| p.rx_packets),
            tx_packets_per_second: packets.map(|p| p.tx_packets),
            rx_errors_per_second: packets.map(|p| p.rx_errors),
            tx_errors_per_second: packets.map(|p| p.tx_errors),
            rx_dropped_per_second: packets.map(|p| p.rx_dropped),
            tx_dropped_per_second: packets.map(|p| p.tx_dropped),
        }
    }
}

impl From<&DiskRate> for DiskRateView {
    fn from(d: &DiskRate) -> DiskRateView {
        DiskRateView {
            device: d.device.clone(),
            read_bytes_per_second: d.read_bytes_per_second,
            written_bytes_per_second: d.written_bytes_per_second,
            reads_per_second: d.reads_per_second,
            writes_per_second: d.writes_per_second,
            busy_ratio: d.busy_ratio,
        }
    }
}

impl From<&CgroupRate> for CgroupRateView {
    fn from(c: &CgroupRate) -> CgroupRateView {
        CgroupRateView {
            name: c.name.clone(),
            cpu_cores: c.cpu_cores,
            io_read_bytes_per_second: c.io_read_bytes_per_second,
            io_written_bytes_per_second: c.io_written_bytes_per_second,
        }
    }
}

impl From<&EdgeRun> for EdgeRunView {
    fn from(run: &EdgeRun) -> EdgeRunView {
        EdgeRunView {
            run_id: Some(run.run_id.clone()),
            interval_ms: run.interval_ms,
            first_seq: run.first_seq,
            last_seq: run.last_seq,
            received: run.received,
            duplicates: run.duplicates,
            gaps: run.gaps,
        }
    }
}

impl From<&HostSnapshot> for HostSummary {
    fn from(host: &HostSnapshot) -> HostSummary {
        let latest = host.latest.as_deref();
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
        let disks = host.rates.as_deref().and_then(|r| {
            let own = || r.disks.iter().filter(|d| !stacked(&d.device));
            (!r.disks.is_empty()).then(|| {
                (
                    own().map(|d| d.read_bytes_per_second).sum::<f64>(),
                    own().map(|d| d.written_bytes_per_second).sum::<f64>(),
                )
            })
        });
        let hottest = latest.and_then(|s| {
            s.temperatures
                .iter()
                .max_by(|a, b| a.celsius.total_cmp(&b.celsius))
        });
        HostSummary {
            host: host.host.to_string(),
            status: Status::of(host),
            last_seen_ms: host.last_seen_ms,
            os: host
                .info
                .as_ref()
                .map(|i| format!("{} {}", i.os_name, i.os_version).trim().to_owned()),
            cores: host.info.as_ref().map(|i| i.cores),
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
            rx_bytes_per_second: host.rates.as_ref().map(|r| r.rx_bytes_per_second.round()),
            tx_bytes_per_second: host.rates.as_ref().map(|r| r.tx_bytes_per_second.round()),
            disk_read_bytes_per_second: disks.map(|(read, _)| read.round()),
            disk_written_bytes_per_second: disks.map(|(_, written)| written.round()),
            temp_max_celsius: hottest.map(|t| round(t.celsius, 1)),
            temp_max_sensor: hottest.map(|t| {
                if t.label.is_empty() {
                    format!("{} {}", t.chip, t.sensor)
                } else {
                    t.label.clone()
                }
            }),
            cpu_history: host.cpu_history.clone(),
        }
    }
}

/// Whether a block device is stacked on others (device mapper, software RAID), so that
/// its I/O is already counted on its member disks.
fn stacked(device: &str) -> bool {
    device.starts_with("dm-") || device.starts_with("md")
}

/// `value` rounded to `digits` decimals: the overview shows percentages with one decimal,
/// and 17-digit floats would triple the bytes each browser receives.
fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use utizmon_protocol::{Filesystem, Memory, Sample, Temperature};

    use super::*;

    fn snapshot(latest: Option<Sample>) -> HostSnapshot {
        HostSnapshot {
            host: Arc::from("web-1"),
            connected: true,
            last_seen_ms: Some(5),
            info: None,
            latest: latest.map(Arc::new),
            rates: None,
            point: None,
            run: None,
            cpu_history: None,
        }
    }

    #[test]
    fn summary_rounds_ratios_and_picks_the_fullest_filesystem() {
        let fs = |mountpoint: &str, avail_bytes| Filesystem {
            mountpoint: mountpoint.into(),
            size_bytes: 3,
            avail_bytes,
            ..Filesystem::default()
        };
        let sample = Sample {
            memory: Memory {
                total_bytes: 3,
                used_bytes: 1,
                ..Memory::default()
            },
            filesystems: vec![fs("/", 2), fs("/var", 1), fs("/empty", 9)],
            ..Sample::default()
        };
        let summary = HostSummary::from(&snapshot(Some(sample)));
        assert_eq!(summary.mem_ratio, Some(0.3333));
        assert_eq!(summary.swap_ratio, None, "no swap: unknown, not zero");
        assert_eq!(summary.fs_max_ratio, Some(0.6667));
        assert_eq!(summary.fs_max_mountpoint.as_deref(), Some("/var"));
        assert_eq!(summary.status, Status::Online);
    }

    #[test]
    fn summary_sums_own_disks_and_names_the_hottest_sensor() {
        let disk = |device: &str, read| DiskRate {
            device: device.into(),
            read_bytes_per_second: read,
            written_bytes_per_second: 2.0 * read,
            reads_per_second: 0.0,
            writes_per_second: 0.0,
            busy_ratio: 0.0,
        };
        let temp = |chip: &str, label: &str, celsius| Temperature {
            kind: "hwmon".into(),
            chip: chip.into(),
            sensor: "temp1".into(),
            label: label.into(),
            celsius,
        };
        let mut host = snapshot(Some(Sample {
            temperatures: vec![temp("acpitz", "", 51.04), temp("coretemp", "Core 0", 48.0)],
            ..Sample::default()
        }));
        host.rates = Some(Arc::new(Rates {
            rx_bytes_per_second: 0.0,
            tx_bytes_per_second: 0.0,
            networks: Vec::new(),
            disks: vec![
                disk("sda", 100.4),
                disk("dm-0", 90.0),
                disk("nvme0n1", 10.0),
            ],
            cgroups: Default::default(),
            pressure: None,
            kernel: None,
        }));
        let summary = HostSummary::from(&host);
        assert_eq!(summary.disk_read_bytes_per_second, Some(110.0));
        assert_eq!(summary.disk_written_bytes_per_second, Some(221.0));
        assert_eq!(summary.temp_max_celsius, Some(51.0));
        assert_eq!(summary.temp_max_sensor.as_deref(), Some("acpitz temp1"));
        // No disks and no sensors: unknown, not zero.
        host.rates = Some(Arc::new(Rates {
            disks: Vec::new(),
            ..(**host.rates.as_ref().unwrap()).clone()
        }));
        host.latest = Some(Arc::new(Sample::default()));
        let summary = HostSummary::from(&host);
        assert_eq!(summary.disk_read_bytes_per_second, None);
        assert_eq!(summary.temp_max_celsius, None);
    }

    #[test]
    fn a_host_without_samples_has_nulls() {
        let json = serde_json::to_value(HostView::from(&snapshot(None))).unwrap();
        assert_eq!(json["latest"], serde_json::Value::Null);
        assert_eq!(json["status"], "online");
        let json = serde_json::to_value(HostSummary::from(&snapshot(None))).unwrap();
        assert_eq!(json["cpu_ratio"], serde_json::Value::Null);
        assert!(json.get("cpu_history").is_none());
    }
}
