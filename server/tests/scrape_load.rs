//! Issue 10's scrape attack, replayed against a real server process: with 5,000 hosts known,
//! two `/metrics` scrapes at once must not stall ingest. Before `/metrics` was encoded off the
//! runtime and streamed, two scrapes of a large fleet froze the server's two runtime threads
//! long enough that every healthy edge was closed as silent.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::prefill::{fill, record};
use common::process::start_server;
use common::*;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use utizmon_protocol::{decode_server, encode, EdgeFrame, ServerFrame};

const HOSTS: usize = 5_000;
const STREAMING: usize = 50;
/// Each invented host reports this many filesystems and interfaces, so a scrape is
/// megabytes.
const OBJECTS: usize = 8;

/// How many hosts the server lists.
async fn listed(addr: std::net::SocketAddr) -> usize {
    let res = http_get(addr, "/api/v1/hosts", None).await;
    let value: serde_json::Value = serde_json::from_str(&res.body).unwrap_or_default();
    value["hosts"].as_array().map_or(0, Vec::len)
}

/// An edge sampling every second until `stop`; returns how many samples were acked, or
/// how its connection ended if the server closed it.
async fn stream(url: String, host: String, stop: Arc<AtomicBool>) -> Result<u64, String> {
    let mut ws = connect(&url, None).await;
    send_text(&mut ws, hello_text(&host, "live")).await;
    let mut seq = 0;
    while !stop.load(Ordering::SeqCst) {
        seq += 1;
        let frame = encode(&EdgeFrame::Sample(sample(seq)));
        ws.send(Message::text(frame))
            .await
            .map_err(|e| format!("{host}: send {seq}: {e}"))?;
        let sent = Instant::now();
        // Acks must keep coming while the scrapes run; the server's silence limit is 3 s.
        loop {
            let next = tokio::time::timeout(DEADLINE, ws.next())
                .await
                .map_err(|_| format!("{host}: no ack for {seq} within {DEADLINE:?}"))?;
            match next {
                Some(Ok(Message::Text(text))) => {
                    if let Ok(ServerFrame::Ack(ack)) = decode_server(text.as_str()) {
                        if ack.seq >= seq {
                            break;
                        }
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    return Err(format!("{host}: closed by the server: {frame:?}"))
                }
                Some(Ok(_)) => {}
                other => return Err(format!("{host}: connection ended: {other:?}")),
            }
        }
        tokio::time::sleep(Duration::from_secs(1).saturating_sub(sent.elapsed())).await;
    }
    Ok(seq)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_scrapes_of_5000_hosts_close_no_streaming_edge() {
    // The invented hosts are written into the store first and restored at start-up: the
    // server keeps every known host in its live model either way, and this takes a second
    // where 5,000 WebSocket registrations took a minute.
    let data = tempfile::tempdir().unwrap();
    let now = now_ms();
    fill(
        data.path(),
        (0..HOSTS).map(|i| record(&format!("bulk-{i}"), 1, now - 5_000, OBJECTS)),
    )
    .await;
    let (_server, addr) = start_server("127.0.0.1:0", data.path(), &[]).await;
    let url = format!("ws://{addr}/ws/edge");
    wait_for("every invented host to be listed", || async {
        (listed(addr).await >= HOSTS).then_some(())
    })
    .await;

    let stop = Arc::new(AtomicBool::new(false));
    let edges: Vec<_> = (0..STREAMING)
        .map(|i| tokio::spawn(stream(url.clone(), format!("live-{i}"), Arc::clone(&stop))))
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;

    let scrape = || async move {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let started = Instant::now();
        let body = client
            .get(format!("http://{addr}/metrics"))
            .header("accept", "application/openmetrics-text; version=1.0.0")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        (body, started.elapsed())
    };
    let ((one, took_one), (two, took_two)) = tokio::join!(scrape(), scrape());
    for body in [&one, &two] {
        assert!(body.ends_with("# EOF\n"), "a scrape was cut short");
        assert!(body.contains(&format!("host=\"bulk-{}\"", HOSTS - 1)));
    }
    // Streaming goes on for a while after the scrapes, so a stall that closes edges late
    // is seen too.
    tokio::time::sleep(Duration::from_secs(4)).await;
    stop.store(true, Ordering::SeqCst);

    let mut failures = Vec::new();
    for edge in edges {
        match edge.await.unwrap() {
            Ok(acked) => assert!(acked >= 4, "an edge got only {acked} acks"),
            Err(why) => failures.push(why),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {STREAMING} streaming edges failed while two scrapes of {} MB ran ({took_one:?}, {took_two:?}): {failures:?}",
        failures.len(),
        one.len() / 1_000_000
    );
}
