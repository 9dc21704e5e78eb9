//! `/node-metrics` against the real node_exporter (Debian package
//! `prometheus-node-exporter`, default collectors) on the same machine, beside a real edge
//! and the real server, family by family.
//!
//! For every family `/node-metrics` writes, node_exporter must have the same name, the
//! same `# TYPE` and the same label names (ours add `instance`, which a Prometheus job with
//! `honor_labels: true` keeps), and at least one series with identical label values. The
//! values are bracketed: node_exporter is scraped once before the edge takes the compared
//! sample and once after, so
//! - counters must lie between the two scrapes (± 0.01, the tick rounding of CPU seconds),
//!   and so must the untyped `node_vmstat_*` and `node_netstat_*` counters, however fast
//!   they move (page faults, TCP segments): a monotonic bracket with no tolerance;
//! - gauges that move slowly (sizes, memory, load, inodes, file handles, sockets) must lie
//!   within the two scrapes widened by the tolerance in [`gauge_tolerance`];
//! - instantaneous counts (`node_procs_running`, `node_procs_blocked`, `node_disk_io_now`)
//!   are compared by name and labels only: they change between any two readings;
//! - `node_uname_info` and `node_boot_time_seconds` must be equal.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::{SystemTime, UNIX_EPOCH};

use common::process::{start_edge, start_server, Proc};
use common::{http_get, wait_for, DEADLINE};

const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";
const HOST: &str = "compare-host";

/// One parsed series: labels sorted by name.
type Labels = BTreeMap<String, String>;

/// A parsed exposition: family -> (type, series).
#[derive(Debug, Default)]
struct Exposition {
    types: BTreeMap<String, String>,
    series: BTreeMap<String, Vec<(Labels, f64)>>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_metrics_match_a_real_node_exporter_family_by_family() {
    assert!(
        Path::new(NODE_EXPORTER).exists(),
        "{NODE_EXPORTER} is missing: run scripts/deps.sh test (package prometheus-node-exporter)"
    );
    let (exporter, exporter_addr) = start_node_exporter().await;
    let data = tempfile::tempdir().unwrap();
    let (_server, addr) = start_server("127.0.0.1:0", data.path(), &[]).await;
    let _edge = start_edge(addr, "200ms", HOST);
    wait_for("the edge's first sample", || async {
        let ours = scrape_ours(addr).await;
        ours.series
            .contains_key("node_disk_read_bytes_total")
            .then_some(())
    })
    .await;

    // Bracket one edge sample between two node_exporter scrapes.
    let before = scrape(exporter_addr, "/metrics").await;
    let before_end = unix_now();
    // The edge reads the vmstat, netstat and sockstat tables every 5 s: a reading taken
    // after the first scrape has more page faults than node_exporter counted in it.
    let faults_before = before.series["node_vmstat_pgfault"][0].1;
    let ours = wait_for("a sample taken after the first scrape", || async {
        let ours = scrape_ours(addr).await;
        let taken = ours.series.get("node_time_seconds")?.first()?.1;
        let faults = ours.series.get("node_vmstat_pgfault")?.first()?.1;
        // The edge reads /proc before it stamps the sample: leave it 150 ms.
        (taken > before_end + 0.15 && faults > faults_before).then_some(ours)
    })
    .await;
    let after = scrape(exporter_addr, "/metrics").await;
    drop(exporter);

    let mut report = Vec::new();
    for (family, our_series) in &ours.series {
        let their_type = before.types.get(family);
        assert!(
            their_type.is_some(),
            "{family}: node_exporter has no such family"
        );
        assert_eq!(
            ours.types.get(family),
            their_type,
            "{family}: # TYPE differs"
        );
        let (Some(theirs_before), Some(theirs_after)) =
            (before.series.get(family), after.series.get(family))
        else {
            panic!("{family}: node_exporter wrote no series");
        };
        let their_names: BTreeSet<&String> = theirs_before[0].0.keys().collect();
        let mut matched = 0;
        for (labels, value) in our_series {
            let our_names: BTreeSet<&String> = labels.keys().collect();
            assert_eq!(our_names, their_names, "{family}: label names differ");
            let find =
                |list: &[(Labels, f64)]| list.iter().find(|(l, _)| l == labels).map(|(_, v)| *v);
            let (Some(a), Some(b)) = (find(theirs_before), find(theirs_after)) else {
                continue;
            };
            matched += 1;
            check_value(family, labels, *value, a, b);
        }
        assert!(
            matched > 0,
            "{family}: no series with the same labels as node_exporter's\nours: {our_series:?}\ntheirs: {theirs_before:?}"
        );
        report.push(format!("{family} ({matched})"));
    }
    // Every family the issue names, at least, must be there.
    for family in [
        "node_cpu_seconds_total",
        "node_memory_MemTotal_bytes",
        "node_memory_MemAvailable_bytes",
        "node_load1",
        "node_load5",
        "node_load15",
        "node_filesystem_size_bytes",
        "node_filesystem_avail_bytes",
        "node_filesystem_free_bytes",
        "node_network_receive_bytes_total",
        "node_disk_read_bytes_total",
        "node_boot_time_seconds",
        "node_uname_info",
        "node_context_switches_total",
        "node_filefd_allocated",
        "node_memory_Active_anon_bytes",
        "node_memory_Dirty_bytes",
        "node_memory_Committed_AS_bytes",
        "node_memory_HugePages_Total",
        "node_vmstat_pgfault",
        "node_vmstat_pgmajfault",
        "node_netstat_Tcp_ActiveOpens",
        "node_netstat_Tcp_CurrEstab",
        "node_netstat_Udp_InDatagrams",
        "node_sockstat_sockets_used",
        "node_sockstat_TCP_inuse",
    ] {
        assert!(
            ours.series.contains_key(family),
            "{family} missing from /node-metrics"
        );
    }
    eprintln!("compared with node_exporter: {}", report.join(", "));
}

/// Checks one value against node_exporter's readings `a` (before) and `b` (after).
fn check_value(family: &str, labels: &Labels, ours: f64, a: f64, b: f64) {
    let what = format!("{family}{labels:?}: ours {ours}, node_exporter {a} then {b}");
    match family {
        "node_procs_running" | "node_procs_blocked" | "node_disk_io_now" => {}
        "node_uname_info" | "node_boot_time_seconds" => assert_eq!(ours, a, "{what}"),
        _ if family.ends_with("_total") => {
            assert!(
                a - 0.01 <= ours && ours <= b + 0.01,
                "counter outside the bracket: {what}"
            )
        }
        _ => {
            let tolerance = gauge_tolerance(family, a.max(b));
            let (low, high) = (a.min(b) - tolerance, a.max(b) + tolerance);
            assert!(
                low <= ours && ours <= high,
                "gauge off by more than {tolerance}: {what}"
            );
        }
    }
}

/// How far a gauge may move between two readings on a machine other tests share.
fn gauge_tolerance(family: &str, value: f64) -> f64 {
    const MIB: f64 = 1024.0 * 1024.0;
    match family {
        // Page cache and allocations of concurrent builds move memory by the megabyte.
        f if f.starts_with("node_memory_") => (0.02 * value).max(128.0 * MIB),
        // Connections of this test and of the others on the machine come and go.
        "node_netstat_Tcp_CurrEstab" => 100.0,
        f if f.starts_with("node_sockstat_") && f.ends_with("_bytes") => 64.0 * MIB,
        f if f.starts_with("node_sockstat_") => 1000.0,
        // Other tests write files: free space and inodes move too.
        "node_filesystem_avail_bytes" | "node_filesystem_free_bytes" => 256.0 * MIB,
        "node_filesystem_files_free" => 10_000.0,
        "node_filefd_allocated" => 500.0,
        // The load average changes only every 5 s, by a bounded step.
        f if f.starts_with("node_load") => 0.5,
        // Sizes, maxima and temperatures.
        f if f.starts_with("node_hwmon") || f.starts_with("node_thermal") => 2.0,
        _ => 0.0,
    }
}

async fn scrape_ours(addr: SocketAddr) -> Exposition {
    let mut ours = scrape(addr, "/node-metrics").await;
    // Keep this host's series only and drop the `instance` label node_exporter lacks.
    for series in ours.series.values_mut() {
        series.retain_mut(|(labels, _)| labels.remove("instance").as_deref() == Some(HOST));
    }
    ours.series.retain(|_, s| !s.is_empty());
    ours
}

async fn scrape(addr: SocketAddr, path: &str) -> Exposition {
    let res = http_get(addr, path, None).await;
    assert_eq!(res.status, 200, "{path}");
    parse(&res.body)
}

/// Parses the classic text format (what both sides serve without an Accept header).
fn parse(text: &str) -> Exposition {
    let mut exposition = Exposition::default();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            exposition.types.insert(name.to_owned(), kind.to_owned());
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line}"));
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, parse_labels(rest.strip_suffix('}').unwrap())),
            None => (series, Labels::new()),
        };
        exposition
            .series
            .entry(name.to_owned())
            .or_default()
            .push((labels, value));
    }
    exposition
}

