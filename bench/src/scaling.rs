//! The scaling curve: one fresh server per fleet size (1k, 5k, 10k, 20k simulated edges by
//! default, one simulator process each), measured the same way at every size, drawn as a
//! plot so a reader sees how cost grows with the fleet and where this box saturates. The
//! largest size runs once more against `utizmon-ack-floor` (`floor.rs`), a server that
//! only acks: what the simulator and the transport take there, and what is left of the box
//! for the server's own work per sample.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::fleet::{mib, online_hosts, quantile, row, scrape_value, watch_delay, WARM_UP};
use crate::process::{scratch_dir, spawn_fleet, start_server};
use crate::{http, plot, procfs, Config, Row};

/// What one fleet size cost.
struct Point {
    edges: usize,
    online: usize,
    taken_per_s: f64,
    server_us_per_sample: f64,
    server_share: f64,
    simulator_share: f64,
    /// Edges closed as silent during the window.
    silent: f64,
    /// Connections opened during the window: reconnects, once every edge was online.
    reconnects: f64,
    rss: u64,
    delay_p99_ms: f64,
    metrics_ms: f64,
}

/// The server's counters of edges closed as silent and of edge connections opened.
const SILENT: &str = "utizmon_server_edges_silent_total";
const CONNECTIONS: &str = "utizmon_server_edge_connections_total";

/// Runs every size in `config.scaling_edges`, writes the plot to `plot_path`, and returns
/// one group of rows per size.
pub async fn scaling_curve(config: &Config, plot_path: &Path) -> anyhow::Result<Vec<Row>> {
    let fit = raise_fd_limit().saturating_sub(FD_HEADROOM);
    let mut points = Vec::new();
    for &wanted in &config.scaling_edges {
        let edges = wanted.min(fit);
        if edges < wanted {
            eprintln!(
                "bench: scaling: {wanted} edges need more descriptors than the hard limit allows here; measuring {edges}"
            );
        }
        points.push(measure(config, edges).await?);
    }
    // The largest size again with a server that only acks: what the box had left.
    let headroom = match points.last() {
        Some(top) => crate::floor::headroom(config, top.edges).await?,
        None => Vec::new(),
    };
    let svg = plot::svg(
        "utizmon-server under n simulated edges at 1 Hz (one simulator process, same box)",
        &points.iter().map(|p| p.edges as f64).collect::<Vec<_>>(),
        &[
            (
                "server CPU per sample (µs)",
                points.iter().map(|p| p.server_us_per_sample).collect(),
            ),
            (
                "server RSS per host (KiB)",
                points
                    .iter()
                    .map(|p| p.rss as f64 / 1024.0 / p.edges as f64)
                    .collect(),
            ),
            (
                "sample to dashboard p99 (ms)",
                points.iter().map(|p| p.delay_p99_ms).collect(),
            ),
            (
                "/metrics scrape (ms)",
                points.iter().map(|p| p.metrics_ms).collect(),
            ),
        ],
    );
    if let Some(dir) = plot_path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(plot_path, svg)?;
    eprintln!("bench: wrote {}", plot_path.display());
    let mut rows = Vec::new();
    for p in &points {
        let scenario = format!("scaling, {} edges", p.edges);
        rows.push(row(
            &scenario,
            "online / samples taken per s",
            format!("{} / {:.0}", p.online, p.taken_per_s),
            &format!("{} / {}", p.edges, p.edges),
        ));
        rows.push(row(
            &scenario,
            "in the window: closed as silent / new connections",
            format!("{:.0} / {:.0}", p.silent, p.reconnects),
            "0 / 0",
        ));
        rows.push(row(
            &scenario,
            "server CPU per sample (share of one core)",
            format!(
                "{:.1} µs ({:.0} %)",
                p.server_us_per_sample,
                p.server_share * 100.0
            ),
            "<= 25 µs",
        ));
        rows.push(row(
            &scenario,
            "simulator CPU (share of one core)",
            format!("{:.0} %", p.simulator_share * 100.0),
            "",
        ));
        rows.push(row(
            &scenario,
            "server RSS (per host)",
            format!(
                "{} ({:.1} KiB)",
                mib(p.rss),
                p.rss as f64 / 1024.0 / p.edges as f64
            ),
            "<= 16 KiB per host",
        ));
        rows.push(row(
            &scenario,
            "sample to dashboard p99 / /metrics scrape",
            format!("{:.0} ms / {:.0} ms", p.delay_p99_ms, p.metrics_ms),
            "/metrics < 1 s",
        ));
    }
    rows.extend(headroom);
    rows.push(row(
        "scaling",
        "plot",
        format!(
            "![scaling]({})",
            plot_path
                .file_name()
                .map_or("".into(), |f| f.to_string_lossy())
        ),
        "",
    ));
    Ok(rows)
}

