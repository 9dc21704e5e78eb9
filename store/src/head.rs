//! How one host's rows are found in the head (`samples`): through its per-second index.
//!
//! The head's unique index is `(ts_ms / 1000, host_id, ts_ms, run, seq)` (schema 9): time
//! first, by the second, then host. Every sample of one second lands in one small region
//! of that index (about 40 bytes a host: 10 pages at 1,000 hosts), so a commit rewrites a
//! few pages for all its samples. The per-host index it replaced, `(host_id, ts_ms, ...)`,
//! put each sample on its own host's newest leaf: one 4 KiB page written to the WAL (and
//! checkpointed again) per sample, and one page per host held hot in the page cache.
//!
//! The price is on reads: one host's rows of a range are one index seek per second of it.
//! The range is first clamped to the head's oldest and newest rows (two seeks in
//! `samples_by_time`), so an open-ended range costs what the head holds, not what the
//! caller asked: normally the last ten to twenty minutes, 600 to 1,200 seeks (about a
//! millisecond). A head that remote write holds back for a day costs 86,400 seeks per
//! read of it, about a tenth of a second.
//!
//! The statements take the host as `?1` and an inclusive range in ms as `?2` and `?3`.

/// The `WITH` clause naming `second(sec)`: every second from `?2` to `?3` that the head spans.
/// An empty head spans nothing (its bounds are NULL and so is the first second).
/// Uncorrelated, the two bounds are computed once per statement.
const SECONDS: &str = "WITH RECURSIVE second(sec) AS (
    SELECT max(?2, (SELECT min(ts_ms) FROM samples)) / 1000
    UNION ALL SELECT sec + 1 FROM second
    WHERE sec < min(?3, (SELECT max(ts_ms) FROM samples)) / 1000)";

/// The rows of host `?1` from `?2` to `?3` ms, oldest first; `s` names the head row, and
/// `more` is added to the conditions (`AND ...`, or empty).
///
/// `CROSS JOIN` keeps the seconds as the outer loop (SQLite does not reorder it), so each
/// second is one seek on the index's `(ts_ms / 1000, host_id)` prefix, and the rows come
/// out in that order: seconds ascending, each second's rows in index order (time, run,
/// seq). There is no `ORDER BY`: SQLite cannot tell the seconds come out sorted and would
/// sort every row again in a temporary b-tree. The plan is pinned by a test.
pub fn rows_of_host(columns: &str, more: &str) -> String {
    format!(
        "{SECONDS}
         SELECT {columns} FROM second CROSS JOIN samples s
         WHERE s.ts_ms / 1000 = second.sec AND s.host_id = ?1 AND s.ts_ms BETWEEN ?2 AND ?3 {more}"
    )
}

