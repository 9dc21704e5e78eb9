//! Failed systemd units: every [`FailedUnits::CHECK_EVERY`] runs
//! `systemctl list-units --state=failed --plain --no-legend --no-pager` and keeps the unit
//! names.
//!
//! A resident D-Bus client would cost more memory than the whole edge; a short-lived
//! `systemctl` costs a few milliseconds of CPU twice a minute and nothing in between.
//! The child is started and then only polled (`try_wait`) on later samples, so a
//! `systemctl` stuck on a busy bus never delays a sample; after [`FailedUnits::TIMEOUT`] it
//! is killed. Hosts not booted with systemd (no `/run/systemd/system`) are skipped.
//! [`parse_failed_units`] is pure.

use std::io::{self, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use utizmon_protocol::{MAX_FAILED_UNITS, MAX_TEXT_BYTES};

use super::clean_text;

/// The latest known failed units and the `systemctl` child checking them, if one runs.
#[derive(Debug, Default)]
pub struct FailedUnits {
    latest: Option<Vec<String>>,
    last_start: Option<Instant>,
    child: Option<(Child, Instant)>,
}

impl FailedUnits {
    /// Time between two checks.
    pub const CHECK_EVERY: Duration = Duration::from_secs(30);

    /// Longest a `systemctl` run may take before it is killed.
    pub const TIMEOUT: Duration = Duration::from_secs(10);

    /// Sets `out` to the latest known list (`None` before the first check finished) and
    /// starts or collects a check when one is due. An error means this check failed; the
    /// previous list is then forgotten, since it can no longer be vouched for.
    pub fn fill(&mut self, now: Instant, out: &mut Option<Vec<String>>) -> io::Result<()> {
        let result = self.poll(now);
        if result.is_err() {
            self.latest = None;
        }
        out.clone_from(&self.latest);
        result
    }

    fn poll(&mut self, now: Instant) -> io::Result<()> {
        if let Some((child, started)) = &mut self.child {
            match child.try_wait()? {
                Some(status) => {
                    let mut text = String::new();
                    if let Some(stdout) = child.stdout.as_mut() {
                        stdout.take(64 * 1024).read_to_string(&mut text)?;
                    }
                    self.child = None;
                    if !status.success() {
                        return Err(io::Error::other(format!("systemctl exited with {status}")));
                    }
                    self.latest = Some(parse_failed_units(&text));
                }
                None if now.saturating_duration_since(*started) > Self::TIMEOUT => {
                    let _ = child.kill();
                    let _ = child.wait();
                    self.child = None;
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "systemctl took longer than 10 s; killed",
                    ));
                }
                None => {}
            }
            return Ok(());
        }
        let due = self
            .last_start
            .is_none_or(|last| now.saturating_duration_since(last) >= Self::CHECK_EVERY);
        if !due {
            return Ok(());
        }
        self.last_start = Some(now);
        if !Path::new("/run/systemd/system").exists() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "/run/systemd/system: this host was not booted with systemd",
            ));
        }
        let child = Command::new("systemctl")
            .args([
                "list-units",
                "--state=failed",
                "--plain",
                "--no-legend",
                "--no-pager",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        self.child = Some((child, now));
        Ok(())
    }
}

impl Drop for FailedUnits {
    fn drop(&mut self) {
        if let Some((child, _)) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Unit names from `systemctl list-units --plain --no-legend` output: the first column of
/// each line, at most [`MAX_FAILED_UNITS`]. Older systemd versions print a `●` marker
/// first even with `--plain`; it is skipped.
pub fn parse_failed_units(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            line.split_ascii_whitespace()
                .find(|word| *word != "●" && *word != "*")
        })
        .map(|name| clean_text(name, MAX_TEXT_BYTES))
        .filter(|name| !name.is_empty())
        .take(MAX_FAILED_UNITS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_unit_names() {
        let text = "backup.service loaded failed failed Nightly backup\n\
                    ● nfs-mount.mount loaded failed failed /mnt/nfs\n\
                    \n";
        assert_eq!(
            parse_failed_units(text),
            ["backup.service", "nfs-mount.mount"]
        );
        assert!(parse_failed_units("").is_empty());
    }

    #[test]
    fn the_list_is_capped() {
        let text: String = (0..100)
            .map(|i| format!("u{i}.service loaded failed failed x\n"))
            .collect();
        assert_eq!(parse_failed_units(&text).len(), MAX_FAILED_UNITS);
    }

    #[test]
    fn without_systemd_the_check_fails_once_per_period_and_reports_nothing() {
        if Path::new("/run/systemd/system").exists() {
            return; // This host runs systemd; the check is exercised by the edge tests.
        }
        let mut units = FailedUnits::default();
        let mut out = Some(vec!["stale".to_owned()]);
        let t0 = Instant::now();
        assert!(units.fill(t0, &mut out).is_err());
        assert_eq!(out, None);
        // Not due again within the period: no new error.
        assert!(units.fill(t0 + Duration::from_secs(1), &mut out).is_ok());
    }
}
