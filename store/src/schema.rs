//! The database schema and its migrations, keyed by SQLite's `PRAGMA user_version`.
//!
//! Each migration runs once, in order, inside one transaction, so a crash half-way leaves
//! the previous version intact. `docs/storage.md` describes the tables.

use rusqlite::Connection;

use crate::StoreError;

/// Schema version this build writes; a newer database is refused rather than guessed at.
pub const SCHEMA_VERSION: i64 = 9;

/// Migration `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 0 -> 1: hosts, edge runs, raw samples, per-minute rollups.
    r#"
    CREATE TABLE hosts (
        id            INTEGER PRIMARY KEY,
        name          TEXT NOT NULL UNIQUE,
        info          TEXT,             -- last hello's HostInfo, JSON
        latest        TEXT,             -- last sample, JSON (wire format)
        interval_ms   INTEGER,
        last_seen_ms  INTEGER
    );
    CREATE TABLE runs (
        id       INTEGER PRIMARY KEY,
        host_id  INTEGER NOT NULL REFERENCES hosts(id),
        run_id   TEXT NOT NULL,
        UNIQUE (host_id, run_id)
    );
    -- One row per (edge run, sequence number): a replayed sample is stored once.
    CREATE TABLE samples (
        run         INTEGER NOT NULL,
        seq         INTEGER NOT NULL,
        host_id     INTEGER NOT NULL,
        ts_ms       INTEGER NOT NULL,
        cpu         REAL NOT NULL,
        cores       TEXT NOT NULL,     -- JSON array of ratios
        mem_used    REAL NOT NULL,
        mem_total   REAL NOT NULL,
        swap_used   REAL NOT NULL,
        swap_total  REAL NOT NULL,
        load1       REAL NOT NULL,
        load5       REAL NOT NULL,
        load15      REAL NOT NULL,
        networks    TEXT NOT NULL,     -- JSON array of NetRate
        PRIMARY KEY (run, seq)
    ) WITHOUT ROWID;
    CREATE INDEX samples_by_host_time ON samples (host_id, ts_ms);
    CREATE INDEX samples_by_time ON samples (ts_ms);
    -- Averages (min and max for CPU) per host and minute, rebuilt from samples.
    CREATE TABLE rollups (
        host_id     INTEGER NOT NULL,
        minute_ms   INTEGER NOT NULL,
        n           INTEGER NOT NULL,
        cpu         REAL NOT NULL,
        cpu_min     REAL NOT NULL,
        cpu_max     REAL NOT NULL,
        cores       TEXT NOT NULL,
        mem_used    REAL NOT NULL,
        mem_total   REAL NOT NULL,
        swap_used   REAL NOT NULL,
        swap_total  REAL NOT NULL,
        load1       REAL NOT NULL,
        load5       REAL NOT NULL,
        load15      REAL NOT NULL,
        networks    TEXT NOT NULL,
        PRIMARY KEY (host_id, minute_ms)
    ) WITHOUT ROWID;
    CREATE INDEX rollups_by_time ON rollups (minute_ms);
    "#,
    // 1 -> 2: the commit log and cursors of remote write (see delivery.rs).
    r#"
    -- Committed samples in commit order; AUTOINCREMENT so an id is never reused.
    CREATE TABLE commit_log (
        id     INTEGER PRIMARY KEY AUTOINCREMENT,
        run    INTEGER NOT NULL,
        seq    INTEGER NOT NULL,
        ts_ms  INTEGER NOT NULL
    );
    CREATE INDEX commit_log_by_time ON commit_log (ts_ms);
    -- Per receiver: the last commit_log id it has taken.
    CREATE TABLE remote_cursors (
        remote     TEXT PRIMARY KEY,
        delivered  INTEGER NOT NULL
    ) WITHOUT ROWID;
    "#,
    // 2 -> 3: alerts (firing ones have no resolved_ms) and silences.
    r#"
    CREATE TABLE alerts (
        id               INTEGER PRIMARY KEY,
        alertname        TEXT NOT NULL,
        host             TEXT NOT NULL,
        object_label     TEXT,            -- core, mountpoint or device; NULL if host-wide
        object           TEXT NOT NULL,   -- its value; '' if host-wide
        severity         TEXT NOT NULL,
        value            REAL NOT NULL,   -- at firing, then at resolution
        summary          TEXT NOT NULL,
        description      TEXT NOT NULL,
        active_since_ms  INTEGER NOT NULL,
        fired_at_ms      INTEGER NOT NULL,
        resolved_ms      INTEGER,         -- NULL while firing
        notified         INTEGER NOT NULL DEFAULT 0  -- 1 once a firing notice went out
    );
    -- At most one firing row per alert; a restart finds them here.
    CREATE UNIQUE INDEX alerts_firing ON alerts (alertname, host, object) WHERE resolved_ms IS NULL;
    CREATE INDEX alerts_by_time ON alerts (fired_at_ms);
    CREATE TABLE silences (
        id          INTEGER PRIMARY KEY,
        host        TEXT,                 -- NULL: every host
        alertname   TEXT,                 -- NULL: every alert
        starts_ms   INTEGER NOT NULL,
        ends_ms     INTEGER NOT NULL,
        comment     TEXT NOT NULL,
        created_ms  INTEGER NOT NULL
    );
    "#,
    // 3 -> 4: every value of a sample, and compacted per-host column chunks (chunks.rs).
    r#"
    -- The whole sample (wire JSON) of a head row; NULL in rows written before version 4.
    ALTER TABLE samples ADD COLUMN body BLOB;
    -- Per host, every sample of one block of time in the column codec (codec/mod.rs).
    CREATE TABLE chunks (
        id        INTEGER PRIMARY KEY,
        host_id   INTEGER NOT NULL,
        start_ms  INTEGER NOT NULL,    -- block start, a multiple of the block width
        end_ms    INTEGER NOT NULL,    -- newest sample in the chunk
        n         INTEGER NOT NULL,    -- samples in the chunk
        body      BLOB NOT NULL,
        UNIQUE (host_id, start_ms)
    );
    CREATE INDEX chunks_by_end ON chunks (end_ms);
    -- Which sequence numbers of which edge run a chunk holds: a replay is stored once.
    CREATE TABLE chunk_runs (
        run       INTEGER NOT NULL,
        min_seq   INTEGER NOT NULL,
        max_seq   INTEGER NOT NULL,
        host_id   INTEGER NOT NULL,
        start_ms  INTEGER NOT NULL,
        PRIMARY KEY (run, min_seq, host_id, start_ms)
    ) WITHOUT ROWID;
    CREATE INDEX chunk_runs_by_chunk ON chunk_runs (host_id, start_ms);
    -- Compaction skips samples remote write has not delivered yet.
    CREATE INDEX commit_log_by_sample ON commit_log (run, seq);
    "#,
    // 4 -> 5: per-hour rollups for long ranges, built from the minute rollups; every hour
    // that has minutes is marked, and the closed ones are built in the same transaction
    // (`backfill`).
    r#"
    CREATE TABLE hour_rollups (
        host_id     INTEGER NOT NULL,
        hour_ms     INTEGER NOT NULL,
        n           INTEGER NOT NULL,
        cpu         REAL NOT NULL,
        cpu_min     REAL NOT NULL,
        cpu_max     REAL NOT NULL,
        cores       TEXT NOT NULL,
        mem_used    REAL NOT NULL,
        mem_total   REAL NOT NULL,
        swap_used   REAL NOT NULL,
        swap_total  REAL NOT NULL,
        load1       REAL NOT NULL,
        load5       REAL NOT NULL,
        load15      REAL NOT NULL,
        networks    TEXT NOT NULL,
        PRIMARY KEY (host_id, hour_ms)
    ) WITHOUT ROWID;
    CREATE INDEX hour_rollups_by_time ON hour_rollups (hour_ms);
    -- Hours whose minute rollups changed since their hour rollup was built.
    CREATE TABLE hour_rollups_due (
        host_id  INTEGER NOT NULL,
        hour_ms  INTEGER NOT NULL,
        PRIMARY KEY (host_id, hour_ms)
    ) WITHOUT ROWID;
    INSERT INTO hour_rollups_due (host_id, hour_ms)
        SELECT DISTINCT host_id, minute_ms - minute_ms % 3600000 FROM rollups;
    "#,
    // 5 -> 6: the head in arrival order. As a `WITHOUT ROWID` table keyed by (run, seq)
    // every sample landed in its own host's b-tree leaf, beside four or five others of
    // ~800 bytes: each commit wrote one 4 KiB page per sample, and split pages all the
    // time. Appended by rowid, the rows fill pages in order, and only the small index
    // entries land per host. Same columns and names, so no query changes.
    r#"
    CREATE TABLE samples_v6 (
        id          INTEGER PRIMARY KEY,
        run         INTEGER NOT NULL,
        seq         INTEGER NOT NULL,
        host_id     INTEGER NOT NULL,
        ts_ms       INTEGER NOT NULL,
        cpu         REAL NOT NULL,
        cores       TEXT NOT NULL,
        mem_used    REAL NOT NULL,
        mem_total   REAL NOT NULL,
        swap_used   REAL NOT NULL,
        swap_total  REAL NOT NULL,
        load1       REAL NOT NULL,
        load5       REAL NOT NULL,
        load15      REAL NOT NULL,
        networks    TEXT NOT NULL,
        body        BLOB
    );
    INSERT INTO samples_v6 (run, seq, host_id, ts_ms, cpu, cores, mem_used, mem_total,
        swap_used, swap_total, load1, load5, load15, networks, body)
    SELECT run, seq, host_id, ts_ms, cpu, cores, mem_used, mem_total,
        swap_used, swap_total, load1, load5, load15, networks, body
    FROM samples ORDER BY ts_ms;
    DROP TABLE samples;
    ALTER TABLE samples_v6 RENAME TO samples;
    -- One row per (edge run, sequence number): a replayed sample is stored once.
    CREATE UNIQUE INDEX samples_by_run_seq ON samples (run, seq);
    CREATE INDEX samples_by_host_time ON samples (host_id, ts_ms);
    CREATE INDEX samples_by_time ON samples (ts_ms);
    "#,
    // 6 -> 7: one per-host index on the head instead of two. Each new sample put an entry
    // on its host's newest leaf of both `(run, seq)` and `(host_id, ts_ms)`: two scattered
    // 4 KiB pages per sample written to the WAL at every commit, checkpointed again, and
    // held hot in the page cache for every host. One unique `(host_id, ts_ms, run, seq)`
    // serves the host's time range and still stores a replay (the same sample again) once.
    // The commit log names its sample by row id, so delivery and compaction find it
    // without the `(run, seq)` index.
    r#"
    ALTER TABLE commit_log ADD COLUMN sample INTEGER;
    UPDATE commit_log SET sample =
        (SELECT s.id FROM samples s WHERE s.run = commit_log.run AND s.seq = commit_log.seq);
    DROP INDEX commit_log_by_sample;
    CREATE INDEX commit_log_by_sample ON commit_log (sample);
    DROP INDEX samples_by_run_seq;
    DROP INDEX samples_by_host_time;
    CREATE UNIQUE INDEX samples_by_host_time ON samples (host_id, ts_ms, run, seq);
    "#,
    // 7 -> 8: new head rows' bodies are LZ4 blocks instead of zstd frames (`body.rs`).
    // Nothing to change in the file: this version still reads the zstd bodies already
    // there. The number moves so that an older server, which cannot read LZ4 bodies,
    // refuses the file instead of finding every new body missing.
    "",
    // 8 -> 9: the head's unique index by the second first, then host (`head.rs`). Every
    // sample of one second lands in one small region of it, so a commit rewrites a few
    // pages for all its samples, where the per-host index put each sample on its own
    // host's leaf: one 4 KiB page written per sample and one kept hot per host. Same
    // uniqueness: `ts_ms / 1000` follows from `ts_ms`.
    r#"
    DROP INDEX samples_by_host_time;
    CREATE UNIQUE INDEX samples_by_second ON samples (ts_ms / 1000, host_id, ts_ms, run, seq);
    "#,
];

