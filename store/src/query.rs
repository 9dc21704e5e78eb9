//! Reads: history points for a time range, and the hosts known at start-up.
//!
//! The planner reads the coarsest resolution that still gives a point per step: per-hour
//! rollups for steps of an hour or more (the 30 d view: 720 rows instead of 43,200),
//! per-minute rollups for steps of a minute or more (the 24 h and 7 d views), and raw
//! samples (the head and the compacted chunks, merged by time) for finer steps. Hours
//! that are not whole inside the range, not closed yet or waiting to be rebuilt, and the
//! last minutes, are read at the next finer resolution, so every answer has the shape a
//! finer read would give.

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::chunks::{self, bound};
use crate::point::{bucketize, Bucketizer, NetRate, Point, HOUR_MS, MINUTE_MS};
use crate::{codec, derived, StoreError, StoredHost};

/// Minutes at the end of a rollup query that are read from raw samples instead.
const FRESH_MINUTES: u64 = 3;

/// Most points one history query returns: a wider range gets a wider step.
///
/// Rows are folded into buckets as they are read, so a query costs memory for at most
/// this many points whatever the range (48 h of raw samples are 172,800 rows).
pub const MAX_POINTS: u64 = 2_000;

/// Buckets a query gets when it names no step: enough for a chart as wide as a screen.
pub const TARGET_POINTS: u64 = 600;

/// A rollup table: per-minute or per-hour aggregates, the same columns in each (sample
/// count `n`, averages of every field, CPU min and max).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rollup {
    /// `rollups`, keyed by `minute_ms`; built from raw samples.
    Minute,
    /// `hour_rollups`, keyed by `hour_ms`; built from the minute rollups of the hour.
    Hour,
}

impl Rollup {
    /// Width of one rollup, ms.
    pub fn width_ms(self) -> u64 {
        match self {
            Rollup::Minute => MINUTE_MS,
            Rollup::Hour => HOUR_MS,
        }
    }

    fn select_sql(self) -> &'static str {
        match self {
            Rollup::Minute => {
                "SELECT minute_ms, cpu, cpu_min, cpu_max, cores, mem_used, mem_total, swap_used,
                 swap_total, load1, load5, load15, networks, n
                 FROM rollups WHERE host_id = ?1 AND minute_ms BETWEEN ?2 AND ?3
                 ORDER BY minute_ms"
            }
            Rollup::Hour => {
                "SELECT hour_ms, cpu, cpu_min, cpu_max, cores, mem_used, mem_total, swap_used,
                 swap_total, load1, load5, load15, networks, n
                 FROM hour_rollups WHERE host_id = ?1 AND hour_ms BETWEEN ?2 AND ?3
                 ORDER BY hour_ms"
            }
        }
    }

    /// The statement that writes one rollup (parameters in [`Rollup::upsert`] order).
    fn upsert_sql(self) -> &'static str {
        match self {
            Rollup::Minute => {
                "INSERT OR REPLACE INTO rollups (host_id, minute_ms, n, cpu, cpu_min, cpu_max,
                 cores, mem_used, mem_total, swap_used, swap_total, load1, load5, load15,
                 networks) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
            }
            Rollup::Hour => {
                "INSERT OR REPLACE INTO hour_rollups (host_id, hour_ms, n, cpu, cpu_min, cpu_max,
                 cores, mem_used, mem_total, swap_used, swap_total, load1, load5, load15,
                 networks) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
            }
        }
    }

    /// Writes (or replaces) the rollup `r` of `host_id`; `r.ts_ms` is its start.
    ///
    /// A minute rollup keeps its averages of per-core usage and network rates to the
    /// chunks' precision ([`codec::as_stored`]: 1e-4 and 1e-2 bytes/s) and of byte counts
    /// to whole bytes: they are stored as JSON text and doubles, and seventeen digits of an
    /// average of sixty samples were a fifth of the history's bytes per value in the
    /// steady state. Hour rollups, sixty times fewer, are folded from the minutes and kept
    /// as folded, so an hour answers exactly as its minutes do.
    pub(crate) fn upsert(
        self,
        conn: &Connection,
        host_id: i64,
        r: &Point,
    ) -> Result<(), StoreError> {
        let rounded;
        let r = match self {
            Rollup::Minute => {
                rounded = rounded_minute(r);
                &rounded
            }
            Rollup::Hour => r,
        };
        conn.prepare_cached(self.upsert_sql())
            .and_then(|mut stmt| {
                stmt.execute(params![
                    host_id,
                    r.ts_ms as i64,
                    r.n,
                    r.cpu_ratio,
                    r.cpu_ratio_min,
                    r.cpu_ratio_max,
                    serde_json::to_string(&r.cores).unwrap_or_else(|_| "[]".into()),
                    r.mem_used_bytes,
                    r.mem_total_bytes,
                    r.swap_used_bytes,
                    r.swap_total_bytes,
                    r.load1,
                    r.load5,
                    r.load15,
                    serde_json::to_string(&r.networks).unwrap_or_else(|_| "[]".into()),
                ])
            })
            .map(|_| ())
            .map_err(|e| StoreError::sql("writing a rollup", e))
    }

    /// Calls `each` with every rollup of one host starting between two instants, oldest
    /// first (`from_ms` is taken back to the start of its rollup).
    pub(crate) fn each_point(
        self,
        conn: &Connection,
        host_id: i64,
        from_ms: u64,
        to_ms: u64,
        each: impl FnMut(Point),
    ) -> Result<(), StoreError> {
        select_points(
            conn,
            self.table(),
            self.select_sql(),
            (host_id, from_ms - from_ms % self.width_ms(), to_ms),
            each,
        )
    }

    fn table(self) -> &'static str {
        match self {
            Rollup::Minute => "rollups",
            Rollup::Hour => "hour rollups",
        }
    }
}

