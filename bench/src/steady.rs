//! Steady-state bytes per value: the simulator's fleet fed straight into a store whose clock
//! follows the samples, so whole 10-minute blocks move into chunks as they do after hours
//! of running, in a couple of minutes of real time.
//!
//! The live scenario in `bytes.rs` runs a real server for a 5-minute window: its blocks are
//! cut short and then compacted at once, so its figure is an upper bound. This one measures
//! the growth of the data directory per value over one whole block in the steady state:
//! from the moment block 0 has moved into chunks to the moment block 1 has. The head then
//! holds the same minute of samples at both ends (the grace before a block is due), so
//! what the directory gained is block 1's chunks, its rollups and the tables' own
//! overhead. The samples are the live simulator's (`SimHost::fill_at`, the code
//! `--simulate` runs), with the few milliseconds of timer jitter live edges show, and the
//! records are built the way the server builds them (`history::point`, network rates).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use utizmon_edge::simulate::{host_name, mix, SimHost};
use utizmon_protocol::{HostInfo, Sample};
use utizmon_server::rates::Rates;
use utizmon_store::{Commit, Record, Store, StoreConfig, BLOCK_MS, DB_FILE, GRACE_MS};

use crate::bytes::numeric_leaves;
use crate::fleet::row;
use crate::process::scratch_dir;
use crate::{procfs, Config, Row};

/// How the directory grew over one whole block.
pub struct Steady {
    /// Values the block's samples carried.
    pub values: u64,
    /// Growth of the pages in use (the file minus its free list), after a checkpoint.
    pub used_bytes: i64,
    /// Growth of every file in the data directory (database, WAL, shared memory).
    pub dir_bytes: i64,
    /// Size of the block's chunks, compressed.
    pub chunk_bytes: u64,
    /// Samples fed between the two measurements.
    pub samples: u64,
    /// CPU time of the store's writer thread (commits, rollups, retention) meanwhile.
    pub writer_cpu: Duration,
    /// CPU time of the store's compaction thread meanwhile.
    pub compaction_cpu: Duration,
    /// Real time the whole feed took.
    pub took: Duration,
}

/// Names of the store's threads (`store/src/writer`).
const WRITER_THREAD: &str = "utizmon-store";
const COMPACTION_THREAD: &str = "utizmon-compact";

/// CPU time of the writer and the compaction thread so far.
fn store_cpu() -> anyhow::Result<(Duration, Duration)> {
    Ok((
        procfs::thread_cpu_time(WRITER_THREAD)?,
        procfs::thread_cpu_time(COMPACTION_THREAD)?,
    ))
}

/// The scenario's row: `config.bytes_edges` simulated hosts through two whole blocks.
pub async fn steady_state(config: &Config) -> anyhow::Result<Vec<Row>> {
    let scenario = "history bytes per value";
    eprintln!(
        "bench: bytes-steady: {} simulated hosts fed through two whole blocks",
        config.bytes_edges
    );
    let steady = one_block(config.bytes_edges).await?;
    let per_value = |bytes: i64| bytes as f64 / steady.values.max(1) as f64;
    let per_sample = |cpu: Duration| cpu.as_secs_f64() * 1e6 / steady.samples.max(1) as f64;
    let edges = config.bytes_edges;
    let bytes = format!(
        "{:.2} B/value in use ({} values; data directory grew {:.2} B/value; \
         chunk payload {:.2} B/value; fed in {:.0} s)",
        per_value(steady.used_bytes),
        steady.values,
        per_value(steady.dir_bytes),
        per_value(steady.chunk_bytes as i64),
        steady.took.as_secs_f64(),
    );
    let cpu = format!(
        "writer (commits, rollups) {:.1} µs, compaction {:.1} µs ({} samples)",
        per_sample(steady.writer_cpu),
        per_sample(steady.compaction_cpu),
        steady.samples,
    );
    let block_s = BLOCK_MS / 1000;
    Ok(vec![
        row(
            scenario,
            &format!("{edges} simulated edges, steady state: one whole block ({block_s} s)"),
            bytes,
            "≤ 1 B/value",
        ),
        row(
            scenario,
            &format!("{edges} simulated edges, steady state: store CPU per sample (in-process)"),
            cpu,
            "",
        ),
    ])
}

/// One simulated host on its way into the store.
struct Host {
    index: u64,
    sim: SimHost,
    name: Arc<str>,
    run: Arc<str>,
    info: Arc<HostInfo>,
    /// Where in each second it samples (the live simulator spreads hosts over one interval).
    offset_ms: u64,
    values: u64,
    prev: Option<Arc<Sample>>,
    rates: Option<Rates>,
}

/// Samples appended before waiting for their commits: a few seconds of the fleet, well
/// under the store's queue.
const SECONDS_IN_FLIGHT: u64 = 4;

