//! Command-line flags and their `UTIZMON_*` environment fallbacks, plus the checks that
//! turn a bad setting into a clear error before the first sample.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use utizmon_protocol::{read_token_file, validate_host_name};

use crate::collect::host::system_host_name;
use crate::collect::select::{CollectorName, Enabled};

/// Shortest and longest sampling interval the protocol accepts.
const INTERVAL_RANGE: (Duration, Duration) =
    (Duration::from_millis(100), Duration::from_secs(3600));

/// Smallest `--buffer-max-bytes`: a few segments of the smallest size.
const MIN_BUFFER_BYTES: u64 = 256 * 1024;

/// How long the default `--buffer` bridges an outage, per edge.
const DEFAULT_BUFFER_SPAN: Duration = Duration::from_secs(20 * 60);

/// The same for each simulated edge: a thousand of them must fit in memory.
const DEFAULT_SIMULATED_BUFFER_SPAN: Duration = Duration::from_secs(5 * 60);

/// How the edge runs; every flag also reads an `UTIZMON_*` environment variable.
/// The flag naming the token file, as error messages quote it.
pub const TOKEN_FILE_FLAG: &str = "--token-file";

#[derive(Debug, Clone, clap::Parser)]
#[command(
    version,
    about = "utizmon edge agent: samples this host and pushes it to the master over WebSocket"
)]
pub struct Config {
    /// WebSocket URL of the master's edge endpoint: `ws://` or `wss://` (TLS, verified
    /// against the system's CAs or only against `--ca-file`). A comma-separated list names
    /// failover masters: the edge uses the first that answers and moves to the next when a
    /// connection fails, replaying what was not acknowledged.
    #[arg(
        long,
        env = "UTIZMON_MASTER",
        default_value = "ws://127.0.0.1:5000/ws/edge"
    )]
    pub master: String,

    /// Time between samples, e.g. `1s`, `500ms`, `1m` (100ms to 1h).
    #[arg(long, value_name = "DURATION", env = "UTIZMON_INTERVAL", default_value = "1s", value_parser = humantime::parse_duration)]
    pub interval: Duration,

    /// Name the master files this host under [default: the system host name].
    #[arg(long, value_name = "NAME", env = "UTIZMON_HOST_NAME")]
    pub host_name: Option<String>,

    /// File holding the edge token, sent as `Authorization: Bearer <token>`; surrounding
    /// whitespace is trimmed. Unreadable or empty is an error at start. Re-read before
    /// every reconnect, so a rotated token needs no restart.
    #[arg(long, value_name = "PATH", env = "UTIZMON_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,

    /// PEM file of the CA(s) that signed the master's certificate: with `wss://`, trust
    /// only these instead of the system's CAs (pin a deployment CA).
    #[arg(long, value_name = "PATH", env = "UTIZMON_CA_FILE")]
    pub ca_file: Option<PathBuf>,

    /// Samples kept while the master is unreachable or has not acknowledged them; when
    /// full the oldest is dropped. A sample costs about 1 KiB (more with many cores or
    /// mounts). [default: 20 minutes' worth at --interval, 1200 at 1s; with --simulate,
    /// 5 minutes' worth per simulated edge]
    #[arg(long, value_name = "N", env = "UTIZMON_BUFFER", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub buffer: Option<u64>,

    /// Keep unacknowledged samples in this directory (append-only segment files, fsynced
    /// per sample) instead of memory, so a crash or restart of the edge while the master
    /// is unreachable loses nothing: at the next start, samples of earlier runs are sent
    /// first, under their own run id. Replaces --buffer.
    #[arg(long, value_name = "DIR", env = "UTIZMON_BUFFER_DIR", conflicts_with_all = ["buffer", "simulate", "once"])]
    pub buffer_dir: Option<PathBuf>,

    /// Cap on the size of --buffer-dir, e.g. `100MiB`, `1GiB`; the oldest samples are
    /// dropped first (and counted) beyond it.
    #[arg(long, value_name = "SIZE", env = "UTIZMON_BUFFER_MAX_BYTES", default_value = "100MiB", value_parser = parse_size)]
    pub buffer_max_bytes: u64,

    /// Samples in --buffer-dir older than this are dropped (and counted), e.g. `24h`, `7d`.
    #[arg(long, value_name = "DURATION", env = "UTIZMON_BUFFER_MAX_AGE", default_value = "24h", value_parser = humantime::parse_duration)]
    pub buffer_max_age: Duration,

    /// Print one sample as pretty JSON to stdout and exit, without any network:
    /// `{"hello": <hello frame>, "sample": <sample frame>}`. Takes two readings 200 ms
    /// apart so CPU ratios are real.
    #[arg(long, env = "UTIZMON_ONCE", conflicts_with = "simulate")]
    pub once: bool,

    /// Act as N distinct edges sending synthetic data (load tests, benchmarks): each has
    /// its own WebSocket, run id and host name `<prefix>-0001`, `<prefix>-0002`, ...
    #[arg(long, value_name = "N", env = "UTIZMON_SIMULATE", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub simulate: Option<u32>,

    /// Collectors to run, comma-separated (e.g. `cpu,memory,diskstats`) [default: all of
    /// them]. A collector that is off leaves its part of every sample empty.
    #[arg(
        long,
        value_name = "NAMES",
        env = "UTIZMON_COLLECTORS",
        value_delimiter = ',',
        num_args = 1..
    )]
    pub collectors: Option<Vec<CollectorName>>,

    /// Turns one collector off; repeat for several (e.g. `--no-collector systemd
    /// --no-collector processes`). Applied after `--collectors`.
    #[arg(
        long = "no-collector",
        value_name = "NAME",
        env = "UTIZMON_NO_COLLECTOR",
        value_delimiter = ','
    )]
    pub no_collector: Vec<CollectorName>,

    /// Host-name prefix for `--simulate`.
    #[arg(
        long,
        value_name = "PREFIX",
        env = "UTIZMON_SIMULATE_PREFIX",
        default_value = "sim"
    )]
    pub simulate_prefix: String,

    /// With `--simulate`: each simulated edge takes this many samples, waits until every
    /// one is acknowledged, and closes its connection; the process exits when all are done.
    /// A load that ends, for benchmarks that check received = sent. [default: forever]
    #[arg(
        long,
        value_name = "COUNT",
        env = "UTIZMON_SIMULATE_SAMPLES",
        requires = "simulate"
    )]
    pub simulate_samples: Option<u64>,
}

