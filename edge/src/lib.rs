//! `utizmon-edge`: samples the host on a timer and pushes the samples to the master.
//!
//! [`run`] wires the pieces: a sampler task fills a [`collect::Source`] every interval,
//! encodes the sample and hands it to the [`transport::Outbox`]; [`transport::deliver`]
//! owns the WebSocket. They share nothing else, so a slow or absent master never delays a
//! sample. `--once` and `--simulate` reuse the same pieces.

pub mod collect;
pub mod config;
pub mod simulate;
pub mod transport;

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use utizmon_protocol::{
    now_ms, Hello, HostInfo, Sample, MAX_FRAME_BYTES, PROTOCOL_MINOR, PROTOCOL_VERSION,
};

pub use config::Config;

use collect::{Collector, Source, WarnLimiter};
use transport::{Link, Outbox};

/// A frame from the edge, borrowed: serialises exactly like `utizmon_protocol::EdgeFrame`
/// without cloning the sample.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FrameRef<'a> {
    /// First frame of every connection.
    Hello(&'a Hello),
    /// One measurement.
    Sample(&'a Sample),
}

/// Runs the edge until `shutdown` is cancelled (or, with `--once`, until one sample is
/// printed). Configuration problems (bad URL, unreadable token file, invalid host name)
/// are returned before any sampling starts.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    config.validate()?;
    if config.once {
        return once(&config).await;
    }
    let token = config.read_token()?;
    if let Some(n) = config.simulate {
        return simulate::run(&config, n, token, shutdown).await;
    }
    let tls = config.tls()?;
    let host_name = config.host_name()?;
    let run = RunIdentity::new();
    let masters = config.masters();
    let link = Link {
        master: masters[0].clone(),
        masters,
        tls,
        ca_file: config.ca_file.clone(),
        token,
        token_file: config.token_file.clone(),
        host_name: host_name.clone(),
        quiet: false,
        ack_timeout: transport::ACK_TIMEOUT,
    };
    transport::request(&link)?;
    let interval_ms = config.interval_ms();
    let hello = {
        let run = run.clone();
        move || encode_hello(&run, interval_ms, collect::host::host_info(&host_name))
    };
    let first = hello();
    utizmon_protocol::decode_edge(&first).context("building the hello frame")?;

    let capacity = config.buffer_capacity();
    tracing::info!(
        host = %link.host_name,
        master = %config.master,
        interval = %humantime::format_duration(config.interval),
        buffer = capacity,
        collectors = %config.enabled_collectors().list(),
        buffer_dir = ?config.buffer_dir,
        "utizmon-edge starting"
    );
    let outbox = match &config.buffer_dir {
        None => Outbox::new(capacity),
        Some(dir) => {
            let limits = transport::DiskLimits {
                max_bytes: config.buffer_max_bytes,
                max_age: config.buffer_max_age,
            };
            Outbox::on_disk(transport::DiskQueue::open(dir, limits, &run.id, &first)?)
        }
    };
    let tasks = TaskTracker::new();
    tasks.spawn(sample_loop(
        Collector::new(config.enabled_collectors()),
        config.interval,
        Instant::now(),
        outbox.clone(),
        shutdown.clone(),
        false,
        None,
    ));
    transport::deliver(link, hello, outbox, shutdown.clone()).await;
    tasks.close();
    tasks.wait().await;
    tracing::info!("utizmon-edge stopped");
    Ok(())
}

/// The tokio runtime for `config`: one thread is plenty for one host (and keeps RSS
/// small); only a simulated fleet gets a multi-threaded runtime.
pub fn runtime(config: &Config) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = match config.simulate {
        Some(_) => tokio::runtime::Builder::new_multi_thread(),
        None => tokio::runtime::Builder::new_current_thread(),
    };
    builder.enable_all().build()
}

/// Cancels `shutdown` on the first SIGINT or SIGTERM; a second one exits at once with
/// status 130, for when the flush takes too long for an impatient operator.
/// Must be called inside the runtime.
pub fn cancel_on_signals(shutdown: CancellationToken) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
        tracing::info!("shutting down; a second signal exits at once");
        shutdown.cancel();
        tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
        std::process::exit(130);
    });
    Ok(())
}

