//! Reads the host into a [`Sample`]: synchronous, no network, no retries.
//!
//! [`Collector`] reads `/proc` directly into one reused buffer and hands the text to a pure
//! parser per family (`cpu`, `memory`, `load`, `filesystem`, `network`), so the per-sample
//! cost is a handful of small reads and `statvfs` calls. A family that fails logs a warning
//! at most once a minute and leaves its part of the sample empty; the rest still goes out.
//! Every value is made valid for the protocol here (ratios in 0..=1, lists capped, text cut
//! to the limits), so a sample never gets the edge disconnected.

pub mod cpu;
pub mod filesystem;
pub mod host;
pub mod load;
pub mod memory;
pub mod network;
pub mod sys;

use std::fs::File;
use std::io::{self, Read};
use std::time::{Duration, Instant};

use utizmon_protocol::{Cpu, Filesystem, Load, Memory, Sample};

use self::cpu::CpuState;
use self::filesystem::Mount;

/// Something that fills samples: the real host ([`Collector`]) or a simulated one.
pub trait Source {
    /// Fills every field of `sample` except `seq` and `ts_ms`, reusing its allocations.
    fn fill(&mut self, sample: &mut Sample);
}

/// Reads the local host from `/proc`, keeping what it needs between samples (previous CPU
/// counters, the parsed mount table, one read buffer).
pub struct Collector {
    text: String,
    cpu: CpuState,
    mounts_text: String,
    mounts: Vec<Mount>,
    warnings: [WarnLimiter; Family::COUNT],
}

/// Rate limit for a recurring warning: at most one per [`WarnLimiter::PERIOD`].
#[derive(Debug, Default, Clone, Copy)]
pub struct WarnLimiter {
    last: Option<Instant>,
    suppressed: u64,
}

/// The parts of a sample that fail independently.
#[derive(Debug, Clone, Copy)]
enum Family {
    Cpu,
    Memory,
    Load,
    Uptime,
    Filesystem,
    Network,
}

impl Family {
    const COUNT: usize = 6;

    fn name(self) -> &'static str {
        match self {
            Family::Cpu => "cpu",
            Family::Memory => "memory",
            Family::Load => "load",
            Family::Uptime => "uptime",
            Family::Filesystem => "filesystem",
            Family::Network => "network",
        }
    }
}

impl Default for Collector {
    fn default() -> Self {
        Collector {
            text: String::with_capacity(4096),
            cpu: CpuState::new(sys::clock_ticks_per_second()),
            mounts_text: String::new(),
            mounts: Vec::new(),
            warnings: [WarnLimiter::default(); Family::COUNT],
        }
    }
}

impl Source for Collector {
    fn fill(&mut self, sample: &mut Sample) {
        let ok = read_into("/proc/stat", &mut self.text)
            .map(|()| self.cpu.update(&self.text, &mut sample.cpu));
        if !matches!(ok, Ok(true)) {
            sample.cpu = Cpu::default();
            self.warn(Family::Cpu, "/proc/stat", ok.err());
        }

        let memory =
            read_into("/proc/meminfo", &mut self.text).map(|()| memory::parse_meminfo(&self.text));
        sample.memory = match memory {
            Ok(Some(memory)) => memory,
            other => {
                self.warn(Family::Memory, "/proc/meminfo", other.err());
                Memory::default()
            }
        };

        let loadavg =
            read_into("/proc/loadavg", &mut self.text).map(|()| load::parse_loadavg(&self.text));
        sample.load = match loadavg {
            Ok(Some(load)) => load,
            other => {
                self.warn(Family::Load, "/proc/loadavg", other.err());
                Load::default()
            }
        };

        let uptime =
            read_into("/proc/uptime", &mut self.text).map(|()| load::parse_uptime(&self.text));
        sample.uptime_seconds = match uptime {
            Ok(Some(uptime)) => uptime,
            other => {
                self.warn(Family::Uptime, "/proc/uptime", other.err());
                0.0
            }
        };

        self.fill_filesystems(&mut sample.filesystems);

        let net = read_into("/proc/net/dev", &mut self.text)
            .map(|()| network::parse_net_dev(&self.text, &mut sample.networks));
        if !matches!(net, Ok(true)) {
            sample.networks.clear();
            self.warn(Family::Network, "/proc/net/dev", net.err());
        }
    }
}

