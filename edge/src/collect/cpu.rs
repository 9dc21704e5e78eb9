//! CPU: parses `/proc/stat` into raw tick counters and turns two readings into usage
//! ratios. Reading the file is the caller's job; everything here is pure and tested
//! without a host.

use utizmon_protocol::{Cpu, CpuSeconds, MAX_CORES};

/// Cumulative CPU time per mode, in kernel ticks (`USER_HZ`), as `/proc/stat` prints it.
///
/// `guest` and `guest_nice` are left out: the kernel already counts them in `user`/`nice`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTicks {
    pub user: u64,
    pub nice: u64,
    pub system: u64,
    pub idle: u64,
    pub iowait: u64,
    pub irq: u64,
    pub softirq: u64,
    pub steal: u64,
}

/// One parse of `/proc/stat`: all-CPU counters, per-core counters and boot time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatReading {
    /// The `cpu` line.
    pub total: CpuTicks,
    /// The `cpuN` lines, indexed by N; `None` for a core missing from the file (offline).
    /// At most [`MAX_CORES`] entries.
    pub cores: Vec<Option<CpuTicks>>,
    /// `btime`: boot time in Unix seconds.
    pub boot_time: Option<u64>,
}

/// Turns successive [`StatReading`]s into the wire [`Cpu`] section.
///
/// Keeps the previous reading; the first call reports usage averaged since boot, which is
/// a plausible value rather than a made-up zero.
#[derive(Debug)]
pub struct CpuState {
    ticks_per_second: f64,
    /// Whether to fill `Cpu::core_seconds` (what node_cpu_seconds_total needs).
    pub per_core_seconds: bool,
    previous: StatReading,
    current: StatReading,
}

impl CpuTicks {
    /// Parses the numbers after `cpu`/`cpuN`. Kernels older than 2.6.11 print fewer
    /// columns; missing ones are zero. Needs at least user, nice, system and idle.
    pub fn parse(fields: &str) -> Option<CpuTicks> {
        let mut numbers = fields.split_ascii_whitespace().map(str::parse::<u64>);
        let mut next = |required: bool| match numbers.next() {
            Some(Ok(n)) => Some(n),
            Some(Err(_)) => None,
            None if required => None,
            None => Some(0),
        };
        Some(CpuTicks {
            user: next(true)?,
            nice: next(true)?,
            system: next(true)?,
            idle: next(true)?,
            iowait: next(false)?,
            irq: next(false)?,
            softirq: next(false)?,
            steal: next(false)?,
        })
    }

    /// Sum of every mode.
    pub fn total(&self) -> u64 {
        [
            self.user,
            self.nice,
            self.system,
            self.idle,
            self.iowait,
            self.irq,
            self.softirq,
            self.steal,
        ]
        .iter()
        .fold(0u64, |sum, &n| sum.saturating_add(n))
    }

    /// Time not spent idle or waiting for I/O.
    pub fn busy(&self) -> u64 {
        self.total()
            .saturating_sub(self.idle)
            .saturating_sub(self.iowait)
    }

    /// Whether every counter is at least the one in `earlier`.
    pub fn not_below(&self, earlier: &CpuTicks) -> bool {
        self.user >= earlier.user
            && self.nice >= earlier.nice
            && self.system >= earlier.system
            && self.idle >= earlier.idle
            && self.iowait >= earlier.iowait
            && self.irq >= earlier.irq
            && self.softirq >= earlier.softirq
            && self.steal >= earlier.steal
    }

    /// The counters in seconds, given `USER_HZ`.
    pub fn to_seconds(&self, ticks_per_second: f64) -> CpuSeconds {
        let s = |ticks: u64| ticks as f64 / ticks_per_second;
        CpuSeconds {
            user: s(self.user),
            nice: s(self.nice),
            system: s(self.system),
            idle: s(self.idle),
            iowait: s(self.iowait),
            irq: s(self.irq),
            softirq: s(self.softirq),
            steal: s(self.steal),
        }
    }
}

