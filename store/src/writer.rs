//! The writer thread: the only code that writes the database.
//!
//! It takes everything queued, writes it in one transaction, then tells each sample's
//! waiter whether it committed. Between batches it rebuilds the rollups of minutes that
//! received samples and deletes expired rows in small chunks, so maintenance never holds
//! the write lock for long and ingest keeps flowing.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::{mpsc, oneshot};

use crate::point::{Bucket, Point, MINUTE_MS};
use crate::{delivery, query, CursorChange, Forgotten, Record, StoreConfig, StoreError};

/// Longest a sample waits for others to share its transaction. Bounds the ack delay this
/// adds, and turns a thousand small commits a second into a few dozen.
const BATCH_WINDOW: Duration = Duration::from_millis(50);

/// Most samples written in one transaction.
const MAX_BATCH: usize = 5_000;

/// Most rows one retention pass deletes per table before letting writes through again.
const PRUNE_CHUNK: usize = 20_000;

/// Answers one append or maintenance request.
pub type Done = oneshot::Sender<Result<(), Arc<StoreError>>>;

/// Work for the writer thread.
pub enum Command {
    Append(Box<Record>, Done),
    Maintain(Done),
    /// Move or forget remote-write cursors.
    Cursors(CursorChange, Done),
    /// Forget a host, deleting its history when `purge` (see `Store::forget`).
    Forget {
        host: String,
        purge: bool,
        done: oneshot::Sender<Result<Forgotten, Arc<StoreError>>>,
    },
    Stop(oneshot::Sender<()>),
}

/// Starts the writer on its own OS thread (SQLite calls block).
pub fn spawn(
    conn: Connection,
    rx: mpsc::Receiver<Command>,
    config: StoreConfig,
    errors: Arc<AtomicU64>,
) -> Result<std::thread::JoinHandle<()>, StoreError> {
    std::thread::Builder::new()
        .name("utizmon-store".into())
        .spawn(move || Writer::new(conn, config, errors).run(rx))
        .map_err(|e| StoreError::Directory {
            dir: Default::default(),
            why: format!("starting the writer thread: {e}"),
        })
}

struct Writer {
    conn: Connection,
    config: StoreConfig,
    errors: Arc<AtomicU64>,
    host_ids: HashMap<Arc<str>, i64>,
    run_ids: HashMap<(i64, Arc<str>), i64>,
    /// Rollups being accumulated in memory as samples are written, by (host id, minute).
    open: HashMap<(i64, u64), OpenMinute>,
    /// Per host: the newest minute written, and the newest minute whose rollup was flushed.
    minutes: HashMap<i64, HostMinutes>,
    /// (host id, minute start) whose rollup must be rebuilt from raw rows: a late sample
    /// arrived after the minute was flushed.
    dirty: BTreeSet<(i64, u64)>,
    /// Minute in which this writer started; earlier minutes may hold rows written before.
    start_minute: u64,
    /// Per host: the last sample and when the host row was last updated with one.
    latest: HashMap<i64, Latest>,
    last_maintenance: Instant,
}

/// A minute's rollup built from the samples this writer inserted.
struct OpenMinute {
    bucket: Bucket,
    /// The minute may also hold rows this writer did not insert (it began before the
    /// writer started): its rollup is rebuilt from the table instead.
    rebuild: bool,
}

#[derive(Default)]
struct HostMinutes {
    newest: u64,
    flushed_through: Option<u64>,
}

/// The newest sample of a host and whether the `hosts` row has it yet.
struct Latest {
    record: Box<Record>,
    /// When the host row was last written; `None`: never by this writer.
    written_at: Option<Instant>,
    /// `record` is newer than the host row.
    unwritten: bool,
}

/// How often at most a host's row (last sample, for listing after a restart) is rewritten.
const HOST_ROW_EVERY: Duration = Duration::from_secs(30);

impl Writer {
    fn new(conn: Connection, config: StoreConfig, errors: Arc<AtomicU64>) -> Writer {
        let start_minute = minute_of((config.clock)());
        Writer {
            conn,
            config,
            errors,
            host_ids: HashMap::new(),
            run_ids: HashMap::new(),
            open: HashMap::new(),
            minutes: HashMap::new(),
            dirty: BTreeSet::new(),
            start_minute,
            latest: HashMap::new(),
            last_maintenance: Instant::now(),
        }
    }

    fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
        {
            Ok(runtime) => runtime,
            Err(e) => {
                tracing::error!(error = %e, "cannot start the history writer's timer");
                return;
            }
        };
        let mut batch = Vec::with_capacity(256);
        loop {
            // Wake at least once per maintenance interval even when idle.
            let first = match recv_timeout(&runtime, &mut rx, self.config.maintenance_interval) {
                Recv::Command(cmd) => Some(cmd),
                Recv::Timeout => None,
                Recv::Closed => break,
            };
            let mut stop = None;
            let mut forget = None;
            let mut maintain = Vec::new();
            let mut next = first;
            let window_end = Instant::now() + BATCH_WINDOW;
            while let Some(cmd) = next.take() {
                match cmd {
                    Command::Append(record, done) => batch.push((record, done)),
                    Command::Maintain(done) => maintain.push(done),
                    // Outside any batch: it only names samples already committed.
                    Command::Cursors(change, done) => {
                        let result = change.apply(&self.conn).map_err(|e| {
                            self.failed("moving a remote-write cursor", &e);
                            Arc::new(e)
                        });
                        let _ = done.send(result);
                    }
                    Command::Stop(done) => {
                        stop = Some(done);
                        break;
                    }
                    // Runs after the samples queued before it are committed.
                    Command::Forget { host, purge, done } => {
                        forget = Some((host, purge, done));
                        break;
                    }
                }
                if batch.len() >= MAX_BATCH {
                    break;
                }
                // Take whatever else is queued; once samples are waiting, sleep out the
                // batch window and then take what came meanwhile, so one commit (and one
                // fsync) covers many. Sleeping rather than waking per arrival spares a
                // thread switch per sample, the largest cost at a thousand edges.
                next = rx.try_recv().ok();
                if next.is_none() && !batch.is_empty() {
                    let left = window_end.saturating_duration_since(Instant::now());
                    if !left.is_zero() {
                        std::thread::sleep(left);
                        next = rx.try_recv().ok();
                    }
                }
            }
            if !batch.is_empty() {
                self.commit_batch(&mut batch);
            }
            if let Some((host, purge, done)) = forget {
                let result = self.forget(&host, purge).map_err(|e| {
                    self.failed("forgetting a host", &e);
                    Arc::new(e)
                });
                let _ = done.send(result);
            }
            if !maintain.is_empty()
                || self.last_maintenance.elapsed() >= self.config.maintenance_interval
            {
                let result = self.maintain().map_err(|e| {
                    self.failed("maintaining history", &e);
                    Arc::new(e)
                });
                self.last_maintenance = Instant::now();
                for done in maintain {
                    let _ = done.send(result.clone());
                }
            }
            if let Some(done) = stop {
                // Persist what only lives in memory: open rollups and unwritten host rows.
                if let Err(e) = self
                    .flush_minutes(true)
                    .and_then(|()| self.write_hosts(true))
                {
                    self.failed("saving history at shutdown", &e);
                }
                let _ = done.send(());
                break;
            }
        }
        tracing::debug!("history writer stopped");
    }

    /// Writes a batch in one transaction and answers every waiter.
    fn commit_batch(&mut self, batch: &mut Vec<(Box<Record>, Done)>) {
        let inserted = match self.write(batch) {
            Ok(inserted) => inserted,
            Err(e) => {
                // The transaction rolled back: forget ids it may have created.
                self.host_ids.clear();
                self.run_ids.clear();
                self.failed("writing samples", &e);
                let e = Arc::new(e);
                for (_, done) in batch.drain(..) {
                    let _ = done.send(Err(e.clone()));
                }
                return;
            }
        };
        // Committed: answer every waiter, then move the new samples into the rollups.
        let mut inserted = inserted.into_iter().peekable();
        for (i, (record, done)) in batch.drain(..).enumerate() {
            let _ = done.send(Ok(()));
            if let Some((host_id, _)) = inserted.next_if(|&(_, at)| at == i) {
                self.account(host_id, record);
            }
        }
        // The samples are safe whatever happens here; a failure only delays the host rows.
        if let Err(e) = self.write_hosts(false) {
            self.failed("updating host rows", &e);
        }
    }

    fn failed(&self, what: &str, e: &StoreError) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        tracing::error!(error = %e, "{what} failed; edges keep unacknowledged samples");
    }

    /// Writes a batch in one transaction; returns `(host id, index in batch)` of the samples
    /// that were new (not duplicates), in batch order.
    fn write(&mut self, batch: &[(Box<Record>, Done)]) -> Result<Vec<(i64, usize)>, StoreError> {
        let tx = self
            .conn
            .transaction()
            .map_err(|e| StoreError::sql("starting a transaction", e))?;
        // What this batch adds to the in-memory rollups, applied only after the commit.
        let mut inserted: Vec<(i64, usize)> = Vec::with_capacity(batch.len());
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO samples (run, seq, host_id, ts_ms, cpu, cores, mem_used,
                     mem_total, swap_used, swap_total, load1, load5, load15, networks)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                )
                .map_err(|e| StoreError::sql("preparing the sample insert", e))?;
            for (i, (record, _)) in batch.iter().enumerate() {
                let host_id = host_id(&tx, &mut self.host_ids, &record.host)?;
                let run = run_id(&tx, &mut self.run_ids, host_id, &record.run_id)?;
                let p = &record.point;
                let added = insert
                    .execute(params![
                        run,
                        record.sample.seq as i64,
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
                    ])
                    .map_err(|e| StoreError::sql("inserting a sample", e))?;
                // A duplicate (already stored) changes nothing and must not count twice.
                if added == 1 {
                    inserted.push((host_id, i));
                    if self.config.commit_log {
                        delivery::log(&tx, run, record.sample.seq as i64, p.ts_ms as i64)?;
                    }
                }
            }
        }
        tx.commit()
            .map_err(|e| StoreError::sql("committing samples", e))?;
        Ok(inserted)
    }

    /// Adds a committed sample to its minute's rollup and remembers it as the host's latest.
    fn account(&mut self, host_id: i64, record: Box<Record>) {
        let p = &record.point;
        let minute = minute_of(p.ts_ms);
        let minutes = self.minutes.entry(host_id).or_default();
        minutes.newest = minutes.newest.max(minute);
        if minutes.flushed_through.is_some_and(|f| f >= minute) {
            // Late: the minute's rollup is already written; rebuild it from the table.
            self.dirty.insert((host_id, minute));
        } else {
            let start_minute = self.start_minute;
            self.open
                .entry((host_id, minute))
                .or_insert_with(|| OpenMinute {
                    bucket: Bucket::new(minute),
                    rebuild: minute <= start_minute,
                })
                .bucket
                .add(p);
        }
        let newer = self
            .latest
            .get(&host_id)
            .is_none_or(|l| l.record.point.ts_ms <= p.ts_ms);
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

    /// Writes the `hosts` rows (last sample and info, for listing hosts after a restart):
    /// a host's first sample at once, then at most every [`HOST_ROW_EVERY`]; all when `all`.
    fn write_hosts(&mut self, all: bool) -> Result<(), StoreError> {
        let due: Vec<i64> = self
            .latest
            .iter()
            .filter(|(_, l)| {
                l.unwritten && (all || l.written_at.is_none_or(|t| t.elapsed() >= HOST_ROW_EVERY))
            })
            .map(|(&id, _)| id)
            .collect();
        if due.is_empty() {
            return Ok(());
        }
        let tx = self
            .conn
            .transaction()
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
        let now = Instant::now();
        for host_id in due {
            if let Some(latest) = self.latest.get_mut(&host_id) {
                latest.written_at = Some(now);
                latest.unwritten = false;
            }
        }
        Ok(())
    }

    /// Unlists `host` (clears its row and sets the [`query::FORGOTTEN`] mark, which
    /// [`query::hosts`] skips until the host's next sample rewrites the row) or, with `purge`,
    /// deletes it and its history in one transaction; drops what this writer caches of it.
    fn forget(&mut self, host: &str, purge: bool) -> Result<Forgotten, StoreError> {
        let tx = self
            .conn
            .transaction()
            .map_err(|e| StoreError::sql("starting to forget a host", e))?;
        let host_id: Option<i64> = tx
            .query_row("SELECT id FROM hosts WHERE name = ?1", params![host], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| StoreError::sql("looking up a host", e))?;
        let Some(host_id) = host_id else {
            return Ok(Forgotten::default());
        };
        let mut forgotten = Forgotten {
            known: true,
            ..Forgotten::default()
        };
        let delete = |sql: &str| {
            tx.execute(sql, params![host_id])
                .map(|n| n as u64)
                .map_err(|e| StoreError::sql("deleting a host's history", e))
        };
        if purge {
            forgotten.samples = delete("DELETE FROM samples WHERE host_id = ?1")?;
            forgotten.rollups = delete("DELETE FROM rollups WHERE host_id = ?1")?;
            delete("DELETE FROM runs WHERE host_id = ?1")?;
            delete("DELETE FROM hosts WHERE id = ?1")?;
        } else {
            tx.execute(
                "UPDATE hosts SET info = NULL, latest = NULL, interval_ms = ?2,
                 last_seen_ms = NULL WHERE id = ?1",
                params![host_id, query::FORGOTTEN],
            )
            .map_err(|e| StoreError::sql("unlisting a host", e))?;
        }
        tx.commit()
            .map_err(|e| StoreError::sql("committing a forgotten host", e))?;
        // Unwritten host-row updates must not bring the host back.
        self.latest.remove(&host_id);
        if purge {
            self.host_ids.retain(|_, id| *id != host_id);
            self.run_ids.retain(|(id, _), _| *id != host_id);
            self.open.retain(|(id, _), _| *id != host_id);
            self.minutes.remove(&host_id);
            self.dirty.retain(|(id, _)| *id != host_id);
        }
        Ok(forgotten)
    }

    /// Writes finished rollups, rebuilds dirty ones, then deletes expired rows.
    fn maintain(&mut self) -> Result<(), StoreError> {
        self.flush_minutes(false)?;
        self.rebuild_rollups()?;
        self.write_hosts(false)?;
        self.prune()
    }

    /// Writes the rollups of finished minutes from memory (`all`: every open minute). A
    /// minute is finished once its host has sent a sample of a later minute, or two
    /// minutes after it ended (a host that went quiet). Queries read the last minutes
    /// from raw samples, so a minute still open is never missing from history.
    fn flush_minutes(&mut self, all: bool) -> Result<(), StoreError> {
        let now_minute = minute_of((self.config.clock)());
        let finished: Vec<(i64, u64)> = self
            .open
            .keys()
            .filter(|&&(host_id, minute)| {
                all || self
                    .minutes
                    .get(&host_id)
                    .is_some_and(|m| m.newest > minute)
                    || now_minute >= minute + 2 * MINUTE_MS
            })
            .copied()
            .collect();
        if finished.is_empty() {
            return Ok(());
        }
        let mut rollups = Vec::with_capacity(finished.len());
        for key in &finished {
            let Some(open) = self.open.remove(key) else {
                continue;
            };
            let minutes = self.minutes.entry(key.0).or_default();
            minutes.flushed_through = Some(minutes.flushed_through.map_or(key.1, |f| f.max(key.1)));
            match open.bucket.finish() {
                Some(rollup) if !open.rebuild => rollups.push((key.0, rollup)),
                _ => {
                    self.dirty.insert(*key);
                }
            }
        }
        let result = (|| {
            let tx = self
                .conn
                .transaction()
                .map_err(|e| StoreError::sql("starting the rollup transaction", e))?;
            for (host_id, rollup) in &rollups {
                upsert_rollup(&tx, *host_id, rollup)?;
            }
            tx.commit()
                .map_err(|e| StoreError::sql("committing rollups", e))
        })();
        if result.is_err() {
            // The raw rows are committed: rebuild these minutes from them next time.
            self.dirty
                .extend(rollups.iter().map(|(host_id, r)| (*host_id, r.ts_ms)));
        }
        result
    }

    /// Rebuilds the rollups of dirty minutes from the raw rows.
    fn rebuild_rollups(&mut self) -> Result<(), StoreError> {
        if self.dirty.is_empty() {
            return Ok(());
        }
        let dirty = std::mem::take(&mut self.dirty);
        let result = (|| {
            let tx = self
                .conn
                .transaction()
                .map_err(|e| StoreError::sql("starting the rollup transaction", e))?;
            for &(host_id, minute) in &dirty {
                let points = query::raw_points(&tx, host_id, minute, minute + MINUTE_MS - 1)?;
                let mut bucket = Bucket::new(minute);
                for p in &points {
                    bucket.add(p);
                }
                if let Some(r) = bucket.finish() {
                    upsert_rollup(&tx, host_id, &r)?;
                }
            }
            tx.commit()
                .map_err(|e| StoreError::sql("committing rollups", e))
        })();
        if result.is_err() {
            // Try again at the next maintenance.
            self.dirty.extend(dirty);
        }
        result
    }

    fn prune(&mut self) -> Result<(), StoreError> {
        let now = (self.config.clock)();
        let raw_cutoff = now.saturating_sub(self.config.raw_retention.as_millis() as u64);
        let rollup_cutoff = now.saturating_sub(self.config.rollup_retention.as_millis() as u64);
        let raw = self
            .conn
            .execute(
                "DELETE FROM samples WHERE (run, seq) IN
                 (SELECT run, seq FROM samples WHERE ts_ms < ?1 LIMIT ?2)",
                params![raw_cutoff as i64, PRUNE_CHUNK as i64],
            )
            .map_err(|e| StoreError::sql("deleting expired samples", e))?;
        let rollups = self
            .conn
            .execute(
                "DELETE FROM rollups WHERE (host_id, minute_ms) IN
                 (SELECT host_id, minute_ms FROM rollups WHERE minute_ms < ?1 LIMIT ?2)",
                params![rollup_cutoff as i64, PRUNE_CHUNK as i64],
            )
            .map_err(|e| StoreError::sql("deleting expired rollups", e))?;
        let log = delivery::prune(
            &self.conn,
            self.config.commit_log,
            raw_cutoff as i64,
            PRUNE_CHUNK,
        )?;
        if raw + rollups + log > 0 {
            tracing::debug!(raw, rollups, log, "pruned expired history");
        }
        // A full chunk means more is left: come back at the next wake-up, not next interval.
        if raw == PRUNE_CHUNK || rollups == PRUNE_CHUNK || log >= PRUNE_CHUNK {
            self.last_maintenance = Instant::now() - self.config.maintenance_interval;
        }
        Ok(())
    }
}

