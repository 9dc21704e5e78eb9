//! `GET /node-metrics`: every host's latest sample under node_exporter's own metric names,
//! label names and units, with `instance` set to the host name.
//!
//! A Prometheus job scraping this with `honor_labels: true` files each host's series as if
//! a node_exporter ran on it, so dashboards built for node_exporter (Grafana's "Node
//! Exporter Full") work unchanged. Only families the samples can fill honestly are written;
//! a family a host's edge does not send (an older edge, a collector switched off, a kernel
//! without PSI) is simply absent for that host. `server/tests/node_metrics.rs` compares this
//! output with a real node_exporter on the same machine, family by family.
//!
//! The classic Prometheus text format (0.0.4) is written by hand: the names are not
//! `utizmon_`-prefixed, so they do not belong in the `/metrics` registry, and the format is
//! a few lines of escaping.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use utizmon_protocol::{CpuSeconds, HostInfo, Sample, Stall, StatTable};

use crate::state::HostSnapshot;

/// `Content-Type` of the response: the classic text format node_exporter serves.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// One host's view for the renderer.
struct Host<'a> {
    instance: &'a str,
    sample: &'a Sample,
    info: Option<&'a HostInfo>,
}

/// The series of one family being written: its name, and the lines so far.
struct Family<'a> {
    name: &'a str,
    body: String,
    instance: &'a str,
}

impl Family<'_> {
    /// Appends `name{instance="..",labels..} value`.
    fn push(&mut self, labels: &[(&str, &str)], value: f64) {
        let _ = write!(self.body, "{}{{instance=\"", self.name);
        escape_into(&mut self.body, self.instance);
        self.body.push('"');
        for (key, val) in labels {
            let _ = write!(self.body, ",{key}=\"");
            escape_into(&mut self.body, val);
            self.body.push('"');
        }
        let _ = writeln!(self.body, "}} {}", format_value(value));
    }
}

/// Reads one value out of a `T`.
type Read<T, V> = fn(&T) -> V;

/// Whether a family is a counter or a gauge (its `# TYPE`).
#[derive(Debug, Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    /// node_exporter's `untyped` (vmstat and netstat fields, counters and gauges mixed).
    Untyped,
}

/// CPU modes in the order node_exporter lists them, with their counter.
const CPU_MODES: [(&str, Read<CpuSeconds, f64>); 8] = [
    ("idle", |s| s.idle),
    ("iowait", |s| s.iowait),
    ("irq", |s| s.irq),
    ("nice", |s| s.nice),
    ("softirq", |s| s.softirq),
    ("steal", |s| s.steal),
    ("system", |s| s.system),
    ("user", |s| s.user),
];

