//! Alerts and silences that survive restarts: the `alerts` table (firing rows have no
//! `resolved_ms`; resolved rows are the history) and the `silences` table.
//!
//! Written rarely (on state changes, not per sample), so [`AlertStore`] uses its own
//! read-write connection instead of the sample writer's queue: an alert write never
//! waits behind a batch of samples, and SQLite's busy timeout serialises the two writers.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::StoreError;

/// Most history rows one query returns, newest first.
pub const HISTORY_LIMIT: usize = 1000;

/// Handle to the alert tables; cheap to clone.
#[derive(Clone)]
pub struct AlertStore {
    conn: Arc<Mutex<Connection>>,
}

/// One alert as stored: firing while `resolved_ms` is `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAlert {
    /// Rule name.
    pub alertname: String,
    /// Host name.
    pub host: String,
    /// `core`, `mountpoint` or `device` for per-object alerts.
    pub object_label: Option<String>,
    /// The object label's value, `""` for host-wide alerts.
    pub object: String,
    /// `info`, `warning` or `critical`.
    pub severity: String,
    /// Value when it fired, then when it resolved.
    pub value: f64,
    /// Rendered one-line summary.
    pub summary: String,
    /// Rendered description (the "why").
    pub description: String,
    /// When the condition started to hold, Unix ms.
    pub active_since_ms: u64,
    /// When it started firing, Unix ms.
    pub fired_at_ms: u64,
    /// When it resolved, Unix ms; `None` while firing.
    pub resolved_ms: Option<u64>,
    /// Whether receivers were told it fired (a silenced alert is not).
    pub notified: bool,
}

/// A silence: notifications of matching alerts are held back between start and end.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Silence {
    /// Assigned by the store.
    pub id: i64,
    /// Host it mutes; `None`: every host.
    pub host: Option<String>,
    /// Alert it mutes; `None`: every alert.
    pub alertname: Option<String>,
    /// Start, Unix ms.
    pub starts_ms: u64,
    /// End, Unix ms (set to "now" when ended early).
    pub ends_ms: u64,
    /// Why (free text, may be empty).
    pub comment: String,
    /// When it was created, Unix ms.
    pub created_ms: u64,
}

impl AlertStore {
    /// Opens a connection of its own to the database at `path` (already migrated).
    pub(crate) fn open(path: &Path) -> Result<AlertStore, StoreError> {
        let conn = crate::open_connection(path, false)?;
        Ok(AlertStore {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Every alert firing when the server last stopped.
    pub fn firing(&self) -> Result<Vec<StoredAlert>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM alerts WHERE resolved_ms IS NULL ORDER BY id"
            ))
            .map_err(|e| StoreError::sql("reading firing alerts", e))?;
        let rows = stmt
            .query_map([], alert_from_row)
            .map_err(|e| StoreError::sql("reading firing alerts", e))?;
        rows.collect::<Result<_, _>>()
            .map_err(|e| StoreError::sql("reading firing alerts", e))
    }

