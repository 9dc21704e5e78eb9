//! Top processes: every few seconds ([`ProcessScanner::SCAN_EVERY`]) reads
//! `/proc/<pid>/stat` of every process and keeps the ten heaviest by CPU and the ten
//! heaviest by resident memory. Between scans the sample repeats the latest result.
//!
//! CPU share is the process's `utime + stime` growth since the previous scan over the
//! CPU time all cores had in that wall-clock interval, so it is 0..=1 like
//! `cpu.usage_ratio`. Owner names come from `/etc/passwd`, re-read only when an unknown
//! uid shows up (at most once per scan). [`parse_stat`], [`top_indices`] and
//! [`parse_passwd`] are pure and tested on fixture strings.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

use utizmon_protocol::{Process, MAX_TEXT_BYTES};

use super::{clean_text, read_into};

/// How many processes each ranking keeps.
pub const TOP_N: usize = 10;

/// The parts of `/proc/<pid>/stat` the ranking needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcStat {
    /// `comm`, the command name in parentheses.
    pub name: String,
    /// `utime + stime`, clock ticks.
    pub ticks: u64,
    /// Resident set size, pages.
    pub rss_pages: u64,
}

/// Scans `/proc` at a slow cadence and remembers each process's CPU ticks between scans.
#[derive(Debug)]
pub struct ProcessScanner {
    ticks_per_second: f64,
    page_bytes: u64,
    cores: f64,
    last_scan: Option<Instant>,
    previous_ticks: HashMap<u32, u64>,
    users: HashMap<u32, String>,
    latest: Vec<Process>,
}

/// One process seen by a scan, before ranking.
#[derive(Debug, Clone)]
struct Seen {
    pid: u32,
    name: String,
    cpu_ratio: f64,
    rss_bytes: u64,
}

impl ProcessScanner {
    /// Time between two scans of `/proc`.
    pub const SCAN_EVERY: Duration = Duration::from_secs(5);

    /// A scanner for a host with `cores` CPUs, `USER_HZ` and page size as given.
    pub fn new(ticks_per_second: u64, page_bytes: u64, cores: u32) -> ProcessScanner {
        ProcessScanner {
            ticks_per_second: ticks_per_second.max(1) as f64,
            page_bytes: page_bytes.max(1),
            cores: f64::from(cores.max(1)),
            last_scan: None,
            previous_ticks: HashMap::new(),
            users: HashMap::new(),
            latest: Vec::new(),
        }
    }

    /// Fills `out` with the latest ranking, scanning `/proc` first when the previous scan
    /// is [`Self::SCAN_EVERY`] old. Errors only when `/proc` itself cannot be listed.
    pub fn fill(
        &mut self,
        now: Instant,
        buf: &mut String,
        out: &mut Vec<Process>,
    ) -> std::io::Result<()> {
        let due = self
            .last_scan
            .is_none_or(|last| now.saturating_duration_since(last) >= Self::SCAN_EVERY);
        if due {
            self.scan(now, buf)?;
        }
        out.clone_from(&self.latest);
        Ok(())
    }

    fn scan(&mut self, now: Instant, buf: &mut String) -> std::io::Result<()> {
        let elapsed = self
            .last_scan
            .map(|last| now.saturating_duration_since(last).as_secs_f64());
        self.last_scan = Some(now);
        let capacity = elapsed.map(|e| e * self.ticks_per_second * self.cores);
        let mut seen = Vec::with_capacity(self.previous_ticks.len());
        let mut ticks_now = HashMap::with_capacity(self.previous_ticks.len());
        for entry in fs::read_dir("/proc")? {
            let Ok(entry) = entry else { continue };
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            // A process may exit between listing and reading: skip it quietly.
            if read_into(&format!("/proc/{pid}/stat"), buf).is_err() {
                continue;
            }
            let Some(stat) = parse_stat(buf) else {
                continue;
            };
            let cpu_ratio = match (capacity, self.previous_ticks.get(&pid)) {
                (Some(capacity), Some(&before)) if capacity > 0.0 => {
                    (stat.ticks.saturating_sub(before) as f64 / capacity).clamp(0.0, 1.0)
                }
                _ => 0.0,
            };
            ticks_now.insert(pid, stat.ticks);
            seen.push(Seen {
                pid,
                name: stat.name,
                cpu_ratio,
                rss_bytes: stat.rss_pages.saturating_mul(self.page_bytes),
            });
        }
        self.previous_ticks = ticks_now;
        let keep = top_indices(&seen, |s| s.cpu_ratio, |s| s.rss_bytes);
        let mut reloaded_users = false;
        self.latest.clear();
        for i in keep {
            let s = &seen[i];
            let uid = fs::metadata(format!("/proc/{}", s.pid)).map(|m| m.uid());
            let user = match uid {
                Ok(uid) => {
                    if !self.users.contains_key(&uid) && !reloaded_users {
                        reloaded_users = true;
                        self.users = fs::read_to_string("/etc/passwd")
                            .map(|text| parse_passwd(&text))
                            .unwrap_or_default();
                    }
                    self.users
                        .get(&uid)
                        .cloned()
                        .unwrap_or_else(|| uid.to_string())
                }
                Err(_) => continue, // Exited since the scan.
            };
            self.latest.push(Process {
                pid: s.pid,
                name: clean_text(&s.name, MAX_TEXT_BYTES),
                user: clean_text(&user, MAX_TEXT_BYTES),
                cpu_ratio: s.cpu_ratio,
                rss_bytes: s.rss_bytes,
            });
        }
        Ok(())
    }
}

