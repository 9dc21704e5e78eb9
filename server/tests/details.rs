//! `GET /api/v1/hosts/{host}/details`: the history of the host page's detail charts (disk
//! I/O, pressure, temperatures, network errors, kernel activity, file handles, inodes),
//! against a real server on 127.0.0.1:
//! - over hours of whole samples written straight into the store before the server starts
//!   (counters growing at known rates, so every rate and bucket is checked exactly);
//! - with the real edge binary streaming into it, whose live detail points must equal the
//!   stored ones for the same samples.

mod common;

use common::prefill::{fill, record};
use common::process::{start_edge, start_server};
use common::*;
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;
use utizmon_protocol::{Disk, FileHandles, KernelCounters, Network, Pressure, Stall, Temperature};
use utizmon_store::Record;

/// Two hours of samples, one a second, ending a second before `now`.
const RANGE_MS: u64 = 2 * 3_600_000;

/// Stored sample `i` (at `start + i` seconds): every counter grows at a fixed rate.
fn detailed(start: u64, i: u64) -> Record {
    let mut r = record("stored-1", i + 1, start + i * 1000, 1);
    let s = std::sync::Arc::get_mut(&mut r.sample).expect("a fresh record");
    s.networks = vec![Network {
        device: "eth0".into(),
        rx_bytes: 1000 * i,
        tx_bytes: 1000 * i,
        rx_packets: 10 * i,
        tx_packets: 10 * i,
        rx_errors: 2 * i,
        tx_dropped: i,
        ..Network::default()
    }];
    s.disks = vec![Disk {
        device: "vda".into(),
        reads: 4 * i,
        read_bytes: 4096 * i,
        writes: 8 * i,
        written_bytes: 65536 * i,
        io_seconds: 0.25 * i as f64,
        ..Disk::default()
    }];
    s.pressure = Some(Pressure {
        io: Some(Stall {
            some_seconds: 0.5 * i as f64,
            some_avg10: 0.5,
            full_seconds: Some(0.125 * i as f64),
            full_avg10: Some(0.125),
        }),
        ..Pressure::default()
    });
    s.temperatures = vec![Temperature {
        kind: "thermal_zone".into(),
        chip: "acpitz".into(),
        sensor: "0".into(),
        label: String::new(),
        celsius: 40.0 + (i % 10) as f64,
    }];
    s.kernel = Some(KernelCounters {
        context_switches: 300 * i,
        interrupts: 200 * i,
        forks: i,
        procs_running: 3,
        procs_blocked: 1,
    });
    s.file_handles = Some(FileHandles {
        allocated: 1000 + i % 7,
        maximum: 100_000,
    });
    s.filesystems[0].files = 1000;
    s.filesystems[0].files_free = 250;
    r
}

fn points(body: &Value) -> &Vec<Value> {
    body["points"].as_array().expect("points")
}

