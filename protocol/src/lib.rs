//! Wire types shared by `utizmon-edge` and `utizmon-server`: the frames, their limits and
//! the one place that decides whether a frame from the network is acceptable.
//!
//! Frames are JSON text messages tagged by `"type"`. An edge sends one [`Hello`] and then
//! [`Sample`]s; the server answers with [`Ack`]s and, before it closes a connection for a
//! reason, an [`ErrorFrame`]. `docs/protocol.md` is the prose version of this file.
//! No sockets and no async here: this crate only describes and checks bytes, plus the two
//! things both peers must do alike: read the clock for `ts_ms` ([`now_ms`]) and read a
//! token file ([`read_token_file`]).

mod edge_frame;
mod stat_table;
mod token;

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

pub use crate::stat_table::{stat_name, StatTable, MAX_SHARED_NAMES};
pub use crate::token::{read_token_file, TokenFileError};

/// Major protocol version. A peer speaking another major version is refused.
pub const PROTOCOL_VERSION: u16 = 1;

/// Minor protocol version: additions that old peers may ignore.
pub const PROTOCOL_MINOR: u16 = 2;

/// Largest text frame either side accepts, in bytes.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// Longest host name, in bytes (the DNS limit for a full name).
pub const MAX_HOST_NAME_BYTES: usize = 253;

/// Longest free-text field (OS name, kernel, CPU model, mountpoint, device, ...), in bytes.
pub const MAX_TEXT_BYTES: usize = 256;

/// Most CPU cores a sample may list.
pub const MAX_CORES: usize = 1024;

/// Most filesystems a sample may list.
pub const MAX_FILESYSTEMS: usize = 128;

/// Most network interfaces a sample may list.
pub const MAX_INTERFACES: usize = 128;

/// Most block devices a sample may list (minor 1).
pub const MAX_DISKS: usize = 128;

/// Most temperature sensors a sample may list (minor 1).
pub const MAX_TEMPERATURES: usize = 128;

/// Most processes a sample may list (minor 1): the ten heaviest by CPU and the ten
/// heaviest by memory, each listed once.
pub const MAX_PROCESSES: usize = 20;

/// Most failed systemd units a sample may list (minor 1).
pub const MAX_FAILED_UNITS: usize = 64;

/// Most cgroups (services, containers) a sample may list (minor 1).
pub const MAX_CGROUPS: usize = 64;

/// Most fields one kernel statistics table (`meminfo`, `vmstat`, `netstat`, `sockstat`)
/// may hold (minor 2).
pub const MAX_STAT_FIELDS: usize = 128;

/// Longest field name in a kernel statistics table, in bytes (minor 2).
pub const MAX_STAT_NAME_BYTES: usize = 64;

/// Earliest sample time accepted: 2000-01-01T00:00:00Z, Unix ms. Anything older is a broken
/// clock, and would be pruned at once or sort before every real sample.
pub const MIN_TS_MS: u64 = 946_684_800_000;

/// How far ahead of the server's clock a sample's `ts_ms` may be, in ms (10 minutes).
/// Generous for clock skew; a timestamp further ahead would outlive retention.
pub const MAX_FUTURE_MS: u64 = 10 * 60 * 1000;

/// HTTP path where edges connect.
pub const EDGE_PATH: &str = "/ws/edge";

/// Current Unix time in milliseconds: the clock of every `_ms` timestamp (`ts_ms`,
/// `last_seen_ms`, `server_time_ms`). A clock before 1970 reads as `0`.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A frame sent by an edge. Decoded by hand in one pass (`edge_frame.rs`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
// One frame is decoded at a time and moved once into the fleet; boxing the sample would
// change every match on it for no measurable gain.
#[allow(clippy::large_enum_variant)]
pub enum EdgeFrame {
    /// First frame of every connection.
    Hello(Hello),
    /// One measurement of the host.
    Sample(Sample),
}

/// A frame sent by the server to an edge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// The server has taken every sample of this edge run up to and including `seq`.
    Ack(Ack),
    /// Why the server is about to close the connection.
    Error(ErrorFrame),
}

/// Opens a connection: who the edge is and what it runs on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hello {
    /// Major protocol version the edge speaks; must equal [`PROTOCOL_VERSION`].
    pub version: u16,
    /// Minor protocol version; informational.
    #[serde(default)]
    pub minor: u16,
    /// Identifies one run of the edge process; changes on every restart, so sequence
    /// numbers are unique per `(host, run_id)`. 1..=64 bytes of `[A-Za-z0-9_-]`.
    pub run_id: String,
    /// Proves that a later connection of this run comes from the process that started it
    /// (minor 1): 32..=128 bytes of `[A-Za-z0-9_-]`, random per run, sent in every hello
    /// of the run. The server keeps only a hash; a hello for a known run with another
    /// secret is refused (`forbidden`). Absent: the run is protected only by its id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_secret: Option<String>,
    /// Sampling interval the edge uses, in milliseconds (100..=3_600_000).
    pub interval_ms: u64,
    /// What the edge runs on.
    pub host: HostInfo,
}

/// Static facts about a host, sent once per connection.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostInfo {
    /// Host name the server files samples under (1..=253 bytes, no control characters).
    pub host_name: String,
    /// Operating system name, e.g. `Debian GNU/Linux`.
    pub os_name: String,
    /// Operating system version, e.g. `12`.
    pub os_version: String,
    /// Kernel release, e.g. `6.1.0-18-amd64`.
    pub kernel: String,
    /// CPU architecture, e.g. `x86_64`.
    pub arch: String,
    /// CPU model name of the first core.
    pub cpu_model: String,
    /// Number of logical CPUs.
    pub cores: u32,
    /// Version of `utizmon-edge`.
    pub agent_version: String,
    /// Boot time, Unix seconds.
    pub boot_time: u64,
    /// Kernel build string from `uname -v`, e.g. `#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1`
    /// (minor 1; empty from older edges).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kernel_version: String,
    /// `uname -n`: the node name, which `--host-name` may differ from (minor 1).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub nodename: String,
    /// `uname`'s NIS domain name, `(none)` on most hosts (minor 1).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub domainname: String,
}

