//! Compacted history: per host, blocks of [`BLOCK_MS`] of whole samples in the column
//! codec ([`crate::codec`]), and the reads that merge them with the head.
//!
//! A sample is first committed to the head (`samples`, one row each, the whole sample in
//! `body`) before its ack, as always. Once a block has ended [`GRACE_MS`] ago, the
//! compaction thread ([`crate::writer::compaction`]) reads one host's head rows of it and
//! encodes its chunk outside any write transaction ([`prepare`]), then writes the chunk in
//! one short transaction ([`swap`]: insert or rewrite it, if what it was built from has not
//! changed meanwhile). The head rows it holds stay until every host of the block is done;
//! then [`crate::sweep`] deletes them in time order, which empties whole pages of the head
//! instead of one row on each of hundreds of pages per host. Until then a sample can be in
//! both forms, and every read ([`merge`]) takes it once; a crash in between leaves it in
//! both, and the next pass rewrites the same chunk and sweeps. A sample still waiting in
//! remote write's commit log stays in the head until every receiver has taken it; a late
//! sample (a replay after an outage) is merged into the block's existing chunk at the next
//! pass. `chunk_runs` records which sequence numbers of which edge run each chunk holds, so
//! a replayed sample is stored once, and the sweep deletes only head rows a chunk holds.

use std::collections::{HashSet, VecDeque};
use std::rc::Rc;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::Deserialize;
use serde_json::{json, Value};
use utizmon_protocol::{Cpu, Load, Memory, Sample};

use crate::point::{NetRate, Point};
use crate::writer::{WriteGate, HOST_ROW_EVERY};
use crate::{codec, derived, head, sweep, StoreError};

/// Width of one chunk, ms: 600 samples at 1 Hz, enough for the codec to find the
/// regularities (steady counters, constant totals) that make values cost under a byte.
pub const BLOCK_MS: u64 = 600_000;

/// How long after a block ends its head rows wait for late samples before compaction.
pub const GRACE_MS: u64 = 60_000;

/// Start of the block holding `ts_ms`.
pub fn block_of(ts_ms: u64) -> u64 {
    ts_ms - ts_ms % BLOCK_MS
}

/// One stored sample as read back: the whole sample, the edge run it came from, and the
/// network rates the server derived for it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StoredSample {
    /// `runs.id` of the edge run.
    #[serde(default)]
    pub run: i64,
    /// Per-interface rates, bytes per second (as in [`Point::networks`]).
    #[serde(default)]
    pub rates: Vec<NetRate>,
    /// Every value the edge sent.
    pub sample: Sample,
}

impl StoredSample {
    /// Its identity in a read ([`merge`]).
    pub fn key(&self) -> Key {
        (self.sample.ts_ms, self.run, self.sample.seq)
    }

    /// The history point of this sample.
    pub fn point(&self) -> Point {
        Point::of_sample(&self.sample, self.rates.clone())
    }
}

/// Compacts due blocks (ended at least [`GRACE_MS`] before `now_ms`) while `allowed(done)`
/// says so (`done`: blocks moved so far in this call); returns how many blocks it moved
/// and whether more are due. Each host's block is read and encoded outside any write
/// transaction ([`prepare`]) and its chunk written in a short one ([`swap`]) while `gate`
/// is held, so commits wait for the swap at most, never for the encoding. Once every host
/// of a block is done, its head rows are swept ([`sweep::step`] by step, each one counted
/// against `allowed` like a block after the first): before any later block is started and
/// before blocks are looked for again, which would find them. `due` carries the blocks
/// found due, and the sweep under way, from one call to the next.
pub fn compact(
    conn: &mut Connection,
    now_ms: u64,
    gate: &WriteGate,
    due: &mut DueBlocks,
    mut allowed: impl FnMut(usize) -> bool,
) -> Result<(usize, bool), StoreError> {
    let before = block_of(now_ms.saturating_sub(GRACE_MS));
    let mut done = 0;
    let mut changed = false;
    // Whether the blocks of the last refill have all turned out empty so far: then a new
    // refill would only find them again (rows that vanished meanwhile are not found).
    let mut fruitless = false;
    loop {
        if due.found.is_empty() {
            if !due.sweep(conn, gate, || allowed(done + 1))? {
                return Ok((done, true));
            }
            // A block that changed under its encoding is found again, at the next pass.
            if changed || fruitless {
                return Ok((done, changed));
            }
            due.refill(conn, before)?;
            if due.found.is_empty() {
                return Ok((done, false));
            }
            fruitless = true;
        }
        if !allowed(done) {
            return Ok((done, true));
        }
        let Some(&(host_id, block)) = due.found.front() else {
            continue;
        };
        if due.unswept.is_some_and(|(b, _)| b != block)
            && !due.sweep(conn, gate, || allowed(done + 1))?
        {
            return Ok((done, true));
        }
        due.found.pop_front();
        let Some(prepared) = prepare(conn, host_id, block)? else {
            continue;
        };
        fruitless = false;
        let _writing = gate.lock();
        if swap(conn, &prepared)? {
            done += 1;
            if due.unswept.is_none() {
                due.unswept = Some((block, block));
            }
        } else {
            // Changed under the encoding (a late sample, retention, a purge): next pass.
            changed = true;
        }
    }
}

