//! The `/metrics` series of the sample sections protocol minor 1 added: disk I/O, pressure,
//! temperatures, top processes, failed units, cgroups, inodes, network packets/errors/drops,
//! kernel counters and file handles; and of the kernel statistics tables minor 2 added
//! (meminfo, vmstat, netstat, sockstat), each as one family with the field as a label.
//!
//! Called by `metrics::FleetCollector` at scrape time, after the minor-0 series; kept apart
//! so `metrics.rs` stays about the server and the core host series. Hosts whose edge does
//! not send a section have no series for it. Every series is in `docs/metrics.md`.

use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, NoLabelSet};
use prometheus_client::metrics::MetricType;
use utizmon_protocol::{Cgroup, Disk, KernelCounters, Network, Process, Sample, Stall, StatTable};

use crate::state::HostSnapshot;

type Result = std::result::Result<(), std::fmt::Error>;

/// A counter or gauge read from one item of a sample list.
type Item<T> = (&'static str, &'static str, MetricType, fn(&T) -> f64);

/// Writes every minor-1 series for `hosts`.
pub fn encode(encoder: &mut DescriptorEncoder, hosts: &[HostSnapshot]) -> Result {
    let samples: Vec<(&str, &Sample)> = hosts
        .iter()
        .filter_map(|h| Some((&*h.host, h.latest.as_deref()?)))
        .collect();
    let samples = samples.as_slice();

    let disks: [Item<Disk>; 6] = [
        (
            "disk_read_bytes",
            "Bytes read from a block device.",
            MetricType::Counter,
            |d| d.read_bytes as f64,
        ),
        (
            "disk_written_bytes",
            "Bytes written to a block device.",
            MetricType::Counter,
            |d| d.written_bytes as f64,
        ),
        (
            "disk_reads",
            "Reads completed by a block device.",
            MetricType::Counter,
            |d| d.reads as f64,
        ),
        (
            "disk_writes",
            "Writes completed by a block device.",
            MetricType::Counter,
            |d| d.writes as f64,
        ),
        (
            "disk_io_time_seconds",
            "Time a block device was busy with I/O, seconds.",
            MetricType::Counter,
            |d| d.io_seconds,
        ),
        (
            "disk_io_now",
            "I/Os in flight on a block device.",
            MetricType::Gauge,
            |d| d.io_now as f64,
        ),
    ];
    families(
        encoder,
        samples,
        disks,
        |s| &s.disks,
        |d| [("device", d.device.as_str())],
    )?;

    let networks: [Item<Network>; 6] = [
        (
            "network_receive_packets",
            "Packets received by a network interface.",
            MetricType::Counter,
            |n| n.rx_packets as f64,
        ),
        (
            "network_transmit_packets",
            "Packets transmitted by a network interface.",
            MetricType::Counter,
            |n| n.tx_packets as f64,
        ),
        (
            "network_receive_errors",
            "Receive errors of a network interface.",
            MetricType::Counter,
            |n| n.rx_errors as f64,
        ),
        (
            "network_transmit_errors",
            "Transmit errors of a network interface.",
            MetricType::Counter,
            |n| n.tx_errors as f64,
        ),
        (
            "network_receive_dropped",
            "Received packets a network interface dropped.",
            MetricType::Counter,
            |n| n.rx_dropped as f64,
        ),
        (
            "network_transmit_dropped",
            "Outgoing packets a network interface dropped.",
            MetricType::Counter,
            |n| n.tx_dropped as f64,
        ),
    ];
    families(
        encoder,
        samples,
        networks,
        |s| {
            // Minor-0 edges send no packet counters; all-zero lists mean "not sent".
            if s.networks
                .iter()
                .any(|n| n.rx_packets > 0 || n.tx_packets > 0)
            {
                &s.networks[..]
            } else {
                &[]
            }
        },
        |n| [("device", n.device.as_str())],
    )?;

    let inodes: [Item<utizmon_protocol::Filesystem>; 2] = [
        (
            "filesystem_files",
            "Inodes of a mounted filesystem.",
            MetricType::Gauge,
            |f| f.files as f64,
        ),
        (
            "filesystem_files_free",
            "Free inodes of a mounted filesystem.",
            MetricType::Gauge,
            |f| f.files_free as f64,
        ),
    ];
    families(
        encoder,
        samples,
        inodes,
        |s| {
            // Minor-0 edges send no inodes; they are recognisable by the missing device.
            if s.filesystems.iter().any(|f| !f.device.is_empty()) {
                &s.filesystems[..]
            } else {
                &[]
            }
        },
        |f| {
            [
                ("mountpoint", f.mountpoint.as_str()),
                ("fstype", f.fstype.as_str()),
            ]
        },
    )?;

    type StallRead = fn(&Stall) -> Option<f64>;
    let pressure: [(&str, &str, StallRead); 2] = [
        (
            "pressure_waiting_seconds",
            "Time some tasks were stalled on a resource (PSI some), seconds.",
            |st| Some(st.some_seconds),
        ),
        (
            "pressure_stalled_seconds",
            "Time all non-idle tasks were stalled on a resource (PSI full), seconds.",
            |st| st.full_seconds,
        ),
    ];
    for (name, help, value) in pressure {
        let mut m = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
        for &(host, sample) in samples {
            let Some(p) = &sample.pressure else { continue };
            for (resource, stall) in [("cpu", p.cpu), ("memory", p.memory), ("io", p.io)] {
                if let Some(v) = stall.as_ref().and_then(value) {
                    m.encode_family(&[("host", host), ("resource", resource)])?
                        .encode_counter::<NoLabelSet, _, u64>(&v, None)?;
                }
            }
        }
    }

    let mut m = encoder.encode_descriptor(
        "temperature_celsius",
        "Temperature of a hwmon sensor or thermal zone, degrees Celsius.",
        None,
        MetricType::Gauge,
    )?;
    for &(host, sample) in samples {
        for t in &sample.temperatures {
            let labels = [
                ("host", host),
                ("kind", &t.kind),
                ("chip", &t.chip),
                ("sensor", &t.sensor),
                ("label", &t.label),
            ];
            m.encode_family(&labels)?.encode_gauge(&t.celsius)?;
        }
    }

    let processes: [Item<Process>; 2] = [
        (
            "top_process_cpu_ratio",
            "Share of all CPUs one of the heaviest processes used, 0..1.",
            MetricType::Gauge,
            |p| p.cpu_ratio,
        ),
        (
            "top_process_resident_memory_bytes",
            "Resident memory of one of the heaviest processes, bytes.",
            MetricType::Gauge,
            |p| p.rss_bytes as f64,
        ),
    ];
    for (name, help, kind, value) in processes {
        let mut m = encoder.encode_descriptor(name, help, None, kind)?;
        for &(host, sample) in samples {
            for p in &sample.top_processes {
                let pid = p.pid.to_string();
                let labels = [
                    ("host", host),
                    ("pid", pid.as_str()),
                    ("name", &p.name),
                    ("user", &p.user),
                ];
                m.encode_family(&labels)?.encode_gauge(&value(p))?;
            }
        }
    }

    let mut m = encoder.encode_descriptor(
        "systemd_failed_units",
        "Failed systemd units on the host (checked every 30 s).",
        None,
        MetricType::Gauge,
    )?;
    for &(host, sample) in samples {
        if let Some(units) = &sample.failed_units {
            m.encode_family(&[("host", host)])?
                .encode_gauge(&(units.len() as u64))?;
        }
    }
    let mut m = encoder.encode_descriptor(
        "systemd_unit_failed",
        "1 for each failed systemd unit, by name.",
        None,
        MetricType::Gauge,
    )?;
    for &(host, sample) in samples {
        for unit in sample.failed_units.iter().flatten() {
            m.encode_family(&[("host", host), ("unit", unit.as_str())])?
                .encode_gauge(&1u64)?;
        }
    }

    let cgroups: [Item<Cgroup>; 4] = [
        (
            "cgroup_cpu_seconds",
            "CPU time of a service or container (cgroup v2), seconds.",
            MetricType::Counter,
            |c| c.cpu_seconds,
        ),
        (
            "cgroup_memory_bytes",
            "Memory charged to a service or container (cgroup v2), bytes.",
            MetricType::Gauge,
            |c| c.memory_bytes as f64,
        ),
        (
            "cgroup_io_read_bytes",
            "Bytes a service or container read from block devices.",
            MetricType::Counter,
            |c| c.io_read_bytes as f64,
        ),
        (
            "cgroup_io_written_bytes",
            "Bytes a service or container wrote to block devices.",
            MetricType::Counter,
            |c| c.io_written_bytes as f64,
        ),
    ];
    families(
        encoder,
        samples,
        cgroups,
        |s| &s.cgroups,
        |c| [("cgroup", c.name.as_str())],
    )?;

    let kernel: [Item<KernelCounters>; 5] = [
        (
            "context_switches",
            "Context switches since boot.",
            MetricType::Counter,
            |k| k.context_switches as f64,
        ),
        (
            "interrupts",
            "Interrupts serviced since boot.",
            MetricType::Counter,
            |k| k.interrupts as f64,
        ),
        (
            "forks",
            "Processes and threads created since boot.",
            MetricType::Counter,
            |k| k.forks as f64,
        ),
        (
            "procs_running",
            "Tasks runnable now.",
            MetricType::Gauge,
            |k| k.procs_running as f64,
        ),
        (
            "procs_blocked",
            "Tasks blocked on I/O now.",
            MetricType::Gauge,
            |k| k.procs_blocked as f64,
        ),
    ];
    families(
        encoder,
        samples,
        kernel,
        |s| s.kernel.as_slice(),
        |_| [] as [(&str, &str); 0],
    )?;
    let handles: [Item<utizmon_protocol::FileHandles>; 2] = [
        (
            "file_handles_allocated",
            "Open file handles on the host.",
            MetricType::Gauge,
            |f| f.allocated as f64,
        ),
        (
            "file_handles_maximum",
            "The host's limit of open file handles (fs.file-max).",
            MetricType::Gauge,
            |f| f.maximum as f64,
        ),
    ];
    families(
        encoder,
        samples,
        handles,
        |s| s.file_handles.as_slice(),
        |_| [] as [(&str, &str); 0],
    )?;

    // Kernel statistics tables: `pick` turns a field name into the label value (or leaves
    // the field out of that family).
    let tables: [TableFamily; 5] = [
        (
            "memory_detail_bytes",
            "A /proc/meminfo line in bytes (field: its node_exporter name without _bytes).",
            MetricType::Gauge,
            "field",
            |s| &s.meminfo,
            |f| f.strip_suffix("_bytes"),
        ),
        (
            "vmstat",
            "A /proc/vmstat event counter (paging, swapping, page faults, OOM kills).",
            MetricType::Counter,
            "field",
            |s| &s.vmstat,
            |f| Some(f),
        ),
        (
            "netstat",
            "A TCP, UDP, IP or ICMP counter of /proc/net/netstat, snmp and snmp6 (Proto_Field).",
            MetricType::Counter,
            "field",
            |s| &s.netstat,
            |f| (!NETSTAT_GAUGES.contains(&f)).then_some(f),
        ),
        (
            "tcp_connections_established",
            "TCP connections in state ESTABLISHED or CLOSE-WAIT (Tcp CurrEstab).",
            MetricType::Gauge,
            "",
            |s| &s.netstat,
            |f| (f == "Tcp_CurrEstab").then_some(""),
        ),
        (
            "sockets_in_use",
            "Sockets in use per protocol (/proc/net/sockstat and sockstat6).",
            MetricType::Gauge,
            "protocol",
            |s| &s.sockstat,
            |f| f.strip_suffix("_inuse"),
        ),
    ];
    for (name, help, kind, label, table, pick) in tables {
        let mut m = encoder.encode_descriptor(name, help, None, kind)?;
        for &(host, sample) in samples {
            for (field, &value) in table(sample) {
                let Some(label_value) = pick(field) else {
                    continue;
                };
                let labels: &[(&str, &str)] = if label.is_empty() {
                    &[("host", host)]
                } else {
                    &[("host", host), (label, label_value)]
                };
                let mut encoder = m.encode_family(&labels)?;
                match kind {
                    MetricType::Counter => {
                        encoder.encode_counter::<NoLabelSet, _, u64>(&value, None)?
                    }
                    _ => encoder.encode_gauge(&(value as f64))?,
                }
            }
        }
    }
    Ok(())
}