/// One measurement of a host.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sample {
    /// Per-run sequence number, starting at 1 and increasing by one per sample.
    pub seq: u64,
    /// When the sample was taken, Unix milliseconds.
    pub ts_ms: u64,
    /// CPU usage and raw counters.
    pub cpu: Cpu,
    /// Memory and swap.
    pub memory: Memory,
    /// Load averages.
    pub load: Load,
    /// Seconds since boot.
    pub uptime_seconds: f64,
    /// Real (non-pseudo) filesystems.
    #[serde(default)]
    pub filesystems: Vec<Filesystem>,
    /// Network interfaces.
    #[serde(default)]
    pub networks: Vec<Network>,
    /// Block devices, from `/proc/diskstats` (minor 1).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disks: Vec<Disk>,
    /// Pressure stall information, from `/proc/pressure` (minor 1; absent when the kernel
    /// has no PSI or the collector is off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pressure: Option<Pressure>,
    /// Temperature sensors, from hwmon and thermal zones (minor 1).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub temperatures: Vec<Temperature>,
    /// The heaviest processes by CPU and by memory, refreshed every few seconds (minor 1).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top_processes: Vec<Process>,
    /// Names of failed systemd units, refreshed every 30 s (minor 1; absent when not
    /// checked, empty when none failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_units: Option<Vec<String>>,
    /// Services and containers from cgroup v2, refreshed every few seconds (minor 1).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cgroups: Vec<Cgroup>,
    /// Kernel activity counters from `/proc/stat` (minor 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<KernelCounters>,
    /// Open file handles, from `/proc/sys/fs/file-nr` (minor 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_handles: Option<FileHandles>,
    /// Every line of `/proc/meminfo` under node_exporter's name (`Active_anon_bytes` for
    /// `Active(anon)`, in bytes; `HugePages_Total` as a count) (minor 2).
    #[serde(
        default,
        skip_serializing_if = "StatTable::is_empty",
        serialize_with = "stat_table::serialize",
        deserialize_with = "stat_table::deserialize"
    )]
    pub meminfo: StatTable,
    /// node_exporter's default fields of `/proc/vmstat` (`pgfault`, `oom_kill`, ...) (minor 2).
    #[serde(
        default,
        skip_serializing_if = "StatTable::is_empty",
        serialize_with = "stat_table::serialize",
        deserialize_with = "stat_table::deserialize"
    )]
    pub vmstat: StatTable,
    /// node_exporter's default fields of `/proc/net/netstat`, `/proc/net/snmp` and
    /// `/proc/net/snmp6`, named `Proto_Field` (`Tcp_ActiveOpens`) (minor 2).
    #[serde(
        default,
        skip_serializing_if = "StatTable::is_empty",
        serialize_with = "stat_table::serialize",
        deserialize_with = "stat_table::deserialize"
    )]
    pub netstat: StatTable,
    /// `/proc/net/sockstat` and `sockstat6`, named `PROTO_field` (`TCP_inuse`,
    /// `TCP_mem_bytes`) (minor 2).
    #[serde(
        default,
        skip_serializing_if = "StatTable::is_empty",
        serialize_with = "stat_table::serialize",
        deserialize_with = "stat_table::deserialize"
    )]
    pub sockstat: StatTable,
}

/// CPU usage over the last interval, plus raw counters so rates can be recomputed after a gap.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cpu {
    /// Busy share of all cores, 0..=1.
    pub usage_ratio: f64,
    /// Busy share of each core, 0..=1, indexed by core number.
    #[serde(default)]
    pub cores: Vec<f64>,
    /// Cumulative CPU time per mode since boot, summed over all cores.
    pub seconds: CpuSeconds,
    /// Cumulative CPU time per mode of each core, indexed by core number (minor 1; what
    /// `node_cpu_seconds_total{cpu,mode}` needs). At most 1024 entries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub core_seconds: Vec<CpuSeconds>,
}

/// Cumulative CPU seconds per mode, from the `cpu` line of `/proc/stat`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CpuSeconds {
    pub user: f64,
    pub nice: f64,
    pub system: f64,
    pub idle: f64,
    pub iowait: f64,
    pub irq: f64,
    pub softirq: f64,
    pub steal: f64,
}

/// Memory and swap, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Memory {
    /// `MemTotal`.
    pub total_bytes: u64,
    /// `MemTotal - MemAvailable`: what applications hold.
    pub used_bytes: u64,
    /// `MemAvailable`.
    pub available_bytes: u64,
    /// `SwapTotal`.
    pub swap_total_bytes: u64,
    /// `SwapTotal - SwapFree`.
    pub swap_used_bytes: u64,
    /// `MemFree` (minor 1).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub free_bytes: u64,
    /// `Buffers` (minor 1).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub buffers_bytes: u64,
    /// `Cached` (minor 1).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cached_bytes: u64,
}

/// Load averages over 1, 5 and 15 minutes.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Load {
    pub load1: f64,
    pub load5: f64,
    pub load15: f64,
}

/// One mounted filesystem.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filesystem {
    /// Where it is mounted, e.g. `/home`.
    pub mountpoint: String,
    /// Filesystem type, e.g. `ext4`.
    pub fstype: String,
    /// Total size, bytes.
    pub size_bytes: u64,
    /// Bytes available to unprivileged users.
    pub avail_bytes: u64,
    /// Device or source, e.g. `/dev/vda1` (minor 1).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub device: String,
    /// Free bytes including those reserved for root (minor 1).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub free_bytes: u64,
    /// Inodes in total (minor 1; 0 on filesystems without a fixed inode table).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub files: u64,
    /// Free inodes (minor 1).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub files_free: u64,
}

/// One network interface's cumulative counters.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// Interface name, e.g. `eth0`.
    pub device: String,
    /// Bytes received since the interface came up.
    pub rx_bytes: u64,
    /// Bytes transmitted since the interface came up.
    pub tx_bytes: u64,
    /// Packets received (minor 1).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rx_packets: u64,
    /// Packets transmitted (minor 1).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tx_packets: u64,
    /// Receive errors (minor 1).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rx_errors: u64,
    /// Transmit errors (minor 1).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tx_errors: u64,
    /// Received packets dropped (minor 1).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rx_dropped: u64,
    /// Packets dropped before transmission (minor 1).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tx_dropped: u64,
}

