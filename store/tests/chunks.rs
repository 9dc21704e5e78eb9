//! Compaction through the public `Store` API on real SQLite files: every value of a sample
//! reads back (before and after its block is compacted), queries serve the same points
//! from chunks as from the head, and a database written by the schema-3 release migrates.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use utizmon_protocol::{
    Cgroup, Cpu, CpuSeconds, Disk, FileHandles, Filesystem, KernelCounters, Load, Memory, Network,
    Pressure, Process, Sample, Stall, Temperature,
};
use utizmon_store::{NetRate, Point, Record, Store, StoreConfig, BLOCK_MS, GRACE_MS};

const T0: u64 = 1_700_000_000_000 - 1_700_000_000_000 % 3_600_000;

/// A sample with every section, its floats at the precision the edge reads them.
fn rich_sample(seq: u64, ts_ms: u64) -> Sample {
    Sample {
        seq,
        ts_ms,
        cpu: Cpu {
            usage_ratio: (seq % 100) as f64 / 100.0,
            cores: vec![0.25, (seq % 7) as f64 / 10.0],
            seconds: CpuSeconds {
                user: (100_000 + seq * 37) as f64 / 100.0,
                idle: (500_000 + seq * 163) as f64 / 100.0,
                ..CpuSeconds::default()
            },
            core_seconds: vec![CpuSeconds {
                user: (5_000 + seq * 2) as f64 / 10.0,
                ..CpuSeconds::default()
            }],
        },
        memory: Memory {
            total_bytes: 8 << 30,
            used_bytes: (2 << 30) + seq * 4096,
            available_bytes: (6 << 30) - seq * 4096,
            swap_total_bytes: 1 << 30,
            swap_used_bytes: 0,
            free_bytes: 1 << 30,
            buffers_bytes: 1 << 20,
            cached_bytes: 3 << 30,
        },
        load: Load {
            load1: 0.52,
            load5: 0.41,
            load15: 0.3,
        },
        uptime_seconds: (86_400 + seq) as f64,
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
            read_seconds: 12.345,
            io_seconds: (100_000 + seq) as f64 / 1000.0,
            ..Disk::default()
        }],
        pressure: Some(Pressure {
            cpu: Some(Stall {
                some_seconds: (1_234_567 + seq) as f64 / 1e6,
                some_avg10: 0.12,
                full_seconds: None,
                full_avg10: None,
            }),
            memory: None,
            io: None,
        }),
        temperatures: vec![Temperature {
            kind: "hwmon".into(),
            chip: "coretemp".into(),
            sensor: "temp1".into(),
            label: "Package id 0".into(),
            celsius: 45.0 + (seq % 3) as f64,
        }],
        top_processes: vec![Process {
            pid: 100 + (seq % 2) as u32,
            name: "postgres".into(),
            user: "postgres".into(),
            cpu_ratio: 0.125,
            rss_bytes: 100 << 20,
        }],
        failed_units: Some(Vec::new()),
        cgroups: vec![Cgroup {
            name: "system.slice/nginx.service".into(),
            cpu_seconds: (1_250 + seq) as f64 / 100.0,
            memory_bytes: 50 << 20,
            io_read_bytes: 0,
            io_written_bytes: 4096,
        }],
        kernel: Some(KernelCounters {
            context_switches: 1_000_000 + seq * 2000,
            interrupts: 500_000 + seq * 1000,
            forks: 10_000 + seq,
            procs_running: 2,
            procs_blocked: 0,
        }),
        file_handles: Some(FileHandles {
            allocated: 2048,
            maximum: 9_223_372_036_854_775_807,
        }),
        meminfo: [
            ("Active_anon_bytes".into(), (1 << 30) + seq * 4096),
            ("HugePages_Total".into(), 0),
        ]
        .into(),
        vmstat: [("pgfault".into(), 1_000_000 + seq * 300)].into(),
        netstat: [("Tcp_CurrEstab".into(), 10 + seq % 3)].into(),
        sockstat: [("TCP_mem_bytes".into(), 4096 * (seq % 5))].into(),
    }
}

fn record(seq: u64, ts_ms: u64) -> Record {
    let sample = rich_sample(seq, ts_ms);
    let networks = vec![NetRate {
        device: "eth0".into(),
        rx_bytes_per_second: 1500.0,
        tx_bytes_per_second: 300.25,
    }];
    Record {
        host: "web-1".into(),
        run_id: "run-a".into(),
        frame: None,
        info: None,
        interval_ms: 1000,
        point: Point::of_sample(&sample, networks),
        sample: Arc::new(sample),
    }
}

