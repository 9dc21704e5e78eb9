//! `SampleView` and `HostInfoView`: the API's own copies of the edge's `Sample` and
//! `HostInfo`, field for field as `docs/api.md` shows them (`HostView.latest`, `.info`).
//!
//! They mirror the wire types field for field, with the same rule for the sections of
//! protocol minor 1: a section the edge did not send (collector off, older edge, kernel
//! without it) is left out of the JSON, not shown as zero. The one wire field left out is
//! `cpu.core_seconds` (per-core time by mode, up to 8,192 numbers, there for
//! `/node-metrics`). They exist so that a new protocol field reaches the API only when it is
//! added here (and to `docs/api.md`), never by accident.

use serde::Serialize;
use utizmon_protocol::{
    Cgroup, Disk, FileHandles, Filesystem, HostInfo, KernelCounters, Network, Pressure, Process,
    Sample, Stall, Temperature,
};

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
    /// `uname -v` (minor 1).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kernel_version: String,
    /// `uname -n` (minor 1).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub nodename: String,
    /// NIS domain name (minor 1).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub domainname: String,
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
    /// Block devices, cumulative counters (per-second rates are in `HostView.rates.disks`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub disks: Vec<DiskView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pressure: Option<PressureView>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub temperatures: Vec<TemperatureView>,
    /// The heaviest processes by CPU and by memory.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub top_processes: Vec<ProcessView>,
    /// Absent when not checked (no systemd, collector off), `[]` when none failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_units: Option<Vec<String>>,
    /// Services and containers, cumulative counters (rates in `HostView.rates.cgroups`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cgroups: Vec<CgroupView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel: Option<KernelView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_handles: Option<FileHandlesView>,
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
    /// `MemFree` (minor 1).
    #[serde(skip_serializing_if = "is_zero")]
    pub free_bytes: u64,
    /// `Buffers` (minor 1).
    #[serde(skip_serializing_if = "is_zero")]
    pub buffers_bytes: u64,
    /// `Cached` (minor 1).
    #[serde(skip_serializing_if = "is_zero")]
    pub cached_bytes: u64,
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
    /// Mount source (minor 1).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub device: String,
    /// Free bytes including the root reserve (minor 1).
    #[serde(skip_serializing_if = "is_zero")]
    pub free_bytes: u64,
    /// Inodes in total (minor 1).
    #[serde(skip_serializing_if = "is_zero")]
    pub files: u64,
    /// Free inodes (minor 1).
    #[serde(skip_serializing_if = "is_zero")]
    pub files_free: u64,
}

/// One entry of `SampleView.networks`: cumulative counters.
#[derive(Debug, Clone, Serialize)]
pub struct NetworkView {
    pub device: String,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    /// Packet, error and drop counters (minor 1); a zero counter is left out, as on the wire.
    #[serde(skip_serializing_if = "is_zero")]
    pub rx_packets: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub tx_packets: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub rx_errors: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub tx_errors: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub rx_dropped: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub tx_dropped: u64,
}

/// One entry of `SampleView.disks`: cumulative counters of a whole block device.
#[derive(Debug, Clone, Serialize)]
pub struct DiskView {
    pub device: String,
    pub reads: u64,
    pub reads_merged: u64,
    pub read_bytes: u64,
    pub read_seconds: f64,
    pub writes: u64,
    pub writes_merged: u64,
    pub written_bytes: u64,
    pub write_seconds: f64,
    pub io_now: u64,
    pub io_seconds: f64,
    pub io_weighted_seconds: f64,
}

/// `SampleView.pressure`: a resource the kernel does not report is left out.
#[derive(Debug, Clone, Serialize)]
pub struct PressureView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<StallView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<StallView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub io: Option<StallView>,
}

/// One resource of `SampleView.pressure`: cumulative stall seconds and 10 s averages.
#[derive(Debug, Clone, Serialize)]
pub struct StallView {
    pub some_seconds: f64,
    pub some_avg10: f64,
    /// Absent where the kernel has no `full` line (cpu before Linux 5.13).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_avg10: Option<f64>,
}

/// One entry of `SampleView.temperatures`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TemperatureView {
    /// `hwmon` or `thermal_zone`.
    pub kind: String,
    pub chip: String,
    pub sensor: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub label: String,
    pub celsius: f64,
}

/// One entry of `SampleView.top_processes`.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessView {
    pub pid: u32,
    pub name: String,
    pub user: String,
    /// Share of all CPUs since the edge's previous scan, 0..=1.
    pub cpu_ratio: f64,
    pub rss_bytes: u64,
}

/// One entry of `SampleView.cgroups`: a service or container, cumulative counters.
#[derive(Debug, Clone, Serialize)]
pub struct CgroupView {
    pub name: String,
    pub cpu_seconds: f64,
    pub memory_bytes: u64,
    pub io_read_bytes: u64,
    pub io_written_bytes: u64,
}

