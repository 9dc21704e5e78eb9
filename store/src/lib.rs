//! History that survives restarts: an embedded SQLite database (WAL) of raw samples and
//! per-minute and per-hour rollups, written by one dedicated thread in batched
//! transactions.
//!
//! The server hands every accepted sample to [`Store::append`] and acknowledges it to its
//! edge only when the returned [`Commit`] resolves, i.e. after the transaction holding it
//! is durable. Reads ([`Store::query`], [`Store::hosts`]) use their own connection, so they
//! never wait behind writes. The store knows nothing of WebSockets, HTTP or the fleet.

mod alerts;
mod body;
mod chunks;
mod codec;
mod delivery;
mod derived;
pub(crate) mod head;
mod point;
mod query;
mod schema;
mod sweep;
mod writer;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{mpsc, oneshot};
use writer::compaction;

pub use alerts::{AlertStore, Silence, StoredAlert, HISTORY_LIMIT};
pub use chunks::{decode_rows as decode_chunk, StoredSample, BLOCK_MS, GRACE_MS};
pub use delivery::{CursorChange, LogReader, LoggedSample};
pub use point::{bucketize, Bucketizer, NetRate, Point};
pub use query::{min_step_ms, source, step_ms, Source, MAX_POINTS, TARGET_POINTS};
pub use schema::SCHEMA_VERSION;
use utizmon_protocol::{HostInfo, Sample};

/// File name of the database inside `--data-dir`.
pub const DB_FILE: &str = "utizmon.sqlite3";

/// Appends waiting for the writer; when full, `append` waits, which slows the edges'
/// connections (their own buffers hold the samples) instead of growing memory.
const QUEUE_CAPACITY: usize = 20_000;

/// Returns the current time as Unix milliseconds; replaceable in tests.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The wall clock.
pub fn system_clock() -> Clock {
    Arc::new(utizmon_protocol::now_ms)
}

/// How the store is opened and maintained.
#[derive(Clone)]
pub struct StoreConfig {
    /// Directory holding the database; created if missing.
    pub dir: PathBuf,
    /// Raw samples (head rows and chunks) older than this are deleted.
    pub raw_retention: Duration,
    /// Per-minute rollups older than this are deleted.
    pub rollup_retention: Duration,
    /// Per-hour rollups older than this are deleted; longer than the minutes', so long
    /// ranges stay cheap to chart.
    pub hour_rollup_retention: Duration,
    /// How often rollups are brought up to date and retention is applied.
    pub maintenance_interval: Duration,
    /// Source of "now" for retention.
    pub clock: Clock,
    /// Log every committed sample for remote write (see [`LogReader`]); off, the log is
    /// emptied.
    pub commit_log: bool,
}

impl StoreConfig {
    /// Defaults: 48 h raw, 30 days of minute and 400 days of hour rollups, maintenance
    /// every 10 s.
    pub fn new(dir: impl Into<PathBuf>) -> StoreConfig {
        StoreConfig {
            dir: dir.into(),
            raw_retention: Duration::from_secs(48 * 3600),
            rollup_retention: Duration::from_secs(30 * 24 * 3600),
            hour_rollup_retention: Duration::from_secs(400 * 24 * 3600),
            maintenance_interval: Duration::from_secs(10),
            clock: system_clock(),
            commit_log: false,
        }
    }
}

/// Why the store could not open, write or read.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("data directory {dir}: {why}")]
    Directory { dir: PathBuf, why: String },
    #[error("{context}")]
    Sql {
        context: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("database schema version {found} is newer than this server supports ({supported}); run a newer utizmon-server")]
    TooNew { found: i64, supported: i64 },
    #[error("the history writer has stopped")]
    Closed,
    #[error("{0}")]
    Encode(#[from] serde_json::Error),
    #[error("a history chunk cannot be read: {0}")]
    Chunk(String),
    #[error("compressing a sample for the history: {0}")]
    Compress(std::io::Error),
}

impl StoreError {
    fn sql(context: impl Into<String>, source: rusqlite::Error) -> StoreError {
        StoreError::Sql {
            context: context.into(),
            source,
        }
    }
}