/// `--once`: two readings 200 ms apart, then `{"hello": ..., "sample": ...}` on stdout.
async fn once(config: &Config) -> anyhow::Result<()> {
    let host_name = config.host_name()?;
    let mut collector = Collector::new(config.enabled_collectors());
    let mut sample = Sample::default();
    collector.fill(&mut sample);
    tokio::time::sleep(Duration::from_millis(200)).await;
    collector.fill(&mut sample);
    sample.seq = 1;
    sample.ts_ms = now_ms();
    let hello = hello(
        &RunIdentity::new(),
        config.interval_ms(),
        collect::host::host_info(&host_name),
    );
    #[derive(Serialize)]
    struct Once<'a> {
        hello: FrameRef<'a>,
        sample: FrameRef<'a>,
    }
    let text = serde_json::to_string_pretty(&Once {
        hello: FrameRef::Hello(&hello),
        sample: FrameRef::Sample(&sample),
    })
    .context("encoding the sample")?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{text}")
        .and_then(|()| stdout.flush())
        .context("writing to stdout")?;
    Ok(())
}

/// Takes a sample every `interval` from `start` until `shutdown` (or, with `limit`, until
/// that many are taken), numbering them from 1, and queues each in `outbox`. Never waits
/// on the network.
pub(crate) async fn sample_loop(
    mut source: impl Source,
    interval: Duration,
    start: Instant,
    outbox: Arc<Outbox>,
    shutdown: CancellationToken,
    quiet: bool,
    limit: Option<u64>,
) {
    let mut tick = tokio::time::interval_at(start, interval);
    // After a stall (suspended VM, overloaded host) take one sample and carry on rather
    // than a burst of catch-up samples with nearly the same timestamp.
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut sample = Sample::default();
    let mut drops = WarnLimiter::default();
    let mut seq = 0u64;
    let mut last_len = 0;
    while limit.is_none_or(|limit| seq < limit) {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        seq += 1;
        source.fill(&mut sample);
        sample.seq = seq;
        sample.ts_ms = now_ms();
        let frame = encode_sample_sized(&mut sample, last_len + last_len / 8);
        last_len = frame.len();
        tracing::debug!(seq, bytes = frame.len(), "sample taken");
        if let Some(dropped) = outbox.push(seq, sample.ts_ms, frame) {
            if let Some(suppressed) = drops.allow(std::time::Instant::now()) {
                let total = outbox.n_dropped();
                if quiet {
                    tracing::debug!(
                        dropped_seq = dropped,
                        total,
                        suppressed,
                        "replay buffer full; dropped the oldest sample"
                    );
                } else {
                    tracing::warn!(
                        dropped_seq = dropped,
                        total,
                        suppressed,
                        "replay buffer full; dropped the oldest sample"
                    );
                }
            }
        }
    }
}

/// Encodes a sample frame that fits in [`MAX_FRAME_BYTES`].
///
/// A normal sample is a few KiB. On a host with hundreds of cores, mounts, interfaces or
/// services, lists are halved until the frame fits, so the sample still goes out (with the
/// first entries) instead of getting the connection closed: first the per-core seconds
/// (the largest and least looked-at), then cgroups, processes, temperatures and disks,
/// then the longer of filesystems and networks, and per-core usage last.
pub fn encode_sample(sample: &mut Sample) -> String {
    encode_sample_sized(sample, 0)
}

/// [`encode_sample`] into a buffer of `capacity` bytes to start with (a little over the
/// previous frame's length), so the text is not copied through half a dozen doublings every
/// time. The slack is given back (in place) before the frame waits in the replay buffer.
fn encode_sample_sized(sample: &mut Sample, capacity: usize) -> String {
    loop {
        let mut text = Vec::with_capacity(capacity);
        let written = serde_json::to_writer(&mut text, &FrameRef::Sample(sample));
        // serde_json writes only UTF-8; an error leaves an empty frame, as before.
        let mut text = written
            .ok()
            .and_then(|()| String::from_utf8(text).ok())
            .unwrap_or_default();
        text.shrink_to_fit();
        if text.len() <= MAX_FRAME_BYTES || !halve_a_list(sample) {
            return text;
        }
    }
}

