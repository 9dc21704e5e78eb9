//! Command-line flags and their `UTIZMON_*` environment fallbacks, plus the checks that
//! turn a bad setting into a clear error before the first sample.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use utizmon_protocol::validate_host_name;

use crate::collect::host::system_host_name;
use crate::collect::select::{CollectorName, Enabled};

/// Shortest and longest sampling interval the protocol accepts.
const INTERVAL_RANGE: (Duration, Duration) =
    (Duration::from_millis(100), Duration::from_secs(3600));

/// How long the default `--buffer` bridges an outage, per edge.
const DEFAULT_BUFFER_SPAN: Duration = Duration::from_secs(20 * 60);

/// The same for each simulated edge: a thousand of them must fit in memory.
const DEFAULT_SIMULATED_BUFFER_SPAN: Duration = Duration::from_secs(5 * 60);

/// How the edge runs; every flag also reads an `UTIZMON_*` environment variable.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    version,
    about = "utizmon edge agent: samples this host and pushes it to the master over WebSocket"
)]
pub struct Config {
    /// WebSocket URL of the master's edge endpoint (ws:// only; put a TLS proxy in front
    /// for wss).
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

    /// Samples kept while the master is unreachable or has not acknowledged them; when
    /// full the oldest is dropped. A sample costs about 1 KiB (more with many cores or
    /// mounts). [default: 20 minutes' worth at --interval, 1200 at 1s; with --simulate,
    /// 5 minutes' worth per simulated edge]
    #[arg(long, value_name = "N", env = "UTIZMON_BUFFER", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub buffer: Option<u64>,

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
        if !self.master.starts_with("ws://") {
            if self.master.starts_with("wss://") {
                bail!("--master {}: wss:// is not supported by this build; use ws:// (terminate TLS in a proxy next to the master)", self.master);
            }
            bail!(
                "--master {:?} must be a ws:// URL such as ws://127.0.0.1:5000/ws/edge",
                self.master
            );
        }
        Ok(())
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

    /// The token from `--token-file`, trimmed; `None` without the flag.
    pub fn read_token(&self) -> anyhow::Result<Option<String>> {
        self.token_file.as_deref().map(read_token_file).transpose()
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

/// Reads a token file: content trimmed, not empty, no control characters.
pub fn read_token_file(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading --token-file {}", path.display()))?;
    let token = text.trim();
    if token.is_empty() {
        bail!("--token-file {} is empty", path.display());
    }
    if token.chars().any(char::is_control) {
        bail!(
            "--token-file {}: the token contains control characters",
            path.display()
        );
    }
    Ok(token.to_owned())
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
            &["--master", "wss://x/ws/edge"],
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
