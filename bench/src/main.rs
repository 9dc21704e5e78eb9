//! `make bench`: runs the real release binaries on 127.0.0.1 and prints one Markdown table.
//!
//! Two scenarios, each measured side by side within one run so a noisy shared machine
//! skews both sides alike: the edge against Prometheus' node_exporter at 1 Hz, and the
//! server under a simulated fleet (received = sent, CPU per sample, delay to the
//! dashboard, `/metrics` scrape time, history database growth, what alert evaluation adds),
//! then the history store
//! alone (ingest capacity with every sample committed, commit latency while compaction
//! works off a backlog, 24 h, 7 d and 30 d query times), its
//! bytes per value, and the same stream side by side in VictoriaMetrics and Prometheus.
//! Numbers are reported, not asserted.

mod bytes;
mod compaction;
mod engines;
mod fleet;
mod floor;
mod history;
mod http;
mod live_steady;
mod overload;
mod plot;
mod process;
mod procfs;
mod real_hosts;
mod scaling;
mod steady;
mod throttle;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, ValueEnum};

/// Command-line options; defaults are the targets.
#[derive(Debug, Parser)]
#[command(about = "utizmon benchmarks: prints a table and writes it to a Markdown file")]
pub struct Config {
    /// Directory holding the release binaries.
    #[arg(long, default_value = "target/release")]
    pub bin_dir: PathBuf,
    /// How long to measure the edge and node_exporter side by side.
    #[arg(long, default_value = "60s", value_parser = humantime_secs)]
    pub edge_duration: Duration,
    /// Simulated edges for the server scenario.
    #[arg(long, default_value_t = 1000)]
    pub fleet: usize,
    /// How long to measure the server under the simulated fleet.
    #[arg(long, default_value = "30s", value_parser = humantime_secs)]
    pub fleet_duration: Duration,
    /// Simulated edges whose stream the history bytes-per-value scenario stores.
    #[arg(long, default_value_t = 1000)]
    pub bytes_edges: usize,
    /// How long the bytes-per-value scenario takes the simulator's samples.
    #[arg(long, default_value = "300s", value_parser = humantime_secs)]
    pub bytes_duration: Duration,
    /// How long the bytes-per-value scenario takes this machine's own edge's samples: one
    /// sample a second, so it needs longer than the fleet for whole blocks.
    #[arg(long, default_value = "600s", value_parser = humantime_secs)]
    pub bytes_real_duration: Duration,
    /// Simulated edges whose stream goes into utizmon, VictoriaMetrics and Prometheus at once.
    #[arg(long, default_value_t = 1000)]
    pub engines_edges: usize,
    /// How long the side-by-side scenario measures, after a 15 s warm-up.
    #[arg(long, default_value = "120s", value_parser = humantime_secs)]
    pub engines_duration: Duration,
    /// Run only these scenarios, in the table's order (comma-separated or repeated); all of
    /// them but `live-steady` when not given.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub only: Vec<Scenario>,
    /// node_exporter binary (Debian package prometheus-node-exporter).
    #[arg(long, default_value = "/usr/bin/prometheus-node-exporter")]
    pub node_exporter: PathBuf,
    /// Fleet sizes of the scaling curve (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = [1000, 5000, 10000, 20000])]
    pub scaling_edges: Vec<usize>,
    /// Real `utizmon-edge` processes (and as many simulated edges) of the real-hosts
    /// scenario; each real edge is a process of about 5 MiB sampling this machine.
    #[arg(long, default_value_t = 300)]
    pub real_edges: usize,
    /// Fleet sizes at which the floor scenario runs utizmon-server beside utizmon-ack-floor
    /// (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = [1000, 5000])]
    pub floor_edges: Vec<usize>,
    /// How long each size of the scaling curve (and each side of real-hosts and floor) is
    /// measured, after its warm-up.
    #[arg(long, default_value = "30s", value_parser = humantime_secs)]
    pub scaling_duration: Duration,
    /// Simulated edges of the overload scenario's sustainable load (it then doubles).
    #[arg(long, default_value_t = 2000)]
    pub overload_edges: usize,
    /// How long the overload scenario drives twice the sustainable load.
    #[arg(long, default_value = "30s", value_parser = humantime_secs)]
    pub overload_duration: Duration,
    /// Milliseconds of every 100 the overload scenario lets the server run (it is frozen
    /// the rest), so its capacity is small and known on a shared machine.
    /// At 25 the server still took 3,964 of 4,000 samples/s on a 2-core box; at 15 its
    /// capacity sits between the base load and twice it.
    #[arg(long, default_value_t = 15)]
    pub overload_run_ms: u64,
    /// Where to write the table; by default `docs/benchmarks.md` for a full run, nowhere
    /// for an `--only` run (a partial table must not replace the full one).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

impl Config {
    /// Where the table goes: `--out`, else `docs/benchmarks.md` for a full run, else nowhere.
    fn table_path(&self) -> Option<PathBuf> {
        match (&self.out, self.only.is_empty()) {
            (Some(out), _) => Some(out.clone()),
            (None, true) => Some(PathBuf::from("docs/benchmarks.md")),
            (None, false) => None,
        }
    }

