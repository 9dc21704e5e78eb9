//! `/ws/dashboard` against an in-process server: snapshot and update shapes, the detail
//! stream, and that browsers that never read do not slow ingest.

mod common;

use std::time::Instant;

use common::*;
use futures_util::StreamExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

async fn next_json(ws: &mut Ws) -> Value {
    tokio::time::timeout(DEADLINE, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) => return serde_json::from_str(&text).unwrap(),
                Some(Ok(_)) => continue,
                other => panic!("dashboard stream ended: {other:?}"),
            }
        }
    })
    .await
    .expect("no dashboard message")
}

#[tokio::test]
async fn overview_sends_snapshot_then_changed_hosts_only() {
    let server = TestServer::start(&[]).await;
    let mut a = GoodEdge::connect(&server, "a-host", None).await;
    let mut b = GoodEdge::connect(&server, "b-host", None).await;
    a.step().await;
    b.step().await;

    let mut dash = connect(&format!("ws://{}/ws/dashboard", server.addr), None).await;
    let snapshot = next_json(&mut dash).await;
    assert_eq!(snapshot["type"], "snapshot");
    assert!(snapshot["server_time_ms"].as_u64().unwrap() > 0);
    let hosts = snapshot["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 2);
    let h = &hosts[0];
    assert_eq!(h["host"], "a-host");
    assert_eq!(h["status"], "online");
    assert_eq!(h["os"], "Debian GNU/Linux 12");
    assert_eq!(h["cores"], 2);
    assert_eq!(h["cpu_ratio"], 0.25);
    assert_eq!(h["mem_ratio"], 0.25);
    assert_eq!(h["fs_max_ratio"], 0.6);
    assert_eq!(h["fs_max_mountpoint"], "/");
    assert_eq!(h["load1"], 0.5);
    assert_eq!(h["uptime_seconds"], 1234.0);
    assert!(
        h["rx_bytes_per_second"].is_null(),
        "no rate after one sample"
    );
    assert_eq!(h["cpu_history"].as_array().unwrap().len(), 1);
    assert_eq!(
        server.metric("utizmon_server_dashboard_clients").await,
        Some(1.0)
    );

    // Only a-host changes: the update carries only a-host, without cpu_history.
    a.step().await;
    let update = next_json(&mut dash).await;
    assert_eq!(update["type"], "update");
    let hosts = update["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 1, "{update}");
    assert_eq!(hosts[0]["host"], "a-host");
    assert!(hosts[0].get("cpu_history").is_none());
    assert!(hosts[0]["rx_bytes_per_second"].is_number());

    // Going offline is a change too.
    drop(b);
    let update = next_json(&mut dash).await;
    assert_eq!(update["hosts"][0]["host"], "b-host");
    assert_eq!(update["hosts"][0]["status"], "offline");

    // Updates are at least 500 ms apart however fast samples come.
    let start = Instant::now();
    let mut updates = 0;
    while start.elapsed().as_millis() < 1200 {
        a.step().await;
        if let Ok(Some(Ok(Message::Text(_)))) =
            tokio::time::timeout(std::time::Duration::from_millis(1), dash.next()).await
        {
            updates += 1;
        }
    }
    assert!(updates <= 3, "{updates} updates in 1.2 s");
}

#[tokio::test]
async fn detail_stream_sends_full_host_views() {
    let server = TestServer::start(&[]).await;
    let url = format!("ws://{}/ws/dashboard?host=%3Cimg%20src%3Dx%3E", server.addr);
    let mut dash = connect(&url, None).await;
    let snapshot = next_json(&mut dash).await;
    assert_eq!(snapshot["type"], "snapshot");
    assert_eq!(snapshot["hosts"].as_array().unwrap().len(), 0);

    let mut edge = GoodEdge::connect(&server, "<img src=x>", None).await;
    let mut other = GoodEdge::connect(&server, "other", None).await;
    edge.step().await;
    other.step().await;
    let update = loop {
        let update = next_json(&mut dash).await;
        assert_eq!(update["type"], "update");
        let hosts = update["hosts"].as_array().unwrap();
        assert_eq!(hosts.len(), 1);
        assert_eq!(hosts[0]["host"], "<img src=x>");
        if !hosts[0]["latest"].is_null() {
            break update;
        }
    };
    let view = &update["hosts"][0];
    assert_eq!(view["latest"]["seq"], 1);
    assert_eq!(view["edge"]["run_id"], "good-run");
    assert_eq!(view["info"]["cores"], 2);
}

#[tokio::test]
async fn browsers_that_never_read_do_not_slow_ingest() {
    // Silence is not under test: a loaded machine may take seconds to set up twenty edges.
    let server = TestServer::start(&["--offline-after", "60s"]).await;
    // Twenty hosts so that every update is sizeable.
    let mut edges = Vec::new();
    for i in 0..20 {
        let mut edge = GoodEdge::connect(&server, &format!("host-{i:02}"), None).await;
        edge.step().await;
        edges.push(edge);
    }
    // Dashboards that connect and then never read a byte.
    let mut stalled = Vec::new();
    for i in 0..5 {
        let query = if i % 2 == 0 { "" } else { "?host=host-00" };
        stalled.push(connect(&format!("ws://{}/ws/dashboard{query}", server.addr), None).await);
    }
    // Each edge pipelines 50 samples (a replay burst), then waits for the final ack.
    for edge in &mut edges {
        for _ in 0..50 {
            edge.seq += 1;
            send_text(&mut edge.ws, sample_text(edge.seq)).await;
        }
    }
    for edge in &mut edges {
        expect_ack(&mut edge.ws, edge.seq).await;
    }
    // A design where ingest waited on browsers would get its acks only after the 10 s send
    // timeout dropped them; here every sample is acked while all five are still connected.
    // (No wall-clock bound: on a loaded machine that would measure the machine.)
    assert_eq!(
        server.metric("utizmon_server_dashboard_clients").await,
        Some(5.0)
    );
    assert_eq!(
        server.metric("utizmon_server_samples_received_total").await,
        Some(20.0 * 51.0)
    );
    drop(stalled);
    wait_for("dashboard clients gone", || async {
        (server.metric("utizmon_server_dashboard_clients").await == Some(0.0)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn shutdown_closes_dashboards_with_going_away() {
    let server = TestServer::start(&[]).await;
    let mut dash = connect(&format!("ws://{}/ws/dashboard", server.addr), None).await;
    next_json(&mut dash).await;
    server.shutdown.cancel();
    let close = tokio::time::timeout(DEADLINE, async {
        loop {
            match dash.next().await {
                Some(Ok(Message::Close(frame))) => return frame,
                Some(Ok(_)) => continue,
                other => panic!("{other:?}"),
            }
        }
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(u16::from(close.code), 1001);
    server.stop().await.unwrap();
}

/// The detail stream carries the history point the store keeps for the newest sample,
/// field for field as the samples API serves it, so the host page appends it as it is;
/// the API's host view stays without it.
#[tokio::test]
async fn detail_stream_carries_the_stored_point() {
    let server = TestServer::start(&[]).await;
    let url = format!("ws://{}/ws/dashboard?host=pointed", server.addr);
    let mut dash = connect(&url, None).await;
    assert_eq!(next_json(&mut dash).await["type"], "snapshot");

    let mut edge = GoodEdge::connect(&server, "pointed", None).await;
    let hello = next_json(&mut dash).await;
    assert!(hello["hosts"][0]["latest"].is_null());
    assert!(
        hello["hosts"][0]["point"].is_null(),
        "no sample, no point: {hello}"
    );
    edge.step().await;
    edge.step().await;
    let host = loop {
        let update = next_json(&mut dash).await;
        if update["hosts"][0]["latest"]["seq"] == 2 {
            break update["hosts"][0].clone();
        }
    };
    let point = &host["point"];
    assert_eq!(point["ts_ms"], host["latest"]["ts_ms"]);
    assert_eq!(point["cpu_ratio"], host["latest"]["cpu"]["usage_ratio"]);
    assert_eq!(point["cpu_ratio_min"], point["cpu_ratio"]);

    // The same point, byte for byte, is what the history API returns for that sample.
    let ts = point["ts_ms"].as_u64().unwrap();
    let samples = server
        .json(&format!(
            "/api/v1/hosts/pointed/samples?from={}&to={}",
            ts - 5000,
            ts + 5000
        ))
        .await;
    let stored = samples["points"].as_array().unwrap();
    assert_eq!(stored.last(), Some(point), "{samples}");

    let api = server.json("/api/v1/hosts/pointed").await;
    assert!(
        api.get("point").is_none(),
        "the API's HostView is unchanged: {api}"
    );
    server.stop().await.unwrap();
}
