//! `utizmon-edge` binary: logging, flags, signals; [`utizmon_edge::run`] does the work.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let config = utizmon_edge::Config::from_env_and_args();
    let runtime = utizmon_edge::runtime(&config).expect("building the tokio runtime");
    let shutdown = CancellationToken::new();
    let result = runtime.block_on(async {
        utizmon_edge::cancel_on_signals(shutdown.clone()).context("installing signal handlers")?;
        utizmon_edge::run(config, shutdown).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
