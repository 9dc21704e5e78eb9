//! Per-minute rollups, kept up to date by the writer.
//!
//! Samples this writer commits are added to an in-memory bucket of their (host, minute);
//! the bucket is written once the minute is finished, so a rollup costs one row write per
//! minute, not one per sample. Minutes that cannot be built from memory (a late sample
//! after the minute was written, or a minute that began before the writer started and
//! may hold older rows) are marked dirty and rebuilt from the raw history instead. Every
//! minute written marks its hour due for the hour rollups ([`super::hours`]) in the same
//! transaction.

use std::collections::{BTreeSet, HashMap};

use rusqlite::{params, Connection, TransactionBehavior};

use super::hours;
use crate::point::{Bucket, Point, MINUTE_MS};
use crate::query::{self, Rollup};
use crate::StoreError;

/// The rollups being built, and the minutes waiting to be rebuilt.
pub struct Rollups {
    /// Rollups being accumulated in memory as samples are written, by (host id, minute).
    /// Boxed: a minute inline is about 250 bytes, and the table has room for twice the
    /// hosts (every host has two open minutes around a minute's end) rounded up to a power
    /// of two, so most of its slots stay empty; boxed, an empty slot costs 24 bytes.
    open: HashMap<(i64, u64), Box<OpenMinute>>,
    /// Per host: the newest minute written, and the newest minute whose rollup was flushed.
    minutes: HashMap<i64, HostMinutes>,
    /// (host id, minute start) whose rollup must be rebuilt from raw rows.
    dirty: BTreeSet<(i64, u64)>,
    /// Minute in which this writer started; earlier minutes may hold rows written before.
    start_minute: u64,
}

/// A minute's rollup built from the samples this writer inserted.
struct OpenMinute {
    bucket: Bucket,
    /// The minute may also hold rows this writer did not insert (it began before the
    /// writer started): its rollup is rebuilt from the table instead.
    rebuild: bool,
}

#[derive(Default)]
struct HostMinutes {
    newest: u64,
    flushed_through: Option<u64>,
}

impl Rollups {
    /// No open minutes; `now_ms` is when the writer starts.
    pub fn new(now_ms: u64) -> Rollups {
        Rollups {
            open: HashMap::new(),
            minutes: HashMap::new(),
            dirty: BTreeSet::new(),
            start_minute: minute_of(now_ms),
        }
    }

