//! `/metrics`: a prometheus-client [`Collector`] that reads [`Fleet`] at scrape time, and
//! the two text encodings (OpenMetrics 1.0 and the classic Prometheus 0.0.4 format).
//!
//! Nothing is updated per sample: the collector copies a few `Arc`s per host out of the
//! fleet and encodes them. Label values are escaped by the encoders. Every series is
//! documented in `docs/metrics.md`.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeGaugeValue, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use utizmon_protocol::{Filesystem, Network, RejectReason, Sample};

use utizmon_store::Store;

use crate::alerts::metrics::AlertCollector;
use crate::alerts::Alerts;
use crate::state::{Fleet, HostSnapshot};

/// `Content-Type` of the OpenMetrics 1.0 text format.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `Content-Type` of the classic Prometheus text format.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The registry `/metrics` encodes: prefix `utizmon`, collectors over the fleet and alerts.
pub fn registry(fleet: &Fleet, store: &Store, alerts: &Alerts) -> Registry {
    let mut registry = Registry::with_prefix("utizmon");
    registry.register_collector(Box::new(FleetCollector {
        fleet: fleet.clone(),
        store: store.clone(),
    }));
    registry.register_collector(Box::new(AlertCollector(alerts.clone())));
    registry
}

/// Which text format a scraper asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0, ends with `# EOF`.
    OpenMetrics,
    /// Prometheus text 0.0.4, what `curl` and `promtool check metrics` read.
    Prometheus,
}

impl Format {
    /// Chooses the format from an `Accept` header, as the official exporters do.
    pub fn negotiate(accept: Option<&str>) -> Format {
        match accept {
            Some(accept) if accept.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Prometheus,
        }
    }

    /// The `Content-Type` of this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
            Format::Prometheus => PROMETHEUS_CONTENT_TYPE,
        }
    }
}

/// Encodes the registry in `format`.
pub fn encode(registry: &Registry, format: Format) -> Result<String, std::fmt::Error> {
    let mut out = String::with_capacity(64 * 1024);
    encode_to(&mut out, registry, format)?;
    Ok(out)
}

/// Encodes the registry in `format` into any writer (`scrape` streams it in chunks).
pub fn encode_to(
    out: &mut impl std::fmt::Write,
    registry: &Registry,
    format: Format,
) -> Result<(), std::fmt::Error> {
    match format {
        Format::OpenMetrics => prometheus_client::encoding::text::encode(out, registry),
        Format::Prometheus => prometheus_client::encoding::prometheus_text::encode(out, registry),
    }
}

/// Name, help and value of one series read from a `T`.
type Series<T, V> = (&'static str, &'static str, fn(&T) -> V);

/// Reads the fleet on every scrape.
#[derive(Debug)]
struct FleetCollector {
    fleet: Fleet,
    store: Store,
}

