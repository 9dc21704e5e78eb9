//! Kernel activity: context switches, interrupts, forks and runnable/blocked tasks from
//! `/proc/stat` (the same text the CPU family parses, read once per sample). Pure.

use utizmon_protocol::KernelCounters;

/// Parses the `ctxt`, `intr` (first column: the total), `processes`, `procs_running` and
/// `procs_blocked` lines. `None` when `ctxt` or `intr` is missing, which means the text is
/// not `/proc/stat`.
pub fn parse_kernel_counters(text: &str) -> Option<KernelCounters> {
    let (mut ctxt, mut intr) = (None, None);
    let mut counters = KernelCounters::default();
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(' ') else {
            continue;
        };
        let first = || rest.split_ascii_whitespace().next()?.parse::<u64>().ok();
        match key {
            "ctxt" => ctxt = first(),
            "intr" => intr = first(),
            "processes" => counters.forks = first().unwrap_or(0),
            "procs_running" => counters.procs_running = first().unwrap_or(0),
            "procs_blocked" => counters.procs_blocked = first().unwrap_or(0),
            _ => {}
        }
    }
    counters.context_switches = ctxt?;
    counters.interrupts = intr?;
    Some(counters)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_counters() {
        let text = "cpu  1 2 3 4\nintr 12345 0 7 0\nctxt 999\nbtime 1\nprocesses 42\nprocs_running 3\nprocs_blocked 1\nsoftirq 5 1 1\n";
        assert_eq!(
            parse_kernel_counters(text),
            Some(KernelCounters {
                context_switches: 999,
                interrupts: 12_345,
                forks: 42,
                procs_running: 3,
                procs_blocked: 1,
            })
        );
    }

    #[test]
    fn missing_or_garbage_lines_give_none() {
        assert_eq!(parse_kernel_counters(""), None);
        assert_eq!(parse_kernel_counters("ctxt 5\n"), None);
        assert_eq!(parse_kernel_counters("ctxt x\nintr 1\n"), None);
    }
}