/// Asserts two point lists equal but for CPU ratios and load averages, which chunks keep
/// to 1e-4 and 1e-2 (the fixture's loads have three decimals).
fn assert_close(got: Vec<Point>, want: Vec<Point>) {
    assert_eq!(got.len(), want.len());
    let strip = |p: &Point| Point {
        cpu_ratio: 0.0,
        cpu_ratio_min: 0.0,
        cpu_ratio_max: 0.0,
        cores: Vec::new(),
        load1: 0.0,
        load5: 0.0,
        load15: 0.0,
        ..p.clone()
    };
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(strip(g), strip(w));
        let ratios = |p: &Point| {
            let mut v = vec![p.cpu_ratio, p.cpu_ratio_min, p.cpu_ratio_max];
            v.extend(&p.cores);
            v
        };
        for (a, b) in ratios(g).iter().zip(ratios(w)) {
            assert!((a - b).abs() <= 1e-4, "{a} vs {b} at {}", g.ts_ms);
        }
        for (a, b) in [(g.load1, w.load1), (g.load5, w.load5), (g.load15, w.load15)] {
            assert!((a - b).abs() <= 0.005_000_1, "{a} vs {b} at {}", g.ts_ms);
        }
    }
}

fn open(dir: &Path, clock: &Arc<AtomicU64>) -> Store {
    let mut config = StoreConfig::new(dir);
    let clock = clock.clone();
    config.clock = Arc::new(move || clock.load(Ordering::Relaxed));
    Store::open(config).unwrap()
}

fn count(dir: &Path, table: &str) -> i64 {
    let conn = rusqlite::Connection::open(dir.join(utizmon_store::DB_FILE)).unwrap();
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

#[tokio::test]
async fn every_value_reads_back_and_points_are_the_same_after_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(AtomicU64::new(T0));
    let store = open(dir.path(), &clock);
    let n = 700u64;
    let mut commits = Vec::new();
    for seq in 1..=n {
        commits.push(store.append(record(seq, T0 + seq * 1000)).await);
    }
    for c in commits {
        c.await.unwrap().unwrap();
    }
    let to = T0 + n * 1000;
    let expected: Vec<Sample> = (1..=n).map(|s| rich_sample(s, T0 + s * 1000)).collect();
    let head = store.samples("web-1", T0, to, usize::MAX).unwrap();
    assert_eq!(
        head.iter().map(|s| s.sample.clone()).collect::<Vec<_>>(),
        expected
    );
    let points_before = store.query("web-1", T0, to, 1000).unwrap();

    // The first block ends; after its grace it moves into a chunk.
    clock.store(T0 + BLOCK_MS + GRACE_MS, Ordering::Relaxed);
    store.maintain().await.unwrap();
    assert_eq!(count(dir.path(), "chunks"), 1);
    assert_eq!(count(dir.path(), "samples"), (n - 599) as i64);
    let both = store.samples("web-1", T0, to, usize::MAX).unwrap();
    assert_eq!(
        both.iter().map(|s| s.sample.clone()).collect::<Vec<_>>(),
        expected,
        "every value of every section, from the chunk and the head"
    );
    assert_eq!(both[0].rates[0].tx_bytes_per_second, 300.25);
    assert_eq!(store.query("web-1", T0, to, 1000).unwrap(), points_before);
    assert_eq!(store.samples("web-1", T0, to, 5).unwrap().len(), 5);

    // Reading only some samples (every tenth) and some paths decodes just those, from the
    // chunk and the head alike, in time order.
    let mut asked = Vec::new();
    let mut got = Vec::new();
    store
        .each_wanted_sample(
            "web-1",
            (T0, to),
            &|path| !path.starts_with("sample.meminfo."),
            |ts| {
                asked.push(ts);
                (ts / 1000) % 10 == 0
            },
            |s| got.push(s.sample),
        )
        .unwrap();
    assert_eq!(asked, expected.iter().map(|s| s.ts_ms).collect::<Vec<_>>());
    let tenth: Vec<&Sample> = expected
        .iter()
        .filter(|s| (s.ts_ms / 1000) % 10 == 0)
        .collect();
    assert_eq!(got.len(), tenth.len());
    for (got, want) in got.iter().zip(tenth) {
        assert!(got.meminfo.is_empty() || got.seq > 599, "left in the chunk");
        assert_eq!(got.vmstat, want.vmstat);
        assert_eq!(
            (got.seq, &got.disks, &got.kernel),
            (want.seq, &want.disks, &want.kernel)
        );
    }

    // A replay of a compacted sample after a lost ack is not stored twice.
    store
        .append(record(10, T0 + 10_000))
        .await
        .await
        .unwrap()
        .unwrap();
    store.maintain().await.unwrap();
    assert_eq!(store.query("web-1", T0, to, 1000).unwrap(), points_before);
    store.close().await;

    // And it all survives a reopen.
    let store = open(dir.path(), &clock);
    let again = store.samples("web-1", T0, to, usize::MAX).unwrap();
    assert_eq!(again.len(), n as usize);
    store.close().await;
}

