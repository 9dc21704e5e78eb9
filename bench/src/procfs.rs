//! Reads what a process has cost so far from `/proc/PID`: CPU time and memory.
//!
//! Benchmarks compare these counters between two moments of one run, so noise from other
//! work on a shared machine affects both sides of a comparison alike.

use std::time::Duration;

use anyhow::Context;

/// CPU time a process has used, user + system.
pub fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    stat_cpu_time(&format!("/proc/{pid}/stat"))
}

/// CPU time the threads of this process named `name` have used, user + system: what one
/// job of an in-process store costs.
pub fn thread_cpu_time(name: &str) -> anyhow::Result<Duration> {
    let mut total = Duration::ZERO;
    for task in std::fs::read_dir("/proc/self/task").context("listing /proc/self/task")? {
        let stat = task?.path().join("stat");
        let Ok(text) = std::fs::read_to_string(&stat) else {
            continue; // the thread ended meanwhile
        };
        let comm = text
            .split_once('(')
            .and_then(|(_, rest)| rest.rsplit_once(')'))
            .map(|(comm, _)| comm);
        if comm == Some(name) {
            total += stat_cpu_time(&stat.to_string_lossy())?;
        }
    }
    Ok(total)
}

/// User + system time from a `stat` file of `/proc`.
fn stat_cpu_time(path: &str) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    // The command name (field 2) may contain spaces; fields after its closing parenthesis
    // are space-separated, utime and stime are fields 14 and 15 of the whole line.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("parsing /proc/PID/stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<u64> {
        fields
            .get(i)
            .context("short /proc/PID/stat")?
            .parse::<u64>()
            .context("parsing a /proc/PID/stat counter")
    };
    // After the parenthesis, field 3 (state) is index 0, so utime (14) is index 11.
    let total = ticks(11)? + ticks(12)?;
    Ok(Duration::from_secs_f64(
        total as f64 / clock_ticks_per_second(),
    ))
}

/// Resident memory now and at its peak, in bytes.
pub fn rss(pid: u32) -> anyhow::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    Ok((field("VmRSS:"), field("VmHWM:")))
}

/// USER_HZ; 100 on every Linux this runs on, which `getconf CLK_TCK` confirms.
fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .unwrap_or(100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process() {
        let pid = std::process::id();
        assert!(cpu_time(pid).is_ok());
        let (now, peak) = rss(pid).unwrap();
        assert!(now > 0 && peak >= now);
    }
}