impl Collector for FleetCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let hosts = self.fleet.hosts();
        let counters = self.fleet.counters();

        // Server's own series.
        let mut m = encoder.encode_descriptor(
            "server_samples_received",
            "Samples taken from edges (duplicates excluded).",
            None,
            MetricType::Counter,
        )?;
        m.encode_counter::<NoLabelSet, _, u64>(&counters.samples_received, None)?;
        let mut m = encoder.encode_descriptor(
            "server_samples_rejected",
            "Frames or connections refused, by reason; each closed one edge connection.",
            None,
            MetricType::Counter,
        )?;
        for (reason, count) in RejectReason::ALL.iter().zip(counters.samples_rejected) {
            let labels = [("reason", reason.as_str())];
            m.encode_family(&labels)?
                .encode_counter::<NoLabelSet, _, u64>(&count, None)?;
        }
        gauge(
            &mut encoder,
            "server_edges_connected",
            "Edge connections currently open.",
            counters.edges_connected,
        )?;
        let mut m = encoder.encode_descriptor(
            "server_edge_connections",
            "Edge connections registered by a hello, reconnects included.",
            None,
            MetricType::Counter,
        )?;
        m.encode_counter::<NoLabelSet, _, u64>(&counters.edge_connections, None)?;
        let mut m = encoder.encode_descriptor(
            "server_edges_silent",
            "Edge connections closed because no new sample came within the silence limit.",
            None,
            MetricType::Counter,
        )?;
        m.encode_counter::<NoLabelSet, _, u64>(&counters.edges_silent, None)?;
        gauge(
            &mut encoder,
            "server_dashboard_clients",
            "Browser dashboard WebSocket clients currently connected.",
            counters.dashboard_clients,
        )?;
        let mut m = encoder.encode_descriptor(
            "server_store_errors",
            "Failed history writes or maintenance passes; their samples stay with the edges.",
            None,
            MetricType::Counter,
        )?;
        m.encode_counter::<NoLabelSet, _, u64>(&self.store.errors_total(), None)?;
        gauge(
            &mut encoder,
            "server_store_size_bytes",
            "Size of the history database and its write-ahead log on disk.",
            self.store.size_bytes(),
        )?;

        // Per-host series.
        per_host(
            &mut encoder,
            &hosts,
            "edge_connected",
            "1 while the host's edge is connected, 0 once it went offline.",
            |h| Some(u64::from(h.connected)),
        )?;
        let mut m = encoder.encode_descriptor(
            "edge_info",
            "Facts about the host's edge, always 1.",
            None,
            MetricType::Gauge,
        )?;
        for host in &hosts {
            let Some(info) = &host.info else { continue };
            let os = os_label(&info.os_name, &info.os_version);
            let labels = [
                ("host", &*host.host),
                ("version", info.agent_version.as_str()),
                ("os", os.as_str()),
                ("kernel", info.kernel.as_str()),
                ("arch", info.arch.as_str()),
            ];
            m.encode_family(&labels)?.encode_gauge(&1u64)?;
        }
        per_sample(
            &mut encoder,
            &hosts,
            "edge_last_sample_timestamp_seconds",
            "Time the latest sample was taken, by the edge's clock, in Unix seconds.",
            |s| s.ts_ms as f64 / 1000.0,
        )?;
        per_sample(
            &mut encoder,
            &hosts,
            "cpu_usage_ratio",
            "Busy share of all CPU cores over the last interval, 0..1.",
            |s| s.cpu.usage_ratio,
        )?;
        let mut m = encoder.encode_descriptor(
            "cpu_core_usage_ratio",
            "Busy share of one CPU core over the last interval, 0..1.",
            None,
            MetricType::Gauge,
        )?;
        for (host, sample) in with_samples(&hosts) {
            for (core, usage) in sample.cpu.cores.iter().enumerate() {
                let labels = ([("host", host)], [("core", core as u64)]);
                m.encode_family(&labels)?.encode_gauge(usage)?;
            }
        }
        let memory: [Series<Sample, u64>; 5] = [
            (
                "memory_total_bytes",
                "Physical memory (MemTotal), bytes.",
                |s| s.memory.total_bytes,
            ),
            (
                "memory_used_bytes",
                "Memory in use (MemTotal - MemAvailable), bytes.",
                |s| s.memory.used_bytes,
            ),
            (
                "memory_available_bytes",
                "Memory available for new work (MemAvailable), bytes.",
                |s| s.memory.available_bytes,
            ),
            ("swap_total_bytes", "Swap space (SwapTotal), bytes.", |s| {
                s.memory.swap_total_bytes
            }),
            (
                "swap_used_bytes",
                "Swap in use (SwapTotal - SwapFree), bytes.",
                |s| s.memory.swap_used_bytes,
            ),
        ];
        for (name, help, value) in memory {
            per_sample(&mut encoder, &hosts, name, help, value)?;
        }
        let load: [Series<Sample, f64>; 4] = [
            ("load1", "Load average over 1 minute.", |s| s.load.load1),
            ("load5", "Load average over 5 minutes.", |s| s.load.load5),
            ("load15", "Load average over 15 minutes.", |s| s.load.load15),
            (
                "uptime_seconds",
                "Time since the host booted, seconds.",
                |s| s.uptime_seconds,
            ),
        ];
        for (name, help, value) in load {
            per_sample(&mut encoder, &hosts, name, help, value)?;
        }
        let filesystems: [Series<Filesystem, u64>; 2] = [
            (
                "filesystem_size_bytes",
                "Size of a mounted filesystem, bytes.",
                |f| f.size_bytes,
            ),
            (
                "filesystem_avail_bytes",
                "Bytes of a filesystem available to unprivileged users.",
                |f| f.avail_bytes,
            ),
        ];
        for (name, help, value) in filesystems {
            let mut m = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for (host, sample) in with_samples(&hosts) {
                let fss = &sample.filesystems;
                for (i, fs) in fss.iter().enumerate() {
                    // Bind mounts can repeat a mountpoint; export each label set once.
                    let seen = fss[..i]
                        .iter()
                        .any(|o| o.mountpoint == fs.mountpoint && o.fstype == fs.fstype);
                    if seen {
                        continue;
                    }
                    let labels = [
                        ("host", host),
                        ("mountpoint", fs.mountpoint.as_str()),
                        ("fstype", fs.fstype.as_str()),
                    ];
                    m.encode_family(&labels)?.encode_gauge(&value(fs))?;
                }
            }
        }
        let networks: [Series<Network, u64>; 2] = [
            (
                "network_receive_bytes",
                "Bytes received by a network interface.",
                |n| n.rx_bytes,
            ),
            (
                "network_transmit_bytes",
                "Bytes transmitted by a network interface.",
                |n| n.tx_bytes,
            ),
        ];
        for (name, help, value) in networks {
            let mut m = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (host, sample) in with_samples(&hosts) {
                let nets = &sample.networks;
                for (i, net) in nets.iter().enumerate() {
                    if nets[..i].iter().any(|o| o.device == net.device) {
                        continue;
                    }
                    let labels = [("host", host), ("device", net.device.as_str())];
                    m.encode_family(&labels)?
                        .encode_counter::<NoLabelSet, _, u64>(&value(net), None)?;
                }
            }
        }
        crate::metrics_detail::encode(&mut encoder, &hosts)?;
        Ok(())
    }
}

