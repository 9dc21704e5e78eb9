//! History survives crashes and partitions: real server and edge binaries on 127.0.0.1,
//! and the SQLite file read back directly to check every sequence number is stored once.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::process::*;
use common::stored::*;
use common::*;
use serde_json::Value;
use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};

async fn hosts(addr: SocketAddr) -> Vec<Value> {
    let res = http_get(addr, "/api/v1/hosts", None).await;
    let value: Value = serde_json::from_str(&res.body).unwrap_or(Value::Null);
    value["hosts"].as_array().cloned().unwrap_or_default()
}

/// Waits until every host is online with at least `min_seq` samples in its current run.
async fn wait_streaming(addr: SocketAddr, names: &[String], min_seq: u64) {
    wait_for("edges streaming", || async {
        let hosts = hosts(addr).await;
        names
            .iter()
            .all(|name| {
                hosts.iter().any(|h| {
                    h["host"] == name.as_str()
                        && h["status"] == "online"
                        && h["edge"]["last_seq"].as_u64() >= Some(min_seq)
                })
            })
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_ingest_loses_nothing_and_stores_each_sample_once() {
    let data = tempfile::tempdir().unwrap();
    let (server, addr) = start_server("127.0.0.1:0", data.path(), &[]).await;
    let names: Vec<String> = (1..=5).map(|i| format!("crash-{i}")).collect();
    let edges: Vec<Proc> = names.iter().map(|h| start_edge(addr, "200ms", h)).collect();
    wait_streaming(addr, &names, 10).await;

    server.signal("-KILL");
    drop(server);
    // The edges keep sampling while the server is gone.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (_server, addr) = start_server(&addr.to_string(), data.path(), &[]).await;

    // Hosts known before the crash are listed at once, from the store.
    let listed = hosts(addr).await;
    for name in &names {
        assert!(
            listed.iter().any(|h| h["host"] == name.as_str()),
            "{name} not listed after the restart"
        );
    }
    wait_streaming(addr, &names, 25).await;
    for edge in &edges {
        edge.signal("-TERM"); // Flushes, waits for acks, exits.
    }
    for mut edge in edges {
        let status = tokio::time::timeout(DEADLINE, edge.child.wait()).await;
        assert!(
            matches!(status, Ok(Ok(s)) if s.success()),
            "edge exit: {status:?}"
        );
    }

    let seqs = stored_seqs(data.path());
    assert_eq!(seqs.len(), 5, "one run per edge: {:?}", seqs.keys());
    let last = assert_complete(&seqs);
    for name in &names {
        assert!(
            last[name] >= 25,
            "{name}: only {} samples stored",
            last[name]
        );
    }
}

/// A loopback TCP proxy the test cuts and restores, standing in for a network partition.
struct Proxy {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    cut: tokio::sync::watch::Sender<u64>,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let (cut, _) = tokio::sync::watch::channel(0u64);
        let (accepting, cuts) = (up.clone(), cut.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !accepting.load(Ordering::SeqCst) {
                    continue; // Dropped at once: the edge sees a refused connection.
                }
                let mut cut = cuts.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Proxy { addr, up, cut }
    }

    /// Drops every open connection and refuses new ones.
    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cut.send_modify(|g| *g += 1);
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
/// A partition longer than several reconnect attempts (the edge's backoff doubles from 1 s):
/// the edges buffer every sample and replay it once the proxy lets them through again. Kept
/// to 12 s of real time: the replay buffer's bounds and the backoff's cap, which decide what
/// longer partitions do, are unit-tested in the edge crate (`transport/replay.rs`,
/// `transport/backoff.rs`).
async fn a_partition_leaves_no_gap_in_history() {
    let data = tempfile::tempdir().unwrap();
    let (_server, addr) = start_server("127.0.0.1:0", data.path(), &[]).await;
    let proxy = Proxy::start(addr).await;
    let names: Vec<String> = vec!["part-1".into(), "part-2".into()];
    let edges: Vec<Proc> = names
        .iter()
        .map(|h| start_edge(proxy.addr, "100ms", h))
        .collect();
    wait_streaming(addr, &names, 10).await;

    let cut_at = now_ms();
    proxy.cut();
    tokio::time::sleep(Duration::from_secs(12)).await;
    proxy.restore();
    let healed_at = now_ms();

    // The edges reconnect (next backoff step is at most 8 s) and replay the window first.
    let before: BTreeMap<String, u64> = names
        .iter()
        .map(|n| (n.clone(), (healed_at - cut_at) / 100))
        .collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let hosts = hosts(addr).await;
        let caught_up = names.iter().all(|name| {
            hosts.iter().any(|h| {
                h["host"] == name.as_str()
                    && h["status"] == "online"
                    && h["edge"]["last_seq"].as_u64() >= Some(before[name])
            })
        });
        if caught_up {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "edges did not catch up within 20 s of the partition ending"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for edge in &edges {
        edge.signal("-TERM");
    }
    for mut edge in edges {
        let _ = tokio::time::timeout(DEADLINE, edge.child.wait()).await;
    }

    let seqs = stored_seqs(data.path());
    assert_complete(&seqs);
    // The partition window itself is covered: a sample every 100 ms throughout.
    let conn = rusqlite::Connection::open(data.path().join("utizmon.sqlite3")).unwrap();
    for name in &names {
        let in_window: i64 = conn
            .query_row(
                "SELECT count(*) FROM samples s JOIN hosts h ON h.id = s.host_id
                 WHERE h.name = ?1 AND s.ts_ms BETWEEN ?2 AND ?3",
                rusqlite::params![name, cut_at as i64, healed_at as i64],
                |r| r.get(0),
            )
            .unwrap();
        // 12 s at 10 samples/s is 120; leave room for timer slack on a busy machine.
        assert!(
            in_window >= 100,
            "{name}: only {in_window} samples stored for the partition"
        );
    }
}

#[tokio::test]
async fn history_api_serves_the_past_after_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let (server, addr) = start_server("127.0.0.1:0", data.path(), &[]).await;
    let edge = start_edge(addr, "200ms", "keeper");
    wait_streaming(addr, &["keeper".to_string()], 10).await;
    edge.signal("-TERM");
    let mut edge = edge;
    let _ = tokio::time::timeout(DEADLINE, edge.child.wait()).await;
    // A clean stop writes every host's last sample (a kill -9 leaves it up to 30 s old).
    server.signal("-TERM");
    let mut server = server;
    let status = tokio::time::timeout(DEADLINE, server.child.wait()).await;
    assert!(
        matches!(status, Ok(Ok(s)) if s.success()),
        "server exit: {status:?}"
    );

    let (_server, addr) = start_server("127.0.0.1:0", data.path(), &[]).await;
    let view: Value =
        serde_json::from_str(&http_get(addr, "/api/v1/hosts/keeper", None).await.body).unwrap();
    assert_eq!(view["status"], "offline");
    assert!(view["info"]["host_name"] == "keeper", "{view}");
    assert!(view["latest"]["seq"].as_u64() >= Some(10), "{view}");
    // The restored host keeps its stored 200 ms interval: a step at or below it is raw.
    let res = http_get(addr, "/api/v1/hosts/keeper/samples?step=200", None).await;
    assert_eq!(res.status, 200);
    let body: Value = serde_json::from_str(&res.body).unwrap();
    assert_eq!(body["step_ms"], 200, "{body}");
    assert!(body["points"].as_array().unwrap().len() >= 10, "{body}");
    // A wide step reads minutes (fresh ones straight from raw samples).
    let hour = http_get(
        addr,
        &format!(
            "/api/v1/hosts/keeper/samples?from={}&to={}&step=60000",
            now_ms() - 3_600_000,
            now_ms()
        ),
        None,
    )
    .await;
    let body: Value = serde_json::from_str(&hour.body).unwrap();
    assert!(!body["points"].as_array().unwrap().is_empty(), "{body}");
}

#[tokio::test]
async fn unusable_data_dirs_fail_the_start_up_clearly() {
    let data = tempfile::tempdir().unwrap();
    // A regular file where the directory should be.
    let file = data.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let corrupt = data.path().join("corrupt");
    std::fs::create_dir(&corrupt).unwrap();
    std::fs::write(corrupt.join("utizmon.sqlite3"), vec![7u8; 4096]).unwrap();
    for (dir, words) in [
        (&file, "cannot create it"),
        (&corrupt, "corrupt or not a database"),
    ] {
        assert_startup_error(&["--data-dir".as_ref(), dir.as_os_str()], words).await;
    }
}