/// Renders every host that has sent a sample.
pub fn render(hosts: &[HostSnapshot]) -> String {
    let hosts: Vec<Host<'_>> = hosts
        .iter()
        .filter_map(|h| {
            Some(Host {
                instance: &h.host,
                sample: h.latest.as_deref()?,
                info: h.info.as_deref(),
            })
        })
        .collect();
    let mut out = String::with_capacity(4096 + hosts.len() * 8192);
    let mut family = |name: &str, help: &str, kind: Kind, each: &dyn Fn(&Host, &mut Family)| {
        let mut body = String::new();
        for host in &hosts {
            let mut f = Family {
                name,
                body: std::mem::take(&mut body),
                instance: host.instance,
            };
            each(host, &mut f);
            body = f.body;
        }
        if body.is_empty() {
            return;
        }
        let kind = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Untyped => "untyped",
        };
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        out.push_str(&body);
    };
    use Kind::{Counter, Gauge, Untyped};

    family(
        "node_boot_time_seconds",
        "Node boot time, in unixtime.",
        Gauge,
        &|h, f| {
            if let Some(info) = h.info.filter(|i| i.boot_time > 0) {
                f.push(&[], info.boot_time as f64);
            }
        },
    );
    family(
        "node_time_seconds",
        "System time in seconds since epoch (1970).",
        Gauge,
        &|h, f| f.push(&[], h.sample.ts_ms as f64 / 1000.0),
    );
    family(
        "node_uname_info",
        "Labeled system information as provided by the uname system call.",
        Gauge,
        &|h, f| {
            let Some(info) = h.info else { return };
            let nodename = if info.nodename.is_empty() {
                h.instance
            } else {
                &info.nodename
            };
            f.push(
                &[
                    ("domainname", &info.domainname),
                    ("machine", &info.arch),
                    ("nodename", nodename),
                    ("release", &info.kernel),
                    ("sysname", "Linux"),
                    ("version", &info.kernel_version),
                ],
                1.0,
            );
        },
    );

    family(
        "node_cpu_seconds_total",
        "Seconds the CPUs spent in each mode.",
        Counter,
        &|h, f| {
            for (cpu, seconds) in h.sample.cpu.core_seconds.iter().enumerate() {
                let cpu = cpu.to_string();
                for (mode, value) in CPU_MODES {
                    f.push(&[("cpu", &cpu), ("mode", mode)], value(seconds));
                }
            }
        },
    );

    for (name, help, value) in [
        (
            "node_load1",
            "1m load average.",
            (|s| s.load.load1) as fn(&Sample) -> f64,
        ),
        ("node_load5", "5m load average.", |s| s.load.load5),
        ("node_load15", "15m load average.", |s| s.load.load15),
    ] {
        family(name, help, Gauge, &|h, f| f.push(&[], value(h.sample)));
    }

    let memory: [(&str, Read<Sample, u64>); 7] = [
        ("MemTotal", |s| s.memory.total_bytes),
        ("MemAvailable", |s| s.memory.available_bytes),
        ("MemFree", |s| s.memory.free_bytes),
        ("Buffers", |s| s.memory.buffers_bytes),
        ("Cached", |s| s.memory.cached_bytes),
        ("SwapTotal", |s| s.memory.swap_total_bytes),
        ("SwapFree", |s| {
            s.memory.swap_total_bytes - s.memory.swap_used_bytes.min(s.memory.swap_total_bytes)
        }),
    ];
    for (field, value) in memory {
        let name = format!("node_memory_{field}_bytes");
        let help = format!("Memory information field {field}_bytes.");
        family(&name, &help, Gauge, &|h, f| {
            // MemFree, Buffers and Cached come from minor-1 edges only; zero there means
            // "not sent" (a host with no free page at all does not report in).
            let minor0_field = matches!(field, "MemFree" | "Buffers" | "Cached");
            let sent = h.sample.memory.total_bytes > 0
                && (!minor0_field || h.sample.memory.free_bytes > 0);
            if sent {
                f.push(&[], value(h.sample) as f64);
            }
        });
    }

    let filesystem: [(&str, &str, Read<utizmon_protocol::Filesystem, u64>); 5] = [
        (
            "node_filesystem_size_bytes",
            "Filesystem size in bytes.",
            |f| f.size_bytes,
        ),
        (
            "node_filesystem_avail_bytes",
            "Filesystem space available to non-root users in bytes.",
            |f| f.avail_bytes,
        ),
        (
            "node_filesystem_free_bytes",
            "Filesystem free space in bytes.",
            |f| f.free_bytes,
        ),
        (
            "node_filesystem_files",
            "Filesystem total file nodes.",
            |f| f.files,
        ),
        (
            "node_filesystem_files_free",
            "Filesystem total free file nodes.",
            |f| f.files_free,
        ),
    ];
    for (i, (name, help, value)) in filesystem.into_iter().enumerate() {
        family(name, help, Gauge, &|h, f| {
            let filesystems = &h.sample.filesystems;
            for (j, fs) in filesystems.iter().enumerate() {
                // size and avail come from every edge; free and inodes only from minor-1
                // edges, which always name the device.
                let duplicate = filesystems[..j].iter().any(|o| {
                    o.mountpoint == fs.mountpoint && o.device == fs.device && o.fstype == fs.fstype
                });
                if duplicate || (i >= 2 && fs.device.is_empty()) {
                    continue;
                }
                let labels = [
                    ("device", fs.device.as_str()),
                    ("fstype", fs.fstype.as_str()),
                    ("mountpoint", fs.mountpoint.as_str()),
                ];
                f.push(&labels, value(fs) as f64);
            }
        });
    }

    let network: [(&str, &str, Read<utizmon_protocol::Network, u64>); 8] = [
        ("receive_bytes", "bytes", |n| n.rx_bytes),
        ("transmit_bytes", "bytes", |n| n.tx_bytes),
        ("receive_packets", "packets", |n| n.rx_packets),
        ("transmit_packets", "packets", |n| n.tx_packets),
        ("receive_errs", "errs", |n| n.rx_errors),
        ("transmit_errs", "errs", |n| n.tx_errors),
        ("receive_drop", "drop", |n| n.rx_dropped),
        ("transmit_drop", "drop", |n| n.tx_dropped),
    ];
    for (i, (what, column, value)) in network.into_iter().enumerate() {
        let name = format!("node_network_{what}_total");
        let direction = what.split('_').next().unwrap_or(what);
        let help = format!("Network device statistic {direction}_{column}.");
        family(&name, &help, Counter, &|h, f| {
            // Packets, errors and drops are minor-1 fields: without packets, none was sent.
            if i >= 2
                && !h
                    .sample
                    .networks
                    .iter()
                    .any(|n| n.rx_packets > 0 || n.tx_packets > 0)
            {
                return;
            }
            let networks = &h.sample.networks;
            for (j, net) in networks.iter().enumerate() {
                if networks[..j].iter().any(|o| o.device == net.device) {
                    continue;
                }
                f.push(&[("device", &net.device)], value(net) as f64);
            }
        });
    }

    let disk: [(&str, &str, Kind, Read<utizmon_protocol::Disk, f64>); 11] = [
        (
            "node_disk_reads_completed_total",
            "The total number of reads completed successfully.",
            Counter,
            |d| d.reads as f64,
        ),
        (
            "node_disk_reads_merged_total",
            "The total number of reads merged.",
            Counter,
            |d| d.reads_merged as f64,
        ),
        (
            "node_disk_read_bytes_total",
            "The total number of bytes read successfully.",
            Counter,
            |d| d.read_bytes as f64,
        ),
        (
            "node_disk_read_time_seconds_total",
            "The total number of seconds spent by all reads.",
            Counter,
            |d| d.read_seconds,
        ),
        (
            "node_disk_writes_completed_total",
            "The total number of writes completed successfully.",
            Counter,
            |d| d.writes as f64,
        ),
        (
            "node_disk_writes_merged_total",
            "The number of writes merged.",
            Counter,
            |d| d.writes_merged as f64,
        ),
        (
            "node_disk_written_bytes_total",
            "The total number of bytes written successfully.",
            Counter,
            |d| d.written_bytes as f64,
        ),
        (
            "node_disk_write_time_seconds_total",
            "This is the total number of seconds spent by all writes.",
            Counter,
            |d| d.write_seconds,
        ),
        (
            "node_disk_io_now",
            "The number of I/Os currently in progress.",
            Gauge,
            |d| d.io_now as f64,
        ),
        (
            "node_disk_io_time_seconds_total",
            "Total seconds spent doing I/Os.",
            Counter,
            |d| d.io_seconds,
        ),
        (
            "node_disk_io_time_weighted_seconds_total",
            "The weighted # of seconds spent doing I/Os.",
            Counter,
            |d| d.io_weighted_seconds,
        ),
    ];
    for (name, help, kind, value) in disk {
        family(name, help, kind, &|h, f| {
            for d in &h.sample.disks {
                f.push(&[("device", &d.device)], value(d));
            }
        });
    }

    type PressureRead = Read<Sample, Option<f64>>;
    let pressure: [(&str, &str, PressureRead); 5] = [
        (
            "node_pressure_cpu_waiting_seconds_total",
            "Total time in seconds that processes have waited for CPU time",
            |s| stall(s, |p| p.cpu).map(|st| st.some_seconds),
        ),
        (
            "node_pressure_memory_waiting_seconds_total",
            "Total time in seconds that processes have waited for memory",
            |s| stall(s, |p| p.memory).map(|st| st.some_seconds),
        ),
        (
            "node_pressure_memory_stalled_seconds_total",
            "Total time in seconds no process could make progress due to memory congestion",
            |s| stall(s, |p| p.memory).and_then(|st| st.full_seconds),
        ),
        (
            "node_pressure_io_waiting_seconds_total",
            "Total time in seconds that processes have waited due to IO congestion",
            |s| stall(s, |p| p.io).map(|st| st.some_seconds),
        ),
        (
            "node_pressure_io_stalled_seconds_total",
            "Total time in seconds no process could make progress due to IO congestion",
            |s| stall(s, |p| p.io).and_then(|st| st.full_seconds),
        ),
    ];
    for (name, help, value) in pressure {
        family(name, help, Counter, &|h, f| {
            if let Some(v) = value(h.sample) {
                f.push(&[], v);
            }
        });
    }

    family(
        "node_hwmon_temp_celsius",
        "Hardware monitor for temperature (input)",
        Gauge,
        &|h, f| {
            for t in h.sample.temperatures.iter().filter(|t| t.kind == "hwmon") {
                f.push(&[("chip", &t.chip), ("sensor", &t.sensor)], t.celsius);
            }
        },
    );
    family(
        "node_hwmon_sensor_label",
        "Label for given chip and sensor",
        Gauge,
        &|h, f| {
            for t in h
                .sample
                .temperatures
                .iter()
                .filter(|t| t.kind == "hwmon" && !t.label.is_empty())
            {
                f.push(
                    &[
                        ("chip", &t.chip),
                        ("label", &t.label),
                        ("sensor", &t.sensor),
                    ],
                    1.0,
                );
            }
        },
    );
    family(
        "node_thermal_zone_temp",
        "Zone temperature in Celsius",
        Gauge,
        &|h, f| {
            for t in h
                .sample
                .temperatures
                .iter()
                .filter(|t| t.kind == "thermal_zone")
            {
                f.push(&[("type", &t.chip), ("zone", &t.sensor)], t.celsius);
            }
        },
    );

    type KernelRead = Read<utizmon_protocol::KernelCounters, u64>;
    let kernel: [(&str, &str, Kind, KernelRead); 5] = [
        (
            "node_context_switches_total",
            "Total number of context switches.",
            Counter,
            |k| k.context_switches,
        ),
        (
            "node_intr_total",
            "Total number of interrupts serviced.",
            Counter,
            |k| k.interrupts,
        ),
        ("node_forks_total", "Total number of forks.", Counter, |k| {
            k.forks
        }),
        (
            "node_procs_running",
            "Number of processes in runnable state.",
            Gauge,
            |k| k.procs_running,
        ),
        (
            "node_procs_blocked",
            "Number of processes blocked waiting for I/O to complete.",
            Gauge,
            |k| k.procs_blocked,
        ),
    ];
    for (name, help, kind, value) in kernel {
        family(name, help, kind, &|h, f| {
            if let Some(k) = &h.sample.kernel {
                f.push(&[], value(k) as f64);
            }
        });
    }
    family(
        "node_filefd_allocated",
        "File descriptor statistics: allocated.",
        Gauge,
        &|h, f| {
            if let Some(fh) = &h.sample.file_handles {
                f.push(&[], fh.allocated as f64);
            }
        },
    );
    family(
        "node_filefd_maximum",
        "File descriptor statistics: maximum.",
        Gauge,
        &|h, f| {
            if let Some(fh) = &h.sample.file_handles {
                f.push(&[], fh.maximum as f64);
            }
        },
    );

    // The kernel statistics tables (protocol minor 2): one family per field any host
    // sends, named by the edge as node_exporter names it.
    let tables: [(&str, Kind, TableOf); 4] = [
        ("memory", Gauge, |s| &s.meminfo),
        ("vmstat", Untyped, |s| &s.vmstat),
        ("netstat", Untyped, |s| &s.netstat),
        ("sockstat", Gauge, |s| &s.sockstat),
    ];
    for (prefix, kind, table) in tables {
        let fields: BTreeSet<&str> = hosts
            .iter()
            .flat_map(|h| table(h.sample).keys().map(|k| &**k))
            // Written above from the memory summary, which every edge sends.
            .filter(|field| prefix != "memory" || !MEMORY_SUMMARY.contains(field))
            .collect();
        for field in fields {
            let name = format!("node_{prefix}_{field}");
            let help = table_help(prefix, field);
            family(&name, &help, kind, &|h, f| {
                if let Some(&value) = table(h.sample).get(field) {
                    f.push(&[], value as f64);
                }
            });
        }
    }
    out
}