/// Parses `/proc/<pid>/stat`. The command name may hold spaces and parentheses, so the
/// fields are counted from the last `)`.
pub fn parse_stat(text: &str) -> Option<ProcStat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let name = text.get(open + 1..close)?.to_owned();
    // After ")": state(3) ppid(4) ... utime(14) stime(15) ... rss(24), 1-based.
    let mut fields = text.get(close + 1..)?.split_ascii_whitespace();
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    let rss: i64 = fields.nth(8)?.parse().ok()?;
    Some(ProcStat {
        name,
        ticks: utime.saturating_add(stime),
        rss_pages: u64::try_from(rss).unwrap_or(0),
    })
}

/// Indices of the [`TOP_N`] heaviest items by `cpu`, then the [`TOP_N`] heaviest by
/// `memory` not already listed: at most `2 * TOP_N`, no duplicates.
pub fn top_indices<T>(
    items: &[T],
    cpu: impl Fn(&T) -> f64,
    memory: impl Fn(&T) -> u64,
) -> Vec<usize> {
    let mut by_cpu: Vec<usize> = (0..items.len()).collect();
    by_cpu.sort_by(|&a, &b| cpu(&items[b]).total_cmp(&cpu(&items[a])));
    let mut by_memory: Vec<usize> = (0..items.len()).collect();
    by_memory.sort_by_key(|&i| std::cmp::Reverse(memory(&items[i])));
    let mut keep: Vec<usize> = by_cpu.into_iter().take(TOP_N).collect();
    for i in by_memory.into_iter().take(TOP_N) {
        if !keep.contains(&i) {
            keep.push(i);
        }
    }
    keep
}

/// uid -> user name from `/etc/passwd` text; malformed lines are skipped.
pub fn parse_passwd(text: &str) -> HashMap<u32, String> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let uid = fields.nth(1)?.parse().ok()?;
            (!name.is_empty()).then(|| (uid, name.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_command_names() {
        let text = "1234 (my (odd) prog) S 1 1234 1234 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 4 0 12345 100000000 2048 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
        let stat = parse_stat(text).unwrap();
        assert_eq!(stat.name, "my (odd) prog");
        assert_eq!(stat.ticks, 300);
        assert_eq!(stat.rss_pages, 2048);
        assert_eq!(parse_stat("1 (x) S 1 2"), None);
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat(""), None);
    }

    #[test]
    fn keeps_ten_by_cpu_and_ten_by_memory_without_duplicates() {
        // Item i: CPU rises with i, memory falls with i, so the two top tens differ.
        let items: Vec<(f64, u64)> = (0..30)
            .map(|i| (i as f64 / 100.0, 1000 - i as u64))
            .collect();
        let keep = top_indices(&items, |t| t.0, |t| t.1);
        assert_eq!(keep.len(), 2 * TOP_N);
        assert_eq!(&keep[..3], &[29, 28, 27]);
        assert_eq!(&keep[TOP_N..TOP_N + 3], &[0, 1, 2]);
        // One process heaviest on both counts is listed once.
        let items = vec![(0.9, 900), (0.1, 100)];
        assert_eq!(top_indices(&items, |t| t.0, |t| t.1), vec![0, 1]);
    }

    #[test]
    fn passwd_maps_uids_to_names() {
        let users = parse_passwd("root:x:0:0:root:/root:/bin/bash\nbad\nwww-data:x:33:33::/var/www:/usr/sbin/nologin\n:x:5:5::/:/bin/sh\n");
        assert_eq!(users.get(&0).map(String::as_str), Some("root"));
        assert_eq!(users.get(&33).map(String::as_str), Some("www-data"));
        assert_eq!(users.len(), 2);
    }

    #[test]
    fn scanning_this_host_finds_this_process() {
        let mut scanner = ProcessScanner::new(100, 4096, 2);
        let (mut buf, mut out) = (String::new(), Vec::new());
        let t0 = Instant::now();
        scanner.fill(t0, &mut buf, &mut out).unwrap();
        assert!(!out.is_empty() && out.len() <= 2 * TOP_N);
        assert!(out
            .iter()
            .all(|p| (0.0..=1.0).contains(&p.cpu_ratio) && !p.user.is_empty()));
        let first = out.clone();
        // Not due yet: the same ranking again, no scan.
        scanner
            .fill(t0 + Duration::from_secs(1), &mut buf, &mut out)
            .unwrap();
        assert_eq!(out, first);
    }
}
