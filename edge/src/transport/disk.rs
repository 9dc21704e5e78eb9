//! `--buffer-dir`: the unacknowledged samples in append-only segment files, so that a crash
//! or restart of the edge while the master is unreachable loses nothing.
//!
//! Layout of the directory, one edge process (run) after another:
//! - `<run_id>.hello`: the run's hello frame, written once (temp file, fsync, rename);
//! - `<run_id>-<first_seq, 20 digits>.seg`: records of that run in `seq` order;
//! - `<run_id>.acked`: the highest `seq` the master acknowledged (rewritten by rename; if it
//!   is lost the master gets a few duplicates, which it acknowledges and ignores).
//!
//! A record is `len: u32 LE | crc32: u32 LE | seq: u64 LE | ts_ms: u64 LE | frame`, the
//! CRC covering `seq`, `ts_ms` and the frame. Every record is written with one `write` and
//! then `fdatasync`ed before the sample counts as queued, so neither a `kill -9` nor a power
//! cut loses an acknowledged-by-disk sample. At start every segment is read back; a torn or
//! corrupt tail (power cut mid-write) is cut off and logged, never fatal.
//!
//! Bounded: when the files together exceed `max_bytes`, or the newest sample of the oldest
//! segment is older than `max_age`, that whole segment is deleted and its unacknowledged
//! samples are counted as dropped. Segments are an eighth of `max_bytes` (64 KiB..4 MiB),
//! so one drop costs at most that share of the buffer.
//!
//! Runs are replayed oldest first, each under its own `run_id` and hello, one connection
//! per run (see `docs/protocol.md`: a host name belongs to one live connection).

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

/// Bytes before a record's frame.
const HEADER: usize = 24;
/// A record longer than this is corruption, not a sample.
const MAX_RECORD: usize = utizmon_protocol::MAX_FRAME_BYTES;
/// Bounds on one segment's size.
const SEGMENT_RANGE: (u64, u64) = (64 * 1024, 4 * 1024 * 1024);

/// Size and age caps of the on-disk buffer.
#[derive(Debug, Clone, Copy)]
pub struct DiskLimits {
    /// The segment files together stay under this many bytes.
    pub max_bytes: u64,
    /// Samples older than this are dropped.
    pub max_age: Duration,
}

/// The on-disk queue of unacknowledged samples, oldest run first. Not thread-safe on its
/// own: the transport's `Outbox` holds it under its mutex.
#[derive(Debug)]
pub struct DiskQueue {
    dir: PathBuf,
    limits: DiskLimits,
    segment_bytes: u64,
    /// Oldest first; the last one is this process's run.
    runs: VecDeque<Run>,
    /// Appends of the current run go here (the last segment of the last run).
    active: Option<File>,
    n_dropped: u64,
}

#[derive(Debug)]
struct Run {
    id: String,
    hello: String,
    /// Highest `seq` the master acknowledged.
    acked: u64,
    /// Highest `seq` handed out on the current connection.
    sent_upto: u64,
    segments: VecDeque<Segment>,
}

#[derive(Debug)]
struct Segment {
    path: PathBuf,
    first_seq: u64,
    last_seq: u64,
    bytes: u64,
    newest_ts_ms: u64,
    /// Where reading for the current connection stopped, with the `seq` read last.
    read_at: Option<(u64, u64)>,
}

/// One record read back from a segment.
struct Record {
    seq: u64,
    ts_ms: u64,
    frame: String,
    end: u64,
}

impl DiskQueue {
    /// Opens (creating it if needed) `dir`, reads back the runs an earlier process left
    /// (cutting torn tails), and starts run `run_id` with `hello` as its hello frame.
    pub fn open(
        dir: &Path,
        limits: DiskLimits,
        run_id: &str,
        hello: &str,
    ) -> anyhow::Result<DiskQueue> {
        fs::create_dir_all(dir)
            .with_context(|| format!("creating --buffer-dir {}", dir.display()))?;
        let segment_bytes = (limits.max_bytes / 8).clamp(SEGMENT_RANGE.0, SEGMENT_RANGE.1);
        let mut queue = DiskQueue {
            dir: dir.to_owned(),
            limits,
            segment_bytes,
            runs: VecDeque::new(),
            active: None,
            n_dropped: 0,
        };
        queue
            .recover()
            .with_context(|| format!("reading --buffer-dir {}", dir.display()))?;
        write_atomically(
            &queue.dir.join(format!("{run_id}.hello")),
            hello.as_bytes(),
            true,
        )
        .with_context(|| format!("writing to --buffer-dir {}", dir.display()))?;
        queue.runs.push_back(Run {
            id: run_id.to_owned(),
            hello: hello.to_owned(),
            acked: 0,
            sent_upto: 0,
            segments: VecDeque::new(),
        });
        Ok(queue)
    }

