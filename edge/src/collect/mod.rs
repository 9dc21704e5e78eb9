//! Reads the host into a [`Sample`]: synchronous, no network, no retries.
//!
//! [`Collector`] reads `/proc` and `/sys` directly into one reused buffer and hands the text
//! to a pure parser per family, one file each (`cpu`, `memory`, `load`, `filesystem`,
//! `network`, `diskstats`, `pressure`, `temperature`, `processes`, `systemd`, `cgroups`,
//! `stat`, `filefd`, and the kernel statistics tables `meminfo`, `vmstat`, `netstat`,
//! `sockstat`, filled in place by `table`), so the per-sample cost is a handful of small reads and `statvfs`
//! calls; the expensive families (processes, cgroups, systemd, and the vmstat, netstat and
//! sockstat tables every 5 s) refresh at a slower cadence
//! and repeat their latest result in between. A family that fails leaves its part of the
//! sample empty and the rest still goes out: a missing file (a kernel without PSI, a host
//! without systemd) is logged once at `warn`, any other failure at most once a minute.
//! Every value is made valid for the protocol here (ratios in 0..=1, lists capped, text
//! cut to the limits), so a sample never gets the edge disconnected.

pub mod cgroups;
pub mod cpu;
pub mod diskstats;
pub mod filefd;
pub mod filesystem;
pub mod host;
pub mod load;
pub mod meminfo;
pub mod memory;
pub mod netstat;
pub mod network;
pub mod pressure;
pub mod processes;
pub mod select;
pub mod sockstat;
pub mod stat;
pub mod sys;
pub mod systemd;
pub mod table;
pub mod temperature;
pub mod vmstat;

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::time::{Duration, Instant};

use utizmon_protocol::{Cpu, Filesystem, Load, Pressure, Sample, StatTable};

use self::cgroups::CgroupScanner;
use self::cpu::CpuState;
use self::filesystem::Mount;
use self::processes::ProcessScanner;
use self::select::{CollectorName, Enabled};
use self::systemd::FailedUnits;
use self::table::TableWriter;
use self::temperature::Sensors;

/// Something that fills samples: the real host ([`Collector`]) or a simulated one.
pub trait Source {
    /// Fills every field of `sample` except `seq` and `ts_ms`, reusing its allocations.
    fn fill(&mut self, sample: &mut Sample);
}

/// Reads the local host from `/proc` and `/sys`, keeping what it needs between samples
/// (previous CPU counters, the parsed mount table, discovered sensors, the slow scanners,
/// one read buffer).
pub struct Collector {
    enabled: Enabled,
    text: String,
    cpu: CpuState,
    mounts_text: String,
    mounts: Vec<Mount>,
    sensors: Sensors,
    sensors_found: Option<Instant>,
    processes: ProcessScanner,
    failed_units: FailedUnits,
    cgroups: CgroupScanner,
    /// Builds the names of the kernel statistics tables.
    name: String,
    /// The files of one statistics table, read before it is parsed (reused).
    table_texts: [String; 3],
    /// When the `vmstat`, `netstat` and `sockstat` tables were last read.
    tables_read: Option<Instant>,
    page_size: u64,
    warnings: [WarnLimiter; Family::COUNT],
    missing_logged: [bool; Family::COUNT],
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
    Diskstats,
    Pressure,
    Temperature,
    Processes,
    Systemd,
    Cgroups,
    Stat,
    Filefd,
    Meminfo,
    Vmstat,
    Netstat,
    Sockstat,
}

impl Family {
    const COUNT: usize = 18;

    fn name(self) -> &'static str {
        match self {
            Family::Cpu => "cpu",
            Family::Memory => "memory",
            Family::Load => "load",
            Family::Uptime => "uptime",
            Family::Filesystem => "filesystem",
            Family::Network => "network",
            Family::Diskstats => "diskstats",
            Family::Pressure => "pressure",
            Family::Temperature => "temperature",
            Family::Processes => "processes",
            Family::Systemd => "systemd",
            Family::Cgroups => "cgroups",
            Family::Stat => "stat",
            Family::Filefd => "filefd",
            Family::Meminfo => "meminfo",
            Family::Vmstat => "vmstat",
            Family::Netstat => "netstat",
            Family::Sockstat => "sockstat",
        }
    }
}

/// How often the `vmstat`, `netstat` and `sockstat` tables are read.
const TABLES_EVERY: Duration = Duration::from_secs(5);

