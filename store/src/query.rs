//! Reads: history points for a time range, and the hosts known at start-up.
//!
//! The source follows the step asked for: raw samples for steps under a minute, per-minute
//! rollups for wider steps (the 24 h, 7 d and 30 d views).

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::point::{bucketize, Point, MINUTE_MS};
use crate::{StoreError, StoredHost};

/// Minutes at the end of a rollup query that are read from raw samples instead.
const FRESH_MINUTES: u64 = 3;

/// Points of `host` in `from_ms..=to_ms`, oldest first, bucketed by `step_ms`.
pub fn points(
    conn: &Connection,
    host: &str,
    from_ms: u64,
    to_ms: u64,
    step_ms: u64,
) -> Result<Vec<Point>, StoreError> {
    let host_id: Option<i64> = conn
        .query_row("SELECT id FROM hosts WHERE name = ?1", params![host], |r| {
            r.get(0)
        })
        .optional()
        .map_err(|e| StoreError::sql("looking up a host", e))?;
    let Some(host_id) = host_id else {
        return Ok(Vec::new());
    };
    let points = if step_ms < MINUTE_MS {
        raw_points(conn, host_id, from_ms, to_ms)?
    } else {
        minutes(conn, host_id, from_ms, to_ms)?
    };
    // Raw steps at or below the sampling interval return samples as they are.
    let finest = points
        .windows(2)
        .map(|w| w[1].ts_ms.saturating_sub(w[0].ts_ms))
        .filter(|&d| d > 0)
        .min()
        .unwrap_or(u64::MAX);
    if step_ms <= finest {
        return Ok(points);
    }
    Ok(bucketize(points, step_ms))
}

/// Per-minute points: rollups, except for the last few minutes of the range, which are
/// built from raw samples because their rollups may not have caught up yet (they are
/// rebuilt at each maintenance pass).
fn minutes(
    conn: &Connection,
    host_id: i64,
    from_ms: u64,
    to_ms: u64,
) -> Result<Vec<Point>, StoreError> {
    let mut points = rollup_points(conn, host_id, from_ms, to_ms)?;
    let fresh_from = from_ms.max(to_ms.saturating_sub(FRESH_MINUTES * MINUTE_MS));
    let fresh_from = fresh_from - fresh_from % MINUTE_MS;
    let fresh = bucketize(raw_points(conn, host_id, fresh_from, to_ms)?, MINUTE_MS);
    if !fresh.is_empty() {
        points.retain(|p| !fresh.iter().any(|f| f.ts_ms == p.ts_ms));
        points.extend(fresh);
        points.sort_by_key(|p| p.ts_ms);
    }
    Ok(points)
}

/// Raw samples of one host between two instants, oldest first.
pub fn raw_points(
    conn: &Connection,
    host_id: i64,
    from_ms: u64,
    to_ms: u64,
) -> Result<Vec<Point>, StoreError> {
    select_points(
        conn,
        "samples",
        "SELECT ts_ms, cpu, cpu, cpu, cores, mem_used, mem_total, swap_used, swap_total,
         load1, load5, load15, networks, 1
         FROM samples WHERE host_id = ?1 AND ts_ms BETWEEN ?2 AND ?3 ORDER BY ts_ms",
        (host_id, from_ms, to_ms),
    )
}

/// Per-minute rollups of one host between two instants, oldest first.
fn rollup_points(
    conn: &Connection,
    host_id: i64,
    from_ms: u64,
    to_ms: u64,
) -> Result<Vec<Point>, StoreError> {
    select_points(
        conn,
        "rollups",
        "SELECT minute_ms, cpu, cpu_min, cpu_max, cores, mem_used, mem_total, swap_used,
         swap_total, load1, load5, load15, networks, n
         FROM rollups WHERE host_id = ?1 AND minute_ms BETWEEN ?2 AND ?3 ORDER BY minute_ms",
        (host_id, from_ms - from_ms % MINUTE_MS, to_ms),
    )
}

/// Runs a point query (columns in [`point_from_row`] order) for `(host, from, to)`.
fn select_points(
    conn: &Connection,
    table: &str,
    sql: &str,
    (host_id, from_ms, to_ms): (i64, u64, u64),
) -> Result<Vec<Point>, StoreError> {
    let mut stmt = conn
        .prepare_cached(sql)
        .map_err(|e| StoreError::sql(format!("preparing the {table} query"), e))?;
    let rows = stmt
        .query_map(
            params![host_id, from_ms as i64, to_ms as i64],
            point_from_row,
        )
        .map_err(|e| StoreError::sql(format!("querying {table}"), e))?;
    rows.collect::<Result<_, _>>()
        .map_err(|e| StoreError::sql(format!("reading {table}"), e))
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

/// Every stored host with its last info and sample. Rows that no longer parse (written by
/// a different build) come back without them rather than failing the start-up.
pub fn hosts(conn: &Connection) -> Result<Vec<StoredHost>, StoreError> {
    let mut stmt = conn
        .prepare("SELECT name, info, latest, interval_ms, last_seen_ms FROM hosts ORDER BY name")
        .map_err(|e| StoreError::sql("preparing the host list", e))?;
    let rows = stmt
        .query_map([], |row| {
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
