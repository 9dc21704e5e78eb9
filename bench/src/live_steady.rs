//! The live server in its steady state: a real server and simulated fleet run until the
//! 10 minutes measured hold exactly one whole block's compaction, the work every other
//! live window is too short to include.
//!
//! Compaction runs for about a minute after each block (plus its grace) ends, on its own
//! thread, then the server goes quiet again. So CPU per sample is only honest over a whole
//! block period, and memory only after a compaction has come and gone: RSS that grows
//! during it and is not given back (an allocator keeping freed pages) shows only at the
//! end of such a window. Not in a full `make bench` run: it waits for a block boundary,
//! 16-26 minutes in all (`utizmon-bench --only live-steady`).

use std::time::Duration;

use utizmon_protocol::now_ms;
use utizmon_store::{BLOCK_MS, GRACE_MS};

use crate::fleet::{mib, row, scrape_value};
use crate::process::{scratch_dir, start_fleet, start_server};
use crate::{procfs, Config, Row};

/// How long after compaction starts the window goes on: compaction of 1,000 hosts' block
/// takes about 80 s, and freed pages are given back within seconds after it.
const AFTER_COMPACTION_MS: u64 = 270_000;

/// How often RSS is read.
const RSS_EVERY: Duration = Duration::from_secs(2);

/// The measured window `(start, end)` in Unix ms for a fleet online at `online_ms`: one
/// block period that ends `AFTER_COMPACTION_MS` after the compaction of the first whole
/// block the fleet streamed.
fn window(online_ms: u64) -> (u64, u64) {
    let first_whole = online_ms.div_ceil(BLOCK_MS) * BLOCK_MS;
    let compaction = first_whole + BLOCK_MS + GRACE_MS;
    let end = compaction + AFTER_COMPACTION_MS;
    (end - BLOCK_MS, end)
}

/// Server CPU per sample and RSS over one block period with its compaction.
pub async fn live_steady_state(config: &Config) -> anyhow::Result<Vec<Row>> {
    let data = scratch_dir("live-steady")?;
    let (server, addr) = start_server(&config.bin_dir, &data, &[]).await?;
    let fleet = start_fleet(&config.bin_dir, addr, config.fleet, "1s", "steady").await?;
    let (start, end) = window(now_ms());
    eprintln!(
        "bench: live-steady: {} edges; measuring from {} s to {} s from now",
        config.fleet,
        (start - now_ms()) / 1000,
        (end - now_ms()) / 1000
    );
    tokio::time::sleep(Duration::from_millis(start.saturating_sub(now_ms()))).await;
    let taken = "utizmon_server_samples_received_total";
    let received0 = scrape_value(addr, taken).await?;
    let cpu0 = procfs::cpu_time(server.pid)?;
    let (mut max, mut sum, mut reads) = (0u64, 0u64, 0u64);
    // Bounded by the window's own length.
    while now_ms() < end {
        let (rss, _) = procfs::rss(server.pid)?;
        max = max.max(rss);
        sum += rss;
        reads += 1;
        tokio::time::sleep(RSS_EVERY).await;
    }
    let cpu = (procfs::cpu_time(server.pid)? - cpu0).as_secs_f64();
    let received = scrape_value(addr, taken).await? - received0;
    let (last, _) = procfs::rss(server.pid)?;
    fleet.terminate(Duration::from_secs(20)).await?;
    server.terminate(Duration::from_secs(20)).await?;

    let hosts = config.fleet as u64;
    let per_host = |bytes: u64| {
        format!(
            "{} ({:.1} KiB per host)",
            mib(bytes),
            bytes as f64 / 1024.0 / hosts as f64
        )
    };
    let scenario = format!(
        "server, {} edges at 1 Hz, steady state: one block period ({} s) with its compaction",
        config.fleet,
        BLOCK_MS / 1000
    );
    Ok(vec![
        row(
            &scenario,
            "server CPU per sample, compaction included",
            format!(
                "{:.1} µs ({} samples)",
                cpu / received.max(1.0) * 1e6,
                received as u64
            ),
            "≤ 25 µs (ingest alone)",
        ),
        row(
            &scenario,
            "server RSS: at the end (compaction over), mean, max",
            format!(
                "{}; {}; {}",
                per_host(last),
                mib(sum / reads.max(1)),
                mib(max)
            ),
            "≤ 16 KiB per host",
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_one_block_period_holding_the_first_whole_blocks_compaction() {
        let boundary = 1_764_000_000_000 / BLOCK_MS * BLOCK_MS;
        for now in [boundary - 1, boundary - BLOCK_MS + 1] {
            let (start, end) = window(now);
            assert_eq!(end - start, BLOCK_MS);
            let compaction = boundary + BLOCK_MS + GRACE_MS;
            assert!(start < compaction && compaction < end);
            assert!(start >= now, "starts after the fleet is up");
        }
        // Exactly on a boundary: that block is whole.
        let (start, _) = window(boundary);
        assert_eq!(start, boundary + GRACE_MS + AFTER_COMPACTION_MS);
    }
}
