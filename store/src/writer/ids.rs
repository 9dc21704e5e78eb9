//! The writer's caches of row ids: host name to `hosts.id`, (host, edge run) to `runs.id`.
//!
//! Every sample needs both ids; looking them up costs two queries, so the writer keeps
//! them in memory. A rolled-back transaction may have created ids that no longer exist,
//! so the writer clears the caches then ([`Ids::clear`]).

use std::collections::HashMap;
use std::sync::Arc;

use rusqlite::{params, Connection, OptionalExtension};

use crate::StoreError;

/// Cached `hosts` and `runs` ids, filled on first use.
#[derive(Debug, Default)]
pub struct Ids {
    hosts: HashMap<Arc<str>, i64>,
    runs: HashMap<(i64, Arc<str>), i64>,
}

impl Ids {
    /// Hosts written to since this writer started (or since [`Ids::clear`]).
    pub fn hosts(&self) -> usize {
        self.hosts.len()
    }

    /// The id of host `name`, adding the host if the database does not know it.
    pub fn host(&mut self, conn: &Connection, name: &Arc<str>) -> Result<i64, StoreError> {
        if let Some(&id) = self.hosts.get(name) {
            return Ok(id);
        }
        conn.execute(
            "INSERT OR IGNORE INTO hosts (name) VALUES (?1)",
            params![name.as_ref()],
        )
        .map_err(|e| StoreError::sql("adding a host", e))?;
        let id = conn
            .query_row(
                "SELECT id FROM hosts WHERE name = ?1",
                params![name.as_ref()],
                |r| r.get(0),
            )
            .map_err(|e| StoreError::sql("looking up a host", e))?;
        self.hosts.insert(name.clone(), id);
        Ok(id)
    }

    /// The id of edge run `run` of host `host_id`, adding it if new.
    pub fn run(
        &mut self,
        conn: &Connection,
        host_id: i64,
        run: &Arc<str>,
    ) -> Result<i64, StoreError> {
        let key = (host_id, run.clone());
        if let Some(&id) = self.runs.get(&key) {
            return Ok(id);
        }
        let existing: Option<i64> = conn
            .query_row(
                "SELECT id FROM runs WHERE host_id = ?1 AND run_id = ?2",
                params![host_id, run.as_ref()],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| StoreError::sql("looking up an edge run", e))?;
        let id = match existing {
            Some(id) => id,
            None => {
                conn.execute(
                    "INSERT INTO runs (host_id, run_id) VALUES (?1, ?2)",
                    params![host_id, run.as_ref()],
                )
                .map_err(|e| StoreError::sql("adding an edge run", e))?;
                conn.last_insert_rowid()
            }
        };
        self.runs.insert(key, id);
        Ok(id)
    }

    /// Forgets every cached id (after a rollback).
    pub fn clear(&mut self) {
        self.hosts.clear();
        self.runs.clear();
    }

    /// Forgets the ids of one host (after it was purged).
    pub fn forget_host(&mut self, host_id: i64) {
        self.hosts.retain(|_, id| *id != host_id);
        self.runs.retain(|(id, _), _| *id != host_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::tests::db;

    #[test]
    fn ids_are_created_once_and_served_from_the_cache() {
        let conn = db();
        let mut ids = Ids::default();
        let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
        let host_a = ids.host(&conn, &a).unwrap();
        let host_b = ids.host(&conn, &b).unwrap();
        assert_ne!(host_a, host_b);
        assert_eq!(ids.host(&conn, &a).unwrap(), host_a);
        let run = ids.run(&conn, host_a, &"r1".into()).unwrap();
        assert_eq!(ids.run(&conn, host_a, &"r1".into()).unwrap(), run);
        assert_ne!(ids.run(&conn, host_b, &"r1".into()).unwrap(), run);
        // Served from the cache: the rows can go and the id still comes back.
        conn.execute("DELETE FROM runs", []).unwrap();
        assert_eq!(ids.run(&conn, host_a, &"r1".into()).unwrap(), run);
        // A cleared cache finds existing rows again rather than adding duplicates.
        ids.clear();
        assert_eq!(ids.host(&conn, &a).unwrap(), host_a);
        let hosts: i64 = conn
            .query_row("SELECT count(*) FROM hosts", [], |r| r.get(0))
            .unwrap();
        assert_eq!(hosts, 2);
    }

    #[test]
    fn forgetting_a_host_drops_only_its_ids() {
        let conn = db();
        let mut ids = Ids::default();
        let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
        let host_a = ids.host(&conn, &a).unwrap();
        ids.host(&conn, &b).unwrap();
        ids.run(&conn, host_a, &"r".into()).unwrap();
        ids.forget_host(host_a);
        assert!(!ids.hosts.contains_key(&a));
        assert!(ids.hosts.contains_key(&b));
        assert!(ids.runs.is_empty());
    }
}
