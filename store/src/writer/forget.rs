//! Forgetting a host (`Store::forget`): unlisting it, or with `purge` deleting it and its
//! whole history, in one transaction.

use rusqlite::{params, Connection, OptionalExtension};

use crate::{query, Forgotten, StoreError};

/// Unlists `host` (clears its row and sets the [`query::FORGOTTEN`] mark, which
/// [`query::hosts`] skips until the host's next sample rewrites the row) or, with `purge`,
/// deletes it and its history. Returns what was removed and the host's id, if known.
pub fn forget(
    conn: &mut Connection,
    host: &str,
    purge: bool,
) -> Result<(Forgotten, Option<i64>), StoreError> {
    let tx = conn
        .transaction()
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
        forgotten.samples = delete("DELETE FROM samples WHERE host_id = ?1")? + chunked as u64;
        delete("DELETE FROM chunks WHERE host_id = ?1")?;
        delete("DELETE FROM chunk_runs WHERE host_id = ?1")?;
        forgotten.rollups = delete("DELETE FROM rollups WHERE host_id = ?1")?;
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
}