#[tokio::test]
async fn a_schema_3_database_migrates_and_its_samples_are_compacted() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema3.sqlite3");
    std::fs::copy(&fixture, dir.path().join(utizmon_store::DB_FILE)).unwrap();
    let clock = Arc::new(AtomicU64::new(T0 + 400_000));
    let store = open(dir.path(), &clock);
    let to = T0 + 299_000;
    let before = store.query("old-1", T0, to, 1000).unwrap();
    assert_eq!(before.len(), 300);
    assert_eq!(before[42].cpu_ratio, 0.42);
    assert_eq!(before[42].networks[0].rx_bytes_per_second, 1042.0);
    let minutes = store.query("old-1", T0, to, 60_000).unwrap();
    assert_eq!(minutes.len(), 5);
    assert_eq!(store.hosts().unwrap()[0].name, "old-1");

    clock.store(T0 + BLOCK_MS + GRACE_MS, Ordering::Relaxed);
    store.maintain().await.unwrap();
    assert_eq!(count(dir.path(), "samples"), 0, "all moved into a chunk");
    // Ratios come back at the codec's precision (1e-4), everything else as it was.
    assert_close(store.query("old-1", T0, to, 1000).unwrap(), before);
    assert_close(store.query("old-1", T0, to, 60_000).unwrap(), minutes);
    let samples = store.samples("old-1", T0, to, usize::MAX).unwrap();
    assert_eq!(samples.len(), 300);
    assert_eq!(samples[2].sample.memory.used_bytes, (1 << 30) + 2 * 4096);
    assert_eq!(
        samples[2].sample.load.load15, 0.13,
        "load averages keep hundredths"
    );
    let version: i64 = rusqlite::Connection::open(dir.path().join(utizmon_store::DB_FILE))
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, utizmon_store::SCHEMA_VERSION);
    store.close().await;
}

#[tokio::test]
async fn zstd_bodies_of_a_schema_7_head_still_read_and_compact() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(AtomicU64::new(T0));
    let store = open(dir.path(), &clock);
    let n = 50u64;
    for seq in 1..=n {
        store
            .append(record(seq, T0 + seq * 1000))
            .await
            .await
            .unwrap()
            .unwrap();
    }
    store.close().await;

    // What the schema-7 release left: the same rows with zstd frames for bodies.
    {
        let conn = rusqlite::Connection::open(dir.path().join(utizmon_store::DB_FILE)).unwrap();
        let first: Vec<u8> = conn
            .query_row("SELECT body FROM samples WHERE seq = 1", [], |r| r.get(0))
            .unwrap();
        assert_eq!(first[0], 0x04, "this version writes LZ4 blocks");
        for seq in 1..=n {
            let json = serde_json::to_vec(&rich_sample(seq, T0 + seq * 1000)).unwrap();
            let body = zstd::bulk::compress(&json, -3).unwrap();
            conn.execute(
                "UPDATE samples SET body = ?1 WHERE seq = ?2",
                rusqlite::params![body, seq as i64],
            )
            .unwrap();
        }
        // and the schema-7 head's per-host index, which schema 9 replaced
        conn.execute_batch(
            "DROP INDEX samples_by_second;
             CREATE UNIQUE INDEX samples_by_host_time ON samples (host_id, ts_ms, run, seq);",
        )
        .unwrap();
        conn.pragma_update(None, "user_version", 7).unwrap();
    }

    let store = open(dir.path(), &clock);
    let to = T0 + n * 1000;
    let expected: Vec<Sample> = (1..=n).map(|s| rich_sample(s, T0 + s * 1000)).collect();
    let read = |store: &Store| -> Vec<Sample> {
        let stored = store.samples("web-1", T0, to, usize::MAX).unwrap();
        stored.into_iter().map(|s| s.sample).collect()
    };
    assert_eq!(read(&store), expected, "zstd bodies read from the head");
    clock.store(T0 + BLOCK_MS + GRACE_MS, Ordering::Relaxed);
    store.maintain().await.unwrap();
    assert_eq!(count(dir.path(), "samples"), 0, "all moved into a chunk");
    assert_eq!(read(&store), expected, "and from their chunk");
    store.close().await;
    let version: i64 = rusqlite::Connection::open(dir.path().join(utizmon_store::DB_FILE))
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, utizmon_store::SCHEMA_VERSION);
}