/// How often the list of temperature sensors is discovered again (hot-plugged chips).
const SENSOR_DISCOVERY_EVERY: Duration = Duration::from_secs(60);

impl Default for Collector {
    /// Every collector on.
    fn default() -> Self {
        Collector::new(Enabled::default())
    }
}

impl Source for Collector {
    fn fill(&mut self, sample: &mut Sample) {
        let now = Instant::now();
        let on = self.enabled;
        self.fill_cpu_and_stat(sample);

        self.fill_memory_and_meminfo(sample);

        if on.has(CollectorName::Load) {
            let loadavg = read_into("/proc/loadavg", &mut self.text)
                .map(|()| load::parse_loadavg(&self.text));
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
        }

        if on.has(CollectorName::Filesystem) {
            self.fill_filesystems(&mut sample.filesystems);
        }

        if on.has(CollectorName::Network) {
            let net = read_into("/proc/net/dev", &mut self.text)
                .map(|()| network::parse_net_dev(&self.text, &mut sample.networks));
            if !matches!(net, Ok(true)) {
                sample.networks.clear();
                self.warn(Family::Network, "/proc/net/dev", net.err());
            }
        }

        if on.has(CollectorName::Diskstats) {
            let disks = read_into("/proc/diskstats", &mut self.text)
                .map(|()| diskstats::parse_diskstats(&self.text, &mut sample.disks));
            if !matches!(disks, Ok(true)) {
                sample.disks.clear();
                self.warn(Family::Diskstats, "/proc/diskstats", disks.err());
            }
        }

        if on.has(CollectorName::Pressure) {
            self.fill_pressure(&mut sample.pressure);
        }

        if on.has(CollectorName::Temperature) {
            self.fill_temperatures(now, sample);
        }

        if on.has(CollectorName::Processes) {
            if let Err(err) = self
                .processes
                .fill(now, &mut self.text, &mut sample.top_processes)
            {
                sample.top_processes.clear();
                self.warn(Family::Processes, "/proc", Some(err));
            }
        }

        if on.has(CollectorName::Systemd) {
            if let Err(err) = self.failed_units.fill(now, &mut sample.failed_units) {
                self.warn(Family::Systemd, "systemctl", Some(err));
            }
        }

        if on.has(CollectorName::Cgroups) {
            if let Err(err) = self.cgroups.fill(now, &mut self.text, &mut sample.cgroups) {
                self.warn(Family::Cgroups, "/sys/fs/cgroup", Some(err));
            }
        }

        if on.has(CollectorName::Filefd) {
            let handles = read_into("/proc/sys/fs/file-nr", &mut self.text)
                .map(|()| filefd::parse_file_nr(&self.text));
            sample.file_handles = match handles {
                Ok(Some(handles)) => Some(handles),
                other => {
                    self.warn(Family::Filefd, "/proc/sys/fs/file-nr", other.err());
                    None
                }
            };
        }

        // The network and paging tables cost a handful of /proc reads the kernel computes
        // by summing per-CPU counters: read every few seconds, repeated in between (the
        // sample is reused, so they are simply left as they are).
        let tables_due = self
            .tables_read
            .is_none_or(|at| now.saturating_duration_since(at) >= TABLES_EVERY);
        if !tables_due {
            return;
        }
        self.tables_read = Some(now);
        if on.has(CollectorName::Vmstat) {
            self.fill_table(
                Family::Vmstat,
                &["/proc/vmstat"],
                &mut sample.vmstat,
                |_, text, w| vmstat::parse_vmstat(text, w),
            );
        }
        if on.has(CollectorName::Netstat) {
            let files = ["/proc/net/netstat", "/proc/net/snmp", "/proc/net/snmp6"];
            self.fill_table(
                Family::Netstat,
                &files,
                &mut sample.netstat,
                |i, text, w| {
                    if i < 2 {
                        netstat::parse_netstat(text, w)
                    } else {
                        netstat::parse_snmp6(text, w)
                    }
                },
            );
        }
        if on.has(CollectorName::Sockstat) {
            let page_size = self.page_size;
            let files = ["/proc/net/sockstat", "/proc/net/sockstat6"];
            self.fill_table(
                Family::Sockstat,
                &files,
                &mut sample.sockstat,
                |_, text, w| sockstat::parse_sockstat(text, page_size, w),
            );
        }
    }
}