/// The `os` label of `edge_info`: name and version, e.g. `Debian GNU/Linux 12`.
fn os_label(name: &str, version: &str) -> String {
    match (name.is_empty(), version.is_empty()) {
        (_, true) => name.to_owned(),
        (true, false) => version.to_owned(),
        (false, false) => format!("{name} {version}"),
    }
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    encoder
        .encode_descriptor(name, help, None, MetricType::Gauge)?
        .encode_gauge(&value)
}

/// One gauge per host, for hosts where `value` gives one.
fn per_host<V: EncodeGaugeValue>(
    encoder: &mut DescriptorEncoder,
    hosts: &[HostSnapshot],
    name: &str,
    help: &str,
    value: impl Fn(&HostSnapshot) -> Option<V>,
) -> Result<(), std::fmt::Error> {
    let mut m = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for host in hosts {
        if let Some(v) = value(host) {
            m.encode_family(&[("host", &*host.host)])?
                .encode_gauge(&v)?;
        }
    }
    Ok(())
}

/// One gauge per host that has sent a sample.
fn per_sample<V: EncodeGaugeValue>(
    encoder: &mut DescriptorEncoder,
    hosts: &[HostSnapshot],
    name: &str,
    help: &str,
    value: impl Fn(&Sample) -> V,
) -> Result<(), std::fmt::Error> {
    let mut m = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (host, sample) in with_samples(hosts) {
        m.encode_family(&[("host", host)])?
            .encode_gauge(&value(sample))?;
    }
    Ok(())
}