    /// Where the scaling plot goes: beside the table, or under `target/bench/` when a
    /// partial run writes no table.
    fn plot_path(&self) -> PathBuf {
        let dir = self
            .table_path()
            .and_then(|t| t.parent().map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("target/bench"));
        dir.join("scaling.svg")
    }
}

/// The scenarios, in the order the table shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// The edge beside node_exporter.
    Edge,
    /// The server under a simulated fleet.
    Fleet,
    /// What alert evaluation adds per sample.
    Alerts,
    /// The store's ingest capacity.
    Ingest,
    /// Commit latency while compaction works off a backlog.
    Compaction,
    /// History query times.
    Queries,
    /// History bytes per value in the steady state: whole blocks, fed in-process.
    BytesSteady,
    /// History bytes per value of live 5- and 10-minute windows.
    Bytes,
    /// The same stream in utizmon, VictoriaMetrics and Prometheus.
    Engines,
    /// The server at several fleet sizes, drawn as a plot.
    Scaling,
    /// Real edges (this machine's samples) beside as many simulated ones.
    RealHosts,
    /// The server beside a server that only acks: what is utizmon's own cost per sample.
    Floor,
    /// The live server over one whole block period with its compaction (not in a full
    /// run: it waits for a block boundary, 16-26 minutes in all).
    LiveSteady,
    /// Twice the sustainable load: no edge closed, received = sent once it drops.
    Overload,
}

impl Scenario {
    /// Whether a run without `--only` includes this scenario.
    fn in_full_run(self) -> bool {
        self != Scenario::LiveSteady
    }
}

/// Runs one scenario.
async fn run(scenario: Scenario, config: &Config) -> anyhow::Result<Vec<Row>> {
    match scenario {
        Scenario::Edge => fleet::edge_vs_node_exporter(config).await,
        Scenario::Fleet => fleet::server_under_fleet(config).await,
        Scenario::Alerts => fleet::alert_evaluation(config).await,
        Scenario::Ingest => history::ingest_capacity(config).await,
        Scenario::Compaction => compaction::commit_latency_during_compaction().await,
        Scenario::Queries => history::history_queries(config).await,
        Scenario::BytesSteady => steady::steady_state(config).await,
        Scenario::Bytes => bytes::bytes_per_value(config).await,
        Scenario::Engines => engines::side_by_side(config).await,
        Scenario::Scaling => scaling::scaling_curve(config, &config.plot_path()).await,
        Scenario::RealHosts => real_hosts::real_vs_simulated(config).await,
        Scenario::Floor => floor::server_vs_floor(config).await,
        Scenario::LiveSteady => live_steady::live_steady_state(config).await,
        Scenario::Overload => overload::overload_without_storms(config).await,
    }
}

/// One row of the result table.
pub struct Row {
    pub scenario: String,
    pub metric: String,
    pub value: String,
    pub target: String,
}

fn humantime_secs(s: &str) -> Result<Duration, String> {
    let secs = s.trim_end_matches('s');
    secs.parse::<f64>()
        .map(Duration::from_secs_f64)
        .map_err(|e| format!("{s}: {e} (use e.g. 60s)"))
}

fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let rows = runtime.block_on(async {
        let mut rows = Vec::new();
        for &scenario in Scenario::value_variants() {
            let asked = if config.only.is_empty() {
                scenario.in_full_run()
            } else {
                config.only.contains(&scenario)
            };
            if asked {
                rows.extend(run(scenario, &config).await?);
            }
        }
        anyhow::Ok(rows)
    })?;
    let table = render(&config, &rows);
    print!("{table}");
    if let Some(out) = config.table_path() {
        std::fs::write(&out, &table).with_context(|| format!("writing {}", out.display()))?;
        eprintln!("bench: wrote {}", out.display());
    }
    Ok(())
}

/// The Markdown page: a short header saying how it was measured, then the table.
fn render(config: &Config, rows: &[Row]) -> String {
    let mut out = String::new();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let _ = writeln!(out, "# Benchmarks\n");
    let _ = writeln!(
        out,
        "Written by `make bench` ({}; {cpus} CPUs).",
        current_time_text()
    );
    let _ = writeln!(
        out,
        "Edge and node_exporter: {} s side by side at 1 Hz. Server: {} simulated edges at 1 Hz for {} s.",
        config.edge_duration.as_secs(),
        config.fleet,
        config.fleet_duration.as_secs()
    );
    let _ = writeln!(
        out,
        "CPU is user+system time from /proc/PID/stat over the window, as a share of one core.\n"
    );
    let _ = writeln!(out, "| scenario | metric | measured | target |");
    let _ = writeln!(out, "|---|---|---|---|");
    for row in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            row.scenario, row.metric, row.value, row.target
        );
    }
    out
}

fn current_time_text() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}
