//! Side by side with the engines people already run: one simulated fleet's stream goes into
//! utizmon's own store and, by remote write from the same server, into VictoriaMetrics and
//! Prometheus at once. So all three hold the same samples, measured on one machine in one
//! window: bytes per value on disk, CPU per value, and what remote write costs the server.
//!
//! Each engine counts values its own way: utizmon every numeric value of a sample (what
//! `bytes.rs` counts), the receivers the series values remote write delivered to them
//! (`utizmon_remote_write_samples_total{outcome="sent"}`). Disk is each one's compressed
//! long-term form: utizmon's compacted chunks (as `bytes.rs` measures them), VictoriaMetrics'
//! data directory after a forced flush, and the block a Prometheus snapshot writes of its
//! head (its WAL is a write-ahead log, not what it keeps). CPU: an engine's is what
//! receiving and storing costs it; utizmon's is given with the remote writes it runs for
//! the engines and, like for like, without them (a run of the same fleet on its own).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::Value;

use crate::bytes::measure;
use crate::fleet::row;
use crate::process::{free_port, scratch_dir, start_fleet, start_server, Proc};
use crate::{http, procfs, Config, Row};

/// Longest wait for the receivers to catch up once the fleet stops.
const CATCH_UP: Duration = Duration::from_secs(180);

