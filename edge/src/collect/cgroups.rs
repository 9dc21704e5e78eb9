//! Services and containers from cgroup v2: CPU, memory and block I/O per systemd service
//! or container, every [`CgroupScanner::SCAN_EVERY`].
//!
//! The v2 hierarchy is `/sys/fs/cgroup` (unified mode) or `/sys/fs/cgroup/unified`
//! (hybrid mode, where memory and io are usually not enabled and read as zero). The walk
//! descends into `*.slice` directories and container-runtime trees (`docker`, `lxc.payload.*`,
//! `kubepods*`, `machine.slice`) at most [`MAX_DEPTH`] levels deep, and reports every
//! `*.service` and `*.scope` group plus the children of the runtime trees. The heaviest
//! [`MAX_CGROUPS`] by memory are kept. [`parse_cpu_stat`], [`parse_io_stat`] and
//! [`is_group_of_interest`] are pure; the walk takes a root so tests run on a fixture tree.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use utizmon_protocol::{Cgroup, MAX_CGROUPS, MAX_TEXT_BYTES};

use super::{clean_text, read_into};

/// How deep below the root the walk goes (`kubepods.slice/kubepods-burstable.slice/pod…/…`
/// needs four).
pub const MAX_DEPTH: usize = 4;

/// Most directories one walk visits, so a host with thousands of scopes stays cheap.
const MAX_VISITED: usize = 2048;

/// Walks the cgroup v2 tree at a slow cadence and repeats the latest result in between.
#[derive(Debug, Default)]
pub struct CgroupScanner {
    last_scan: Option<Instant>,
    latest: Vec<Cgroup>,
}

impl CgroupScanner {
    /// Time between two walks.
    pub const SCAN_EVERY: Duration = Duration::from_secs(5);

    /// Fills `out` with the latest groups, walking `/sys/fs/cgroup` first when due.
    /// Errors when no cgroup v2 hierarchy is mounted.
    pub fn fill(
        &mut self,
        now: Instant,
        buf: &mut String,
        out: &mut Vec<Cgroup>,
    ) -> io::Result<()> {
        let due = self
            .last_scan
            .is_none_or(|last| now.saturating_duration_since(last) >= Self::SCAN_EVERY);
        if due {
            self.last_scan = Some(now);
            let root = v2_root(Path::new("/sys/fs/cgroup")).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    "/sys/fs/cgroup/cgroup.controllers: no cgroup v2 hierarchy",
                )
            });
            match root {
                Ok(root) => scan(&root, buf, &mut self.latest),
                Err(err) => {
                    self.latest.clear();
                    out.clear();
                    return Err(err);
                }
            }
        }
        out.clone_from(&self.latest);
        Ok(())
    }
}

/// The cgroup v2 mount under `base`: `base` itself in unified mode, `base/unified` in
/// hybrid mode.
pub fn v2_root(base: &Path) -> Option<PathBuf> {
    [base.to_owned(), base.join("unified")]
        .into_iter()
        .find(|dir| dir.join("cgroup.procs").exists() && dir.join("cgroup.controllers").exists())
}

/// Walks `root` and fills `out` with the groups of interest, heaviest memory first.
pub fn scan(root: &Path, buf: &mut String, out: &mut Vec<Cgroup>) {
    out.clear();
    let mut stack = vec![(root.to_owned(), 0usize)];
    let mut visited = 0;
    while let Some((dir, depth)) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            if visited == MAX_VISITED {
                break;
            }
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            visited += 1;
            let path = entry.path();
            let Ok(relative) = path.strip_prefix(root) else {
                continue;
            };
            let relative = relative.to_string_lossy();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let parent = dir.file_name().unwrap_or_default().to_string_lossy();
            if is_group_of_interest(&name, if depth == 0 { "" } else { &parent }) {
                out.push(read_group(&path, &relative, buf));
            } else if depth + 1 < MAX_DEPTH && is_container_of_groups(&name) {
                stack.push((path, depth + 1));
            }
        }
    }
    out.sort_by(|a, b| {
        b.memory_bytes
            .cmp(&a.memory_bytes)
            .then_with(|| a.name.cmp(&b.name))
    });
    out.truncate(MAX_CGROUPS);
}