    /// Reads every earlier run back into memory (frames stay on disk).
    fn recover(&mut self) -> anyhow::Result<()> {
        let mut hellos = Vec::new();
        let mut segments: Vec<(String, u64, PathBuf)> = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if let Some(run) = name.strip_suffix(".hello") {
                hellos.push(run.to_owned());
            } else if let Some((run, seq)) = name
                .strip_suffix(".seg")
                .and_then(|stem| stem.rsplit_once('-'))
            {
                if let Ok(first) = seq.parse::<u64>() {
                    segments.push((run.to_owned(), first, path.clone()));
                }
            } else if name.ends_with(".tmp") {
                let _ = fs::remove_file(&path);
            }
        }
        segments.sort();
        let mut runs: Vec<(u64, Run)> = Vec::new();
        for id in hellos {
            let hello = fs::read_to_string(self.dir.join(format!("{id}.hello")))?;
            let acked = fs::read_to_string(self.dir.join(format!("{id}.acked")))
                .ok()
                .and_then(|text| text.trim().parse().ok())
                .unwrap_or(0);
            let mut run = Run {
                id: id.clone(),
                hello,
                acked,
                sent_upto: acked,
                segments: VecDeque::new(),
            };
            let mut first_ts = u64::MAX;
            for (_, first, path) in segments.iter().filter(|(run, ..)| *run == id) {
                match scan(path, *first)? {
                    Some((segment, ts)) if segment.last_seq > acked => {
                        first_ts = first_ts.min(ts);
                        run.segments.push_back(segment);
                    }
                    _ => remove(path),
                }
            }
            if run.segments.is_empty() {
                self.forget(&run);
            } else {
                runs.push((first_ts, run));
            }
        }
        // Segments whose hello is missing cannot be replayed: the master needs the hello.
        for (id, _, path) in &segments {
            if !runs.iter().any(|(_, run)| run.id == *id) {
                remove(path);
            }
        }
        runs.sort_by_key(|(ts, _)| *ts);
        let held: u64 = runs.iter().map(|(_, run)| run.unacked()).sum();
        if held > 0 {
            tracing::info!(
                runs = runs.len(),
                samples = held,
                "replaying samples of earlier runs from the buffer directory"
            );
        }
        self.runs = runs.into_iter().map(|(_, run)| run).collect();
        Ok(())
    }

    /// Appends one sample of the current run. On return it is on disk (fsynced). Drops
    /// the oldest segments first if the caps require; returns the last `seq` dropped.
    pub fn push(&mut self, seq: u64, ts_ms: u64, frame: &str) -> anyhow::Result<Option<u64>> {
        let record = encode(seq, ts_ms, frame);
        let dropped = self.enforce_caps(record.len() as u64, ts_ms);
        let segment_bytes = self.segment_bytes;
        let run = self
            .runs
            .back_mut()
            .expect("the current run is always present");
        let rotate = run
            .segments
            .back()
            .is_none_or(|s| s.bytes + record.len() as u64 > segment_bytes)
            || self.active.is_none();
        if rotate {
            let path = self.dir.join(format!("{}-{seq:020}.seg", run.id));
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .with_context(|| format!("creating {}", path.display()))?;
            sync_dir(&self.dir);
            run.segments.push_back(Segment {
                path,
                first_seq: seq,
                last_seq: seq,
                bytes: 0,
                newest_ts_ms: ts_ms,
                read_at: None,
            });
            self.active = Some(file);
        }
        let segment = run.segments.back_mut().expect("just ensured");
        let file = self.active.as_mut().expect("just ensured");
        let written = file.write_all(&record).and_then(|()| file.sync_data());
        if let Err(err) = written {
            // Whatever part was written is a torn tail: start a fresh segment next time.
            self.active = None;
            return Err(err).with_context(|| format!("appending to {}", segment.path.display()));
        }
        segment.bytes += record.len() as u64;
        segment.last_seq = seq;
        segment.newest_ts_ms = ts_ms;
        Ok(dropped)
    }

    /// Deletes the oldest segments until `incoming` more bytes fit and nothing is older
    /// than `max_age` at `now_ms`; never the segment being appended to.
    fn enforce_caps(&mut self, incoming: u64, now_ms: u64) -> Option<u64> {
        let max_age_ms = u64::try_from(self.limits.max_age.as_millis()).unwrap_or(u64::MAX);
        let mut dropped = None;
        loop {
            let total: u64 = self
                .runs
                .iter()
                .flat_map(|r| &r.segments)
                .map(|s| s.bytes)
                .sum();
            let n_segments: usize = self.runs.iter().map(|r| r.segments.len()).sum();
            let Some(run) = self.runs.iter_mut().find(|r| !r.segments.is_empty()) else {
                return dropped;
            };
            let oldest = run.segments.front().expect("found non-empty");
            let too_big = total + incoming > self.limits.max_bytes;
            let too_old = oldest.newest_ts_ms.saturating_add(max_age_ms) < now_ms;
            // The last segment of all is the one being appended to.
            if !(too_big || too_old) || n_segments == 1 && self.active.is_some() {
                return dropped;
            }
            let segment = run.segments.pop_front().expect("found non-empty");
            let lost =
                segment.last_seq - run.acked.max(segment.first_seq - 1).min(segment.last_seq);
            self.n_dropped += lost;
            if lost > 0 {
                dropped = Some(segment.last_seq);
            }
            remove(&segment.path);
            if n_segments == 1 {
                self.active = None;
            }
            self.prune_finished_runs();
        }
    }

    /// The master took every `seq` up to `seq` of the front run (clamped to what this
    /// connection sent). Deletes fully acknowledged segments; an earlier run that is done
    /// is forgotten, and the next run moves to the front.
    pub fn ack(&mut self, seq: u64) -> usize {
        let n_runs = self.runs.len();
        let Some(run) = self.runs.front_mut() else {
            return 0;
        };
        let seq = seq.min(run.sent_upto);
        if seq <= run.acked {
            return 0;
        }
        let before = run.unacked();
        run.acked = seq;
        let is_current = n_runs == 1;
        while run
            .segments
            .front()
            .is_some_and(|s| s.last_seq <= seq && !(is_current && run.segments.len() == 1))
        {
            let segment = run.segments.pop_front().expect("checked");
            remove(&segment.path);
        }
        let freed = before - run.unacked();
        let path = self.dir.join(format!("{}.acked", run.id));
        if let Err(err) = write_atomically(&path, seq.to_string().as_bytes(), false) {
            tracing::debug!(error = %err, "cannot record the ack on disk; duplicates may follow a restart");
        }
        self.prune_finished_runs();
        usize::try_from(freed).unwrap_or(usize::MAX)
    }

    /// Drops earlier runs with nothing left to send.
    fn prune_finished_runs(&mut self) {
        while self.runs.len() > 1 && self.runs.front().is_some_and(|r| r.unacked() == 0) {
            let run = self.runs.pop_front().expect("checked");
            for segment in &run.segments {
                remove(&segment.path);
            }
            self.forget(&run);
        }
    }

    fn forget(&self, run: &Run) {
        remove(&self.dir.join(format!("{}.hello", run.id)));
        remove(&self.dir.join(format!("{}.acked", run.id)));
    }

    /// Hands out up to `max` frames of the front run not yet sent on this connection.
    pub fn take_unsent(&mut self, max: usize, out: &mut Vec<String>) -> anyhow::Result<()> {
        let Some(run) = self.runs.front_mut() else {
            return Ok(());
        };
        let mut taken = 0;
        for segment in run.segments.iter_mut() {
            if taken >= max {
                break;
            }
            if segment.last_seq <= run.sent_upto {
                continue;
            }
            let mut file = File::open(&segment.path)
                .with_context(|| format!("opening {}", segment.path.display()))?;
            let mut at = match segment.read_at {
                Some((offset, seq)) if seq <= run.sent_upto => offset,
                _ => 0,
            };
            file.seek(SeekFrom::Start(at))?;
            let mut reader = io::BufReader::new(file);
            while taken < max && at < segment.bytes {
                let Some(record) = read_record(&mut reader, at)? else {
                    break;
                };
                at = record.end;
                if record.seq > run.sent_upto {
                    out.push(record.frame);
                    run.sent_upto = record.seq;
                    segment.read_at = Some((at, record.seq));
                    taken += 1;
                }
            }
        }
        Ok(())
    }

    /// A new connection starts: everything unacknowledged of the front run is due again.
    pub fn rewind(&mut self) {
        if let Some(run) = self.runs.front_mut() {
            run.sent_upto = run.acked;
            for segment in &mut run.segments {
                segment.read_at = None;
            }
        }
    }

    /// The hello of the front run if it is an earlier process's, whose samples go first.
    pub fn earlier_run_hello(&self) -> Option<&str> {
        (self.runs.len() > 1).then(|| self.runs.front().map(|r| r.hello.as_str()))?
    }

    /// Which run the next connection speaks for (the front one).
    pub fn front_run(&self) -> Option<&str> {
        self.runs.front().map(|r| r.id.as_str())
    }

    /// Samples held, every run, not acknowledged.
    pub fn len(&self) -> usize {
        let n: u64 = self.runs.iter().map(Run::unacked).sum();
        usize::try_from(n).unwrap_or(usize::MAX)
    }

    /// Whether every sample of every run is acknowledged (or dropped).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Samples of the front run sent on this connection and not acknowledged.
    pub fn in_flight(&self) -> usize {
        self.runs.front().map_or(0, |run| {
            let floor = run
                .segments
                .front()
                .map_or(run.acked, |s| run.acked.max(s.first_seq - 1));
            usize::try_from(run.sent_upto.saturating_sub(floor)).unwrap_or(usize::MAX)
        })
    }

    /// Whether the front run has samples not yet sent on this connection.
    pub fn has_unsent(&self) -> bool {
        self.runs.front().is_some_and(|run| {
            run.segments
                .back()
                .is_some_and(|s| s.last_seq > run.sent_upto)
        })
    }

    /// Counts `n` samples lost outside the caps (a failed write).
    pub fn count_lost(&mut self, n: u64) {
        self.n_dropped += n;
    }

    /// Samples dropped by the caps since the start of this process.
    pub fn n_dropped(&self) -> u64 {
        self.n_dropped
    }
}

