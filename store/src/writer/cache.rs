//! How much of the database the writer keeps in SQLite's page cache: enough for the pages
//! every commit touches again, grown with the fleet.
//!
//! Up to schema 8 each host's samples went into a per-host index (`(host_id, ts_ms, run,
//! seq)`), each insert landing on that host's newest leaf page: a 4 KiB page per host that
//! a commit touched again a second later, and at 10,000 hosts a writer that re-read those
//! pages from the file while a core sat idle once they did not fit. The head's index is
//! by the second now (`head.rs`): a second's inserts share a region of about 40 bytes a
//! host, so what commits touch again is small. What stays per host is what maintenance
//! touches every minute or so (the minute rollups' leaves, the host rows): kept hot, they
//! spare a read from the file. SQLite allocates cache pages only as they are used, so a
//! large limit costs memory only once that many pages are hot: a limit this size keeps
//! compaction's reads (which pass over the whole head) from growing the cache past it.

use rusqlite::Connection;

use crate::StoreError;

/// Cache allowed per host seen, in KiB: its share of the second's index region and of the
/// minute rollups' leaves. (Schema 6 had two per-host indexes and 8 KiB here; schema 7
/// one and 4 KiB.)
const KIB_PER_HOST: u64 = 1;

/// Cache allowed whatever the fleet: SQLite's default of 2 MiB, plus room for the pages of
/// maintenance passes (rollups, retention).
const MIN_KIB: u64 = 8 * 1024;

/// Tracks the host count the cache was last sized for.
#[derive(Debug, Default)]
pub struct CacheSize {
    sized_for: Option<usize>,
}

impl CacheSize {
    /// The cache limit, in KiB, for `hosts` hosts.
    pub fn kib_for(hosts: usize) -> u64 {
        MIN_KIB.max(hosts as u64 * KIB_PER_HOST)
    }

    /// Resizes the cache when the fleet grew by a quarter (or at the first call), so a
    /// growing fleet costs a handful of pragmas, not one per new host.
    pub fn fit(&mut self, conn: &Connection, hosts: usize) -> Result<(), StoreError> {
        if self.sized_for.is_some_and(|n| hosts <= n + n / 4) {
            return Ok(());
        }
        // A negative cache_size is a limit in KiB rather than in pages.
        let kib = Self::kib_for(hosts) as i64;
        conn.pragma_update(None, "cache_size", -kib)
            .map_err(|e| StoreError::sql("sizing the page cache", e))?;
        self.sized_for = Some(hosts);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache_kib(conn: &Connection) -> i64 {
        -conn
            .query_row("PRAGMA cache_size", [], |r| r.get::<_, i64>(0))
            .unwrap()
    }

    #[test]
    fn the_cache_grows_with_the_fleet_in_steps() {
        let conn = Connection::open_in_memory().unwrap();
        let mut cache = CacheSize::default();
        cache.fit(&conn, 10).unwrap();
        assert_eq!(cache_kib(&conn), 8 * 1024, "small fleets get the floor");
        cache.fit(&conn, 10_000).unwrap();
        assert_eq!(cache_kib(&conn), 10_000);
        cache.fit(&conn, 12_000).unwrap();
        assert_eq!(
            cache_kib(&conn),
            10_000,
            "less than a quarter more: unchanged"
        );
        cache.fit(&conn, 12_600).unwrap();
        assert_eq!(cache_kib(&conn), 12_600);
    }
}
