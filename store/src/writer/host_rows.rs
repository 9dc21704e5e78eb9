//! The `hosts` rows: each host's last info and sample, so hosts known before a restart are
//! listed again. Rewriting a row per sample would double the write load for a listing
//! that only a restart reads, so a host's row is written at its first sample and then at
//! most every [`HOST_ROW_EVERY`], and all pending rows at shutdown.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, TransactionBehavior};

use crate::{Record, StoreError};

/// How often at most a host's row (last sample, for listing after a restart) is rewritten.
pub const HOST_ROW_EVERY: Duration = Duration::from_secs(30);

/// The newest committed sample of each host and whether its row has it yet.
#[derive(Default)]
pub struct HostRows {
    latest: HashMap<i64, Latest>,
}

struct Latest {
    record: Box<Record>,
    /// When the host row was last written; `None`: never by this writer.
    written_at: Option<Instant>,
    /// `record` is newer than the host row.
    unwritten: bool,
}

impl HostRows {
    /// Remembers a committed sample as its host's latest unless a newer one is known.
    pub fn observe(&mut self, host_id: i64, record: Box<Record>) {
        let newer = self
            .latest
            .get(&host_id)
            .is_none_or(|l| l.record.point.ts_ms <= record.point.ts_ms);
        if newer {
            let written_at = self.latest.get(&host_id).and_then(|l| l.written_at);
            self.latest.insert(
                host_id,
                Latest {
                    record,
                    written_at,
                    unwritten: true,
                },
            );
        }
    }

    /// Writes the rows that are due at `now` (all pending ones when `all`) in one
    /// transaction.
    pub fn write(
        &mut self,
        conn: &mut Connection,
        now: Instant,
        all: bool,
    ) -> Result<(), StoreError> {
        let due: Vec<i64> = self
            .latest
            .iter()
            .filter(|(_, l)| {
                l.unwritten
                    && (all
                        || l.written_at
                            .is_none_or(|t| now.saturating_duration_since(t) >= HOST_ROW_EVERY))
            })
            .map(|(&id, _)| id)
            .collect();
        if due.is_empty() {
            return Ok(());
        }
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| StoreError::sql("starting the host update", e))?;
        {
            let mut update = tx
                .prepare_cached(
                    "UPDATE hosts SET info = ?2, latest = ?3, interval_ms = ?4,
                     last_seen_ms = max(coalesce(last_seen_ms, 0), ?5) WHERE id = ?1",
                )
                .map_err(|e| StoreError::sql("preparing the host update", e))?;
            for host_id in &due {
                let Some(latest) = self.latest.get(host_id) else {
                    continue;
                };
                let record = &latest.record;
                let info = match &record.info {
                    Some(info) => Some(serde_json::to_string(info.as_ref())?),
                    None => None,
                };
                update
                    .execute(params![
                        host_id,
                        info,
                        serde_json::to_string(record.sample.as_ref())?,
                        record.interval_ms as i64,
                        record.sample.ts_ms as i64,
                    ])
                    .map_err(|e| StoreError::sql("updating a host", e))?;
            }
        }
        tx.commit()
            .map_err(|e| StoreError::sql("committing host updates", e))?;
        for host_id in due {
            if let Some(latest) = self.latest.get_mut(&host_id) {
                latest.written_at = Some(now);
                latest.unwritten = false;
            }
        }
        Ok(())
    }

    /// Drops a forgotten host, so an unwritten update cannot list it again.
    pub fn forget_host(&mut self, host_id: i64) {
        self.latest.remove(&host_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::tests::{db, record};

    fn latest_seq(conn: &Connection) -> Option<u64> {
        let json: Option<String> = conn
            .query_row("SELECT latest FROM hosts WHERE id = 1", [], |r| r.get(0))
            .unwrap();
        json.map(|j| {
            serde_json::from_str::<utizmon_protocol::Sample>(&j)
                .unwrap()
                .seq
        })
    }

    #[test]
    fn a_row_is_written_at_once_then_at_most_every_interval_and_all_at_shutdown() {
        let mut conn = db();
        conn.execute("INSERT INTO hosts (id, name) VALUES (1, 'h')", [])
            .unwrap();
        let mut rows = HostRows::default();
        let t = Instant::now();
        rows.observe(1, Box::new(record(1, 1_000)));
        rows.write(&mut conn, t, false).unwrap();
        assert_eq!(latest_seq(&conn), Some(1));
        rows.observe(1, Box::new(record(2, 2_000)));
        rows.write(&mut conn, t + Duration::from_secs(1), false)
            .unwrap();
        assert_eq!(latest_seq(&conn), Some(1), "throttled");
        rows.write(&mut conn, t + HOST_ROW_EVERY, false).unwrap();
        assert_eq!(latest_seq(&conn), Some(2));
        rows.observe(1, Box::new(record(3, 3_000)));
        // An older sample (a replay) never replaces a newer one.
        rows.observe(1, Box::new(record(9, 500)));
        rows.write(&mut conn, t + HOST_ROW_EVERY, true).unwrap();
        assert_eq!(latest_seq(&conn), Some(3));
    }

    #[test]
    fn a_forgotten_host_is_not_written_again() {
        let mut conn = db();
        conn.execute("INSERT INTO hosts (id, name) VALUES (1, 'h')", [])
            .unwrap();
        let mut rows = HostRows::default();
        rows.observe(1, Box::new(record(1, 1_000)));
        rows.forget_host(1);
        rows.write(&mut conn, Instant::now(), true).unwrap();
        assert_eq!(latest_seq(&conn), None);
    }
}
