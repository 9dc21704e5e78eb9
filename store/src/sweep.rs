//! The sweep: deleting a block's head rows once its chunks hold them.
//!
//! Head rows lie in the table in arrival order, so every page of it holds a few rows of
//! many hosts. Deleting one host's rows of a block at its chunk's swap (what compaction
//! did until 2026-12-03) rewrote about 600 table pages and as many index pages per host,
//! each written to the WAL and checkpointed again: at 1,000 simulated edges the server
//! wrote 22.3 KB per sample over a block period with its compaction, 4.66 KB with the
//! sweep (`docs/storage.md`). Once every host of the block has its chunk, the sweep
//! deletes the block's rows in time order instead: they are neighbours in the table and in
//! both indexes, so whole pages empty and go to the free list, and only the pages above
//! them are written.
//!
//! A row is deleted only if its host's chunk of the block holds it (`chunk_runs` covers its
//! run and sequence number) and remote write no longer waits for it: a late sample that
//! arrived after its host's encoding, or one still to be delivered, stays for the next
//! pass. Each step is one short transaction under the write gate, so commits wait for one
//! step at most.

use rusqlite::{params, Connection};

use crate::chunks::{bound, BLOCK_MS};
use crate::writer::WriteGate;
use crate::StoreError;

/// Head rows one step of a sweep looks at (it deletes those of them a chunk holds, and every
/// other row with the same time as the last): 26-53 ms of the write gate, timed on a copy
/// of a live 1,000-edge head.
pub const SWEEP_ROWS: i64 = 4096;

/// The last time (ms) of the step that starts at `?1`: the time of the `?3`th head row from
/// `?1` on, or `?2` (the block's last ms) when fewer are left.
const STEP_END: &str = "SELECT coalesce(
    (SELECT ts_ms FROM samples WHERE ts_ms BETWEEN ?1 AND ?2 ORDER BY ts_ms LIMIT 1 OFFSET ?3),
    ?2)";

/// The condition that head row `s` is held by its host's chunk of the block that starts at
/// `block` (an SQL expression): `chunk_runs` covers its run and sequence number, and remote
/// write does not wait for it (a row it waits for is never put in a chunk).
pub fn held(block: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM chunk_runs c INDEXED BY chunk_runs_by_chunk
                 WHERE c.host_id = s.host_id AND c.start_ms = {block} AND c.run = s.run
                   AND s.seq BETWEEN c.min_seq AND c.max_seq)
         AND NOT EXISTS (SELECT 1 FROM commit_log l WHERE l.sample = s.id)"
    )
}

/// Deletes the head rows from `?1` to `?2` ms that the chunk of block `?3` of their host
/// holds ([`held`]). Found through the time index (`samples_by_time`), the rows are deleted
/// in row id order, their order in the table.
fn delete_held() -> String {
    format!(
        "DELETE FROM samples WHERE id IN (
            SELECT s.id FROM samples s INDEXED BY samples_by_time
            WHERE s.ts_ms BETWEEN ?1 AND ?2 AND {})",
        held("?3")
    )
}

/// One step of sweeping block `block` (its start, ms) from `from_ms` on: deletes, in time
/// order, the head rows of about [`SWEEP_ROWS`] that their host's chunk of the block holds,
/// in one transaction under `gate`. Returns where the next step starts, `None` once the
/// block's last row has been looked at.
pub fn step(
    conn: &mut Connection,
    gate: &WriteGate,
    block: u64,
    from_ms: u64,
) -> Result<Option<u64>, StoreError> {
    let what = |e| StoreError::sql("sweeping compacted head rows", e);
    let last = block + BLOCK_MS - 1;
    if from_ms > last {
        return Ok(None);
    }
    // Read outside the gate: it only picks where this step ends.
    let to: i64 = conn
        .prepare_cached(STEP_END)
        .and_then(|mut stmt| {
            stmt.query_row(params![bound(from_ms), bound(last), SWEEP_ROWS - 1], |r| {
                r.get(0)
            })
        })
        .map_err(what)?;
    let _writing = gate.lock();
    let started = std::time::Instant::now();
    let deleted = conn
        .prepare_cached(&delete_held())
        .and_then(|mut stmt| stmt.execute(params![bound(from_ms), to, block as i64]))
        .map_err(what)?;
    if deleted > 0 {
        let held_ms = started.elapsed().as_secs_f64() * 1e3;
        tracing::debug!(
            block,
            from_ms,
            to,
            deleted,
            held_ms,
            "swept compacted head rows"
        );
    }
    let next = to as u64 + 1;
    Ok((next <= last).then_some(next))
}

