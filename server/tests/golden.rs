//! Pins the exact JSON the server sends today: `/api/v1/hosts`, `/api/v1/hosts/{host}`,
//! `/api/v1/hosts/{host}/samples`, `.../details` and both `/ws/dashboard` streams, byte for byte (field
//! order included), so moving the view types between modules cannot change what scripts
//! and browsers receive. Clock readings are replaced by placeholders before comparing.

mod common;

use common::*;
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;
use utizmon_protocol::{
    Cgroup, Disk, EdgeFrame, FileHandles, KernelCounters, Network, Pressure, Process, Sample,
    Stall, Temperature,
};

/// The recorded shapes; rewrite with `UTIZMON_UPDATE_GOLDEN=1` only for an intended change.
const GOLDEN: &str = include_str!("golden/views.txt");

/// Sample `seq` of the golden edge: fixed values, `ts_ms` one second apart from `base`,
/// with every section of protocol minor 1 (counters growing with `seq`).
fn golden_sample(base: u64, seq: u64) -> Sample {
    let mut sample = sample(seq);
    sample.ts_ms = base + seq * 1000;
    sample.cpu.usage_ratio = 0.123_456_7 * seq as f64;
    sample.cpu.core_seconds = vec![sample.cpu.seconds; 2];
    sample.memory.free_bytes = 1_000_000_000;
    sample.memory.cached_bytes = 3_000_000_000;
    sample.networks.push(Network {
        device: "lo".into(),
        rx_bytes: 7 * seq,
        tx_bytes: 7 * seq,
        rx_packets: 3 * seq,
        tx_packets: 3 * seq,
        rx_dropped: seq,
        ..Network::default()
    });
    sample.filesystems[0].device = "/dev/vda1".into();
    sample.filesystems[0].files = 1000;
    sample.filesystems[0].files_free = 400;
    sample.disks = vec![Disk {
        device: "vda".into(),
        reads: 10 * seq,
        read_bytes: 4096 * seq,
        writes: 20 * seq,
        written_bytes: 8192 * seq,
        io_seconds: 0.25 * seq as f64,
        ..Disk::default()
    }];
    let stall = |some_seconds: f64| Stall {
        some_seconds,
        some_avg10: 0.015,
        full_seconds: Some(some_seconds / 2.0),
        full_avg10: Some(0.005),
    };
    sample.pressure = Some(Pressure {
        cpu: Some(Stall {
            full_seconds: None,
            full_avg10: None,
            ..stall(seq as f64)
        }),
        memory: None,
        io: Some(stall(seq as f64 / 4.0)),
    });
    sample.temperatures = vec![Temperature {
        kind: "hwmon".into(),
        chip: "platform_coretemp_0".into(),
        sensor: "temp1".into(),
        label: "Package id 0".into(),
        celsius: 45.0 + seq as f64,
    }];
    sample.top_processes = vec![Process {
        pid: 812,
        name: "postgres".into(),
        user: "postgres".into(),
        cpu_ratio: 0.25,
        rss_bytes: 268_435_456,
    }];
    sample.failed_units = Some(vec!["backup.service".into()]);
    sample.cgroups = vec![Cgroup {
        name: "system.slice/postgresql.service".into(),
        cpu_seconds: 0.5 * seq as f64,
        memory_bytes: 402_653_184,
        io_read_bytes: 1024 * seq,
        io_written_bytes: 2048 * seq,
    }];
    sample.kernel = Some(KernelCounters {
        context_switches: 1000 * seq,
        interrupts: 500 * seq,
        forks: 10 * seq,
        procs_running: 2,
        procs_blocked: 0,
    });
    sample.file_handles = Some(FileHandles {
        allocated: 2310,
        maximum: 2_466_170,
    });
    sample
}

/// `text` with every clock reading made relative (`ts_ms`) or a placeholder (the rest).
fn normalize(text: &str, base: u64) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("_ms\":") {
        let (head, tail) = rest.split_at(at + 5);
        out.push_str(head);
        let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
        let key = &head[head[..head.len() - 2].rfind('"').unwrap_or(0)..];
        let value: u64 = tail[..digits].parse().unwrap_or(0);
        match key {
            "\"ts_ms\":" | "\"from_ms\":" | "\"to_ms\":" if digits > 0 => {
                out.push_str(&format!("\"base+{}\"", value - base))
            }
            "\"last_seen_ms\":" | "\"server_time_ms\":" if digits > 0 => out.push_str("\"now\""),
            _ => out.push_str(&tail[..digits]),
        }
        rest = &tail[digits..];
    }
    out.push_str(rest);
    out
}

