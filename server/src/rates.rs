//! `Rates`: per-second network, disk, cgroup, pressure and kernel rates from consecutive
//! samples of one host (or from the first samples of two history buckets).
//!
//! Pure arithmetic, no clock and no I/O: `Fleet` keeps the result as part of a host's live
//! state, `history` turns it into the network rates of a history point, and the HTTP views
//! decide how it looks in JSON.

use std::sync::Arc;

use utizmon_protocol::{Cgroup, Disk, KernelCounters, Network, Pressure, Sample, Stall};

/// Per-second rates computed from the last two samples' counters.
#[derive(Debug, Clone, PartialEq)]
pub struct Rates {
    /// Sum over the interfaces that have a rate, except loopback (`lo`).
    pub rx_bytes_per_second: f64,
    /// Sum over the interfaces that have a rate, except loopback (`lo`).
    pub tx_bytes_per_second: f64,
    /// Interfaces present in both samples whose counters did not go backwards.
    pub networks: Vec<NetworkRate>,
    /// Block devices present in both samples whose counters did not go backwards.
    pub disks: Vec<DiskRate>,
    /// Services and containers; see [`CgroupRates`] for why they need their own window.
    pub cgroups: CgroupRates,
    /// Share of the time tasks were stalled, from the PSI counters; `None` unless both
    /// samples carry pressure.
    pub pressure: Option<PressureRates>,
    /// Kernel activity per second; `None` unless both samples carry the kernel counters
    /// and none went backwards (a reboot).
    pub kernel: Option<KernelRates>,
}

/// Stall shares of the resources both samples report (`/proc/pressure/*`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PressureRates {
    pub cpu: Option<StallRates>,
    pub memory: Option<StallRates>,
    pub io: Option<StallRates>,
}

/// Share of the time between two samples that tasks were stalled on one resource, 0..=1:
/// the growth of the cumulative stall seconds over the elapsed seconds, which is what
/// `rate(node_pressure_*_seconds_total)` gives, and averages a long bucket exactly.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct StallRates {
    /// At least one task stalled (`some`).
    pub some_ratio: f64,
    /// Every non-idle task stalled (`full`); `None` where the kernel has no `full` line.
    pub full_ratio: Option<f64>,
}

/// Per-second kernel activity from `/proc/stat`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct KernelRates {
    pub context_switches_per_second: f64,
    pub interrupts_per_second: f64,
    pub forks_per_second: f64,
}

/// Rates of one network interface.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkRate {
    /// Interface name, as the edge sent it.
    pub device: String,
    /// Bytes received per second.
    pub rx_bytes_per_second: f64,
    /// Bytes transmitted per second.
    pub tx_bytes_per_second: f64,
    /// Packets, errors and drops per second; `None` when the edge sends no packet
    /// counters (protocol minor 0, or an interface that never moved a packet).
    pub packets: Option<PacketRates>,
}

/// Per-second packet, error and drop counts of one interface.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PacketRates {
    pub rx_packets: f64,
    pub tx_packets: f64,
    pub rx_errors: f64,
    pub tx_errors: f64,
    pub rx_dropped: f64,
    pub tx_dropped: f64,
}

/// Rates of one block device.
#[derive(Debug, Clone, PartialEq)]
pub struct DiskRate {
    /// Kernel device name, as the edge sent it.
    pub device: String,
    /// Bytes read per second.
    pub read_bytes_per_second: f64,
    /// Bytes written per second.
    pub written_bytes_per_second: f64,
    /// Reads completed per second.
    pub reads_per_second: f64,
    /// Writes completed per second.
    pub writes_per_second: f64,
    /// Share of the time the device had I/O in flight, 0..=1.
    pub busy_ratio: f64,
}

/// Rates of the cgroups (services, containers) of a host.
///
/// The edge reads cgroups every few seconds and repeats the reading in the samples in
/// between, so the rate between two consecutive samples would be zero most of the time and
/// several times too high once. Rates are therefore taken between two distinct readings,
/// over the time between the samples that first carried them, and repeated in between.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CgroupRates {
    /// `ts_ms` of the sample that first carried the current reading; `None` until one was
    /// seen change (the time of the first reading is unknown).
    pub reading_ms: Option<u64>,
    /// One entry per cgroup present in both readings whose counters did not go backwards;
    /// shared, since it is repeated unchanged between readings.
    pub groups: Arc<[CgroupRate]>,
}