/// Halves the most expendable non-empty list of `sample`; false when all are empty.
fn halve_a_list(sample: &mut Sample) -> bool {
    fn halve<T>(list: &mut Vec<T>) -> bool {
        let len = list.len();
        list.truncate(len / 2);
        len > 0
    }
    let s = sample;
    let (fs, net) = (s.filesystems.len(), s.networks.len());
    halve(&mut s.cpu.core_seconds)
        || halve(&mut s.cgroups)
        || halve(&mut s.top_processes)
        || halve(&mut s.temperatures)
        || halve(&mut s.disks)
        || (fs >= net && halve(&mut s.filesystems))
        || halve(&mut s.networks)
        || halve(&mut s.cpu.cores)
}

/// Who one run of the edge is: its public id and the secret that proves a reconnection
/// comes from the same process (the server keeps only a hash of it).
#[derive(Clone)]
pub struct RunIdentity {
    /// 16 hex digits, different on every process start; shown to logged-in users.
    pub id: String,
    /// 64 hex digits (256 random bits); never logged.
    secret: String,
}

impl RunIdentity {
    /// A fresh random id and secret.
    pub fn new() -> RunIdentity {
        RunIdentity::with_id(&format!("{:016x}", rand::random::<u64>()))
    }

    /// A fresh secret for a given run id (tests replaying a known run).
    pub fn with_id(id: &str) -> RunIdentity {
        let secret: [u8; 32] = rand::random();
        RunIdentity {
            id: id.to_owned(),
            secret: secret.iter().map(|b| format!("{b:02x}")).collect(),
        }
    }
}

impl Default for RunIdentity {
    fn default() -> RunIdentity {
        RunIdentity::new()
    }
}

impl std::fmt::Debug for RunIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunIdentity")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Encodes the hello frame of one connection.
pub fn encode_hello(run: &RunIdentity, interval_ms: u64, host: HostInfo) -> String {
    serde_json::to_string(&FrameRef::Hello(&hello(run, interval_ms, host))).unwrap_or_default()
}

fn hello(run: &RunIdentity, interval_ms: u64, host: HostInfo) -> Hello {
    Hello {
        version: PROTOCOL_VERSION,
        minor: PROTOCOL_MINOR,
        run_id: run.id.clone(),
        run_secret: Some(run.secret.clone()),
        interval_ms,
        host,
    }
}

#[cfg(test)]
mod tests {
    use utizmon_protocol::{decode_edge, EdgeFrame, Filesystem};

    use super::*;

    #[test]
    fn borrowed_frames_decode_as_protocol_frames() {
        let mut sample = Sample {
            seq: 3,
            ..Sample::default()
        };
        let text = encode_sample(&mut sample);
        // The server stores a sample from its frame's text when the tag comes first.
        assert!(text.starts_with(r#"{"type":"sample","#), "{text}");
        assert_eq!(decode_edge(&text), Ok(EdgeFrame::Sample(sample)));
        let text = encode_hello(
            &RunIdentity::with_id("abc"),
            1000,
            HostInfo {
                host_name: "h".into(),
                ..HostInfo::default()
            },
        );
        assert!(matches!(decode_edge(&text), Ok(EdgeFrame::Hello(h)) if h.run_id == "abc"));
    }

    #[test]
    fn oversized_samples_are_trimmed_to_fit_a_frame() {
        let mut sample = Sample {
            seq: 1,
            ..Sample::default()
        };
        sample.filesystems = (0..128)
            .map(|i| Filesystem {
                mountpoint: format!("/{}{i}", "m".repeat(250)),
                fstype: "x".repeat(256),
                size_bytes: 2,
                avail_bytes: 1,
                ..Filesystem::default()
            })
            .collect();
        let text = encode_sample(&mut sample);
        assert!(text.len() <= MAX_FRAME_BYTES);
        assert!(!sample.filesystems.is_empty());
        assert!(decode_edge(&text).is_ok());
    }

    #[test]
    fn run_identities_are_valid_and_differ() {
        let (a, b) = (RunIdentity::new(), RunIdentity::new());
        assert_ne!(a.id, b.id);
        assert_ne!(a.secret, b.secret);
        assert_eq!(a.id.len(), 16);
        let host = HostInfo {
            host_name: "h".into(),
            ..HostInfo::default()
        };
        let hello = super::hello(&a, 1000, host);
        hello.validate().unwrap();
        assert!(!format!("{a:?}").contains(&a.secret));
    }
}