/// The rates every stored point must show (the counters grow evenly).
fn assert_rates(p: &Value) {
    assert_eq!(p["disks"][0]["read_bytes_per_second"], 4096.0, "{p}");
    assert_eq!(p["disks"][0]["written_bytes_per_second"], 65536.0);
    assert_eq!(p["disks"][0]["busy_ratio"], 0.25);
    assert_eq!(
        p["pressure"],
        json!({"io": {"some_ratio": 0.5, "full_ratio": 0.125}})
    );
    assert_eq!(
        p["networks"],
        json!([{"device": "eth0", "rx_errors_per_second": 2.0, "tx_errors_per_second": 0.0,
                "rx_dropped_per_second": 0.0, "tx_dropped_per_second": 1.0}])
    );
    assert_eq!(
        p["kernel"],
        json!({"context_switches_per_second": 300.0, "interrupts_per_second": 200.0,
               "forks_per_second": 1.0, "procs_running": 3, "procs_blocked": 1})
    );
    assert_eq!(p["file_handles"]["maximum"], 100_000);
    assert_eq!(
        p["inodes"],
        json!([{"mountpoint": "/mnt/disk0", "fstype": "ext4", "used_ratio": 0.75}])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_history_is_served_raw_and_one_point_per_bucket() {
    let data_dir = tempfile::tempdir().unwrap();
    let now = now_ms();
    let start = now - RANGE_MS;
    let n = RANGE_MS / 1000;
    fill(data_dir.path(), (0..n).map(|i| detailed(start, i))).await;
    let server = TestServer::start_in(data_dir, &[]).await;

    // The last five minutes, raw: one point per sample, rates since the previous one.
    let from = now - 300_000;
    let raw = server
        .json(&format!(
            "/api/v1/hosts/stored-1/details?from={from}&to={now}"
        ))
        .await;
    assert_eq!(raw["step_ms"], 1000, "raw points at the edge interval");
    let raw_points = points(&raw);
    assert!(
        (298..=301).contains(&raw_points.len()),
        "{}",
        raw_points.len()
    );
    for pair in raw_points.windows(2) {
        assert_eq!(
            pair[1]["ts_ms"].as_u64().unwrap() - pair[0]["ts_ms"].as_u64().unwrap(),
            1000
        );
    }
    // The first sample of the range has its predecessor outside it: gauges only.
    assert_eq!(
        raw_points[0]["kernel"]["context_switches_per_second"],
        Value::Null
    );
    for p in &raw_points[1..] {
        assert_rates(p);
        let i = (p["ts_ms"].as_u64().unwrap() - start) / 1000;
        assert_eq!(p["temperatures"][0]["celsius"], 40.0 + (i % 10) as f64);
    }

    // Two hours in one-minute buckets: each point is the bucket's start, its gauges are
    // those of its first sample, and its rates span to the next bucket's first sample.
    let bucketed = server
        .json(&format!(
            "/api/v1/hosts/stored-1/details?from={start}&to={now}&step=60000"
        ))
        .await;
    assert_eq!(bucketed["step_ms"], 60_000);
    let buckets = points(&bucketed);
    assert!((120..=122).contains(&buckets.len()), "{}", buckets.len());
    for p in &buckets[..buckets.len() - 1] {
        assert_eq!(p["ts_ms"].as_u64().unwrap() % 60_000, 0, "{p}");
        assert_rates(p);
    }

    // A step of 1 ms over everything is raised to the cap, as for /samples.
    let everything = server
        .get(&format!(
            "/api/v1/hosts/stored-1/details?from=0&to={now}&step=1"
        ))
        .await;
    assert_eq!(everything.status, 200);
    assert!(
        everything.body.len() < 4 << 20,
        "{} bytes",
        everything.body.len()
    );
    let everything: Value = serde_json::from_str(&everything.body).unwrap();
    let all = points(&everything);
    assert!(!all.is_empty() && all.len() <= 2_000, "{}", all.len());
    assert_rates(&all[all.len() / 2]);

    // The same refusals as /samples.
    assert_eq!(server.get("/api/v1/hosts/nope/details").await.status, 404);
    let bad = server
        .get("/api/v1/hosts/stored-1/details?from=10&to=5")
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("\"error\""), "{}", bad.body);
    server.stop().await.unwrap();
}

/// Reads detail-stream messages until one carries a `detail` point with kernel rates.
async fn live_detail(ws: &mut Ws) -> Value {
    tokio::time::timeout(DEADLINE, async {
        loop {
            let Some(Ok(Message::Text(text))) = ws.next().await else {
                continue;
            };
            let msg: Value = serde_json::from_str(&text).unwrap();
            let detail = &msg["hosts"][0]["detail"];
            if detail["kernel"]["context_switches_per_second"].is_number() {
                return detail.clone();
            }
        }
    })
    .await
    .expect("a live detail point with rates")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_edge_live_points_equal_the_stored_ones() {
    let data = tempfile::tempdir().unwrap();
    let (_server, addr) = start_server("127.0.0.1:0", data.path(), &[]).await;
    let _edge = start_edge(addr, "500ms", "real-detail");
    let mut ws = connect(&format!("ws://{addr}/ws/dashboard?host=real-detail"), None).await;
    let live = live_detail(&mut ws).await;
    let ts = live["ts_ms"].as_u64().unwrap();
    // This machine has /proc/stat and /proc/sys/fs/file-nr; disks and PSI where present.
    assert!(
        live["file_handles"]["allocated"].as_u64().unwrap() > 0,
        "{live}"
    );
    let stored = wait_for("the live point stored", || async {
        let res = http_get(
            addr,
            &format!(
                "/api/v1/hosts/real-detail/details?from={}&to={ts}",
                ts - 60_000
            ),
            None,
        )
        .await;
        let body: Value = serde_json::from_str(&res.body).ok()?;
        points(&body).iter().find(|p| p["ts_ms"] == ts).cloned()
    })
    .await;
    assert_eq!(stored, live, "the stream's point is the stored point");
}