/// `SampleView.kernel`: `/proc/stat` activity counters.
#[derive(Debug, Clone, Serialize)]
pub struct KernelView {
    pub context_switches: u64,
    pub interrupts: u64,
    pub forks: u64,
    pub procs_running: u64,
    pub procs_blocked: u64,
}

/// `SampleView.file_handles`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileHandlesView {
    pub allocated: u64,
    pub maximum: u64,
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
            kernel_version: info.kernel_version.clone(),
            nodename: info.nodename.clone(),
            domainname: info.domainname.clone(),
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
                free_bytes: memory.free_bytes,
                buffers_bytes: memory.buffers_bytes,
                cached_bytes: memory.cached_bytes,
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
                .map(FilesystemView::from)
                .collect(),
            networks: sample.networks.iter().map(NetworkView::from).collect(),
            disks: sample.disks.iter().map(DiskView::from).collect(),
            pressure: sample.pressure.as_ref().map(PressureView::from),
            temperatures: sample
                .temperatures
                .iter()
                .map(TemperatureView::from)
                .collect(),
            top_processes: sample.top_processes.iter().map(ProcessView::from).collect(),
            failed_units: sample.failed_units.clone(),
            cgroups: sample.cgroups.iter().map(CgroupView::from).collect(),
            kernel: sample.kernel.as_ref().map(KernelView::from),
            file_handles: sample.file_handles.as_ref().map(FileHandlesView::from),
        }
    }
}

impl From<&Filesystem> for FilesystemView {
    fn from(fs: &Filesystem) -> FilesystemView {
        FilesystemView {
            mountpoint: fs.mountpoint.clone(),
            fstype: fs.fstype.clone(),
            size_bytes: fs.size_bytes,
            avail_bytes: fs.avail_bytes,
            device: fs.device.clone(),
            free_bytes: fs.free_bytes,
            files: fs.files,
            files_free: fs.files_free,
        }
    }
}

impl From<&Network> for NetworkView {
    fn from(n: &Network) -> NetworkView {
        NetworkView {
            device: n.device.clone(),
            rx_bytes: n.rx_bytes,
            tx_bytes: n.tx_bytes,
            rx_packets: n.rx_packets,
            tx_packets: n.tx_packets,
            rx_errors: n.rx_errors,
            tx_errors: n.tx_errors,
            rx_dropped: n.rx_dropped,
            tx_dropped: n.tx_dropped,
        }
    }
}

impl From<&Disk> for DiskView {
    fn from(d: &Disk) -> DiskView {
        DiskView {
            device: d.device.clone(),
            reads: d.reads,
            reads_merged: d.reads_merged,
            read_bytes: d.read_bytes,
            read_seconds: d.read_seconds,
            writes: d.writes,
            writes_merged: d.writes_merged,
            written_bytes: d.written_bytes,
            write_seconds: d.write_seconds,
            io_now: d.io_now,
            io_seconds: d.io_seconds,
            io_weighted_seconds: d.io_weighted_seconds,
        }
    }
}

impl From<&Pressure> for PressureView {
    fn from(p: &Pressure) -> PressureView {
        PressureView {
            cpu: p.cpu.as_ref().map(StallView::from),
            memory: p.memory.as_ref().map(StallView::from),
            io: p.io.as_ref().map(StallView::from),
        }
    }
}

impl From<&Stall> for StallView {
    fn from(s: &Stall) -> StallView {
        StallView {
            some_seconds: s.some_seconds,
            some_avg10: s.some_avg10,
            full_seconds: s.full_seconds,
            full_avg10: s.full_avg10,
        }
    }
}

impl From<&Temperature> for TemperatureView {
    fn from(t: &Temperature) -> TemperatureView {
        TemperatureView {
            kind: t.kind.clone(),
            chip: t.chip.clone(),
            sensor: t.sensor.clone(),
            label: t.label.clone(),
            celsius: t.celsius,
        }
    }
}

impl From<&Process> for ProcessView {
    fn from(p: &Process) -> ProcessView {
        ProcessView {
            pid: p.pid,
            name: p.name.clone(),
            user: p.user.clone(),
            cpu_ratio: p.cpu_ratio,
            rss_bytes: p.rss_bytes,
        }
    }
}

impl From<&Cgroup> for CgroupView {
    fn from(c: &Cgroup) -> CgroupView {
        CgroupView {
            name: c.name.clone(),
            cpu_seconds: c.cpu_seconds,
            memory_bytes: c.memory_bytes,
            io_read_bytes: c.io_read_bytes,
            io_written_bytes: c.io_written_bytes,
        }
    }
}

impl From<&KernelCounters> for KernelView {
    fn from(k: &KernelCounters) -> KernelView {
        KernelView {
            context_switches: k.context_switches,
            interrupts: k.interrupts,
            forks: k.forks,
            procs_running: k.procs_running,
            procs_blocked: k.procs_blocked,
        }
    }
}

