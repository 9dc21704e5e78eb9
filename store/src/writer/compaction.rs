//! The compaction job: moves ended blocks of the head into chunks on a thread and
//! connection of its own, so commits (and the acks waiting on them) never queue behind it.
//!
//! Each block is read and encoded without any write lock ([`chunks::prepare`]); only the
//! swap of rows for chunk ([`chunks::swap`]) is a write transaction, a short one, taken
//! under the [`WriteGate`] the writer holds while it commits, so the two never wait on
//! SQLite's busy handler. The thread paces itself ([`Pacing`]): it works at most
//! [`WORK`] per pass, then rests [`REST`] while blocks are still due (at most about half a
//! core when a whole fleet's blocks end at once), and looks again every maintenance
//! interval otherwise. Its connection commits without an fsync (`synchronous=NORMAL`):
//! a swap only moves samples that are already durable, and losing one to a power cut
//! leaves the head rows, which the next pass moves again.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::{Done, WriteGate};
use crate::{chunks, Clock, StoreError};

/// Longest one pass works before resting (the first block of a pass always goes).
pub const WORK: Duration = Duration::from_millis(25);

/// Rest between passes while blocks are still due.
pub const REST: Duration = Duration::from_millis(25);

/// Most passes one request runs (each moves at least one block or sweep step): a bound for
/// a pass that keeps finding its work changed under it.
pub const ASKED_PASSES: usize = 10_000;

/// Work for the compaction thread.
pub enum Request {
    /// Run passes now until nothing due is left, and answer when done (`Store::maintain`).
    Pass(Done),
    /// Finish the block in hand and stop.
    Stop,
}

/// How the compaction thread spends its time: bounded passes, rests between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pacing {
    /// Longest one pass works.
    pub work: Duration,
    /// Wait before the next pass while blocks are still due.
    pub rest: Duration,
    /// Wait before looking again when nothing is due.
    pub idle: Duration,
}

impl Pacing {
    /// Whether a pass that began at `started` and has moved `done` blocks may take another
    /// at `now`: always the first, then while under [`Pacing::work`].
    pub fn allows(&self, started: Instant, now: Instant, done: usize) -> bool {
        done == 0 || now.saturating_duration_since(started) < self.work
    }

    /// Wait before the next pass: `rest` while more blocks are due, `idle` otherwise.
    pub fn wait(&self, more: bool) -> Duration {
        if more {
            self.rest
        } else {
            self.idle
        }
    }
}

/// Starts the compaction thread on its own connection to the database at `path`.
pub fn spawn(
    path: &std::path::Path,
    clock: Clock,
    idle: Duration,
    gate: WriteGate,
    errors: Arc<AtomicU64>,
) -> Result<(Sender<Request>, std::thread::JoinHandle<()>), StoreError> {
    let conn = crate::open_connection(path, false)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(|e| StoreError::sql("setting up the compaction connection", e))?;
    let pacing = Pacing {
        work: WORK,
        rest: REST,
        idle,
    };
    let (requests, rx) = std::sync::mpsc::channel();
    let compactor = Compactor {
        conn,
        due: chunks::DueBlocks::default(),
        clock,
        gate,
        errors,
        pacing,
    };
    let handle = std::thread::Builder::new()
        .name("utizmon-compact".into())
        .spawn(move || compactor.run(rx))
        .map_err(|e| StoreError::Directory {
            dir: Default::default(),
            why: format!("starting the compaction thread: {e}"),
        })?;
    Ok((requests, handle))
}

struct Compactor {
    conn: Connection,
    /// Blocks found due and not moved yet, carried from pass to pass.
    due: chunks::DueBlocks,
    clock: Clock,
    gate: WriteGate,
    errors: Arc<AtomicU64>,
    pacing: Pacing,
}

impl Compactor {
    fn run(mut self, rx: Receiver<Request>) {
        // At once after start-up: a restarted server catches up on what is due.
        let mut wait = Duration::ZERO;
        loop {
            let asked = match rx.recv_timeout(wait) {
                Ok(Request::Stop) | Err(RecvTimeoutError::Disconnected) => break,
                Ok(Request::Pass(done)) => Some(done),
                Err(RecvTimeoutError::Timeout) => None,
            };
            let result = match asked {
                Some(_) => self.until_done(),
                None => self.pass(),
            };
            wait = self.pacing.wait(*result.as_ref().unwrap_or(&false));
            let result = result.map(drop).map_err(|e| {
                self.failed(&e);
                Arc::new(e)
            });
            if let Some(done) = asked {
                let _ = done.send(result);
            }
        }
        tracing::debug!("compaction thread stopped");
    }

