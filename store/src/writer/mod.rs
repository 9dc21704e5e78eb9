//! The writer thread: the code that writes the database, but for compaction.
//!
//! It takes everything queued, writes it in one transaction ([`commit`]), then tells each
//! sample's waiter whether it committed. Between batches it writes finished rollups
//! ([`rollups`]) and the rollups of closed hours ([`hours`]), throttled host rows
//! ([`host_rows`]) and deletes expired rows in small chunks ([`retention`]), each in
//! bounded passes, so maintenance never holds the write lock for long and ingest keeps
//! flowing. Moving ended blocks of the head into compressed chunks, the largest job, runs
//! on a thread of its own ([`compaction`]) whose only write is a short swap taken under
//! the [`WriteGate`] between two of this thread's transactions. This file is only the loop
//! that decides when each job runs.

mod cache;
mod commit;
pub(crate) mod compaction;
mod forget;
mod host_rows;
pub(crate) mod hours;
mod ids;
mod retention;
mod rollups;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::{CursorChange, Forgotten, Record, StoreConfig, StoreError};
use cache::CacheSize;
use host_rows::HostRows;
pub(crate) use host_rows::HOST_ROW_EVERY;
use ids::Ids;
use retention::{Cutoffs, PRUNE_CHUNK};
use rollups::Rollups;

/// Longest a sample waits for others to share its transaction. Bounds the ack delay this
/// adds, and turns a thousand small commits a second into about ten. Each commit costs
/// far more than its rows (an fsync, the partly filled pages written again, a burst of
/// wake-ups for the connections it acks): at 1,000 edges 100 ms took 3-6 % less server
/// CPU per sample than 50 ms. Longer would save more (250 ms another 4-8 %) but would
/// break the protocol's promise of an ack within 250 ms (`docs/protocol.md`).
const BATCH_WINDOW: Duration = Duration::from_millis(100);

/// Most samples written in one transaction.
const MAX_BATCH: usize = 5_000;

/// Pause before the next maintenance pass when one left work behind.
const MAINTENANCE_AGAIN: Duration = Duration::from_millis(200);

/// Most dirty minute rollups a periodic maintenance pass rebuilds: about 70 ms of the
/// writer's thread at 130-140 µs each, measured, so commits never wait long behind it.
/// A pass someone asked for (`Store::maintain`) rebuilds them all, as it always did.
const REBUILD_CHUNK: usize = 512;

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

/// Serialises this process's write transactions, the writer's and the compaction thread's
/// swaps, so neither meets the other as `SQLITE_BUSY` (whose handler sleeps in steps of
/// milliseconds): a commit waits at most for one short swap to finish.
#[derive(Clone, Default)]
pub struct WriteGate(Arc<parking_lot::Mutex<()>>);

impl WriteGate {
    /// Holds the gate until the guard is dropped.
    pub fn lock(&self) -> parking_lot::MutexGuard<'_, ()> {
        self.0.lock()
    }
}

/// Starts the writer on its own OS thread (SQLite calls block).
pub fn spawn(
    conn: Connection,
    rx: mpsc::Receiver<Command>,
    config: StoreConfig,
    errors: Arc<AtomicU64>,
    gate: WriteGate,
) -> Result<std::thread::JoinHandle<()>, StoreError> {
    let writer = Writer::new(conn, config, errors, gate)?;
    std::thread::Builder::new()
        .name("utizmon-store".into())
        .spawn(move || writer.run(rx))
        .map_err(|e| StoreError::Directory {
            dir: Default::default(),
            why: format!("starting the writer thread: {e}"),
        })
}

struct Writer {
    conn: Connection,
    config: StoreConfig,
    errors: Arc<AtomicU64>,
    ids: Ids,
    rollups: Rollups,
    host_rows: HostRows,
    cache: CacheSize,
    gate: WriteGate,
    /// When maintenance is next due: at once after start-up (so a restarted server
    /// catches up on compaction and retention), then every `maintenance_interval`, or at
    /// once again while a bounded pass left work behind.
    next_maintenance: Instant,
}

