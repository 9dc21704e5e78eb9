//! The store against real SQLite files in temporary directories (and, as root, tiny
//! read-only and full tmpfs mounts the test makes and removes itself).

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use utizmon_protocol::{HostInfo, Sample};
use utizmon_store::{NetRate, Point, Record, Store, StoreConfig, StoreError};

const T0: u64 = 1_700_000_000_000 - 1_700_000_000_000 % 3_600_000;

fn record(host: &str, run: &str, seq: u64, ts_ms: u64, cpu: f64) -> Record {
    let sample = Sample {
        seq,
        ts_ms,
        ..Sample::default()
    };
    Record {
        host: host.into(),
        run_id: run.into(),
        frame: None,
        info: Some(Arc::new(HostInfo {
            host_name: host.into(),
            os_name: "Debian".into(),
            ..HostInfo::default()
        })),
        interval_ms: 1000,
        sample: Arc::new(sample),
        point: Point {
            ts_ms,
            cpu_ratio: cpu,
            cpu_ratio_min: cpu,
            cpu_ratio_max: cpu,
            cores: vec![cpu],
            mem_used_bytes: 10.0,
            mem_total_bytes: 100.0,
            networks: vec![NetRate {
                device: "eth0".into(),
                rx_bytes_per_second: 5.0,
                tx_bytes_per_second: 1.0,
            }],
            n: 1,
            ..Point::default()
        },
    }
}

async fn append_all(store: &Store, records: Vec<Record>) {
    let mut commits = Vec::new();
    for r in records {
        commits.push(store.append(r).await);
    }
    for c in commits {
        c.await.expect("writer answered").expect("committed");
    }
}

fn config(dir: &Path, clock: Arc<AtomicU64>) -> StoreConfig {
    let mut config = StoreConfig::new(dir);
    config.clock = Arc::new(move || clock.load(Ordering::Relaxed));
    config
}

fn count_samples(dir: &Path, host: &str) -> Vec<(String, i64)> {
    let conn = rusqlite_conn(dir);
    let mut stmt = conn
        .prepare(
            "SELECT r.run_id, s.seq FROM samples s JOIN runs r ON r.id = s.run
             JOIN hosts h ON h.id = s.host_id WHERE h.name = ?1 ORDER BY r.run_id, s.seq",
        )
        .unwrap();
    stmt.query_map([host], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn rusqlite_conn(dir: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.join(utizmon_store::DB_FILE)).unwrap()
}

#[tokio::test]
async fn samples_are_stored_once_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(AtomicU64::new(T0 + 10_000));
    let store = Store::open(config(dir.path(), clock.clone())).unwrap();
    append_all(
        &store,
        (1..=5)
            .map(|s| record("web-1", "runA", s, T0 + s * 1000, 0.5))
            .collect(),
    )
    .await;
    // A replay after a lost ack: the same (run, seq) again, plus one new sample.
    append_all(
        &store,
        (4..=6)
            .map(|s| record("web-1", "runA", s, T0 + s * 1000, 0.5))
            .collect(),
    )
    .await;
    let points = store.query("web-1", T0, T0 + 60_000, 1000).unwrap();
    assert_eq!(points.len(), 6);
    store.close().await;

    let seqs = count_samples(dir.path(), "web-1");
    assert_eq!(
        seqs,
        (1..=6).map(|s| ("runA".to_string(), s)).collect::<Vec<_>>()
    );

    let store = Store::open(config(dir.path(), clock)).unwrap();
    let hosts = store.hosts().unwrap();
    assert_eq!(hosts.len(), 1);
    assert_eq!(hosts[0].name, "web-1");
    assert_eq!(hosts[0].info.as_ref().unwrap().os_name, "Debian");
    assert_eq!(hosts[0].latest.as_ref().unwrap().seq, 6);
    assert_eq!(hosts[0].interval_ms, Some(1000));
    store.close().await;
}

#[tokio::test]
async fn hostile_host_names_are_plain_data() {
    let dir = tempfile::tempdir().unwrap();
    // The store's clock at the sample: on the real clock T0 is years past raw retention,
    // and a maintenance pass racing the query deleted it (seen once in a full run).
    let clock = Arc::new(AtomicU64::new(T0));
    let store = Store::open(config(dir.path(), clock)).unwrap();
    let name = r#"<img src=x onerror=alert(1)>'"\; DROP TABLE hosts; --"#;
    append_all(&store, vec![record(name, "r", 1, T0, 0.1)]).await;
    assert_eq!(store.hosts().unwrap()[0].name, name);
    assert_eq!(store.query(name, T0, T0 + 1, 1000).unwrap().len(), 1);
    store.close().await;
}