/// `a="x",b="y\"z"` -> labels, unescaped.
fn parse_labels(text: &str) -> Labels {
    let mut labels = Labels::new();
    let mut chars = text.chars().peekable();
    loop {
        let name: String = chars.by_ref().take_while(|&c| c != '=').collect();
        if name.is_empty() {
            return labels;
        }
        assert_eq!(chars.next(), Some('"'));
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(other) => value.push(other),
                    None => break,
                },
                c => value.push(c),
            }
        }
        labels.insert(name.trim_start_matches(',').to_owned(), value);
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
}

/// A port nothing listens on right now (bound and released), for node_exporter.
/// Starts node_exporter on a free port and waits until that port answers as node_exporter.
/// Between picking a free port and node_exporter binding it, another test's server may take
/// it (node_exporter then exits, and the port answers with the wrong `/metrics`): then it
/// is started again on another port.
async fn start_node_exporter() -> (Proc, SocketAddr) {
    for _ in 0..5 {
        let addr = free_port();
        let mut exporter = Proc {
            child: tokio::process::Command::new(NODE_EXPORTER)
                .arg(format!("--web.listen-address={addr}"))
                .arg("--log.level=error")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("starting node_exporter"),
        };
        let started = std::time::Instant::now();
        let answered = loop {
            assert!(started.elapsed() < DEADLINE, "node_exporter did not answer");
            if exporter.child.try_wait().ok().flatten().is_some() {
                break false; // It lost the port to someone else.
            }
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                let res = http_get(addr, "/metrics", None).await;
                break res.status == 200 && res.body.contains("node_exporter_build_info");
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        if answered {
            return (exporter, addr);
        }
    }
    panic!("node_exporter could not keep a free port in 5 attempts");
}

fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn the_label_parser_unescapes() {
    let labels = parse_labels(r#"a="x",b="y\"z\\",c="""#);
    assert_eq!(labels["a"], "x");
    assert_eq!(labels["b"], "y\"z\\");
    assert_eq!(labels["c"], "");
}
