//! Retention: deletes raw history (head rows, and chunks whose newest sample is) older
//! than raw retention, minute and hour rollups older than their retention, and commit-log
//! rows nobody needs, a bounded chunk per pass so a large backlog never holds the write
//! lock for long.

use rusqlite::{params, Connection};

use crate::{delivery, StoreConfig, StoreError};

/// Most rows one retention pass deletes per table before letting writes through again.
pub const PRUNE_CHUNK: usize = 20_000;

/// What to delete: everything strictly older than these instants, Unix ms.
#[derive(Debug, Clone, Copy)]
pub struct Cutoffs {
    pub raw_ms: u64,
    /// Per-minute rollups (and marks of hours to rebuild from them).
    pub rollup_ms: u64,
    pub hour_rollup_ms: u64,
    /// Whether remote write's commit log is on (off: the log is emptied).
    pub commit_log: bool,
}

impl Cutoffs {
    /// The cut-offs of `config`'s retention at `now_ms`.
    pub fn at(now_ms: u64, config: &StoreConfig) -> Cutoffs {
        let before = |retention: std::time::Duration| {
            now_ms.saturating_sub(u64::try_from(retention.as_millis()).unwrap_or(u64::MAX))
        };
        Cutoffs {
            raw_ms: before(config.raw_retention),
            rollup_ms: before(config.rollup_retention),
            hour_rollup_ms: before(config.hour_rollup_retention),
            commit_log: config.commit_log,
        }
    }
}

/// Runs one retention pass of at most `chunk` rows per table; returns whether more is
/// left (a full chunk), so the caller comes back soon rather than a whole interval later.
pub fn prune(conn: &Connection, cutoffs: Cutoffs, chunk: usize) -> Result<bool, StoreError> {
    let raw = delete_older(conn, "samples", "id", "ts_ms", cutoffs.raw_ms, chunk)?;
    let chunks = delete_expired_chunks(conn, cutoffs.raw_ms, chunk)?;
    let rollups = delete_older(
        conn,
        "rollups",
        "host_id, minute_ms",
        "minute_ms",
        cutoffs.rollup_ms,
        chunk,
    )?;
    let hours = delete_older(
        conn,
        "hour_rollups",
        "host_id, hour_ms",
        "hour_ms",
        cutoffs.hour_rollup_ms,
        chunk,
    )?;
    // A mark whose minutes are expiring is never built (`hours::build`).
    conn.execute(
        "DELETE FROM hour_rollups_due WHERE hour_ms < ?1",
        params![cutoffs.rollup_ms as i64],
    )
    .map_err(|e| StoreError::sql("deleting expired hour marks", e))?;
    let log = delivery::prune(conn, cutoffs.commit_log, cutoffs.raw_ms as i64, chunk)?;
    if raw + chunks + rollups + hours + log > 0 {
        tracing::debug!(raw, chunks, rollups, hours, log, "pruned expired history");
    }
    Ok(raw == chunk || chunks == chunk || rollups == chunk || hours == chunk || log >= chunk)
}

/// Deletes at most `chunk` rows of `table` whose `time` is before `cutoff_ms`, by `key`
/// (its primary key columns: anything else would find the rows by scanning the table,
/// every pass); returns how many it deleted.
fn delete_older(
    conn: &Connection,
    table: &str,
    key: &str,
    time: &str,
    cutoff_ms: u64,
    chunk: usize,
) -> Result<usize, StoreError> {
    conn.prepare_cached(&delete_older_sql(table, key, time))
        .and_then(|mut stmt| stmt.execute(params![cutoff_ms as i64, chunk as i64]))
        .map_err(|e| StoreError::sql(format!("deleting expired {table}"), e))
}