/// Busy share of the time between two readings, in 0..=1.
///
/// `None` when any counter went backwards (a core went offline and came back, a counter
/// wrapped) or when no time passed: there is no honest ratio for that interval.
pub fn usage_ratio(earlier: &CpuTicks, later: &CpuTicks) -> Option<f64> {
    if !later.not_below(earlier) {
        return None;
    }
    let total = later.total() - earlier.total();
    if total == 0 {
        return None;
    }
    let busy = later.busy().saturating_sub(earlier.busy());
    Some((busy as f64 / total as f64).clamp(0.0, 1.0))
}

impl StatReading {
    /// Parses `/proc/stat` into `self`, reusing its core list. Returns false when the
    /// `cpu` line is missing or unreadable.
    pub fn parse_into(&mut self, text: &str) -> bool {
        self.cores.clear();
        self.boot_time = None;
        let mut found_total = false;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("cpu") {
                let (label, fields) = rest.split_once(' ').unwrap_or((rest, ""));
                if label.is_empty() {
                    if let Some(ticks) = CpuTicks::parse(fields) {
                        self.total = ticks;
                        found_total = true;
                    }
                } else if let (Ok(index), Some(ticks)) =
                    (label.parse::<usize>(), CpuTicks::parse(fields))
                {
                    if index < MAX_CORES {
                        if self.cores.len() <= index {
                            self.cores.resize(index + 1, None);
                        }
                        self.cores[index] = Some(ticks);
                    }
                }
            } else if let Some(rest) = line.strip_prefix("btime ") {
                self.boot_time = rest.trim().parse().ok();
            }
        }
        found_total
    }
}

impl CpuState {
    /// A state with no previous reading; `ticks_per_second` is `USER_HZ`.
    pub fn new(ticks_per_second: u64) -> CpuState {
        CpuState {
            ticks_per_second: ticks_per_second.max(1) as f64,
            per_core_seconds: true,
            previous: StatReading::default(),
            current: StatReading::default(),
        }
    }

    /// Parses a fresh `/proc/stat` text and fills `cpu` from it and the previous one.
    /// Returns false (leaving `cpu` untouched) when the text has no `cpu` line.
    pub fn update(&mut self, text: &str, cpu: &mut Cpu) -> bool {
        if !self.current.parse_into(text) {
            return false;
        }
        let (previous, current) = (&self.previous, &self.current);
        cpu.usage_ratio = usage_ratio(&previous.total, &current.total).unwrap_or(0.0);
        cpu.cores.clear();
        cpu.cores
            .extend(current.cores.iter().enumerate().map(|(i, now)| {
                let before = previous.cores.get(i).copied().flatten().unwrap_or_default();
                now.and_then(|now| usage_ratio(&before, &now))
                    .unwrap_or(0.0)
            }));
        cpu.seconds = current.total.to_seconds(self.ticks_per_second);
        cpu.core_seconds.clear();
        if self.per_core_seconds {
            cpu.core_seconds.extend(
                current
                    .cores
                    .iter()
                    .map(|core| core.unwrap_or_default().to_seconds(self.ticks_per_second)),
            );
        }
        std::mem::swap(&mut self.previous, &mut self.current);
        true
    }

