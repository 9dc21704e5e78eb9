//! Benchmarks of the history store: how many samples per second ingest takes with every
//! sample committed before its ack, and how long 24-hour, 7-day and 30-day history
//! queries take.

use std::time::{Duration, Instant};

use anyhow::Context;
use utizmon_protocol::{now_ms, HostInfo, Sample};
use utizmon_store::{NetRate, Point, Record, Store, StoreConfig};

use crate::fleet::{mib, pct, quantile, row, scrape_value};
use crate::process::{scratch_dir, start_fleet, start_server};
use crate::{http, procfs, Config, Row};

/// Offered loads, as sampling intervals of 1,000 simulated edges: 2,000 to 10,000
/// samples per second.
const INTERVALS_MS: [u64; 3] = [500, 200, 100];
const EDGES: usize = 1000;
const STEP_SECONDS: u64 = 15;

/// Times each history request is sent, for its p50 and p99.
const QUERY_RUNS: usize = 50;

/// Raises the offered load until the server stops keeping up (takes under 95 % of it).
pub async fn ingest_capacity(config: &Config) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    let scenario = "ingest with the store (fsync per batch)";
    for interval_ms in INTERVALS_MS {
        let offered = EDGES as f64 * 1000.0 / interval_ms as f64;
        let data = scratch_dir(&format!("ingest-{interval_ms}"))?;
        let (server, addr) = start_server(&config.bin_dir, &data, &[]).await?;
        eprintln!("bench: offering {offered:.0} samples/s");
        let interval = format!("{interval_ms}ms");
        let fleet = start_fleet(&config.bin_dir, addr, EDGES, &interval, "load").await?;
        let received0 = scrape_value(addr, "utizmon_server_samples_received_total").await?;
        let cpu0 = procfs::cpu_time(server.pid)?;
        let started = Instant::now();
        tokio::time::sleep(Duration::from_secs(STEP_SECONDS)).await;
        let window = started.elapsed().as_secs_f64();
        let taken = scrape_value(addr, "utizmon_server_samples_received_total").await? - received0;
        let cpu = (procfs::cpu_time(server.pid)? - cpu0).as_secs_f64();
        let errors = scrape_value(addr, "utizmon_server_store_errors_total").await?;
        fleet.terminate(Duration::from_secs(20)).await.ok();
        drop(server);
        let rate = taken / window;
        let keeps_up = rate >= 0.95 * offered;
        rows.push(row(
            scenario,
            &format!("offered {offered:.0}/s"),
            format!(
                "took {rate:.0}/s, server CPU {}, {:.1} µs/sample, {errors} store errors{}",
                pct(cpu / window),
                cpu / taken.max(1.0) * 1e6,
                if keeps_up { "" } else { " (falls behind)" }
            ),
            "keeps up at 1,000/s",
        ));
        if !keeps_up {
            break;
        }
    }
    Ok(rows)
}

/// Fills a store with 30 days of one host's history (one sample a minute, so every
/// minute has a rollup, the shape of a month-old host), then times the 24 h and 30 d
/// history requests of the dashboard through a real server.
pub async fn history_queries(config: &Config) -> anyhow::Result<Vec<Row>> {
    let data = scratch_dir("history")?;
    let now = now_ms();
    let day_ms = 86_400_000u64;
    let minutes = 30 * 24 * 60u64;
    eprintln!("bench: writing 30 days of history ({minutes} samples)");
    let written = Instant::now();
    let store = Store::open(StoreConfig::new(&data)).context("opening the bench store")?;
    let mut commits = Vec::with_capacity(minutes as usize);
    for i in 0..minutes {
        let ts_ms = now - 30 * day_ms + i * 60_000;
        commits.push(store.append(record(i + 1, ts_ms)).await);
    }
    for commit in commits {
        commit
            .await
            .context("writer stopped")?
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    store.maintain().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    store.close().await;
    let write_s = written.elapsed().as_secs_f64();
    let size = std::fs::metadata(data.join(utizmon_store::DB_FILE)).map_or(0, |m| m.len());

    let (_server, addr) = start_server(&config.bin_dir, &data, &[]).await?;
    let mut rows = vec![row(
        "history store",
        "write 43,200 samples + rollups (one host, 30 days by minute)",
        format!("{write_s:.1} s, {}", mib(size)),
        "",
    )];
    for (label, range_ms) in [("24 h", day_ms), ("7 d", 7 * day_ms), ("30 d", 30 * day_ms)] {
        let path = format!(
            "/api/v1/hosts/bench-history/samples?from={}&to={now}",
            now - range_ms
        );
        let mut times = Vec::new();
        let mut points = 0;
        for _ in 0..QUERY_RUNS {
            let t = Instant::now();
            let body = http::get(addr, &path).await?;
            times.push(t.elapsed().as_secs_f64() * 1e3);
            let value: serde_json::Value = serde_json::from_str(&body)?;
            points = value["points"].as_array().map_or(0, |p| p.len());
        }
        times.sort_by(f64::total_cmp);
        rows.push(row(
            "history store",
            &format!("GET samples for {label} (default step)"),
            format!(
                "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({points} points)",
                quantile(&times, 0.5),
                quantile(&times, 0.99),
                quantile(&times, 1.0)
            ),
            "",
        ));
    }
    Ok(rows)
}

/// One plausible sample of the synthetic history host.
fn record(seq: u64, ts_ms: u64) -> Record {
    let phase = (seq as f64 / 90.0).sin() * 0.5 + 0.5;
    let sample = Sample {
        seq,
        ts_ms,
        ..Sample::default()
    };
    Record {
        host: "bench-history".into(),
        run_id: "bench".into(),
        frame: None,
        info: Some(std::sync::Arc::new(HostInfo {
            host_name: "bench-history".into(),
            cores: 4,
            ..HostInfo::default()
        })),
        interval_ms: 60_000,
        sample: std::sync::Arc::new(sample),
        point: Point {
            ts_ms,
            cpu_ratio: phase,
            cpu_ratio_min: phase,
            cpu_ratio_max: phase,
            cores: vec![phase; 4],
            mem_used_bytes: 2e9 * phase,
            mem_total_bytes: 8e9,
            swap_total_bytes: 1e9,
            load1: 4.0 * phase,
            load5: 3.0 * phase,
            load15: 2.0 * phase,
            networks: vec![NetRate {
                device: "eth0".into(),
                rx_bytes_per_second: 1e6 * phase,
                tx_bytes_per_second: 2e5 * phase,
            }],
            n: 1,
            ..Point::default()
        },
    }
}