/// A minute rollup as stored (see [`Rollup::upsert`]).
fn rounded_minute(r: &Point) -> Point {
    Point {
        cores: r
            .cores
            .iter()
            .map(|&c| codec::as_stored("sample.cpu.cores.0", c))
            .collect(),
        mem_used_bytes: r.mem_used_bytes.round(),
        mem_total_bytes: r.mem_total_bytes.round(),
        swap_used_bytes: r.swap_used_bytes.round(),
        swap_total_bytes: r.swap_total_bytes.round(),
        networks: r
            .networks
            .iter()
            .map(|n| NetRate {
                device: n.device.clone(),
                rx_bytes_per_second: codec::as_stored(derived::RX_RATE, n.rx_bytes_per_second),
                tx_bytes_per_second: codec::as_stored(derived::TX_RATE, n.tx_bytes_per_second),
            })
            .collect(),
        ..r.clone()
    }
}

/// The step of a query over `from_ms..=to_ms`: the one `requested`, or the one giving
/// about [`TARGET_POINTS`] buckets, raised to [`min_step_ms`]. The one place that decides
/// how a history is bucketed; the API and the dashboard take what it gives.
///
/// A step it chooses is rounded down to whole hours (or minutes) once it spans one, so
/// each bucket holds whole rollups: between [`TARGET_POINTS`] and twice as many buckets.
pub fn step_ms(from_ms: u64, to_ms: u64, requested: Option<u64>) -> u64 {
    let min = min_step_ms(from_ms, to_ms);
    match requested {
        Some(step) => step.max(min),
        None => aligned(to_ms.saturating_sub(from_ms).div_ceil(TARGET_POINTS)).max(min),
    }
}

/// `step` rounded down to a whole number of the widest rollup it spans.
fn aligned(step: u64) -> u64 {
    [Rollup::Hour, Rollup::Minute]
        .into_iter()
        .map(Rollup::width_ms)
        .find(|&width| step >= width)
        .map_or(step, |width| step - step % width)
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

/// Where a query's points come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Raw samples: chunks and head.
    Raw,
    /// Per-minute rollups (the last minutes from raw samples).
    Minutes,
    /// Per-hour rollups (partial, open and due hours from minutes).
    Hours,
}