impl Run {
    /// Samples of this run not acknowledged. `seq`s are consecutive within a run (drops
    /// remove whole leading segments), so this is arithmetic, not a count.
    fn unacked(&self) -> u64 {
        self.segments
            .iter()
            .map(|s| s.last_seq.saturating_sub(self.acked.max(s.first_seq - 1)))
            .sum()
    }
}

fn encode(seq: u64, ts_ms: u64, frame: &str) -> Vec<u8> {
    let mut record = Vec::with_capacity(HEADER + frame.len());
    let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
    let mut crc = crc32fast::Hasher::new();
    crc.update(&seq.to_le_bytes());
    crc.update(&ts_ms.to_le_bytes());
    crc.update(frame.as_bytes());
    record.extend_from_slice(&len.to_le_bytes());
    record.extend_from_slice(&crc.finalize().to_le_bytes());
    record.extend_from_slice(&seq.to_le_bytes());
    record.extend_from_slice(&ts_ms.to_le_bytes());
    record.extend_from_slice(frame.as_bytes());
    record
}

/// Reads the record starting at byte `at`; `None` at a clean end or a torn/corrupt record.
fn read_record(reader: &mut impl Read, at: u64) -> io::Result<Option<Record>> {
    let mut header = [0u8; HEADER];
    if !read_full(reader, &mut header)? {
        return Ok(None);
    }
    let word = |range: std::ops::Range<usize>| -> u64 {
        header[range]
            .iter()
            .rev()
            .fold(0u64, |acc, byte| acc << 8 | u64::from(*byte))
    };
    let len = usize::try_from(word(0..4)).unwrap_or(usize::MAX);
    let (crc, seq, ts_ms) = (word(4..8), word(8..16), word(16..24));
    if len == 0 || len > MAX_RECORD {
        return Ok(None);
    }
    let mut frame = vec![0u8; len];
    if !read_full(reader, &mut frame)? {
        return Ok(None);
    }
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&header[8..24]);
    hasher.update(&frame);
    if u64::from(hasher.finalize()) != crc {
        return Ok(None);
    }
    let Ok(frame) = String::from_utf8(frame) else {
        return Ok(None);
    };
    Ok(Some(Record {
        seq,
        ts_ms,
        frame,
        end: at + (HEADER + len) as u64,
    }))
}