/// A remote-write receiver run by the benchmark.
struct Engine {
    name: &'static str,
    proc: Proc,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Engine {
    /// Starts `kind` on a free loopback port with its own scratch directory; `None` when
    /// its Debian package is not installed.
    async fn start(kind: &'static str) -> anyhow::Result<Option<Engine>> {
        let dir = scratch_dir(&format!("engine-{kind}"))?;
        let addr: SocketAddr = ([127, 0, 0, 1], free_port()?).into();
        let data = dir.join("data");
        let (program, args, ready) = match kind {
            "VictoriaMetrics" => (
                "/usr/bin/victoria-metrics",
                vec![
                    format!("-httpListenAddr={addr}"),
                    format!("-storageDataPath={}", data.display()),
                    "-retentionPeriod=100y".to_owned(),
                ],
                "/health",
            ),
            _ => {
                let config = dir.join("prometheus.yml");
                std::fs::write(&config, "global:\n  scrape_interval: 1m\n")
                    .context("writing the Prometheus configuration")?;
                (
                    "/usr/bin/prometheus",
                    vec![
                        format!("--config.file={}", config.display()),
                        format!("--storage.tsdb.path={}", data.display()),
                        format!("--web.listen-address={addr}"),
                        "--web.enable-remote-write-receiver".to_owned(),
                        "--web.enable-admin-api".to_owned(),
                    ],
                    "/-/ready",
                )
            }
        };
        if !Path::new(program).exists() {
            eprintln!("bench: {program} is not installed; {kind} left out");
            return Ok(None);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let proc = Proc::spawn(Path::new(program), &args)?;
        let started = Instant::now();
        while http::get(addr, ready).await.is_err() {
            if started.elapsed() > Duration::from_secs(60) {
                bail!("{kind} was not ready within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(Some(Engine {
            name: kind,
            proc,
            addr,
            dir,
        }))
    }

    fn write_url(&self) -> String {
        format!("http://{}/api/v1/write", self.addr)
    }

    /// Bytes of what the engine keeps long-term (see the module comment).
    async fn stored_bytes(&self) -> anyhow::Result<u64> {
        if self.name == "VictoriaMetrics" {
            http::get(self.addr, "/internal/force_flush").await?;
            tokio::time::sleep(Duration::from_secs(2)).await;
            return dir_size(&self.dir.join("data"));
        }
        let text = http::post(self.addr, "/api/v1/admin/tsdb/snapshot").await?;
        let reply: Value = serde_json::from_str(&text)
            .with_context(|| format!("{}'s snapshot reply is not JSON: {text:?}", self.name))?;
        let name = reply["data"]["name"]
            .as_str()
            .context("the snapshot reply has no name")?;
        dir_size(&self.dir.join("data/snapshots").join(name))
    }
}

/// Values remote write delivered to the receiver listening on `addr` (its `remote` label
/// holds the URL), and the samples still pending for it.
async fn delivered(server: SocketAddr, receiver: SocketAddr) -> anyhow::Result<(f64, f64)> {
    let body = http::get(server, "/metrics").await?;
    let port = format!(":{}", receiver.port());
    let value = |prefix: &str, extra: &str| {
        body.lines()
            .filter(|l| l.starts_with(prefix) && l.contains(&port) && l.contains(extra))
            .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
            .sum::<f64>()
    };
    Ok((
        value("utizmon_remote_write_samples_total{", "outcome=\"sent\""),
        value("utizmon_remote_write_pending_samples{", ""),
    ))
}

/// Total size of the files below `dir`.
fn dir_size(dir: &Path) -> anyhow::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            dir_size(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

/// One engine's figures over the window.
struct Figures {
    name: &'static str,
    values: f64,
    window_values: f64,
    cpu: f64,
    bytes: u64,
}

/// The side-by-side scenario: `config.engines_edges` simulated edges for
/// `config.engines_duration`, first into utizmon alone, then into all three.
pub async fn side_by_side(config: &Config) -> anyhow::Result<Vec<Row>> {
    eprintln!(
        "bench: side by side: {} simulated edges, server alone first",
        config.engines_edges
    );
    // The same fleet and window without remote write: what the server costs per sample
    // on its own, so the remote-write row can say what delivery adds.
    let alone_us = crate::fleet::cpu_per_sample_alone(
        config,
        config.engines_edges,
        config.engines_duration,
        &[],
    )
    .await?;
    let mut engines = Vec::new();
    for kind in ["VictoriaMetrics", "Prometheus"] {
        engines.extend(Engine::start(kind).await?);
    }
    let data = scratch_dir("engines")?;
    let urls: Vec<String> = engines.iter().map(Engine::write_url).collect();
    let mut flags = Vec::new();
    for url in &urls {
        flags.extend(["--remote-write", url.as_str()]);
    }
    let (server, addr) = start_server(&config.bin_dir, &data, &flags).await?;
    eprintln!(
        "bench: side by side: {} simulated edges into utizmon and {} receivers",
        config.engines_edges,
        engines.len()
    );
    let fleet = start_fleet(&config.bin_dir, addr, config.engines_edges, "1s", "engines").await?;
    tokio::time::sleep(crate::fleet::WARM_UP).await;

    let mut before = Vec::new();
    for engine in &engines {
        before.push((
            delivered(addr, engine.addr).await?.0,
            procfs::cpu_time(engine.proc.pid)?,
        ));
    }
    let (server_cpu, received) =
        crate::fleet::server_cpu_over(&server, addr, config.engines_duration).await?;
    let mut figures = Vec::new();
    for (engine, (sent0, cpu0)) in engines.iter().zip(&before) {
        let sent = delivered(addr, engine.addr).await?.0;
        figures.push(Figures {
            name: engine.name,
            values: 0.0,
            window_values: sent - sent0,
            cpu: (procfs::cpu_time(engine.proc.pid)? - *cpu0).as_secs_f64(),
            bytes: 0,
        });
    }

    // Stop the fleet, let every receiver catch up, then size what each keeps.
    fleet.terminate(Duration::from_secs(20)).await?;
    let stopped = Instant::now();
    let mut caught_up = Duration::ZERO;
    for engine in &engines {
        loop {
            let (_, pending) = delivered(addr, engine.addr).await?;
            if pending == 0.0 {
                break;
            }
            if stopped.elapsed() > CATCH_UP {
                bail!(
                    "{} still had {pending} samples pending after {CATCH_UP:?}",
                    engine.name
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        caught_up = stopped.elapsed();
    }
    for (engine, f) in engines.iter().zip(&mut figures) {
        f.values = delivered(addr, engine.addr).await?.0;
        f.bytes = engine.stored_bytes().await?;
    }
    server.terminate(Duration::from_secs(20)).await?;
    for engine in engines {
        engine.proc.terminate(Duration::from_secs(20)).await?;
    }
    let ours = measure(&data).await?;
    let values_per_sample = ours.values as f64 / ours.samples.max(1) as f64;
    let our_figures = Figures {
        name: "utizmon",
        values: ours.values as f64,
        window_values: received * values_per_sample,
        cpu: server_cpu,
        bytes: ours.bytes,
    };
    let mut rows = rows(
        config,
        &our_figures,
        &figures,
        (received, alone_us),
        caught_up,
    );
    let with_us = server_cpu / received.max(1.0) * 1e6;
    rows.push(row(
        &rows[0].scenario.clone(),
        &format!(
            "remote write to {} receivers: server CPU per sample",
            figures.len()
        ),
        format!(
            "{with_us:.1} µs with, {alone_us:.1} µs without: {:.1} µs per sample per receiver",
            (with_us - alone_us) / figures.len().max(1) as f64
        ),
        "",
    ));
    Ok(rows)
}

/// The table rows: bytes and CPU per value for each engine, with ratios to utizmon's.
/// `alone_us` is utizmon's CPU per sample without the remote writes it runs for the
/// engines: like for like, since an engine's CPU is what receiving and storing costs it.
fn rows(
    config: &Config,
    ours: &Figures,
    engines: &[Figures],
    (received, alone_us): (f64, f64),
    caught_up: Duration,
) -> Vec<Row> {
    let scenario = format!(
        "side by side, {} edges at 1 Hz for {} s",
        config.engines_edges,
        config.engines_duration.as_secs()
    );
    let per_value = |f: &Figures| f.bytes as f64 / f.values.max(1.0);
    let cpu_per_value = |f: &Figures| f.cpu / f.window_values.max(1.0) * 1e6;
    let values_per_sample = ours.window_values / received.max(1.0);
    let alone_per_value = alone_us / values_per_sample.max(1.0);
    let ratios: Vec<String> = engines
        .iter()
        .map(|f| {
            let ratio = alone_per_value / cpu_per_value(f).max(f64::MIN_POSITIVE);
            format!("{ratio:.2}x {}'s", f.name)
        })
        .collect();
    let mut rows = vec![
        row(
            &scenario,
            "utizmon: bytes per value on disk",
            format!("{:.2} B/value ({:.0} values)", per_value(ours), ours.values),
            "fewer than both engines",
        ),
        row(
            &scenario,
            "utizmon: server CPU per value (ingest, store, both remote writes)",
            format!(
                "{:.2} µs/value, {:.1} µs/sample",
                cpu_per_value(ours),
                ours.cpu / received.max(1.0) * 1e6
            ),
            "",
        ),
        row(
            &scenario,
            "utizmon: server CPU per value, ingest and store only (no remote write)",
            format!(
                "{alone_per_value:.2} µs/value, {alone_us:.1} µs/sample ({})",
                ratios.join(", ")
            ),
            "below VictoriaMetrics'",
        ),
    ];
    for f in engines {
        rows.push(row(
            &scenario,
            &format!("{}: bytes per value on disk", f.name),
            format!(
                "{:.2} B/value ({:.0} values; utizmon uses {:.2}x)",
                per_value(f),
                f.values,
                per_value(ours) / per_value(f).max(f64::MIN_POSITIVE)
            ),
            "",
        ));
        rows.push(row(
            &scenario,
            &format!("{}: CPU per value received", f.name),
            format!(
                "{:.2} µs/value (utizmon uses {:.2}x)",
                cpu_per_value(f),
                cpu_per_value(ours) / cpu_per_value(f).max(f64::MIN_POSITIVE)
            ),
            "",
        ));
    }
    rows.push(row(
        &scenario,
        "remote write: receivers caught up after the fleet stopped",
        format!("{:.1} s", caught_up.as_secs_f64()),
        "",
    ));
    rows
}
