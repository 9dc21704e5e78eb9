//! Issue 12's storm, replayed against real processes: a server that falls behind must stop
//! reading, not call its edges silent. Here the whole server is frozen (SIGSTOP) for three
//! times `--offline-after` while a simulated fleet keeps sampling; once it runs again, no
//! edge may have been closed or have reconnected, and every sample must be stored exactly
//! once. A genuinely silent edge is still closed (`ingest.rs`, `e2e.rs`).

mod common;

use std::time::{Duration, Instant};

use common::process::{start_edge_with, start_server};
use common::stored::{assert_complete, stored_seqs};
use common::*;

const EDGES: usize = 100;

/// One scrape's value of an unlabelled server series.
async fn server_series(addr: std::net::SocketAddr, name: &str) -> f64 {
    let body = http_get(addr, "/metrics", None).await.body;
    metric_value(&body, name).unwrap_or_else(|| panic!("{name} missing from /metrics"))
}

#[tokio::test]
async fn a_frozen_server_closes_no_edge_and_loses_no_sample() {
    let data = tempfile::tempdir().unwrap();
    let (mut server, addr) =
        start_server("127.0.0.1:0", data.path(), &["--offline-after", "1s"]).await;
    let master = format!("ws://{addr}/ws/edge");
    let edges = EDGES.to_string();
    let mut fleet = start_edge_with(&[
        "--master",
        &master,
        "--interval",
        "250ms",
        "--simulate",
        &edges,
        "--simulate-prefix",
        "frozen",
    ]);
    wait_for("every simulated edge connected", || async {
        let connected = server_series(addr, "utizmon_server_edges_connected").await;
        (connected as usize == EDGES).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Frozen for 3 s, three times --offline-after: every silence timer is overdue when the
    // server runs again, and every edge's samples are waiting on its socket.
    server.signal("-STOP");
    let frozen = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    server.signal("-CONT");
    assert!(frozen.elapsed() < Duration::from_secs(10));
    tokio::time::sleep(Duration::from_secs(2)).await;

    // The edges stop (each flushes what is unacknowledged), then the server.
    fleet.signal("-TERM");
    tokio::time::timeout(DEADLINE, fleet.child.wait())
        .await
        .expect("the simulator stops within the deadline")
        .unwrap();
    assert_eq!(
        server_series(addr, "utizmon_server_edges_silent_total").await,
        0.0,
        "an edge was closed as silent while its samples waited on the socket"
    );
    assert_eq!(
        server_series(addr, "utizmon_server_edge_connections_total").await as usize,
        EDGES,
        "an edge reconnected"
    );
    let received = server_series(addr, "utizmon_server_samples_received_total").await;
    server.signal("-TERM");
    tokio::time::timeout(DEADLINE, server.child.wait())
        .await
        .expect("the server stops within the deadline")
        .unwrap();

    let seqs = stored_seqs(data.path());
    assert_eq!(seqs.len(), EDGES, "one run per edge, each stored");
    let last = assert_complete(&seqs);
    let stored: i64 = last.values().sum();
    assert_eq!(stored as f64, received, "received = stored");
    // 4 s of running at 4 Hz, plus the freeze: every edge sampled throughout.
    for (host, n) in &last {
        assert!(*n >= 20, "{host} stored only {n} samples");
    }
}
