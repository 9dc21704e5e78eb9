//! Reads: history points for a time range, and the hosts known at start-up.
//!
//! The source follows the step asked for: raw samples (the head and the compacted chunks,
//! merged by time) for steps under a minute, per-minute rollups for wider steps (the 24 h,
//! 7 d and 30 d views).

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::chunks::{self, bound};
use crate::point::{bucketize, Bucketizer, Point, MINUTE_MS};
use crate::{StoreError, StoredHost};

/// Minutes at the end of a rollup query that are read from raw samples instead.
const FRESH_MINUTES: u64 = 3;

/// Most points one history query returns: a wider range gets a wider step.
///
/// Rows are folded into buckets as they are read, so a query costs memory for at most
/// this many points whatever the range (48 h of raw samples are 172,800 rows).
pub const MAX_POINTS: u64 = 2_000;

/// Buckets a query gets when it names no step: enough for a chart as wide as a screen.
pub const TARGET_POINTS: u64 = 600;

/// The step of a query over `from_ms..=to_ms`: the one `requested`, or the one giving
/// [`TARGET_POINTS`] buckets, raised to [`min_step_ms`]. The one place that decides how a
/// history is bucketed; the API and the dashboard take what it gives.
pub fn step_ms(from_ms: u64, to_ms: u64, requested: Option<u64>) -> u64 {
    requested
        .unwrap_or_else(|| to_ms.saturating_sub(from_ms).div_ceil(TARGET_POINTS))
        .max(min_step_ms(from_ms, to_ms))
}

/// Smallest step that keeps `from_ms..=to_ms` within [`MAX_POINTS`] buckets. Buckets start
/// at multiples of the step, not at `from_ms`, so the range may straddle one bucket more
/// than it spans: it is fitted into `MAX_POINTS - 1` steps.
pub fn min_step_ms(from_ms: u64, to_ms: u64) -> u64 {
    to_ms
        .saturating_sub(from_ms)
        .saturating_add(1)
        .div_ceil(MAX_POINTS - 1)
        .max(1)
}

/// Points of `host` in `from_ms..=to_ms`, oldest first, bucketed by `step_ms` (raised to
/// [`min_step_ms`] when smaller). A step at or below the spacing of the raw samples
/// returns them as they are.
pub fn points(
    conn: &Connection,
    host: &str,
    from_ms: u64,
    to_ms: u64,
    step_ms: u64,
) -> Result<Vec<Point>, StoreError> {
    // One read transaction: head, chunks and rollups from the same snapshot, so a block
    // compacted meanwhile is seen once, in the head or in its chunk.
    let snapshot = read_snapshot(conn)?;
    let Some(host_id) = host_id(&snapshot, host)? else {
        return Ok(Vec::new());
    };
    let mut buckets = Bucketizer::new(step_ms.max(min_step_ms(from_ms, to_ms)));
    if step_ms < MINUTE_MS {
        each_raw_point(&snapshot, host_id, from_ms, to_ms, |p| buckets.push(&p))?;
    } else {
        minutes(&snapshot, host_id, from_ms, to_ms, |p| buckets.push(&p))?;
    }
    Ok(buckets.finish(true))
}

/// A read transaction on the read connection: every statement in it sees one snapshot.
pub fn read_snapshot(conn: &Connection) -> Result<rusqlite::Transaction<'_>, StoreError> {
    conn.unchecked_transaction()
        .map_err(|e| StoreError::sql("starting a read", e))
}

/// The id of host `name`, if the database knows it.
pub fn host_id(conn: &Connection, name: &str) -> Result<Option<i64>, StoreError> {
    conn.query_row("SELECT id FROM hosts WHERE name = ?1", params![name], |r| {
        r.get(0)
    })
    .optional()
    .map_err(|e| StoreError::sql("looking up a host", e))
}

/// Per-minute points, oldest first: rollups, except for the last few minutes of the range,
/// which are built from raw samples because their rollups may not have caught up yet (they
/// are rebuilt at each maintenance pass).
fn minutes(
    conn: &Connection,
    host_id: i64,
    from_ms: u64,
    to_ms: u64,
    mut each: impl FnMut(Point),
) -> Result<(), StoreError> {
    let fresh_from = from_ms.max(to_ms.saturating_sub(FRESH_MINUTES * MINUTE_MS));
    let fresh_from = fresh_from - fresh_from % MINUTE_MS;
    if fresh_from > from_ms {
        each_rollup_point(conn, host_id, from_ms, fresh_from - 1, &mut each)?;
    }
    // The tail is a few minutes: small enough to merge in memory.
    let mut tail = Vec::new();
    each_rollup_point(conn, host_id, fresh_from.max(from_ms), to_ms, |p| {
        tail.push(p)
    })?;
    let fresh = bucketize(raw_points(conn, host_id, fresh_from, to_ms)?, MINUTE_MS);
    tail.retain(|p| !fresh.iter().any(|f| f.ts_ms == p.ts_ms));
    tail.extend(fresh);
    tail.sort_by_key(|p| p.ts_ms);
    tail.into_iter().for_each(each);
    Ok(())
}

const RAW_SQL: &str = "SELECT ts_ms, cpu, cpu, cpu, cores, mem_used, mem_total, swap_used,
     swap_total, load1, load5, load15, networks, 1
     FROM samples WHERE host_id = ?1 AND ts_ms BETWEEN ?2 AND ?3 ORDER BY ts_ms";

/// Raw samples of one host between two instants, oldest first.
pub fn raw_points(
    conn: &Connection,
    host_id: i64,
    from_ms: u64,
    to_ms: u64,
) -> Result<Vec<Point>, StoreError> {
    let mut points = Vec::new();
    each_raw_point(conn, host_id, from_ms, to_ms, |p| points.push(p))?;
    Ok(points)
}