impl Collector {
    /// A collector running only the `enabled` collectors; the others leave their part of
    /// every sample empty.
    pub fn new(enabled: Enabled) -> Collector {
        let ticks = sys::clock_ticks_per_second();
        let mut cpu = CpuState::new(ticks);
        cpu.per_core_seconds = enabled.has(CollectorName::Cpu);
        Collector {
            enabled,
            text: String::with_capacity(4096),
            cpu,
            mounts_text: String::new(),
            mounts: Vec::new(),
            sensors: Sensors::default(),
            sensors_found: None,
            processes: ProcessScanner::new(
                ticks,
                sys::page_size(),
                sys::online_cpus().unwrap_or(1),
            ),
            failed_units: FailedUnits::default(),
            cgroups: CgroupScanner::default(),
            name: String::new(),
            table_texts: Default::default(),
            tables_read: None,
            page_size: sys::page_size(),
            warnings: [WarnLimiter::default(); Family::COUNT],
            missing_logged: [false; Family::COUNT],
        }
    }

    /// Boot time seen in the latest `/proc/stat`, Unix seconds.
    pub fn boot_time(&self) -> Option<u64> {
        self.cpu.boot_time()
    }

    /// Reads `path`, which feeds collectors `a` and `b`, once into the shared buffer:
    /// whether each is on, and how the read went; `None` (nothing read) when both are off.
    fn read_shared(
        &mut self,
        path: &str,
        a: CollectorName,
        b: CollectorName,
    ) -> Option<(bool, bool, io::Result<()>)> {
        let (a_on, b_on) = (self.enabled.has(a), self.enabled.has(b));
        (a_on || b_on).then(|| (a_on, b_on, read_into(path, &mut self.text)))
    }

    /// `/proc/stat` feeds two collectors: CPU and kernel counters. It is read once.
    fn fill_cpu_and_stat(&mut self, sample: &mut Sample) {
        let Some((cpu_on, stat_on, read)) =
            self.read_shared("/proc/stat", CollectorName::Cpu, CollectorName::Stat)
        else {
            return;
        };
        if cpu_on {
            let ok = read
                .as_ref()
                .map(|()| self.cpu.update(&self.text, &mut sample.cpu));
            if !matches!(ok, Ok(true)) {
                sample.cpu = Cpu::default();
                let err = ok.err().map(|e| io::Error::new(e.kind(), e.to_string()));
                self.warn(Family::Cpu, "/proc/stat", err);
            }
        }
        if stat_on {
            sample.kernel = match &read {
                Ok(()) => stat::parse_kernel_counters(&self.text),
                Err(_) => None,
            };
            if sample.kernel.is_none() {
                let err = read.err();
                self.warn(Family::Stat, "/proc/stat", err);
            }
        }
    }

    /// `/proc/meminfo` feeds two collectors: the memory summary and the whole table. It
    /// is read once.
    fn fill_memory_and_meminfo(&mut self, sample: &mut Sample) {
        let Some((memory_on, table_on, read)) = self.read_shared(
            "/proc/meminfo",
            CollectorName::Memory,
            CollectorName::Meminfo,
        ) else {
            return;
        };
        if memory_on {
            let memory = read
                .as_ref()
                .ok()
                .and_then(|()| memory::parse_meminfo(&self.text));
            sample.memory = memory.unwrap_or_default();
            if memory.is_none() {
                let err = read
                    .as_ref()
                    .err()
                    .map(|e| io::Error::new(e.kind(), e.to_string()));
                self.warn(Family::Memory, "/proc/meminfo", err);
            }
        }
        if table_on {
            let text = &self.text;
            let n = match &read {
                Ok(()) => table::fill(&mut sample.meminfo, &mut self.name, |w| {
                    meminfo::parse_meminfo_table(text, w)
                }),
                Err(_) => 0,
            };
            if n == 0 {
                sample.meminfo.clear();
                self.warn(Family::Meminfo, "/proc/meminfo", read.err());
            }
        }
    }