    /// Boot time from the latest reading, Unix seconds.
    pub fn boot_time(&self) -> Option<u64> {
        self.previous.boot_time
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT_1: &str = "cpu  100 0 50 800 50 0 0 0 0 0
cpu0 50 0 25 400 25 0 0 0 0 0
cpu1 50 0 25 400 25 0 0 0 0 0
intr 12345 0 0
ctxt 999
btime 1732400000
processes 42
";
    const STAT_2: &str = "cpu  200 0 100 900 100 0 0 0 0 0
cpu0 150 0 75 400 25 0 0 0 0 0
cpu1 50 0 25 500 75 0 0 0 0 0
btime 1732400000
";

    #[test]
    fn parses_total_cores_and_boot_time() {
        let mut reading = StatReading::default();
        assert!(reading.parse_into(STAT_1));
        assert_eq!(reading.total.user, 100);
        assert_eq!(reading.total.iowait, 50);
        assert_eq!(reading.cores.len(), 2);
        assert_eq!(reading.boot_time, Some(1_732_400_000));
    }

    #[test]
    fn old_kernels_with_four_columns_parse() {
        let ticks = CpuTicks::parse(" 1 2 3 4").unwrap();
        assert_eq!(ticks.total(), 10);
        assert_eq!(ticks.steal, 0);
        assert_eq!(CpuTicks::parse(" 1 2 3"), None);
        assert_eq!(CpuTicks::parse(" 1 x 3 4"), None);
    }

    #[test]
    fn ratio_from_deltas() {
        let a = CpuTicks {
            user: 100,
            idle: 100,
            ..CpuTicks::default()
        };
        let b = CpuTicks {
            user: 150,
            idle: 250,
            ..CpuTicks::default()
        };
        assert_eq!(usage_ratio(&a, &b), Some(0.25));
    }

    #[test]
    fn iowait_counts_as_idle() {
        let a = CpuTicks::default();
        let b = CpuTicks {
            iowait: 10,
            idle: 10,
            ..CpuTicks::default()
        };
        assert_eq!(usage_ratio(&a, &b), Some(0.0));
    }

    #[test]
    fn counters_going_backwards_give_none() {
        let a = CpuTicks {
            user: 100,
            idle: 100,
            ..CpuTicks::default()
        };
        let b = CpuTicks {
            user: 90,
            idle: 300,
            ..CpuTicks::default()
        };
        assert_eq!(usage_ratio(&a, &b), None);
        assert_eq!(usage_ratio(&a, &a), None, "no time passed");
    }

    #[test]
    fn state_reports_total_and_per_core_usage() {
        let mut state = CpuState::new(100);
        let mut cpu = Cpu::default();
        assert!(state.update(STAT_1, &mut cpu));
        // First reading: average since boot, busy 150 of 1000 ticks.
        assert!((cpu.usage_ratio - 0.15).abs() < 1e-9);
        assert!(state.update(STAT_2, &mut cpu));
        // Deltas: busy 150 of 300 ticks.
        assert!((cpu.usage_ratio - 0.5).abs() < 1e-9);
        assert_eq!(cpu.cores, vec![1.0, 0.0]);
        assert_eq!(cpu.seconds.user, 2.0);
        assert_eq!(cpu.seconds.idle, 9.0);
        assert_eq!(cpu.core_seconds.len(), 2);
        assert_eq!(cpu.core_seconds[0].user, 1.5);
        assert_eq!(cpu.core_seconds[1].idle, 5.0);
        assert_eq!(state.boot_time(), Some(1_732_400_000));
    }

    #[test]
    fn a_core_that_resets_reports_zero_and_an_offline_core_is_zero() {
        let mut state = CpuState::new(100);
        let mut cpu = Cpu::default();
        state.update(STAT_2, &mut cpu);
        // cpu0 went backwards, cpu1 is offline (missing), cpu2 appeared.
        let text = "cpu  300 0 100 1000 100 0 0 0 0 0
cpu0 1 0 1 1 0 0 0 0 0 0
cpu2 10 0 0 10 0 0 0 0 0 0
";
        assert!(state.update(text, &mut cpu));
        assert_eq!(cpu.cores, vec![0.0, 0.0, 0.5]);
        assert!(cpu.cores.iter().all(|r| (0.0..=1.0).contains(r)));
    }

    #[test]
    fn garbage_is_refused_without_panicking() {
        let mut state = CpuState::new(100);
        let mut cpu = Cpu::default();
        for text in [
            "",
            "cpu",
            "cpu a b c d",
            "\u{0}\u{1}",
            "cpu99999999999999999999 1 2 3 4",
        ] {
            assert!(!state.update(text, &mut cpu), "{text:?}");
        }
        let huge = format!("cpu  1 1 1 1\ncpu{} 1 1 1 1\n", MAX_CORES + 5);
        assert!(state.update(&huge, &mut cpu));
        assert!(
            cpu.cores.is_empty(),
            "cores above the protocol cap are ignored"
        );
    }
}
