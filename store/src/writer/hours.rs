//! Per-hour rollups, built by the writer from the minute rollups once an hour closes.
//!
//! Every minute rollup the writer writes marks its (host, hour) in `hour_rollups_due`, in
//! the same transaction ([`mark`]). Once the hour has closed ([`CLOSE_MS`] after it began:
//! its last minute is written by then, even for a host that went quiet), [`build`] folds
//! its minute rollups (weighted by their sample counts; CPU min and max over the minutes)
//! into one `hour_rollups` row and clears the mark, in one transaction. A late sample
//! rewrites its minute, which marks the hour again, and the next pass rebuilds it. The
//! marks live in the database, so a restart (or a kill -9) mid-hour loses none, and
//! queries read a marked hour by minute until it is rebuilt. An hour whose minutes have
//! begun to expire (older than the minute retention) is never rebuilt: its rollup already
//! holds every minute and outlives them.

use rusqlite::{params, Connection, TransactionBehavior};

use crate::point::{Bucket, HOUR_MS, MINUTE_MS};
use crate::query::Rollup;
use crate::StoreError;

/// How long after an hour begins it is closed: its last minute is written two minutes
/// after that minute ended at the latest ([`super::rollups::Rollups::flush`]).
pub const CLOSE_MS: u64 = HOUR_MS + 2 * MINUTE_MS;

/// Most hours one maintenance pass builds (about 60 minute rows each), so a fleet whose
/// hours all close at once is worked off in short passes between commits.
pub const HOURS_PER_PASS: usize = 100;

/// Marks the hour holding `ts_ms` of `host_id` for (re)building; part of the transaction
/// that writes one of its minutes.
pub fn mark(conn: &Connection, host_id: i64, ts_ms: u64) -> Result<(), StoreError> {
    conn.prepare_cached("INSERT OR IGNORE INTO hour_rollups_due (host_id, hour_ms) VALUES (?1, ?2)")
        .and_then(|mut stmt| stmt.execute(params![host_id, (ts_ms - ts_ms % HOUR_MS) as i64]))
        .map(drop)
        .map_err(|e| StoreError::sql("marking an hour rollup due", e))
}

/// Builds the rollups of at most `limit` marked hours closed by `now_ms`, oldest first,
/// in the caller's transaction; returns whether more are due. Marks of hours starting
/// before `minutes_kept_from` (the minute retention cut-off) are dropped unbuilt.
pub fn build(
    conn: &Connection,
    now_ms: u64,
    minutes_kept_from: u64,
    limit: usize,
) -> Result<bool, StoreError> {
    let what = |e| StoreError::sql("building hour rollups", e);
    let closed_before = now_ms.saturating_sub(CLOSE_MS);
    let due: Vec<(i64, u64)> = conn
        .prepare_cached(
            "SELECT host_id, hour_ms FROM hour_rollups_due WHERE hour_ms <= ?1
             ORDER BY hour_ms LIMIT ?2",
        )
        .and_then(|mut stmt| {
            stmt.query_map(
                params![
                    i64::try_from(closed_before).unwrap_or(i64::MAX),
                    i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX)
                ],
                |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)),
            )?
            .collect()
        })
        .map_err(what)?;
    for &(host_id, hour) in due.iter().take(limit) {
        if hour >= minutes_kept_from {
            let mut bucket = Bucket::new(hour);
            Rollup::Minute
                .each_point(conn, host_id, hour, hour + HOUR_MS - 1, |p| bucket.add(&p))?;
            if let Some(rollup) = bucket.finish() {
                Rollup::Hour.upsert(conn, host_id, &rollup)?;
            }
        }
        conn.prepare_cached("DELETE FROM hour_rollups_due WHERE host_id = ?1 AND hour_ms = ?2")
            .and_then(|mut stmt| stmt.execute(params![host_id, hour as i64]))
            .map_err(what)?;
    }
    Ok(due.len() > limit)
}

