//! Process-level end to end: the real `utizmon-server` and `utizmon-edge` binaries on
//! 127.0.0.1. The edge binary is found beside the server binary in `target/`.

mod common;

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::process::*;
use common::*;
use serde_json::Value;
use tokio::process::Command;

const HOST: &str = "e2e-edge";

async fn host(addr: SocketAddr) -> Option<Value> {
    let res = http_get(addr, &format!("/api/v1/hosts/{HOST}"), None).await;
    (res.status == 200).then(|| serde_json::from_str(&res.body).unwrap())
}

fn mem_total_bytes() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let line = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

#[tokio::test]
async fn edge_host_appears_with_plausible_values() {
    let data = tempfile::tempdir().unwrap();
    let (_server, addr) = start_server("127.0.0.1:0", data.path(), &[]).await;
    let started = Instant::now();
    let _edge = start_edge(addr, "1s", HOST);
    let view = wait_for("host with a sample", || async {
        host(addr).await.filter(|h| !h["latest"].is_null())
    })
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(view["status"], "online");
    let latest = &view["latest"];
    let cpu = latest["cpu"]["usage_ratio"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&cpu), "{cpu}");
    for core in latest["cpu"]["cores"].as_array().unwrap() {
        assert!((0.0..=1.0).contains(&core.as_f64().unwrap()), "{core}");
    }
    assert_eq!(
        latest["memory"]["total_bytes"].as_u64(),
        Some(mem_total_bytes())
    );
    assert!(!view["info"]["kernel"].as_str().unwrap().is_empty());

    let metrics = http_get(addr, "/metrics", None).await.body;
    let series = |name: &str| format!("{name}{{host=\"{HOST}\"}}");
    let cpu = metric_value(&metrics, &series("utizmon_cpu_usage_ratio")).unwrap();
    assert!((0.0..=1.0).contains(&cpu));
    assert_eq!(
        metric_value(&metrics, &series("utizmon_memory_total_bytes")),
        Some(mem_total_bytes() as f64)
    );
    assert_eq!(
        metric_value(&metrics, &series("utizmon_edge_connected")),
        Some(1.0)
    );
}

#[tokio::test]
async fn stopped_or_killed_edge_goes_offline() {
    let data = tempfile::tempdir().unwrap();
    let (_server, addr) =
        start_server("127.0.0.1:0", data.path(), &["--offline-after", "2s"]).await;
    let edge = start_edge(addr, "500ms", HOST);
    wait_for("host online", || async {
        host(addr)
            .await
            .filter(|h| h["status"] == "online" && !h["latest"].is_null())
    })
    .await;
    // A frozen edge keeps its socket open but sends nothing: offline after 2 s.
    edge.signal("-STOP");
    let stopped = Instant::now();
    wait_for("host offline", || async {
        host(addr).await.filter(|h| h["status"] == "offline")
    })
    .await;
    let took = stopped.elapsed();
    assert!(took < Duration::from_millis(3000), "{took:?}");
    let metrics = http_get(addr, "/metrics", None).await.body;
    let connected = format!("utizmon_edge_connected{{host=\"{HOST}\"}}");
    assert_eq!(metric_value(&metrics, &connected), Some(0.0));

    // It comes back when thawed, and goes offline at once when killed.
    edge.signal("-CONT");
    wait_for("host back online", || async {
        host(addr).await.filter(|h| h["status"] == "online")
    })
    .await;
    edge.signal("-KILL");
    let killed = Instant::now();
    wait_for("host offline after kill", || async {
        host(addr).await.filter(|h| h["status"] == "offline")
    })
    .await;
    assert!(killed.elapsed() < Duration::from_secs(2));
    let metrics = http_get(addr, "/metrics", None).await.body;
    assert_eq!(metric_value(&metrics, &connected), Some(0.0));
}