    /// Marks for rebuilding the minutes an earlier writer may have left unwritten: those
    /// still open in its memory when it was killed. They end at most two minutes before
    /// the newest rollup it wrote (see [`Rollups::flush`]); their head rows are found here
    /// and rebuilt at the first maintenance pass.
    pub fn recover(&mut self, conn: &Connection) -> Result<(), StoreError> {
        let what = |e| StoreError::sql("finding minutes left open by a stop", e);
        let newest: Option<i64> = conn
            .query_row("SELECT max(minute_ms) FROM rollups", [], |r| r.get(0))
            .map_err(what)?;
        let from = newest.map_or(0, |m| (m as u64).saturating_sub(3 * MINUTE_MS));
        let mut stmt = conn
            .prepare(
                "SELECT DISTINCT host_id, ts_ms - ts_ms % ?2 FROM samples
                 WHERE ts_ms >= ?1 AND ts_ms < ?3",
            )
            .map_err(what)?;
        let minutes = stmt
            .query_map(
                params![from as i64, MINUTE_MS as i64, self.start_minute as i64],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)? as u64)),
            )
            .map_err(what)?;
        for minute in minutes {
            self.dirty.insert(minute.map_err(what)?);
        }
        Ok(())
    }

    /// Adds a committed (new, not duplicate) point of `host_id` to its minute.
    pub fn account(&mut self, host_id: i64, point: &Point) {
        let minute = minute_of(point.ts_ms);
        let minutes = self.minutes.entry(host_id).or_default();
        minutes.newest = minutes.newest.max(minute);
        if minutes.flushed_through.is_some_and(|f| f >= minute) {
            // Late: the minute's rollup is already written; rebuild it from the table.
            self.dirty.insert((host_id, minute));
        } else {
            let start_minute = self.start_minute;
            self.open
                .entry((host_id, minute))
                .or_insert_with(|| {
                    Box::new(OpenMinute {
                        bucket: Bucket::new(minute),
                        rebuild: minute <= start_minute,
                    })
                })
                .bucket
                .add(point);
        }
    }

    /// Writes the rollups of finished minutes from memory (`all`: every open minute). A
    /// minute is finished once its host has sent a sample of a later minute, or two
    /// minutes after it ended (a host that went quiet). Queries read the last minutes
    /// from raw samples, so a minute still open is never missing from history.
    pub fn flush(
        &mut self,
        conn: &mut Connection,
        now_ms: u64,
        all: bool,
    ) -> Result<(), StoreError> {
        let now_minute = minute_of(now_ms);
        let finished: Vec<(i64, u64)> = self
            .open
            .keys()
            .filter(|&&(host_id, minute)| {
                all || self
                    .minutes
                    .get(&host_id)
                    .is_some_and(|m| m.newest > minute)
                    || now_minute >= minute + 2 * MINUTE_MS
            })
            .copied()
            .collect();
        if finished.is_empty() {
            return Ok(());
        }
        let mut rollups = Vec::with_capacity(finished.len());
        for key in &finished {
            let Some(open) = self.open.remove(key) else {
                continue;
            };
            let minutes = self.minutes.entry(key.0).or_default();
            minutes.flushed_through = Some(minutes.flushed_through.map_or(key.1, |f| f.max(key.1)));
            let OpenMinute { bucket, rebuild } = *open;
            match bucket.finish() {
                Some(rollup) if !rebuild => rollups.push((key.0, rollup)),
                _ => {
                    self.dirty.insert(*key);
                }
            }
        }
        let result = (|| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| StoreError::sql("starting the rollup transaction", e))?;
            for (host_id, rollup) in &rollups {
                upsert(&tx, *host_id, rollup)?;
            }
            tx.commit()
                .map_err(|e| StoreError::sql("committing rollups", e))
        })();
        if result.is_err() {
            // The raw rows are committed: rebuild these minutes from them next time.
            self.dirty
                .extend(rollups.iter().map(|(host_id, r)| (*host_id, r.ts_ms)));
        }
        result
    }

    /// Rebuilds the rollups of up to `limit` dirty minutes (oldest host id and minute
    /// first) from the raw history, in one transaction; returns whether dirty minutes are
    /// left for another call.
    ///
    /// Bounded because this runs on the writer's thread, where every sample's commit waits
    /// behind it: edges replaying a backlog after an outage, or a restart (every host's
    /// first minute is rebuilt), make thousands of minutes dirty at once, and rebuilding
    /// 3,000 of them in one go held commits up for 0.4-0.6 s.
    pub fn rebuild(&mut self, conn: &mut Connection, limit: usize) -> Result<bool, StoreError> {
        if self.dirty.is_empty() {
            return Ok(false);
        }
        let dirty: Vec<(i64, u64)> = std::iter::from_fn(|| self.dirty.pop_first())
            .take(limit)
            .collect();
        let result = (|| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| StoreError::sql("starting the rollup transaction", e))?;
            for &(host_id, minute) in &dirty {
                let points = query::raw_points(&tx, host_id, minute, minute + MINUTE_MS - 1)?;
                let mut bucket = Bucket::new(minute);
                for p in &points {
                    bucket.add(p);
                }
                if let Some(r) = bucket.finish() {
                    upsert(&tx, host_id, &r)?;
                }
            }
            tx.commit()
                .map_err(|e| StoreError::sql("committing rollups", e))
        })();
        if result.is_err() {
            // Try again at the next maintenance.
            self.dirty.extend(dirty);
        }
        result.map(|()| !self.dirty.is_empty())
    }

    /// Drops everything kept of a purged host.
    pub fn forget_host(&mut self, host_id: i64) {
        self.open.retain(|(id, _), _| *id != host_id);
        self.minutes.remove(&host_id);
        self.dirty.retain(|(id, _)| *id != host_id);
    }
}

/// Start of the minute holding `ts_ms`.
pub fn minute_of(ts_ms: u64) -> u64 {
    ts_ms - ts_ms % MINUTE_MS
}

