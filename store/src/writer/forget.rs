//! Forgetting a host (`Store::forget`): unlisting it, or with `purge` deleting it and its
//! whole history, in one transaction.

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::chunks::BLOCK_MS;
use crate::{head, query, sweep, Forgotten, StoreError};

/// Unlists `host` (clears its row and sets the [`query::FORGOTTEN`] mark, which
/// [`query::hosts`] skips until the host's next sample rewrites the row) or, with `purge`,
/// deletes it and its history. Returns what was removed and the host's id, if known.
pub fn forget(
    conn: &mut Connection,
    host: &str,
    purge: bool,
) -> Result<(Forgotten, Option<i64>), StoreError> {
    // IMMEDIATE: the transaction reads before it writes, and the alert tables are written
    // by another connection; a deferred one would fail with "database is locked" when that
    // connection commits in between, instead of waiting its turn.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| StoreError::sql("starting to forget a host", e))?;
    let host_id: Option<i64> = tx
        .query_row("SELECT id FROM hosts WHERE name = ?1", params![host], |r| {
            r.get(0)
        })
        .optional()
        .map_err(|e| StoreError::sql("looking up a host", e))?;
    let Some(host_id) = host_id else {
        return Ok((Forgotten::default(), None));
    };
    let mut forgotten = Forgotten {
        known: true,
        ..Forgotten::default()
    };
    let delete = |sql: &str| {
        tx.execute(sql, params![host_id])
            .map(|n| n as u64)
            .map_err(|e| StoreError::sql("deleting a host's history", e))
    };
    if purge {
        let chunked: i64 = tx
            .query_row(
                "SELECT coalesce(sum(n), 0) FROM chunks WHERE host_id = ?1",
                params![host_id],
                |r| r.get(0),
            )
            .map_err(|e| StoreError::sql("counting a host's chunks", e))?;
        // Head rows a chunk holds too (swapped, not swept yet) are counted once.
        let unheld: i64 = tx
            .query_row(
                &format!(
                    "SELECT count(*) FROM ({})",
                    head::rows_of_host(
                        "s.id",
                        &format!(
                            "AND NOT ({})",
                            sweep::held(&format!("s.ts_ms - s.ts_ms % {BLOCK_MS}"))
                        )
                    )
                ),
                params![host_id, 0, i64::MAX],
                |r| r.get(0),
            )
            .map_err(|e| StoreError::sql("counting a host's head", e))?;
        // the head by its per-second index, over the seconds the head spans
        tx.execute(
            &format!("DELETE FROM samples WHERE id IN ({})", head::ids_of_host()),
            params![host_id, 0, i64::MAX],
        )
        .map_err(|e| StoreError::sql("deleting a host's history", e))?;
        forgotten.samples = unheld as u64 + chunked as u64;
        delete("DELETE FROM chunks WHERE host_id = ?1")?;
        delete("DELETE FROM chunk_runs WHERE host_id = ?1")?;
        forgotten.rollups = delete("DELETE FROM rollups WHERE host_id = ?1")?;
        delete("DELETE FROM hour_rollups WHERE host_id = ?1")?;
        delete("DELETE FROM hour_rollups_due WHERE host_id = ?1")?;
        delete("DELETE FROM runs WHERE host_id = ?1")?;
        delete("DELETE FROM hosts WHERE id = ?1")?;
    } else {
        tx.execute(
            "UPDATE hosts SET info = NULL, latest = NULL, interval_ms = ?2,
             last_seen_ms = NULL WHERE id = ?1",
            params![host_id, query::FORGOTTEN],
        )
        .map_err(|e| StoreError::sql("unlisting a host", e))?;
    }
    tx.commit()
        .map_err(|e| StoreError::sql("committing a forgotten host", e))?;
    Ok((forgotten, Some(host_id)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::tests::{db, insert_point, point};

    /// Another connection holds the write lock while the host is forgotten: forgetting
    /// waits for it, then succeeds (a deferred transaction failed here as "locked").
    #[test]
    fn forgetting_waits_for_another_writer_instead_of_failing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.db");
        let mut conn = crate::open_connection(&path, false).unwrap();
        crate::schema::migrate(&mut conn, 0).unwrap();
        conn.execute("INSERT INTO hosts (id, name) VALUES (1, 'h')", [])
            .unwrap();
        let other = crate::open_connection(&path, false).unwrap();
        other
            .execute_batch("BEGIN IMMEDIATE; INSERT INTO hosts (id, name) VALUES (2, 'g');")
            .unwrap();
        let committer = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(200));
            other.execute_batch("COMMIT").unwrap();
        });
        let (forgotten, id) = forget(&mut conn, "h", true).unwrap();
        committer.join().unwrap();
        assert_eq!((forgotten.known, id), (true, Some(1)));
        let left: Vec<String> = conn
            .prepare("SELECT name FROM hosts")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(left, ["g"]);
    }

    #[test]
    fn unlisting_keeps_history_and_purging_deletes_it() {
        let mut conn = db();
        conn.execute("INSERT INTO hosts (id, name) VALUES (1, 'h')", [])
            .unwrap();
        insert_point(&conn, 1, &point(1_000, 0.5));
        let (unlisted, id) = forget(&mut conn, "h", false).unwrap();
        assert_eq!((unlisted.known, unlisted.samples, id), (true, 0, Some(1)));
        assert!(query::hosts(&conn).unwrap().is_empty());
        let (purged, _) = forget(&mut conn, "h", true).unwrap();
        assert_eq!(purged.samples, 1);
        let (unknown, id) = forget(&mut conn, "h", true).unwrap();
        assert_eq!((unknown.known, id), (false, None));
    }

    /// A purge between a block's swap and its sweep counts each of its samples once: the
    /// head rows its chunk holds are not counted again.
    #[test]
    fn a_purge_counts_a_sample_in_both_forms_once() {
        let mut conn = db();
        conn.execute("INSERT INTO hosts (id, name) VALUES (1, 'h')", [])
            .unwrap();
        for seq in 1..=3 {
            insert_point(&conn, seq, &point(seq as u64 * 1_000, 0.5));
        }
        let prepared = crate::chunks::prepare(&conn, 1, 0).unwrap().unwrap();
        insert_point(&conn, 4, &point(4_000, 0.5));
        assert!(crate::chunks::swap(&mut conn, &prepared).unwrap());
        let (purged, _) = forget(&mut conn, "h", true).unwrap();
        assert_eq!(
            purged.samples, 4,
            "three in the chunk and the head, one in the head"
        );
    }
}