/// Fills `buf`; false if the input ends first.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    match reader.read_exact(buf) {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(err) => Err(err),
    }
}

/// Reads a segment back: its valid records, with the torn or corrupt tail cut off. Returns
/// the segment and the timestamp of its first record, or `None` if it holds nothing valid.
fn scan(path: &Path, first_seq: u64) -> anyhow::Result<Option<(Segment, u64)>> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let size = file.metadata()?.len();
    let mut reader = io::BufReader::new(file);
    let (mut at, mut last_seq, mut first_ts, mut newest_ts) = (0u64, 0u64, None, 0u64);
    while let Some(record) = read_record(&mut reader, at)? {
        // Sequence numbers only grow within a segment; anything else is corruption.
        if record.seq < first_seq || (last_seq != 0 && record.seq <= last_seq) {
            break;
        }
        at = record.end;
        last_seq = record.seq;
        first_ts.get_or_insert(record.ts_ms);
        newest_ts = record.ts_ms;
    }
    if at < size {
        tracing::warn!(
            file = %path.display(),
            kept_bytes = at,
            cut_bytes = size - at,
            "buffer segment has a torn or corrupt tail; cutting it off"
        );
        OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|f| f.set_len(at).and_then(|()| f.sync_all()))
            .with_context(|| format!("truncating {}", path.display()))?;
    }
    let Some(first_ts) = first_ts else {
        return Ok(None);
    };
    let first = first_seq.max(1);
    Ok(Some((
        Segment {
            path: path.to_owned(),
            first_seq: first,
            last_seq,
            bytes: at,
            newest_ts_ms: newest_ts,
            read_at: None,
        },
        first_ts,
    )))
}

