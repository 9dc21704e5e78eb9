//! `SampleView` and `HostInfoView`: the API's own copies of the edge's `Sample` and
//! `HostInfo`, field for field as `docs/api.md` shows them (`HostView.latest`, `.info`).
//!
//! Today they mirror the wire types one to one; they exist so that a new protocol field
//! reaches the API only when it is added here (and to `docs/api.md`), never by accident.

use serde::Serialize;
use utizmon_protocol::{HostInfo, Sample};

/// Static facts about a host (`HostView.info`).
#[derive(Debug, Clone, Serialize)]
pub struct HostInfoView {
    pub host_name: String,
    pub os_name: String,
    pub os_version: String,
    pub kernel: String,
    pub arch: String,
    pub cpu_model: String,
    pub cores: u32,
    pub agent_version: String,
    /// Unix seconds.
    pub boot_time: u64,
}

/// The last accepted sample of a host (`HostView.latest`).
#[derive(Debug, Clone, Serialize)]
pub struct SampleView {
    pub seq: u64,
    /// Edge clock, Unix ms.
    pub ts_ms: u64,
    pub cpu: CpuView,
    pub memory: MemoryView,
    pub load: LoadView,
    pub uptime_seconds: f64,
    pub filesystems: Vec<FilesystemView>,
    pub networks: Vec<NetworkView>,
}

/// `SampleView.cpu`.
#[derive(Debug, Clone, Serialize)]
pub struct CpuView {
    pub usage_ratio: f64,
    pub cores: Vec<f64>,
    pub seconds: CpuSecondsView,
}

/// `SampleView.cpu.seconds`: cumulative CPU seconds per mode.
#[derive(Debug, Clone, Serialize)]
pub struct CpuSecondsView {
    pub user: f64,
    pub nice: f64,
    pub system: f64,
    pub idle: f64,
    pub iowait: f64,
    pub irq: f64,
    pub softirq: f64,
    pub steal: f64,
}

/// `SampleView.memory`, bytes.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryView {
    pub total_bytes: u64,
    pub used_bytes: u64,
    pub available_bytes: u64,
    pub swap_total_bytes: u64,
    pub swap_used_bytes: u64,
}

/// `SampleView.load`.
#[derive(Debug, Clone, Serialize)]
pub struct LoadView {
    pub load1: f64,
    pub load5: f64,
    pub load15: f64,
}

/// One entry of `SampleView.filesystems`.
#[derive(Debug, Clone, Serialize)]
pub struct FilesystemView {
    pub mountpoint: String,
    pub fstype: String,
    pub size_bytes: u64,
    pub avail_bytes: u64,
}

/// One entry of `SampleView.networks`: cumulative counters.
#[derive(Debug, Clone, Serialize)]
pub struct NetworkView {
    pub device: String,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
}

impl From<&HostInfo> for HostInfoView {
    fn from(info: &HostInfo) -> HostInfoView {
        HostInfoView {
            host_name: info.host_name.clone(),
            os_name: info.os_name.clone(),
            os_version: info.os_version.clone(),
            kernel: info.kernel.clone(),
            arch: info.arch.clone(),
            cpu_model: info.cpu_model.clone(),
            cores: info.cores,
            agent_version: info.agent_version.clone(),
            boot_time: info.boot_time,
        }
    }
}

impl From<&Sample> for SampleView {
    fn from(sample: &Sample) -> SampleView {
        let (cpu, seconds, memory, load) = (
            &sample.cpu,
            &sample.cpu.seconds,
            &sample.memory,
            &sample.load,
        );
        SampleView {
            seq: sample.seq,
            ts_ms: sample.ts_ms,
            cpu: CpuView {
                usage_ratio: cpu.usage_ratio,
                cores: cpu.cores.clone(),
                seconds: CpuSecondsView {
                    user: seconds.user,
                    nice: seconds.nice,
                    system: seconds.system,
                    idle: seconds.idle,
                    iowait: seconds.iowait,
                    irq: seconds.irq,
                    softirq: seconds.softirq,
                    steal: seconds.steal,
                },
            },
            memory: MemoryView {
                total_bytes: memory.total_bytes,
                used_bytes: memory.used_bytes,
                available_bytes: memory.available_bytes,
                swap_total_bytes: memory.swap_total_bytes,
                swap_used_bytes: memory.swap_used_bytes,
            },
            load: LoadView {
                load1: load.load1,
                load5: load.load5,
                load15: load.load15,
            },
            uptime_seconds: sample.uptime_seconds,
            filesystems: sample
                .filesystems
                .iter()
                .map(|fs| FilesystemView {
                    mountpoint: fs.mountpoint.clone(),
                    fstype: fs.fstype.clone(),
                    size_bytes: fs.size_bytes,
                    avail_bytes: fs.avail_bytes,
                })
                .collect(),
            networks: sample
                .networks
                .iter()
                .map(|n| NetworkView {
                    device: n.device.clone(),
                    rx_bytes: n.rx_bytes,
                    tx_bytes: n.tx_bytes,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A wire sample with every field set serializes to the same JSON as its view, so the
    /// mirror is complete (a new wire field makes this fail until the view decides).
    #[test]
    fn view_json_equals_wire_json_today() {
        let sample: Sample = serde_json::from_str(
            r#"{"seq":42,"ts_ms":1700000000000,"cpu":{"usage_ratio":0.12,"cores":[0.1,0.14],
            "seconds":{"user":1.0,"nice":2.0,"system":3.0,"idle":4.0,"iowait":5.0,"irq":6.0,
            "softirq":7.0,"steal":8.0}},"memory":{"total_bytes":1,"used_bytes":2,
            "available_bytes":3,"swap_total_bytes":4,"swap_used_bytes":5},
            "load":{"load1":0.1,"load5":0.2,"load15":0.3},"uptime_seconds":1000.5,
            "filesystems":[{"mountpoint":"/","fstype":"ext4","size_bytes":9,"avail_bytes":8}],
            "networks":[{"device":"eth0","rx_bytes":7,"tx_bytes":6}]}"#,
        )
        .unwrap();
        assert_eq!(
            serde_json::to_string(&SampleView::from(&sample)).unwrap(),
            serde_json::to_string(&sample).unwrap()
        );
        let info = HostInfo {
            host_name: "h".into(),
            os_name: "o".into(),
            os_version: "v".into(),
            kernel: "k".into(),
            arch: "a".into(),
            cpu_model: "c".into(),
            cores: 3,
            agent_version: "0.1".into(),
            boot_time: 17,
            ..HostInfo::default()
        };
        assert_eq!(
            serde_json::to_string(&HostInfoView::from(&info)).unwrap(),
            serde_json::to_string(&info).unwrap()
        );
    }
}