/// One maintenance pass of [`build`] ([`HOURS_PER_PASS`] hours) in its own transaction.
pub fn pass(
    conn: &mut Connection,
    now_ms: u64,
    minutes_kept_from: u64,
) -> Result<bool, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| StoreError::sql("starting the hour rollup transaction", e))?;
    let more = build(&tx, now_ms, minutes_kept_from, HOURS_PER_PASS)?;
    tx.commit()
        .map_err(|e| StoreError::sql("committing hour rollups", e))?;
    Ok(more)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::rollups::Rollups;
    use crate::writer::tests::{count, db, insert_point, point};

    const T0: u64 = 1_700_000_000_000 - 1_700_000_000_000 % HOUR_MS;

    /// (hour, n, cpu, cpu_min, cpu_max) of every hour rollup.
    fn hours(conn: &Connection) -> Vec<(u64, u32, f64, f64, f64)> {
        let mut stmt = conn
            .prepare("SELECT hour_ms, n, cpu, cpu_min, cpu_max FROM hour_rollups ORDER BY hour_ms")
            .unwrap();
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)? as u64,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                ))
            })
            .unwrap();
        rows.map(Result::unwrap).collect()
    }

    /// Writes one minute rollup of host 1 as the rollups job does (marking its hour).
    fn minute(conn: &Connection, ts_ms: u64, n: u32, cpu: f64) {
        let mut p = point(ts_ms, cpu);
        p.n = n;
        Rollup::Minute.upsert(conn, 1, &p).unwrap();
        mark(conn, 1, ts_ms).unwrap();
    }

    #[test]
    fn an_hour_is_built_once_it_closes_and_minutes_fall_into_their_own_hour() {
        let mut conn = db();
        minute(&conn, T0 + 58 * MINUTE_MS, 1, 0.2);
        minute(&conn, T0 + 59 * MINUTE_MS, 3, 0.6);
        minute(&conn, T0 + HOUR_MS, 2, 1.0);
        assert!(!pass(&mut conn, T0 + CLOSE_MS - 1, 0).unwrap());
        assert!(hours(&conn).is_empty(), "not closed yet");
        pass(&mut conn, T0 + CLOSE_MS, 0).unwrap();
        let built = hours(&conn);
        assert_eq!(built.len(), 1, "the next hour is still open");
        let (hour, n, cpu, min, max) = built[0];
        assert_eq!((hour, n, min, max), (T0, 4, 0.2, 0.6));
        assert!((cpu - 0.5).abs() < 1e-9, "weighted by sample count: {cpu}");
        assert_eq!(count(&conn, "hour_rollups_due"), 1);
        pass(&mut conn, T0 + HOUR_MS + CLOSE_MS, 0).unwrap();
        assert_eq!(hours(&conn)[1].0, T0 + HOUR_MS);
        assert_eq!(count(&conn, "hour_rollups_due"), 0);
    }

    #[test]
    fn a_late_minute_in_a_closed_hour_rebuilds_it() {
        let mut conn = db();
        minute(&conn, T0, 2, 0.5);
        pass(&mut conn, T0 + CLOSE_MS, 0).unwrap();
        assert_eq!(hours(&conn)[0].1, 2);
        // A replay after a partition: the rollups job rewrites minute 30 of the hour.
        minute(&conn, T0 + 30 * MINUTE_MS, 2, 1.0);
        assert_eq!(hours(&conn)[0].1, 2, "stale until the next pass");
        pass(&mut conn, T0 + 5 * HOUR_MS, 0).unwrap();
        let (_, n, cpu, _, max) = hours(&conn)[0];
        assert_eq!((n, max), (4, 1.0));
        assert!((cpu - 0.75).abs() < 1e-9);
    }

    #[test]
    fn a_restart_mid_hour_loses_no_minute_of_the_hour() {
        let mut conn = db();
        // The first writer: raw rows and minute rollups of the first half hour.
        let mut first = Rollups::new(T0);
        for m in 0..30u64 {
            let p = point(T0 + m * MINUTE_MS, 0.2);
            insert_point(&conn, m as i64, &p);
            first.account(1, &p);
        }
        first.flush(&mut conn, T0 + 30 * MINUTE_MS, false).unwrap();
        first.rebuild(&mut conn, usize::MAX).unwrap();
        drop(first); // Killed: minute 29 was still open in memory.
                     // The next writer starts mid-hour and takes the second half.
        let start = T0 + 30 * MINUTE_MS + 5_000;
        let mut second = Rollups::new(start);
        second.recover(&conn).unwrap();
        for m in 30..60u64 {
            let p = point(T0 + m * MINUTE_MS + 10_000, 0.8);
            insert_point(&conn, 100 + m as i64, &p);
            second.account(1, &p);
        }
        let now = T0 + CLOSE_MS;
        second.flush(&mut conn, now, false).unwrap();
        second.rebuild(&mut conn, usize::MAX).unwrap();
        pass(&mut conn, now, 0).unwrap();
        let (hour, n, cpu, min, max) = hours(&conn)[0];
        assert_eq!((hour, n, min, max), (T0, 60, 0.2, 0.8));
        assert!((cpu - 0.5).abs() < 1e-9);
    }

    #[test]
    fn a_pass_builds_a_bounded_number_of_hours() {
        let conn = db();
        for h in 0..5 {
            minute(&conn, T0 + h * HOUR_MS, 1, 0.5);
        }
        let now = T0 + 10 * HOUR_MS;
        assert!(build(&conn, now, 0, 2).unwrap(), "more due");
        assert_eq!(hours(&conn).len(), 2);
        assert!(build(&conn, now, 0, 2).unwrap());
        assert!(!build(&conn, now, 0, 2).unwrap());
        assert_eq!(hours(&conn).len(), 5);
    }

    #[test]
    fn hours_whose_minutes_began_to_expire_keep_their_rollup() {
        let mut conn = db();
        for m in [0, 59] {
            minute(&conn, T0 + m * MINUTE_MS, 1, 0.5);
        }
        pass(&mut conn, T0 + CLOSE_MS, 0).unwrap();
        // Minute retention deleted minute 0; then minute 59 is rewritten (marking the hour).
        conn.execute("DELETE FROM rollups WHERE minute_ms = ?1", [T0 as i64])
            .unwrap();
        minute(&conn, T0 + 59 * MINUTE_MS, 1, 0.5);
        pass(&mut conn, T0 + 30 * HOUR_MS, T0 + MINUTE_MS).unwrap();
        assert_eq!(hours(&conn)[0].1, 2, "not rebuilt from what is left");
        assert_eq!(count(&conn, "hour_rollups_due"), 0);
    }
}