/// The row ids of every head row of host `?1` (`?2` and `?3` as 0 and `i64::MAX`): for
/// deleting a host's head, `id IN (...)`.
pub fn ids_of_host() -> String {
    format!(
        "{SECONDS}
         SELECT s.id FROM second CROSS JOIN samples s
         WHERE s.ts_ms / 1000 = second.sec AND s.host_id = ?1 AND s.ts_ms BETWEEN ?2 AND ?3"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::{params, Connection};

    fn head() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::schema::migrate(&mut conn, 0).unwrap();
        conn
    }

    fn insert(conn: &Connection, host: i64, seq: i64, ts: i64) -> usize {
        conn.execute(
            "INSERT OR IGNORE INTO samples (run, seq, host_id, ts_ms, cpu, cores, mem_used,
             mem_total, swap_used, swap_total, load1, load5, load15, networks, body)
             VALUES (?1, ?2, ?1, ?3, 0.5, '[]', 1, 2, 0, 0, 0, 0, 0, '[]', NULL)",
            params![host, seq, ts],
        )
        .unwrap()
    }

    fn times(conn: &Connection, host: i64, from: i64, to: i64) -> Vec<i64> {
        let mut stmt = conn.prepare(&rows_of_host("s.ts_ms", "")).unwrap();
        let rows = stmt
            .query_map(params![host, from, to], |r| r.get(0))
            .unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    }

    #[test]
    fn a_hosts_rows_come_back_in_time_order_within_the_range_and_no_one_elses() {
        let conn = head();
        // host 1 at uneven times, two samples in one second; host 2 interleaved
        for (seq, ts) in [(1, 5_900), (2, 3_000), (3, 3_999), (4, 3_500), (5, 9_001)] {
            insert(&conn, 1, seq, ts);
            insert(&conn, 2, seq, ts + 1);
        }
        assert_eq!(
            times(&conn, 1, 0, i64::MAX),
            [3_000, 3_500, 3_999, 5_900, 9_001]
        );
        assert_eq!(times(&conn, 1, 3_500, 5_900), [3_500, 3_999, 5_900]);
        assert_eq!(times(&conn, 1, 3_501, 5_899), [3_999]);
        assert_eq!(times(&conn, 2, 9_002, 9_002), [9_002]);
        assert!(times(&conn, 3, 0, i64::MAX).is_empty());
        assert!(times(&conn, 1, 10_000, i64::MAX).is_empty());
    }

    #[test]
    fn an_empty_head_and_an_open_range_cost_nothing() {
        let conn = head();
        // were the range not clamped to the head, this would count to i64::MAX / 1000
        assert!(times(&conn, 1, 0, i64::MAX).is_empty());
        insert(&conn, 1, 1, 1_700_000_000_000);
        assert_eq!(times(&conn, 1, 0, i64::MAX), [1_700_000_000_000]);
    }

    #[test]
    fn a_replayed_sample_is_stored_once() {
        let conn = head();
        assert_eq!(insert(&conn, 1, 1, 2_000), 1);
        assert_eq!(insert(&conn, 1, 1, 2_000), 0);
        assert_eq!(
            insert(&conn, 1, 2, 2_000),
            1,
            "another seq at the same time"
        );
    }

    #[test]
    fn deleting_a_hosts_ids_takes_all_of_its_rows_and_only_them() {
        let conn = head();
        for seq in 0..50 {
            insert(&conn, 1, seq, 1_000 + seq * 700);
            insert(&conn, 2, seq, 1_000 + seq * 700);
        }
        let n = conn
            .execute(
                &format!("DELETE FROM samples WHERE id IN ({})", ids_of_host()),
                params![1, 0, i64::MAX],
            )
            .unwrap();
        assert_eq!(n, 50);
        let left: Vec<i64> = conn
            .prepare("SELECT DISTINCT host_id FROM samples")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(left, [2]);
    }

    /// What SQLite plans for a host's rows: the seconds outside, a seek per second on the
    /// per-second index inside (which is what keeps the rows in time order), never a scan
    /// of the head, and no sort.
    #[test]
    fn the_plan_seeks_the_per_second_index_and_does_not_sort() {
        let conn = head();
        let plan: Vec<String> = conn
            .prepare(&format!(
                "EXPLAIN QUERY PLAN {}",
                rows_of_host("s.ts_ms, s.body", "")
            ))
            .unwrap()
            .query_map(params![1, 0, 1], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let plan = plan.join("\n");
        let outer = plan.find("SCAN second").expect("the seconds are scanned");
        let inner = plan
            .find("SEARCH s USING INDEX samples_by_second")
            .expect("the rows are searched");
        assert!(outer < inner, "the seconds are the outer loop: {plan}");
        assert!(
            plan.contains("SEARCH s USING INDEX samples_by_second (<expr>=? AND host_id=? AND"),
            "{plan}"
        );
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
        assert!(
            !plan.lines().any(|l| l.starts_with("SCAN s ")
                || l == "SCAN s"
                || l.starts_with("SCAN samples")),
            "no scan of the head: {plan}"
        );
    }
}