impl Writer {
    fn new(
        conn: Connection,
        config: StoreConfig,
        errors: Arc<AtomicU64>,
        gate: WriteGate,
    ) -> Result<Writer, StoreError> {
        let mut rollups = Rollups::new((config.clock)());
        rollups.recover(&conn)?;
        Ok(Writer {
            conn,
            config,
            errors,
            ids: Ids::default(),
            rollups,
            host_rows: HostRows::default(),
            cache: CacheSize::default(),
            gate,
            next_maintenance: Instant::now(),
        })
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
            let wait = self
                .next_maintenance
                .saturating_duration_since(Instant::now());
            let first = match recv_timeout(&runtime, &mut rx, wait) {
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
                        let _writing = self.gate.lock();
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
            // Everything below writes; a compaction swap waits until it is done.
            let gate = self.gate.clone();
            let _writing = gate.lock();
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
            if !maintain.is_empty() || Instant::now() >= self.next_maintenance {
                let rebuild = if maintain.is_empty() {
                    REBUILD_CHUNK
                } else {
                    usize::MAX
                };
                let result = self.maintain(rebuild);
                // More left (a full retention chunk, hours still due): come back soon,
                // not a whole interval later, but leave most of the time to ingest.
                self.next_maintenance = match result {
                    Ok(true) => Instant::now() + MAINTENANCE_AGAIN,
                    _ => Instant::now() + self.config.maintenance_interval,
                };
                let result = result.map(drop).map_err(|e| {
                    self.failed("maintaining history", &e);
                    Arc::new(e)
                });
                for done in maintain {
                    let _ = done.send(result.clone());
                }
            }
            if let Some(done) = stop {
                // Persist what only lives in memory: open rollups, the minutes still to be
                // rebuilt, and unwritten host rows.
                let now = (self.config.clock)();
                let saved = self
                    .rollups
                    .flush(&mut self.conn, now, true)
                    .and_then(|()| self.rollups.rebuild(&mut self.conn, usize::MAX))
                    .and_then(|_| self.host_rows.write(&mut self.conn, Instant::now(), true));
                if let Err(e) = saved {
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
        let records = batch.iter().map(|(record, _)| record.as_ref());
        let inserted = match commit::write_batch(
            &mut self.conn,
            &mut self.ids,
            records,
            self.config.commit_log,
        ) {
            Ok(inserted) => inserted,
            Err(e) => {
                // The transaction rolled back: forget ids it may have created.
                self.ids.clear();
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
                self.rollups.account(host_id, &record.point);
                self.host_rows.observe(host_id, record);
            }
        }
        // The samples are safe whatever happens here; a failure only delays the host rows.
        if let Err(e) = self.host_rows.write(&mut self.conn, Instant::now(), false) {
            self.failed("updating host rows", &e);
        }
        if let Err(e) = self.cache.fit(&self.conn, self.ids.hosts()) {
            self.failed("sizing the page cache", &e);
        }
    }

    fn failed(&self, what: &str, e: &StoreError) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        tracing::error!(error = %e, "{what} failed; edges keep unacknowledged samples");
    }

    /// Forgets a host in the database, then drops what this writer keeps of it.
    fn forget(&mut self, host: &str, purge: bool) -> Result<Forgotten, StoreError> {
        let (forgotten, host_id) = forget::forget(&mut self.conn, host, purge)?;
        if let Some(host_id) = host_id {
            // Unwritten host-row updates must not bring the host back.
            self.host_rows.forget_host(host_id);
            if purge {
                self.ids.forget_host(host_id);
                self.rollups.forget_host(host_id);
            }
        }
        Ok(forgotten)
    }

    /// Writes finished rollups, rebuilds up to `rebuild` dirty ones, builds closed hours,
    /// then deletes expired rows; returns whether work is left for another pass.
    fn maintain(&mut self, rebuild: usize) -> Result<bool, StoreError> {
        let now = (self.config.clock)();
        self.rollups.flush(&mut self.conn, now, false)?;
        let more_minutes = self.rollups.rebuild(&mut self.conn, rebuild)?;
        let cutoffs = Cutoffs::at(now, &self.config);
        let more_hours = hours::pass(&mut self.conn, now, cutoffs.rollup_ms)?;
        self.host_rows
            .write(&mut self.conn, Instant::now(), false)?;
        let more = retention::prune(&self.conn, cutoffs, PRUNE_CHUNK)?;
        Ok(more || more_hours || more_minutes)
    }
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

#[cfg(test)]
pub(crate) mod tests {
    //! Fixtures shared by the writer's unit tests.

    use std::sync::Arc;

    use rusqlite::{params, Connection};
    use utizmon_protocol::Sample;

    use crate::{Point, Record};

    /// An empty database at the current schema.
    pub fn db() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::schema::migrate(&mut conn, 0).unwrap();
        conn
    }

    /// Rows in `table`.
    pub fn count(conn: &Connection, table: &str) -> i64 {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }

    /// A raw point at `ts_ms` with CPU `cpu`.
    pub fn point(ts_ms: u64, cpu: f64) -> Point {
        Point {
            ts_ms,
            cpu_ratio: cpu,
            cpu_ratio_min: cpu,
            cpu_ratio_max: cpu,
            n: 1,
            ..Point::default()
        }
    }

    /// Inserts a raw row of host 1, run 1 directly.
    pub fn insert_point(conn: &Connection, seq: i64, p: &Point) {
        conn.execute(
            "INSERT INTO samples (run, seq, host_id, ts_ms, cpu, cores, mem_used, mem_total,
             swap_used, swap_total, load1, load5, load15, networks)
             VALUES (1, ?1, 1, ?2, ?3, '[]', 0, 0, 0, 0, 0, 0, 0, '[]')",
            params![seq, p.ts_ms as i64, p.cpu_ratio],
        )
        .unwrap();
    }

    /// A record of `host`, edge run `run`.
    pub fn record_of(host: &str, run: &str, seq: u64, ts_ms: u64) -> Record {
        Record {
            host: host.into(),
            run_id: run.into(),
            frame: None,
            info: None,
            interval_ms: 1000,
            sample: Arc::new(Sample {
                seq,
                ts_ms,
                ..Sample::default()
            }),
            point: point(ts_ms, 0.5),
        }
    }

    /// A record of host `h`, run `r`.
    pub fn record(seq: u64, ts_ms: u64) -> Record {
        record_of("h", "r", seq, ts_ms)
    }
}