/// `(host id, block start)` of blocks found due and not moved yet, oldest block first.
///
/// Found one block at a time: the oldest head row older than the due boundary names the
/// block (the time index), then one probe per host with head rows (two seeks in the
/// per-host index) says whether that host has a row in it. A fleet's blocks all end
/// together, so a pass takes a few of them and the next pass goes on from here: finding
/// them costs one probe per host per block, where a scan of the head (what this
/// replaced) cost every head row at every pass (a third of compaction's CPU at 200
/// hosts, and growing with the head). While remote write holds whole blocks back (a
/// receiver down for longer than a block), each refill probes those blocks again.
#[derive(Debug, Default)]
pub struct DueBlocks {
    found: VecDeque<(i64, u64)>,
    /// `(block, from ms)`: the block whose chunks were written last, and where the sweep of
    /// its head rows goes on.
    unswept: Option<(u64, u64)>,
}

impl DueBlocks {
    /// Sweeps the block left unswept, if any, a step at a time while `allowed()` says so;
    /// returns whether it is done.
    fn sweep(
        &mut self,
        conn: &mut Connection,
        gate: &WriteGate,
        mut allowed: impl FnMut() -> bool,
    ) -> Result<bool, StoreError> {
        while let Some((block, from)) = self.unswept {
            if !allowed() {
                return Ok(false);
            }
            self.unswept = sweep::step(conn, gate, block, from)?.map(|next| (block, next));
        }
        Ok(true)
    }

    /// Finds the oldest block before `before_ms` with a head row that may move: its first
    /// row is not waiting in remote write's commit log (rows are logged in about the
    /// order of their times, so a block whose first row still waits is left until it has
    /// been sent). Blocks whose every host waits are passed over.
    fn refill(&mut self, conn: &Connection, before_ms: u64) -> Result<(), StoreError> {
        let what = |e| StoreError::sql("finding blocks to compact", e);
        let mut oldest = conn
            .prepare_cached("SELECT min(ts_ms) FROM samples WHERE ts_ms >= ?1 AND ts_ms < ?2")
            .map_err(what)?;
        let mut probe = conn
            .prepare_cached(&format!(
                "SELECT 1 FROM ({} LIMIT 1) f
                 WHERE NOT EXISTS (SELECT 1 FROM commit_log l WHERE l.sample = f.id)",
                head::rows_of_host("s.id", "")
            ))
            .map_err(what)?;
        // Listed only once a block is due: with nothing due (most passes) it costs a seek.
        let mut hosts: Option<Vec<i64>> = None;
        let mut from = 0u64;
        while self.found.is_empty() {
            let first: Option<i64> = oldest
                .query_row(params![bound(from), bound(before_ms)], |r| r.get(0))
                .map_err(what)?;
            let Some(first) = first else { break };
            let block = block_of(first as u64);
            let hosts = match &mut hosts {
                Some(hosts) => hosts,
                None => hosts.insert(hosts_seen_since(conn, block)?),
            };
            let end = bound(block + BLOCK_MS - 1);
            for &host_id in hosts.iter() {
                if probe
                    .exists(params![host_id, block as i64, end])
                    .map_err(what)?
                {
                    self.found.push_back((host_id, block));
                }
            }
            from = block + BLOCK_MS;
        }
        Ok(())
    }
}

/// The ids of the hosts that may have head rows at `since_ms` or later: those whose last
/// sample (`hosts.last_seen_ms`) is that recent, or not recorded yet. The row is rewritten
/// at most every [`HOST_ROW_EVERY`], so a crash can leave it that much behind the newest
/// committed sample: the margin of twice that keeps this a superset. A host not listed has
/// nothing to compact; a listed one without rows costs a seek per second of the block.
fn hosts_seen_since(conn: &Connection, since_ms: u64) -> Result<Vec<i64>, StoreError> {
    let margin = 2 * HOST_ROW_EVERY.as_millis() as u64;
    conn.prepare_cached(
        "SELECT id FROM hosts WHERE last_seen_ms IS NULL OR last_seen_ms >= ?1 ORDER BY id",
    )
    .and_then(|mut stmt| {
        stmt.query_map([bound(since_ms.saturating_sub(margin))], |r| r.get(0))?
            .collect()
    })
    .map_err(|e| StoreError::sql("finding blocks to compact", e))
}

/// The newest sample time held in any chunk: a sample newer than this cannot be in one.
pub fn horizon(conn: &Connection) -> Result<u64, StoreError> {
    // Cached: every commit asks, and parsing the statement cost more than running it.
    conn.prepare_cached("SELECT max(end_ms) FROM chunks")
        .and_then(|mut stmt| stmt.query_row([], |r| r.get::<_, Option<i64>>(0)))
        .map(|v| v.unwrap_or(0) as u64)
        .map_err(|e| StoreError::sql("reading the chunk horizon", e))
}

/// Whether sample `seq` of edge run `run` is already in a chunk.
pub fn holds(conn: &Connection, run: i64, seq: i64) -> Result<bool, StoreError> {
    conn.prepare_cached(
        "SELECT 1 FROM chunk_runs WHERE run = ?1 AND min_seq <= ?2 AND max_seq >= ?2 LIMIT 1",
    )
    .and_then(|mut stmt| stmt.exists(params![run, seq]))
    .map_err(|e| StoreError::sql("looking for a sample in the chunks", e))
}