/// Writes `bytes` to `path` through a temporary file and a rename, so readers see the old
/// or the new content, never half; `durable` also fsyncs the file and the directory.
fn write_atomically(path: &Path, bytes: &[u8], durable: bool) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut file = File::create(&tmp)?;
    file.write_all(bytes)?;
    if durable {
        file.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if durable {
        if let Some(dir) = path.parent() {
            sync_dir(dir);
        }
    }
    Ok(())
}

/// Makes a new or renamed directory entry durable (best effort).
fn sync_dir(dir: &Path) {
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
}

fn remove(path: &Path) {
    if let Err(err) = fs::remove_file(path) {
        if err.kind() != io::ErrorKind::NotFound {
            tracing::warn!(file = %path.display(), error = %err, "cannot delete a buffer file");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("utizmon-disk-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn limits(max_bytes: u64) -> DiskLimits {
        DiskLimits {
            max_bytes,
            max_age: HOUR,
        }
    }

    fn frame(seq: u64) -> String {
        format!("{{\"seq\":{seq}}}")
    }

    fn take(queue: &mut DiskQueue, max: usize) -> Vec<String> {
        let mut out = Vec::new();
        queue.take_unsent(max, &mut out).unwrap();
        out
    }

    fn fill(queue: &mut DiskQueue, seqs: std::ops::RangeInclusive<u64>, ts: u64) {
        for seq in seqs {
            queue.push(seq, ts + seq, &frame(seq)).unwrap();
        }
    }

    #[test]
    fn sends_in_order_acks_and_rewinds_like_the_memory_buffer() {
        let dir = temp_dir("order");
        let mut queue = DiskQueue::open(&dir, limits(1 << 20), "run1", "h1").unwrap();
        fill(&mut queue, 1..=5, 1000);
        assert_eq!(take(&mut queue, 2), vec![frame(1), frame(2)]);
        assert_eq!(queue.in_flight(), 2);
        assert!(queue.has_unsent());
        assert_eq!(take(&mut queue, 10), vec![frame(3), frame(4), frame(5)]);
        assert_eq!(queue.ack(2), 2);
        queue.rewind();
        assert_eq!(take(&mut queue, 10), vec![frame(3), frame(4), frame(5)]);
        assert_eq!(queue.ack(99), 3, "clamped to what was sent");
        assert_eq!(queue.len(), 0);
        assert_eq!(queue.earlier_run_hello(), None);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_restart_replays_the_earlier_run_first_with_its_own_hello() {
        let dir = temp_dir("restart");
        let mut first = DiskQueue::open(&dir, limits(1 << 20), "run1", "hello-1").unwrap();
        fill(&mut first, 1..=4, 1000);
        take(&mut first, 1);
        first.ack(1);
        drop(first); // as if killed: nothing is flushed on drop

        let mut second = DiskQueue::open(&dir, limits(1 << 20), "run2", "hello-2").unwrap();
        fill(&mut second, 1..=2, 5000);
        assert_eq!(second.len(), 5);
        assert_eq!(second.front_run(), Some("run1"));
        assert_eq!(second.earlier_run_hello(), Some("hello-1"));
        assert_eq!(take(&mut second, 10), vec![frame(2), frame(3), frame(4)]);
        second.ack(4);
        // Run 1 is done and forgotten; run 2 is next, from its start.
        assert_eq!(second.front_run(), Some("run2"));
        assert_eq!(second.earlier_run_hello(), None);
        second.rewind();
        assert_eq!(take(&mut second, 10), vec![frame(1), frame(2)]);
        assert!(!dir.join("run1.hello").exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_torn_or_corrupt_tail_is_cut_off_not_fatal() {
        let dir = temp_dir("torn");
        let mut first = DiskQueue::open(&dir, limits(1 << 20), "run1", "h").unwrap();
        fill(&mut first, 1..=3, 1000);
        drop(first);
        let segment = dir.join(format!("run1-{:020}.seg", 1));
        let mut file = OpenOptions::new().append(true).open(&segment).unwrap();
        // Half a record: a header promising more bytes than follow.
        file.write_all(&encode(4, 1004, &frame(4))[..10]).unwrap();
        drop(file);
        let mut second = DiskQueue::open(&dir, limits(1 << 20), "run2", "h2").unwrap();
        assert_eq!(take(&mut second, 10), vec![frame(1), frame(2), frame(3)]);
        drop(second);

        // A flipped byte inside the second record: the first survives.
        let mut bytes = fs::read(&segment).unwrap();
        let second_record = encode(1, 1001, &frame(1)).len();
        bytes[second_record + HEADER + 2] ^= 0xff;
        fs::write(&segment, &bytes).unwrap();
        let mut third = DiskQueue::open(&dir, limits(1 << 20), "run3", "h3").unwrap();
        assert_eq!(take(&mut third, 10), vec![frame(1)]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_size_cap_drops_the_oldest_segment_and_counts_it() {
        let dir = temp_dir("size");
        // 64 KiB segments, 256 KiB in all: about 125 records of ~2 KiB fit.
        let mut queue = DiskQueue::open(&dir, limits(256 * 1024), "run1", "h").unwrap();
        let padding = "x".repeat(2000);
        for seq in 1..=400 {
            queue
                .push(seq, 1000 + seq, &format!("{seq}{padding}"))
                .unwrap();
        }
        let on_disk: u64 = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum();
        assert!(on_disk <= 256 * 1024 + 100, "{on_disk}");
        assert!(queue.n_dropped() > 0);
        assert_eq!(queue.n_dropped() + queue.len() as u64, 400);
        // What is left starts after the dropped ones, in order.
        let first = take(&mut queue, 1).pop().unwrap();
        assert!(
            first.starts_with(&(queue.n_dropped() + 1).to_string()),
            "{first}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_age_cap_drops_old_segments() {
        let dir = temp_dir("age");
        let mut queue = DiskQueue::open(&dir, limits(256 * 1024), "run1", "h").unwrap();
        let padding = "x".repeat(4000);
        for seq in 1..=40 {
            queue
                .push(seq, 1000 + seq, &format!("{seq}{padding}"))
                .unwrap();
        }
        // Two hours later: everything but the segment being written to is too old.
        let later = 1000 + 2 * HOUR.as_millis() as u64;
        queue.push(41, later, &frame(41)).unwrap();
        assert!(queue.n_dropped() > 0);
        assert_eq!(queue.n_dropped() + queue.len() as u64, 41);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn segments_without_a_hello_and_stray_files_are_ignored() {
        let dir = temp_dir("stray");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(format!("ghost-{:020}.seg", 1)), encode(1, 1, "x")).unwrap();
        fs::write(dir.join("notes.txt"), "hi").unwrap();
        let queue = DiskQueue::open(&dir, limits(1 << 20), "run1", "h").unwrap();
        assert_eq!(queue.len(), 0);
        assert!(!dir.join(format!("ghost-{:020}.seg", 1)).exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}