#[tokio::test]
async fn rollups_and_retention_follow_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(AtomicU64::new(T0));
    let mut cfg = config(dir.path(), clock.clone());
    cfg.raw_retention = Duration::from_secs(3600);
    cfg.rollup_retention = Duration::from_secs(2 * 3600);
    let store = Store::open(cfg).unwrap();
    // Minute 0: CPU 0.2 and 0.4; minute 1: 0.9.
    append_all(
        &store,
        vec![
            record("h", "r", 1, T0 + 1_000, 0.2),
            record("h", "r", 2, T0 + 2_000, 0.4),
            record("h", "r", 3, T0 + 61_000, 0.9),
        ],
    )
    .await;
    store.maintain().await.unwrap();
    let minutes = store.query("h", T0, T0 + 120_000, 60_000).unwrap();
    assert_eq!(minutes.len(), 2);
    assert!((minutes[0].cpu_ratio - 0.3).abs() < 1e-9);
    assert_eq!(
        (minutes[0].cpu_ratio_min, minutes[0].cpu_ratio_max),
        (0.2, 0.4)
    );
    assert_eq!(minutes[1].ts_ms, T0 + 60_000);

    // A late sample (replayed after a partition) lands in an already rolled-up minute.
    append_all(&store, vec![record("h", "r2", 1, T0 + 3_000, 0.6)]).await;
    store.maintain().await.unwrap();
    let minutes = store.query("h", T0, T0 + 120_000, 60_000).unwrap();
    assert!((minutes[0].cpu_ratio - 0.4).abs() < 1e-9);
    assert_eq!(minutes[0].cpu_ratio_max, 0.6);

    // 90 minutes later raw samples are gone, rollups stay.
    clock.store(T0 + 90 * 60_000, Ordering::Relaxed);
    store.maintain().await.unwrap();
    assert!(store.query("h", T0, T0 + 120_000, 1000).unwrap().is_empty());
    assert_eq!(store.query("h", T0, T0 + 120_000, 60_000).unwrap().len(), 2);

    // Three hours later the rollups are gone too; the host is still known.
    clock.store(T0 + 3 * 3_600_000, Ordering::Relaxed);
    store.maintain().await.unwrap();
    assert!(store
        .query("h", T0, T0 + 120_000, 60_000)
        .unwrap()
        .is_empty());
    assert_eq!(store.hosts().unwrap().len(), 1);
    store.close().await;
}

#[tokio::test]
async fn wide_steps_average_rollups() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(AtomicU64::new(T0));
    let store = Store::open(config(dir.path(), clock)).unwrap();
    let records = (0..600u64)
        .map(|i| {
            record(
                "h",
                "r",
                i + 1,
                T0 + i * 1000,
                if i < 300 { 0.0 } else { 1.0 },
            )
        })
        .collect();
    append_all(&store, records).await;
    store.maintain().await.unwrap();
    let points = store.query("h", T0, T0 + 600_000, 600_000).unwrap();
    assert_eq!(points.len(), 1);
    assert!((points[0].cpu_ratio - 0.5).abs() < 1e-9);
    assert_eq!(
        (points[0].cpu_ratio_min, points[0].cpu_ratio_max),
        (0.0, 1.0)
    );
    // A 10 s step over raw samples buckets them.
    assert_eq!(
        store.query("h", T0, T0 + 599_000, 10_000).unwrap().len(),
        60
    );
    store.close().await;
}

#[test]
fn a_corrupt_database_is_a_clear_start_up_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(utizmon_store::DB_FILE), vec![0x42u8; 8192]).unwrap();
    let err = Store::open(StoreConfig::new(dir.path())).expect_err("refused");
    let text = err.to_string();
    assert!(text.contains("utizmon.sqlite3"), "{text}");
    assert!(text.contains("not a database"), "{text}");
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let conn = rusqlite_conn(dir.path());
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = Store::open(StoreConfig::new(dir.path())).expect_err("refused");
    assert!(matches!(err, StoreError::TooNew { found: 99, .. }), "{err}");
}

/// A tmpfs mounted by this test, unmounted on drop. Only root can mount; elsewhere the
/// caller says so and returns (CI runs as root).
struct Mount(tempfile::TempDir);

impl Mount {
    fn tmpfs(options: &str) -> Option<Mount> {
        let is_root = Command::new("id").arg("-u").output().ok()?.stdout == b"0\n";
        if !is_root {
            eprintln!("not root: skipping the tmpfs part of this test");
            return None;
        }
        let dir = tempfile::tempdir().ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "utizmon-test"])
            .arg(dir.path())
            .status()
            .ok()?
            .success();
        ok.then_some(Mount(dir))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

#[test]
fn a_read_only_data_dir_is_a_clear_start_up_error() {
    let Some(mount) = Mount::tmpfs("ro,size=1m") else {
        return;
    };
    let err = Store::open(StoreConfig::new(mount.0.path())).expect_err("refused");
    let text = err.to_string();
    assert!(text.contains("not writable"), "{text}");
    assert!(
        text.contains(&mount.0.path().display().to_string()),
        "{text}"
    );
}