/// Hosts that have sent at least one sample, with it.
fn with_samples(hosts: &[HostSnapshot]) -> impl Iterator<Item = (&str, &Sample)> {
    hosts
        .iter()
        .filter_map(|h| Some((&*h.host, h.latest.as_deref()?)))
}

#[cfg(test)]
mod tests {

    use utizmon_protocol::{Cpu, Hello, HostInfo, Memory, PROTOCOL_VERSION};

    use super::{Filesystem, Network};

    use super::*;

    /// A store in a fresh directory that outlives the test (the OS cleans /tmp).
    fn test_store() -> Store {
        let dir = tempfile::tempdir().unwrap().keep();
        Store::open(utizmon_store::StoreConfig::new(dir)).unwrap()
    }

    /// The registry over `fleet`, a fresh store and the built-in alert rules.
    fn test_registry(fleet: &Fleet) -> Registry {
        let store = test_store();
        let alerts = Alerts::for_tests(&store);
        registry(fleet, &store, &alerts)
    }

    fn fleet_with(host: &str) -> Fleet {
        let fleet = Fleet::new();
        let session = fleet
            .connect(
                Hello {
                    version: PROTOCOL_VERSION,
                    minor: 0,
                    run_id: "r1".into(),
                    run_secret: None,
                    interval_ms: 1000,
                    host: HostInfo {
                        host_name: host.into(),
                        os_name: "Debian GNU/Linux".into(),
                        os_version: "12".into(),
                        kernel: "6.1.0".into(),
                        arch: "x86_64".into(),
                        agent_version: "0.1.0".into(),
                        cores: 2,
                        ..HostInfo::default()
                    },
                },
                std::time::Instant::now(),
                std::time::Duration::from_secs(3),
                &tokio_util::sync::CancellationToken::new(),
            )
            .unwrap();
        let fs = Filesystem {
            mountpoint: "/".into(),
            fstype: "ext4".into(),
            size_bytes: 100,
            avail_bytes: 40,
            ..Filesystem::default()
        };
        fleet
            .take(
                &session,
                Sample {
                    seq: 1,
                    ts_ms: 1_700_000_000_500,
                    cpu: Cpu {
                        usage_ratio: 0.25,
                        cores: vec![0.5, 0.0],
                        ..Cpu::default()
                    },
                    memory: Memory {
                        total_bytes: 1000,
                        used_bytes: 400,
                        available_bytes: 600,
                        swap_total_bytes: 0,
                        swap_used_bytes: 0,
                        ..Memory::default()
                    },
                    filesystems: vec![fs.clone(), fs],
                    networks: vec![Network {
                        device: "eth0".into(),
                        rx_bytes: 7,
                        tx_bytes: 9,
                        ..Network::default()
                    }],
                    ..Sample::default()
                },
            )
            .unwrap();
        fleet
    }

    #[test]
    fn openmetrics_has_every_series_and_eof() {
        let fleet = fleet_with("web-1");
        let text = encode(&test_registry(&fleet), Format::OpenMetrics).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for line in [
            r#"utizmon_cpu_usage_ratio{host="web-1"} 0.25"#,
            r#"utizmon_cpu_core_usage_ratio{host="web-1",core="0"} 0.5"#,
            r#"utizmon_memory_total_bytes{host="web-1"} 1000"#,
            r#"utizmon_filesystem_avail_bytes{host="web-1",mountpoint="/",fstype="ext4"} 40"#,
            r#"utizmon_network_receive_bytes_total{host="web-1",device="eth0"} 7"#,
            r#"utizmon_edge_connected{host="web-1"} 1"#,
            r#"utizmon_edge_info{host="web-1",version="0.1.0",os="Debian GNU/Linux 12",kernel="6.1.0",arch="x86_64"} 1"#,
            r#"utizmon_edge_last_sample_timestamp_seconds{host="web-1"} 1700000000.5"#,
            r#"utizmon_server_samples_received_total 1"#,
            r#"utizmon_server_samples_rejected_total{reason="too_large"} 0"#,
            "# TYPE utizmon_network_receive_bytes counter",
            "# EOF",
        ] {
            assert!(lines.contains(&line), "missing {line}\n{text}");
        }
        // The duplicated mount is exported once.
        let fs_lines = lines
            .iter()
            .filter(|l| l.starts_with("utizmon_filesystem_size_bytes{"))
            .count();
        assert_eq!(fs_lines, 1);
        assert_eq!(lines.last(), Some(&"# EOF"));
    }