/// Sweeps the whole of block `block` at once ([`step`] after step).
#[cfg(test)]
pub fn sweep(conn: &mut Connection, gate: &WriteGate, block: u64) -> Result<(), StoreError> {
    let mut from = Some(block);
    while let Some(at) = from {
        from = step(conn, gate, block, at)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::tests::{count, db};

    const T0: u64 = 1_700_000_400_000 - 1_700_000_400_000 % BLOCK_MS;

    fn insert(conn: &Connection, host: i64, run: i64, seq: i64, ts_ms: u64) -> i64 {
        conn.execute(
            "INSERT INTO samples (run, seq, host_id, ts_ms, cpu, cores, mem_used, mem_total,
             swap_used, swap_total, load1, load5, load15, networks)
             VALUES (?1, ?2, ?3, ?4, 0.5, '[]', 0, 0, 0, 0, 0, 0, 0, '[]')",
            params![run, seq, host, ts_ms as i64],
        )
        .unwrap();
        conn.last_insert_rowid()
    }

    fn held(conn: &Connection, host: i64, run: i64, seqs: (i64, i64)) {
        conn.execute(
            "INSERT INTO chunk_runs (run, min_seq, max_seq, host_id, start_ms)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![run, seqs.0, seqs.1, host, T0 as i64],
        )
        .unwrap();
    }

    fn seqs(conn: &Connection) -> Vec<(i64, i64)> {
        let mut stmt = conn
            .prepare("SELECT host_id, seq FROM samples ORDER BY host_id, seq")
            .unwrap();
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    }

    /// Only rows a chunk holds go: a host without a chunk, a sequence number past the
    /// chunk's, another run, a row remote write waits for, and the next block all stay.
    #[test]
    fn it_deletes_the_rows_a_chunk_holds_and_nothing_else() {
        let mut conn = db();
        for seq in 0..10 {
            insert(&conn, 1, 1, seq, T0 + seq as u64 * 1_000);
            insert(&conn, 2, 2, seq, T0 + seq as u64 * 1_000);
        }
        let waiting = insert(&conn, 1, 1, 10, T0 + 10_000);
        held(&conn, 1, 1, (0, 10));
        insert(&conn, 1, 3, 0, T0 + 500);
        conn.execute(
            "INSERT INTO commit_log (run, seq, ts_ms, sample) VALUES (1, 10, ?1, ?2)",
            params![(T0 + 10_000) as i64, waiting],
        )
        .unwrap();
        insert(&conn, 1, 1, 11, T0 + BLOCK_MS);
        let gate = WriteGate::default();
        sweep(&mut conn, &gate, T0).unwrap();
        let mut left = vec![(1, 0), (1, 10), (1, 11)];
        left.extend((0..10).map(|seq| (2, seq)));
        assert_eq!(
            seqs(&conn),
            left,
            "run 3's late row, the waiting row, the next block, host 2"
        );
        sweep(&mut conn, &gate, T0).unwrap();
        assert_eq!(seqs(&conn), left, "sweeping again deletes nothing");
    }

    /// A block larger than a step is swept in several, rows sharing the time that ends a
    /// step included in it, and nothing is left over.
    #[test]
    fn a_block_is_swept_in_steps_to_its_last_row() {
        let mut conn = db();
        let hosts = 50;
        let rows_per_host = 2 * SWEEP_ROWS / hosts + 7;
        for host in 0..hosts {
            for seq in 0..rows_per_host {
                // Every host samples at the same instants: many rows share each time.
                insert(&conn, host, host, seq, T0 + seq as u64 * 1_000);
            }
            held(&conn, host, host, (0, rows_per_host - 1));
        }
        let gate = WriteGate::default();
        let mut steps = 0;
        let mut from = Some(T0);
        while let Some(at) = from {
            from = step(&mut conn, &gate, T0, at).unwrap();
            steps += 1;
            assert!(steps <= 4, "two steps' worth of rows and the rest: {steps}");
        }
        assert!(steps >= 2);
        assert_eq!(count(&conn, "samples"), 0);
    }

    /// The statement finds its rows through the time index and checks each one with a seek
    /// in `chunk_runs` by chunk and in the commit log by sample: never a scan of a table.
    #[test]
    fn the_delete_seeks_and_never_scans() {
        let conn = db();
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", delete_held()))
            .unwrap()
            .query_map(params![0, 1, 0], |r| r.get(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let plan = plan.join("\n");
        assert!(plan.contains("USING INDEX samples_by_time"), "{plan}");
        assert!(plan.contains("USING INDEX chunk_runs_by_chunk"), "{plan}");
        assert!(
            plan.contains("INDEX commit_log_by_sample (sample=?)"),
            "{plan}"
        );
        assert!(!plan.contains("SCAN"), "{plan}");
    }
}
