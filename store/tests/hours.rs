//! Hour rollups through the public `Store` API: a database written by the schema-4 release
//! migrates with its hour rollups built from the minute rollups it holds, hourly queries
//! read them and answer as the minutes would, and the open hour is built once it closes.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use utizmon_store::{bucketize, Store, StoreConfig, DB_FILE, SCHEMA_VERSION};

/// The fixture's first hour: one host, `old-1`, a sample every 20 s for 190 minutes.
const T0: u64 = 1_700_000_000_000 - 1_700_000_000_000 % HOUR;
const HOUR: u64 = 3_600_000;
const MINUTE: u64 = 60_000;

fn count(dir: &Path, sql: &str) -> i64 {
    let conn = rusqlite::Connection::open(dir.join(DB_FILE)).unwrap();
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[tokio::test]
async fn a_schema_4_database_gets_hour_rollups_that_answer_as_its_minutes_do() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema4.sqlite3");
    std::fs::copy(&fixture, dir.path().join(DB_FILE)).unwrap();
    assert_eq!(count(dir.path(), "PRAGMA user_version"), 4);
    // Hours 0-2 have closed; hour 3 (minutes 180-189) is still open.
    let clock = Arc::new(AtomicU64::new(T0 + 3 * HOUR + 30 * MINUTE));
    let mut config = StoreConfig::new(dir.path());
    let c = clock.clone();
    config.clock = Arc::new(move || c.load(Ordering::Relaxed));
    let store = Store::open(config).unwrap();
    assert_eq!(count(dir.path(), "PRAGMA user_version"), SCHEMA_VERSION);
    assert_eq!(
        count(
            dir.path(),
            "SELECT count(*) FROM hour_rollups WHERE n = 180"
        ),
        3,
        "three closed hours of 180 samples each, backfilled"
    );
    assert_eq!(
        count(dir.path(), "SELECT count(*) FROM hour_rollups_due"),
        1
    );

    let to = T0 + 190 * MINUTE;
    let hourly = store.query("old-1", T0, to, HOUR).unwrap();
    let minutes = store.query("old-1", T0, to, MINUTE).unwrap();
    assert_eq!(minutes.len(), 190);
    assert_eq!(
        hourly,
        bucketize(minutes, HOUR),
        "the same points as the minutes"
    );
    assert_eq!(hourly.len(), 4);
    assert_eq!(hourly[3].n, 30, "the open hour, read by the minute");

    // Once the last hour closes, its rollup is built too.
    clock.store(T0 + 4 * HOUR + 2 * MINUTE, Ordering::Relaxed);
    store.maintain().await.unwrap();
    assert_eq!(count(dir.path(), "SELECT count(*) FROM hour_rollups"), 4);
    assert_eq!(
        count(dir.path(), "SELECT count(*) FROM hour_rollups_due"),
        0
    );
    assert_eq!(store.query("old-1", T0, to, HOUR).unwrap(), hourly);
    store.close().await;
}
