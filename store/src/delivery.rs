//! The store as the queue of an outside delivery (Prometheus remote write): a log of
//! committed samples in commit order, and per receiver a cursor of what it has taken.
//!
//! The writer appends `(run, seq)` to `commit_log` in the same transaction as the sample
//! (only with [`StoreConfig::commit_log`](crate::StoreConfig::commit_log)), so a sample is
//! logged exactly when it is acknowledged to its edge, and a replayed duplicate is not
//! logged twice. A sender reads log rows after its cursor joined with the raw sample, in
//! log order, and moves its cursor (through the writer) only after the receiver took them:
//! delivery is at least once, survives restarts, and needs no second buffer in memory.
//! The writer deletes log rows every cursor has passed, and rows older than raw retention.

use std::path::Path;

use std::sync::Arc;

use rusqlite::{params, Connection, OptionalExtension};
use utizmon_protocol::Sample;

use crate::StoreError;

/// One committed sample as read back for delivery: the values stored per sample.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedSample {
    /// Position in the commit log; a cursor at this id has delivered this sample.
    pub id: i64,
    /// Host name.
    pub host: String,
    /// The sample's own timestamp, Unix milliseconds.
    pub ts_ms: i64,
    /// Whole-host CPU busy ratio, 0..=1.
    pub cpu: f64,
    /// Per-core busy ratios, in core order.
    pub cores: Vec<f64>,
    /// Memory used and total, bytes.
    pub mem_used: f64,
    pub mem_total: f64,
    /// Swap used and total, bytes.
    pub swap_used: f64,
    pub swap_total: f64,
    /// Load averages.
    pub load1: f64,
    pub load5: f64,
    pub load15: f64,
    /// The whole sample as the edge sent it, for the series the columns above do not hold
    /// (filesystems, networks, uptime...); `None` for rows written before schema 4 kept it.
    pub sample: Option<Arc<Sample>>,
}

/// A read-only connection for one sender; each sender has its own so none waits on
/// another or on history queries.
pub struct LogReader {
    conn: Connection,
}

impl LogReader {
    pub(crate) fn open(path: &Path) -> Result<LogReader, StoreError> {
        Ok(LogReader {
            conn: crate::open_connection(path, true)?,
        })
    }

    /// Where `remote`'s cursor stands: the last log id it has taken (0: nothing yet).
    pub fn cursor(&self, remote: &str) -> Result<i64, StoreError> {
        self.conn
            .query_row(
                "SELECT delivered FROM remote_cursors WHERE remote = ?1",
                params![remote],
                |r| r.get(0),
            )
            .optional()
            .map(Option::unwrap_or_default)
            .map_err(|e| StoreError::sql("reading a remote-write cursor", e))
    }

    /// Up to `limit` logged samples after `after`, in log order. Samples whose raw row was
    /// already deleted by retention are skipped.
    pub fn after(&self, after: i64, limit: usize) -> Result<Vec<LoggedSample>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT l.id, h.name, s.ts_ms, s.cpu, s.cores, s.mem_used, s.mem_total,
                        s.swap_used, s.swap_total, s.load1, s.load5, s.load15, s.body
                 FROM commit_log l
                 JOIN samples s ON s.id = l.sample AND s.run = l.run AND s.seq = l.seq
                 JOIN hosts h ON h.id = s.host_id
                 WHERE l.id > ?1 ORDER BY l.id LIMIT ?2",
            )
            .map_err(|e| StoreError::sql("preparing the commit-log read", e))?;
        let rows = stmt
            .query_map(params![after, limit as i64], |r| {
                let cores: String = r.get(4)?;
                Ok(LoggedSample {
                    id: r.get(0)?,
                    host: r.get(1)?,
                    ts_ms: r.get(2)?,
                    cpu: r.get(3)?,
                    cores: serde_json::from_str(&cores).unwrap_or_default(),
                    mem_used: r.get(5)?,
                    mem_total: r.get(6)?,
                    swap_used: r.get(7)?,
                    swap_total: r.get(8)?,
                    load1: r.get(9)?,
                    load5: r.get(10)?,
                    load15: r.get(11)?,
                    sample: r
                        .get::<_, Option<Vec<u8>>>(12)?
                        .and_then(|body| crate::body::decode(&body))
                        .map(Arc::new),
                })
            })
            .map_err(|e| StoreError::sql("reading the commit log", e))?;
        rows.collect::<Result<_, _>>()
            .map_err(|e| StoreError::sql("reading the commit log", e))
    }

    /// How many logged samples lie after `after`, and the timestamp of the oldest of them.
    pub fn pending(&self, after: i64) -> Result<(u64, Option<i64>), StoreError> {
        let what = |e| StoreError::sql("counting pending remote-write samples", e);
        let count: i64 = self
            .conn
            .query_row(
                "SELECT count(*) FROM commit_log WHERE id > ?1",
                params![after],
                |r| r.get(0),
            )
            .map_err(what)?;
        let oldest: Option<i64> = self
            .conn
            .query_row(
                "SELECT ts_ms FROM commit_log WHERE id > ?1 ORDER BY id LIMIT 1",
                params![after],
                |r| r.get(0),
            )
            .optional()
            .map_err(what)?;
        Ok((u64::try_from(count).unwrap_or(0), oldest))
    }
}

