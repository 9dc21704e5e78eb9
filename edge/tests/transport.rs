//! The edge's `run` in-process against a small WebSocket master on 127.0.0.1: hello,
//! sample order, acks, replay after a dropped connection, the token header, a full
//! replay buffer and shutdown.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;
use utizmon_edge::Config;
use utizmon_protocol::PROTOCOL_VERSION;

use support::{accept, assert_consecutive, bind, master_url, rebind, DEADLINE};

/// An edge running in this process; cancelled when dropped.
struct Edge {
    shutdown: CancellationToken,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Edge {
    /// An edge sampling every 100 ms as `host` for the test master at `addr`, plus `extra`
    /// flags.
    fn at(addr: SocketAddr, host: &str, extra: &[&str]) -> Edge {
        let master = master_url(addr);
        let mut args = vec![
            "--master",
            &master,
            "--interval",
            "100ms",
            "--host-name",
            host,
        ];
        args.extend_from_slice(extra);
        Edge::start(&args)
    }

    fn start(args: &[&str]) -> Edge {
        let config =
            Config::parse_from(std::iter::once("utizmon-edge").chain(args.iter().copied()));
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(utizmon_edge::run(config, shutdown.clone()));
        Edge {
            shutdown,
            task: Some(task),
        }
    }

    /// Cancels and waits for `run` to return.
    async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        let task = self.task.take().expect("stopped once");
        timeout(DEADLINE, task)
            .await
            .expect("the edge stops within the deadline")
            .expect("the edge task does not panic")
    }
}