const HEAD_COLUMNS: &str = "run, seq, ts_ms, cpu, cores, mem_used, mem_total, swap_used,
     swap_total, load1, load5, load15, networks, body";

/// One row on its way into a chunk: its identity, time and JSON form.
struct ChunkRow {
    run: i64,
    seq: u64,
    ts_ms: u64,
    value: Value,
}

impl ChunkRow {
    fn of_value(value: Value) -> ChunkRow {
        ChunkRow {
            run: value["run"].as_i64().unwrap_or_default(),
            seq: value["sample"]["seq"].as_u64().unwrap_or_default(),
            ts_ms: value["sample"]["ts_ms"].as_u64().unwrap_or_default(),
            value,
        }
    }
}

/// One block ready to move: its chunk encoded from the head rows read and the chunk that
/// was there, and what must still hold when it is swapped in.
pub struct Prepared {
    host_id: i64,
    block: u64,
    /// `(id, n)` of the block's chunk when it was read; `None`: there was none.
    chunk_before: Option<(i64, i64)>,
    /// `(row id, run, seq)` of the head rows it holds, checked by the swap.
    taken: Vec<(i64, i64, u64)>,
    body: Vec<u8>,
    end_ms: u64,
    n: usize,
    /// `(run, min seq, max seq)` of each edge run in the chunk.
    runs: Vec<(i64, u64, u64)>,
}

/// Reads the head rows of one host's block (and its chunk, for a late sample) and encodes
/// the merged chunk, without writing; `None` when no head row is left to move. Rows go
/// from the head's JSON to the codec without a typed detour: this is compaction's cost.
pub fn prepare(
    conn: &Connection,
    host_id: i64,
    block: u64,
) -> Result<Option<Prepared>, StoreError> {
    let what = |e| StoreError::sql("reading a block to compact", e);
    // One snapshot for the head rows and the chunk.
    let snapshot = conn.unchecked_transaction().map_err(what)?;
    let head: Vec<(i64, ChunkRow)> = {
        let mut stmt = snapshot
            .prepare_cached(&head::rows_of_host(
                &format!("{HEAD_COLUMNS}, s.id"),
                "AND NOT EXISTS (SELECT 1 FROM commit_log l WHERE l.sample = s.id)",
            ))
            .map_err(what)?;
        let rows = stmt
            .query_map(
                params![host_id, block as i64, (block + BLOCK_MS - 1) as i64],
                |r| Ok((r.get(14)?, ChunkRow::of_value(head_value(r)?))),
            )
            .map_err(what)?;
        rows.collect::<Result<_, _>>().map_err(what)?
    };
    if head.is_empty() {
        return Ok(None);
    }
    let chunk = snapshot
        .query_row(
            "SELECT id, n, body FROM chunks WHERE host_id = ?1 AND start_ms = ?2",
            params![host_id, block as i64],
            |r| Ok(((r.get(0)?, r.get(1)?), r.get::<_, Vec<u8>>(2)?)),
        )
        .optional()
        .map_err(|e| StoreError::sql("reading a chunk", e))?;
    drop(snapshot);
    let (chunk_before, mut rows) = match chunk {
        Some((identity, body)) => (
            Some(identity),
            chunk_values(&body)?
                .into_iter()
                .map(ChunkRow::of_value)
                .collect(),
        ),
        None => (None, Vec::new()),
    };
    let mut seen: HashSet<(i64, u64)> = rows.iter().map(|r: &ChunkRow| (r.run, r.seq)).collect();
    let taken: Vec<(i64, i64, u64)> = head.iter().map(|(id, r)| (*id, r.run, r.seq)).collect();
    rows.extend(
        head.into_iter()
            .map(|(_, r)| r)
            .filter(|r| seen.insert((r.run, r.seq))),
    );
    rows.sort_by_key(|r| (r.ts_ms, r.run, r.seq));
    let mut runs: Vec<(i64, u64, u64)> = Vec::new();
    for r in &rows {
        match runs.iter_mut().find(|(run, _, _)| *run == r.run) {
            Some((_, min, max)) => {
                *min = (*min).min(r.seq);
                *max = (*max).max(r.seq);
            }
            None => runs.push((r.run, r.seq, r.seq)),
        }
    }
    let end_ms = rows.last().map_or(block, |r| r.ts_ms);
    let n = rows.len();
    let mut values: Vec<Value> = rows.into_iter().map(|r| r.value).collect();
    derived::strip(&mut values);
    let body = codec::encode(&values).map_err(chunk_error)?;
    Ok(Some(Prepared {
        host_id,
        block,
        chunk_before,
        taken,
        body,
        end_ms,
        n,
        runs,
    }))
}