/// Changes to the cursors, run by the writer thread.
#[derive(Debug)]
pub enum CursorChange {
    /// `remote` has taken everything up to log id `delivered`.
    Set { remote: String, delivered: i64 },
    /// Forget every cursor but these (receivers no longer configured).
    Retain(Vec<String>),
}

impl CursorChange {
    pub(crate) fn apply(&self, conn: &Connection) -> Result<(), StoreError> {
        match self {
            CursorChange::Set { remote, delivered } => conn
                .execute(
                    "INSERT INTO remote_cursors (remote, delivered) VALUES (?1, ?2)
                     ON CONFLICT (remote) DO UPDATE SET delivered = max(delivered, excluded.delivered)",
                    params![remote, delivered],
                )
                .map(drop)
                .map_err(|e| StoreError::sql("moving a remote-write cursor", e)),
            CursorChange::Retain(keep) => {
                let keep = serde_json::to_string(keep)?;
                conn.execute(
                    "DELETE FROM remote_cursors WHERE remote NOT IN (SELECT value FROM json_each(?1))",
                    params![keep],
                )
                .map(drop)
                .map_err(|e| StoreError::sql("forgetting remote-write cursors", e))
            }
        }
    }
}

/// Logs one newly inserted sample (same transaction as the insert).
pub(crate) fn log(
    conn: &Connection,
    sample: i64,
    run: i64,
    seq: i64,
    ts_ms: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached("INSERT INTO commit_log (sample, run, seq, ts_ms) VALUES (?1, ?2, ?3, ?4)")
        .and_then(|mut stmt| stmt.execute(params![sample, run, seq, ts_ms]))
        .map(drop)
        .map_err(|e| StoreError::sql("logging a committed sample", e))
}

/// Deletes up to `chunk` log rows that every cursor has passed, are older than
/// `cutoff_ms`, or (when the log is off) all of them. Returns how many.
pub(crate) fn prune(
    conn: &Connection,
    enabled: bool,
    cutoff_ms: i64,
    chunk: usize,
) -> Result<usize, StoreError> {
    let what = |e| StoreError::sql("pruning the commit log", e);
    if !enabled {
        return conn
            .execute(
                "DELETE FROM commit_log WHERE id IN (SELECT id FROM commit_log LIMIT ?1)",
                params![chunk as i64],
            )
            .map_err(what);
    }
    // Two statements, each walking an index: ids every cursor passed, then expired rows.
    let delivered = conn
        .execute(
            "DELETE FROM commit_log WHERE id IN (SELECT id FROM commit_log
               WHERE id <= (SELECT min(delivered) FROM remote_cursors) LIMIT ?1)",
            params![chunk as i64],
        )
        .map_err(what)?;
    let expired = conn
        .execute(
            "DELETE FROM commit_log WHERE id IN
               (SELECT id FROM commit_log WHERE ts_ms < ?1 LIMIT ?2)",
            params![cutoff_ms, chunk as i64],
        )
        .map_err(what)?;
    Ok(delivered + expired)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::schema::migrate(&mut conn, 0).unwrap();
        conn
    }

    fn ids(conn: &Connection) -> Vec<i64> {
        let mut stmt = conn
            .prepare("SELECT id FROM commit_log ORDER BY id")
            .unwrap();
        let rows = stmt.query_map([], |r| r.get(0)).unwrap();
        rows.map(Result::unwrap).collect()
    }

    #[test]
    fn cursors_only_move_forward_and_pruning_keeps_what_a_receiver_still_needs() {
        let conn = db();
        for seq in 1..=5 {
            log(&conn, seq, 1, seq, 1000 * seq).unwrap();
        }
        let set = |remote: &str, delivered| CursorChange::Set {
            remote: remote.into(),
            delivered,
        };
        set("a", 4).apply(&conn).unwrap();
        set("a", 2).apply(&conn).unwrap();
        set("b", 2).apply(&conn).unwrap();
        let cursor: i64 = conn
            .query_row(
                "SELECT delivered FROM remote_cursors WHERE remote = 'a'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(cursor, 4, "an older position never moves a cursor back");
        // "b" is at 2: rows 3..5 stay even though "a" has them.
        assert_eq!(prune(&conn, true, 0, 100).unwrap(), 2);
        assert_eq!(ids(&conn), [3, 4, 5]);
        // Forgetting "b" lets the log shrink to what "a" still needs.
        CursorChange::Retain(vec!["a".into()]).apply(&conn).unwrap();
        prune(&conn, true, 0, 100).unwrap();
        assert_eq!(ids(&conn), [5]);
        // Rows older than raw retention go whatever the cursors say.
        prune(&conn, true, 10_000, 100).unwrap();
        assert!(ids(&conn).is_empty());
        // Ids are never reused, so a cursor never skips a new row.
        log(&conn, 6, 1, 6, 6000).unwrap();
        assert_eq!(ids(&conn), [6]);
        // Without remote write the log is emptied.
        prune(&conn, false, 0, 100).unwrap();
        assert!(ids(&conn).is_empty());
    }
}