impl Drop for Edge {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

#[tokio::test]
async fn sends_a_valid_hello_then_consecutive_samples_and_closes_on_shutdown() {
    let (listener, addr) = bind().await;
    let edge = Edge::at(addr, "it-1", &[]);

    let mut conn = accept(&listener).await;
    assert_eq!(conn.path, "/ws/edge");
    assert_eq!(conn.authorization, None);
    let hello = conn.hello().await;
    assert_eq!(hello.version, PROTOCOL_VERSION);
    assert_eq!(hello.host.host_name, "it-1");
    assert_eq!(hello.interval_ms, 100);
    assert!(hello.host.cores >= 1);
    assert_eq!(hello.host.agent_version, env!("CARGO_PKG_VERSION"));

    let mut seqs = Vec::new();
    let mut last_ts = 0;
    for _ in 0..5 {
        let sample = conn.sample().await;
        assert!(sample.ts_ms >= last_ts);
        assert!(sample.memory.total_bytes > 0);
        last_ts = sample.ts_ms;
        seqs.push(sample.seq);
        conn.ack(sample.seq).await;
    }
    assert_consecutive(&seqs, 1);

    edge.shutdown.cancel();
    let (code, reason) = conn.until_close().await;
    assert_eq!((code, reason.as_str()), (1001, "edge shutting down"));
    edge.stop().await.unwrap();
}

#[tokio::test]
async fn replays_every_unacknowledged_sample_in_order_after_reconnecting() {
    let (listener, addr) = bind().await;
    let edge = Edge::at(addr, "it-2", &[]);

    // First connection: four samples, no ack, then the server vanishes (listener too).
    let mut conn = accept(&listener).await;
    let run_id = conn.hello().await.run_id;
    let first = conn.seqs(4).await;
    assert_consecutive(&first, 1);
    drop(conn);
    drop(listener);

    // The server comes back on the same port: same run, everything from seq 1, no gap.
    let listener = rebind(addr).await;
    let mut conn = accept(&listener).await;
    assert_eq!(
        conn.hello().await.run_id,
        run_id,
        "same process, same run id"
    );
    let replayed = conn.seqs(8).await;
    assert_consecutive(&replayed, 1);

    // Acked samples are forgotten: the next connection starts right after the ack.
    conn.ack(6).await;
    conn.close(1001, "going away: server shutting down").await;
    let mut conn = accept(&listener).await;
    conn.hello().await;
    let after = conn.seqs(4).await;
    assert_consecutive(&after, 7);
    edge.stop().await.unwrap();
}

#[tokio::test]
async fn keeps_retrying_after_an_unauthorized_close() {
    let (listener, addr) = bind().await;
    let edge = Edge::at(addr, "it-3", &[]);
    let mut conn = accept(&listener).await;
    conn.hello().await;
    conn.close(4401, "unauthorized: missing or wrong token")
        .await;
    let mut conn = accept(&listener).await;
    conn.hello().await;
    assert_eq!(
        conn.sample().await.seq,
        1,
        "nothing was acked, so replay starts at 1"
    );
    edge.stop().await.unwrap();
}

#[tokio::test]
async fn sends_the_token_as_a_bearer_header_and_rereads_it_on_reconnect() {
    let path = std::env::temp_dir().join(format!("utizmon-edge-it-token-{}", std::process::id()));
    std::fs::write(&path, "  s3cret-token \n").unwrap();
    let (listener, addr) = bind().await;
    let edge = Edge::at(addr, "it-4", &["--token-file", path.to_str().unwrap()]);
    let mut conn = accept(&listener).await;
    assert_eq!(conn.authorization.as_deref(), Some("Bearer s3cret-token"));
    conn.hello().await;

    // A rotated token is used from the next connection on, without a restart.
    std::fs::write(&path, "rotated\n").unwrap();
    conn.close(4401, "unauthorized: wrong token").await;
    let mut conn = accept(&listener).await;
    assert_eq!(conn.authorization.as_deref(), Some("Bearer rotated"));
    conn.hello().await;

    // A token file that disappears keeps the last good token.
    std::fs::remove_file(&path).unwrap();
    conn.close(1001, "going away").await;
    let mut conn = accept(&listener).await;
    assert_eq!(conn.authorization.as_deref(), Some("Bearer rotated"));
    conn.hello().await;
    edge.stop().await.unwrap();
}

#[tokio::test]
async fn a_full_buffer_drops_the_oldest_samples() {
    let (listener, addr) = bind().await;
    let edge = Edge::at(addr, "it-5", &["--buffer", "3"]);
    // Six samples in flight and none acked: the buffer (3) has already dropped 1..=3.
    let mut conn = accept(&listener).await;
    conn.hello().await;
    assert_consecutive(&conn.seqs(6).await, 1);
    drop(conn);

    let mut conn = accept(&listener).await;
    conn.hello().await;
    let replayed = conn.seqs(5).await;
    assert!(
        replayed[0] >= 4,
        "the oldest samples were dropped: {replayed:?}"
    );
    assert_consecutive(&replayed, replayed[0]);
    edge.stop().await.unwrap();
}

#[tokio::test]
async fn shutdown_without_a_master_returns_promptly() {
    let (listener, addr) = bind().await;
    drop(listener);
    let edge = Edge::at(addr, "it-6", &[]);
    let started = std::time::Instant::now();
    edge.stop().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn configuration_errors_are_returned_before_connecting() {
    let config = Config::parse_from(["utizmon-edge", "--token-file", "/nonexistent/token"]);
    let err = utizmon_edge::run(config, CancellationToken::new())
        .await
        .unwrap_err();
    assert!(format!("{err:#}").starts_with("reading --token-file /nonexistent/token"));
    let config = Config::parse_from(["utizmon-edge", "--host-name", " padded"]);
    assert!(utizmon_edge::run(config, CancellationToken::new())
        .await
        .is_err());
}

#[tokio::test]
async fn a_master_that_stops_acking_is_replaced_and_gets_everything_again() {
    use utizmon_edge::transport::{deliver, Link, Outbox};
    use utizmon_protocol::{HostInfo, Sample};

    let (listener, addr) = bind().await;
    let link = Link {
        master: master_url(addr),
        masters: Vec::new(),
        token: None,
        token_file: None,
        host_name: "it-7".into(),
        ack_timeout: Duration::from_millis(300),
        quiet: false,
    };
    let outbox = Outbox::new(100);
    for seq in 1..=3 {
        let mut sample = Sample {
            seq,
            ..Sample::default()
        };
        outbox.push(seq, 0, utizmon_edge::encode_sample(&mut sample));
    }
    let hello = || {
        let host = HostInfo {
            host_name: "it-7".into(),
            ..HostInfo::default()
        };
        utizmon_edge::encode_hello("run7", 1000, host)
    };
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(deliver(link, hello, outbox.clone(), shutdown.clone()));

    // The first master takes the samples, never acks, and keeps the socket open.
    let mut silent = accept(&listener).await;
    silent.hello().await;
    assert_consecutive(&silent.seqs(3).await, 1);

    // The edge gives up on it and sends everything again on a new connection.
    let mut conn = accept(&listener).await;
    assert_eq!(conn.hello().await.run_id, "run7");
    assert_consecutive(&conn.seqs(3).await, 1);
    conn.ack(3).await;

    // Shutdown with everything acknowledged closes at once.
    shutdown.cancel();
    let (code, _) = conn.until_close().await;
    assert_eq!(code, 1001);
    timeout(DEADLINE, task).await.unwrap().unwrap();
    assert!(outbox.is_empty());
    drop(silent);
}

#[tokio::test]
async fn answers_pings_between_samples() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let (listener, addr) = bind().await;
    let master = master_url(addr);
    // With a one-hour interval the only sample is the first one.
    let edge = Edge::start(&[
        "--master",
        &master,
        "--interval",
        "1h",
        "--host-name",
        "it-8",
    ]);
    let mut conn = accept(&listener).await;
    conn.hello().await;
    let first = conn.sample().await;
    conn.ack(first.seq).await;
    conn.ws
        .send(Message::Ping(b"are you there"[..].into()))
        .await
        .unwrap();
    let pong = timeout(DEADLINE, async {
        loop {
            match conn.ws.next().await {
                Some(Ok(Message::Pong(payload))) => return payload,
                Some(Ok(_)) => continue,
                other => panic!("connection ended: {other:?}"),
            }
        }
    })
    .await
    .expect("the edge answers a ping within the deadline, not at the next sample");
    assert_eq!(&pong[..], b"are you there");
    edge.stop().await.unwrap();
}