/// One block device's cumulative counters, from `/proc/diskstats` (minor 1).
///
/// Partitions and virtual devices (loop, ram, zram, device-mapper slaves...) are left out
/// as node_exporter's default device filter does.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Disk {
    /// Kernel device name, e.g. `vda`, `nvme0n1`, `dm-0`.
    pub device: String,
    /// Reads completed.
    pub reads: u64,
    /// Reads merged before they were issued.
    pub reads_merged: u64,
    /// Bytes read (sectors x 512).
    pub read_bytes: u64,
    /// Time spent reading, seconds.
    pub read_seconds: f64,
    /// Writes completed.
    pub writes: u64,
    /// Writes merged before they were issued.
    pub writes_merged: u64,
    /// Bytes written (sectors x 512).
    pub written_bytes: u64,
    /// Time spent writing, seconds.
    pub write_seconds: f64,
    /// I/Os in flight right now.
    pub io_now: u64,
    /// Time the device had I/O in flight (busy), seconds.
    pub io_seconds: f64,
    /// Weighted time doing I/O (in-flight count x time), seconds.
    pub io_weighted_seconds: f64,
}

/// Pressure stall information per resource (minor 1). A resource the kernel does not
/// report is `None`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pressure {
    /// `/proc/pressure/cpu`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Stall>,
    /// `/proc/pressure/memory`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Stall>,
    /// `/proc/pressure/io`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub io: Option<Stall>,
}

/// One `/proc/pressure/*` file: the `some` line (at least one task stalled) and the
/// `full` line (all non-idle tasks stalled; older kernels have none for cpu).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stall {
    /// Cumulative time some tasks were stalled, seconds.
    pub some_seconds: f64,
    /// Share of the last 10 s some tasks were stalled, 0..=1.
    pub some_avg10: f64,
    /// Cumulative time all non-idle tasks were stalled, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_seconds: Option<f64>,
    /// Share of the last 10 s all non-idle tasks were stalled, 0..=1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_avg10: Option<f64>,
}

/// One temperature sensor (minor 1).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Temperature {
    /// `hwmon` (a chip's `tempN_input`) or `thermal_zone` (`/sys/class/thermal`).
    pub kind: String,
    /// hwmon: the chip, named as node_exporter's `chip` label (e.g. `platform_coretemp_0`);
    /// thermal zone: the zone's type (e.g. `x86_pkg_temp`).
    pub chip: String,
    /// hwmon: `tempN`; thermal zone: the zone number.
    pub sensor: String,
    /// hwmon: the sensor's own label (`tempN_label`, e.g. `Package id 0`); may be empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub label: String,
    /// Degrees Celsius, -273.15..=1000.
    pub celsius: f64,
}

/// One process among the heaviest (minor 1).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Process {
    /// Process id.
    pub pid: u32,
    /// Command name (`comm`, at most 15 bytes on Linux).
    pub name: String,
    /// Owner's user name, or the numeric uid when it has no name.
    pub user: String,
    /// Share of all CPUs used since the previous scan, 0..=1.
    pub cpu_ratio: f64,
    /// Resident memory, bytes.
    pub rss_bytes: u64,
}

/// One cgroup v2 group: a systemd service or a container (minor 1).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cgroup {
    /// Path below the cgroup root, e.g. `system.slice/nginx.service`.
    pub name: String,
    /// Cumulative CPU time of its tasks (`cpu.stat` `usage_usec`), seconds.
    pub cpu_seconds: f64,
    /// Memory charged to it now (`memory.current`), bytes.
    pub memory_bytes: u64,
    /// Bytes read from block devices, cumulative (`io.stat` `rbytes`).
    pub io_read_bytes: u64,
    /// Bytes written to block devices, cumulative (`io.stat` `wbytes`).
    pub io_written_bytes: u64,
}

/// Kernel activity counters from `/proc/stat` (minor 1).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelCounters {
    /// Context switches since boot (`ctxt`).
    pub context_switches: u64,
    /// Interrupts serviced since boot (`intr`, first column).
    pub interrupts: u64,
    /// Processes and threads created since boot (`processes`).
    pub forks: u64,
    /// Tasks runnable right now (`procs_running`).
    pub procs_running: u64,
    /// Tasks blocked on I/O right now (`procs_blocked`).
    pub procs_blocked: u64,
}

/// Open file handles, from `/proc/sys/fs/file-nr` (minor 1).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileHandles {
    /// Handles allocated.
    pub allocated: u64,
    /// System-wide limit (`fs.file-max`).
    pub maximum: u64,
}

/// Cumulative acknowledgement: every sample with `seq <= self.seq` of the current run is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    pub seq: u64,
}

/// Sent just before the server closes a connection, with the same words as the close reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorFrame {
    /// Machine-readable cause, one of [`RejectReason::as_str`].
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
}

/// Why a frame or a connection was refused. Each one closes only that connection.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("frame is {len} bytes, limit is {limit}")]
    TooLarge { len: usize, limit: usize },
    #[error("binary frames are not accepted; send JSON text frames")]
    Binary,
    #[error("malformed frame: {0}")]
    Malformed(String),
    #[error("unsupported protocol version {got}, this server speaks {want}")]
    Version { got: u16, want: u16 },
    #[error("invalid host name: {0}")]
    HostName(String),
    #[error("{field} is not a finite number")]
    NonFinite { field: &'static str },
    #[error("{field} = {value} is outside {min}..={max}")]
    OutOfRange {
        field: &'static str,
        value: f64,
        min: f64,
        max: f64,
    },
    #[error("invalid field {field}: {why}")]
    Invalid { field: &'static str, why: String },
    #[error("ts_ms = {ts_ms} is outside {min}..={max} (2000-01-01 to 10 minutes ahead of the server's clock)")]
    Time { ts_ms: u64, min: u64, max: u64 },
}

/// Label values for `utizmon_server_samples_rejected_total{reason}` and close codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    TooLarge,
    Binary,
    Malformed,
    Version,
    HostName,
    NonFinite,
    OutOfRange,
    Invalid,
    Unauthorized,
    Protocol,
    HostConflict,
    /// A new host name while the server already tracks `--max-hosts` hosts.
    TooManyHosts,
    /// A credential that does not cover what the hello claims: another host's token, or
    /// another run's secret.
    Forbidden,
}