/// Picks one kernel statistics table out of a sample.
type TableOf = fn(&Sample) -> &StatTable;

/// The `node_memory_*` fields written from the memory summary rather than the table.
const MEMORY_SUMMARY: [&str; 7] = [
    "MemTotal_bytes",
    "MemAvailable_bytes",
    "MemFree_bytes",
    "Buffers_bytes",
    "Cached_bytes",
    "SwapTotal_bytes",
    "SwapFree_bytes",
];

/// node_exporter's help text of a statistics table's family.
fn table_help(prefix: &str, field: &str) -> String {
    match prefix {
        "memory" => format!("Memory information field {field}."),
        "vmstat" => format!("/proc/vmstat information field {field}."),
        "netstat" => format!("Statistic {}.", field.replacen('_', "", 1)),
        _ => match field.split_once('_') {
            Some(("sockets", _)) => "Number of IPv4 sockets in use.".to_owned(),
            Some((proto, state)) => format!("Number of {proto} sockets in state {state}."),
            None => format!("Socket statistic {field}."),
        },
    }
}

/// One resource's stall line, when the sample has pressure at all.
fn stall(sample: &Sample, pick: Read<utizmon_protocol::Pressure, Option<Stall>>) -> Option<Stall> {
    sample.pressure.as_ref().and_then(pick)
}