/// The planner: the coarsest source that still gives at least one row per bucket of
/// `step_ms` (the step after [`min_step_ms`]). A `requested` step under a minute reads raw
/// samples even when the cap raised it: the caller asked for sample-level detail.
pub fn source(requested_ms: u64, step_ms: u64) -> Source {
    if requested_ms < MINUTE_MS {
        Source::Raw
    } else if step_ms >= HOUR_MS {
        Source::Hours
    } else {
        Source::Minutes
    }
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
    let step = step_ms.max(min_step_ms(from_ms, to_ms));
    let mut buckets = Bucketizer::new(step);
    let mut push = |p: Point| buckets.push(&p);
    match source(step_ms, step) {
        Source::Raw => each_raw_point(&snapshot, host_id, from_ms, to_ms, push)?,
        Source::Minutes => minutes(&snapshot, host_id, from_ms, to_ms, &mut push)?,
        Source::Hours => hours(&snapshot, host_id, from_ms, to_ms, &mut push)?,
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

/// Per-hour points, oldest first: hour rollups for the whole, closed hours of the range
/// that are not waiting to be rebuilt (`hour_rollups_due`), per-minute points for the
/// rest (the partial hour at each end, the open hour, hours whose minutes changed since
/// their rollup was written), so the answer is what minutes alone would give, bucketed.
fn hours(
    conn: &Connection,
    host_id: i64,
    from_ms: u64,
    to_ms: u64,
    each: &mut impl FnMut(Point),
) -> Result<(), StoreError> {
    let first_whole = from_ms.div_ceil(HOUR_MS) * HOUR_MS;
    // Hours ending before the fresh minutes (read raw by `minutes`) and before `to_ms`.
    let fresh_from = to_ms.saturating_sub(FRESH_MINUTES * MINUTE_MS);
    let end = (to_ms.saturating_add(1)).min(fresh_from);
    let end = end - end % HOUR_MS;
    if first_whole >= end {
        return minutes(conn, host_id, from_ms, to_ms, each);
    }
    if from_ms < first_whole {
        Rollup::Minute.each_point(conn, host_id, from_ms, first_whole - 1, &mut *each)?;
    }
    // Hours in the span read by minute instead; a handful at most (usually none).
    let mut stmt = conn
        .prepare_cached(
            "SELECT hour_ms FROM hour_rollups_due
             WHERE host_id = ?1 AND hour_ms >= ?2 AND hour_ms < ?3 ORDER BY hour_ms",
        )
        .map_err(|e| StoreError::sql("preparing the due hours query", e))?;
    let due: Vec<u64> = stmt
        .query_map(params![host_id, bound(first_whole), bound(end)], |r| {
            r.get::<_, i64>(0).map(|v| v as u64)
        })
        .and_then(|rows| rows.collect())
        .map_err(|e| StoreError::sql("reading the due hours", e))?;
    let mut at = first_whole;
    for hour in due.into_iter().chain([end]) {
        if hour > at {
            Rollup::Hour.each_point(conn, host_id, at, hour - 1, &mut *each)?;
        }
        if hour < end {
            Rollup::Minute.each_point(conn, host_id, hour, hour + HOUR_MS - 1, &mut *each)?;
        }
        at = hour + HOUR_MS;
    }
    minutes(conn, host_id, end, to_ms, each)
}

/// Per-minute points, oldest first: rollups, except for the last few minutes of the range,
/// which are built from raw samples because their rollups may not have caught up yet (they
/// are rebuilt at each maintenance pass).
fn minutes(
    conn: &Connection,
    host_id: i64,
    from_ms: u64,
    to_ms: u64,
    each: &mut impl FnMut(Point),
) -> Result<(), StoreError> {
    let fresh_from = from_ms.max(to_ms.saturating_sub(FRESH_MINUTES * MINUTE_MS));
    let fresh_from = fresh_from - fresh_from % MINUTE_MS;
    if fresh_from > from_ms {
        Rollup::Minute.each_point(conn, host_id, from_ms, fresh_from - 1, &mut *each)?;
    }
    // The tail is a few minutes: small enough to merge in memory.
    let mut tail = Vec::new();
    Rollup::Minute.each_point(conn, host_id, fresh_from.max(from_ms), to_ms, |p| {
        tail.push(p)
    })?;
    let fresh = bucketize(raw_points(conn, host_id, fresh_from, to_ms)?, MINUTE_MS);
    tail.retain(|p| !fresh.iter().any(|f| f.ts_ms == p.ts_ms));
    tail.extend(fresh);
    tail.sort_by_key(|p| p.ts_ms);
    tail.into_iter().for_each(each);
    Ok(())
}

/// The head rows of host `?1` from `?2` to `?3` ms as point columns, then run and seq (the
/// rest of a [`chunks::Key`]), oldest first.
fn raw_sql() -> String {
    crate::head::rows_of_host(
        "ts_ms, cpu, cpu, cpu, cores, mem_used, mem_total, swap_used,
         swap_total, load1, load5, load15, networks, 1, run, seq",
        "",
    )
}

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
        .prepare_cached(&raw_sql())
        .map_err(|e| StoreError::sql("preparing the samples query", e))?;
    let head = stmt
        .query_map(params![host_id, bound(from_ms), bound(to_ms)], |r| {
            let p = point_from_row(r)?;
            Ok(((p.ts_ms, r.get(14)?, r.get::<_, i64>(15)? as u64), p))
        })
        .map_err(|e| StoreError::sql("querying samples", e))?
        .map(|r| r.map_err(|e| StoreError::sql("reading samples", e)));
    chunks::merge(
        conn,
        host_id,
        (from_ms, to_ms),
        head,
        |(key, _): &(chunks::Key, Point)| *key,
        chunks::chunk_points,
        &mut |(_, p)| each(p),
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
    use crate::writer::hours;
    use crate::writer::tests::{db, point};

    const DAY: u64 = 86_400_000;
    const T0: u64 = 1_700_000_000_000 - 1_700_000_000_000 % HOUR_MS;

    #[test]
    fn minute_rollups_are_kept_to_the_chunks_precision_and_hours_as_folded() {
        let conn = db();
        let mut p = point(T0, 0.123_456_789);
        p.cores = vec![0.123_456_789, 0.5];
        p.mem_used_bytes = 1_000.6;
        p.networks = vec![NetRate {
            device: "eth0".into(),
            rx_bytes_per_second: 1.234_567,
            tx_bytes_per_second: 2.0,
        }];
        for rollup in [Rollup::Minute, Rollup::Hour] {
            rollup.upsert(&conn, 1, &p).unwrap();
            let mut read = Vec::new();
            rollup
                .each_point(&conn, 1, T0, T0, |p| read.push(p))
                .unwrap();
            let r = &read[0];
            let rounded = rollup == Rollup::Minute;
            assert_eq!(r.cpu_ratio, 0.123_456_789, "{rollup:?}: doubles stay whole");
            assert_eq!(r.cores[0], if rounded { 0.1235 } else { 0.123_456_789 });
            assert_eq!(r.mem_used_bytes, if rounded { 1_001.0 } else { 1_000.6 });
            let rx = r.networks[0].rx_bytes_per_second;
            assert_eq!(rx, if rounded { 1.23 } else { 1.234_567 });
        }
    }

    #[test]
    fn the_default_step_aims_at_the_target_in_whole_rollups_and_a_small_step_is_raised() {
        assert_eq!(
            step_ms(0, 600_000, None),
            1_000,
            "under a minute: as computed"
        );
        assert_eq!(step_ms(0, DAY, None), 120_000, "144 s: whole minutes");
        assert_eq!(step_ms(0, 7 * DAY, None), 960_000);
        assert_eq!(step_ms(0, 30 * DAY, None), HOUR_MS, "72 min: whole hours");
        for days in [1, 7, 30, 400] {
            let points = days * DAY / step_ms(0, days * DAY, None);
            assert!(
                (TARGET_POINTS..=2 * TARGET_POINTS).contains(&points),
                "{points}"
            );
        }
        assert_eq!(
            step_ms(0, DAY, Some(90_000)),
            90_000,
            "a fitting step is kept"
        );
        assert_eq!(
            step_ms(0, DAY, Some(1)),
            min_step_ms(0, DAY),
            "raised to the cap"
        );
        assert_eq!(step_ms(5, 5, None), 1, "an empty range still has a step");
    }

    #[test]
    fn the_planner_reads_the_coarsest_source_that_fills_each_step() {
        assert_eq!(source(1_000, 1_000), Source::Raw);
        assert_eq!(source(59_999, 59_999), Source::Raw);
        assert_eq!(
            source(1, 2 * HOUR_MS),
            Source::Raw,
            "sample detail was asked for"
        );
        assert_eq!(source(MINUTE_MS, MINUTE_MS), Source::Minutes);
        assert_eq!(source(HOUR_MS - 1, HOUR_MS - 1), Source::Minutes);
        assert_eq!(source(HOUR_MS, HOUR_MS), Source::Hours);
        assert_eq!(
            source(MINUTE_MS, 2 * HOUR_MS),
            Source::Hours,
            "raised by the cap"
        );
    }

    /// Writes a minute rollup of host 1 the way the rollups job does.
    fn minute(conn: &Connection, ts_ms: u64, n: u32, cpu: f64) {
        let mut p = point(ts_ms, cpu);
        p.n = n;
        p.cores = vec![cpu, 1.0 - cpu];
        p.mem_used_bytes = 1e9 * cpu;
        Rollup::Minute.upsert(conn, 1, &p).unwrap();
        hours::mark(conn, 1, ts_ms).unwrap();
    }

    /// The answer built from minute rollups alone, bucketed by `step`.
    fn by_minutes(conn: &Connection, from: u64, to: u64, step: u64) -> Vec<Point> {
        let mut buckets = Bucketizer::new(step);
        minutes(conn, 1, from, to, &mut |p| buckets.push(&p)).unwrap();
        buckets.finish(true)
    }

    fn assert_same(got: &[Point], want: &[Point]) {
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            assert_eq!((g.ts_ms, g.n), (w.ts_ms, w.n));
            assert_eq!(
                (g.cpu_ratio_min, g.cpu_ratio_max),
                (w.cpu_ratio_min, w.cpu_ratio_max)
            );
            for (a, b) in [
                (g.cpu_ratio, w.cpu_ratio),
                (g.mem_used_bytes, w.mem_used_bytes),
                (g.cores[1], w.cores[1]),
            ] {
                assert!(
                    (a - b).abs() <= 1e-9 * b.abs().max(1.0),
                    "{a} vs {b} at {}",
                    g.ts_ms
                );
            }
        }
    }

    #[test]
    fn hour_rollups_give_the_answer_minutes_would() {
        let conn = db();
        conn.execute("INSERT INTO hosts (id, name) VALUES (1, 'h')", [])
            .unwrap();
        for m in 0..(6 * 60) {
            let cpu = ((m * 7) % 100) as f64 / 100.0;
            minute(&conn, T0 + m * MINUTE_MS, 1 + (m % 3) as u32, cpu);
        }
        hours::build(&conn, T0 + 6 * HOUR_MS + hours::CLOSE_MS, 0, usize::MAX).unwrap();
        // Partial hours at both ends, and a step of two hours.
        let (from, to) = (T0 + 20 * MINUTE_MS, T0 + 5 * HOUR_MS + 10 * MINUTE_MS);
        for step in [HOUR_MS, 2 * HOUR_MS] {
            let got = points(&conn, "h", from, to, step).unwrap();
            assert_same(&got, &by_minutes(&conn, from, to, step));
        }
        assert_eq!(points(&conn, "h", from, to, HOUR_MS).unwrap().len(), 6);
        // A late minute rewrites hour 2: until the hour is rebuilt, it is read by minute.
        minute(&conn, T0 + 2 * HOUR_MS + 30 * MINUTE_MS, 50, 1.0);
        let got = points(&conn, "h", from, to, HOUR_MS).unwrap();
        assert_same(&got, &by_minutes(&conn, from, to, HOUR_MS));
        assert_eq!(got[2].cpu_ratio_max, 1.0);
        // An hour rollup is read for the hour, not its minutes.
        conn.execute(
            "UPDATE hour_rollups SET cpu_max = 7 WHERE hour_ms = ?1",
            [(T0 + HOUR_MS) as i64],
        )
        .unwrap();
        assert_eq!(
            points(&conn, "h", from, to, HOUR_MS).unwrap()[1].cpu_ratio_max,
            7.0
        );
    }
}