    /// Reads `files` in order into one statistics table with `parse(index, text, writer)`.
    /// A file that cannot be read is left out (logged; `snmp6` is missing without IPv6);
    /// the table is empty only when none could be read.
    fn fill_table(
        &mut self,
        family: Family,
        files: &[&str],
        out: &mut StatTable,
        parse: impl Fn(usize, &str, &mut TableWriter<'_>),
    ) {
        let texts = &mut self.table_texts;
        let mut failed = None;
        for (path, text) in files.iter().zip(texts.iter_mut()) {
            if let Err(err) = read_into(path, text) {
                text.clear();
                failed = Some((*path, err));
            }
        }
        let n = table::fill(out, &mut self.name, |w| {
            for (i, text) in texts.iter().enumerate().take(files.len()) {
                parse(i, text, w);
            }
        });
        if n == 0 {
            out.clear();
        }
        if let Some((path, err)) = failed {
            self.warn(family, path, Some(err));
        } else if n == 0 {
            self.warn(family, files[0], None);
        }
    }

    fn fill_pressure(&mut self, out: &mut Option<Pressure>) {
        let mut pressure = Pressure::default();
        let mut failed = None;
        for (path, slot) in [
            ("/proc/pressure/cpu", &mut pressure.cpu),
            ("/proc/pressure/memory", &mut pressure.memory),
            ("/proc/pressure/io", &mut pressure.io),
        ] {
            match read_into(path, &mut self.text) {
                Ok(()) => *slot = pressure::parse_pressure(&self.text),
                Err(err) => failed = Some((path, err)),
            }
        }
        let any = pressure.cpu.is_some() || pressure.memory.is_some() || pressure.io.is_some();
        *out = any.then_some(pressure);
        if let Some((path, err)) = failed {
            self.warn(Family::Pressure, path, Some(err));
        } else if !any {
            self.warn(Family::Pressure, "/proc/pressure", None);
        }
    }

    fn fill_temperatures(&mut self, now: Instant, sample: &mut Sample) {
        let due = self
            .sensors_found
            .is_none_or(|at| now.saturating_duration_since(at) >= SENSOR_DISCOVERY_EVERY);
        if due {
            self.sensors_found = Some(now);
            if self.sensors.discover(Path::new("/sys/class")) == 0 {
                let err = io::Error::new(
                    io::ErrorKind::NotFound,
                    "no sensor under /sys/class/hwmon or /sys/class/thermal",
                );
                self.warn(Family::Temperature, "/sys/class", Some(err));
            }
        }
        let failed = self.sensors.read(&mut self.text, &mut sample.temperatures);
        if failed > 0 {
            let err = io::Error::other(format!("{failed} sensors unreadable"));
            self.warn(Family::Temperature, "/sys/class/hwmon", Some(err));
        }
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
                    device: mount.device.clone(),
                    free_bytes: space.free_bytes,
                    files: space.files,
                    files_free: space.files_free,
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

    /// Logs a failed family: a missing file once for the life of the process (it will
    /// not appear by itself), anything else at most once a minute.
    fn warn(&mut self, family: Family, what: &str, err: Option<io::Error>) {
        let missing = err
            .as_ref()
            .is_some_and(|e| e.kind() == io::ErrorKind::NotFound);
        let error = err.map_or_else(|| "unexpected content".to_owned(), |e| e.to_string());
        if missing {
            let logged = &mut self.missing_logged[family as usize];
            if !std::mem::replace(logged, true) {
                tracing::warn!(
                    family = family.name(),
                    source = what,
                    %error,
                    "collector source is missing on this host; this part of the sample stays empty (logged once)"
                );
            } else {
                tracing::debug!(family = family.name(), source = what, %error, "collector source missing");
            }
            return;
        }
        let limiter = &mut self.warnings[family as usize];
        if let Some(suppressed) = limiter.allow(Instant::now()) {
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
        assert_eq!(sample.cpu.core_seconds.len(), sample.cpu.cores.len());
        assert!(sample.kernel.is_some_and(|k| k.context_switches > 0));
        assert!(sample.file_handles.is_some());
        assert!(!sample.top_processes.is_empty());
        assert!(sample
            .networks
            .iter()
            .any(|n| n.device == "lo" && n.rx_packets > 0));
    }

    #[test]
    fn switched_off_collectors_leave_their_part_empty() {
        let only = [CollectorName::Memory];
        let mut collector = Collector::new(Enabled::choose(Some(&only), &[]));
        let mut sample = Sample::default();
        collector.fill(&mut sample);
        assert!(sample.memory.total_bytes > 0);
        assert_eq!(sample.cpu, Cpu::default());
        assert!(sample.networks.is_empty() && sample.top_processes.is_empty());
        assert_eq!(
            (sample.kernel, sample.pressure, sample.file_handles),
            (None, None, None)
        );
    }
}