impl Config {
    /// Parses the command line and the environment like `Config::parse`, except that an
    /// empty `UTIZMON_*` variable counts as unset (as `KEY=` lines in a systemd
    /// `EnvironmentFile` usually mean), instead of being an empty value for its flag.
    pub fn from_env_and_args() -> Config {
        let empty: Vec<_> = std::env::vars_os()
            .filter(|(key, value)| {
                value.is_empty() && key.to_str().is_some_and(|k| k.starts_with("UTIZMON_"))
            })
            .map(|(key, _)| key)
            .collect();
        for key in empty {
            // Still single-threaded here: nothing else reads the environment concurrently.
            std::env::remove_var(key);
        }
        <Config as clap::Parser>::parse()
    }

    /// Checks what clap cannot: interval range and master URL.
    pub fn validate(&self) -> anyhow::Result<()> {
        let (min, max) = INTERVAL_RANGE;
        if self.interval < min || self.interval > max {
            bail!(
                "--interval {} is outside {}..={}",
                humantime::format_duration(self.interval),
                humantime::format_duration(min),
                humantime::format_duration(max)
            );
        }
        let masters = self.masters();
        if masters.is_empty() {
            bail!("--master is empty");
        }
        for master in &masters {
            if !master.starts_with("ws://") && !master.starts_with("wss://") {
                bail!(
                    "--master {master:?} must be a ws:// or wss:// URL such as ws://127.0.0.1:5000/ws/edge"
                );
            }
        }
        if self.buffer_dir.is_some() && self.buffer_max_bytes < MIN_BUFFER_BYTES {
            bail!(
                "--buffer-max-bytes {} is below the minimum of {MIN_BUFFER_BYTES}",
                self.buffer_max_bytes
            );
        }
        Ok(())
    }