/// One fresh server and one simulator of `edges` edges: warm up, then measure.
async fn measure(config: &Config, edges: usize) -> anyhow::Result<Point> {
    eprintln!("bench: scaling: {edges} simulated edges");
    let data = scratch_dir(&format!("scaling-{edges}"))?;
    let max_hosts = (edges * 2).to_string();
    let (server, addr) = start_server(&config.bin_dir, &data, &["--max-hosts", &max_hosts]).await?;
    let simulator = spawn_fleet(&config.bin_dir, addr, edges, "1s", "scale")?;
    // Connecting is not what is measured: wait until every edge is online (or the size is
    // beyond what this box connects in time, which the row then shows).
    let started = Instant::now();
    // A refused or reset request (the server may be at its descriptor limit while the
    // fleet connects) counts as not yet online; the deadline still bounds the wait.
    while online_hosts(addr).await.unwrap_or(0) < edges
        && started.elapsed() < Duration::from_secs(180)
    {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    tokio::time::sleep(WARM_UP).await;

    let taken = "utizmon_server_samples_received_total";
    let received0 = scrape_value(addr, taken).await?;
    // Churn in the window: a box too small for the fleet shows here first, as edges the
    // server closed for silence (their samples starved on the sending side) reconnecting.
    let churn = || async {
        Ok::<_, anyhow::Error>((
            scrape_value(addr, SILENT).await?,
            scrape_value(addr, CONNECTIONS).await?,
        ))
    };
    let (silent0, connections0) = churn().await?;
    let (server0, sim0) = (
        procfs::cpu_time(server.pid)?,
        procfs::cpu_time(simulator.pid)?,
    );
    let window_start = Instant::now();
    tokio::time::sleep(config.scaling_duration).await;
    let window = window_start.elapsed().as_secs_f64();
    let server_cpu = (procfs::cpu_time(server.pid)? - server0).as_secs_f64();
    let simulator_cpu = (procfs::cpu_time(simulator.pid)? - sim0).as_secs_f64();
    let received = scrape_value(addr, taken).await? - received0;
    let (silent1, connections1) = churn().await?;
    let (rss, _) = procfs::rss(server.pid)?;
    let online_now = online_hosts(addr).await?;

    let delays = Arc::new(Mutex::new(Vec::<f64>::new()));
    let watchers: Vec<_> = (1..=edges)
        .step_by((edges / 10).max(1))
        .map(|i| {
            let url = format!("ws://{addr}/ws/dashboard?host=scale-{i:04}");
            tokio::spawn(watch_delay(url, delays.clone()))
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(10)).await;
    watchers.iter().for_each(|w| w.abort());
    let mut scrapes = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        // On a saturated box a scrape can time out (it did once at 19,000 edges, 30 minutes
        // into a `make bench`): that is a measurement, at least the timeout, not a reason
        // to throw the whole run away.
        if let Err(e) = http::get(addr, "/metrics").await {
            eprintln!("bench: scaling: {edges} edges: /metrics scrape failed: {e:#}");
        }
        scrapes.push(t.elapsed().as_secs_f64() * 1e3);
    }
    simulator.terminate(Duration::from_secs(30)).await?;
    server.terminate(Duration::from_secs(30)).await?;
    let _ = std::fs::remove_dir_all(&data);

    let mut delays = delays.lock().map(|d| d.clone()).unwrap_or_default();
    delays.sort_by(f64::total_cmp);
    scrapes.sort_by(f64::total_cmp);
    Ok(Point {
        edges,
        online: online_now,
        taken_per_s: received / window,
        silent: silent1 - silent0,
        reconnects: connections1 - connections0,
        server_us_per_sample: server_cpu / received.max(1.0) * 1e6,
        server_share: server_cpu / window,
        simulator_share: simulator_cpu / window,
        rss,
        delay_p99_ms: quantile(&delays, 0.99),
        metrics_ms: quantile(&scrapes, 0.5),
    })
}

/// Descriptors a server or simulator needs besides one socket per edge (listener, epoll,
/// database files, standard streams, the bench's HTTP and dashboard clients, and the
/// sockets of reconnects that overlap a closing one). 100 was too few: at 19,900 edges
/// the server ran out and closed the bench's own requests.
const FD_HEADROOM: usize = 1000;

/// 20,000 edges need 20,000 sockets in the simulator and as many in the server: raise the
/// descriptor limit this process's children inherit (the hard one too, which only root
/// may, and only where the container allows; otherwise the soft one up to the hard one).
/// Returns the soft limit the children get.
fn raise_fd_limit() -> usize {
    const WANT: u64 = 65_536;
    let limit = match rlimit::setrlimit(rlimit::Resource::NOFILE, WANT, WANT) {
        Ok(()) => WANT,
        Err(_) => rlimit::increase_nofile_limit(WANT).unwrap_or(1024),
    };
    usize::try_from(limit).unwrap_or(usize::MAX)
}