/// Deletes at most `chunk` chunks whose newest sample is before `cutoff_ms`, with their
/// `chunk_runs` rows, in one transaction; returns how many chunks it deleted. The runs
/// are found by the chunks deleted: a sweep of `chunk_runs` for rows without a chunk
/// (what this replaced) read all of it, every pass that expired a chunk, which in the
/// steady state past raw retention is every pass.
fn delete_expired_chunks(
    conn: &Connection,
    cutoff_ms: u64,
    chunk: usize,
) -> Result<usize, StoreError> {
    let what = |e| StoreError::sql("deleting expired chunks", e);
    let tx = conn.unchecked_transaction().map_err(what)?;
    let expired: Vec<(i64, i64, i64)> = tx
        .prepare_cached(EXPIRED_CHUNKS_SQL)
        .and_then(|mut stmt| {
            stmt.query_map(params![cutoff_ms as i64, chunk as i64], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect()
        })
        .map_err(what)?;
    {
        let mut runs = tx.prepare_cached(CHUNK_RUNS_OF_SQL).map_err(what)?;
        let mut chunks = tx
            .prepare_cached("DELETE FROM chunks WHERE id = ?1")
            .map_err(what)?;
        for &(id, host_id, start_ms) in &expired {
            runs.execute(params![host_id, start_ms]).map_err(what)?;
            chunks.execute([id]).map_err(what)?;
        }
    }
    tx.commit().map_err(what)?;
    Ok(expired.len())
}

const EXPIRED_CHUNKS_SQL: &str =
    "SELECT id, host_id, start_ms FROM chunks WHERE end_ms < ?1 LIMIT ?2";
const CHUNK_RUNS_OF_SQL: &str = "DELETE FROM chunk_runs WHERE host_id = ?1 AND start_ms = ?2";

fn delete_older_sql(table: &str, key: &str, time: &str) -> String {
    format!(
        "DELETE FROM {table} WHERE ({key}) IN
         (SELECT {key} FROM {table} WHERE {time} < ?1 LIMIT ?2)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::tests::{count, db, insert_point, point};

    #[test]
    fn deletes_what_expired_in_bounded_chunks() {
        let conn = db();
        for seq in 1..=5 {
            insert_point(&conn, seq, &point(seq as u64 * 1000, 0.5));
        }
        conn.execute(
            "INSERT INTO rollups (host_id, minute_ms, n, cpu, cpu_min, cpu_max, cores, mem_used,
             mem_total, swap_used, swap_total, load1, load5, load15, networks)
             VALUES (1, 0, 1, 0, 0, 0, '[]', 0, 0, 0, 0, 0, 0, 0, '[]'),
                    (1, 60000, 1, 0, 0, 0, '[]', 0, 0, 0, 0, 0, 0, 0, '[]')",
            [],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO hour_rollups (host_id, hour_ms, n, cpu, cpu_min, cpu_max, cores,
             mem_used, mem_total, swap_used, swap_total, load1, load5, load15, networks)
             VALUES (1, 0, 1, 0, 0, 0, '[]', 0, 0, 0, 0, 0, 0, 0, '[]'),
                    (1, 3600000, 1, 0, 0, 0, '[]', 0, 0, 0, 0, 0, 0, 0, '[]')",
            [],
        )
        .unwrap();
        let cutoffs = Cutoffs {
            raw_ms: 4_000,
            rollup_ms: 60_000,
            hour_rollup_ms: 3_600_000,
            commit_log: false,
        };
        // Three samples are older than 4 s; two per pass.
        assert!(prune(&conn, cutoffs, 2).unwrap(), "more left");
        assert_eq!(count(&conn, "samples"), 3);
        assert!(!prune(&conn, cutoffs, 2).unwrap());
        assert_eq!(count(&conn, "samples"), 2);
        assert_eq!(count(&conn, "rollups"), 1);
        assert_eq!(
            count(&conn, "hour_rollups"),
            1,
            "kept longer than the minutes"
        );
    }

    #[test]
    fn an_expired_chunk_goes_with_its_runs_and_a_live_one_keeps_them() {
        let conn = db();
        for (id, end_ms) in [(1, 1_000), (2, 9_000)] {
            conn.execute(
                "INSERT INTO chunks (id, host_id, start_ms, end_ms, n, body)
                 VALUES (?1, 1, ?1, ?2, 1, x'00')",
                params![id, end_ms],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO chunk_runs (run, min_seq, max_seq, host_id, start_ms)
                 VALUES (1, ?1, ?1, 1, ?1)",
                [id],
            )
            .unwrap();
        }
        assert_eq!(delete_expired_chunks(&conn, 5_000, 10).unwrap(), 1);
        let left = |table: &str| -> Vec<i64> {
            let mut stmt = conn
                .prepare(&format!("SELECT start_ms FROM {table} ORDER BY start_ms"))
                .unwrap();
            stmt.query_map([], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };
        assert_eq!((left("chunks"), left("chunk_runs")), (vec![2], vec![2]));
    }

    /// Until this was caught, the head's retention delete still named its rows by the
    /// head's old key `(run, seq)`, which no index covers since schema 6: every pass (every
    /// 10 s) read the whole head, most of the writer's CPU on a fleet's steady state.
    #[test]
    fn no_retention_delete_scans_its_table() {
        let conn = db();
        let statements = [
            ("samples", delete_older_sql("samples", "id", "ts_ms")),
            (
                "rollups",
                delete_older_sql("rollups", "host_id, minute_ms", "minute_ms"),
            ),
            (
                "hour_rollups",
                delete_older_sql("hour_rollups", "host_id, hour_ms", "hour_ms"),
            ),
            ("chunks", EXPIRED_CHUNKS_SQL.to_owned()),
            ("chunk_runs", CHUNK_RUNS_OF_SQL.to_owned()),
        ];
        for (table, sql) in statements {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let plan: Vec<String> = stmt
                .query_map(params![0, 1], |r| r.get(3))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            assert!(
                !plan
                    .iter()
                    .any(|step| step.starts_with(&format!("SCAN {table}"))),
                "{table}: {plan:?}"
            );
        }
    }
}