    /// The masters of `--master`, in failover order (comma-separated, blanks ignored).
    pub fn masters(&self) -> Vec<String> {
        self.master
            .split(',')
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Sampling interval in milliseconds, as the hello announces it.
    pub fn interval_ms(&self) -> u64 {
        u64::try_from(self.interval.as_millis()).unwrap_or(u64::MAX)
    }

    /// The host name to report: `--host-name`, else the system's; checked against the
    /// protocol's rules.
    pub fn host_name(&self) -> anyhow::Result<String> {
        let name = match &self.host_name {
            Some(name) => name.clone(),
            None => system_host_name()
                .context("the system host name is empty or unreadable; pass --host-name")?,
        };
        validate_host_name(&name).with_context(|| format!("--host-name {name:?}"))?;
        Ok(name)
    }

    /// TLS settings for a `wss://` master (`None` for `ws://`); a bad `--ca-file` is an
    /// error here, at start-up.
    pub fn tls(&self) -> anyhow::Result<Option<std::sync::Arc<rustls::ClientConfig>>> {
        if !self.masters().iter().any(|m| m.starts_with("wss://")) {
            return Ok(None);
        }
        crate::transport::tls::client_config(self.ca_file.as_deref()).map(Some)
    }

    /// The token from `--token-file`, trimmed; `None` without the flag.
    pub fn read_token(&self) -> anyhow::Result<Option<String>> {
        self.token_file
            .as_deref()
            .map(|path| Ok(read_token_file(TOKEN_FILE_FLAG, path)?))
            .transpose()
    }

    /// The collectors to run, from `--collectors` and `--no-collector`.
    pub fn enabled_collectors(&self) -> Enabled {
        Enabled::choose(self.collectors.as_deref(), &self.no_collector)
    }

    /// Replay buffer capacity in samples, per edge (real or simulated).
    pub fn buffer_capacity(&self) -> usize {
        let span = if self.simulate.is_some() {
            DEFAULT_SIMULATED_BUFFER_SPAN
        } else {
            DEFAULT_BUFFER_SPAN
        };
        let samples = self.buffer.unwrap_or_else(|| {
            let n = span.as_secs_f64() / self.interval.as_secs_f64().max(0.001);
            (n.ceil() as u64).clamp(10, 100_000)
        });
        usize::try_from(samples).unwrap_or(usize::MAX)
    }
}

/// Parses a byte size: a number with an optional binary unit (`B`, `KiB`, `MiB`, `GiB`;
/// `K`, `M`, `G` and `KB`, `MB`, `GB` mean the same).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size such as 100MiB"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return Err(format!("{text:?}: unknown unit (use B, KiB, MiB or GiB)")),
    };
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn parse(args: &[&str]) -> Config {
        Config::parse_from(std::iter::once("utizmon-edge").chain(args.iter().copied()))
    }

    #[test]
    fn defaults_work_on_a_laptop() {
        let config = parse(&[]);
        config.validate().unwrap();
        assert_eq!(config.master, "ws://127.0.0.1:5000/ws/edge");
        assert_eq!(config.interval, Duration::from_secs(1));
        assert_eq!(config.buffer_capacity(), 1200);
        assert!(config.host_name().is_ok());
        assert_eq!(config.read_token().unwrap(), None);
    }

    #[test]
    fn buffer_default_follows_the_interval() {
        assert_eq!(parse(&["--interval", "10s"]).buffer_capacity(), 120);
        assert_eq!(parse(&["--interval", "100ms"]).buffer_capacity(), 12_000);
        assert_eq!(parse(&["--simulate", "3"]).buffer_capacity(), 300);
        assert_eq!(parse(&["--buffer", "7"]).buffer_capacity(), 7);
    }

    #[test]
    fn bad_settings_are_refused_with_a_reason() {
        for args in [
            &["--interval", "10ms"][..],
            &["--interval", "2h"],
            &["--master", "http://x/ws/edge"],
        ] {
            let err = parse(args).validate().unwrap_err();
            assert!(!err.to_string().is_empty(), "{args:?}");
        }
        assert!(Config::try_parse_from(["e", "--buffer", "0"]).is_err());
        assert!(Config::try_parse_from(["e", "--once", "--simulate", "2"]).is_err());
        let err = parse(&["--host-name", "bad\tname"])
            .host_name()
            .unwrap_err();
        assert!(format!("{err:#}").contains("control characters"));
    }

    #[test]
    fn collectors_are_chosen_by_name() {
        assert_eq!(parse(&[]).enabled_collectors(), Enabled::default());
        let config = parse(&[
            "--collectors",
            "cpu,diskstats,systemd",
            "--no-collector",
            "systemd",
        ]);
        assert_eq!(config.enabled_collectors().list(), "cpu,diskstats");
        let config = parse(&["--no-collector", "processes", "--no-collector", "cgroups"]);
        let enabled = config.enabled_collectors();
        assert!(!enabled.has(CollectorName::Processes) && !enabled.has(CollectorName::Cgroups));
        assert!(enabled.has(CollectorName::Pressure));
        let err = Config::try_parse_from(["e", "--no-collector", "gpu"]).unwrap_err();
        assert!(err.to_string().contains("invalid value 'gpu'"), "{err}");
    }

    #[test]
    fn master_lists_and_buffer_sizes_parse() {
        let config = parse(&["--master", "ws://a:1/ws/edge, ws://b:2/ws/edge,"]);
        config.validate().unwrap();
        assert_eq!(config.masters(), ["ws://a:1/ws/edge", "ws://b:2/ws/edge"]);
        assert!(parse(&["--master", "ws://a/ws/edge,http://b"])
            .validate()
            .is_err());
        assert!(parse(&["--master", " , "]).validate().is_err());
        assert_eq!(parse_size("100MiB"), Ok(100 << 20));
        assert_eq!(parse_size("7"), Ok(7));
        assert_eq!(parse_size("2 g"), Ok(2 << 30));
        assert!(parse_size("1TB").is_err());
        assert!(parse_size("MiB").is_err());
        let config = parse(&["--buffer-dir", "/tmp/x", "--buffer-max-bytes", "1KiB"]);
        assert!(config.validate().is_err());
        assert!(Config::try_parse_from(["e", "--buffer-dir", "/x", "--buffer", "5"]).is_err());
    }

    #[test]
    fn token_file_is_trimmed_and_must_not_be_empty() {
        let dir = std::env::temp_dir();
        let path = dir.join(format!("utizmon-edge-token-{}", std::process::id()));
        std::fs::write(&path, "  s3cret\n").unwrap();
        let config = parse(&["--token-file", path.to_str().unwrap()]);
        assert_eq!(config.read_token().unwrap().as_deref(), Some("s3cret"));
        std::fs::write(&path, " \n").unwrap();
        let err = config.read_token().unwrap_err();
        assert!(err.to_string().ends_with("is empty"), "{err}");
        std::fs::remove_file(&path).unwrap();
        let err = config.read_token().unwrap_err();
        assert!(
            format!("{err:#}").contains("reading --token-file"),
            "{err:#}"
        );
    }
}
