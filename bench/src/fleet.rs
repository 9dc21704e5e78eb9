//! The two benchmark scenarios: one edge beside node_exporter, and one server under a
//! simulated fleet. Each returns its rows of the result table.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures_util::future::join_all;
use futures_util::StreamExt;
use serde_json::Value;
use utizmon_protocol::now_ms;

use crate::process::{free_port, scratch_dir, start_edge, start_fleet, start_server, Proc};
use crate::{http, procfs, Config, Row};

/// Edge at 1 Hz with every collector on, and node_exporter with its default collectors
/// (scraped every second), measured over the same window.
pub async fn edge_vs_node_exporter(config: &Config) -> anyhow::Result<Vec<Row>> {
    let data = scratch_dir("edge")?;
    let (_server, addr) = start_server(&config.bin_dir, &data, &[]).await?;
    let edge = start_edge(&config.bin_dir, addr, "bench-edge")?;
    let exporter = if config.node_exporter.exists() {
        let port = free_port()?;
        let listen = format!("--web.listen-address=127.0.0.1:{port}");
        let proc = Proc::spawn(&config.node_exporter, &[&listen])?;
        Some((proc, SocketAddr::from(([127, 0, 0, 1], port))))
    } else {
        eprintln!(
            "bench: {} not found; install prometheus-node-exporter for the comparison",
            config.node_exporter.display()
        );
        None
    };
    eprintln!(
        "bench: edge vs node_exporter for {:?}",
        config.edge_duration
    );

    // Warm up: the edge connects and node_exporter answers its first scrape.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let edge_cpu0 = procfs::cpu_time(edge.pid)?;
    let exp_cpu0 = match &exporter {
        Some((p, _)) => Some(procfs::cpu_time(p.pid)?),
        None => None,
    };
    let started = Instant::now();
    let (mut edge_rss_max, mut exp_rss_max) = (0u64, 0u64);
    let mut scrapes = 0u32;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    while started.elapsed() < config.edge_duration {
        tick.tick().await;
        if let Some((p, exp_addr)) = &exporter {
            if http::get(*exp_addr, "/metrics").await.is_ok() {
                scrapes += 1;
            }
            exp_rss_max = exp_rss_max.max(procfs::rss(p.pid)?.0);
        }
        edge_rss_max = edge_rss_max.max(procfs::rss(edge.pid)?.0);
    }
    let window = started.elapsed().as_secs_f64();
    let edge_cpu = (procfs::cpu_time(edge.pid)? - edge_cpu0).as_secs_f64() / window;
    let host = http::get(addr, "/api/v1/hosts/bench-edge").await?;
    let host: Value = serde_json::from_str(&host).context("parsing the host view")?;
    let edge_gaps = host["edge"]["gaps"].as_u64().unwrap_or(u64::MAX);

    let mut rows = vec![
        row(
            "edge 1 Hz, every collector",
            "CPU, share of one core",
            pct(edge_cpu),
            "≤ 0.1 %, < node_exporter",
        ),
        row(
            "edge 1 Hz, every collector",
            "RSS (max)",
            mib(edge_rss_max),
            "≤ 6 MiB",
        ),
        row(
            "edge 1 Hz, every collector",
            "sequence gaps at the server",
            edge_gaps.to_string(),
            "0",
        ),
    ];
    if let (Some((p, _)), Some(cpu0)) = (&exporter, exp_cpu0) {
        let exp_cpu = (procfs::cpu_time(p.pid)? - cpu0).as_secs_f64() / window;
        rows.push(row(
            "node_exporter, default collectors, 1 scrape/s",
            "CPU, share of one core",
            pct(exp_cpu),
            &format!("{scrapes} scrapes"),
        ));
        rows.push(row(
            "node_exporter, default collectors, 1 scrape/s",
            "RSS (max)",
            mib(exp_rss_max),
            "",
        ));
        rows.push(row(
            "edge / node_exporter",
            "CPU ratio; RSS ratio",
            format!(
                "{:.2}; {:.2}",
                edge_cpu / exp_cpu.max(1e-9),
                edge_rss_max as f64 / exp_rss_max.max(1) as f64
            ),
            "< 1",
        ));
    }
    edge.terminate(Duration::from_secs(5)).await.ok();
    Ok(rows)
}