/// Writes a prepared block's chunk and `chunk_runs` in one IMMEDIATE transaction, if
/// nothing it was built from changed meanwhile (the chunk is the one read, every head row
/// taken is still there); otherwise changes nothing and returns `false`. The head rows
/// stay for the sweep ([`sweep::step`]): until then reads take each sample once ([`merge`]), and a
/// crash leaves them in both forms, never in neither.
pub fn swap(conn: &mut Connection, p: &Prepared) -> Result<bool, StoreError> {
    let what = |e| StoreError::sql("compacting history", e);
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(what)?;
    let chunk_now: Option<(i64, i64)> = tx
        .query_row(
            "SELECT id, n FROM chunks WHERE host_id = ?1 AND start_ms = ?2",
            params![p.host_id, p.block as i64],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(what)?;
    if chunk_now != p.chunk_before {
        return Ok(false); // Dropping `tx` rolls back.
    }
    // Every head row taken must still be there: a purge or retention that deleted some
    // meanwhile must not see them come back in the chunk.
    let mut present = 0;
    {
        let mut there = tx
            .prepare_cached("SELECT 1 FROM samples WHERE id = ?1 AND run = ?2 AND seq = ?3")
            .map_err(what)?;
        for &(id, run, seq) in &p.taken {
            present += usize::from(there.exists(params![id, run, seq as i64]).map_err(what)?);
        }
    }
    if present != p.taken.len() {
        return Ok(false);
    }
    tx.execute(
        "INSERT OR REPLACE INTO chunks (host_id, start_ms, end_ms, n, body)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            p.host_id,
            p.block as i64,
            p.end_ms as i64,
            p.n as i64,
            p.body
        ],
    )
    .map_err(what)?;
    tx.execute(
        "DELETE FROM chunk_runs WHERE host_id = ?1 AND start_ms = ?2",
        params![p.host_id, p.block as i64],
    )
    .map_err(what)?;
    for &(run, min, max) in &p.runs {
        tx.execute(
            "INSERT INTO chunk_runs (run, min_seq, max_seq, host_id, start_ms)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![run, min as i64, max as i64, p.host_id, p.block as i64],
        )
        .map_err(what)?;
    }
    tx.commit().map_err(what)?;
    Ok(true)
}

fn chunk_error(e: impl std::fmt::Display) -> StoreError {
    StoreError::Chunk(e.to_string())
}

/// A chunk's columns, with the leaves compaction left out ([`derived`]) put back: every
/// read of a chunk goes through here.
fn chunk_columns(body: &[u8]) -> Result<(usize, Vec<codec::Column>), StoreError> {
    let (n_rows, mut columns) = codec::decode_columns(body).map_err(chunk_error)?;
    derived::fill(n_rows, &mut columns);
    Ok((n_rows, columns))
}

/// A chunk's rows (`{"run", "rates", "sample"}`), oldest first, whole.
fn chunk_values(body: &[u8]) -> Result<Vec<Value>, StoreError> {
    let (n_rows, columns) = chunk_columns(body)?;
    Ok(codec::rows(n_rows, columns))
}

/// A head row (columns in [`HEAD_COLUMNS`] order) as the JSON row of a chunk.
fn head_value(r: &rusqlite::Row<'_>) -> rusqlite::Result<Value> {
    let run: i64 = r.get(0)?;
    let networks: String = r.get(12)?;
    let rates: Value = serde_json::from_str(&networks).unwrap_or(Value::Array(Vec::new()));
    let body: Option<Vec<u8>> = r.get(13)?;
    let sample = match body.and_then(|b| crate::body::decode::<Value>(&b)) {
        Some(sample) => sample,
        None => serde_json::to_value(sample_of_columns(r)?).unwrap_or_default(),
    };
    Ok(json!({"run": run, "rates": rates, "sample": sample}))
}

/// The rows of one chunk (`chunks.body`), oldest first; for tools and tests that read the
/// database file directly.
pub fn decode_rows(body: &[u8]) -> Result<Vec<StoredSample>, StoreError> {
    let values = chunk_values(body)?;
    values
        .iter()
        .map(|v| StoredSample::deserialize(v).map_err(chunk_error))
        .collect()
}

