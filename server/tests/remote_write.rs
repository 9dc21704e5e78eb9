//! `--remote-write` against real receivers run on 127.0.0.1 ephemeral ports: Prometheus
//! (`--web.enable-remote-write-receiver`) and VictoriaMetrics, from their Debian packages
//! (`scripts/deps.sh test`). Every count compares what the receiver holds for a host with
//! what the server's SQLite file holds: equal means no gap, no loss.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::process::*;
use common::*;
use serde_json::Value;
use tokio::process::Command;

/// Longer than [`DEADLINE`]: a receiver catching up after an outage.
const CATCH_UP: Duration = Duration::from_secs(20);

async fn free_addr() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

/// Percent-encodes a query parameter value.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Prometheus,
    Victoria,
}

/// A receiver process with its storage directory.
struct Receiver {
    kind: Kind,
    addr: SocketAddr,
    dir: tempfile::TempDir,
    proc: Option<Proc>,
}

impl Receiver {
    async fn start(kind: Kind) -> Receiver {
        let mut receiver = Receiver {
            kind,
            addr: free_addr().await,
            dir: tempfile::tempdir().unwrap(),
            proc: None,
        };
        receiver.restart().await;
        receiver
    }

    /// (Re)starts it on the same address and storage.
    async fn restart(&mut self) {
        let dir = self.dir.path();
        let mut command = match self.kind {
            Kind::Prometheus => {
                let config = dir.join("prometheus.yml");
                std::fs::write(&config, "global:\n  scrape_interval: 1m\n").unwrap();
                let mut c = Command::new("/usr/bin/prometheus");
                c.arg(format!("--config.file={}", config.display()))
                    .arg(format!(
                        "--storage.tsdb.path={}",
                        dir.join("data").display()
                    ))
                    .arg(format!("--web.listen-address={}", self.addr))
                    .arg("--web.enable-remote-write-receiver");
                c
            }
            Kind::Victoria => {
                let mut c = Command::new("/usr/bin/victoria-metrics");
                c.arg(format!("-httpListenAddr={}", self.addr))
                    .arg(format!("-storageDataPath={}", dir.join("data").display()))
                    .arg("-search.latencyOffset=0s")
                    .arg("-retentionPeriod=100y");
                c
            }
        };
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("receiver binary missing: run scripts/deps.sh test");
        self.proc = Some(Proc { child });
        let ready = match self.kind {
            Kind::Prometheus => "/-/ready",
            Kind::Victoria => "/health",
        };
        let addr = self.addr;
        wait_up_to("the receiver to be ready", CATCH_UP, || async move {
            let connect = tokio::net::TcpStream::connect(addr).await;
            if connect.is_err() {
                return None;
            }
            (http_get(addr, ready, None).await.status == 200).then_some(())
        })
        .await;
    }

    async fn stop(&mut self) {
        if let Some(mut proc) = self.proc.take() {
            proc.signal("-TERM");
            let _ = tokio::time::timeout(DEADLINE, proc.child.wait()).await;
        }
    }

    fn write_url(&self) -> String {
        format!("http://{}/api/v1/write", self.addr)
    }