#[tokio::test]
async fn server_restart_loses_no_sample() {
    let data = tempfile::tempdir().unwrap();
    let (old_server, addr) = start_server("127.0.0.1:0", data.path(), &[]).await;
    let edge = start_edge(addr, "200ms", HOST);
    wait_for("a few samples", || async {
        host(addr)
            .await
            .filter(|h| h["edge"]["last_seq"].as_u64() >= Some(5))
    })
    .await;

    // Freeze the edge so nothing is in flight, then read what the old server has.
    edge.signal("-STOP");
    let mut last = host(addr).await.unwrap();
    let settle = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = host(addr).await.unwrap();
        if now["edge"]["last_seq"] == last["edge"]["last_seq"] {
            break;
        }
        last = now;
        assert!(settle.elapsed() < DEADLINE, "old server never settled");
    }
    let old = last["edge"].clone();
    assert_eq!(old["first_seq"], 1, "{old}");
    assert_eq!(old["gaps"], 0, "{old}");
    let old_last = old["last_seq"].as_u64().unwrap();

    // Kill -9 the server, let the edge buffer a while, restart on the same port.
    old_server.signal("-KILL");
    drop(old_server);
    edge.signal("-CONT");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let listen = addr.to_string();
    let (_new_server, new_addr) = start_server(&listen, data.path(), &[]).await;
    assert_eq!(new_addr, addr);

    let new = wait_for("edge replayed to the new server", || async {
        host(addr)
            .await
            .filter(|h| h["edge"]["last_seq"].as_u64() >= Some(old_last + 10))
    })
    .await;
    let new = &new["edge"];
    // Run ids are shown only to logged-in users; the same run continues its numbering, so
    // the new server's first sample is past 1.
    let first = new["first_seq"].as_u64().unwrap();
    assert!(first > 1, "the edge started a new run: {new}");
    assert!(
        first <= old_last + 1,
        "old server had 1..={old_last}, new one starts at {first}: lost samples"
    );
    assert_eq!(new["gaps"], 0, "{new}");
    let received = new["received"].as_u64().unwrap();
    let last_seq = new["last_seq"].as_u64().unwrap();
    assert_eq!(received, last_seq - first + 1, "{new}");
}

#[tokio::test]
async fn sigterm_closes_edges_with_going_away_and_exits_zero() {
    let data = tempfile::tempdir().unwrap();
    let (mut server, addr) = start_server("127.0.0.1:0", data.path(), &[]).await;
    let mut ws = connect(&format!("ws://{addr}/ws/edge"), None).await;
    send_text(&mut ws, hello_text("term", "r1")).await;
    send_text(&mut ws, sample_text(1)).await;
    expect_ack(&mut ws, 1).await;
    server.signal("-TERM");
    let ending = read_until_close(&mut ws).await;
    assert_eq!(ending.close_code, Some(1001));
    assert_eq!(ending.close_reason, "going away: server shutting down");
    let status = tokio::time::timeout(DEADLINE, server.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn bad_token_file_is_a_clear_startup_error() {
    let dir = std::env::temp_dir().join(format!("utizmon-e2e-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let empty = dir.join("empty");
    std::fs::write(&empty, "  \n").unwrap();
    let missing = dir.join("missing");
    for (path, words) in [(&empty, "is empty"), (&missing, "reading edge token file")] {
        assert_startup_error(&["--edge-token-file".as_ref(), path.as_os_str()], words).await;
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn edge_with_token_file_is_accepted() {
    let data = tempfile::tempdir().unwrap();
    let dir = std::env::temp_dir().join(format!("utizmon-e2e-auth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let token = dir.join("token");
    std::fs::write(&token, "e2e-secret\n").unwrap();
    let token = token.to_str().unwrap();
    let (_server, addr) =
        start_server("127.0.0.1:0", data.path(), &["--edge-token-file", token]).await;
    let _edge = Proc {
        child: Command::new(binary("utizmon-edge"))
            .args(["--master", &format!("ws://{addr}/ws/edge")])
            .args([
                "--interval",
                "200ms",
                "--host-name",
                HOST,
                "--token-file",
                token,
            ])
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap(),
    };
    wait_for("authenticated edge online", || async {
        host(addr).await.filter(|h| !h["latest"].is_null())
    })
    .await;
    let metrics = http_get(addr, "/metrics", None).await.body;
    assert_eq!(
        metric_value(
            &metrics,
            r#"utizmon_server_samples_rejected_total{reason="unauthorized"}"#
        ),
        Some(0.0)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