/// A head row (columns in [`HEAD_COLUMNS`] order) as a stored sample.
fn head_sample(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredSample> {
    let networks: String = r.get(12)?;
    let body: Option<Vec<u8>> = r.get(13)?;
    let sample = match body.and_then(|b| crate::body::decode(&b)) {
        Some(sample) => sample,
        None => sample_of_columns(r)?,
    };
    Ok(StoredSample {
        run: r.get(0)?,
        rates: serde_json::from_str(&networks).unwrap_or_default(),
        sample,
    })
}

/// The sample of a head row written before schema 4 (no body), rebuilt from the columns
/// stored then; every other value is zero.
fn sample_of_columns(r: &rusqlite::Row<'_>) -> rusqlite::Result<Sample> {
    let cores: String = r.get(4)?;
    Ok(Sample {
        seq: r.get::<_, i64>(1)? as u64,
        ts_ms: r.get::<_, i64>(2)? as u64,
        cpu: Cpu {
            usage_ratio: r.get(3)?,
            cores: serde_json::from_str(&cores).unwrap_or_default(),
            ..Cpu::default()
        },
        memory: Memory {
            used_bytes: r.get::<_, f64>(5)? as u64,
            total_bytes: r.get::<_, f64>(6)? as u64,
            swap_used_bytes: r.get::<_, f64>(7)? as u64,
            swap_total_bytes: r.get::<_, f64>(8)? as u64,
            ..Memory::default()
        },
        load: Load {
            load1: r.get(9)?,
            load5: r.get(10)?,
            load15: r.get(11)?,
        },
        ..Sample::default()
    })
}

/// The history points of one chunk with their [`Key`]s, oldest first, read from the few
/// columns a point needs rather than by rebuilding every sample.
pub fn chunk_points(body: &[u8]) -> Result<Vec<(Key, Point)>, StoreError> {
    let (n_rows, columns) = chunk_columns(body)?;
    let mut points = vec![
        Point {
            n: 1,
            ..Point::default()
        };
        n_rows
    ];
    let mut keys: Vec<Key> = vec![(0, 0, 0); n_rows];
    let number = |v: &Value| v.as_f64().unwrap_or_default();
    for (path, cells) in &columns {
        match path.as_str() {
            "run" => keys
                .iter_mut()
                .zip(cells)
                .for_each(|(k, c)| k.1 = number_i64(c)),
            "sample.seq" => keys
                .iter_mut()
                .zip(cells)
                .for_each(|(k, c)| k.2 = number_u64(c)),
            _ => {}
        }
        let rows = points
            .iter_mut()
            .zip(cells)
            .filter_map(|(p, c)| Some((p, c.as_ref()?)));
        match path.as_str() {
            "sample.ts_ms" => rows.for_each(|(p, v)| p.ts_ms = v.as_u64().unwrap_or_default()),
            "sample.cpu.usage_ratio" => rows.for_each(|(p, v)| {
                p.cpu_ratio = number(v);
                p.cpu_ratio_min = p.cpu_ratio;
                p.cpu_ratio_max = p.cpu_ratio;
            }),
            "sample.memory.used_bytes" => rows.for_each(|(p, v)| p.mem_used_bytes = number(v)),
            "sample.memory.total_bytes" => rows.for_each(|(p, v)| p.mem_total_bytes = number(v)),
            "sample.memory.swap_used_bytes" => {
                rows.for_each(|(p, v)| p.swap_used_bytes = number(v))
            }
            "sample.memory.swap_total_bytes" => {
                rows.for_each(|(p, v)| p.swap_total_bytes = number(v))
            }
            "sample.load.load1" => rows.for_each(|(p, v)| p.load1 = number(v)),
            "sample.load.load5" => rows.for_each(|(p, v)| p.load5 = number(v)),
            "sample.load.load15" => rows.for_each(|(p, v)| p.load15 = number(v)),
            other => {
                if let Some(i) = other.strip_prefix("sample.cpu.cores.") {
                    let Ok(i) = i.parse::<usize>() else { continue };
                    for (p, v) in rows {
                        if p.cores.len() <= i {
                            p.cores.resize(i + 1, 0.0);
                        }
                        p.cores[i] = number(v);
                    }
                } else if let Some((i, field)) =
                    other.strip_prefix("rates.").and_then(|r| r.split_once('.'))
                {
                    let Ok(i) = i.parse::<usize>() else { continue };
                    for (p, v) in rows {
                        if p.networks.len() <= i {
                            p.networks.resize(i + 1, NetRate::default());
                        }
                        let net = &mut p.networks[i];
                        match field {
                            "device" => net.device = v.as_str().unwrap_or_default().to_owned(),
                            "rx_bytes_per_second" => net.rx_bytes_per_second = number(v),
                            "tx_bytes_per_second" => net.tx_bytes_per_second = number(v),
                            _ => {}
                        }
                    }
                }
            }
        }
    }
    Ok(keys
        .into_iter()
        .zip(points)
        .map(|((_, run, seq), p)| ((p.ts_ms, run, seq), p))
        .collect())
}

/// The head rows (columns in [`HEAD_COLUMNS`] order) of host `?1` from `?2` to `?3` ms,
/// oldest first.
fn head_rows(conn: &Connection) -> Result<rusqlite::CachedStatement<'_>, StoreError> {
    conn.prepare_cached(&head::rows_of_host(HEAD_COLUMNS, ""))
        .map_err(|e| StoreError::sql("reading stored samples", e))
}

/// Calls `each` with the stored samples of one host between two instants, oldest first:
/// chunks and head merged by time.
pub fn each_sample(
    conn: &Connection,
    host_id: i64,
    from_ms: u64,
    to_ms: u64,
    mut each: impl FnMut(StoredSample),
) -> Result<(), StoreError> {
    let what = |e| StoreError::sql("reading stored samples", e);
    let mut stmt = head_rows(conn)?;
    let head = stmt
        .query_map(params![host_id, bound(from_ms), bound(to_ms)], head_sample)
        .map_err(what)?
        .map(|r| r.map_err(what));
    merge(
        conn,
        host_id,
        (from_ms, to_ms),
        head,
        StoredSample::key,
        decode_rows,
        &mut each,
    )
}

