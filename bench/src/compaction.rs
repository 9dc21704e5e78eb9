//! Commit latency while compaction runs: the store is given a backlog of ended blocks (many
//! hosts' 10-minute blocks due at once, as after a restart or at each block boundary of a
//! large fleet), then takes a steady 1,000 samples/s while it compacts them. Each sample's
//! time from `append` to its commit (what an edge's ack waits for) is measured, during the
//! backlog and afterwards without one, in-process so nothing but the store is timed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::Mutex;
use utizmon_protocol::{now_ms, Cpu, CpuSeconds, Disk, Filesystem, Load, Memory, Network, Sample};
use utizmon_store::{NetRate, Point, Record, Store, StoreConfig, BLOCK_MS, DB_FILE};

use crate::fleet::{quantile, row};
use crate::process::scratch_dir;
use crate::Row;

/// Hosts with one full block (600 samples) each waiting to be compacted.
const BACKLOG_HOSTS: u64 = 300;
/// Samples per second offered while measuring, spread over [`LIVE_HOSTS`].
const LIVE_RATE: u64 = 1_000;
const LIVE_HOSTS: u64 = 100;
/// Longest the backlog is waited for; the load after it runs for [`IDLE_WINDOW`].
const MAX_BACKLOG_WINDOW: Duration = Duration::from_secs(120);
const IDLE_WINDOW: Duration = Duration::from_secs(10);

/// Two rows: commit latency while a compaction backlog is worked off, and without one.
pub async fn commit_latency_during_compaction() -> anyhow::Result<Vec<Row>> {
    let data = scratch_dir("compaction")?;
    let now = now_ms();
    let block = now - now % BLOCK_MS - 2 * BLOCK_MS;
    eprintln!("bench: writing {BACKLOG_HOSTS} hosts' blocks to compact");
    {
        // Written with a clock inside the block, so nothing is compacted yet.
        let mut config = StoreConfig::new(&data);
        config.clock = Arc::new(move || block);
        config.maintenance_interval = Duration::from_secs(3600);
        let store = Store::open(config).context("opening the bench store")?;
        for i in 0..600u64 {
            let mut commits = Vec::new();
            for h in 0..BACKLOG_HOSTS {
                let host = format!("backlog-{h}");
                commits.push(store.append(record(&host, i + 1, block + i * 1000)).await);
            }
            for commit in commits {
                commit
                    .await
                    .context("writer stopped")?
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            }
        }
        store.close().await;
    }

    // Reopened with the wall clock: every backlog block is due at once.
    let store = Store::open(StoreConfig::new(&data)).context("reopening the bench store")?;
    let started = Instant::now();
    let during = Arc::new(Mutex::new(Vec::new()));
    let load = tokio::spawn(offer_load(store.clone(), during.clone()));
    let db = data.join(DB_FILE);
    let backlog_s = loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let left = backlog_rows(&db, block + BLOCK_MS)?;
        if left == 0 || started.elapsed() > MAX_BACKLOG_WINDOW {
            break started.elapsed().as_secs_f64();
        }
    };
    let mut during_ms = std::mem::take(&mut *during.lock().await);
    tokio::time::sleep(IDLE_WINDOW).await;
    let mut idle_ms = std::mem::take(&mut *during.lock().await);
    load.abort();
    store.close().await;
    let left = backlog_rows(&db, block + BLOCK_MS)?;

    let scenario = "commit latency (append to commit, 1,000 samples/s)";
    let mut rows = Vec::new();
    for (what, times) in [
        (
            format!(
                "while compacting {BACKLOG_HOSTS} blocks of 600 samples ({backlog_s:.1} s{})",
                if left > 0 { ", not finished" } else { "" }
            ),
            &mut during_ms,
        ),
        ("no compaction due".to_owned(), &mut idle_ms),
    ] {
        times.sort_by(f64::total_cmp);
        rows.push(row(
            scenario,
            &what,
            format!(
                "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} commits)",
                quantile(times, 0.5),
                quantile(times, 0.99),
                quantile(times, 1.0),
                times.len()
            ),
            "",
        ));
    }
    Ok(rows)
}

/// Head rows of the backlog's block still waiting for compaction.
fn backlog_rows(db: &std::path::Path, before_ms: u64) -> anyhow::Result<i64> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .context("opening the bench database")?;
    conn.query_row(
        "SELECT count(*) FROM samples WHERE ts_ms < ?1",
        [before_ms as i64],
        |r| r.get(0),
    )
    .context("counting the backlog")
}

/// Appends [`LIVE_RATE`] samples a second and records each one's time to commit, ms.
async fn offer_load(store: Store, times: Arc<Mutex<Vec<f64>>>) {
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let per_tick = LIVE_RATE / 100;
    let mut seq = 0u64;
    loop {
        tick.tick().await;
        seq += 1;
        let ts_ms = now_ms();
        for i in 0..per_tick {
            let host = format!("live-{}", (seq * per_tick + i) % LIVE_HOSTS);
            let sent = Instant::now();
            let commit = store.append(record(&host, seq, ts_ms)).await;
            let times = times.clone();
            tokio::spawn(async move {
                if let Ok(Ok(())) = commit.await {
                    times.lock().await.push(sent.elapsed().as_secs_f64() * 1e3);
                }
            });
        }
    }
}

/// A sample with the sections a typical host sends, so compaction does real work.
fn record(host: &str, seq: u64, ts_ms: u64) -> Record {
    let f = seq as f64;
    let sample = Sample {
        seq,
        ts_ms,
        cpu: Cpu {
            usage_ratio: (seq % 100) as f64 / 100.0,
            cores: vec![0.25, 0.5, (seq % 7) as f64 / 10.0, 0.125],
            seconds: CpuSeconds {
                user: 1000.0 + f * 0.37,
                system: 300.0 + f * 0.11,
                idle: 5000.0 + f * 1.63,
                ..CpuSeconds::default()
            },
            core_seconds: Vec::new(),
        },
        memory: Memory {
            total_bytes: 8 << 30,
            used_bytes: (2 << 30) + seq * 4096,
            available_bytes: (6 << 30) - seq * 4096,
            free_bytes: 1 << 30,
            cached_bytes: 3 << 30,
            ..Memory::default()
        },
        load: Load {
            load1: 0.52,
            load5: 0.41,
            load15: 0.3,
        },
        uptime_seconds: 86_400.0 + f,
        filesystems: vec![Filesystem {
            mountpoint: "/".into(),
            fstype: "ext4".into(),
            size_bytes: 100 << 30,
            avail_bytes: (50 << 30) - seq * 512,
            device: "/dev/sda1".into(),
            free_bytes: (55 << 30) - seq * 512,
            files: 1_000_000,
            files_free: 900_000 - seq,
        }],
        networks: vec![Network {
            device: "eth0".into(),
            rx_bytes: 1_000_000 + seq * 1500,
            tx_bytes: 500_000 + seq * 300,
            rx_packets: 1000 + seq,
            tx_packets: 900 + seq,
            ..Network::default()
        }],
        disks: vec![Disk {
            device: "sda".into(),
            reads: 10_000 + seq,
            read_bytes: 4096 * (10_000 + seq),
            ..Disk::default()
        }],
        ..Sample::default()
    };
    let networks = vec![NetRate {
        device: "eth0".into(),
        rx_bytes_per_second: 1500.0,
        tx_bytes_per_second: 300.0,
    }];
    Record {
        host: host.into(),
        run_id: "bench".into(),
        frame: None,
        info: None,
        interval_ms: 1000,
        point: Point::of_sample(&sample, networks),
        sample: Arc::new(sample),
    }
}