impl From<&FileHandles> for FileHandlesView {
    fn from(f: &FileHandles) -> FileHandlesView {
        FileHandlesView {
            allocated: f.allocated,
            maximum: f.maximum,
        }
    }
}

/// Leaves a zero counter out, as the wire does: zero and "not sent" look alike there.
fn is_zero(value: &u64) -> bool {
    *value == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minor-0 wire sample serializes to the same JSON as its view, so the mirror is
    /// complete and leaves out every minor-1 section the edge did not send.
    #[test]
    fn view_json_equals_wire_json_for_a_minor_0_sample() {
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

    /// Every minor-1 section reaches the view field for field, in wire order, except
    /// `cpu.core_seconds`; a wire field added later makes this fail until the view decides.
    #[test]
    fn view_json_equals_wire_json_for_a_minor_1_sample_without_core_seconds() {
        let sample: Sample = serde_json::from_str(
            r#"{"seq":43,"ts_ms":1732400043000,"cpu":{"usage_ratio":0.125,"cores":[0.1],
            "seconds":{"user":1.5,"nice":0.0,"system":4.25,"idle":9.0,"iowait":1.5,"irq":0.0,
            "softirq":3.75,"steal":0.0},"core_seconds":[{"user":1.5,"nice":0.0,"system":4.25,
            "idle":9.0,"iowait":1.5,"irq":0.0,"softirq":3.75,"steal":0.0}]},
            "memory":{"total_bytes":20,"used_bytes":6,"available_bytes":14,
            "swap_total_bytes":10,"swap_used_bytes":0,"free_bytes":4,"buffers_bytes":5,
            "cached_bytes":9},"load":{"load1":0.12,"load5":0.08,"load15":0.02},
            "uptime_seconds":86043.5,"filesystems":[{"mountpoint":"/","fstype":"ext4",
            "size_bytes":20,"avail_bytes":15,"device":"/dev/vda1","free_bytes":16,
            "files":13,"files_free":12}],"networks":[{"device":"eth0","rx_bytes":12,
            "tx_bytes":9,"rx_packets":120,"tx_packets":90,"rx_errors":1,"tx_errors":2,
            "rx_dropped":12,"tx_dropped":3}],"disks":[{"device":"vda","reads":30,
            "reads_merged":5,"read_bytes":1346,"read_seconds":20.5,"writes":46,
            "writes_merged":63,"written_bytes":15718,"write_seconds":233.25,"io_now":1,
            "io_seconds":15.2,"io_weighted_seconds":258.5}],"pressure":{"cpu":{
            "some_seconds":728.5,"some_avg10":0.0125},"io":{"some_seconds":26.25,
            "some_avg10":0.0137,"full_seconds":1.5,"full_avg10":0.0}},"temperatures":[{
            "kind":"hwmon","chip":"platform_coretemp_0","sensor":"temp1",
            "label":"Package id 0","celsius":45.0},{"kind":"thermal_zone",
            "chip":"x86_pkg_temp","sensor":"1","celsius":44.0}],"top_processes":[{"pid":812,
            "name":"postgres","user":"postgres","cpu_ratio":0.21,"rss_bytes":268435456}],
            "failed_units":["backup.service"],"cgroups":[{
            "name":"system.slice/postgresql.service","cpu_seconds":5120.5,
            "memory_bytes":402653184,"io_read_bytes":1048576,"io_written_bytes":8388608}],
            "kernel":{"context_switches":2226102,"interrupts":982937,"forks":65110,
            "procs_running":2,"procs_blocked":0},"file_handles":{"allocated":2310,
            "maximum":2466170}}"#,
        )
        .unwrap();
        let view = serde_json::to_string(&SampleView::from(&sample)).unwrap();
        let mut wire = sample.clone();
        assert_eq!(wire.cpu.core_seconds.len(), 1);
        // The one field views leave out; without it the wire JSON must be the same bytes.
        wire.cpu.core_seconds.clear();
        assert_eq!(view, serde_json::to_string(&wire).unwrap());
        let info = HostInfo {
            kernel_version: "#1 SMP".into(),
            nodename: "n".into(),
            domainname: "(none)".into(),
            ..HostInfo::default()
        };
        assert_eq!(
            serde_json::to_value(HostInfoView::from(&info)).unwrap(),
            serde_json::to_value(&info).unwrap()
        );
    }

    /// "No failed unit" (`[]`) and "not checked" (absent) stay distinct.
    #[test]
    fn failed_units_checked_and_empty_is_an_empty_list() {
        let sample = Sample {
            failed_units: Some(Vec::new()),
            ..Sample::default()
        };
        let view = serde_json::to_value(SampleView::from(&sample)).unwrap();
        assert_eq!(view["failed_units"], serde_json::json!([]));
        let view = serde_json::to_value(SampleView::from(&Sample::default())).unwrap();
        assert!(view.get("failed_units").is_none());
        assert!(view.get("disks").is_none() && view.get("pressure").is_none());
    }
}