/// Like [`each_sample`], for a reader that keeps a few samples of a long range (one or two
/// per bucket): `want(ts_ms)` is asked for every stored sample, oldest first, and only the
/// samples it wants are decoded, from the chunk columns whose path `keep_path` accepts
/// (paths as `sample.meminfo.MemFree_bytes`; the wire's required fields must be kept) and
/// from the head row's body. A head row whose body does not parse is skipped.
pub fn each_wanted_sample(
    conn: &Connection,
    host_id: i64,
    (from_ms, to_ms): (u64, u64),
    keep_path: &dyn Fn(&str) -> bool,
    mut want: impl FnMut(u64) -> bool,
    mut each: impl FnMut(StoredSample),
) -> Result<(), StoreError> {
    let what = |e| StoreError::sql("reading stored samples", e);
    let mut stmt = head_rows(conn)?;
    let head = stmt
        .query_map(params![host_id, bound(from_ms), bound(to_ms)], |r| {
            let body: Option<Vec<u8>> = r.get(13)?;
            Ok(match body {
                Some(body) => Lazy::Head {
                    key: (
                        r.get::<_, i64>(2)? as u64,
                        r.get(0)?,
                        r.get::<_, i64>(1)? as u64,
                    ),
                    rates: r.get(12)?,
                    body,
                },
                None => Lazy::Whole(Box::new(head_sample(r)?)),
            })
        })
        .map_err(what)?
        .map(|r| r.map_err(what));
    let decode = |body: &[u8]| -> Result<Vec<Lazy>, StoreError> {
        let (n_rows, columns) = chunk_columns(body)?;
        let identity = |path: &str| matches!(path, "run" | "sample.ts_ms" | "sample.seq");
        let columns: Vec<codec::Column> = columns
            .into_iter()
            .filter(|(path, _)| identity(path) || keep_path(path))
            .collect();
        let mut keys: Vec<Key> = vec![(0, 0, 0); n_rows];
        for (path, cells) in &columns {
            let cells = keys.iter_mut().zip(cells);
            match path.as_str() {
                "sample.ts_ms" => cells.for_each(|(k, c)| k.0 = number_u64(c)),
                "run" => cells.for_each(|(k, c)| k.1 = number_i64(c)),
                "sample.seq" => cells.for_each(|(k, c)| k.2 = number_u64(c)),
                _ => {}
            }
        }
        let columns = Rc::new(columns);
        Ok(keys
            .into_iter()
            .enumerate()
            .map(|(index, key)| Lazy::Chunk {
                key,
                index,
                columns: Rc::clone(&columns),
            })
            .collect())
    };
    merge(
        conn,
        host_id,
        (from_ms, to_ms),
        head,
        Lazy::key,
        decode,
        &mut |lazy: Lazy| {
            if want(lazy.key().0) {
                if let Some(sample) = lazy.into_sample() {
                    each(sample);
                }
            }
        },
    )
}

/// A stored sample not decoded yet: its identity, and what decoding it takes.
enum Lazy {
    /// A head row; its JSON body is parsed only when wanted.
    Head {
        key: Key,
        rates: String,
        body: Vec<u8>,
    },
    /// A head row written before schema 4, rebuilt from its columns at once.
    Whole(Box<StoredSample>),
    /// Row `index` of a chunk's (kept) columns.
    Chunk {
        key: Key,
        index: usize,
        columns: Rc<Vec<codec::Column>>,
    },
}

impl Lazy {
    fn key(&self) -> Key {
        match self {
            Lazy::Head { key, .. } | Lazy::Chunk { key, .. } => *key,
            Lazy::Whole(s) => s.key(),
        }
    }

    fn into_sample(self) -> Option<StoredSample> {
        match self {
            Lazy::Head {
                key: (_, run, _),
                rates,
                body,
            } => Some(StoredSample {
                run,
                rates: serde_json::from_str(&rates).unwrap_or_default(),
                sample: crate::body::decode(&body)?,
            }),
            Lazy::Whole(sample) => Some(*sample),
            Lazy::Chunk { index, columns, .. } => {
                StoredSample::deserialize(&codec::row(&columns, index)).ok()
            }
        }
    }
}

/// A chunk cell as an unsigned integer (0 when missing or not one).
fn number_u64(cell: &Option<Value>) -> u64 {
    cell.as_ref().and_then(Value::as_u64).unwrap_or(0)
}

/// A chunk cell as a signed integer (0 when missing or not one).
fn number_i64(cell: &Option<Value>) -> i64 {
    cell.as_ref().and_then(Value::as_i64).unwrap_or(0)
}