    /// Records an alert that started firing; replaces a firing row of the same alert.
    pub fn fired(&self, alert: &StoredAlert) -> Result<(), StoreError> {
        let conn = self.lock();
        conn.execute(
            "INSERT INTO alerts (alertname, host, object_label, object, severity, value, summary,
                                 description, active_since_ms, fired_at_ms, resolved_ms, notified)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, NULL, ?11)
             ON CONFLICT (alertname, host, object) WHERE resolved_ms IS NULL DO UPDATE SET
                 severity = excluded.severity, value = excluded.value,
                 summary = excluded.summary, description = excluded.description,
                 active_since_ms = excluded.active_since_ms, fired_at_ms = excluded.fired_at_ms,
                 notified = excluded.notified",
            params![
                alert.alertname,
                alert.host,
                alert.object_label,
                alert.object,
                alert.severity,
                alert.value,
                alert.summary,
                alert.description,
                alert.active_since_ms as i64,
                alert.fired_at_ms as i64,
                alert.notified,
            ],
        )
        .map_err(|e| StoreError::sql("recording a firing alert", e))?;
        Ok(())
    }

    /// Records that receivers were told the alert fired.
    pub fn notified(&self, alertname: &str, host: &str, object: &str) -> Result<(), StoreError> {
        self.lock()
            .execute(
                "UPDATE alerts SET notified = 1
                 WHERE alertname = ?1 AND host = ?2 AND object = ?3 AND resolved_ms IS NULL",
                params![alertname, host, object],
            )
            .map_err(|e| StoreError::sql("recording a notification", e))?;
        Ok(())
    }

    /// Moves a firing alert to the history; returns whether one was firing.
    pub fn resolved(
        &self,
        alertname: &str,
        host: &str,
        object: &str,
        value: f64,
        resolved_ms: u64,
    ) -> Result<bool, StoreError> {
        let n = self
            .lock()
            .execute(
                "UPDATE alerts SET resolved_ms = ?4, value = ?5
                 WHERE alertname = ?1 AND host = ?2 AND object = ?3 AND resolved_ms IS NULL",
                params![alertname, host, object, resolved_ms as i64, value],
            )
            .map_err(|e| StoreError::sql("recording a resolved alert", e))?;
        Ok(n > 0)
    }

    /// Alerts that fired between `from_ms` and `to_ms` or were firing during it, newest
    /// first, at most [`HISTORY_LIMIT`].
    pub fn history(&self, from_ms: u64, to_ms: u64) -> Result<Vec<StoredAlert>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM alerts
                 WHERE fired_at_ms <= ?2 AND (resolved_ms IS NULL OR resolved_ms >= ?1)
                 ORDER BY fired_at_ms DESC, id DESC LIMIT ?3"
            ))
            .map_err(|e| StoreError::sql("reading alert history", e))?;
        let rows = stmt
            .query_map(
                params![from_ms as i64, to_ms as i64, HISTORY_LIMIT as i64],
                alert_from_row,
            )
            .map_err(|e| StoreError::sql("reading alert history", e))?;
        rows.collect::<Result<_, _>>()
            .map_err(|e| StoreError::sql("reading alert history", e))
    }

    /// Stores a new silence and returns it with its id.
    pub fn add_silence(&self, mut silence: Silence) -> Result<Silence, StoreError> {
        let conn = self.lock();
        conn.execute(
            "INSERT INTO silences (host, alertname, starts_ms, ends_ms, comment, created_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                silence.host,
                silence.alertname,
                silence.starts_ms as i64,
                silence.ends_ms as i64,
                silence.comment,
                silence.created_ms as i64,
            ],
        )
        .map_err(|e| StoreError::sql("storing a silence", e))?;
        silence.id = conn.last_insert_rowid();
        Ok(silence)
    }

    /// Silences that end after `after_ms`, oldest first.
    pub fn silences(&self, after_ms: u64) -> Result<Vec<Silence>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, host, alertname, starts_ms, ends_ms, comment, created_ms
                 FROM silences WHERE ends_ms > ?1 ORDER BY id",
            )
            .map_err(|e| StoreError::sql("reading silences", e))?;
        let rows = stmt
            .query_map(params![after_ms as i64], |row| {
                Ok(Silence {
                    id: row.get(0)?,
                    host: row.get(1)?,
                    alertname: row.get(2)?,
                    starts_ms: row.get::<_, i64>(3)? as u64,
                    ends_ms: row.get::<_, i64>(4)? as u64,
                    comment: row.get(5)?,
                    created_ms: row.get::<_, i64>(6)? as u64,
                })
            })
            .map_err(|e| StoreError::sql("reading silences", e))?;
        rows.collect::<Result<_, _>>()
            .map_err(|e| StoreError::sql("reading silences", e))
    }

    /// Ends silence `id` at `now_ms`; `false` when there is no such silence still running.
    pub fn end_silence(&self, id: i64, now_ms: u64) -> Result<bool, StoreError> {
        let conn = self.lock();
        let ends: Option<i64> = conn
            .query_row(
                "SELECT ends_ms FROM silences WHERE id = ?1",
                params![id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| StoreError::sql("reading a silence", e))?;
        match ends {
            Some(ends) if ends as u64 > now_ms => {
                conn.execute(
                    "UPDATE silences SET ends_ms = ?2 WHERE id = ?1",
                    params![id, now_ms as i64],
                )
                .map_err(|e| StoreError::sql("ending a silence", e))?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Retention: deletes alerts resolved before `before_ms` and silences that ended
    /// before it (firing alerts stay whatever their age); returns how many rows went.
    /// Both tables grow by state changes, not samples, so one statement each is enough.
    pub fn prune(&self, before_ms: u64) -> Result<usize, StoreError> {
        let conn = self.lock();
        let alerts = conn
            .execute(
                "DELETE FROM alerts WHERE resolved_ms IS NOT NULL AND resolved_ms < ?1",
                params![before_ms as i64],
            )
            .map_err(|e| StoreError::sql("deleting expired alert history", e))?;
        let silences = conn
            .execute(
                "DELETE FROM silences WHERE ends_ms < ?1",
                params![before_ms as i64],
            )
            .map_err(|e| StoreError::sql("deleting ended silences", e))?;
        Ok(alerts + silences)
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl std::fmt::Debug for AlertStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertStore").finish_non_exhaustive()
    }
}

const COLUMNS: &str = "alertname, host, object_label, object, severity, value, summary, description, active_since_ms, fired_at_ms, resolved_ms, notified";

fn alert_from_row(row: &Row<'_>) -> rusqlite::Result<StoredAlert> {
    Ok(StoredAlert {
        alertname: row.get(0)?,
        host: row.get(1)?,
        object_label: row.get(2)?,
        object: row.get(3)?,
        severity: row.get(4)?,
        value: row.get(5)?,
        summary: row.get(6)?,
        description: row.get(7)?,
        active_since_ms: row.get::<_, i64>(8)? as u64,
        fired_at_ms: row.get::<_, i64>(9)? as u64,
        resolved_ms: row.get::<_, Option<i64>>(10)?.map(|v| v as u64),
        notified: row.get(11)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Store, StoreConfig};

    fn alert(name: &str, fired: u64) -> StoredAlert {
        StoredAlert {
            alertname: name.into(),
            host: "web-1".into(),
            object_label: Some("mountpoint".into()),
            object: "/".into(),
            severity: "warning".into(),
            value: 0.95,
            summary: "s".into(),
            description: "d".into(),
            active_since_ms: fired - 10,
            fired_at_ms: fired,
            resolved_ms: None,
            notified: false,
        }
    }

    #[test]
    fn firing_alerts_survive_a_reopen_and_resolve_into_history() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(StoreConfig::new(dir.path())).unwrap();
            let alerts = store.alerts().unwrap();
            alerts.fired(&alert("DiskAlmostFull", 100)).unwrap();
            alerts.fired(&alert("DiskAlmostFull", 100)).unwrap(); // Idempotent.
            alerts.notified("DiskAlmostFull", "web-1", "/").unwrap();
            alerts.fired(&alert("Other", 50)).unwrap();
            assert!(alerts.resolved("Other", "web-1", "/", 0.5, 60).unwrap());
            assert!(!alerts.resolved("Other", "web-1", "/", 0.5, 61).unwrap());
        }
        let store = Store::open(StoreConfig::new(dir.path())).unwrap();
        let alerts = store.alerts().unwrap();
        let firing = alerts.firing().unwrap();
        assert_eq!(firing.len(), 1);
        assert_eq!(firing[0].alertname, "DiskAlmostFull");
        assert!(firing[0].notified);
        let history = alerts.history(0, 1000).unwrap();
        assert_eq!(history.len(), 2);
        assert_eq!(history[1].resolved_ms, Some(60));
        assert_eq!(history[1].value, 0.5);
        assert_eq!(
            alerts.history(70, 80).unwrap().len(),
            0,
            "only firing at 100"
        );
        assert_eq!(alerts.history(200, 300).unwrap().len(), 1, "still firing");
    }

    #[test]
    fn prune_drops_old_history_and_ended_silences_but_never_firing_alerts() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(StoreConfig::new(dir.path())).unwrap();
        let alerts = store.alerts().unwrap();
        alerts.fired(&alert("Old", 100)).unwrap();
        alerts.resolved("Old", "web-1", "/", 0.1, 200).unwrap();
        alerts.fired(&alert("Recent", 100)).unwrap();
        alerts.resolved("Recent", "web-1", "/", 0.1, 900).unwrap();
        alerts.fired(&alert("StillFiring", 50)).unwrap();
        let silence = |ends_ms| Silence {
            id: 0,
            host: None,
            alertname: Some("Old".into()),
            starts_ms: 10,
            ends_ms,
            comment: String::new(),
            created_ms: 10,
        };
        alerts.add_silence(silence(300)).unwrap();
        let running = alerts.add_silence(silence(2000)).unwrap();
        assert_eq!(alerts.prune(500).unwrap(), 2);
        let names: Vec<String> = alerts
            .history(0, 1000)
            .unwrap()
            .into_iter()
            .map(|a| a.alertname)
            .collect();
        assert_eq!(names, ["Recent", "StillFiring"]);
        assert_eq!(alerts.silences(0).unwrap(), [running]);
        assert_eq!(alerts.prune(500).unwrap(), 0);
    }

    #[test]
    fn silences_are_listed_until_they_end() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(StoreConfig::new(dir.path())).unwrap();
        let alerts = store.alerts().unwrap();
        let s = alerts
            .add_silence(Silence {
                id: 0,
                host: Some("web-1".into()),
                alertname: None,
                starts_ms: 10,
                ends_ms: 100,
                comment: "maintenance".into(),
                created_ms: 10,
            })
            .unwrap();
        assert!(s.id > 0);
        assert_eq!(alerts.silences(50).unwrap(), std::slice::from_ref(&s));
        assert!(alerts.end_silence(s.id, 60).unwrap());
        assert!(!alerts.end_silence(s.id, 70).unwrap(), "already ended");
        assert!(alerts.silences(60).unwrap().is_empty());
        assert!(!alerts.end_silence(999, 70).unwrap());
    }
}