    /// One pass within the pacing's budget; returns whether more blocks are due.
    fn pass(&mut self) -> Result<bool, StoreError> {
        let started = Instant::now();
        let pacing = self.pacing;
        let now = (self.clock)();
        let allowed = |done| pacing.allows(started, Instant::now(), done);
        let (_, more) = chunks::compact(&mut self.conn, now, &self.gate, &mut self.due, allowed)?;
        Ok(more)
    }

    /// Passes one after another, without the rests, until nothing due is left (or
    /// [`ASKED_PASSES`] have run): what `Store::maintain` asks for, so that a tool or test
    /// finds every due block moved and swept when it returns.
    fn until_done(&mut self) -> Result<bool, StoreError> {
        for _ in 0..ASKED_PASSES {
            if !self.pass()? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn failed(&self, e: &StoreError) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        tracing::error!(error = %e, "compacting history failed; the head keeps the samples");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PACING: Pacing = Pacing {
        work: Duration::from_millis(25),
        rest: Duration::from_millis(25),
        idle: Duration::from_secs(10),
    };

    #[test]
    fn a_pass_takes_its_first_block_whatever_the_time_then_stops_at_the_budget() {
        let start = Instant::now();
        let late = start + Duration::from_secs(1);
        assert!(PACING.allows(start, late, 0), "always the first block");
        assert!(PACING.allows(start, start + Duration::from_millis(24), 5));
        assert!(!PACING.allows(start, start + Duration::from_millis(25), 1));
        assert!(!PACING.allows(start, late, 1));
    }

    #[test]
    fn it_rests_briefly_while_blocks_are_due_and_idles_otherwise() {
        assert_eq!(PACING.wait(true), Duration::from_millis(25));
        assert_eq!(PACING.wait(false), Duration::from_secs(10));
    }

    /// The thread moves due blocks on its own, in paced passes, and answers a pass asked
    /// for; a transaction through the gate meanwhile is not refused.
    #[test]
    fn the_thread_compacts_on_its_own_and_on_request() {
        use crate::writer::tests::count;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.db");
        let mut conn = crate::open_connection(&path, false).unwrap();
        crate::schema::migrate(&mut conn, 0).unwrap();
        let t0 = 1_700_000_000_000 - 1_700_000_000_000 % chunks::BLOCK_MS;
        for host in 1..=4 {
            conn.execute(
                "INSERT INTO hosts (id, name) VALUES (?1, 'h' || ?1)",
                [host],
            )
            .unwrap();
        }
        for seq in 0..1_000i64 {
            conn.execute(
                "INSERT INTO samples (run, seq, host_id, ts_ms, cpu, cores, mem_used, mem_total,
                 swap_used, swap_total, load1, load5, load15, networks)
                 VALUES (1, ?1, 1 + ?1 % 4, ?2, 0.5, '[]', 0, 0, 0, 0, 0, 0, 0, '[]')",
                rusqlite::params![seq, t0 as i64 + seq * 3_000],
            )
            .unwrap();
        }
        let gate = WriteGate::default();
        let clock: Clock = Arc::new(move || t0 + 100 * chunks::BLOCK_MS);
        let errors = Arc::new(AtomicU64::new(0));
        let (requests, handle) = spawn(
            &path,
            clock,
            Duration::from_secs(3600),
            gate.clone(),
            errors.clone(),
        )
        .unwrap();
        // The writer's side: a transaction under the gate while the thread works.
        {
            let _writing = gate.lock();
            conn.execute("INSERT INTO hosts (name) VALUES ('h')", [])
                .unwrap();
        }
        for _ in 0..1_000 {
            let (done, answer) = tokio::sync::oneshot::channel();
            requests.send(Request::Pass(done)).unwrap();
            answer.blocking_recv().unwrap().unwrap();
            if count(&conn, "samples") == 0 {
                break;
            }
        }
        assert_eq!(count(&conn, "samples"), 0);
        assert_eq!(
            count(&conn, "chunks"),
            4 * 5,
            "four hosts, five blocks each"
        );
        requests.send(Request::Stop).unwrap();
        handle.join().unwrap();
        assert_eq!(errors.load(Ordering::Relaxed), 0);
    }
}