/// Rates of one cgroup.
#[derive(Debug, Clone, PartialEq)]
pub struct CgroupRate {
    /// Path below the cgroup root, as the edge sent it.
    pub name: String,
    /// CPU seconds used per second: the number of cores kept busy.
    pub cpu_cores: f64,
    /// Bytes read from block devices per second.
    pub io_read_bytes_per_second: f64,
    /// Bytes written to block devices per second.
    pub io_written_bytes_per_second: f64,
}

impl Rates {
    /// Rates between two samples of one host; `None` when time did not advance.
    /// A device whose counter went backwards (reset) gets no rate. `before` is the previous
    /// result, which carries the cgroup window (see [`CgroupRates`]).
    pub fn between(prev: &Sample, cur: &Sample, before: Option<&Rates>) -> Option<Rates> {
        if cur.ts_ms <= prev.ts_ms {
            return None;
        }
        let seconds = (cur.ts_ms - prev.ts_ms) as f64 / 1000.0;
        let mut rates = Rates {
            rx_bytes_per_second: 0.0,
            tx_bytes_per_second: 0.0,
            networks: Vec::with_capacity(cur.networks.len()),
            disks: Vec::with_capacity(cur.disks.len()),
            cgroups: CgroupRates::next(before.map(|r| &r.cgroups), prev, cur),
            pressure: prev
                .pressure
                .zip(cur.pressure)
                .map(|(old, new)| PressureRates::between(&old, &new, seconds)),
            kernel: prev
                .kernel
                .zip(cur.kernel)
                .and_then(|(old, new)| KernelRates::between(&old, &new, seconds)),
        };
        for net in &cur.networks {
            let Some(old) = prev.networks.iter().find(|o| o.device == net.device) else {
                continue;
            };
            let Some(rate) = NetworkRate::between(old, net, seconds) else {
                continue;
            };
            // Loopback traffic never leaves the host: listed, but not in the totals.
            if net.device != "lo" {
                rates.rx_bytes_per_second += rate.rx_bytes_per_second;
                rates.tx_bytes_per_second += rate.tx_bytes_per_second;
            }
            rates.networks.push(rate);
        }
        for disk in &cur.disks {
            let Some(old) = prev.disks.iter().find(|o| o.device == disk.device) else {
                continue;
            };
            rates.disks.extend(DiskRate::between(old, disk, seconds));
        }
        Some(rates)
    }
}

/// `(cur - old) / seconds`, or `None` when the counter went backwards.
fn per_second(old: u64, cur: u64, seconds: f64) -> Option<f64> {
    cur.checked_sub(old).map(|d| d as f64 / seconds)
}

impl NetworkRate {
    fn between(old: &Network, cur: &Network, seconds: f64) -> Option<NetworkRate> {
        let rate = |pick: fn(&Network) -> u64| per_second(pick(old), pick(cur), seconds);
        let packets = (cur.rx_packets > 0 || cur.tx_packets > 0)
            .then(|| {
                Some(PacketRates {
                    rx_packets: rate(|n| n.rx_packets)?,
                    tx_packets: rate(|n| n.tx_packets)?,
                    rx_errors: rate(|n| n.rx_errors)?,
                    tx_errors: rate(|n| n.tx_errors)?,
                    rx_dropped: rate(|n| n.rx_dropped)?,
                    tx_dropped: rate(|n| n.tx_dropped)?,
                })
            })
            .flatten();
        Some(NetworkRate {
            device: cur.device.clone(),
            rx_bytes_per_second: rate(|n| n.rx_bytes)?,
            tx_bytes_per_second: rate(|n| n.tx_bytes)?,
            packets,
        })
    }
}