/// Appends `value` escaped for a label value: backslash, double quote and newline.
pub(crate) fn escape_into(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// A sample value as the text format wants it: integers without a fraction.
fn format_value(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use utizmon_protocol::{
        Cpu, Disk, Filesystem, KernelCounters, Memory, Network, Pressure, Temperature,
    };

    use super::*;

    fn host(name: &str, sample: Sample) -> HostSnapshot {
        HostSnapshot {
            host: Arc::from(name),
            connected: true,
            info: Some(Arc::new(HostInfo {
                host_name: name.into(),
                kernel: "6.1.0".into(),
                arch: "x86_64".into(),
                boot_time: 1_700_000_000,
                kernel_version: "#1 SMP".into(),
                nodename: "node-a".into(),
                domainname: "(none)".into(),
                ..HostInfo::default()
            })),
            latest: Some(Arc::new(sample)),
            last_seen_ms: None,
            rates: None,
            point: None,
            run: None,
            cpu_history: None,
        }
    }

    fn minor1() -> Sample {
        Sample {
            seq: 1,
            ts_ms: 1_700_000_100_500,
            cpu: Cpu {
                core_seconds: vec![
                    CpuSeconds {
                        user: 1.5,
                        idle: 10.0,
                        ..CpuSeconds::default()
                    };
                    2
                ],
                ..Cpu::default()
            },
            memory: Memory {
                total_bytes: 1000,
                available_bytes: 600,
                used_bytes: 400,
                free_bytes: 100,
                swap_total_bytes: 50,
                swap_used_bytes: 20,
                ..Memory::default()
            },
            filesystems: vec![Filesystem {
                mountpoint: "/".into(),
                fstype: "ext4".into(),
                device: "/dev/vda1".into(),
                size_bytes: 100,
                avail_bytes: 40,
                free_bytes: 50,
                files: 10,
                files_free: 5,
            }],
            networks: vec![Network {
                device: "eth0".into(),
                rx_bytes: 7,
                rx_packets: 3,
                ..Network::default()
            }],
            disks: vec![Disk {
                device: "vda".into(),
                read_bytes: 512,
                io_seconds: 1.25,
                ..Disk::default()
            }],
            pressure: Some(Pressure {
                io: Some(Stall {
                    some_seconds: 2.5,
                    full_seconds: Some(1.0),
                    ..Stall::default()
                }),
                ..Pressure::default()
            }),
            temperatures: vec![Temperature {
                kind: "hwmon".into(),
                chip: "platform_coretemp_0".into(),
                sensor: "temp1".into(),
                label: "Package \"0\"".into(),
                celsius: 45.5,
            }],
            kernel: Some(KernelCounters {
                context_switches: 99,
                ..KernelCounters::default()
            }),
            ..Sample::default()
        }
    }

    fn lines(text: &str) -> Vec<&str> {
        text.lines().collect()
    }

    #[test]
    fn writes_node_exporter_names_labels_and_units() {
        let text = render(&[host("web-1", minor1())]);
        let got = lines(&text);
        for want in [
            r#"node_boot_time_seconds{instance="web-1"} 1700000000"#,
            r#"node_time_seconds{instance="web-1"} 1700000100.5"#,
            r##"node_uname_info{instance="web-1",domainname="(none)",machine="x86_64",nodename="node-a",release="6.1.0",sysname="Linux",version="#1 SMP"} 1"##,
            r#"node_cpu_seconds_total{instance="web-1",cpu="1",mode="user"} 1.5"#,
            r#"node_cpu_seconds_total{instance="web-1",cpu="0",mode="idle"} 10"#,
            r#"node_memory_MemTotal_bytes{instance="web-1"} 1000"#,
            r#"node_memory_MemFree_bytes{instance="web-1"} 100"#,
            r#"node_memory_SwapFree_bytes{instance="web-1"} 30"#,
            r#"node_filesystem_free_bytes{instance="web-1",device="/dev/vda1",fstype="ext4",mountpoint="/"} 50"#,
            r#"node_filesystem_files_free{instance="web-1",device="/dev/vda1",fstype="ext4",mountpoint="/"} 5"#,
            r#"node_network_receive_packets_total{instance="web-1",device="eth0"} 3"#,
            r#"node_disk_read_bytes_total{instance="web-1",device="vda"} 512"#,
            r#"node_disk_io_time_seconds_total{instance="web-1",device="vda"} 1.25"#,
            r#"node_pressure_io_stalled_seconds_total{instance="web-1"} 1"#,
            r#"node_hwmon_temp_celsius{instance="web-1",chip="platform_coretemp_0",sensor="temp1"} 45.5"#,
            r#"node_hwmon_sensor_label{instance="web-1",chip="platform_coretemp_0",label="Package \"0\"",sensor="temp1"} 1"#,
            r#"node_context_switches_total{instance="web-1"} 99"#,
            "# TYPE node_cpu_seconds_total counter",
            "# TYPE node_memory_MemTotal_bytes gauge",
        ] {
            assert!(got.contains(&want), "missing {want}\n{text}");
        }
        // Nothing sent, nothing written: no cpu pressure, no thermal zone, no file handles.
        for absent in [
            "node_pressure_cpu_waiting_seconds_total",
            "node_thermal_zone_temp",
            "node_filefd_allocated",
        ] {
            assert!(!text.contains(absent), "{absent}");
        }
    }

    #[test]
    fn an_older_edge_gets_only_what_it_sent_and_each_family_is_grouped() {
        let mut old = minor1();
        old.cpu.core_seconds.clear();
        old.memory.free_bytes = 0;
        old.filesystems[0].device.clear();
        old.networks[0].rx_packets = 0;
        let text = render(&[host("a", minor1()), host("b\"x", old)]);
        assert!(text.lines().any(|l| l == r#"node_filesystem_size_bytes{instance="b\"x",device="",fstype="ext4",mountpoint="/"} 100"#));
        assert!(!text
            .lines()
            .any(|l| l.starts_with(r#"node_memory_MemFree_bytes{instance="b\"x""#)));
        assert!(!text
            .lines()
            .any(|l| l.starts_with(r#"node_network_receive_packets_total{instance="b\"x""#)));
        // Each family's series follow its one TYPE line, never split by another family.
        let mut seen = std::collections::HashSet::new();
        let mut current = "";
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split('{').next().unwrap();
            if name != current {
                assert!(seen.insert(name), "{name} appears in two groups");
                current = name;
            }
        }
    }

    #[test]
    fn kernel_statistics_tables_become_one_family_per_field() {
        let mut a = minor1();
        a.meminfo = [
            ("Active_anon_bytes", 4096),
            ("MemTotal_bytes", 1000),
            ("HugePages_Total", 0),
        ]
        .map(|(k, v)| (k.into(), v))
        .into();
        a.vmstat.insert("pgfault".into(), 77);
        a.netstat.insert("Tcp_CurrEstab".into(), 3);
        a.sockstat.insert("TCP_mem_bytes".into(), 8192);
        let mut b = minor1();
        b.netstat.insert("Udp_NoPorts".into(), 1);
        let text = render(&[host("a", a), host("b", b)]);
        let got = lines(&text);
        for want in [
            r#"node_memory_Active_anon_bytes{instance="a"} 4096"#,
            r#"node_memory_HugePages_Total{instance="a"} 0"#,
            "# TYPE node_memory_Active_anon_bytes gauge",
            r#"node_vmstat_pgfault{instance="a"} 77"#,
            "# TYPE node_vmstat_pgfault untyped",
            r#"node_netstat_Tcp_CurrEstab{instance="a"} 3"#,
            "# HELP node_netstat_Tcp_CurrEstab Statistic TcpCurrEstab.",
            r#"node_netstat_Udp_NoPorts{instance="b"} 1"#,
            "# TYPE node_netstat_Udp_NoPorts untyped",
            r#"node_sockstat_TCP_mem_bytes{instance="a"} 8192"#,
            "# HELP node_sockstat_TCP_mem_bytes Number of TCP sockets in state mem_bytes.",
        ] {
            assert!(got.contains(&want), "missing {want}\n{text}");
        }
        // MemTotal comes from the memory summary, once.
        let total = got
            .iter()
            .filter(|l| l.starts_with("# TYPE node_memory_MemTotal_bytes"))
            .count();
        assert_eq!(total, 1);
    }

    #[test]
    fn hosts_without_a_sample_are_skipped() {
        let mut h = host("idle", Sample::default());
        h.latest = None;
        assert_eq!(render(&[h]), "");
    }
}