/// Calls `each` with every raw sample of one host between two instants, oldest first:
/// the compacted chunks merged with the head rows, which are read as their point columns.
fn each_raw_point(
    conn: &Connection,
    host_id: i64,
    from_ms: u64,
    to_ms: u64,
    mut each: impl FnMut(Point),
) -> Result<(), StoreError> {
    let mut stmt = conn
        .prepare_cached(RAW_SQL)
        .map_err(|e| StoreError::sql("preparing the samples query", e))?;
    let head = stmt
        .query_map(
            params![host_id, bound(from_ms), bound(to_ms)],
            point_from_row,
        )
        .map_err(|e| StoreError::sql("querying samples", e))?
        .map(|r| r.map_err(|e| StoreError::sql("reading samples", e)));
    chunks::merge(
        conn,
        host_id,
        (from_ms, to_ms),
        head,
        |p: &Point| p.ts_ms,
        chunks::chunk_points,
        &mut each,
    )
}

/// Calls `each` with every per-minute rollup of one host between two instants, oldest first.
fn each_rollup_point(
    conn: &Connection,
    host_id: i64,
    from_ms: u64,
    to_ms: u64,
    each: impl FnMut(Point),
) -> Result<(), StoreError> {
    select_points(
        conn,
        "rollups",
        "SELECT minute_ms, cpu, cpu_min, cpu_max, cores, mem_used, mem_total, swap_used,
         swap_total, load1, load5, load15, networks, n
         FROM rollups WHERE host_id = ?1 AND minute_ms BETWEEN ?2 AND ?3 ORDER BY minute_ms",
        (host_id, from_ms - from_ms % MINUTE_MS, to_ms),
        each,
    )
}

/// Runs a point query (columns in [`point_from_row`] order) for `(host, from, to)` and
/// hands each row to `each` as it is read.
fn select_points(
    conn: &Connection,
    table: &str,
    sql: &str,
    (host_id, from_ms, to_ms): (i64, u64, u64),
    mut each: impl FnMut(Point),
) -> Result<(), StoreError> {
    let mut stmt = conn
        .prepare_cached(sql)
        .map_err(|e| StoreError::sql(format!("preparing the {table} query"), e))?;
    let rows = stmt
        .query_map(
            params![host_id, bound(from_ms), bound(to_ms)],
            point_from_row,
        )
        .map_err(|e| StoreError::sql(format!("querying {table}"), e))?;
    for row in rows {
        each(row.map_err(|e| StoreError::sql(format!("reading {table}"), e))?);
    }
    Ok(())
}

fn point_from_row(row: &Row<'_>) -> rusqlite::Result<Point> {
    let json = |i: usize| -> rusqlite::Result<String> { row.get(i) };
    Ok(Point {
        ts_ms: row.get::<_, i64>(0)? as u64,
        cpu_ratio: row.get(1)?,
        cpu_ratio_min: row.get(2)?,
        cpu_ratio_max: row.get(3)?,
        cores: serde_json::from_str(&json(4)?).unwrap_or_default(),
        mem_used_bytes: row.get(5)?,
        mem_total_bytes: row.get(6)?,
        swap_used_bytes: row.get(7)?,
        swap_total_bytes: row.get(8)?,
        load1: row.get(9)?,
        load5: row.get(10)?,
        load15: row.get(11)?,
        networks: serde_json::from_str(&json(12)?).unwrap_or_default(),
        n: row.get(13)?,
    })
}

/// `hosts.interval_ms` of a host an operator forgot (`Store::forget`); real intervals are
/// at least 100 ms. The host's next sample rewrites the row, which lists it again.
pub const FORGOTTEN: i64 = 0;

/// Every stored host with its last info and sample. Rows that no longer parse (written by
/// a different build) come back without them rather than failing the start-up. Forgotten
/// hosts ([`FORGOTTEN`]) are not listed.
pub fn hosts(conn: &Connection) -> Result<Vec<StoredHost>, StoreError> {
    let mut stmt = conn
        .prepare(
            "SELECT name, info, latest, interval_ms, last_seen_ms FROM hosts
             WHERE interval_ms IS NOT ?1 ORDER BY name",
        )
        .map_err(|e| StoreError::sql("preparing the host list", e))?;
    let rows = stmt
        .query_map([FORGOTTEN], |row| {
            let info: Option<String> = row.get(1)?;
            let latest: Option<String> = row.get(2)?;
            Ok(StoredHost {
                name: row.get(0)?,
                info: info.and_then(|s| serde_json::from_str(&s).ok()),
                latest: latest.and_then(|s| serde_json::from_str(&s).ok()),
                interval_ms: row.get::<_, Option<i64>>(3)?.map(|v| v as u64),
                last_seen_ms: row.get::<_, Option<i64>>(4)?.map(|v| v as u64),
            })
        })
        .map_err(|e| StoreError::sql("listing hosts", e))?;
    rows.collect::<Result<_, _>>()
        .map_err(|e| StoreError::sql("reading hosts", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_step_aims_at_the_target_and_a_small_step_is_raised() {
        let day = 86_400_000;
        assert_eq!(step_ms(0, day, None), day.div_ceil(TARGET_POINTS));
        assert_eq!(
            step_ms(0, day, Some(60_000)),
            60_000,
            "a fitting step is kept"
        );
        assert_eq!(
            step_ms(0, day, Some(1)),
            min_step_ms(0, day),
            "raised to the cap"
        );
        assert_eq!(step_ms(5, 5, None), 1, "an empty range still has a step");
    }
}
