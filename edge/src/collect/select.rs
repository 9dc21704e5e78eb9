//! Which collectors run: the names `--collectors` and `--no-collector` take, and the set
//! they make. Every collector is on by default.

use std::fmt;

/// One part of the sample that can be switched off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum CollectorName {
    /// `/proc/stat`: CPU usage, total and per-core seconds by mode.
    Cpu,
    /// `/proc/meminfo`.
    Memory,
    /// `/proc/loadavg` and `/proc/uptime`.
    Load,
    /// Mounted filesystems: space and inodes (`statvfs`).
    Filesystem,
    /// `/proc/net/dev`: bytes, packets, errors and drops per interface.
    Network,
    /// `/proc/diskstats`: I/O per block device.
    Diskstats,
    /// `/proc/pressure/{cpu,memory,io}`.
    Pressure,
    /// hwmon and thermal-zone temperatures.
    Temperature,
    /// The ten heaviest processes by CPU and by memory, every 5 s.
    Processes,
    /// Failed systemd units, every 30 s.
    Systemd,
    /// cgroup v2 services and containers, every 5 s.
    Cgroups,
    /// `/proc/stat`: context switches, interrupts, forks, running and blocked tasks.
    Stat,
    /// `/proc/sys/fs/file-nr`: open file handles.
    Filefd,
    /// Every line of `/proc/meminfo` (for `node_memory_*`).
    Meminfo,
    /// `/proc/vmstat`: paging, swapping, page faults, OOM kills.
    Vmstat,
    /// `/proc/net/netstat`, `/proc/net/snmp`, `/proc/net/snmp6`: TCP, UDP, IP, ICMP counters.
    Netstat,
    /// `/proc/net/sockstat` and `sockstat6`: sockets in use per protocol.
    Sockstat,
}

impl CollectorName {
    /// Every collector, in `--help` order.
    pub const ALL: [CollectorName; 17] = [
        CollectorName::Cpu,
        CollectorName::Memory,
        CollectorName::Load,
        CollectorName::Filesystem,
        CollectorName::Network,
        CollectorName::Diskstats,
        CollectorName::Pressure,
        CollectorName::Temperature,
        CollectorName::Processes,
        CollectorName::Systemd,
        CollectorName::Cgroups,
        CollectorName::Stat,
        CollectorName::Filefd,
        CollectorName::Meminfo,
        CollectorName::Vmstat,
        CollectorName::Netstat,
        CollectorName::Sockstat,
    ];

    /// The name on the command line and in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            CollectorName::Cpu => "cpu",
            CollectorName::Memory => "memory",
            CollectorName::Load => "load",
            CollectorName::Filesystem => "filesystem",
            CollectorName::Network => "network",
            CollectorName::Diskstats => "diskstats",
            CollectorName::Pressure => "pressure",
            CollectorName::Temperature => "temperature",
            CollectorName::Processes => "processes",
            CollectorName::Systemd => "systemd",
            CollectorName::Cgroups => "cgroups",
            CollectorName::Stat => "stat",
            CollectorName::Filefd => "filefd",
            CollectorName::Meminfo => "meminfo",
            CollectorName::Vmstat => "vmstat",
            CollectorName::Netstat => "netstat",
            CollectorName::Sockstat => "sockstat",
        }
    }
}

impl fmt::Display for CollectorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of collectors, one bit each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enabled(u32);

impl Default for Enabled {
    /// Everything on.
    fn default() -> Self {
        Enabled::from_names(&CollectorName::ALL)
    }
}

impl Enabled {
    /// Exactly the named collectors.
    pub fn from_names(names: &[CollectorName]) -> Enabled {
        Enabled(names.iter().fold(0, |bits, &name| bits | 1 << name as u32))
    }

    /// `only` (every collector when `None`) minus `without`.
    pub fn choose(only: Option<&[CollectorName]>, without: &[CollectorName]) -> Enabled {
        let base = only.map_or_else(Enabled::default, Enabled::from_names);
        Enabled(base.0 & !Enabled::from_names(without).0)
    }

    /// Whether `name` runs.
    pub fn has(self, name: CollectorName) -> bool {
        self.0 & (1 << name as u32) != 0
    }

    /// The names that run, in [`CollectorName::ALL`] order, comma-separated (for logs).
    pub fn list(self) -> String {
        let names: Vec<&str> = CollectorName::ALL
            .iter()
            .filter(|&&n| self.has(n))
            .map(|n| n.as_str())
            .collect();
        names.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_everything_and_choices_combine() {
        assert!(CollectorName::ALL
            .iter()
            .all(|&n| Enabled::default().has(n)));
        let only = [CollectorName::Cpu, CollectorName::Processes];
        let set = Enabled::choose(Some(&only), &[CollectorName::Processes]);
        assert_eq!(set.list(), "cpu");
        let set = Enabled::choose(None, &[CollectorName::Systemd]);
        assert!(!set.has(CollectorName::Systemd) && set.has(CollectorName::Cgroups));
    }
}