/// Feeds `hosts` simulated hosts at 1 Hz into a fresh store until two blocks have moved into
/// chunks, and measures the second.
pub async fn one_block(hosts: usize) -> anyhow::Result<Steady> {
    let started = Instant::now();
    let dir = scratch_dir("bytes-steady")?;
    // Aligned to a block, a few hours back: the clock never passes the real one.
    let now = utizmon_protocol::now_ms();
    let t0 = (now - 3 * 3_600_000) / BLOCK_MS * BLOCK_MS;
    let clock = Arc::new(AtomicU64::new(t0));
    let mut config = StoreConfig::new(&dir);
    let read_clock = clock.clone();
    config.clock = Arc::new(move || read_clock.load(Ordering::Relaxed));
    // Maintenance runs when this feed says so, by the samples' time, not every 10 real s.
    config.maintenance_interval = Duration::from_secs(3600);
    let store = Store::open(config)?;
    let conn = rusqlite::Connection::open(dir.join(DB_FILE))?;

    let mut fleet: Vec<Host> = (1..=hosts as u32)
        .map(|index| {
            let sim = SimHost::new(index);
            let name = host_name("steady", index);
            let info = Arc::new(sim.host_info(&name));
            Host {
                index: u64::from(index),
                sim,
                name: name.into(),
                run: format!("steady{index}").into(),
                info,
                offset_ms: u64::from(index - 1) * 997 / hosts.max(1) as u64,
                values: 0,
                prev: None,
                rates: None,
            }
        })
        .collect();

    let block0_due = (BLOCK_MS + GRACE_MS) / 1000;
    let block1_due = (2 * BLOCK_MS + GRACE_MS) / 1000;
    let mut commits: Vec<Commit> = Vec::new();
    let mut before = None;
    for second in 0..=block1_due {
        let base = t0 + second * 1000;
        clock.store(base + 999, Ordering::Relaxed);
        for host in &mut fleet {
            commits.push(store.append(host.next(second, base)).await);
        }
        if second % SECONDS_IN_FLIGHT == 0 {
            settle(&mut commits).await?;
        }
        if second % 10 == 0 {
            store.maintain().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        if second == block0_due || second == block1_due {
            settle(&mut commits).await?;
            let due = t0 + (second * 1000 - GRACE_MS) / BLOCK_MS * BLOCK_MS;
            compact_before(&store, &conn, due).await?;
            let now = footprint(&conn, &dir)?;
            let cpu = store_cpu()?;
            if let Some(((used, files), (writer0, compaction0))) = before {
                let values: u64 = fleet.iter().map(|h| h.values).sum::<u64>() * BLOCK_MS / 1000;
                let chunk_bytes: i64 = conn.query_row(
                    "SELECT coalesce(sum(length(body)), 0) FROM chunks WHERE start_ms = ?1",
                    [(t0 + BLOCK_MS) as i64],
                    |r| r.get(0),
                )?;
                store.close().await;
                return Ok(Steady {
                    values,
                    used_bytes: now.0 - used,
                    dir_bytes: now.1 - files,
                    chunk_bytes: chunk_bytes as u64,
                    samples: (block1_due - block0_due) * hosts as u64,
                    writer_cpu: cpu.0.saturating_sub(writer0),
                    compaction_cpu: cpu.1.saturating_sub(compaction0),
                    took: started.elapsed(),
                });
            }
            before = Some((now, cpu));
        }
    }
    bail!("the feed ended before block 1 was compacted")
}

impl Host {
    /// This host's sample of `second` (starting at `base` ms), as the server would record it.
    fn next(&mut self, second: u64, base: u64) -> Record {
        // Live edges tick on a timer: a sample lands 0-2 ms after its slot.
        let ts_ms = base + self.offset_ms + jitter(self.index, second);
        let dt = self
            .prev
            .as_ref()
            .map_or(1.0, |p| (ts_ms - p.ts_ms) as f64 / 1000.0);
        let mut sample = Sample::default();
        self.sim.fill_at(&mut sample, ts_ms, dt);
        sample.seq = second + 1;
        sample.ts_ms = ts_ms;
        if self.values == 0 {
            self.values = serde_json::to_value(&sample).map_or(0, |v| numeric_leaves(&v));
        }
        let sample = Arc::new(sample);
        if let Some(prev) = &self.prev {
            self.rates = Rates::between(prev, &sample, self.rates.as_ref());
        }
        self.prev = Some(sample.clone());
        Record {
            host: self.name.clone(),
            run_id: self.run.clone(),
            info: Some(self.info.clone()),
            interval_ms: 1000,
            point: utizmon_server::history::point(&sample, self.rates.as_ref()),
            sample,
            frame: None,
        }
    }
}

/// 0, 1 or 2 ms, a fixed pseudo-random function of the host and the second.
fn jitter(host: u64, second: u64) -> u64 {
    mix(host, second) % 3
}

/// Waits for every pending commit; a failed one ends the scenario.
async fn settle(commits: &mut Vec<Commit>) -> anyhow::Result<()> {
    for commit in commits.drain(..) {
        commit
            .await
            .context("the store dropped a commit")?
            .map_err(|e| anyhow::anyhow!("a commit failed: {e}"))?;
    }
    Ok(())
}

/// Runs maintenance until no head row older than `due` is left: every due block is in a
/// chunk.
async fn compact_before(
    store: &Store,
    conn: &rusqlite::Connection,
    due: u64,
) -> anyhow::Result<()> {
    for _ in 0..100_000 {
        store.maintain().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let left: i64 = conn.query_row(
            "SELECT count(*) FROM samples WHERE ts_ms < ?1",
            [due as i64],
            |r| r.get(0),
        )?;
        if left == 0 {
            return Ok(());
        }
    }
    bail!("blocks before {due} were still in the head after 100,000 passes")
}

/// (bytes of pages in use, bytes of every file in `dir`), after moving the WAL into the
/// database so neither counts a page twice.
fn footprint(conn: &rusqlite::Connection, dir: &Path) -> anyhow::Result<(i64, i64)> {
    for _ in 0..100 {
        let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
        if busy == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let pragma = |name: &str| -> anyhow::Result<i64> {
        Ok(conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))?)
    };
    let used = (pragma("page_count")? - pragma("freelist_count")?) * pragma("page_size")?;
    let mut files = 0i64;
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        files += entry?.metadata()?.len() as i64;
    }
    Ok((used, files))
}