/// Writes the minute rollup `r` of `host_id` and marks its hour for the hour rollups job
/// ([`super::hours`]), in the caller's transaction.
fn upsert(conn: &Connection, host_id: i64, r: &Point) -> Result<(), StoreError> {
    Rollup::Minute.upsert(conn, host_id, r)?;
    hours::mark(conn, host_id, r.ts_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::tests::{db, insert_point, point};

    const T0: u64 = 1_700_000_000_000 - 1_700_000_000_000 % 3_600_000;

    fn rollups(conn: &Connection) -> Vec<(u64, u32, f64)> {
        let mut stmt = conn
            .prepare("SELECT minute_ms, n, cpu FROM rollups ORDER BY minute_ms")
            .unwrap();
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        rows.map(Result::unwrap).collect()
    }

    #[test]
    fn a_minute_is_written_once_the_host_moves_on_or_goes_quiet() {
        let mut conn = db();
        let mut r = Rollups::new(T0 - MINUTE_MS);
        r.account(1, &point(T0 + 1_000, 0.2));
        r.account(1, &point(T0 + 2_000, 0.4));
        r.flush(&mut conn, T0 + 3_000, false).unwrap();
        assert!(rollups(&conn).is_empty(), "the minute is still open");
        r.account(1, &point(T0 + MINUTE_MS, 0.9));
        r.flush(&mut conn, T0 + MINUTE_MS, false).unwrap();
        let written = rollups(&conn);
        assert_eq!(written.len(), 1);
        assert_eq!((written[0].0, written[0].1), (T0, 2));
        assert!((written[0].2 - 0.3).abs() < 1e-9);
        // The host goes quiet: two minutes after its last minute ended, it is written.
        r.flush(&mut conn, T0 + 2 * MINUTE_MS, false).unwrap();
        assert_eq!(rollups(&conn).len(), 1);
        r.flush(&mut conn, T0 + 3 * MINUTE_MS, false).unwrap();
        assert_eq!(rollups(&conn).len(), 2);
    }

    #[test]
    fn a_late_sample_rebuilds_its_minute_from_the_raw_rows() {
        let mut conn = db();
        let mut r = Rollups::new(T0 - MINUTE_MS);
        for (seq, ts, cpu) in [(1, T0 + 1_000, 0.2), (2, T0 + MINUTE_MS, 0.4)] {
            insert_point(&conn, seq, &point(ts, cpu));
            r.account(1, &point(ts, cpu));
        }
        r.flush(&mut conn, T0 + MINUTE_MS, false).unwrap();
        assert_eq!(rollups(&conn)[0].1, 1);
        // A replayed sample of the first minute, after its rollup was written.
        insert_point(&conn, 3, &point(T0 + 5_000, 0.6));
        r.account(1, &point(T0 + 5_000, 0.6));
        r.rebuild(&mut conn, usize::MAX).unwrap();
        let first = rollups(&conn)[0];
        assert_eq!(first.1, 2);
        assert!((first.2 - 0.4).abs() < 1e-9);
    }

    #[test]
    fn minutes_begun_before_the_writer_started_are_rebuilt_not_trusted() {
        let mut conn = db();
        // A row written by an earlier writer in the same minute.
        insert_point(&conn, 1, &point(T0 + 1_000, 1.0));
        let mut r = Rollups::new(T0 + 2_000);
        insert_point(&conn, 2, &point(T0 + 3_000, 0.0));
        r.account(1, &point(T0 + 3_000, 0.0));
        r.flush(&mut conn, T0 + 10 * MINUTE_MS, true).unwrap();
        assert!(rollups(&conn).is_empty(), "not from memory");
        r.rebuild(&mut conn, usize::MAX).unwrap();
        let rows = rollups(&conn);
        assert_eq!((rows[0].1, rows[0].2), (2, 0.5));
    }

    #[test]
    fn minutes_a_killed_writer_left_open_are_rebuilt_by_the_next() {
        let mut conn = db();
        let mut killed = Rollups::new(T0);
        for (seq, m) in [(1, 0), (2, 1), (3, 2)] {
            let p = point(T0 + m * MINUTE_MS + 1_000, 0.5);
            insert_point(&conn, seq, &p);
            killed.account(1, &p);
        }
        killed.flush(&mut conn, T0 + 2 * MINUTE_MS, false).unwrap();
        killed.rebuild(&mut conn, usize::MAX).unwrap();
        assert_eq!(rollups(&conn).len(), 2, "minute 2 was open when it died");
        let mut next = Rollups::new(T0 + 10 * MINUTE_MS);
        next.recover(&conn).unwrap();
        next.rebuild(&mut conn, usize::MAX).unwrap();
        let minutes: Vec<u64> = rollups(&conn).iter().map(|r| r.0).collect();
        assert_eq!(minutes, [T0, T0 + MINUTE_MS, T0 + 2 * MINUTE_MS]);
    }

    #[test]
    fn a_bounded_rebuild_takes_the_oldest_minutes_and_leaves_the_rest_for_later() {
        let mut conn = db();
        // Five minutes of rows from before the writer started: all five are dirty.
        let mut r = Rollups::new(T0 + 10 * MINUTE_MS);
        for m in 0..5 {
            let p = point(T0 + m * MINUTE_MS + 1_000, 0.25);
            insert_point(&conn, m as i64 + 1, &p);
            r.account(1, &p);
        }
        r.flush(&mut conn, T0 + 10 * MINUTE_MS, true).unwrap();
        assert!(rollups(&conn).is_empty());
        assert!(r.rebuild(&mut conn, 2).unwrap(), "three left");
        let minutes: Vec<u64> = rollups(&conn).iter().map(|r| r.0).collect();
        assert_eq!(minutes, [T0, T0 + MINUTE_MS], "oldest first");
        assert!(r.rebuild(&mut conn, 2).unwrap(), "one left");
        assert!(!r.rebuild(&mut conn, 2).unwrap(), "none left");
        assert_eq!(rollups(&conn).len(), 5);
        assert!(!r.rebuild(&mut conn, 2).unwrap(), "nothing to do");
    }

    #[test]
    fn forgetting_a_host_drops_its_open_minutes() {
        let mut conn = db();
        let mut r = Rollups::new(T0 - MINUTE_MS);
        r.account(1, &point(T0, 0.5));
        r.forget_host(1);
        r.flush(&mut conn, T0 + 10 * MINUTE_MS, true).unwrap();
        r.rebuild(&mut conn, usize::MAX).unwrap();
        assert!(rollups(&conn).is_empty());
    }
}