#[tokio::test]
async fn a_full_disk_fails_commits_and_counts_errors() {
    let Some(mount) = Mount::tmpfs("size=512k") else {
        return;
    };
    let store = Store::open(StoreConfig::new(mount.0.path())).unwrap();
    // Fill what is left with a ballast file.
    let ballast = mount.0.path().join("ballast");
    let _ = std::fs::write(&ballast, vec![0u8; 1024 * 1024]);
    let mut failed = 0;
    for chunk in 0..20u64 {
        let mut commits = Vec::new();
        for i in 0..200 {
            let seq = chunk * 200 + i + 1;
            commits.push(
                store
                    .append(record("h", "r", seq, T0 + seq * 1000, 0.5))
                    .await,
            );
        }
        for c in commits {
            if c.await.unwrap().is_err() {
                failed += 1;
            }
        }
        if failed > 0 {
            break;
        }
    }
    assert!(failed > 0, "the full disk never failed a commit");
    assert!(store.errors_total() >= 1);
    // Space comes back: writes succeed again.
    std::fs::remove_file(&ballast).unwrap();
    append_all(&store, vec![record("h", "r2", 1, T0, 0.5)]).await;
    store.close().await;
}

#[tokio::test]
async fn recent_minutes_are_served_before_their_rollup_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(AtomicU64::new(T0 + 5_000));
    let store = Store::open(config(dir.path(), clock)).unwrap();
    append_all(
        &store,
        vec![
            record("h", "r", 1, T0 + 1_000, 0.2),
            record("h", "r", 2, T0 + 2_000, 0.4),
        ],
    )
    .await;
    // No maintenance yet: the minute comes from raw samples.
    let minutes = store.query("h", T0, T0 + 60_000, 60_000).unwrap();
    assert_eq!(minutes.len(), 1);
    assert!((minutes[0].cpu_ratio - 0.3).abs() < 1e-9);
    store.maintain().await.unwrap();
    assert_eq!(store.query("h", T0, T0 + 60_000, 60_000).unwrap(), minutes);
    store.close().await;
}

#[tokio::test]
async fn rollups_built_in_memory_match_the_raw_samples() {
    let dir = tempfile::tempdir().unwrap();
    // The writer starts before these minutes, so it builds their rollups in memory.
    let clock = Arc::new(AtomicU64::new(T0 - 600_000));
    let store = Store::open(config(dir.path(), clock.clone())).unwrap();
    let records = (0..180u64)
        .map(|i| record("h", "r", i + 1, T0 + i * 1000, (i % 60) as f64 / 100.0))
        .collect();
    append_all(&store, records).await;
    // A duplicate replay must not count twice.
    append_all(&store, vec![record("h", "r", 5, T0 + 4_000, 0.04)]).await;
    clock.store(T0 + 10 * 60_000, Ordering::Relaxed);
    store.maintain().await.unwrap();
    let conn = rusqlite_conn(dir.path());
    let rows: Vec<(i64, i64, f64, f64, f64)> = conn
        .prepare("SELECT minute_ms, n, cpu, cpu_min, cpu_max FROM rollups ORDER BY minute_ms")
        .unwrap()
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows.len(), 3);
    for (i, (minute, n, cpu, min, max)) in rows.into_iter().enumerate() {
        assert_eq!(minute as u64, T0 + i as u64 * 60_000);
        assert_eq!(n, 60);
        assert!((cpu - 0.295).abs() < 1e-9, "{cpu}");
        assert_eq!((min, max), (0.0, 0.59));
    }
    store.close().await;
}