async fn next_text(ws: &mut Ws) -> String {
    tokio::time::timeout(DEADLINE, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) => return text.to_string(),
                Some(Ok(_)) => continue,
                other => panic!("dashboard stream ended: {other:?}"),
            }
        }
    })
    .await
    .expect("no dashboard message")
}

async fn send_sample(edge: &mut GoodEdge, base: u64) {
    edge.seq += 1;
    let frame = EdgeFrame::Sample(golden_sample(base, edge.seq));
    send_text(&mut edge.ws, utizmon_protocol::encode(&frame)).await;
    expect_ack(&mut edge.ws, edge.seq).await;
}

#[tokio::test]
async fn api_and_stream_json_is_unchanged() {
    let server = TestServer::start(&[]).await;
    // A whole ten seconds, so the 2 s buckets of the details query start at `base` on
    // every run (an odd second flipped them half the time).
    let base = (now_ms() / 10_000 - 6) * 10_000;
    let mut edge = GoodEdge::connect(&server, "golden-1", None).await;
    wait_for("the hello", || server.host("golden-1")).await;
    let mut overview = connect(&format!("ws://{}/ws/dashboard", server.addr), None).await;
    let mut detail = connect(
        &format!("ws://{}/ws/dashboard?host=golden-1", server.addr),
        None,
    )
    .await;
    let mut recorded = Vec::new();
    let mut record = |name: &str, text: String| {
        recorded.push(format!("== {name}\n{}\n", normalize(&text, base)));
    };
    record(
        "overview snapshot, no sample",
        next_text(&mut overview).await,
    );
    record("detail snapshot, no sample", next_text(&mut detail).await);
    send_sample(&mut edge, base).await;
    record(
        "overview update, one sample",
        next_text(&mut overview).await,
    );
    record("detail update, one sample", next_text(&mut detail).await);
    send_sample(&mut edge, base).await;
    send_sample(&mut edge, base).await;
    wait_for("three samples in the API", || async {
        let host = server.host("golden-1").await?;
        (host["edge"]["last_seq"] == 3).then_some(())
    })
    .await;
    for path in [
        "/api/v1/hosts",
        "/api/v1/hosts/golden-1",
        &format!(
            "/api/v1/hosts/golden-1/samples?from={base}&to={}",
            base + 10_000
        ),
        &format!(
            "/api/v1/hosts/golden-1/details?from={base}&to={}",
            base + 10_000
        ),
        &format!(
            "/api/v1/hosts/golden-1/details?from={base}&to={}&step=2000",
            base + 10_000
        ),
        "/api/v1/hosts/nope",
    ] {
        let res = server.get(path).await;
        record(&format!("GET {path} -> {}", res.status), res.body);
    }
    let mut overview = connect(&format!("ws://{}/ws/dashboard", server.addr), None).await;
    record(
        "overview snapshot, three samples",
        next_text(&mut overview).await,
    );
    let mut detail = connect(
        &format!("ws://{}/ws/dashboard?host=golden-1", server.addr),
        None,
    )
    .await;
    record(
        "detail snapshot, three samples",
        next_text(&mut detail).await,
    );
    drop(edge);
    record("overview update, offline", next_text(&mut overview).await);
    record("detail update, offline", next_text(&mut detail).await);

    let got = recorded.concat().replace(
        &format!("from={base}&to={}", base + 10_000),
        "from=base&to=base+10000",
    );
    if std::env::var_os("UTIZMON_UPDATE_GOLDEN").is_some() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/views.txt");
        std::fs::write(path, &got).unwrap();
        return;
    }
    for (got, want) in got.lines().zip(GOLDEN.lines()) {
        assert_eq!(got, want);
    }
    assert_eq!(got, GOLDEN);
    server.stop().await.unwrap();
}
