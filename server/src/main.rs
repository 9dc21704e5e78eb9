//! `utizmon-server` binary: logging, flags, bind, signals; `utizmon_server::run` does the rest.

use std::io::{IsTerminal, Write};

use anyhow::Context;
use clap::Parser;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;
use utizmon_server::Config;

/// jemalloc instead of glibc's malloc: ingest allocates and frees a decoded sample's strings
/// and vectors for every frame from thousands of connections, and glibc spent much of that
/// time in its slow path (`_int_malloc`). Measured with simulated edges on 2 cores: server
/// CPU per sample 126-132 -> 112-114 µs at 1,000 edges and 80-85 -> 67-75 at 5,000, RSS
/// 4-7 % higher. mimalloc was as fast but took 30 % more memory.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, which it reads at its first allocation (this is its `malloc_conf`,
/// under the prefixed name the crate builds it with; `_RJEM_MALLOC_CONF` in the
/// environment still overrides them).
///
/// - `background_thread`: without it, jemalloc hands freed pages back to the kernel only
///   when the thread's arena is used again. Compaction allocates tens of MiB on its own
///   thread for a minute after each 10-minute block, then goes quiet, so its arena kept
///   them: a server with 1,000 simulated edges sat at 82-93 MiB after every block instead
///   of 50. With the thread they go back within the decay time. One thread is enough to
///   purge every arena (the default is one per CPU).
/// - `dirty_decay_ms:1000` (default 10 s): compaction frees and allocates that much every
///   few seconds, so a 10 s decay still let RSS peak at 100 MiB during it.
///
/// The lint: naming a symbol is `unsafe_code` because two definitions would clash at link
/// time; jemalloc's own is weak and meant to be overridden this way.
#[allow(unsafe_code)]
#[export_name = "_rjem_malloc_conf"]
static MALLOC_CONF: &[u8; 68] =
    b"background_thread:true,max_background_threads:1,dirty_decay_ms:1000\0";

fn main() -> std::process::ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("utizmon-server: starting the tokio runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line with every cause, e.g. `opening ...: not writable: Read-only file system`.
            eprintln!("utizmon-server: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // journald and log files get plain text; colours only for a person at a terminal
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let config = Config::parse();
    if let Some(command) = &config.command {
        return utizmon_server::cli::run(command);
    }
    // Fail before binding on an unreadable token file, a bad rules file or an unusable
    // data directory.
    config.edge_token()?;
    config.alert_rules()?;
    config.history_engine()?;
    utizmon_server::listen_options(&config)?;
    match utizmon_server::listen::raise_fd_limit() {
        Ok(limit) => tracing::info!(limit, "open file limit"),
        Err(e) => tracing::warn!(error = %e, "raising the open file limit failed"),
    }
    let store = utizmon_server::open_store(&config).await?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {addr}").context("writing to stdout")?;
    stdout.flush().context("flushing stdout")?;
    drop(stdout);

    let shutdown = CancellationToken::new();
    let mut sigterm = signal(SignalKind::terminate()).expect("installing the SIGTERM handler");
    let mut sigint = signal(SignalKind::interrupt()).expect("installing the SIGINT handler");
    let trigger = shutdown.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = sigterm.recv() => tracing::info!("SIGTERM received"),
            _ = sigint.recv() => tracing::info!("SIGINT received"),
        }
        trigger.cancel();
    });
    utizmon_server::serve(config, store, listener, shutdown).await
}