    #[test]
    fn classic_format_names_counters_with_total_and_has_no_eof() {
        let fleet = fleet_with("web-1");
        let text = encode(&test_registry(&fleet), Format::Prometheus).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.contains(&"# TYPE utizmon_network_receive_bytes_total counter"));
        assert!(lines.contains(&"# TYPE utizmon_server_samples_received_total counter"));
        assert!(!lines.contains(&"# EOF"));
        assert!(!text.contains("_created"));
    }

    #[test]
    fn hostile_host_names_are_escaped() {
        let fleet = fleet_with(r#"evil"\<x>"#);
        for format in [Format::OpenMetrics, Format::Prometheus] {
            let text = encode(&test_registry(&fleet), format).unwrap();
            assert!(
                text.lines()
                    .any(|l| l == r#"utizmon_load1{host="evil\"\\<x>"} 0.0"#
                        || l == r#"utizmon_load1{host="evil\"\\<x>"} 0"#),
                "{text}"
            );
        }
    }

    #[test]
    fn negotiation_follows_the_accept_header() {
        assert_eq!(Format::negotiate(None), Format::Prometheus);
        assert_eq!(Format::negotiate(Some("*/*")), Format::Prometheus);
        assert_eq!(
            Format::negotiate(Some(
                "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
            )),
            Format::OpenMetrics
        );
    }

    #[test]
    fn a_thousand_hosts_encode_quickly() {
        let fleet = Fleet::new();
        for i in 0..1000 {
            let session = fleet
                .connect(
                    Hello {
                        version: PROTOCOL_VERSION,
                        minor: 0,
                        run_id: "r1".into(),
                        run_secret: None,
                        interval_ms: 1000,
                        host: HostInfo {
                            host_name: format!("host-{i:04}"),
                            os_name: "Debian GNU/Linux".into(),
                            ..HostInfo::default()
                        },
                    },
                    std::time::Instant::now(),
                    std::time::Duration::from_secs(3),
                    &tokio_util::sync::CancellationToken::new(),
                )
                .unwrap();
            let sample = Sample {
                seq: 1,
                ts_ms: 1_700_000_000_000,
                cpu: Cpu {
                    usage_ratio: 0.5,
                    cores: vec![0.25; 4],
                    ..Cpu::default()
                },
                filesystems: (0..3)
                    .map(|f| Filesystem {
                        mountpoint: format!("/mnt/{f}"),
                        fstype: "ext4".into(),
                        size_bytes: 1 << 40,
                        avail_bytes: 1 << 39,
                        ..Filesystem::default()
                    })
                    .collect(),
                networks: (0..2)
                    .map(|n| Network {
                        device: format!("eth{n}"),
                        rx_bytes: 123_456_789,
                        tx_bytes: 987_654_321,
                        ..Network::default()
                    })
                    .collect(),
                ..Sample::default()
            };
            fleet.take(&session, sample).unwrap();
        }
        let registry = test_registry(&fleet);
        for format in [Format::OpenMetrics, Format::Prometheus] {
            let start = std::time::Instant::now();
            let text = encode(&registry, format).unwrap();
            let elapsed = start.elapsed();
            let limit = if cfg!(debug_assertions) { 1000 } else { 50 };
            assert!(
                elapsed.as_millis() < limit,
                "{format:?}: {elapsed:?} for {} bytes",
                text.len()
            );
            eprintln!(
                "{format:?}: 1000 hosts in {elapsed:?}, {} bytes",
                text.len()
            );
        }
    }
}
