//! Pins the exact JSON the server sends today: `/api/v1/hosts`, `/api/v1/hosts/{host}`,
//! `/api/v1/hosts/{host}/samples` and both `/ws/dashboard` streams, byte for byte (field
//! order included), so moving the view types between modules cannot change what scripts
//! and browsers receive. Clock readings are replaced by placeholders before comparing.

mod common;

use common::*;
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;
use utizmon_protocol::{EdgeFrame, Network, Sample};

/// The recorded shapes; rewrite with `UTIZMON_UPDATE_GOLDEN=1` only for an intended change.
const GOLDEN: &str = include_str!("golden/views.txt");

/// Sample `seq` of the golden edge: fixed values, `ts_ms` one second apart from `base`.
fn golden_sample(base: u64, seq: u64) -> Sample {
    let mut sample = sample(seq);
    sample.ts_ms = base + seq * 1000;
    sample.cpu.usage_ratio = 0.123_456_7 * seq as f64;
    sample.networks.push(Network {
        device: "lo".into(),
        rx_bytes: 7 * seq,
        tx_bytes: 7 * seq,
        ..Network::default()
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
    let base = (now_ms() / 1000 - 60) * 1000;
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
