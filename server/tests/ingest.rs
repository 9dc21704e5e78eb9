//! Edge ingest against an in-process server over real sockets: the happy path, every class
//! of bad input (each closes only its own connection, is counted, and leaves a concurrently
//! streaming good edge alone), host-name conflicts, offline detection and shutdown.

mod common;

use std::time::Duration;

use common::*;
use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;

/// A frame a misbehaving edge sends.
enum Frame {
    Text(String),
    Binary(Vec<u8>),
    /// A text message in WebSocket fragments of this many bytes.
    Fragmented(String, usize),
}

/// `text` as a text fragment and continuations of at most `size` bytes each (RFC 6455,
/// section 5.4), the way an edge sends a large sample.
fn fragments(text: &str, size: usize) -> Vec<Message> {
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::Frame as WsFrame;
    let chunks: Vec<&[u8]> = text.as_bytes().chunks(size).collect();
    let last = chunks.len() - 1;
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, chunk)| {
            let opcode = OpCode::Data(if i == 0 { Data::Text } else { Data::Continue });
            Message::Frame(WsFrame::message(chunk.to_vec(), opcode, i == last))
        })
        .collect()
}

/// Runs one misbehaving edge next to a good one and checks the refusal end to end.
async fn check_refused(frames: Vec<Frame>, reason: &str, code: u16) {
    let server = TestServer::start(&[]).await;
    check_refused_on(&server, None, frames, reason, code).await;
}

async fn check_refused_on(
    server: &TestServer,
    token: Option<&str>,
    frames: Vec<Frame>,
    reason: &str,
    code: u16,
) {
    let mut good = GoodEdge::connect(server, "good", token).await;
    good.step().await;
    let before = server.rejected(reason).await;

    let mut bad = connect(&server.edge_url(), token).await;
    for frame in frames {
        let messages = match frame {
            Frame::Text(text) => vec![Message::Text(text.into())],
            Frame::Binary(bytes) => vec![Message::Binary(bytes.into())],
            Frame::Fragmented(text, size) => fragments(&text, size),
        };
        for message in messages {
            bad.send(message).await.unwrap();
        }
    }
    let ending = read_until_close(&mut bad).await;
    assert_eq!(ending.error_code.as_deref(), Some(reason), "{ending:?}");
    assert_eq!(ending.close_code, Some(code), "{ending:?}");
    assert!(
        ending.close_reason.starts_with(&format!("{reason}: ")),
        "{ending:?}"
    );
    assert!(ending.close_reason.len() <= 123);

    assert_eq!(server.rejected(reason).await, before + 1.0);
    // The good edge keeps streaming and being acked.
    good.step().await;
    good.step().await;
    let host = server.host("good").await.unwrap();
    assert_eq!(host["status"], "online");
    assert_eq!(host["edge"]["last_seq"], good.seq);
}

fn hello(host: &str) -> Frame {
    Frame::Text(hello_text(host, "bad-run"))
}

fn sample_with(edit: impl FnOnce(&mut utizmon_protocol::Sample)) -> Frame {
    let mut s = sample(1);
    edit(&mut s);
    Frame::Text(utizmon_protocol::encode(
        &utizmon_protocol::EdgeFrame::Sample(s),
    ))
}