impl RejectReason {
    /// Every reason, so counters can be exported at zero before the first reject.
    pub const ALL: [RejectReason; 13] = [
        RejectReason::TooLarge,
        RejectReason::Binary,
        RejectReason::Malformed,
        RejectReason::Version,
        RejectReason::HostName,
        RejectReason::NonFinite,
        RejectReason::OutOfRange,
        RejectReason::Invalid,
        RejectReason::Unauthorized,
        RejectReason::Protocol,
        RejectReason::HostConflict,
        RejectReason::TooManyHosts,
        RejectReason::Forbidden,
    ];

    /// Stable snake_case name, used as metric label and in [`ErrorFrame::code`].
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::TooLarge => "too_large",
            RejectReason::Binary => "binary",
            RejectReason::Malformed => "malformed",
            RejectReason::Version => "version",
            RejectReason::HostName => "host_name",
            RejectReason::NonFinite => "non_finite",
            RejectReason::OutOfRange => "out_of_range",
            RejectReason::Invalid => "invalid",
            RejectReason::Unauthorized => "unauthorized",
            RejectReason::Protocol => "protocol",
            RejectReason::HostConflict => "host_conflict",
            RejectReason::TooManyHosts => "too_many_hosts",
            RejectReason::Forbidden => "forbidden",
        }
    }

    /// WebSocket close code the server uses for this reason (RFC 6455 codes where one fits,
    /// otherwise the 4000-4999 private range).
    pub fn close_code(self) -> u16 {
        match self {
            RejectReason::TooLarge => 1009,
            RejectReason::Binary => 1003,
            RejectReason::Malformed
            | RejectReason::NonFinite
            | RejectReason::OutOfRange
            | RejectReason::Invalid
            | RejectReason::HostName => 1007,
            RejectReason::Protocol => 1002,
            RejectReason::Unauthorized => 4401,
            RejectReason::Version => 4426,
            RejectReason::HostConflict => 4409,
            RejectReason::TooManyHosts => 4429,
            RejectReason::Forbidden => 4403,
        }
    }
}

impl DecodeError {
    /// The counter label and close code this error maps to.
    pub fn reason(&self) -> RejectReason {
        match self {
            DecodeError::TooLarge { .. } => RejectReason::TooLarge,
            DecodeError::Binary => RejectReason::Binary,
            DecodeError::Malformed(_) => RejectReason::Malformed,
            DecodeError::Version { .. } => RejectReason::Version,
            DecodeError::HostName(_) => RejectReason::HostName,
            DecodeError::NonFinite { .. } => RejectReason::NonFinite,
            DecodeError::OutOfRange { .. } | DecodeError::Time { .. } => RejectReason::OutOfRange,
            DecodeError::Invalid { .. } => RejectReason::Invalid,
        }
    }
}

/// Parses and validates one text frame from an edge.
///
/// Checks the size before parsing, so an oversized frame costs no JSON work, then checks
/// every value: a frame that decodes is safe to store, render and export.
pub fn decode_edge(text: &str) -> Result<EdgeFrame, DecodeError> {
    if text.len() > MAX_FRAME_BYTES {
        return Err(DecodeError::TooLarge {
            len: text.len(),
            limit: MAX_FRAME_BYTES,
        });
    }
    let frame: EdgeFrame =
        serde_json::from_str(text).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    match &frame {
        EdgeFrame::Hello(hello) => hello.validate()?,
        EdgeFrame::Sample(sample) => sample.validate()?,
    }
    Ok(frame)
}

/// Parses one text frame from the server.
pub fn decode_server(text: &str) -> Result<ServerFrame, DecodeError> {
    if text.len() > MAX_FRAME_BYTES {
        return Err(DecodeError::TooLarge {
            len: text.len(),
            limit: MAX_FRAME_BYTES,
        });
    }
    serde_json::from_str(text).map_err(|e| DecodeError::Malformed(e.to_string()))
}

/// Serialises a frame as JSON text.
pub fn encode<T: Serialize>(frame: &T) -> String {
    // Cannot fail: every wire type is plain data with string keys and finite numbers
    // (non-finite floats serialise as `null`, which decode then refuses).
    serde_json::to_string(frame).unwrap_or_default()
}

