//! Real hosts beside simulated ones: what one host costs the server when its samples are a
//! real edge's (this machine's, every collector) rather than the simulator's.
//!
//! Why: the simulator's samples are about 0.8 KB of JSON with none of a real host's kernel
//! tables, processes or cgroups, while this machine's edge sends 6-7 KB. Every other server
//! figure of this table comes from the simulator, so it is a floor for real fleets; this
//! scenario says how far above it a real fleet sits. One fresh server takes `--real-edges`
//! real `utizmon-edge` processes (one per host name, all reading this machine), then
//! another fresh server takes as many simulated edges, measured the same way.

use std::time::Duration;

use crate::fleet::{cost_then_stop, row, wait_online, Cost};
use crate::process::{scratch_dir, spawn_fleet, start_edge, start_server, Proc};
use crate::{procfs, Config, Row};

/// One server under real edges and one under simulated edges, side by side.
pub async fn real_vs_simulated(config: &Config) -> anyhow::Result<Vec<Row>> {
    let n = config.real_edges;
    eprintln!("bench: real hosts: {n} real edge processes");
    let real = measure(config, n, true).await?;
    eprintln!("bench: real hosts: {n} simulated edges");
    let simulated = measure(config, n, false).await?;
    let scenario = format!("{n} real edges beside {n} simulated, 1 Hz");
    Ok(vec![
        row(
            &scenario,
            "server CPU per sample: real / simulated",
            format!(
                "{:.1} µs / {:.1} µs ({:.2}x)",
                real.us_per_sample,
                simulated.us_per_sample,
                real.us_per_sample / simulated.us_per_sample.max(f64::MIN_POSITIVE)
            ),
            "",
        ),
        row(
            &scenario,
            "server RSS growth over its empty start, per host: real / simulated",
            format!(
                "{:.1} KiB / {:.1} KiB: a real host {:.1} KiB more (RSS {} / {})",
                real.kib_per_host,
                simulated.kib_per_host,
                real.kib_per_host - simulated.kib_per_host,
                crate::fleet::mib(real.rss),
                crate::fleet::mib(simulated.rss)
            ),
            "",
        ),
    ])
}

/// A fresh server under `n` real or simulated edges: CPU per sample over the scaling
/// window after a warm-up, and RSS growth per host at its end.
async fn measure(config: &Config, n: usize, real: bool) -> anyhow::Result<Cost> {
    let data = scratch_dir("real-hosts")?;
    let (server, addr) = start_server(&config.bin_dir, &data, &[]).await?;
    let (base, _) = procfs::rss(server.pid)?;
    let edges: Vec<Proc> = if real {
        (1..=n)
            .map(|i| start_edge(&config.bin_dir, addr, &format!("real-{i:04}")))
            .collect::<anyhow::Result<_>>()?
    } else {
        vec![spawn_fleet(&config.bin_dir, addr, n, "1s", "sim")?]
    };
    wait_online(addr, n, Duration::from_secs(120)).await?;
    cost_then_stop(server, addr, edges, n, base, config.scaling_duration).await
}