#[tokio::test]
async fn valid_edge_appears_in_api_and_metrics() {
    let server = TestServer::start(&[]).await;
    let mut edge = GoodEdge::connect(&server, "web-1", None).await;
    edge.step().await;
    edge.step().await;
    let host = server.host("web-1").await.unwrap();
    assert_eq!(host["status"], "online");
    assert_eq!(host["connected"], true);
    assert_eq!(host["info"]["os_name"], "Debian GNU/Linux");
    assert_eq!(host["latest"]["seq"], 2);
    assert_eq!(host["latest"]["cpu"]["usage_ratio"], 0.25);
    // Nobody is logged in on an open loopback server: run ids are not shown (issue 10).
    assert!(host["edge"]["run_id"].is_null());
    assert_eq!(host["edge"]["first_seq"], 1);
    assert_eq!(host["edge"]["received"], 2);
    assert!(host["rates"]["networks"].is_array());
    let one = server.json("/api/v1/hosts/web-1").await;
    assert_eq!(one["host"], "web-1");
    assert_eq!(server.get("/api/v1/hosts/nope").await.status, 404);

    let metrics = server.metrics().await;
    for (series, value) in [
        (r#"utizmon_cpu_usage_ratio{host="web-1"}"#, 0.25),
        (r#"utizmon_memory_total_bytes{host="web-1"}"#, 8e9),
        (r#"utizmon_edge_connected{host="web-1"}"#, 1.0),
        (
            r#"utizmon_network_receive_bytes_total{host="web-1",device="eth0"}"#,
            2000.0,
        ),
        ("utizmon_server_edges_connected", 1.0),
        ("utizmon_server_samples_received_total", 2.0),
    ] {
        assert_eq!(
            metric_value(&metrics, series),
            Some(value),
            "{series}\n{metrics}"
        );
    }
    // A short range, so the point cap's minimum step (range / 1,999) is a few ms and the
    // two samples (sent one ack apart, at least the store's batch window) stay two points;
    // over the default 5 minutes they would share a 151 ms bucket.
    let now = utizmon_protocol::now_ms();
    let path = format!(
        "/api/v1/hosts/web-1/samples?from={}&to={}",
        now - 10_000,
        now + 1_000
    );
    let history = server.json(&path).await;
    assert_eq!(history["points"].as_array().unwrap().len(), 2);
    assert_eq!(history["points"][1]["networks"][0]["device"], "eth0");
}

#[tokio::test]
async fn duplicates_are_acked_counted_and_not_applied() {
    let server = TestServer::start(&[]).await;
    let mut ws = connect(&server.edge_url(), None).await;
    send_text(&mut ws, hello_text("dup", "r1")).await;
    for seq in [1, 2, 3, 2, 3, 5] {
        send_text(&mut ws, sample_text(seq)).await;
    }
    expect_ack(&mut ws, 5).await;
    let edge = server.host("dup").await.unwrap()["edge"].clone();
    assert_eq!(edge["received"], 4);
    assert_eq!(edge["duplicates"], 2);
    assert_eq!(edge["gaps"], 1);
    assert_eq!(edge["last_seq"], 5);
}

#[tokio::test]
async fn garbage_text_is_malformed() {
    check_refused(
        vec![Frame::Text("not json at all".into())],
        "malformed",
        1007,
    )
    .await;
}

#[tokio::test]
async fn invalid_json_is_malformed() {
    check_refused(
        vec![Frame::Text(r#"{"type":"hello","#.into())],
        "malformed",
        1007,
    )
    .await;
}

#[tokio::test]
async fn missing_fields_are_malformed() {
    let frames = vec![
        hello("h"),
        Frame::Text(r#"{"type":"sample","seq":1}"#.into()),
    ];
    check_refused(frames, "malformed", 1007).await;
}

#[tokio::test]
async fn frames_over_64_kib_are_too_large() {
    let big = format!(
        "{{\"type\":\"hello\",\"pad\":\"{}\"}}",
        "x".repeat(70 * 1024)
    );
    check_refused(vec![Frame::Text(big)], "too_large", 1009).await;
}

#[tokio::test]
async fn a_sample_in_fragments_is_taken_whole() {
    let server = TestServer::start(&[]).await;
    let mut ws = connect(&server.edge_url(), None).await;
    for message in fragments(&hello_text("frag", "r1"), 100) {
        ws.send(message).await.unwrap();
    }
    for seq in 1..=3 {
        // Small fragments, so that cuts fall everywhere: inside names, numbers, strings.
        for message in fragments(&sample_text(seq), 7 + seq as usize) {
            ws.send(message).await.unwrap();
        }
    }
    expect_ack(&mut ws, 3).await;
    let host = server.host("frag").await.unwrap();
    assert_eq!(host["latest"]["seq"], 3);
    assert_eq!(host["latest"]["cpu"]["usage_ratio"], 0.25);
    assert_eq!(host["edge"]["received"], 3);
}

#[tokio::test]
async fn fragmented_frames_over_64_kib_are_too_large() {
    let big = format!(
        "{{\"type\":\"hello\",\"pad\":\"{}\"}}",
        "x".repeat(70 * 1024)
    );
    check_refused(vec![Frame::Fragmented(big, 1536)], "too_large", 1009).await;
}

/// Sends `messages` (together over 1 MiB) beside a good edge: the bad one is refused as
/// too large, without a panic, and the good one keeps being acked.
async fn check_over_1_mib_refused(messages: Vec<Message>) {
    let server = TestServer::start(&[]).await;
    let mut good = GoodEdge::connect(&server, "good", None).await;
    good.step().await;
    let mut bad = connect(&server.edge_url(), None).await;
    // The server may close while this is still being written.
    for message in messages {
        if bad.send(message).await.is_err() {
            break;
        }
    }
    let _ = tokio::time::timeout(DEADLINE, async {
        use futures_util::StreamExt;
        while let Some(Ok(_)) = bad.next().await {}
    })
    .await;
    wait_for("too_large counted", || async {
        (server.rejected("too_large").await == 1.0).then_some(())
    })
    .await;
    good.step().await;
    assert_eq!(server.get("/healthz").await.body, "ok");
}

#[tokio::test]
async fn fragmented_messages_over_1_mib_are_refused_without_panic() {
    // Each fragment is small; only their sum is over the limit.
    check_over_1_mib_refused(fragments(&"x".repeat(2 << 20), 64 * 1024)).await;
}

#[tokio::test]
async fn frames_over_1_mib_are_refused_without_panic() {
    check_over_1_mib_refused(vec![Message::Text("x".repeat(2 << 20).into())]).await;
}

#[tokio::test]
async fn binary_frames_are_refused() {
    check_refused(
        vec![Frame::Binary(b"{\"type\":\"hello\"}".to_vec())],
        "binary",
        1003,
    )
    .await;
}

#[tokio::test]
async fn non_finite_numbers_are_refused() {
    let text = sample_text(1).replace("0.25", "1e999");
    check_refused(vec![hello("h"), Frame::Text(text)], "malformed", 1007).await;
    let text = sample_text(1).replace("0.25", "NaN");
    check_refused(vec![hello("h"), Frame::Text(text)], "malformed", 1007).await;
}

#[tokio::test]
async fn ratios_outside_zero_one_are_refused() {
    let frame = sample_with(|s| s.cpu.usage_ratio = 1.5);
    check_refused(vec![hello("h"), frame], "out_of_range", 1007).await;
    let frame = sample_with(|s| s.cpu.cores[0] = -0.5);
    check_refused(vec![hello("h"), frame], "out_of_range", 1007).await;
}

#[tokio::test]
async fn bad_host_names_are_refused() {
    for name in [
        String::new(),
        "a".repeat(254),
        "tab\there".into(),
        "nl\nx".into(),
    ] {
        check_refused(vec![hello(&name)], "host_name", 1007).await;
    }
}

#[tokio::test]
async fn unknown_major_version_is_refused() {
    let text = hello_text("h", "r").replace("\"version\":1", "\"version\":2");
    check_refused(vec![Frame::Text(text)], "version", 4426).await;
}

#[tokio::test]
async fn sample_before_hello_is_a_protocol_error() {
    check_refused(vec![Frame::Text(sample_text(1))], "protocol", 1002).await;
}

#[tokio::test]
async fn second_hello_is_a_protocol_error() {
    check_refused(vec![hello("h"), hello("h")], "protocol", 1002).await;
}

#[tokio::test]
async fn conflicting_host_name_from_another_run_is_refused() {
    // "good" is live with run "good-run"; a hello for it from another run is refused.
    check_refused(vec![hello("good")], "host_conflict", 4409).await;
}

#[tokio::test]
async fn same_run_reconnecting_supersedes_the_old_connection() {
    let server = TestServer::start(&[]).await;
    let mut old = GoodEdge::connect(&server, "h", None).await;
    old.step().await;
    let mut new = GoodEdge::connect(&server, "h", None).await;
    new.seq = old.seq;
    new.step().await;
    let ending = read_until_close(&mut old.ws).await;
    assert_eq!(ending.close_code, Some(4409));
    assert_eq!(
        ending.close_reason,
        "host_conflict: superseded by a newer connection for this host name"
    );
    new.step().await;
    let host = server.host("h").await.unwrap();
    assert_eq!(host["status"], "online");
    assert_eq!(host["edge"]["received"], 3);
    assert_eq!(
        server.metric("utizmon_server_edges_connected").await,
        Some(1.0)
    );
}

#[tokio::test]
async fn wrong_or_missing_token_is_unauthorized() {
    let dir = std::env::temp_dir().join(format!("utizmon-ingest-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("token");
    std::fs::write(&path, "s3cret\n").unwrap();
    let server = TestServer::start(&["--edge-token-file", path.to_str().unwrap()]).await;
    for token in [None, Some("wrong")] {
        let mut good = GoodEdge::connect(&server, "good", Some("s3cret")).await;
        good.step().await;
        let before = server.rejected("unauthorized").await;
        let mut bad = connect(&server.edge_url(), token).await;
        send_text(&mut bad, hello_text("bad", "r")).await;
        let ending = read_until_close(&mut bad).await;
        assert_eq!(ending.error_code.as_deref(), Some("unauthorized"));
        assert_eq!(ending.close_code, Some(4401));
        assert!(ending.close_reason.starts_with("unauthorized: "));
        assert_eq!(server.rejected("unauthorized").await, before + 1.0);
        good.step().await;
        drop(good);
        wait_for("good edge offline", || async {
            (server.host("good").await?["status"] == "offline").then_some(())
        })
        .await;
    }
    assert!(server.host("bad").await.is_none());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn hostile_host_names_are_stored_and_exported_escaped() {
    let server = TestServer::start(&[]).await;
    let names = ["<img src=x onerror=alert(1)>", r#"quo"te"#, r"back\slash"];
    let mut edges = Vec::new();
    for name in names {
        let mut edge = GoodEdge::connect(&server, name, None).await;
        edge.step().await;
        edges.push(edge);
    }
    for name in names {
        assert_eq!(server.host(name).await.unwrap()["host"], name);
    }
    let metrics = server.metrics().await;
    for escaped in [
        r#"utizmon_load1{host="<img src=x onerror=alert(1)>"}"#,
        r#"utizmon_load1{host="quo\"te"}"#,
        r#"utizmon_load1{host="back\\slash"}"#,
    ] {
        assert_eq!(
            metric_value(&metrics, escaped),
            Some(0.5),
            "{escaped}\n{metrics}"
        );
    }
    let om = http_get(
        server.addr,
        "/metrics",
        Some("application/openmetrics-text"),
    )
    .await;
    let samples = openmetrics::parse(&om.body).unwrap();
    let hosts: Vec<&str> = samples
        .iter()
        .filter(|s| s.name == "utizmon_load1")
        .flat_map(|s| s.labels.iter().map(|(_, v)| v.as_str()))
        .collect();
    for name in names {
        assert!(hosts.contains(&name), "{name} not in {hosts:?}");
    }
}

#[tokio::test]
async fn silent_edge_goes_offline_and_is_closed() {
    let server = TestServer::start(&["--offline-after", "300ms"]).await;
    let mut edge = GoodEdge::connect(&server, "quiet", None).await;
    edge.step().await;
    assert_eq!(server.host("quiet").await.unwrap()["status"], "online");
    // The edge now says nothing; the server closes it and shows it offline.
    let ending = read_until_close(&mut edge.ws).await;
    assert_eq!(ending.close_code, Some(1008));
    assert!(ending.close_reason.starts_with("silent: "), "{ending:?}");
    let host = server.host("quiet").await.unwrap();
    assert_eq!(host["status"], "offline");
    assert_eq!(host["latest"]["seq"], 1, "last values are kept");
    assert_eq!(
        server
            .metric(r#"utizmon_edge_connected{host="quiet"}"#)
            .await,
        Some(0.0)
    );
    assert_eq!(
        server
            .metric(r#"utizmon_cpu_usage_ratio{host="quiet"}"#)
            .await,
        Some(0.25)
    );
}

#[tokio::test]
async fn disconnected_hosts_stay_listed_offline() {
    let server = TestServer::start(&[]).await;
    let mut edge = GoodEdge::connect(&server, "gone", None).await;
    edge.step().await;
    edge.ws.close(None).await.unwrap();
    wait_for("host offline", || async {
        (server.host("gone").await?["status"] == "offline").then_some(())
    })
    .await;
    assert_eq!(
        server.metric("utizmon_server_edges_connected").await,
        Some(0.0)
    );
}

#[tokio::test]
async fn shutdown_closes_edges_with_going_away() {
    let server = TestServer::start(&[]).await;
    let mut edge = GoodEdge::connect(&server, "h", None).await;
    edge.step().await;
    server.shutdown.cancel();
    let ending = read_until_close(&mut edge.ws).await;
    assert_eq!(ending.close_code, Some(1001));
    assert_eq!(ending.close_reason, "going away: server shutting down");
    server.stop().await.unwrap();
}

/// The store commits a batch within ~100 ms, so an edge at 1 Hz has its sample acked long
/// before the next one is due: it never holds more than one unacknowledged sample. Latency
/// figures themselves are `make bench`'s job; this asserts the contract, with room for a busy
/// machine.
#[tokio::test]
async fn acks_come_before_the_next_sample_is_due() {
    let server = TestServer::start(&[]).await;
    let mut edge = GoodEdge::connect(&server, "fast", None).await;
    let mut slow = Vec::new();
    for _ in 0..5 {
        let start = std::time::Instant::now();
        edge.step().await;
        if start.elapsed() >= Duration::from_secs(1) {
            slow.push(start.elapsed());
        }
    }
    assert!(
        slow.is_empty(),
        "acks slower than the 1 s interval: {slow:?}"
    );
}

/// A runtime that falls behind (here the whole server, frozen with SIGSTOP) polls the
/// silence timer late. An edge whose sample is already waiting on the socket by then was
/// not silent, and its connection must survive.
#[tokio::test]
async fn a_sample_waiting_on_the_socket_beats_a_late_silence_timer() {
    let data = tempfile::tempdir().unwrap();
    let (server, addr) =
        process::start_server("127.0.0.1:0", data.path(), &["--offline-after", "1s"]).await;
    let mut ws = connect(&format!("ws://{addr}/ws/edge"), None).await;
    send_text(&mut ws, hello_text("busy", "run-1")).await;
    send_text(&mut ws, sample_text(1)).await;
    expect_ack(&mut ws, 1).await;

    server.signal("-STOP");
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Within the silence window, but nobody reads it until the server runs again.
    send_text(&mut ws, sample_text(2)).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    server.signal("-CONT");

    expect_ack(&mut ws, 2).await;
    send_text(&mut ws, sample_text(3)).await;
    expect_ack(&mut ws, 3).await;
}