/// Whether `name` (inside a directory called `parent`) is a service or container to report.
pub fn is_group_of_interest(name: &str, parent: &str) -> bool {
    name.ends_with(".service")
        || name.ends_with(".scope")
        || name.starts_with("lxc.payload.")
        || (parent == "docker" || parent.starts_with("pod") || parent == "libpod_parent")
}

/// Whether the walk descends into `name`: slices and container-runtime trees.
pub fn is_container_of_groups(name: &str) -> bool {
    name.ends_with(".slice")
        || name == "docker"
        || name == "libpod_parent"
        || name.starts_with("kubepods")
        || name.starts_with("pod")
}

fn read_group(path: &Path, relative: &str, buf: &mut String) -> Cgroup {
    let read =
        |file: &str, buf: &mut String| read_into(&path.join(file).to_string_lossy(), buf).is_ok();
    let cpu_seconds = if read("cpu.stat", buf) {
        parse_cpu_stat(buf)
    } else {
        0.0
    };
    let memory_bytes = if read("memory.current", buf) {
        buf.trim().parse().unwrap_or(0)
    } else {
        0
    };
    let (io_read_bytes, io_written_bytes) = if read("io.stat", buf) {
        parse_io_stat(buf)
    } else {
        (0, 0)
    };
    Cgroup {
        name: clean_text(relative, MAX_TEXT_BYTES),
        cpu_seconds,
        memory_bytes,
        io_read_bytes,
        io_written_bytes,
    }
}

/// `usage_usec` of `cpu.stat`, in seconds (0 when missing).
pub fn parse_cpu_stat(text: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix("usage_usec "))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(0.0, |usec| usec as f64 / 1e6)
}

/// `rbytes` and `wbytes` of `io.stat`, summed over devices.
pub fn parse_io_stat(text: &str) -> (u64, u64) {
    let (mut read, mut written) = (0u64, 0u64);
    for pair in text.split_ascii_whitespace() {
        match pair.split_once('=') {
            Some(("rbytes", v)) => read = read.saturating_add(v.parse().unwrap_or(0)),
            Some(("wbytes", v)) => written = written.saturating_add(v.parse().unwrap_or(0)),
            _ => {}
        }
    }
    (read, written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpu_and_io_stat() {
        assert_eq!(parse_cpu_stat("usage_usec 2500000\nuser_usec 1\n"), 2.5);
        assert_eq!(parse_cpu_stat("garbage"), 0.0);
        let io = "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n\
                  254:0 rbytes=1 wbytes=2 rios=1 wios=1\n";
        assert_eq!(parse_io_stat(io), (4097, 8194));
        assert_eq!(parse_io_stat(""), (0, 0));
    }

    #[test]
    fn walks_services_and_containers_heaviest_first() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        let group = |p: &str, memory: &str| {
            let dir = r.join(p);
            fs::create_dir_all(&dir).unwrap();
            fs::write(dir.join("memory.current"), memory).unwrap();
            fs::write(dir.join("cpu.stat"), "usage_usec 1000000\n").unwrap();
            fs::write(dir.join("io.stat"), "8:0 rbytes=10 wbytes=20\n").unwrap();
        };
        fs::write(r.join("cgroup.procs"), "").unwrap();
        fs::write(r.join("cgroup.controllers"), "cpu memory io\n").unwrap();
        group("system.slice/nginx.service", "1000\n");
        group("system.slice/cron.service", "50\n");
        group("system.slice/docker/0123abcd", "5000\n");
        group("user.slice/user-1000.slice/session-3.scope", "10\n");
        group("init.scope", "1\n");
        fs::create_dir_all(r.join("system.slice/not-a-group")).unwrap();
        assert_eq!(v2_root(r).as_deref(), Some(r));
        let mut out = Vec::new();
        scan(r, &mut String::new(), &mut out);
        let names: Vec<_> = out.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "system.slice/docker/0123abcd",
                "system.slice/nginx.service",
                "system.slice/cron.service",
                "user.slice/user-1000.slice/session-3.scope",
                "init.scope",
            ]
        );
        assert_eq!(out[1].cpu_seconds, 1.0);
        assert_eq!((out[1].io_read_bytes, out[1].io_written_bytes), (10, 20));
    }

    #[test]
    fn without_a_v2_hierarchy_there_is_no_root() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(v2_root(root.path()), None);
    }
}