impl DiskRate {
    fn between(old: &Disk, cur: &Disk, seconds: f64) -> Option<DiskRate> {
        let rate = |pick: fn(&Disk) -> u64| per_second(pick(old), pick(cur), seconds);
        if cur.io_seconds < old.io_seconds {
            return None;
        }
        Some(DiskRate {
            device: cur.device.clone(),
            read_bytes_per_second: rate(|d| d.read_bytes)?,
            written_bytes_per_second: rate(|d| d.written_bytes)?,
            reads_per_second: rate(|d| d.reads)?,
            writes_per_second: rate(|d| d.writes)?,
            busy_ratio: ((cur.io_seconds - old.io_seconds) / seconds).min(1.0),
        })
    }
}

impl PressureRates {
    fn between(old: &Pressure, cur: &Pressure, seconds: f64) -> PressureRates {
        let stall = |pick: fn(&Pressure) -> Option<Stall>| {
            let (old, cur) = pick(old).zip(pick(cur))?;
            StallRates::between(&old, &cur, seconds)
        };
        PressureRates {
            cpu: stall(|p| p.cpu),
            memory: stall(|p| p.memory),
            io: stall(|p| p.io),
        }
    }
}

impl StallRates {
    fn between(old: &Stall, cur: &Stall, seconds: f64) -> Option<StallRates> {
        // Stalls are counted per CPU and rounded by the kernel: a share is at most 1.
        let share = |old: f64, cur: f64| (cur >= old).then(|| ((cur - old) / seconds).min(1.0));
        Some(StallRates {
            some_ratio: share(old.some_seconds, cur.some_seconds)?,
            full_ratio: old
                .full_seconds
                .zip(cur.full_seconds)
                .and_then(|(old, cur)| share(old, cur)),
        })
    }
}

impl KernelRates {
    fn between(old: &KernelCounters, cur: &KernelCounters, seconds: f64) -> Option<KernelRates> {
        let rate = |pick: fn(&KernelCounters) -> u64| per_second(pick(old), pick(cur), seconds);
        Some(KernelRates {
            context_switches_per_second: rate(|k| k.context_switches)?,
            interrupts_per_second: rate(|k| k.interrupts)?,
            forks_per_second: rate(|k| k.forks)?,
        })
    }
}

impl CgroupRates {
    /// The cgroup rates after `cur`, given those after `prev` (`before`).
    fn next(before: Option<&CgroupRates>, prev: &Sample, cur: &Sample) -> CgroupRates {
        if cur.cgroups == prev.cgroups {
            // A repeated reading (or none at all): the rates of the last change still hold.
            return before.cloned().unwrap_or_default();
        }
        let since = before
            .and_then(|b| b.reading_ms)
            .filter(|&ms| ms < cur.ts_ms);
        let groups = match since {
            Some(since) => {
                let seconds = (cur.ts_ms - since) as f64 / 1000.0;
                cur.cgroups
                    .iter()
                    .filter_map(|group| {
                        let old = prev.cgroups.iter().find(|o| o.name == group.name)?;
                        CgroupRate::between(old, group, seconds)
                    })
                    .collect()
            }
            None => Arc::from([]),
        };
        CgroupRates {
            reading_ms: Some(cur.ts_ms),
            groups,
        }
    }
}