fn upsert_rollup(conn: &Connection, host_id: i64, r: &Point) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO rollups (host_id, minute_ms, n, cpu, cpu_min, cpu_max, cores,
         mem_used, mem_total, swap_used, swap_total, load1, load5, load15, networks)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            host_id,
            r.ts_ms as i64,
            r.n,
            r.cpu_ratio,
            r.cpu_ratio_min,
            r.cpu_ratio_max,
            serde_json::to_string(&r.cores).unwrap_or_else(|_| "[]".into()),
            r.mem_used_bytes,
            r.mem_total_bytes,
            r.swap_used_bytes,
            r.swap_total_bytes,
            r.load1,
            r.load5,
            r.load15,
            serde_json::to_string(&r.networks).unwrap_or_else(|_| "[]".into()),
        ])
    })
    .map(|_| ())
    .map_err(|e| StoreError::sql("writing a rollup", e))
}

fn host_id(
    conn: &Connection,
    cache: &mut HashMap<Arc<str>, i64>,
    name: &Arc<str>,
) -> Result<i64, StoreError> {
    if let Some(&id) = cache.get(name) {
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
    cache.insert(name.clone(), id);
    Ok(id)
}

fn run_id(
    conn: &Connection,
    cache: &mut HashMap<(i64, Arc<str>), i64>,
    host_id: i64,
    run: &Arc<str>,
) -> Result<i64, StoreError> {
    let key = (host_id, run.clone());
    if let Some(&id) = cache.get(&key) {
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
    cache.insert(key, id);
    Ok(id)
}

/// Start of the minute holding `ts_ms`.
fn minute_of(ts_ms: u64) -> u64 {
    ts_ms - ts_ms % MINUTE_MS
}

enum Recv {
    Command(Command),
    Timeout,
    Closed,
}

/// Blocking receive with a timeout, for a plain thread reading a tokio channel: a tiny
/// timer-only runtime parks the thread until a command or the deadline arrives.
fn recv_timeout(
    runtime: &tokio::runtime::Runtime,
    rx: &mut mpsc::Receiver<Command>,
    timeout: Duration,
) -> Recv {
    match runtime.block_on(async { tokio::time::timeout(timeout, rx.recv()).await }) {
        Ok(Some(cmd)) => Recv::Command(cmd),
        Ok(None) => Recv::Closed,
        Err(_) => Recv::Timeout,
    }
}
