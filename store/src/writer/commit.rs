//! The commit of a batch: every queued sample inserted into the head in one transaction
//! (one fsync for all of them), the whole sample in `body`, duplicates (a replay after a
//! lost ack, whether the first copy is still in the head or already in a chunk) ignored,
//! and each new sample logged for remote write in the same transaction when the commit log
//! is on.

use rusqlite::{params, Connection, TransactionBehavior};

use super::ids::Ids;
use crate::{body, chunks, delivery, Record, StoreError};

/// Writes `records` in one transaction; returns `(host id, index in records)` of the
/// samples that were new (not duplicates), in order. Only a sample at or before the
/// horizon (the newest time in any chunk, [`chunks::horizon`], read inside the
/// transaction because the compaction thread moves it) can already be in a chunk, so only
/// those are looked up there. On error nothing is committed and the caller must clear
/// `ids` (they may name rows the rollback removed).
pub fn write_batch<'a>(
    conn: &mut Connection,
    ids: &mut Ids,
    records: impl IntoIterator<Item = &'a Record>,
    commit_log: bool,
) -> Result<Vec<(i64, usize)>, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| StoreError::sql("starting a transaction", e))?;
    let horizon = chunks::horizon(&tx)?;
    let mut inserted: Vec<(i64, usize)> = Vec::new();
    {
        let mut insert = tx
            .prepare_cached(
                "INSERT OR IGNORE INTO samples (run, seq, host_id, ts_ms, cpu, cores, mem_used,
                 mem_total, swap_used, swap_total, load1, load5, load15, networks, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            )
            .map_err(|e| StoreError::sql("preparing the sample insert", e))?;
        for (i, record) in records.into_iter().enumerate() {
            let host_id = ids.host(&tx, &record.host)?;
            let run = ids.run(&tx, host_id, &record.run_id)?;
            let p = &record.point;
            let seq = record.sample.seq as i64;
            if p.ts_ms <= horizon && chunks::holds(&tx, run, seq)? {
                continue;
            }
            let body = match record.frame.as_deref().and_then(body::encode_sample_frame) {
                Some(body) => body,
                None => body::encode(record.sample.as_ref()),
            }
            .map_err(StoreError::Compress)?;
            let added = insert
                .execute(params![
                    run,
                    seq,
                    host_id,
                    p.ts_ms as i64,
                    p.cpu_ratio,
                    serde_json::to_string(&p.cores)?,
                    p.mem_used_bytes,
                    p.mem_total_bytes,
                    p.swap_used_bytes,
                    p.swap_total_bytes,
                    p.load1,
                    p.load5,
                    p.load15,
                    serde_json::to_string(&p.networks)?,
                    body,
                ])
                .map_err(|e| StoreError::sql("inserting a sample", e))?;
            // A duplicate (already stored) changes nothing and must not count twice.
            if added == 1 {
                inserted.push((host_id, i));
                if commit_log {
                    let sample = tx.last_insert_rowid();
                    delivery::log(&tx, sample, run, seq, p.ts_ms as i64)?;
                }
            }
        }
    }
    tx.commit()
        .map_err(|e| StoreError::sql("committing samples", e))?;
    Ok(inserted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::tests::{count, db, record_of};

    #[test]
    fn new_samples_are_reported_and_logged_duplicates_are_not() {
        let mut conn = db();
        let mut ids = Ids::default();
        let batch = [
            record_of("a", "r", 1, 1_000),
            record_of("b", "r", 1, 1_000),
            record_of("a", "r", 2, 2_000),
        ];
        let new = write_batch(&mut conn, &mut ids, &batch, true).unwrap();
        assert_eq!(new.iter().map(|&(_, i)| i).collect::<Vec<_>>(), [0, 1, 2]);
        assert_ne!(new[0].0, new[1].0, "two hosts");
        // A replay of seq 2 plus a new seq 3: only seq 3 is new.
        let replay = [record_of("a", "r", 2, 2_000), record_of("a", "r", 3, 3_000)];
        let new = write_batch(&mut conn, &mut ids, &replay, true).unwrap();
        assert_eq!(new.iter().map(|&(_, i)| i).collect::<Vec<_>>(), [1]);
        assert_eq!(count(&conn, "samples"), 4);
        assert_eq!(count(&conn, "commit_log"), 4);
        // The same sequence number under a new run is a new sample.
        let new = write_batch(
            &mut conn,
            &mut ids,
            &[record_of("a", "r2", 1, 4_000)],
            false,
        )
        .unwrap();
        assert_eq!(new.len(), 1);
        assert_eq!(count(&conn, "commit_log"), 4, "log off: not logged");
    }

    #[test]
    fn a_replay_of_a_compacted_sample_is_not_stored_again() {
        let mut conn = db();
        let mut ids = Ids::default();
        let old = [record_of("a", "r", 1, 1_000), record_of("a", "r", 2, 2_000)];
        write_batch(&mut conn, &mut ids, &old, false).unwrap();
        let body: Vec<u8> = conn
            .query_row("SELECT body FROM samples WHERE seq = 2", [], |r| r.get(0))
            .unwrap();
        let sample: utizmon_protocol::Sample = crate::body::decode(&body).unwrap();
        assert_eq!(sample.ts_ms, 2_000, "the whole sample is kept");
        let gate = crate::writer::WriteGate::default();
        chunks::compact(
            &mut conn,
            10 * chunks::BLOCK_MS,
            &gate,
            &mut chunks::DueBlocks::default(),
            |_| true,
        )
        .unwrap();
        assert_eq!(count(&conn, "samples"), 0);
        let replay = [record_of("a", "r", 2, 2_000), record_of("a", "r", 3, 3_000)];
        let new = write_batch(&mut conn, &mut ids, &replay, false).unwrap();
        assert_eq!(new.iter().map(|&(_, i)| i).collect::<Vec<_>>(), [1]);
        assert_eq!(count(&conn, "samples"), 1);
    }
}