/// One accepted sample to persist.
#[derive(Debug, Clone)]
pub struct Record {
    /// Host name, as validated by the protocol.
    pub host: Arc<str>,
    /// Edge run id; with `seq` it identifies the sample.
    pub run_id: Arc<str>,
    /// Host info of the connection, stored with the host.
    pub info: Option<Arc<HostInfo>>,
    /// Announced sampling interval of the connection, ms.
    pub interval_ms: u64,
    /// The sample as received.
    pub sample: Arc<Sample>,
    /// The history point derived from it (with network rates).
    pub point: Point,
    /// The text of the `sample` frame that carried it, when it came off the wire: the
    /// writer stores the body from it rather than encoding `sample` again (see `body.rs`).
    pub frame: Option<bytes::Bytes>,
}

/// What the store remembers of a host, loaded at start-up so hosts known before a restart
/// are listed again (offline until they reconnect).
#[derive(Debug, Clone)]
pub struct StoredHost {
    pub name: String,
    pub info: Option<HostInfo>,
    pub latest: Option<Sample>,
    pub interval_ms: Option<u64>,
    pub last_seen_ms: Option<u64>,
}

/// What [`Store::forget`] removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Forgotten {
    /// Whether the store knew the host at all.
    pub known: bool,
    /// Raw samples deleted (0 without `purge`).
    pub samples: u64,
    /// Per-minute rollups deleted (0 without `purge`).
    pub rollups: u64,
}

/// Resolves when the transaction holding one appended sample has committed.
pub type Commit = oneshot::Receiver<Result<(), Arc<StoreError>>>;