/// What a migration does beyond its SQL, in the same transaction: the version it takes
/// the schema to, and the work.
fn backfill(to: usize, tx: &Connection, now_ms: u64) -> Result<(), StoreError> {
    if to == 5 {
        // Every closed hour at once (open ones are built when they close); the minute
        // rollups are all still there, so none is skipped as expiring.
        crate::writer::hours::build(tx, now_ms, 0, usize::MAX)?;
    }
    Ok(())
}

/// Brings the database to [`SCHEMA_VERSION`], or explains why it cannot; `now_ms` tells
/// which hours are closed for the hour rollups' backfill.
pub fn migrate(conn: &mut Connection, now_ms: u64) -> Result<(), StoreError> {
    migrate_to(conn, now_ms, SCHEMA_VERSION)
}

/// Brings the database to version `target` (tests build older databases with it).
fn migrate_to(conn: &mut Connection, now_ms: u64, target: i64) -> Result<(), StoreError> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(|e| StoreError::sql("reading the schema version", e))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    for (from, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .take(target as usize)
        .skip(version as usize)
    {
        let to = from + 1;
        let tx = conn
            .transaction()
            .map_err(|e| StoreError::sql("starting a migration", e))?;
        tx.execute_batch(sql)
            .map_err(|e| StoreError::sql(format!("migrating the schema to version {to}"), e))?;
        backfill(to, &tx, now_ms)?;
        tx.pragma_update(None, "user_version", to as i64)
            .map_err(|e| StoreError::sql("recording the schema version", e))?;
        tx.commit()
            .map_err(|e| StoreError::sql(format!("committing schema version {to}"), e))?;
        tracing::info!(version = to, "migrated the history schema");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_an_empty_database_and_is_idempotent() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, 0).unwrap();
        migrate(&mut conn, 0).unwrap();
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
    }

    /// Inserts a head row `(run, seq, ts_ms)` of host 1 into a version 5 to 7 database;
    /// how many rows it added (0 for a replay).
    fn insert_head_row(conn: &Connection, (run, seq, ts): (i64, i64, i64)) -> usize {
        conn.execute(
            "INSERT OR IGNORE INTO samples (run, seq, host_id, ts_ms, cpu, cores, mem_used,
             mem_total, swap_used, swap_total, load1, load5, load15, networks, body)
             VALUES (?1, ?2, 1, ?3, 0.5, '[]', 1, 2, 0, 0, 0, 0, 0, '[]', ?4)",
            rusqlite::params![run, seq, ts, b"{}".to_vec()],
        )
        .unwrap()
    }

    /// A database at schema `version` with these head rows.
    fn head_at(version: i64, rows: &[(i64, i64, i64)]) -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate_to(&mut conn, 0, version).unwrap();
        for &row in rows {
            insert_head_row(&conn, row);
        }
        conn
    }

    #[test]
    fn a_version_5_head_moves_to_arrival_order_with_every_row_and_its_uniqueness() {
        let mut conn = head_at(5, &[(1, 1, 3_000), (1, 2, 4_000), (2, 1, 1_000)]);
        migrate(&mut conn, 0).unwrap();
        let rows: Vec<(i64, i64, i64)> = conn
            .prepare("SELECT run, seq, ts_ms FROM samples ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows, [(2, 1, 1_000), (1, 1, 3_000), (1, 2, 4_000)]);
        assert_eq!(
            insert_head_row(&conn, (1, 2, 4_000)),
            0,
            "a replay is ignored"
        );
    }

    #[test]
    fn a_version_6_commit_log_names_its_samples_by_row_id_and_replays_stay_single() {
        let mut conn = head_at(6, &[(1, 1, 1_000), (1, 2, 2_000), (2, 1, 3_000)]);
        // Logged: (1, 2), (2, 1), and (1, 9) whose row retention already deleted.
        for (run, seq, ts) in [(1, 2, 2_000), (2, 1, 3_000), (1, 9, 500)] {
            conn.execute(
                "INSERT INTO commit_log (run, seq, ts_ms) VALUES (?1, ?2, ?3)",
                rusqlite::params![run, seq, ts],
            )
            .unwrap();
        }
        migrate(&mut conn, 0).unwrap();
        let logged: Vec<(i64, Option<i64>)> = conn
            .prepare(
                "SELECT l.seq, s.ts_ms FROM commit_log l
                 LEFT JOIN samples s ON s.id = l.sample ORDER BY l.id",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(logged, [(2, Some(2_000)), (1, Some(3_000)), (9, None)]);
        assert_eq!(
            insert_head_row(&conn, (1, 2, 2_000)),
            0,
            "a replay is still stored once"
        );
        let indexes: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'samples'")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            !indexes.contains(&"samples_by_run_seq".to_owned()),
            "{indexes:?}"
        );
    }

    #[test]
    fn a_version_8_head_moves_to_the_per_second_index_with_every_row_and_its_uniqueness() {
        let mut conn = head_at(8, &[(1, 1, 1_000), (1, 2, 1_900), (2, 1, 2_500)]);
        migrate(&mut conn, 0).unwrap();
        let indexes: Vec<String> = conn
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'samples'
                 ORDER BY name",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(indexes, ["samples_by_second", "samples_by_time"]);
        assert_eq!(
            insert_head_row(&conn, (1, 2, 1_900)),
            0,
            "a replay is still stored once"
        );
        assert_eq!(insert_head_row(&conn, (1, 3, 1_900)), 1);
        let n: i64 = conn
            .query_row("SELECT count(*) FROM samples", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 4);
    }

    #[test]
    fn refuses_a_newer_schema() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        assert!(matches!(
            migrate(&mut conn, 0),
            Err(StoreError::TooNew { found: 99, .. })
        ));
    }
}
