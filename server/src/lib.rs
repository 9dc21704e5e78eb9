//! `utizmon-server`: edge ingest over WebSocket, the live dashboard, the JSON API and
//! `/metrics`, all on one listener.
//!
//! [`run`] wires everything; `main.rs` only parses flags, binds and handles signals, so
//! tests can call [`run`] directly. Read `ingest/mod.rs` and `state.rs` next.

pub mod alerts;
pub mod auth;
pub mod cli;
pub mod config;
pub mod downsample;
pub mod history;
pub mod history_engine;
pub mod http;
pub mod ingest;
pub mod listen;
pub mod metrics;
pub mod metrics_detail;
pub mod node_metrics;
pub mod rates;
pub mod remote_write;
pub mod render;
pub mod scrape;
pub mod state;

use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use utizmon_store::{Store, StoreConfig};

use crate::auth::edge::EdgeCredentials;
use crate::auth::edge_tokens::EdgeTokens;
use crate::auth::watched::Watched;
use crate::auth::Auth;
pub use crate::config::Config;
use crate::http::AppState;
use crate::listen::tls::TlsAcceptor;
use crate::listen::ListenOptions;
use crate::state::Fleet;

/// Serves until `shutdown` is cancelled, then closes every WebSocket ("going away") and
/// returns once all connection tasks have finished.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let store = open_store(&config).await?;
    serve(config, store, listener, shutdown).await
}

/// [`run`] with a store the caller opened (`main` opens it before binding, so a bad data
/// directory fails the start-up before anything listens).
pub async fn serve(
    config: Config,
    store: Store,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let edge_credentials = edge_credentials(&config)?;
    if !edge_credentials.is_configured() {
        tracing::warn!(
            "no --edge-token-file or --edge-tokens-file: every edge is accepted without authentication"
        );
    }
    let addr = listener
        .local_addr()
        .context("reading the listen address")?;
    let auth = Auth::from_config(&config, addr, &config.data_dir()?)?;
    let fleet = Fleet::with_max_hosts(config.max_hosts);
    let known = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || store.hosts())
            .await
            .context("loading known hosts")?
            .context("loading known hosts")?
    };
    tracing::info!(hosts = known.len(), path = %store.path().display(), "history opened");
    let tasks = TaskTracker::new();
    let alerts = alerts::setup::start(
        &config,
        &store,
        &known,
        addr,
        &tasks,
        &shutdown,
        utizmon_store::system_clock(),
    )
    .await?;
    for host in known {
        fleet.restore(host);
    }
    let remotes = remote_write::start(config.remotes()?, &store, &tasks, &shutdown).await?;
    let mut registry = metrics::registry(&fleet, &store, &alerts);
    registry.register_collector(Box::new(remote_write::RemoteWriteCollector(remotes)));
    let registry = Arc::new(registry); // Built once, shared without a lock.
    let state = AppState {
        fleet,
        store: store.clone(),
        history_engine: config.history_engine()?,
        registry,
        scrapes: scrape::Scrapes::default(),
        history_slots: Arc::new(tokio::sync::Semaphore::new(
            config.max_history_queries.max(1),
        )),
        dashboard: http::clients::DashboardLimits::new(config.max_dashboard_clients),
        edge_credentials,
        auth,
        offline_after: config.offline_after,
        alerts,
        shutdown: shutdown.clone(),
        tasks: tasks.clone(),
    };
    let options = listen_options(&config)?;
    tasks.spawn(listen::tls::reload_on_sighup(
        options.tls.clone(),
        shutdown.clone(),
    ));
    tracing::info!(%addr, tls = options.tls.is_some(), "serving");
    listen::serve(listener, http::router(state), options, shutdown.clone()).await;
    tracing::info!("shutting down: closing WebSockets");
    tasks.close(); // Nothing new is tracked after this point.
    tasks.wait().await;
    // Every connection has said goodbye; commit what is queued and stop the writer.
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// The edge credentials of `config`; unreadable files fail the start-up.
pub fn edge_credentials(config: &Config) -> anyhow::Result<EdgeCredentials> {
    let per_host = config
        .edge_tokens_file
        .as_deref()
        .map(|path| Watched::open(path, EdgeTokens::parse))
        .transpose()
        .context("reading --edge-tokens-file")?;
    Ok(EdgeCredentials {
        shared: config.edge_token()?,
        per_host,
    })
}

/// The connection limits and TLS of `config`; unreadable TLS files fail the start-up.
pub fn listen_options(config: &Config) -> anyhow::Result<ListenOptions> {
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(TlsAcceptor::load(cert, key)?),
        _ => None,
    };
    Ok(ListenOptions {
        header_read_timeout: config.header_read_timeout,
        idle_timeout: config.idle_timeout,
        max_pending: config.max_pending_connections,
        tls,
    })
}

/// Opens the history store; a missing, unwritable or corrupt data directory fails the
/// start-up with a message naming it.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let dir = config.data_dir()?;
    let mut store_config = StoreConfig::new(&dir);
    store_config.raw_retention = config.raw_retention;
    store_config.rollup_retention = config.rollup_retention;
    store_config.hour_rollup_retention = config.hour_rollup_retention;
    store_config.commit_log = !config.remotes()?.is_empty();
    tokio::task::spawn_blocking(move || Store::open(store_config))
        .await
        .context("opening the history store")?
        .with_context(|| format!("opening the history store in {}", dir.display()))
}