/// Handle to the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    queue: mpsc::Sender<writer::Command>,
    compactor: std::sync::mpsc::Sender<compaction::Request>,
    reader: Arc<Mutex<Connection>>,
    errors: Arc<AtomicU64>,
    path: Arc<Path>,
    /// The writer's and the compaction thread's, joined by [`Store::close`].
    threads: Arc<Mutex<Vec<std::thread::JoinHandle<()>>>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating and migrating as needed) the database in `config.dir` and starts the
    /// writer thread. Fails with a message naming the directory when it is missing and
    /// cannot be created, is not writable, or holds a corrupt or newer database.
    pub fn open(config: StoreConfig) -> Result<Store, StoreError> {
        let dir = &config.dir;
        let dir_error = |why: String| StoreError::Directory {
            dir: dir.clone(),
            why,
        };
        std::fs::create_dir_all(dir).map_err(|e| dir_error(format!("cannot create it: {e}")))?;
        // SQLite would only fail at the first write; probe now so a read-only directory is
        // a start-up error, not a runtime surprise.
        let probe = dir.join(".utizmon-write-test");
        std::fs::write(&probe, b"ok").map_err(|e| dir_error(format!("not writable: {e}")))?;
        std::fs::remove_file(&probe).ok();

        let path: Arc<Path> = dir.join(DB_FILE).into();
        let mut conn = open_connection(&path, false)?;
        schema::migrate(&mut conn, (config.clock)())?;
        let reader = open_connection(&path, true)?;

        let (queue, rx) = mpsc::channel(QUEUE_CAPACITY);
        let errors = Arc::new(AtomicU64::new(0));
        let gate = writer::WriteGate::default();
        let (compactor, compacting) = compaction::spawn(
            &path,
            config.clock.clone(),
            config.maintenance_interval,
            gate.clone(),
            errors.clone(),
        )?;
        let writing = writer::spawn(conn, rx, config, errors.clone(), gate)?;
        Ok(Store {
            queue,
            compactor,
            reader: Arc::new(Mutex::new(reader)),
            errors,
            path,
            threads: Arc::new(Mutex::new(vec![compacting, writing])),
        })
    }

    /// Queues a sample for the next transaction; waits only when the queue is full.
    // The commit is meant to be awaited later, not by this future.
    #[allow(clippy::async_yields_async)]
    pub fn append(&self, record: Record) -> impl Future<Output = Commit> + '_ {
        // Boxed before the first await, not inside it: ingest keeps this future in each
        // edge connection's own, which would otherwise reserve room for a whole record.
        let (done, commit) = oneshot::channel();
        let command = writer::Command::Append(Box::new(record), done);
        async move {
            // `reserve` then `send` is what `Sender::send` does, without that future's
            // second copy of the command.
            match self.queue.reserve().await {
                Ok(permit) => permit.send(command),
                Err(_) => {
                    if let writer::Command::Append(_, done) = command {
                        let _ = done.send(Err(Arc::new(StoreError::Closed)));
                    }
                }
            }
            commit
        }
    }

    /// Runs one pass of every maintenance job now (tests, tools): rollups brought up to
    /// date, one bounded retention pass, and compaction until every due block is moved
    /// and swept (passes without rests between them, at most 10,000).
    pub async fn maintain(&self) -> Result<(), Arc<StoreError>> {
        let (done, rx) = oneshot::channel();
        self.queue
            .send(writer::Command::Maintain(done))
            .await
            .map_err(|_| Arc::new(StoreError::Closed))?;
        rx.await.map_err(|_| Arc::new(StoreError::Closed))??;
        let (done, rx) = oneshot::channel();
        self.compactor
            .send(compaction::Request::Pass(done))
            .map_err(|_| Arc::new(StoreError::Closed))?;
        rx.await.map_err(|_| Arc::new(StoreError::Closed))?
    }

    /// Forgets `host`: it is no longer listed by [`Store::hosts`] (so it stays gone after a
    /// restart) until it sends again. With `purge`, its samples, rollups and runs are deleted
    /// too; otherwise its history stays until retention removes it. Samples appended before
    /// this call are written first; a sample appended after it brings the host back.
    pub async fn forget(&self, host: &str, purge: bool) -> Result<Forgotten, Arc<StoreError>> {
        let (done, rx) = oneshot::channel();
        let command = writer::Command::Forget {
            host: host.to_owned(),
            purge,
            done,
        };
        self.queue
            .send(command)
            .await
            .map_err(|_| Arc::new(StoreError::Closed))?;
        rx.await.map_err(|_| Arc::new(StoreError::Closed))?
    }

    /// History of `host` between `from_ms` and `to_ms`, bucketed by `step_ms`: raw samples
    /// for steps under a minute while they are retained, minute rollups for wider steps,
    /// hour rollups for steps of an hour or more ([`query::source`]). At most
    /// [`MAX_POINTS`] points: a smaller step is raised to [`min_step_ms`].
    pub fn query(
        &self,
        host: &str,
        from_ms: u64,
        to_ms: u64,
        step_ms: u64,
    ) -> Result<Vec<Point>, StoreError> {
        let conn = self.reader.lock();
        query::points(&conn, host, from_ms, to_ms, step_ms)
    }

    /// Every value stored of `host` between `from_ms` and `to_ms`, oldest first: whole
    /// samples (every section the edge sent) from the head and the compacted chunks, at
    /// most `limit` of them. Floats read back from chunks carry the codec's precision
    /// (`docs/storage.md`).
    pub fn samples(
        &self,
        host: &str,
        from_ms: u64,
        to_ms: u64,
        limit: usize,
    ) -> Result<Vec<StoredSample>, StoreError> {
        let mut out = Vec::new();
        self.each_sample(host, from_ms, to_ms, |s| {
            if out.len() < limit {
                out.push(s);
            }
        })?;
        Ok(out)
    }

    /// Hands every whole sample of `host` between `from_ms` and `to_ms` to `each`, oldest
    /// first, one at a time (the values of [`Store::samples`]): a caller that keeps only a
    /// few (one per bucket of a long range) reads any range in bounded memory. Holds the
    /// read connection until it returns.
    pub fn each_sample(
        &self,
        host: &str,
        from_ms: u64,
        to_ms: u64,
        each: impl FnMut(StoredSample),
    ) -> Result<(), StoreError> {
        self.read_host(host, |conn, host_id| {
            chunks::each_sample(conn, host_id, from_ms, to_ms, each)
        })
    }

    /// Runs `read` on a read snapshot with the id of `host`; nothing when it is unknown.
    fn read_host(
        &self,
        host: &str,
        read: impl FnOnce(&Connection, i64) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let conn = self.reader.lock();
        let snapshot = query::read_snapshot(&conn)?;
        match query::host_id(&snapshot, host)? {
            Some(host_id) => read(&snapshot, host_id),
            None => Ok(()),
        }
    }

    /// Hands `each` the whole samples of `host` between `from_ms` and `to_ms` that
    /// `want(ts_ms)` asks for (asked for every stored sample, oldest first), decoding only
    /// those, and from chunks only the paths `keep_path` accepts (as
    /// `sample.meminfo.MemFree_bytes`; the wire's required fields must be kept): a long
    /// range read for a few samples per bucket costs little more than decompressing it.
    pub fn each_wanted_sample(
        &self,
        host: &str,
        (from_ms, to_ms): (u64, u64),
        keep_path: &dyn Fn(&str) -> bool,
        want: impl FnMut(u64) -> bool,
        each: impl FnMut(StoredSample),
    ) -> Result<(), StoreError> {
        self.read_host(host, |conn, host_id| {
            chunks::each_wanted_sample(conn, host_id, (from_ms, to_ms), keep_path, want, each)
        })
    }

    /// Every host the database knows, with its last info and sample.
    pub fn hosts(&self) -> Result<Vec<StoredHost>, StoreError> {
        let conn = self.reader.lock();
        query::hosts(&conn)
    }

    /// The alert and silence tables, on a connection of their own.
    pub fn alerts(&self) -> Result<AlertStore, StoreError> {
        AlertStore::open(&self.path)
    }

    /// Failed writes so far (`utizmon_server_store_errors_total`).
    pub fn errors_total(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Size of the database and its WAL on disk, bytes.
    pub fn size_bytes(&self) -> u64 {
        let wal = self.path.with_extension("sqlite3-wal");
        [self.path.as_ref(), wal.as_path()]
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum()
    }

    /// A read connection for one remote-write sender.
    pub fn log_reader(&self) -> Result<LogReader, StoreError> {
        LogReader::open(&self.path)
    }

    /// Moves or forgets remote-write cursors (through the writer, the only writer).
    pub async fn change_cursors(&self, change: CursorChange) -> Result<(), Arc<StoreError>> {
        let (done, rx) = oneshot::channel();
        self.queue
            .send(writer::Command::Cursors(change, done))
            .await
            .map_err(|_| Arc::new(StoreError::Closed))?;
        rx.await.map_err(|_| Arc::new(StoreError::Closed))?
    }

    /// Commits what is queued, stops the writer and waits for it. Other clones of this
    /// handle see [`StoreError::Closed`] afterwards.
    pub async fn close(&self) {
        // Compaction is told first: it stops after the block in hand.
        let _ = self.compactor.send(compaction::Request::Stop);
        let (done, rx) = oneshot::channel();
        if self.queue.send(writer::Command::Stop(done)).await.is_ok() {
            let _ = rx.await;
        }
        let handles = std::mem::take(&mut *self.threads.lock());
        let _ = tokio::task::spawn_blocking(move || {
            for handle in handles {
                let _ = handle.join();
            }
        })
        .await;
    }
}