/// The server under `config.fleet` simulated edges at 1 Hz: CPU per sample, received =
/// sent, delay from sample time to the dashboard, `/metrics` scrape time.
pub async fn server_under_fleet(config: &Config) -> anyhow::Result<Vec<Row>> {
    let data = scratch_dir("fleet")?;
    let (server, addr) = start_server(&config.bin_dir, &data, &[]).await?;
    eprintln!("bench: starting {} simulated edges", config.fleet);
    let fleet = start_fleet(&config.bin_dir, addr, config.fleet, "1s", "bench").await?;

    // Ingest alone first: no browser connected, so the CPU is what edges cost.
    eprintln!(
        "bench: measuring the server for {:?}",
        config.fleet_duration
    );
    let received0 = scrape_value(addr, "utizmon_server_samples_received_total").await?;
    let cpu0 = procfs::cpu_time(server.pid)?;
    let started = Instant::now();
    tokio::time::sleep(config.fleet_duration).await;
    let window = started.elapsed().as_secs_f64();
    let cpu = (procfs::cpu_time(server.pid)? - cpu0).as_secs_f64();
    let received1 = scrape_value(addr, "utizmon_server_samples_received_total").await?;
    let (server_rss, _) = procfs::rss(server.pid)?;
    let per_second = (received1 - received0) / window;
    let per_sample_us = cpu / (received1 - received0).max(1.0) * 1e6;

    // Then the dashboard: a few detail streams, each timing sample ts -> delivery, and what
    // they add to the server's CPU.
    let delays = Arc::new(Mutex::new(Vec::<f64>::new()));
    let mut watchers = Vec::new();
    for i in (1..=config.fleet).step_by((config.fleet / 20).max(1)) {
        let url = format!("ws://{addr}/ws/dashboard?host=bench-{i:04}");
        watchers.push(tokio::spawn(watch_delay(url, delays.clone())));
    }
    let n_watchers = watchers.len();
    let cpu0 = procfs::cpu_time(server.pid)?;
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let watched_share =
        (procfs::cpu_time(server.pid)? - cpu0).as_secs_f64() / started.elapsed().as_secs_f64();

    // /metrics with the whole fleet.
    let mut scrape_ms = Vec::new();
    let mut body_len = 0;
    for _ in 0..20 {
        let t = Instant::now();
        body_len = http::get(addr, "/metrics").await?.len();
        scrape_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    for w in &watchers {
        w.abort();
    }

    // Stop the fleet cleanly (it flushes unacknowledged samples), then compare what the
    // simulated edges sent (their last sequence numbers) with what the server took.
    fleet.terminate(Duration::from_secs(20)).await?;
    let hosts: Value = serde_json::from_str(&http::get(addr, "/api/v1/hosts").await?)?;
    let hosts = hosts["hosts"].as_array().cloned().unwrap_or_default();
    let sent: u64 = hosts
        .iter()
        .map(|h| h["edge"]["last_seq"].as_u64().unwrap_or(0))
        .sum();
    let gaps: u64 = hosts
        .iter()
        .map(|h| h["edge"]["gaps"].as_u64().unwrap_or(0))
        .sum();
    let received = scrape_value(addr, "utizmon_server_samples_received_total").await? as u64;
    // Stop the server so its write-ahead log is checkpointed into the database file, then
    // size it: one host at 1 Hz stores 86,400 samples a day (plus 1,440 rollups, in the
    // file in proportion).
    server.terminate(Duration::from_secs(20)).await?;
    let db_bytes = std::fs::metadata(data.join("utizmon.sqlite3"))
        .context("sizing the history database")?
        .len() as f64;
    let per_host_day = db_bytes / (received.max(1) as f64) * 86_400.0;

    let mut delays = delays.lock().map(|d| d.clone()).unwrap_or_default();
    delays.sort_by(f64::total_cmp);
    scrape_ms.sort_by(f64::total_cmp);
    let scenario = format!("server, {} edges at 1 Hz", config.fleet);
    Ok(vec![
        row(
            &scenario,
            "samples/s taken",
            format!("{per_second:.0}"),
            &format!("{}", config.fleet),
        ),
        row(
            &scenario,
            "received = sent",
            format!("{received} of {sent}, {gaps} gaps"),
            "equal, 0 gaps",
        ),
        row(
            &scenario,
            "CPU, share of one core",
            pct(cpu / window),
            "< 10 %",
        ),
        row(
            &scenario,
            "CPU per sample",
            format!("{per_sample_us:.1} µs"),
            "<= 100 µs",
        ),
        row(
            &scenario,
            &format!("CPU with {n_watchers} dashboard detail streams open"),
            pct(watched_share),
            "",
        ),
        row(&scenario, "RSS", mib(server_rss), ""),
        // Within one short window nothing is compacted yet: this is the head, where a
        // sample waits (compressed, with its index entries) for its block to close. What
        // history costs once compacted is the bytes scenario's figure.
        row(
            &scenario,
            "head (uncompacted) growth per host and day",
            format!(
                "{} ({:.0} bytes per sample)",
                mib(per_host_day as u64),
                db_bytes / received.max(1) as f64
            ),
            "compacted: see bytes per value",
        ),
        row(
            &scenario,
            "sample to dashboard delay p50 / p99",
            format!(
                "{:.0} ms / {:.0} ms ({} deliveries)",
                quantile(&delays, 0.5),
                quantile(&delays, 0.99),
                delays.len()
            ),
            "",
        ),
        row(
            &scenario,
            "/metrics scrape p50 / max",
            format!(
                "{:.1} ms / {:.1} ms ({} KiB)",
                quantile(&scrape_ms, 0.5),
                quantile(&scrape_ms, 1.0),
                body_len / 1024
            ),
            "< 50 ms",
        ),
    ])
}

/// Polls `/api/v1/hosts` until `n` hosts are online, or fails at the deadline.
pub async fn wait_online(addr: SocketAddr, n: usize, deadline: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let online = online_hosts(addr).await?;
        if online >= n {
            return Ok(());
        }
        if started.elapsed() > deadline {
            bail!("only {online} of {n} hosts online after {deadline:?}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Hosts the server shows online.
pub async fn online_hosts(addr: SocketAddr) -> anyhow::Result<usize> {
    let hosts: Value = serde_json::from_str(&http::get(addr, "/api/v1/hosts").await?)?;
    Ok(hosts["hosts"]
        .as_array()
        .map_or(0, |a| a.iter().filter(|h| h["status"] == "online").count()))
}

/// Follows one host's detail stream and records, for every new sample, how long after
/// its timestamp it reached the browser's socket.
pub async fn watch_delay(url: String, delays: Arc<Mutex<Vec<f64>>>) -> anyhow::Result<()> {
    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str()).await?;
    let mut last_ts = 0;
    while let Some(msg) = ws.next().await {
        let now = now_ms() as f64;
        let Ok(text) = msg?.into_text() else { continue };
        let Ok(value) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        let Some(ts) = value["hosts"][0]["latest"]["ts_ms"].as_u64() else {
            continue;
        };
        // The snapshot carries an old sample; only updates measure the live path.
        if value["type"] == "update" && ts != last_ts {
            if let Ok(mut d) = delays.lock() {
                d.push(now - ts as f64);
            }
        }
        last_ts = ts;
    }
    Ok(())
}

/// Samples taken before a measured window, so every connection exists when it starts.
pub const WARM_UP: Duration = Duration::from_secs(15);

/// Server CPU time (seconds) and samples taken over `window`, measured now.
pub async fn server_cpu_over(
    server: &Proc,
    addr: SocketAddr,
    window: Duration,
) -> anyhow::Result<(f64, f64)> {
    let taken = "utizmon_server_samples_received_total";
    let received0 = scrape_value(addr, taken).await?;
    let cpu0 = procfs::cpu_time(server.pid)?;
    tokio::time::sleep(window).await;
    let cpu = (procfs::cpu_time(server.pid)? - cpu0).as_secs_f64();
    let received = scrape_value(addr, taken).await? - received0;
    Ok((cpu, received))
}

/// What a server cost its host under a fleet, over one measured window.
pub struct Cost {
    /// Server CPU per sample taken, µs.
    pub us_per_sample: f64,
    /// The clients' (simulator's or edges') CPU per sample taken meanwhile, µs.
    pub clients_us_per_sample: f64,
    /// Server RSS growth over its empty start, per host, KiB.
    pub kib_per_host: f64,
    /// Server RSS at the end of the window.
    pub rss: u64,
}

/// After the warm-up, measures `server` (RSS `base` when it started empty) and its
/// `clients` over `window` for `hosts` hosts, then stops the clients and the server, each
/// by its own PID.
pub async fn cost_then_stop(
    server: Proc,
    addr: SocketAddr,
    clients: Vec<Proc>,
    hosts: usize,
    base: u64,
    window: Duration,
) -> anyhow::Result<Cost> {
    tokio::time::sleep(WARM_UP).await;
    let clients_cpu = || -> anyhow::Result<f64> {
        clients.iter().try_fold(0.0, |sum, client| {
            Ok(sum + procfs::cpu_time(client.pid)?.as_secs_f64())
        })
    };
    let clients0 = clients_cpu()?;
    let (cpu, taken) = server_cpu_over(&server, addr, window).await?;
    let clients_cpu = clients_cpu()? - clients0;
    let (rss, _) = procfs::rss(server.pid)?;
    for result in join_all(
        clients
            .into_iter()
            .map(|c| c.terminate(Duration::from_secs(20))),
    )
    .await
    {
        result?;
    }
    server.terminate(Duration::from_secs(20)).await?;
    let taken = taken.max(1.0);
    Ok(Cost {
        us_per_sample: cpu / taken * 1e6,
        clients_us_per_sample: clients_cpu / taken * 1e6,
        kib_per_host: rss.saturating_sub(base) as f64 / 1024.0 / hosts as f64,
        rss,
    })
}

/// Server CPU per sample, in µs, of a fresh server started with `flags` under `edges`
/// simulated edges at 1 Hz, over `window` after a warm-up: one side of a with/without
/// comparison.
pub async fn cpu_per_sample_alone(
    config: &Config,
    edges: usize,
    window: Duration,
    flags: &[&str],
) -> anyhow::Result<f64> {
    let data = scratch_dir("alone")?;
    let (server, addr) = start_server(&config.bin_dir, &data, flags).await?;
    let fleet = start_fleet(&config.bin_dir, addr, edges, "1s", "alone").await?;
    tokio::time::sleep(WARM_UP).await;
    let (cpu, received) = server_cpu_over(&server, addr, window).await?;
    fleet.terminate(Duration::from_secs(20)).await?;
    server.terminate(Duration::from_secs(20)).await?;
    Ok(cpu / received.max(1.0) * 1e6)
}

/// What evaluating the built-in alert rules on every sample costs the server: CPU per
/// sample with them and with an empty rules file, `config.fleet` edges, one window each.
pub async fn alert_evaluation(config: &Config) -> anyhow::Result<Vec<Row>> {
    let rules = scratch_dir("no-rules")?.join("rules.yml");
    std::fs::write(&rules, "rules: []\n").context("writing an empty rules file")?;
    let rules = rules.to_string_lossy().into_owned();
    eprintln!(
        "bench: alert evaluation: {} edges, with and without rules",
        config.fleet
    );
    let with = cpu_per_sample_alone(config, config.fleet, config.fleet_duration, &[]).await?;
    let without = cpu_per_sample_alone(
        config,
        config.fleet,
        config.fleet_duration,
        &["--alert-rules", &rules],
    )
    .await?;
    Ok(vec![row(
        &format!("alerts, {} edges at 1 Hz", config.fleet),
        "server CPU per sample: built-in rules / no rules",
        format!(
            "{with:.1} µs / {without:.1} µs: evaluation adds {:.1} µs per sample",
            with - without
        ),
        "",
    )])
}

/// The value of the unlabelled series `name` in the classic `/metrics` text.
pub async fn scrape_value(addr: SocketAddr, name: &str) -> anyhow::Result<f64> {
    let body = http::get(addr, "/metrics").await?;
    body.lines()
        .find_map(|line| {
            let (series, value) = line.split_once(' ')?;
            (series == name).then(|| value.trim().parse::<f64>().ok())?
        })
        .with_context(|| format!("{name} not in /metrics"))
}

pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

pub fn pct(share: f64) -> String {
    format!("{:.2} %", share * 100.0)
}

pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

pub fn row(scenario: &str, metric: &str, value: String, target: &str) -> Row {
    Row {
        scenario: scenario.to_string(),
        metric: metric.to_string(),
        value,
        target: target.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_of_sorted_values() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(quantile(&v, 0.5), 3.0);
        assert_eq!(quantile(&v, 1.0), 5.0);
        assert!(quantile(&[], 0.5).is_nan());
    }
}