/// Bounds past i64 (never stored: ingest refuses far-future times) clamp to the largest.
pub fn bound(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// What identifies a stored sample in a read: `(ts_ms, run, seq)`. Chunks and the head
/// both hold a host's samples in this order.
pub type Key = (u64, i64, u64);

/// Emits the chunk rows of `host_id` in `from..=to` (each chunk decoded by `decode`, one
/// at a time) merged by [`Key`] with `head`, a stream of head rows in that order. A head
/// row with the key of a chunk row is the same sample, moved into the chunk and not swept
/// yet ([`sweep::step`]): it is emitted once, from the chunk.
pub fn merge<T>(
    conn: &Connection,
    host_id: i64,
    (from_ms, to_ms): (u64, u64),
    head: impl Iterator<Item = Result<T, StoreError>>,
    key: impl Fn(&T) -> Key,
    decode: impl Fn(&[u8]) -> Result<Vec<T>, StoreError>,
    each: &mut impl FnMut(T),
) -> Result<(), StoreError> {
    let what = |e| StoreError::sql("reading chunks", e);
    let mut head = head.peekable();
    let mut stmt = conn
        .prepare_cached(
            "SELECT body FROM chunks WHERE host_id = ?1 AND start_ms <= ?3 AND end_ms >= ?2
             ORDER BY start_ms",
        )
        .map_err(what)?;
    let mut chunks = stmt
        .query(params![host_id, bound(from_ms), bound(to_ms)])
        .map_err(what)?;
    while let Some(row) = chunks.next().map_err(what)? {
        let body: Vec<u8> = row.get(0).map_err(what)?;
        for row in decode(&body)? {
            let k = key(&row);
            if k.0 < from_ms || k.0 > to_ms {
                continue;
            }
            while let Some(next) = head.next_if(|h| h.as_ref().map_or(true, |h| key(h) <= k)) {
                let next = next?;
                if key(&next) != k {
                    each(next);
                }
            }
            each(row);
        }
    }
    for next in head {
        each(next?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::tests::{count, db};

    const T0: u64 = 1_700_000_000_000 - 1_700_000_000_000 % 3_600_000;

    fn insert(conn: &Connection, seq: i64, ts_ms: u64) {
        // compaction looks for head rows of the hosts listed, as the writer lists them
        conn.execute(
            "INSERT OR IGNORE INTO hosts (id, name) VALUES (1, 'h1')",
            [],
        )
        .unwrap();
        let sample = Sample {
            seq: seq as u64,
            ts_ms,
            uptime_seconds: 100.0 + seq as f64,
            ..Sample::default()
        };
        conn.execute(
            "INSERT INTO samples (run, seq, host_id, ts_ms, cpu, cores, mem_used, mem_total,
             swap_used, swap_total, load1, load5, load15, networks, body)
             VALUES (1, ?1, 1, ?2, 0.5, '[]', 0, 0, 0, 0, 0, 0, 0, '[]', ?3)",
            params![seq, ts_ms as i64, serde_json::to_vec(&sample).unwrap()],
        )
        .unwrap();
    }

    fn compact_all(conn: &mut Connection, now_ms: u64) -> (usize, bool) {
        compact(
            conn,
            now_ms,
            &WriteGate::default(),
            &mut DueBlocks::default(),
            |_| true,
        )
        .unwrap()
    }

    fn all(conn: &Connection) -> Vec<u64> {
        let mut seqs = Vec::new();
        each_sample(conn, 1, 0, u64::MAX, |s| seqs.push(s.sample.seq)).unwrap();
        seqs
    }

    #[test]
    fn ended_blocks_move_to_chunks_and_read_back_merged_with_the_head() {
        let mut conn = db();
        for seq in 1..=700 {
            insert(&conn, seq, T0 + seq as u64 * 1000);
        }
        // The first block (seq 1..=599) ended, but not GRACE_MS ago: nothing moves.
        compact_all(&mut conn, T0 + BLOCK_MS + GRACE_MS - 1);
        assert_eq!(count(&conn, "chunks"), 0);
        let (done, more) = compact_all(&mut conn, T0 + BLOCK_MS + GRACE_MS);
        assert_eq!((done, more), (1, false));
        assert_eq!(count(&conn, "samples"), 101);
        assert_eq!(all(&conn), (1..=700).collect::<Vec<_>>());
        assert_eq!(horizon(&conn).unwrap(), T0 + 599_000);
        assert!(holds(&conn, 1, 599).unwrap());
        assert!(!holds(&conn, 1, 600).unwrap());
        // A late sample of the compacted block merges into its chunk; a duplicate does not.
        insert(&conn, 1000, T0 + 500);
        insert(&conn, 5, T0 + 5_000);
        compact_all(&mut conn, T0 + BLOCK_MS + GRACE_MS);
        let seqs = all(&conn);
        assert_eq!(seqs.len(), 701);
        assert_eq!(seqs[0], 1000);
        let n: i64 = conn
            .query_row("SELECT n FROM chunks", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 600);
        let mut uptimes = Vec::new();
        each_sample(&conn, 1, T0 + 10_000, T0 + 10_000, |s| {
            uptimes.push(s.sample.uptime_seconds)
        })
        .unwrap();
        assert_eq!(uptimes, [110.0]);
    }

    #[test]
    fn samples_waiting_for_remote_write_stay_in_the_head() {
        let mut conn = db();
        for seq in 1..=3 {
            insert(&conn, seq, T0 + seq as u64 * 1000);
        }
        let id: i64 = conn
            .query_row("SELECT id FROM samples WHERE seq = 2", [], |r| r.get(0))
            .unwrap();
        crate::delivery::log(&conn, id, 1, 2, (T0 + 2000) as i64).unwrap();
        compact_all(&mut conn, T0 + 10 * BLOCK_MS);
        let head: i64 = conn
            .query_row("SELECT seq FROM samples", [], |r| r.get(0))
            .unwrap();
        assert_eq!(head, 2);
        assert_eq!(all(&conn), [1, 2, 3]);
    }

    #[test]
    fn rows_from_before_schema_4_are_rebuilt_from_their_columns() {
        let mut conn = db();
        conn.execute(
            "INSERT INTO samples (run, seq, host_id, ts_ms, cpu, cores, mem_used, mem_total,
             swap_used, swap_total, load1, load5, load15, networks)
             VALUES (1, 1, 1, ?1, 0.25, '[0.5]', 10, 100, 1, 2, 0.5, 0.25, 0.75,
             '[{\"device\":\"eth0\",\"rx_bytes_per_second\":5.0,\"tx_bytes_per_second\":1.0}]')",
            params![T0 as i64],
        )
        .unwrap();
        compact_all(&mut conn, T0 + 10 * BLOCK_MS);
        let mut got = Vec::new();
        each_sample(&conn, 1, 0, u64::MAX, |s| got.push(s)).unwrap();
        let p = got[0].point();
        assert_eq!((p.cpu_ratio, p.cores.clone()), (0.25, vec![0.5]));
        assert_eq!(
            (p.mem_used_bytes, p.swap_total_bytes, p.load15),
            (10.0, 2.0, 0.75)
        );
        assert_eq!(p.networks[0].rx_bytes_per_second, 5.0);
    }

    #[test]
    fn a_swap_is_refused_when_its_rows_changed_under_the_encoding() {
        let mut conn = db();
        for seq in 1..=3 {
            insert(&conn, seq, T0 + seq as u64 * 1000);
        }
        // Retention (or a purge) deletes a row while the block is being encoded.
        let prepared = prepare(&conn, 1, T0).unwrap().unwrap();
        conn.execute("DELETE FROM samples WHERE seq = 2", [])
            .unwrap();
        assert!(!swap(&mut conn, &prepared).unwrap());
        assert_eq!((count(&conn, "chunks"), count(&conn, "samples")), (0, 2));
        // Another pass moves what is left.
        let (done, _) = compact_all(&mut conn, T0 + 10 * BLOCK_MS);
        assert_eq!(done, 1);
        assert_eq!(all(&conn), [1, 3]);
        // The chunk is rewritten under a late sample's encoding: that one is refused too.
        insert(&conn, 4, T0 + 4_000);
        let late = prepare(&conn, 1, T0).unwrap().unwrap();
        insert(&conn, 5, T0 + 5_000);
        let first = prepare(&conn, 1, T0).unwrap().unwrap();
        assert!(swap(&mut conn, &first).unwrap());
        assert!(!swap(&mut conn, &late).unwrap(), "its chunk is gone");
        assert_eq!(all(&conn), [1, 3, 4, 5]);
        sweep::sweep(&mut conn, &WriteGate::default(), T0).unwrap();
        assert_eq!(count(&conn, "samples"), 0);
    }

    #[test]
    fn a_sample_committed_during_the_encoding_stays_in_the_head_for_the_next_pass() {
        let mut conn = db();
        insert(&conn, 1, T0 + 1_000);
        let prepared = prepare(&conn, 1, T0).unwrap().unwrap();
        insert(&conn, 2, T0 + 2_000);
        assert!(swap(&mut conn, &prepared).unwrap());
        assert_eq!(
            count(&conn, "samples"),
            2,
            "the swap leaves the head rows to the sweep"
        );
        assert_eq!(all(&conn), [1, 2], "read once each, from chunk and head");
        sweep::sweep(&mut conn, &WriteGate::default(), T0).unwrap();
        assert_eq!(
            count(&conn, "samples"),
            1,
            "the one the chunk does not hold stays"
        );
        assert_eq!(all(&conn), [1, 2]);
        compact_all(&mut conn, T0 + 10 * BLOCK_MS);
        assert_eq!((count(&conn, "samples"), all(&conn)), (0, vec![1, 2]));
    }

    /// Between a block's swap and its sweep every sample is in both forms: each reader
    /// (whole samples, wanted samples, history points) still takes it once, late rows
    /// that only the head holds included.
    #[test]
    fn every_reader_takes_a_sample_in_both_forms_once() {
        let mut conn = db();
        for seq in 1..=5 {
            insert(&conn, seq, T0 + seq as u64 * 1000);
        }
        let prepared = prepare(&conn, 1, T0).unwrap().unwrap();
        insert(&conn, 6, T0 + 6_000);
        assert!(swap(&mut conn, &prepared).unwrap());
        assert_eq!(count(&conn, "samples"), 6);
        assert_eq!(all(&conn), [1, 2, 3, 4, 5, 6]);
        let mut wanted = Vec::new();
        each_wanted_sample(
            &conn,
            1,
            (0, u64::MAX),
            &|_| true,
            |_| true,
            |s| wanted.push(s.sample.seq),
        )
        .unwrap();
        assert_eq!(wanted, [1, 2, 3, 4, 5, 6]);
        let points = crate::query::raw_points(&conn, 1, 0, u64::MAX).unwrap();
        let times: Vec<u64> = points.iter().map(|p| (p.ts_ms - T0) / 1000).collect();
        assert_eq!(times, [1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn a_pass_stops_when_its_budget_says_so_and_reports_more() {
        let mut conn = db();
        for block in 0..3 {
            insert(&conn, block + 1, T0 + block as u64 * BLOCK_MS);
        }
        let gate = WriteGate::default();
        let now = T0 + 10 * BLOCK_MS;
        let mut asked = Vec::new();
        let mut due = DueBlocks::default();
        let (done, more) = compact(&mut conn, now, &gate, &mut due, |done| {
            asked.push(done);
            done < 2
        })
        .unwrap();
        // The first block moves whatever the budget; sweeping it is asked for as the work
        // of a second block, which the budget refuses.
        assert_eq!((done, more, asked), (1, true, vec![0, 2]));
        assert_eq!(count(&conn, "samples"), 3, "moved, not swept yet");
        assert_eq!(
            compact(&mut conn, now, &gate, &mut due, |_| true).unwrap(),
            (2, false)
        );
        assert_eq!(count(&conn, "chunks"), 3);
        assert_eq!(count(&conn, "samples"), 0);
    }
}