/// WAL pages between two automatic checkpoints (32 MiB of 4 KiB pages).
const WAL_CHECKPOINT_PAGES: i64 = 8_000;

/// Opens one connection with the settings every connection needs.
pub(crate) fn open_connection(path: &Path, read_only: bool) -> Result<Connection, StoreError> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let what = || format!("opening {}", path.display());
    let conn = Connection::open_with_flags(path, flags).map_err(|e| StoreError::sql(what(), e))?;
    conn.busy_timeout(Duration::from_secs(5))
        .map_err(|e| StoreError::sql(what(), e))?;
    if !read_only {
        // WAL: readers never block the writer. FULL: every commit is fsynced before an
        // ack can go out; the writer batches many samples per commit to pay that once.
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(|e| {
                StoreError::sql(
                    format!("{}: the file is corrupt or not a database", what()),
                    e,
                )
            })?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(%mode, "SQLite refused WAL mode; writes will be slower");
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(|e| StoreError::sql(what(), e))?;
        // Checkpoint every WAL_CHECKPOINT_PAGES rather than SQLite's 1,000 (about one
        // second of commits at 1,000 edges): every host's index leaf changes each second,
        // and a checkpoint copies a page once however often it changed since the last one.
        // The WAL file is cut back to that size after each checkpoint.
        conn.pragma_update(None, "wal_autocheckpoint", WAL_CHECKPOINT_PAGES)
            .map_err(|e| StoreError::sql(what(), e))?;
        conn.pragma_update(None, "journal_size_limit", WAL_CHECKPOINT_PAGES * 4096)
            .map_err(|e| StoreError::sql(what(), e))?;
    }
    // Touch the schema so a corrupt file fails here, with a clear context.
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_err(|e| {
        StoreError::sql(
            format!("{}: the file is corrupt or not a database", what()),
            e,
        )
    })?;
    Ok(conn)
}
