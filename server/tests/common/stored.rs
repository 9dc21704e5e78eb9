//! What a server stored, read straight from its SQLite file (head rows and compacted
//! chunks): every sequence number of every (host, run), to prove nothing is missing or
//! stored twice. A head row whose sample a chunk of its host also holds counts once: the
//! chunk was written and the sweep that deletes such rows had not run yet (a kill -9 can
//! leave them so until the next pass); every read takes them once too.

use std::collections::BTreeMap;
use std::path::Path;

/// Sequence numbers stored per (host, run id), ascending.
pub fn stored_seqs(data_dir: &Path) -> BTreeMap<(String, String), Vec<i64>> {
    let conn = rusqlite::Connection::open(data_dir.join("utizmon.sqlite3")).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT h.name, r.run_id, s.seq FROM samples s JOIN runs r ON r.id = s.run
             JOIN hosts h ON h.id = s.host_id ORDER BY h.name, r.run_id, s.seq",
        )
        .unwrap();
    let mut head: BTreeMap<(String, String), Vec<i64>> = BTreeMap::new();
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap();
    for row in rows {
        let (host, run, seq): (String, String, i64) = row.unwrap();
        head.entry((host, run)).or_default().push(seq);
    }
    let mut out: BTreeMap<(String, String), Vec<i64>> = BTreeMap::new();
    let mut stmt = conn
        .prepare("SELECT h.name, c.body FROM chunks c JOIN hosts h ON h.id = c.host_id")
        .unwrap();
    let chunks = stmt
        .query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
        })
        .unwrap();
    for chunk in chunks {
        let (host, body) = chunk.unwrap();
        for row in utizmon_store::decode_chunk(&body).unwrap() {
            let run: String = conn
                .query_row("SELECT run_id FROM runs WHERE id = ?1", [row.run], |r| {
                    r.get(0)
                })
                .unwrap();
            out.entry((host.clone(), run))
                .or_default()
                .push(row.sample.seq as i64);
        }
    }
    for (key, seqs) in head {
        let chunked: std::collections::HashSet<i64> =
            out.get(&key).into_iter().flatten().copied().collect();
        out.entry(key)
            .or_default()
            .extend(seqs.into_iter().filter(|seq| !chunked.contains(seq)));
    }
    out.values_mut().for_each(|seqs| seqs.sort_unstable());
    out
}

/// Asserts every run's stored seqs are exactly 1..=n, each once; returns n per host.
pub fn assert_complete(seqs: &BTreeMap<(String, String), Vec<i64>>) -> BTreeMap<String, i64> {
    let mut last = BTreeMap::new();
    for ((host, run), list) in seqs {
        let n = list.len() as i64;
        let expected: Vec<i64> = (1..=n).collect();
        assert_eq!(list, &expected, "host {host} run {run}: gap or duplicate");
        last.insert(host.clone(), n);
    }
    last
}

/// Sequence numbers of `host` and `run_id` stored by any of the servers in `data_dirs`
/// (a sample may be in two of them after a failover), ascending, each once.
pub fn seqs_across(data_dirs: &[&Path], host: &str, run_id: &str) -> Vec<i64> {
    let mut all: Vec<i64> = data_dirs
        .iter()
        .flat_map(|dir| {
            stored_seqs(dir)
                .remove(&(host.to_owned(), run_id.to_owned()))
                .unwrap_or_default()
        })
        .collect();
    all.sort_unstable();
    all.dedup();
    all
}
