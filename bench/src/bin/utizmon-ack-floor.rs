//! `utizmon-ack-floor`: the least a server on utizmon's stack can do per sample, as the floor
//! the `floor` scenario of `make bench` measures `utizmon-server` against.
//!
//! It speaks just enough of the edge protocol (`docs/protocol.md`) for real edges and the
//! simulator to stream to it: the same axum and tungstenite WebSocket, with the same read
//! buffer and message limits as `utizmon-server`, and for every sample an `ack` of its
//! `seq`, found by a byte search rather than by decoding it. It validates nothing, stores
//! nothing and keeps no state, so its CPU per sample is what the kernel's loopback TCP,
//! tokio's scheduling and WebSocket framing cost on this machine: the part of the server's
//! cost no change to utizmon's own code can remove. Bench use only: it listens on the
//! loopback address it is given and trusts every frame.
//!
//! `GET /metrics` reports `utizmon_server_samples_received_total` (the name the bench reads
//! from the real server) and `utizmon_ack_floor_connections`. It prints
//! `listening on ADDR` first, like the server, and stops on SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Context;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use clap::Parser;
// The same limits as `utizmon-server`'s edge socket, so both read frames the same way.
use utizmon_server::http::edge::READ_BUFFER_BYTES;
use utizmon_server::ingest::MAX_WIRE_BYTES;

#[derive(Debug, Parser)]
#[command(about = "Acks every sample and does nothing else: the transport floor for make bench")]
struct Args {
    /// Address to listen on; a loopback address with port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
}

/// What `/metrics` reports.
#[derive(Default)]
struct Counters {
    samples: AtomicU64,
    connections: AtomicU64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // The same runtime utizmon-server builds: one worker per core.
    let runtime = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
    runtime.block_on(serve(args.listen))
}

async fn serve(listen: SocketAddr) -> anyhow::Result<()> {
    let counters = Arc::new(Counters::default());
    let app = Router::new()
        .route("/ws/edge", get(upgrade))
        .route("/metrics", get(metrics))
        .with_state(counters);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(stopped())
        .await
        .context("serving")
}

/// Resolves at SIGTERM or Ctrl-C.
async fn stopped() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(e) => {
            eprintln!("utizmon-ack-floor: no SIGTERM handler ({e}); Ctrl-C only");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

async fn metrics(State(counters): State<Arc<Counters>>) -> String {
    format!(
        "utizmon_server_samples_received_total {}\nutizmon_ack_floor_connections {}\n",
        counters.samples.load(Ordering::Relaxed),
        counters.connections.load(Ordering::Relaxed)
    )
}

async fn upgrade(State(counters): State<Arc<Counters>>, ws: WebSocketUpgrade) -> Response {
    ws.read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(MAX_WIRE_BYTES)
        .max_frame_size(MAX_WIRE_BYTES)
        .on_upgrade(move |socket| acks(socket, counters))
}

/// Acks every sample on one connection until the edge closes it.
async fn acks(mut socket: WebSocket, counters: Arc<Counters>) {
    counters.connections.fetch_add(1, Ordering::Relaxed);
    while let Some(Ok(message)) = socket.recv().await {
        let Message::Text(text) = message else {
            continue;
        };
        let Some(seq) = sample_seq(text.as_str()) else {
            continue;
        };
        counters.samples.fetch_add(1, Ordering::Relaxed);
        let ack = format!(r#"{{"type":"ack","seq":{seq}}}"#);
        if socket.send(Message::Text(ack.into())).await.is_err() {
            break;
        }
    }
    counters.connections.fetch_sub(1, Ordering::Relaxed);
}

/// The `seq` of a sample frame, found by searching for its key: `None` for a hello or
/// anything else without one. The edge writes JSON without spaces after colons.
fn sample_seq(text: &str) -> Option<u64> {
    const KEY: &str = "\"seq\":";
    let at = text.find(KEY)? + KEY.len();
    let digits = text[at..].bytes().take_while(u8::is_ascii_digit).count();
    text[at..at + digits].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::sample_seq;

    #[test]
    fn the_seq_of_a_sample_is_found_and_a_hello_has_none() {
        assert_eq!(
            sample_seq(r#"{"type":"sample","seq":42,"ts_ms":1,"cpu":{}}"#),
            Some(42)
        );
        assert_eq!(sample_seq(r#"{"type":"sample","seq":7}"#), Some(7));
        assert_eq!(sample_seq(r#"{"type":"hello","version":1}"#), None);
        assert_eq!(sample_seq(r#"{"seq":}"#), None, "no digits");
    }
}
