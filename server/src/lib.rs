//! `utizmon-server`: edge ingest over WebSocket, the live dashboard, the JSON API and
//! `/metrics`, all on one listener.
//!
//! [`run`] wires everything; `main.rs` only parses flags, binds and handles signals, so
//! tests can call [`run`] directly. Read `ingest.rs` and `state.rs` next.

pub mod config;
pub mod history;
pub mod http;
pub mod ingest;
pub mod metrics;
pub mod render;
pub mod state;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use crate::config::Config;
use crate::history::HistoryLimits;
use crate::http::AppState;
use crate::state::Fleet;

/// Serves until `shutdown` is cancelled, then closes every WebSocket ("going away") and
/// returns once all connection tasks have finished.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let edge_token = config.edge_token()?;
    if edge_token.is_none() {
        tracing::warn!("no --edge-token-file: every edge is accepted without authentication");
    }
    let fleet = Fleet::new(HistoryLimits {
        raw: config.history_raw,
        rollup: config.history_rollup,
    });
    let registry = Arc::new(metrics::registry(&fleet)); // Built once, shared without a lock.
    let tasks = TaskTracker::new();
    let state = AppState {
        fleet,
        registry,
        edge_token,
        offline_after: config.offline_after,
        shutdown: shutdown.clone(),
        tasks: tasks.clone(),
    };
    let addr = listener
        .local_addr()
        .context("reading the listen address")?;
    tracing::info!(%addr, "serving");
    let app = http::router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .await
        .context("serving HTTP")?;
    tracing::info!("shutting down: closing WebSockets");
    tasks.close(); // Nothing new is tracked after this point.
    tasks.wait().await;
    tracing::info!("stopped");
    Ok(())
}