/// A family of a kernel statistics table: name, help, type, label name (empty: only
/// `host`), the table, and the label value of a field (`None`: not in this family).
type TableFamily = (
    &'static str,
    &'static str,
    MetricType,
    &'static str,
    fn(&Sample) -> &StatTable,
    fn(&str) -> Option<&str>,
);

/// netstat fields that are gauges, not counters: left out of `utizmon_netstat_total`.
const NETSTAT_GAUGES: [&str; 2] = ["Tcp_CurrEstab", "Ip_Forwarding"];

/// One family per item of `items`, all over the same list of every sample (see [`family`]).
fn families<'a, T: 'a, L, const N: usize>(
    encoder: &mut DescriptorEncoder,
    samples: &[(&'a str, &'a Sample)],
    items: [Item<T>; N],
    list: impl Fn(&'a Sample) -> &'a [T],
    labels: impl Fn(&'a T) -> L,
) -> Result
where
    L: EncodeLabelSet + PartialEq,
{
    for (name, help, kind, value) in items {
        family(encoder, samples, name, help, kind, &list, &labels, value)?;
    }
    Ok(())
}

/// One family over a list in every sample: labels `host` plus `labels(item)`, each label
/// set written once (the first item wins when a list repeats one).
#[allow(clippy::too_many_arguments)] // Name, help, type and three accessors: all needed.
fn family<'a, T: 'a, L>(
    encoder: &mut DescriptorEncoder,
    samples: &[(&'a str, &'a Sample)],
    name: &str,
    help: &str,
    kind: MetricType,
    list: impl Fn(&'a Sample) -> &'a [T],
    labels: impl Fn(&'a T) -> L,
    value: fn(&T) -> f64,
) -> Result
where
    L: EncodeLabelSet + PartialEq,
{
    let mut m = encoder.encode_descriptor(name, help, None, kind)?;
    for &(host, sample) in samples {
        let items = list(sample);
        for (i, item) in items.iter().enumerate() {
            let own = labels(item);
            if items[..i].iter().any(|other| labels(other) == own) {
                continue;
            }
            let set = ([("host", host)], own);
            let mut encoder = m.encode_family(&set)?;
            match kind {
                MetricType::Counter => {
                    encoder.encode_counter::<NoLabelSet, _, u64>(&value(item), None)?
                }
                _ => encoder.encode_gauge(&value(item))?,
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use utizmon_protocol::{
        Disk, FileHandles, Filesystem, Hello, HostInfo, Pressure, Temperature, PROTOCOL_VERSION,
    };
    use utizmon_store::Store;

    use super::*;
    use crate::metrics::{encode as encode_text, registry, Format};
    use crate::state::Fleet;

    fn scrape(sample: Sample) -> String {
        let dir = tempfile::tempdir().unwrap().keep();
        let store = Store::open(utizmon_store::StoreConfig::new(dir)).unwrap();
        let fleet = Fleet::new();
        let session = fleet
            .connect(
                Hello {
                    version: PROTOCOL_VERSION,
                    minor: 1,
                    run_id: "r1".into(),
                    run_secret: None,
                    interval_ms: 1000,
                    host: HostInfo {
                        host_name: "web-1".into(),
                        ..HostInfo::default()
                    },
                },
                std::time::Instant::now(),
                std::time::Duration::from_secs(3),
                &tokio_util::sync::CancellationToken::new(),
            )
            .unwrap();
        fleet.take(&session, sample).unwrap();
        let alerts = crate::alerts::Alerts::for_tests(&store);
        encode_text(&registry(&fleet, &store, &alerts), Format::Prometheus).unwrap()
    }

    #[test]
    fn minor1_sections_become_series_and_absent_sections_none() {
        let sample = Sample {
            seq: 1,
            ts_ms: 1_700_000_000_000,
            filesystems: vec![Filesystem {
                mountpoint: "/".into(),
                fstype: "ext4".into(),
                size_bytes: 10,
                avail_bytes: 5,
                files: 100,
                files_free: 40,
                device: "/dev/vda1".into(),
                ..Filesystem::default()
            }],
            disks: vec![Disk {
                device: "vda".into(),
                read_bytes: 4096,
                io_seconds: 1.5,
                ..Disk::default()
            }],
            pressure: Some(Pressure {
                io: Some(Stall {
                    some_seconds: 2.0,
                    full_seconds: Some(1.0),
                    ..Stall::default()
                }),
                ..Pressure::default()
            }),
            temperatures: vec![Temperature {
                kind: "hwmon".into(),
                chip: "platform_coretemp_0".into(),
                sensor: "temp1".into(),
                label: String::new(),
                celsius: 45.5,
            }],
            top_processes: vec![Process {
                pid: 7,
                name: "db".into(),
                user: "postgres".into(),
                cpu_ratio: 0.25,
                rss_bytes: 1024,
            }],
            failed_units: Some(vec!["backup.service".into()]),
            cgroups: vec![Cgroup {
                name: "system.slice/db.service".into(),
                cpu_seconds: 3.5,
                memory_bytes: 2048,
                ..Cgroup::default()
            }],
            kernel: Some(KernelCounters {
                context_switches: 99,
                ..KernelCounters::default()
            }),
            file_handles: Some(FileHandles {
                allocated: 10,
                maximum: 100,
            }),
            meminfo: [("Active_anon_bytes", 4096), ("HugePages_Total", 0)]
                .map(|(k, v)| (k.into(), v))
                .into(),
            vmstat: [("pgfault".into(), 12)].into(),
            netstat: [
                ("Tcp_RetransSegs", 3),
                ("Tcp_CurrEstab", 2),
                ("Ip_Forwarding", 1),
            ]
            .map(|(k, v)| (k.into(), v))
            .into(),
            sockstat: [
                ("TCP_inuse", 5),
                ("sockets_used", 9),
                ("TCP_mem_bytes", 4096),
            ]
            .map(|(k, v)| (k.into(), v))
            .into(),
            ..Sample::default()
        };
        let text = scrape(sample);
        let lines: Vec<&str> = text.lines().collect();
        for want in [
            r#"utizmon_disk_read_bytes_total{host="web-1",device="vda"} 4096.0"#,
            r#"utizmon_disk_io_time_seconds_total{host="web-1",device="vda"} 1.5"#,
            r#"utizmon_filesystem_files_free{host="web-1",mountpoint="/",fstype="ext4"} 40.0"#,
            r#"utizmon_pressure_stalled_seconds_total{host="web-1",resource="io"} 1.0"#,
            r#"utizmon_temperature_celsius{host="web-1",kind="hwmon",chip="platform_coretemp_0",sensor="temp1",label=""} 45.5"#,
            r#"utizmon_top_process_cpu_ratio{host="web-1",pid="7",name="db",user="postgres"} 0.25"#,
            r#"utizmon_systemd_failed_units{host="web-1"} 1"#,
            r#"utizmon_systemd_unit_failed{host="web-1",unit="backup.service"} 1"#,
            r#"utizmon_cgroup_memory_bytes{host="web-1",cgroup="system.slice/db.service"} 2048.0"#,
            r#"utizmon_context_switches_total{host="web-1"} 99.0"#,
            r#"utizmon_file_handles_maximum{host="web-1"} 100.0"#,
            r#"utizmon_memory_detail_bytes{host="web-1",field="Active_anon"} 4096.0"#,
            r#"utizmon_vmstat_total{host="web-1",field="pgfault"} 12"#,
            r#"utizmon_netstat_total{host="web-1",field="Tcp_RetransSegs"} 3"#,
            r#"utizmon_tcp_connections_established{host="web-1"} 2.0"#,
            r#"utizmon_sockets_in_use{host="web-1",protocol="TCP"} 5.0"#,
        ] {
            assert!(lines.contains(&want), "missing {want}\n{text}");
        }
        // Counts are not bytes, gauges are not counters.
        assert!(!text.contains("HugePages"));
        assert!(!text.contains("field=\"Tcp_CurrEstab\"") && !text.contains("Ip_Forwarding"));
        // A minor-0-looking sample: no packet counters, no cpu pressure.
        assert!(!text.contains("utizmon_network_receive_packets_total{"));
        assert!(!text.contains("resource=\"cpu\""));
    }
}
