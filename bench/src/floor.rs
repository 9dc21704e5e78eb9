//! The transport floor: `utizmon-server` beside `utizmon-ack-floor`, a server on the same
//! axum/tungstenite stack that acks every sample and does nothing else, each under the
//! same simulated fleet.
//!
//! Why: the server's CPU per sample mixes what utizmon does (decoding, validating, the
//! live model, alerts, committing before the ack) with what any server pays on this
//! machine to take one WebSocket message over loopback TCP and answer it (system calls,
//! the kernel's TCP work on both ends, waking a worker thread). Only the first part is
//! ours to shrink. The floor measures the second, so the table can say how much of the
//! server's cost is its own, and what a per-sample target below the floor would mean.
//! Memory the same way: the floor's RSS per host is what a connection costs the kernel's
//! and the WebSocket layer's buffers before utizmon keeps anything.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::bail;

use crate::fleet::{
    cost_then_stop, row, scrape_value, server_cpu_over, wait_online, Cost, WARM_UP,
};
use crate::process::{scratch_dir, spawn_fleet, start_listening, start_server};
use crate::{procfs, Config, Row};

/// The floor's count of open edge connections, in its `/metrics`.
const CONNECTIONS: &str = "utizmon_ack_floor_connections";

/// Both servers at each `--floor-edges` size.
pub async fn server_vs_floor(config: &Config) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for &n in &config.floor_edges {
        eprintln!("bench: floor: utizmon-server under {n} simulated edges");
        let server = measure(config, n, false).await?;
        eprintln!("bench: floor: utizmon-ack-floor under {n} simulated edges");
        let floor = measure(config, n, true).await?;
        let scenario = format!(
            "utizmon-server beside the transport floor (utizmon-ack-floor), {n} simulated edges at 1 Hz"
        );
        rows.push(row(
            &scenario,
            "server CPU per sample: utizmon-server / floor",
            format!(
                "{:.1} µs / {:.1} µs: utizmon's own work {:.1} µs ({:.2}x the floor); \
                 simulator {:.1} / {:.1} µs",
                server.us_per_sample,
                floor.us_per_sample,
                server.us_per_sample - floor.us_per_sample,
                server.us_per_sample / floor.us_per_sample.max(f64::MIN_POSITIVE),
                server.clients_us_per_sample,
                floor.clients_us_per_sample,
            ),
            "",
        ));
        rows.push(row(
            &scenario,
            "server RSS growth over its empty start, per host: utizmon-server / floor",
            format!(
                "{:.1} KiB / {:.1} KiB: utizmon's own {:.1} KiB",
                server.kib_per_host,
                floor.kib_per_host,
                server.kib_per_host - floor.kib_per_host
            ),
            "",
        ));
    }
    Ok(rows)
}

/// What this box has left for utizmon's own work at the top of the scaling curve: the
/// simulator of `n` edges and the floor alone, so the scaling rows for that size can be
/// read against what the simulator and the transport take before the server does anything.
pub async fn headroom(config: &Config, n: usize) -> anyhow::Result<Vec<Row>> {
    eprintln!("bench: scaling: {n} simulated edges against utizmon-ack-floor");
    let (floor, addr) = start_listening(&config.bin_dir.join("utizmon-ack-floor"), &[]).await?;
    let fleet = spawn_fleet(&config.bin_dir, addr, n, "1s", "headroom")?;
    // As in the scaling rows: a size beyond what this box connects in time is measured
    // with whatever did connect, and the row says how many.
    let _ = wait_connected(addr, n, Duration::from_secs(180)).await;
    tokio::time::sleep(WARM_UP).await;
    let simulator0 = procfs::cpu_time(fleet.pid)?;
    let started = Instant::now();
    let (floor_cpu, taken) = server_cpu_over(&floor, addr, config.scaling_duration).await?;
    let window = started.elapsed().as_secs_f64();
    let simulator_cpu = (procfs::cpu_time(fleet.pid)? - simulator0).as_secs_f64();
    let connected = scrape_value(addr, CONNECTIONS).await?;
    fleet.terminate(Duration::from_secs(20)).await?;
    floor.terminate(Duration::from_secs(20)).await?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let per_second = taken / window;
    let left = (cores - (floor_cpu + simulator_cpu) / window).max(0.0);
    let us = |cpu: f64| cpu / taken.max(1.0) * 1e6;
    Ok(vec![row(
        &format!("scaling, {n} edges against the transport floor (utizmon-ack-floor)"),
        "connected, samples/s; simulator / floor CPU; left for utizmon's own work",
        format!(
            "{connected:.0}, {per_second:.0}/s; simulator {:.0} % of a core ({:.1} µs/sample), \
             floor {:.0} % ({:.1} µs/sample); {left:.2} of {cores:.0} cores left: \
             {:.1} µs per sample",
            simulator_cpu / window * 100.0,
            us(simulator_cpu),
            floor_cpu / window * 100.0,
            us(floor_cpu),
            left / per_second.max(1.0) * 1e6,
        ),
        "",
    )])
}

/// A fresh `utizmon-server` (store on, default flags) or `utizmon-ack-floor` under `n`
/// simulated edges: CPU per sample (its own and the simulator's) over the scaling window
/// after a warm-up, and RSS growth per host at its end.
async fn measure(config: &Config, n: usize, floor: bool) -> anyhow::Result<Cost> {
    let (server, addr) = if floor {
        start_listening(&config.bin_dir.join("utizmon-ack-floor"), &[]).await?
    } else {
        start_server(&config.bin_dir, &scratch_dir("floor")?, &[]).await?
    };
    let (base, _) = procfs::rss(server.pid)?;
    let fleet = spawn_fleet(&config.bin_dir, addr, n, "1s", "floor")?;
    if floor {
        wait_connected(addr, n, Duration::from_secs(120)).await?;
    } else {
        wait_online(addr, n, Duration::from_secs(120)).await?;
    }
    cost_then_stop(server, addr, vec![fleet], n, base, config.scaling_duration).await
}

/// Waits until the floor holds `n` edge connections (it has no host list to ask).
async fn wait_connected(addr: SocketAddr, n: usize, deadline: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let connected = scrape_value(addr, CONNECTIONS).await? as usize;
        if connected >= n {
            return Ok(());
        }
        if started.elapsed() > deadline {
            bail!("only {connected} of {n} edges connected after {deadline:?}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
