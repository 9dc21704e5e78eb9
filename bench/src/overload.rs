//! Overload without storms: a server pushed to twice its sustainable load must stop
//! reading (the edges buffer) instead of closing edges as silent, and must have every
//! sample once the load drops.
//!
//! The server's capacity is made small and known on a shared box: the bench freezes it
//! (SIGSTOP) for most of every 100 ms and lets it run for `--overload-run-ms` of them, so a
//! fleet one simulator drives easily is more than it can take. Phases, all with the
//! throttle on: a base fleet of `--overload-edges` edges at 1 Hz (the sustainable load:
//! taken/s must equal the edges), then a second fleet of as many edges for
//! `--overload-duration` (twice the load), then the second fleet's edges stop sampling,
//! wait for their last ack and close, and so does the base fleet a while later. Both
//! simulators take a fixed number of samples (`--simulate-samples`), so "sent" is exact.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::fleet::{row, scrape_value, wait_online};
use crate::process::{scratch_dir, Proc};
use crate::throttle::Throttle;
use crate::{Config, Row};

/// Period of the throttle's freeze/run cycle.
const PERIOD: Duration = Duration::from_millis(100);
/// Base load alone, measured before the surge.
const SUSTAIN: Duration = Duration::from_secs(20);
/// Base load alone again after the surge fleet stopped sampling, before the base stops.
const AFTER: Duration = Duration::from_secs(20);
/// Longest the bench waits for the fleets to have every sample acked.
const DRAIN_LIMIT: Duration = Duration::from_secs(300);

/// Runs the scenario and returns its rows.
pub async fn overload_without_storms(config: &Config) -> anyhow::Result<Vec<Row>> {
    let edges = config.overload_edges;
    let surge = config.overload_duration;
    let run = Duration::from_millis(config.overload_run_ms);
    eprintln!(
        "bench: overload: {edges} edges, then {edges} more for {surge:?}, server running {run:?} of every {PERIOD:?}"
    );
    let data = scratch_dir("overload")?;
    let max_hosts = (edges * 3).to_string();
    let (server, addr) =
        crate::process::start_server(&config.bin_dir, &data, &["--max-hosts", &max_hosts]).await?;

    // The base fleet samples through the warm-up, the sustain window, the surge and after.
    let base_samples = (crate::fleet::WARM_UP + SUSTAIN + surge + AFTER).as_secs() + 30;
    let base = spawn_counted(config, addr, edges, "base", base_samples)?;
    wait_online(addr, edges, Duration::from_secs(120)).await?;
    tokio::time::sleep(crate::fleet::WARM_UP).await;

    let throttle = Throttle::start(server.pid, PERIOD, run);
    let sustained = taken_per_s(addr, SUSTAIN).await?;

    let surge_samples = surge.as_secs();
    let surge_started = Instant::now();
    let extra = spawn_counted(config, addr, edges, "surge", surge_samples)?;
    let during = taken_per_s(addr, surge).await?;
    let surge_window = surge_started.elapsed();

    // The surge fleet is done sampling about now: the load drops back to the base.
    let drained = Instant::now();
    let all_exited = wait_exit(extra, DRAIN_LIMIT).await? && wait_exit(base, DRAIN_LIMIT).await?;
    let drain_time = drained.elapsed();
    throttle.stop(server.pid).await?;

    let received = scrape_value(addr, "utizmon_server_samples_received_total").await?;
    let silent = scrape_value(addr, "utizmon_server_edges_silent_total").await?;
    let connections = scrape_value(addr, "utizmon_server_edge_connections_total").await?;
    let refused = rejected_total(addr).await?;
    server.terminate(Duration::from_secs(30)).await?;
    let _ = std::fs::remove_dir_all(&data);

    let sent = (edges as u64 * (base_samples + surge_samples)) as f64;
    let reconnects = connections - 2.0 * edges as f64;
    let scenario = format!(
        "overload, server running {} ms of every {} ms",
        run.as_millis(),
        PERIOD.as_millis()
    );
    Ok(vec![
        row(
            &scenario,
            "sustainable: offered / taken per s",
            format!("{edges} / {sustained:.0}"),
            "equal",
        ),
        row(
            &scenario,
            &format!("2x for {} s: offered / taken per s", surge_window.as_secs()),
            format!("{} / {during:.0}", 2 * edges),
            "taken < offered (overloaded)",
        ),
        row(
            &scenario,
            "closed as silent / refused / reconnects",
            format!("{silent:.0} / {refused:.0} / {reconnects:.0}"),
            "0 / 0 / 0",
        ),
        row(
            &scenario,
            "received / sent, after the load dropped",
            format!(
                "{received:.0} / {sent:.0} ({}; drained in {:.0} s)",
                if all_exited {
                    "every edge acked and closed"
                } else {
                    "some edges never finished"
                },
                drain_time.as_secs_f64()
            ),
            "equal",
        ),
    ])
}

/// Starts a simulator of `n` edges at 1 Hz that each take `samples` samples.
fn spawn_counted(
    config: &Config,
    addr: SocketAddr,
    n: usize,
    prefix: &str,
    samples: u64,
) -> anyhow::Result<Proc> {
    let master = format!("ws://{addr}/ws/edge");
    let (n, samples) = (n.to_string(), samples.to_string());
    Proc::spawn(
        &config.bin_dir.join("utizmon-edge"),
        &[
            "--master",
            &master,
            "--interval",
            "1s",
            "--simulate",
            &n,
            "--simulate-prefix",
            prefix,
            "--simulate-samples",
            &samples,
        ],
    )
}

/// Samples taken per second over `window`, from now.
async fn taken_per_s(addr: SocketAddr, window: Duration) -> anyhow::Result<f64> {
    let taken = "utizmon_server_samples_received_total";
    let before = scrape_value(addr, taken).await?;
    let started = Instant::now();
    tokio::time::sleep(window).await;
    let after = scrape_value(addr, taken).await?;
    Ok((after - before) / started.elapsed().as_secs_f64())
}

/// Waits up to `limit` for `proc` to exit by itself; false (and killed) if it did not.
async fn wait_exit(proc: Proc, limit: Duration) -> anyhow::Result<bool> {
    proc.wait_exit(limit)
        .await
        .context("waiting for a simulator")
}

/// Every refused frame or connection, whatever the reason.
async fn rejected_total(addr: SocketAddr) -> anyhow::Result<f64> {
    let body = crate::http::get(addr, "/metrics").await?;
    Ok(body
        .lines()
        .filter(|l| l.starts_with("utizmon_server_samples_rejected_total{"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum())
}
