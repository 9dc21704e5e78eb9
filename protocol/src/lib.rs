//! Wire types shared by `utizmon-edge` and `utizmon-server`: the frames, their limits and
//! the one place that decides whether a frame from the network is acceptable.
//!
//! Frames are JSON text messages tagged by `"type"`. An edge sends one [`Hello`] and then
//! [`Sample`]s; the server answers with [`Ack`]s and, before it closes a connection for a
//! reason, an [`ErrorFrame`]. `docs/protocol.md` is the prose version of this file.
//! No I/O and no async here: this crate only describes and checks bytes.

use serde::{Deserialize, Serialize};

/// Major protocol version. A peer speaking another major version is refused.
pub const PROTOCOL_VERSION: u16 = 1;

/// Minor protocol version: additions that old peers may ignore.
pub const PROTOCOL_MINOR: u16 = 0;

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

/// Earliest sample time accepted: 2000-01-01T00:00:00Z, Unix ms. Anything older is a broken
/// clock, and would be pruned at once or sort before every real sample.
pub const MIN_TS_MS: u64 = 946_684_800_000;

/// How far ahead of the server's clock a sample's `ts_ms` may be, in ms (10 minutes).
/// Generous for clock skew; a timestamp further ahead would outlive retention.
pub const MAX_FUTURE_MS: u64 = 10 * 60 * 1000;

/// HTTP path where edges connect.
pub const EDGE_PATH: &str = "/ws/edge";

/// A frame sent by an edge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
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
}

impl RejectReason {
    /// Every reason, so counters can be exported at zero before the first reject.
    pub const ALL: [RejectReason; 12] = [
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
        Ok(())
    }
}

fn ratio(field: &'static str, value: f64) -> Result<(), DecodeError> {
    if !value.is_finite() {
        return Err(DecodeError::NonFinite { field });
    }
    if !(0.0..=1.0).contains(&value) {
        return Err(DecodeError::OutOfRange {
            field,
            value,
            min: 0.0,
            max: 1.0,
        });
    }
    Ok(())
}

fn non_negative(field: &'static str, value: f64) -> Result<(), DecodeError> {
    if !value.is_finite() {
        return Err(DecodeError::NonFinite { field });
    }
    if value < 0.0 {
        return Err(DecodeError::OutOfRange {
            field,
            value,
            min: 0.0,
            max: f64::MAX,
        });
    }
    Ok(())
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
            },
            memory: Memory {
                total_bytes: 100,
                used_bytes: 40,
                available_bytes: 60,
                swap_total_bytes: 10,
                swap_used_bytes: 1,
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
            }],
            networks: vec![Network {
                device: "eth0".into(),
                rx_bytes: 1,
                tx_bytes: 2,
            }],
        }
    }

    #[test]
    fn sample_round_trips() {
        let text = encode(&EdgeFrame::Sample(sample()));
        assert_eq!(decode_edge(&text), Ok(EdgeFrame::Sample(sample())));
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