/// Checks a host name: 1..=253 bytes, no control characters.
///
/// Anything else (quotes, backslashes, `<script>`, non-ASCII) is allowed: names are data,
/// and every consumer escapes them.
pub fn validate_host_name(name: &str) -> Result<(), DecodeError> {
    if name.is_empty() {
        return Err(DecodeError::HostName("empty".into()));
    }
    if name.len() > MAX_HOST_NAME_BYTES {
        return Err(DecodeError::HostName(format!(
            "{} bytes, limit is {MAX_HOST_NAME_BYTES}",
            name.len()
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(DecodeError::HostName("contains control characters".into()));
    }
    if name.trim() != name {
        return Err(DecodeError::HostName(
            "leading or trailing whitespace".into(),
        ));
    }
    Ok(())
}

impl Hello {
    /// Checks version, run id, interval and host info.
    pub fn validate(&self) -> Result<(), DecodeError> {
        if self.version != PROTOCOL_VERSION {
            return Err(DecodeError::Version {
                got: self.version,
                want: PROTOCOL_VERSION,
            });
        }
        if self.run_id.is_empty()
            || self.run_id.len() > 64
            || !self
                .run_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(DecodeError::Invalid {
                field: "run_id",
                why: "must be 1..=64 bytes of [A-Za-z0-9_-]".into(),
            });
        }
        if let Some(secret) = &self.run_secret {
            if !(32..=128).contains(&secret.len())
                || !secret
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(DecodeError::Invalid {
                    field: "run_secret",
                    why: "must be 32..=128 bytes of [A-Za-z0-9_-]".into(),
                });
            }
        }
        if !(100..=3_600_000).contains(&self.interval_ms) {
            return Err(DecodeError::Invalid {
                field: "interval_ms",
                why: format!("{} is outside 100..=3600000", self.interval_ms),
            });
        }
        validate_host_name(&self.host.host_name)?;
        let info = &self.host;
        for (field, value) in [
            ("host.os_name", &info.os_name),
            ("host.os_version", &info.os_version),
            ("host.kernel", &info.kernel),
            ("host.arch", &info.arch),
            ("host.cpu_model", &info.cpu_model),
            ("host.agent_version", &info.agent_version),
            ("host.kernel_version", &info.kernel_version),
            ("host.nodename", &info.nodename),
            ("host.domainname", &info.domainname),
        ] {
            check_text(field, value)?;
        }
        if info.cores as usize > MAX_CORES {
            return Err(DecodeError::Invalid {
                field: "host.cores",
                why: format!("{} exceeds {MAX_CORES}", info.cores),
            });
        }
        Ok(())
    }
}

impl Sample {
    /// Checks `ts_ms` against the receiver's clock: not before [`MIN_TS_MS`], not more than
    /// [`MAX_FUTURE_MS`] after `now_ms`. Kept out of [`Sample::validate`] so decoding stays
    /// a pure function of the bytes.
    pub fn check_time(&self, now_ms: u64) -> Result<(), DecodeError> {
        let max = now_ms.saturating_add(MAX_FUTURE_MS);
        if (MIN_TS_MS..=max).contains(&self.ts_ms) {
            return Ok(());
        }
        Err(DecodeError::Time {
            ts_ms: self.ts_ms,
            min: MIN_TS_MS,
            max,
        })
    }

    /// Checks that every number is finite and in range and every list is bounded.
    pub fn validate(&self) -> Result<(), DecodeError> {
        if self.seq == 0 {
            return Err(DecodeError::Invalid {
                field: "seq",
                why: "sequence numbers start at 1".into(),
            });
        }
        ratio("cpu.usage_ratio", self.cpu.usage_ratio)?;
        if self.cpu.cores.len() > MAX_CORES {
            return Err(too_many("cpu.cores", self.cpu.cores.len(), MAX_CORES));
        }
        for &core in &self.cpu.cores {
            ratio("cpu.cores", core)?;
        }
        let s = &self.cpu.seconds;
        for (field, value) in [
            ("cpu.seconds.user", s.user),
            ("cpu.seconds.nice", s.nice),
            ("cpu.seconds.system", s.system),
            ("cpu.seconds.idle", s.idle),
            ("cpu.seconds.iowait", s.iowait),
            ("cpu.seconds.irq", s.irq),
            ("cpu.seconds.softirq", s.softirq),
            ("cpu.seconds.steal", s.steal),
        ] {
            non_negative(field, value)?;
        }
        for (field, value) in [
            ("load.load1", self.load.load1),
            ("load.load5", self.load.load5),
            ("load.load15", self.load.load15),
            ("uptime_seconds", self.uptime_seconds),
        ] {
            non_negative(field, value)?;
        }
        let m = &self.memory;
        if m.used_bytes > m.total_bytes || m.available_bytes > m.total_bytes {
            return Err(DecodeError::Invalid {
                field: "memory",
                why: "used or available exceeds total".into(),
            });
        }
        if m.swap_used_bytes > m.swap_total_bytes {
            return Err(DecodeError::Invalid {
                field: "memory.swap_used_bytes",
                why: "exceeds swap_total_bytes".into(),
            });
        }
        if self.filesystems.len() > MAX_FILESYSTEMS {
            return Err(too_many(
                "filesystems",
                self.filesystems.len(),
                MAX_FILESYSTEMS,
            ));
        }
        for fs in &self.filesystems {
            check_name("filesystems.mountpoint", &fs.mountpoint)?;
            check_name("filesystems.fstype", &fs.fstype)?;
            if fs.avail_bytes > fs.size_bytes {
                return Err(DecodeError::Invalid {
                    field: "filesystems.avail_bytes",
                    why: format!("exceeds size_bytes on {:?}", fs.mountpoint),
                });
            }
        }
        if self.networks.len() > MAX_INTERFACES {
            return Err(too_many("networks", self.networks.len(), MAX_INTERFACES));
        }
        for net in &self.networks {
            check_name("networks.device", &net.device)?;
        }
        self.validate_minor1()
    }

    /// The checks of the fields minor version 1 added.
    fn validate_minor1(&self) -> Result<(), DecodeError> {
        if self.cpu.core_seconds.len() > MAX_CORES {
            return Err(too_many(
                "cpu.core_seconds",
                self.cpu.core_seconds.len(),
                MAX_CORES,
            ));
        }
        for s in &self.cpu.core_seconds {
            for value in [
                s.user, s.nice, s.system, s.idle, s.iowait, s.irq, s.softirq, s.steal,
            ] {
                non_negative("cpu.core_seconds", value)?;
            }
        }
        if self.memory.free_bytes > self.memory.total_bytes {
            return Err(DecodeError::Invalid {
                field: "memory.free_bytes",
                why: "exceeds total_bytes".into(),
            });
        }
        for fs in &self.filesystems {
            check_text("filesystems.device", &fs.device)?;
            if fs.free_bytes > fs.size_bytes || fs.files_free > fs.files {
                return Err(DecodeError::Invalid {
                    field: "filesystems.free_bytes",
                    why: format!(
                        "free exceeds size or files_free exceeds files on {:?}",
                        fs.mountpoint
                    ),
                });
            }
        }
        if self.disks.len() > MAX_DISKS {
            return Err(too_many("disks", self.disks.len(), MAX_DISKS));
        }
        for disk in &self.disks {
            check_name("disks.device", &disk.device)?;
            for value in [
                disk.read_seconds,
                disk.write_seconds,
                disk.io_seconds,
                disk.io_weighted_seconds,
            ] {
                non_negative("disks.seconds", value)?;
            }
        }
        if let Some(pressure) = &self.pressure {
            for stall in [pressure.cpu, pressure.memory, pressure.io]
                .iter()
                .flatten()
            {
                non_negative("pressure.some_seconds", stall.some_seconds)?;
                ratio("pressure.some_avg10", stall.some_avg10)?;
                if let Some(full) = stall.full_seconds {
                    non_negative("pressure.full_seconds", full)?;
                }
                if let Some(full) = stall.full_avg10 {
                    ratio("pressure.full_avg10", full)?;
                }
            }
        }
        if self.temperatures.len() > MAX_TEMPERATURES {
            return Err(too_many(
                "temperatures",
                self.temperatures.len(),
                MAX_TEMPERATURES,
            ));
        }
        for t in &self.temperatures {
            if t.kind != "hwmon" && t.kind != "thermal_zone" {
                return Err(DecodeError::Invalid {
                    field: "temperatures.kind",
                    why: "must be hwmon or thermal_zone".into(),
                });
            }
            check_name("temperatures.chip", &t.chip)?;
            check_name("temperatures.sensor", &t.sensor)?;
            check_text("temperatures.label", &t.label)?;
            in_range("temperatures.celsius", t.celsius, -273.15, 1000.0)?;
        }
        if self.top_processes.len() > MAX_PROCESSES {
            return Err(too_many(
                "top_processes",
                self.top_processes.len(),
                MAX_PROCESSES,
            ));
        }
        for p in &self.top_processes {
            check_text("top_processes.name", &p.name)?;
            check_text("top_processes.user", &p.user)?;
            ratio("top_processes.cpu_ratio", p.cpu_ratio)?;
        }
        if let Some(units) = &self.failed_units {
            if units.len() > MAX_FAILED_UNITS {
                return Err(too_many("failed_units", units.len(), MAX_FAILED_UNITS));
            }
            for unit in units {
                check_name("failed_units", unit)?;
            }
        }
        if self.cgroups.len() > MAX_CGROUPS {
            return Err(too_many("cgroups", self.cgroups.len(), MAX_CGROUPS));
        }
        for group in &self.cgroups {
            check_name("cgroups.name", &group.name)?;
            non_negative("cgroups.cpu_seconds", group.cpu_seconds)?;
        }
        if let Some(fh) = &self.file_handles {
            if fh.maximum > 0 && fh.allocated > fh.maximum {
                return Err(DecodeError::Invalid {
                    field: "file_handles.allocated",
                    why: "exceeds maximum".into(),
                });
            }
        }
        self.validate_minor2()
    }

    /// The checks of the fields minor version 2 added.
    fn validate_minor2(&self) -> Result<(), DecodeError> {
        for (field, table) in [
            ("meminfo", &self.meminfo),
            ("vmstat", &self.vmstat),
            ("netstat", &self.netstat),
            ("sockstat", &self.sockstat),
        ] {
            if table.len() > MAX_STAT_FIELDS {
                return Err(too_many(field, table.len(), MAX_STAT_FIELDS));
            }
            for name in table.keys() {
                if !is_stat_name(name) {
                    return Err(DecodeError::Invalid {
                        field,
                        why: format!(
                            "field names are 1..={MAX_STAT_NAME_BYTES} bytes of A-Z, a-z, 0-9 and _, not starting with a digit"
                        ),
                    });
                }
            }
        }
        Ok(())
    }
}

/// Whether `name` can be a field of a [`StatTable`]: it becomes part of a metric name.
pub fn is_stat_name(name: &str) -> bool {
    (1..=MAX_STAT_NAME_BYTES).contains(&name.len())
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn ratio(field: &'static str, value: f64) -> Result<(), DecodeError> {
    in_range(field, value, 0.0, 1.0)
}

fn in_range(field: &'static str, value: f64, min: f64, max: f64) -> Result<(), DecodeError> {
    if !value.is_finite() {
        return Err(DecodeError::NonFinite { field });
    }
    if !(min..=max).contains(&value) {
        return Err(DecodeError::OutOfRange {
            field,
            value,
            min,
            max,
        });
    }
    Ok(())
}

fn non_negative(field: &'static str, value: f64) -> Result<(), DecodeError> {
    in_range(field, value, 0.0, f64::MAX)
}

fn too_many(field: &'static str, len: usize, limit: usize) -> DecodeError {
    DecodeError::Invalid {
        field,
        why: format!("{len} entries, limit is {limit}"),
    }
}

/// Free text: bounded length, no control characters; may be empty.
fn check_text(field: &'static str, value: &str) -> Result<(), DecodeError> {
    if value.len() > MAX_TEXT_BYTES {
        return Err(DecodeError::Invalid {
            field,
            why: format!("{} bytes, limit is {MAX_TEXT_BYTES}", value.len()),
        });
    }
    if value.chars().any(char::is_control) {
        return Err(DecodeError::Invalid {
            field,
            why: "contains control characters".into(),
        });
    }
    Ok(())
}

/// A name used as a label value: like [`check_text`] but not empty.
fn check_name(field: &'static str, value: &str) -> Result<(), DecodeError> {
    if value.is_empty() {
        return Err(DecodeError::Invalid {
            field,
            why: "empty".into(),
        });
    }
    check_text(field, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello_json(version: u16, host: &str) -> String {
        encode(&EdgeFrame::Hello(Hello {
            version,
            minor: 0,
            run_id: "r1".into(),
            run_secret: None,
            interval_ms: 1000,
            host: HostInfo {
                host_name: host.into(),
                cores: 2,
                ..HostInfo::default()
            },
        }))
    }

    fn sample() -> Sample {
        Sample {
            seq: 1,
            ts_ms: 1_700_000_000_000,
            cpu: Cpu {
                usage_ratio: 0.25,
                cores: vec![0.5, 0.0],
                seconds: CpuSeconds::default(),
                ..Cpu::default()
            },
            memory: Memory {
                total_bytes: 100,
                used_bytes: 40,
                available_bytes: 60,
                swap_total_bytes: 10,
                swap_used_bytes: 1,
                ..Memory::default()
            },
            load: Load {
                load1: 0.5,
                load5: 0.4,
                load15: 0.3,
            },
            uptime_seconds: 12.0,
            filesystems: vec![Filesystem {
                mountpoint: "/".into(),
                fstype: "ext4".into(),
                size_bytes: 10,
                avail_bytes: 5,
                ..Filesystem::default()
            }],
            networks: vec![Network {
                device: "eth0".into(),
                rx_bytes: 1,
                tx_bytes: 2,
                ..Network::default()
            }],
            ..Sample::default()
        }
    }

    /// [`sample`] with every section minor version 1 added.
    fn sample_minor1() -> Sample {
        let mut s = sample();
        s.cpu.core_seconds = vec![CpuSeconds::default(); 2];
        s.memory.free_bytes = 20;
        s.filesystems[0].device = "/dev/vda1".into();
        s.filesystems[0].free_bytes = 6;
        s.filesystems[0].files = 100;
        s.filesystems[0].files_free = 90;
        s.networks[0].rx_errors = 3;
        s.disks = vec![Disk {
            device: "vda".into(),
            read_bytes: 512,
            io_seconds: 0.5,
            ..Disk::default()
        }];
        s.pressure = Some(Pressure {
            cpu: Some(Stall {
                some_seconds: 1.0,
                some_avg10: 0.02,
                full_seconds: None,
                full_avg10: None,
            }),
            ..Pressure::default()
        });
        s.temperatures = vec![Temperature {
            kind: "hwmon".into(),
            chip: "platform_coretemp_0".into(),
            sensor: "temp1".into(),
            label: "Package id 0".into(),
            celsius: 45.0,
        }];
        s.top_processes = vec![Process {
            pid: 1,
            name: "init".into(),
            user: "root".into(),
            cpu_ratio: 0.01,
            rss_bytes: 4096,
        }];
        s.failed_units = Some(vec!["backup.service".into()]);
        s.cgroups = vec![Cgroup {
            name: "system.slice/nginx.service".into(),
            cpu_seconds: 1.5,
            memory_bytes: 1 << 20,
            ..Cgroup::default()
        }];
        s.kernel = Some(KernelCounters {
            context_switches: 10,
            ..KernelCounters::default()
        });
        s.file_handles = Some(FileHandles {
            allocated: 10,
            maximum: 100,
        });
        s
    }

    #[test]
    fn minor1_sample_round_trips_and_minor0_json_still_decodes() {
        let text = encode(&EdgeFrame::Sample(sample_minor1()));
        assert_eq!(decode_edge(&text), Ok(EdgeFrame::Sample(sample_minor1())));
        // A minor-0 edge's frame: none of the new keys, all of them default.
        let text = encode(&EdgeFrame::Sample(sample()));
        for key in [
            "disks",
            "pressure",
            "core_seconds",
            "files",
            "rx_errors",
            "kernel",
        ] {
            assert!(!text.contains(&format!("\"{key}\"")), "{key} in {text}");
        }
        assert_eq!(decode_edge(&text), Ok(EdgeFrame::Sample(sample())));
    }

    #[test]
    fn minor2_stat_tables_round_trip_and_are_checked() {
        let mut s = sample_minor1();
        s.meminfo.insert("Active_anon_bytes".into(), 1 << 30);
        s.meminfo.insert("HugePages_Total".into(), 0);
        s.vmstat.insert("oom_kill".into(), 2);
        s.netstat.insert("Tcp_ActiveOpens".into(), 17);
        s.sockstat.insert("TCP_mem_bytes".into(), 4096);
        let text = encode(&EdgeFrame::Sample(s.clone()));
        assert!(text.contains(r#""meminfo":{"Active_anon_bytes":1073741824,"HugePages_Total":0}"#));
        assert_eq!(decode_edge(&text), Ok(EdgeFrame::Sample(s.clone())));
        // A minor-1 edge sends none of them.
        let text = encode(&EdgeFrame::Sample(sample_minor1()));
        for key in ["meminfo", "vmstat", "netstat", "sockstat"] {
            assert!(!text.contains(&format!("\"{key}\"")), "{key} in {text}");
        }
        for bad in [
            "",
            "9lives",
            "Active(anon)",
            "a b",
            "caf\u{e9}",
            &"x".repeat(65),
        ] {
            let mut broken = s.clone();
            broken.netstat.insert(bad.into(), 1);
            let err = broken.validate().unwrap_err();
            assert!(err.to_string().contains("netstat"), "{bad:?}: {err}");
        }
        let mut broken = s.clone();
        broken.vmstat = (0..=MAX_STAT_FIELDS)
            .map(|i| (format!("f{i}").into(), 1))
            .collect();
        assert!(broken
            .validate()
            .unwrap_err()
            .to_string()
            .contains("vmstat"));
        // A negative or fractional value is not a counter: refused as malformed.
        let text = text.replacen('{', r#"{"sockstat":{"TCP_inuse":-1},"#, 1);
        assert!(matches!(decode_edge(&text), Err(DecodeError::Malformed(_))));
    }

    #[test]
    fn minor1_fields_are_bounded_and_checked() {
        type Break = fn(&mut Sample);
        let cases: [(&str, Break); 12] = [
            ("disks", |s| {
                s.disks = vec![s.disks[0].clone(); MAX_DISKS + 1]
            }),
            ("disks.device", |s| s.disks[0].device.clear()),
            ("disks.seconds", |s| s.disks[0].io_seconds = -1.0),
            ("pressure.some_avg10", |s| {
                s.pressure
                    .as_mut()
                    .unwrap()
                    .cpu
                    .as_mut()
                    .unwrap()
                    .some_avg10 = 1.5
            }),
            ("temperatures.celsius", |s| {
                s.temperatures[0].celsius = 5000.0
            }),
            ("temperatures.kind", |s| {
                s.temperatures[0].kind = "gpu".into()
            }),
            ("top_processes", |s| {
                s.top_processes = vec![s.top_processes[0].clone(); MAX_PROCESSES + 1]
            }),
            ("top_processes.name", |s| {
                s.top_processes[0].name = "a\nb".into()
            }),
            ("failed_units", |s| {
                s.failed_units = Some(vec![String::new()])
            }),
            ("cgroups.name", |s| {
                s.cgroups[0].name = "x".repeat(MAX_TEXT_BYTES + 1)
            }),
            ("filesystems.free_bytes", |s| {
                s.filesystems[0].files_free = 101
            }),
            ("file_handles.allocated", |s| {
                s.file_handles = Some(FileHandles {
                    allocated: 2,
                    maximum: 1,
                })
            }),
        ];
        for (field, break_it) in cases {
            let mut s = sample_minor1();
            break_it(&mut s);
            let err = s.validate().unwrap_err();
            let text = err.to_string();
            assert!(text.contains(field), "{field}: {text}");
        }
    }

    #[test]
    fn sample_round_trips() {
        let text = encode(&EdgeFrame::Sample(sample()));
        assert_eq!(decode_edge(&text), Ok(EdgeFrame::Sample(sample())));
    }

    /// Found by the fuzz target: without serde_json's `float_roundtrip` this value (in the
    /// shortest form its encoder prints) parsed back one ulp away from itself.
    #[test]
    fn every_float_comes_back_as_it_was_sent() {
        let mut sent = sample();
        for v in [
            0.118_446_744_073_709_55,
            0.1 + 0.2,
            1e-300,
            5e-324,
            123_456.789_012_345_67,
        ] {
            sent.cpu.seconds.iowait = v;
            let text = encode(&EdgeFrame::Sample(sent.clone()));
            let Ok(EdgeFrame::Sample(got)) = decode_edge(&text) else {
                panic!("{text}");
            };
            assert_eq!(got.cpu.seconds.iowait.to_bits(), v.to_bits(), "{text}");
        }
    }

    #[test]
    fn hostile_host_names_are_data() {
        for name in [
            "<img src=x onerror=alert(1)>",
            "quo\"te",
            "back\\slash",
            "<script>alert(1)</script>",
        ] {
            assert!(decode_edge(&hello_json(1, name)).is_ok(), "{name}");
        }
    }

    #[test]
    fn bad_host_names_are_refused() {
        let long = "a".repeat(254);
        for name in ["", "tab\there", "nl\n", long.as_str(), " padded"] {
            let err = decode_edge(&hello_json(1, name)).unwrap_err();
            assert_eq!(err.reason(), RejectReason::HostName, "{name:?}");
        }
        assert!(decode_edge(&hello_json(1, &"a".repeat(253))).is_ok());
    }

    #[test]
    fn unknown_major_version_is_refused() {
        let err = decode_edge(&hello_json(2, "h")).unwrap_err();
        assert_eq!(err, DecodeError::Version { got: 2, want: 1 });
        assert_eq!(err.reason().close_code(), 4426);
    }

    #[test]
    fn oversized_frames_are_refused_before_parsing() {
        let text = "x".repeat(MAX_FRAME_BYTES + 1);
        assert_eq!(
            decode_edge(&text).unwrap_err().reason(),
            RejectReason::TooLarge
        );
    }

    #[test]
    fn garbage_and_missing_fields_are_malformed() {
        for text in [
            "",
            "not json",
            "{}",
            r#"{"type":"sample"}"#,
            r#"{"type":"nope"}"#,
            "[1,2,3]",
            &"[".repeat(10_000),
        ] {
            assert_eq!(
                decode_edge(text).unwrap_err().reason(),
                RejectReason::Malformed,
                "{text:.40}"
            );
        }
    }

    #[test]
    fn non_finite_numbers_are_refused() {
        // JSON has no NaN; a float that overflows or a NaN token does not parse.
        let text = encode(&EdgeFrame::Sample(sample())).replace("0.25", "1e999");
        assert_eq!(
            decode_edge(&text).unwrap_err().reason(),
            RejectReason::Malformed
        );
        let text = encode(&EdgeFrame::Sample(sample())).replace("0.25", "NaN");
        assert_eq!(
            decode_edge(&text).unwrap_err().reason(),
            RejectReason::Malformed
        );
        // Built in memory (as a buggy edge would), NaN is caught by validation.
        let mut s = sample();
        s.load.load1 = f64::NAN;
        assert_eq!(s.validate().unwrap_err().reason(), RejectReason::NonFinite);
    }

    #[test]
    fn ratios_outside_unit_interval_are_refused() {
        let mut s = sample();
        s.cpu.usage_ratio = 1.5;
        assert_eq!(s.validate().unwrap_err().reason(), RejectReason::OutOfRange);
        let mut s = sample();
        s.cpu.cores[1] = -0.1;
        assert_eq!(s.validate().unwrap_err().reason(), RejectReason::OutOfRange);
    }

    #[test]
    fn far_future_and_ancient_timestamps_are_out_of_range() {
        let now = 1_800_000_000_000;
        let at = |ts_ms| Sample { ts_ms, ..sample() }.check_time(now);
        let year_3000 = 32_503_680_000_000;
        for ts_ms in [
            year_3000,
            1 << 63,
            u64::MAX,
            now + MAX_FUTURE_MS + 1,
            0,
            MIN_TS_MS - 1,
        ] {
            let err = at(ts_ms).unwrap_err();
            assert_eq!(err.reason(), RejectReason::OutOfRange, "{ts_ms}");
            assert_eq!(err.reason().close_code(), 1007);
        }
        for ts_ms in [MIN_TS_MS, now, now + MAX_FUTURE_MS] {
            assert_eq!(at(ts_ms), Ok(()), "{ts_ms}");
        }
        // The largest u64 still parses (it is a valid number), and is refused by the clock.
        let text = encode(&EdgeFrame::Sample(Sample {
            ts_ms: u64::MAX,
            ..sample()
        }));
        let Ok(EdgeFrame::Sample(parsed)) = decode_edge(&text) else {
            panic!("{text}")
        };
        assert!(parsed.check_time(now).is_err());
        assert_eq!(at(u64::MAX).unwrap_err().to_string(), format!(
            "ts_ms = {} is outside {MIN_TS_MS}..={} (2000-01-01 to 10 minutes ahead of the server's clock)",
            u64::MAX, now + MAX_FUTURE_MS
        ));
    }

    #[test]
    fn too_many_hosts_has_its_own_code() {
        assert_eq!(RejectReason::TooManyHosts.as_str(), "too_many_hosts");
        assert_eq!(RejectReason::TooManyHosts.close_code(), 4429);
    }

    #[test]
    fn every_reason_has_a_distinct_name() {
        let mut names: Vec<_> = RejectReason::ALL.iter().map(|r| r.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), RejectReason::ALL.len());
    }
}