    /// Distinct timestamps the receiver holds for `utizmon_cpu_usage_ratio{host}`.
    async fn timestamps(&self, host: &str) -> Vec<i64> {
        let selector = format!("utizmon_cpu_usage_ratio{{host=\"{host}\"}}");
        match self.kind {
            Kind::Prometheus => {
                let query = format!("{selector}[1h]");
                let path = format!("/api/v1/query?query={}", encode(&query));
                let res = http_get(self.addr, &path, None).await;
                let value: Value = serde_json::from_str(&res.body).unwrap_or(Value::Null);
                let mut ts: Vec<i64> = value["data"]["result"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .flat_map(|series| series["values"].as_array().cloned().unwrap_or_default())
                    .filter_map(|pair| pair[0].as_f64())
                    .map(|seconds| (seconds * 1000.0).round() as i64)
                    .collect();
                ts.sort_unstable();
                ts.dedup();
                ts
            }
            Kind::Victoria => {
                let path = format!("/api/v1/export?match[]={}", encode(&selector));
                let res = http_get(self.addr, &path, None).await;
                let mut ts: Vec<i64> = res
                    .body
                    .lines()
                    .filter_map(|line| serde_json::from_str::<Value>(line).ok())
                    .flat_map(|series| series["timestamps"].as_array().cloned().unwrap_or_default())
                    .filter_map(|t| t.as_i64())
                    .collect();
                ts.sort_unstable();
                ts.dedup();
                ts
            }
        }
    }
}

/// Timestamps of every sample of `host` in the servers' SQLite files, distinct, sorted.
fn stored_timestamps(data_dirs: &[&Path], host: &str) -> Vec<i64> {
    let mut all = Vec::new();
    for dir in data_dirs {
        let conn = rusqlite::Connection::open(dir.join("utizmon.sqlite3")).unwrap();
        let mut stmt = conn
            .prepare(
                "SELECT s.ts_ms FROM samples s JOIN hosts h ON h.id = s.host_id WHERE h.name = ?1",
            )
            .unwrap();
        let rows = stmt.query_map([host], |r| r.get::<_, i64>(0)).unwrap();
        all.extend(rows.map(Result::unwrap));
    }
    all.sort_unstable();
    all.dedup();
    all
}

/// `utizmon_remote_write_*{remote=...}` of the server at `addr`, for every receiver.
async fn remote_metric(addr: SocketAddr, name: &str) -> f64 {
    let res = http_get(addr, "/metrics", None).await;
    res.body
        .lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn wait_delivered(addr: SocketAddr) {
    wait_up_to("remote write to catch up", CATCH_UP, || async move {
        (remote_metric(addr, "utizmon_remote_write_pending_samples").await == 0.0).then_some(())
    })
    .await;
}

async fn stop(proc: &mut Proc) {
    proc.signal("-TERM");
    let _ = tokio::time::timeout(DEADLINE, proc.child.wait()).await;
}

fn edge_to(masters: &str, host: &str) -> Proc {
    start_edge_with(&[
        "--master",
        masters,
        "--interval",
        "100ms",
        "--host-name",
        host,
    ])
}

/// Waits until the receiver holds exactly what the servers stored for `host`.
async fn assert_receiver_has_everything(receiver: &Receiver, data_dirs: &[&Path], host: &str) {
    let stored = stored_timestamps(data_dirs, host);
    assert!(stored.len() >= 20, "only {} samples stored", stored.len());
    let mut last = Vec::new();
    let start = Instant::now();
    while start.elapsed() < CATCH_UP {
        last = receiver.timestamps(host).await;
        if last == stored {
            return;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let missing: Vec<_> = stored
        .iter()
        .filter(|t| !last.contains(t))
        .take(5)
        .collect();
    panic!(
        "receiver holds {} samples, the server stored {}; first missing {missing:?}",
        last.len(),
        stored.len()
    );
}

#[tokio::test]
async fn prometheus_receives_every_committed_sample_with_its_own_timestamp() {
    let mut prometheus = Receiver::start(Kind::Prometheus).await;
    let data = tempfile::tempdir().unwrap();
    let url = prometheus.write_url();
    let (mut server, addr) =
        start_server("127.0.0.1:0", data.path(), &["--remote-write", &url]).await;
    let mut edge = edge_to(&format!("ws://{addr}/ws/edge"), "rw-prom");
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop(&mut edge).await;
    wait_delivered(addr).await;
    assert_receiver_has_everything(&prometheus, &[data.path()], "rw-prom").await;

    // The per-core series, and what only the whole stored sample holds, are there too,
    // under their /metrics names and labels.
    for selector in [
        "utizmon_cpu_core_usage_ratio{host=\"rw-prom\",core=\"0\"}",
        "utizmon_memory_available_bytes{host=\"rw-prom\"}",
        "utizmon_uptime_seconds{host=\"rw-prom\"}",
        "utizmon_filesystem_size_bytes{host=\"rw-prom\",mountpoint!=\"\",fstype!=\"\"}",
        "utizmon_network_receive_bytes_total{host=\"rw-prom\",device!=\"\"}",
    ] {
        let path = format!(
            "/api/v1/query?query={}",
            encode(&format!("count({selector})"))
        );
        let body = http_get(prometheus.addr, &path, None).await.body;
        assert!(body.contains("\"result\":[{"), "{selector}: {body}");
    }
    let sent = remote_metric(addr, "utizmon_remote_write_samples_total{remote=").await;
    assert!(sent > 0.0);
    stop(&mut server).await;
    prometheus.stop().await;
}

#[tokio::test]
async fn victoria_metrics_outage_and_a_server_kill_lose_nothing() {
    let mut vm = Receiver::start(Kind::Victoria).await;
    let data = tempfile::tempdir().unwrap();
    let url = vm.write_url();
    let listen = free_addr().await.to_string();
    let (mut server, addr) = start_server(&listen, data.path(), &["--remote-write", &url]).await;
    let mut edge = edge_to(&format!("ws://{addr}/ws/edge"), "rw-vm");
    tokio::time::sleep(Duration::from_secs(2)).await;

    // The receiver is down for 6 s (the 60 s, shortened to keep the test fast):
    // samples pile up in the store, requests are retried.
    vm.stop().await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let pending = remote_metric(addr, "utizmon_remote_write_pending_samples").await;
    assert!(pending >= 20.0, "pending {pending}");
    let lag = remote_metric(addr, "utizmon_remote_write_lag_seconds").await;
    assert!(lag >= 2.0, "lag {lag}");
    vm.restart().await;

    // The server dies mid-delivery and comes back on the same address and data.
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.signal("-KILL");
    let _ = server.child.wait().await;
    let (mut server, addr) = start_server(&listen, data.path(), &["--remote-write", &url]).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop(&mut edge).await;
    wait_delivered(addr).await;
    assert_receiver_has_everything(&vm, &[data.path()], "rw-vm").await;
    stop(&mut server).await;
    vm.stop().await;
}

/// Senders at the same cursor share the batches they read; a receiver that is down falls
/// behind on its own, reads its own batches, and still gets everything, as does the one
/// that stayed up.
#[tokio::test]
async fn two_receivers_each_get_everything_while_one_is_down_for_a_while() {
    let mut prometheus = Receiver::start(Kind::Prometheus).await;
    let mut vm = Receiver::start(Kind::Victoria).await;
    let data = tempfile::tempdir().unwrap();
    let (prom_url, vm_url) = (prometheus.write_url(), vm.write_url());
    let args = ["--remote-write", &prom_url, "--remote-write", &vm_url];
    let (mut server, addr) = start_server("127.0.0.1:0", data.path(), &args).await;
    let mut edge = edge_to(&format!("ws://{addr}/ws/edge"), "rw-two");
    tokio::time::sleep(Duration::from_secs(2)).await;
    vm.stop().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    vm.restart().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop(&mut edge).await;
    wait_delivered(addr).await;
    assert_receiver_has_everything(&prometheus, &[data.path()], "rw-two").await;
    assert_receiver_has_everything(&vm, &[data.path()], "rw-two").await;
    stop(&mut server).await;
    vm.stop().await;
    prometheus.stop().await;
}

#[tokio::test]
async fn two_masters_one_receiver_failover_loses_nothing() {
    let mut vm = Receiver::start(Kind::Victoria).await;
    let url = vm.write_url();
    let (data_a, data_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let listen_a = free_addr().await.to_string();
    let (mut a, addr_a) = start_server(&listen_a, data_a.path(), &["--remote-write", &url]).await;
    let (mut b, addr_b) =
        start_server("127.0.0.1:0", data_b.path(), &["--remote-write", &url]).await;
    let masters = format!("ws://{addr_a}/ws/edge,ws://{addr_b}/ws/edge");
    let mut edge = edge_to(&masters, "rw-move");
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Master A dies hard; the edge moves to B and replays what A had not acknowledged.
    a.signal("-KILL");
    let _ = a.child.wait().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop(&mut edge).await;
    wait_delivered(addr_b).await;
    // A's store still queues what A committed but had not delivered: A restarts (as
    // systemd would) and drains it.
    let (mut a, addr_a) = start_server(&listen_a, data_a.path(), &["--remote-write", &url]).await;
    wait_delivered(addr_a).await;
    assert_receiver_has_everything(&vm, &[data_a.path(), data_b.path()], "rw-move").await;
    stop(&mut a).await;
    stop(&mut b).await;
    vm.stop().await;
}

/// `(ts_ms, cpu_ratio)` of every point `GET /api/v1/hosts/{host}/samples` returns.
async fn history_points(addr: SocketAddr, host: &str, from_ms: u64) -> Vec<(u64, f64)> {
    let path = format!(
        "/api/v1/hosts/{host}/samples?from={from_ms}&to={}",
        now_ms()
    );
    let res = http_get(addr, &path, None).await;
    assert_eq!(res.status, 200, "{path}: {}", res.body);
    let value: Value = serde_json::from_str(&res.body).unwrap();
    value["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["ts_ms"].as_u64().unwrap(),
                p["cpu_ratio"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn history_url_shows_one_history_for_a_host_that_moved_between_masters() {
    let mut prometheus = Receiver::start(Kind::Prometheus).await;
    let url = prometheus.write_url();
    let engine = format!("http://{}", prometheus.addr);
    let (data_a, data_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let listen_a = free_addr().await.to_string();
    let (mut a, addr_a) = start_server(&listen_a, data_a.path(), &["--remote-write", &url]).await;
    let (mut b, addr_b) = start_server(
        "127.0.0.1:0",
        data_b.path(),
        &["--remote-write", &url, "--history-url", &engine],
    )
    .await;
    let started = now_ms();
    let masters = format!("ws://{addr_a}/ws/edge,ws://{addr_b}/ws/edge");
    let mut edge = edge_to(&masters, "hist-move");
    tokio::time::sleep(Duration::from_secs(3)).await;

    // The edge moves from A to B; A comes back only to drain its remote-write queue.
    a.signal("-KILL");
    let _ = a.child.wait().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop(&mut edge).await;
    wait_delivered(addr_b).await;
    let (mut a, addr_a) = start_server(&listen_a, data_a.path(), &["--remote-write", &url]).await;
    wait_delivered(addr_a).await;
    stop(&mut a).await;

    let only_b = stored_timestamps(&[data_b.path()], "hist-move");
    let everything = stored_timestamps(&[data_a.path(), data_b.path()], "hist-move");
    assert!(
        !only_b.is_empty() && everything.len() >= only_b.len() + 15,
        "the edge did not stream to both masters: {} of {} samples on B",
        only_b.len(),
        everything.len()
    );
    // B's page shows A's part too, read from the engine both masters write into.
    let points = wait_up_to("B to show A's part of the history", CATCH_UP, || async {
        let points = history_points(addr_b, "hist-move", started).await;
        let before_b = points
            .iter()
            .filter(|(ts, _)| (*ts as i64) < only_b[0] - 200)
            .count();
        (before_b >= 15 && points.len() * 10 >= everything.len() * 8).then_some(points)
    })
    .await;
    assert!(
        points.windows(2).all(|w| w[0].0 < w[1].0),
        "points out of order"
    );
    assert!(points.iter().all(|(_, cpu)| (0.0..=1.0).contains(cpu)));

    // Without the engine B still answers, from its own store.
    prometheus.stop().await;
    let local = history_points(addr_b, "hist-move", started).await;
    assert!(!local.is_empty());
    assert!(local.iter().all(|(ts, _)| (*ts as i64) >= only_b[0]));
    stop(&mut b).await;
}

#[tokio::test]
async fn a_history_url_that_is_not_http_fails_the_start_up() {
    assert_startup_error(
        &["--history-url".as_ref(), "ftp://127.0.0.1:9/".as_ref()],
        "only http and https",
    )
    .await;
}