#[tokio::test]
async fn forgetting_unlists_a_host_and_purging_deletes_its_history() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(AtomicU64::new(T0 + 600_000));
    let store = Store::open(config(dir.path(), clock)).unwrap();
    let mut records = Vec::new();
    for host in ["keep", "unlist", "purge"] {
        records.extend((0..120u64).map(|i| record(host, "r", i + 1, T0 + i * 1000, 0.5)));
    }
    append_all(&store, records).await;
    store.maintain().await.unwrap();
    let names = |store: &Store| -> Vec<String> {
        store.hosts().unwrap().into_iter().map(|h| h.name).collect()
    };
    assert_eq!(names(&store), ["keep", "purge", "unlist"]);

    let unlisted = store.forget("unlist", false).await.unwrap();
    assert_eq!((unlisted.known, unlisted.samples), (true, 0));
    let purged = store.forget("purge", true).await.unwrap();
    assert_eq!((purged.known, purged.samples), (true, 120));
    assert!(purged.rollups >= 2, "{purged:?}");
    assert!(!store.forget("never-seen", true).await.unwrap().known);
    assert_eq!(names(&store), ["keep"]);
    // Unlisted keeps its history; purged has none left; the other host is untouched.
    assert_eq!(
        store.query("unlist", T0, T0 + 120_000, 1000).unwrap().len(),
        120
    );
    assert!(store
        .query("purge", T0, T0 + 120_000, 1000)
        .unwrap()
        .is_empty());
    assert!(count_samples(dir.path(), "purge").is_empty());
    assert_eq!(count_samples(dir.path(), "keep").len(), 120);
    store.close().await;

    // Still gone after a reopen; a new sample brings a purged host back with fresh history.
    let clock = Arc::new(AtomicU64::new(T0 + 600_000));
    let store = Store::open(config(dir.path(), clock)).unwrap();
    assert_eq!(names(&store), ["keep"]);
    append_all(&store, vec![record("purge", "r2", 1, T0 + 500_000, 0.1)]).await;
    assert_eq!(names(&store), ["keep", "purge"]);
    assert_eq!(
        store.query("purge", T0, T0 + 600_000, 1000).unwrap().len(),
        1
    );
    store.close().await;
}

#[tokio::test]
async fn a_query_returns_at_most_max_points_whatever_the_step() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(AtomicU64::new(T0 + 3_600_000));
    let store = Store::open(config(dir.path(), clock)).unwrap();
    // One hour at 1 Hz: 3,600 raw samples, more than MAX_POINTS.
    let records = (0..3_600u64)
        .map(|i| record("h", "r", i + 1, T0 + i * 1000, (i % 10) as f64 / 10.0))
        .collect();
    append_all(&store, records).await;
    let to = T0 + 3_599_000;
    for step in [0, 1, 1000] {
        let points = store.query("h", T0, to, step).unwrap();
        assert!(
            points.len() as u64 <= utizmon_store::MAX_POINTS,
            "{step}: {}",
            points.len()
        );
        assert_eq!(points.iter().map(|p| p.n as u64).sum::<u64>(), 3_600);
        // The step was raised to 1.8 s: buckets average one or two samples.
        let step = utizmon_store::min_step_ms(T0, to);
        assert!(points[0].ts_ms <= T0 && points[0].ts_ms % step == 0);
        assert_eq!(points[1].ts_ms, points[0].ts_ms + step);
    }
    assert_eq!(utizmon_store::min_step_ms(T0, to), 1801);
    // A narrow range still gets its raw samples, at their own times.
    let raw = store.query("h", T0 + 500, T0 + 10_500, 1).unwrap();
    assert_eq!(
        raw.iter().map(|p| p.ts_ms).collect::<Vec<_>>(),
        (1..=10).map(|i| T0 + i * 1000).collect::<Vec<_>>()
    );
    store.close().await;
}

/// A store that took 600 minutes of one host from before it opened: every one is rebuilt
/// from the raw rows (the writer cannot trust memory for them), more than one periodic
/// pass takes. `every` is its maintenance interval.
async fn store_with_old_minutes(every: Duration) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(AtomicU64::new(T0 + 700 * 60_000));
    let mut cfg = config(dir.path(), clock);
    cfg.maintenance_interval = every;
    let store = Store::open(cfg).unwrap();
    let minutes = (0..600u64)
        .map(|i| record("h", "r", i + 1, T0 + i * 60_000 + 1_000, 0.5))
        .collect();
    append_all(&store, minutes).await;
    (dir, store)
}

fn rollup_count(dir: &Path) -> i64 {
    rusqlite_conn(dir)
        .query_row("SELECT count(*) FROM rollups", [], |r| r.get(0))
        .unwrap()
}

#[tokio::test]
async fn periodic_passes_rebuild_a_backlog_of_minutes_in_bounded_steps() {
    let (dir, store) = store_with_old_minutes(Duration::from_millis(20)).await;
    // No one asks for maintenance: the writer's own passes get through all 600, a
    // bounded number per pass (its unit test checks the bound).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while rollup_count(dir.path()) < 600 {
        assert!(
            std::time::Instant::now() < deadline,
            "only {} of 600 minutes rebuilt",
            rollup_count(dir.path())
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    store.close().await;
    assert_eq!(rollup_count(dir.path()), 600);
}

#[tokio::test]
async fn a_stop_rebuilds_every_minute_still_waiting() {
    let (dir, store) = store_with_old_minutes(Duration::from_secs(3_600)).await;
    store.close().await;
    assert_eq!(rollup_count(dir.path()), 600, "none lost at the stop");
    let minute: (i64, f64) = rusqlite_conn(dir.path())
        .query_row(
            "SELECT n, cpu FROM rollups WHERE minute_ms = ?1",
            [(T0 + 599 * 60_000) as i64],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(minute, (1, 0.5));
}
