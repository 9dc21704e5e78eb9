//! Batches of the commit log read lately, shared by the senders.
//!
//! Every receiver gets the same rows, and reading them (a join per sample, then its
//! stored body decompressed and decoded) cost each sender about as much as encoding and
//! posting them. Senders that keep up ask for the rows after the same cursor, so the
//! first one to read a batch leaves it here and the others take it instead of reading
//! again. A sender that falls behind (its receiver is down) finds nothing here for its
//! cursor and reads its own batches, as before: nothing is held for it.
//!
//! A batch taken from here may be shorter than the log is by then; the sender simply
//! asks again from the batch's last row. Rows once committed to the log never change, so
//! a batch stays what any sender would have read after its cursor at that moment.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use utizmon_store::LoggedSample;

/// Batches kept: enough for every sender of a fleet's receivers to take the batch after
/// a shared cursor before it goes; a few batches of 500 samples, a few MiB at most.
const KEEP: usize = 8;

/// The last [`KEEP`] batches read, each with the cursor it was read after.
#[derive(Default)]
pub struct RecentBatches {
    batches: Mutex<VecDeque<(i64, Arc<Vec<LoggedSample>>)>>,
}

impl RecentBatches {
    /// The batch read after `cursor`, if a sender read one lately.
    pub fn get(&self, cursor: i64) -> Option<Arc<Vec<LoggedSample>>> {
        let batches = self.batches.lock().unwrap_or_else(PoisonError::into_inner);
        batches
            .iter()
            .find(|(after, _)| *after == cursor)
            .map(|(_, rows)| rows.clone())
    }

    /// Keeps `rows`, read after `cursor`, for the other senders; an empty batch tells
    /// them nothing, and the oldest batch goes once [`KEEP`] are held.
    pub fn put(&self, cursor: i64, rows: Arc<Vec<LoggedSample>>) {
        if rows.is_empty() {
            return;
        }
        let mut batches = self.batches.lock().unwrap_or_else(PoisonError::into_inner);
        batches.retain(|(after, _)| *after != cursor);
        batches.push_back((cursor, rows));
        while batches.len() > KEEP {
            batches.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(ids: std::ops::RangeInclusive<i64>) -> Arc<Vec<LoggedSample>> {
        let row = |id| LoggedSample {
            id,
            host: "a".into(),
            ts_ms: id * 1000,
            cpu: 0.5,
            cores: Vec::new(),
            mem_used: 0.0,
            mem_total: 0.0,
            swap_used: 0.0,
            swap_total: 0.0,
            load1: 0.0,
            load5: 0.0,
            load15: 0.0,
            sample: None,
        };
        Arc::new(ids.map(row).collect())
    }

    fn ids(rows: &[LoggedSample]) -> Vec<i64> {
        rows.iter().map(|r| r.id).collect()
    }

    #[test]
    fn a_batch_is_shared_by_the_cursor_it_was_read_after() {
        let recent = RecentBatches::default();
        assert!(recent.get(0).is_none());
        recent.put(0, batch(1..=3));
        recent.put(3, batch(4..=5));
        assert_eq!(ids(&recent.get(0).unwrap()), [1, 2, 3]);
        assert_eq!(ids(&recent.get(3).unwrap()), [4, 5]);
        assert!(recent.get(1).is_none(), "only the exact cursor");
        // Read again after the same cursor (a later, longer batch): the newer one counts.
        recent.put(3, batch(4..=9));
        assert_eq!(ids(&recent.get(3).unwrap()), [4, 5, 6, 7, 8, 9]);
        recent.put(9, Arc::new(Vec::new()));
        assert!(recent.get(9).is_none(), "nothing to share");
    }

    #[test]
    fn only_the_latest_batches_are_kept() {
        let recent = RecentBatches::default();
        for i in 0..(KEEP as i64 + 2) {
            recent.put(i * 10, batch(i * 10 + 1..=i * 10 + 10));
        }
        assert!(recent.get(0).is_none());
        assert!(recent.get(10).is_none());
        assert!(recent.get(20).is_some());
        assert!(recent.get((KEEP as i64 + 1) * 10).is_some());
    }
}