impl CgroupRate {
    fn between(old: &Cgroup, cur: &Cgroup, seconds: f64) -> Option<CgroupRate> {
        if cur.cpu_seconds < old.cpu_seconds {
            return None;
        }
        Some(CgroupRate {
            name: cur.name.clone(),
            cpu_cores: (cur.cpu_seconds - old.cpu_seconds) / seconds,
            io_read_bytes_per_second: per_second(old.io_read_bytes, cur.io_read_bytes, seconds)?,
            io_written_bytes_per_second: per_second(
                old.io_written_bytes,
                cur.io_written_bytes,
                seconds,
            )?,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use utizmon_protocol::Network;

    use super::*;

    /// Sample `seq` of a host whose eth0 receives 100 bytes and sends -1 byte per sample
    /// (a counter that goes backwards): shared with the live model's tests.
    pub(crate) fn sample(seq: u64) -> Sample {
        Sample {
            seq,
            ts_ms: 1_700_000_000_000 + seq * 1000,
            networks: vec![Network {
                device: "eth0".into(),
                rx_bytes: seq * 100,
                tx_bytes: 1000 - seq,
                ..Network::default()
            }],
            ..Sample::default()
        }
    }

    #[test]
    fn rates_skip_counters_that_went_backwards() {
        let prev = sample(1);
        let mut cur = sample(3);
        // tx went from 999 to 997: backwards, so eth0 gets no rate.
        let rates = Rates::between(&prev, &cur, None).unwrap();
        assert!(rates.networks.is_empty());
        assert_eq!(rates.rx_bytes_per_second, 0.0);
        cur.networks[0].tx_bytes = 2000;
        let rates = Rates::between(&prev, &cur, None).unwrap();
        assert_eq!(rates.networks.len(), 1);
        assert_eq!(rates.networks[0].rx_bytes_per_second, 100.0);
        assert_eq!(rates.tx_bytes_per_second, (2000.0 - 999.0) / 2.0);
        assert!(Rates::between(&cur, &prev, None).is_none());
    }

    #[test]
    fn loopback_is_listed_but_not_in_the_totals() {
        let mut prev = sample(1);
        let mut cur = sample(2);
        prev.networks[0].device = "lo".into();
        cur.networks[0].tx_bytes = 2000;
        cur.networks[0].device = "lo".into();
        let rates = Rates::between(&prev, &cur, None).unwrap();
        assert_eq!(rates.networks.len(), 1);
        assert_eq!(rates.rx_bytes_per_second, 0.0);
        assert_eq!(rates.networks[0].rx_bytes_per_second, 100.0);
    }

    #[test]
    fn interfaces_missing_before_get_no_rate() {
        let prev = Sample {
            networks: Vec::new(),
            ..sample(1)
        };
        let rates = Rates::between(&prev, &sample(2), None).unwrap();
        assert!(rates.networks.is_empty());
    }

    #[test]
    fn packet_rates_only_when_the_edge_counts_packets() {
        let mut prev = sample(1);
        let mut cur = sample(2);
        cur.networks[0].tx_bytes = 2000;
        assert_eq!(
            Rates::between(&prev, &cur, None).unwrap().networks[0].packets,
            None
        );
        prev.networks[0].rx_packets = 10;
        prev.networks[0].rx_dropped = 1;
        cur.networks[0].rx_packets = 30;
        cur.networks[0].rx_dropped = 4;
        cur.networks[0].tx_errors = 2;
        let packets = Rates::between(&prev, &cur, None).unwrap().networks[0].packets;
        let packets = packets.expect("packet counters give packet rates");
        assert_eq!((packets.rx_packets, packets.rx_dropped), (20.0, 3.0));
        assert_eq!((packets.tx_errors, packets.rx_errors), (2.0, 0.0));
        // A packet counter that went backwards: bytes still have a rate, packets none.
        cur.networks[0].rx_packets = 5;
        let rates = Rates::between(&prev, &cur, None).unwrap();
        assert_eq!(rates.networks[0].packets, None);
        assert_eq!(rates.networks[0].rx_bytes_per_second, 100.0);
    }

    #[test]
    fn disk_rates_per_device_with_a_busy_share() {
        let disk = |device: &str, k: u64, io_seconds: f64| Disk {
            device: device.into(),
            reads: k,
            read_bytes: 512 * k,
            writes: 2 * k,
            written_bytes: 4096 * k,
            io_seconds,
            ..Disk::default()
        };
        let mut prev = sample(1);
        let mut cur = sample(3);
        cur.networks[0].tx_bytes = 2000;
        prev.disks = vec![
            disk("vda", 10, 1.0),
            disk("vdb", 10, 5.0),
            disk("sr0", 1, 0.0),
        ];
        cur.disks = vec![
            disk("vda", 30, 1.5),
            disk("vdb", 5, 9.0),
            disk("new", 1, 0.0),
        ];
        let rates = Rates::between(&prev, &cur, None).unwrap();
        assert_eq!(
            rates.disks.len(),
            1,
            "vdb went backwards, new and sr0 are in one sample"
        );
        let vda = &rates.disks[0];
        assert_eq!(vda.device, "vda");
        assert_eq!(vda.read_bytes_per_second, 512.0 * 20.0 / 2.0);
        assert_eq!(vda.written_bytes_per_second, 4096.0 * 20.0 / 2.0);
        assert_eq!((vda.reads_per_second, vda.writes_per_second), (10.0, 20.0));
        assert_eq!(vda.busy_ratio, 0.25);
    }

    #[test]
    fn pressure_shares_and_kernel_rates_from_the_counters() {
        let stall = |some: f64, full: Option<f64>| Stall {
            some_seconds: some,
            some_avg10: 0.0,
            full_seconds: full,
            full_avg10: None,
        };
        let kernel = |k: u64| KernelCounters {
            context_switches: 1000 * k,
            interrupts: 500 * k,
            forks: k,
            procs_running: 3,
            procs_blocked: 1,
        };
        let mut prev = sample(1);
        let mut cur = sample(5);
        cur.networks[0].tx_bytes = 2000;
        let rates = Rates::between(&prev, &cur, None).unwrap();
        assert_eq!((rates.pressure, rates.kernel), (None, None), "not sent");
        prev.pressure = Some(Pressure {
            cpu: Some(stall(10.0, None)),
            io: Some(stall(4.0, Some(2.0))),
            memory: Some(stall(1.0, Some(1.0))),
        });
        cur.pressure = Some(Pressure {
            cpu: Some(stall(11.0, None)),
            io: Some(stall(12.0, Some(3.0))),
            memory: None,
        });
        prev.kernel = Some(kernel(1));
        cur.kernel = Some(kernel(9));
        let rates = Rates::between(&prev, &cur, None).unwrap();
        let p = rates.pressure.unwrap();
        // 4 s apart: 1 s of cpu stall is 25 %; 8 s of io stall in 4 s is capped at 100 %.
        assert_eq!(
            p.cpu,
            Some(StallRates {
                some_ratio: 0.25,
                full_ratio: None
            })
        );
        assert_eq!(
            p.io,
            Some(StallRates {
                some_ratio: 1.0,
                full_ratio: Some(0.25)
            })
        );
        assert_eq!(p.memory, None, "gone from the newer sample");
        let k = rates.kernel.unwrap();
        assert_eq!(
            (
                k.context_switches_per_second,
                k.interrupts_per_second,
                k.forks_per_second
            ),
            (2000.0, 1000.0, 2.0)
        );
        // A reboot between the samples: the counters went backwards, no rates.
        cur.kernel = Some(kernel(0));
        cur.pressure.as_mut().unwrap().cpu = Some(stall(1.0, None));
        let rates = Rates::between(&prev, &cur, None).unwrap();
        assert_eq!(rates.kernel, None);
        assert_eq!(rates.pressure.unwrap().cpu, None);
    }

    #[test]
    fn cgroup_rates_span_two_readings_and_repeat_in_between() {
        let group = |cpu_seconds: f64, io: u64| Cgroup {
            name: "system.slice/db.service".into(),
            cpu_seconds,
            memory_bytes: 1 << 20,
            io_read_bytes: io,
            io_written_bytes: 2 * io,
        };
        // A reading every 5 samples, repeated in between, as the edge sends them.
        let samples: Vec<Sample> = (1..=16)
            .map(|seq| Sample {
                cgroups: vec![group(((seq - 1) / 5) as f64 * 2.5, (seq - 1) / 5 * 5000)],
                ..sample(seq)
            })
            .collect();
        let mut rates: Option<Rates> = None;
        let mut seen = Vec::new();
        for pair in samples.windows(2) {
            rates = Rates::between(&pair[0], &pair[1], rates.as_ref());
            let r = rates.as_ref().unwrap();
            seen.push(r.cgroups.groups.first().map(|g| g.cpu_cores));
        }
        // seq 6 starts the first known reading; seq 11 is the first rate (over 5 s), held
        // through seq 15 and replaced at seq 16.
        assert!(seen[..9].iter().all(Option::is_none), "{seen:?}");
        assert!(seen[9..].iter().all(|c| *c == Some(0.5)), "{seen:?}");
        let last = &rates.unwrap().cgroups.groups[0];
        assert_eq!(last.io_read_bytes_per_second, 1000.0);
        assert_eq!(last.io_written_bytes_per_second, 2000.0);
    }
}