impl Collector {
    /// Boot time seen in the latest `/proc/stat`, Unix seconds.
    pub fn boot_time(&self) -> Option<u64> {
        self.cpu.boot_time()
    }

    fn fill_filesystems(&mut self, out: &mut Vec<Filesystem>) {
        out.clear();
        if let Err(err) = read_into("/proc/self/mounts", &mut self.text) {
            self.warn(Family::Filesystem, "/proc/self/mounts", Some(err));
            return;
        }
        // The mount table rarely changes: parse it again only when its text did.
        if self.text != self.mounts_text {
            std::mem::swap(&mut self.text, &mut self.mounts_text);
            filesystem::select_mounts(&self.mounts_text, &mut self.mounts);
        }
        let mut failed = None;
        for mount in &self.mounts {
            match sys::statvfs(&mount.path) {
                Ok(space) if space.size_bytes > 0 => out.push(Filesystem {
                    mountpoint: mount.mountpoint.clone(),
                    fstype: mount.fstype.clone(),
                    size_bytes: space.size_bytes,
                    avail_bytes: space.avail_bytes,
                }),
                Ok(_) => {}
                Err(err) => {
                    failed = Some(io::Error::new(
                        err.kind(),
                        format!("statvfs {}: {err}", mount.mountpoint),
                    ))
                }
            }
        }
        if let Some(err) = failed {
            self.warn(Family::Filesystem, "statvfs", Some(err));
        }
    }

    fn warn(&mut self, family: Family, what: &str, err: Option<io::Error>) {
        let limiter = &mut self.warnings[family as usize];
        if let Some(suppressed) = limiter.allow(Instant::now()) {
            let error = err.map_or_else(|| "unexpected content".to_owned(), |e| e.to_string());
            tracing::warn!(
                family = family.name(),
                source = what,
                %error,
                suppressed,
                "collector failed; this part of the sample is empty"
            );
        }
    }
}

impl WarnLimiter {
    /// Minimum time between two warnings of one kind.
    pub const PERIOD: Duration = Duration::from_secs(60);

    /// Whether to log now. `Some(n)` means yes, and `n` earlier occurrences were suppressed
    /// since the last logged one; `None` means stay quiet (the occurrence is counted).
    pub fn allow(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.saturating_duration_since(last) < Self::PERIOD => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

/// Reads a whole file into `buf`, replacing its contents and keeping its capacity.
pub fn read_into(path: &str, buf: &mut String) -> io::Result<()> {
    buf.clear();
    File::open(path)?.read_to_string(buf)?;
    Ok(())
}

/// `text` made safe for a protocol text field: control characters become `?`, and it is
/// cut to at most `max_bytes` on a character boundary.
pub fn clean_text(text: &str, max_bytes: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_bytes));
    for c in text.chars() {
        let c = if c.is_control() { '?' } else { c };
        if out.len() + c.len_utf8() > max_bytes {
            break;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warn_limiter_allows_one_per_minute_and_counts_the_rest() {
        let mut limiter = WarnLimiter::default();
        let t0 = Instant::now();
        assert_eq!(limiter.allow(t0), Some(0));
        assert_eq!(limiter.allow(t0 + Duration::from_secs(1)), None);
        assert_eq!(limiter.allow(t0 + Duration::from_secs(59)), None);
        assert_eq!(limiter.allow(t0 + Duration::from_secs(60)), Some(2));
        assert_eq!(limiter.allow(t0 + Duration::from_secs(61)), None);
    }

    #[test]
    fn clean_text_cuts_on_char_boundaries_and_replaces_controls() {
        assert_eq!(clean_text("a\tb\nc", 100), "a?b?c");
        assert_eq!(clean_text("ééé", 5), "éé");
        assert_eq!(clean_text(&"x".repeat(300), 256).len(), 256);
    }

    #[test]
    fn two_readings_of_this_host_make_a_valid_sample() {
        let mut collector = Collector::default();
        let mut sample = Sample::default();
        collector.fill(&mut sample);
        collector.fill(&mut sample);
        sample.seq = 1;
        sample.validate().unwrap();
        assert!(sample.memory.total_bytes > 0);
        assert!(!sample.cpu.cores.is_empty());
        assert!(sample.cpu.seconds.idle > 0.0);
        assert!(sample.uptime_seconds > 0.0);
        assert!(collector.boot_time().is_some());
    }
}
