//! `--simulate N`: N independent edges with synthetic but plausible data, for load tests
//! and benchmarks against a real master.
//!
//! Each simulated edge has its own WebSocket, run id, host name (`<prefix>-0001`, ...),
//! replay buffer and sampler, exactly like a real edge. Start times are spread evenly
//! across one interval, so a thousand edges send a steady stream rather than one burst per
//! second. Values drift smoothly (sums of slow sine waves with a per-host phase), and
//! counters only grow.

use std::f64::consts::TAU;
use std::time::{Duration, Instant as StdInstant};

use anyhow::Context;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use utizmon_protocol::{
    now_ms, validate_host_name, CpuSeconds, Filesystem, HostInfo, Load, Memory, Network, Sample,
};

use crate::collect::Source;
use crate::transport::{self, Link, Outbox};
use crate::{encode_hello, sample_loop, Config, RunIdentity};

const GIB: u64 = 1 << 30;

/// One synthetic host: fixed traits drawn from its index, plus counters that grow.
#[derive(Debug, Clone)]
pub struct SimHost {
    index: u32,
    cores: usize,
    phase: f64,
    base_usage: f64,
    memory_total: u64,
    swap_total: u64,
    boot_time: u64,
    filesystems: Vec<(String, &'static str, u64)>,
    seconds: CpuSeconds,
    rx_bytes: u64,
    tx_bytes: u64,
    last: Option<StdInstant>,
}

/// Runs `n` simulated edges until `shutdown`.
pub async fn run(
    config: &Config,
    n: u32,
    token: Option<String>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let last_name = host_name(&config.simulate_prefix, n);
    validate_host_name(&last_name)
        .with_context(|| format!("--simulate-prefix {:?}", config.simulate_prefix))?;
    let capacity = config.buffer_capacity();
    tracing::info!(
        n,
        prefix = %config.simulate_prefix,
        master = %config.master,
        interval = %humantime::format_duration(config.interval),
        buffer_per_edge = capacity,
        "starting simulated edges"
    );
    let tasks = TaskTracker::new();
    let start = Instant::now();
    let tls = config.tls()?;
    for index in 1..=n {
        let name = host_name(&config.simulate_prefix, index);
        let offset = start_offset(config.interval, index, n);
        let sim = SimHost::new(index);
        let masters = config.masters();
        let link = Link {
            master: masters[0].clone(),
            masters,
            tls: tls.clone(),
            ca_file: config.ca_file.clone(),
            token: token.clone(),
            // Read once for the whole fleet rather than by a thousand edges per reconnect.
            token_file: None,
            host_name: name.clone(),
            // The first edge speaks for the fleet; the others log at debug.
            quiet: index > 1,
            ack_timeout: transport::ACK_TIMEOUT,
        };
        transport::request(&link)?;
        let outbox = Outbox::new(capacity);
        let run = RunIdentity::new();
        let interval_ms = config.interval_ms();
        let info = sim.host_info(&name);
        let hello = move || encode_hello(&run, interval_ms, info.clone());
        // Stops this edge's transport: at shutdown, or once its last sample is acknowledged.
        let edge_done = shutdown.child_token();
        let (interval, limit) = (config.interval, config.simulate_samples);
        let (sampler_outbox, sampler_done) = (outbox.clone(), edge_done.clone());
        tasks.spawn(async move {
            let quiet = index > 1;
            let outbox = sampler_outbox;
            sample_loop(
                sim,
                interval,
                start + offset,
                outbox.clone(),
                sampler_done.clone(),
                quiet,
                limit,
            )
            .await;
            if limit.is_some() {
                finish(&outbox, &sampler_done).await;
            }
        });
        let shutdown = edge_done;
        tasks.spawn(async move {
            // Connect in the same staggered order as the samplers start.
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep_until(start + offset) => {}
            }
            transport::deliver(link, hello, outbox, shutdown).await;
        });
    }
    tasks.close();
    tasks.wait().await;
    tracing::info!(n, "simulated edges stopped");
    Ok(())
}

/// Once every sample in `outbox` is acknowledged, stops the edge (`done`): it closes its
/// connection like an edge shutting down, with nothing left to flush.
async fn finish(outbox: &Outbox, done: &CancellationToken) {
    // Polled: this runs once per edge, at the end, and a 100 ms lag is immaterial.
    while !outbox.is_empty() {
        tokio::select! {
            _ = done.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
    done.cancel();
}

/// When simulated edge `index` (1-based) of `n` takes its first sample, relative to the
/// start: evenly spread over one interval, so the fleet sends a steady stream.
pub fn start_offset(interval: Duration, index: u32, n: u32) -> Duration {
    interval.mul_f64(f64::from(index.saturating_sub(1)) / f64::from(n.max(1)))
}

/// `<prefix>-0001` style names, 1-based.
pub fn host_name(prefix: &str, index: u32) -> String {
    format!("{prefix}-{index:04}")
}

impl SimHost {
    /// Simulated host number `index` (1-based); its traits are a pure function of it.
    pub fn new(index: u32) -> SimHost {
        let seed = u64::from(index);
        let cores = [2, 4, 4, 8][(mix(seed, 1) % 4) as usize];
        let memory_total = [4, 8, 16, 32][(mix(seed, 2) % 4) as usize] * GIB;
        let uptime = 3600.0 + unit(seed, 3) * 30.0 * 86_400.0;
        let boot_time = (now_ms() / 1000).saturating_sub(uptime as u64);
        let mut filesystems = vec![("/".to_owned(), "ext4", (20 + mix(seed, 4) % 80) * GIB)];
        if index % 2 == 0 {
            filesystems.push(("/data".to_owned(), "xfs", (200 + mix(seed, 5) % 800) * GIB));
        }
        SimHost {
            index,
            cores,
            phase: unit(seed, 6) * TAU,
            base_usage: 0.08 + unit(seed, 7) * 0.25,
            memory_total,
            swap_total: if index % 3 == 0 { 0 } else { 2 * GIB },
            boot_time,
            filesystems,
            seconds: CpuSeconds {
                user: uptime * cores as f64 * 0.1,
                system: uptime * cores as f64 * 0.03,
                idle: uptime * cores as f64 * 0.85,
                ..CpuSeconds::default()
            },
            rx_bytes: mix(seed, 8) % (50 * GIB),
            tx_bytes: mix(seed, 9) % (10 * GIB),
            last: None,
        }
    }

    /// The hello host facts of this simulated host.
    pub fn host_info(&self, host_name: &str) -> HostInfo {
        HostInfo {
            host_name: host_name.to_owned(),
            os_name: "Debian GNU/Linux".into(),
            os_version: "12".into(),
            kernel: "6.1.0-sim-amd64".into(),
            arch: "x86_64".into(),
            cpu_model: "Simulated CPU @ 2.40GHz".into(),
            cores: self.cores as u32,
            agent_version: env!("CARGO_PKG_VERSION").into(),
            boot_time: self.boot_time,
            ..HostInfo::default()
        }
    }

    /// Smooth wave around 0 in -1..=1: two slow sines with this host's phase.
    fn wave(&self, t: f64, period: f64, k: f64) -> f64 {
        let a = (turns(t, period) + self.phase + k).sin();
        let b = (turns(t, period * 0.37) + 2.0 * self.phase + 1.7 * k).sin();
        0.7 * a + 0.3 * b
    }
}

impl Source for SimHost {
    fn fill(&mut self, sample: &mut Sample) {
        let now = StdInstant::now();
        let dt = self
            .last
            .map_or(1.0, |last| now.duration_since(last).as_secs_f64());
        self.last = Some(now);
        self.fill_at(sample, now_ms(), dt);
    }
}

impl SimHost {
    /// The values of this host at `t_ms` (Unix ms), `dt` seconds after its previous sample:
    /// the same stream the live simulator sends, with time passed in rather than read from
    /// the clock, so a benchmark can feed a store hours of a fleet's samples in minutes.
    /// Leaves `seq` and `ts_ms` to the caller, like [`Source::fill`].
    pub fn fill_at(&mut self, sample: &mut Sample, t_ms: u64, dt: f64) {
        let t = t_ms as f64 / 1000.0;

        sample.cpu.cores.clear();
        for core in 0..self.cores {
            let usage = self.base_usage + 0.12 * self.wave(t, 90.0, core as f64);
            sample.cpu.cores.push(usage.clamp(0.01, 0.99));
        }
        let usage = sample.cpu.cores.iter().sum::<f64>() / self.cores as f64;
        sample.cpu.usage_ratio = usage.clamp(0.0, 1.0);
        let cpu_time = dt * self.cores as f64;
        self.seconds.user += cpu_time * usage * 0.75;
        self.seconds.system += cpu_time * usage * 0.2;
        self.seconds.softirq += cpu_time * usage * 0.05;
        self.seconds.idle += cpu_time * (1.0 - usage) * 0.98;
        self.seconds.iowait += cpu_time * (1.0 - usage) * 0.02;
        sample.cpu.seconds = self.seconds;

        let used_share =
            (0.35 + 0.1 * unit(u64::from(self.index), 10) + 0.08 * self.wave(t, 600.0, 0.5))
                .clamp(0.05, 0.95);
        let used = (self.memory_total as f64 * used_share) as u64;
        sample.memory = Memory {
            total_bytes: self.memory_total,
            used_bytes: used,
            available_bytes: self.memory_total - used,
            swap_total_bytes: self.swap_total,
            swap_used_bytes: self.swap_total / 50,
            ..Memory::default()
        };

        let load = usage * self.cores as f64;
        sample.load = Load {
            load1: (load * (1.0 + 0.15 * self.wave(t, 60.0, 2.0))).max(0.0),
            load5: (load * (1.0 + 0.05 * self.wave(t, 300.0, 2.0))).max(0.0),
            load15: load.max(0.0),
        };
        sample.uptime_seconds = (t - self.boot_time as f64).max(0.0);

        // In place when the sample already lists these (every sample of a live edge but
        // its first): new strings each second were a tenth of the simulator's allocations.
        let listed = sample.filesystems.iter().map(|fs| fs.mountpoint.as_str());
        if !listed.eq(self
            .filesystems
            .iter()
            .map(|(mountpoint, _, _)| mountpoint.as_str()))
        {
            sample.filesystems = self
                .filesystems
                .iter()
                .map(|(mountpoint, fstype, _)| Filesystem {
                    mountpoint: mountpoint.clone(),
                    fstype: (*fstype).to_owned(),
                    ..Filesystem::default()
                })
                .collect();
        }
        for (i, ((_, _, size), fs)) in self
            .filesystems
            .iter()
            .zip(&mut sample.filesystems)
            .enumerate()
        {
            let used_share = 0.45 + 0.1 * self.wave(t, 3600.0, i as f64);
            fs.size_bytes = *size;
            fs.avail_bytes = (*size as f64 * (1.0 - used_share)) as u64;
        }

        let rx_rate = 60_000.0 * (1.0 + 0.8 * self.wave(t, 120.0, 3.0));
        let tx_rate = 20_000.0 * (1.0 + 0.8 * self.wave(t, 150.0, 4.0));
        self.rx_bytes += (rx_rate.max(0.0) * dt) as u64;
        self.tx_bytes += (tx_rate.max(0.0) * dt) as u64;
        if !matches!(sample.networks.as_slice(), [eth0] if eth0.device == "eth0") {
            sample.networks = vec![Network {
                device: "eth0".into(),
                ..Network::default()
            }];
        }
        sample.networks[0].rx_bytes = self.rx_bytes;
        sample.networks[0].tx_bytes = self.tx_bytes;
    }
}

/// The angle `t` seconds into a wave of `period` seconds, reduced to one turn first.
///
/// Unix time in seconds makes the plain angle about 10^8 radians, where `sin` leaves its
/// fast path for an exact range reduction (glibc's `__branred`): that and `sin` were
/// 3.5-4.5 % of the simulator's CPU at 1,000-10,000 edges. Reduced, the angle stays below a
/// turn plus the phases.
fn turns(t: f64, period: f64) -> f64 {
    // Not `t % period`: f64 `%` is a software `fmod`, itself 1 % of the CPU.
    let cycles = t / period;
    TAU * (cycles - cycles.floor())
}

/// SplitMix64 of `seed` and `k`: a cheap, deterministic per-host random number.
pub fn mix(seed: u64, k: u64) -> u64 {
    let mut z = seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(k.wrapping_mul(0xBF58_476D_1CE4_E5B9));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// [`mix`] as a number in 0..1.
fn unit(seed: u64, k: u64) -> f64 {
    (mix(seed, k) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_times_are_spread_over_one_interval() {
        let second = Duration::from_secs(1);
        assert_eq!(start_offset(second, 1, 1000), Duration::ZERO);
        assert_eq!(start_offset(second, 501, 1000), Duration::from_millis(500));
        assert!(start_offset(second, 1000, 1000) < second);
        assert_eq!(start_offset(second, 1, 1), Duration::ZERO);
    }

    #[test]
    fn simulated_samples_are_valid_and_counters_grow() {
        for index in 1..=50 {
            let mut sim = SimHost::new(index);
            let mut sample = Sample::default();
            sim.fill(&mut sample);
            sample.seq = 1;
            sample.validate().unwrap();
            let first = sample.clone();
            std::thread::sleep(Duration::from_millis(2));
            sim.fill(&mut sample);
            sample.validate().unwrap();
            assert!(sample.cpu.seconds.user > first.cpu.seconds.user);
            assert!(sample.networks[0].rx_bytes >= first.networks[0].rx_bytes);
            assert!(!sample.filesystems.is_empty() && sample.filesystems.len() <= 2);
        }
    }

    #[test]
    fn a_sample_reused_across_hosts_is_each_hosts_own() {
        // Hosts 2 and 4 mount the same paths with other sizes; host 1 mounts only `/`.
        let mut reused = Sample::default();
        for index in [2, 4, 1, 2] {
            let host = SimHost::new(index);
            let mut fresh = Sample::default();
            host.clone().fill_at(&mut fresh, 1_764_000_000_000, 1.0);
            host.clone().fill_at(&mut reused, 1_764_000_000_000, 1.0);
            assert_eq!(reused, fresh, "host {index}");
        }
    }

    #[test]
    fn waves_are_reduced_to_one_turn_without_moving() {
        for (t, period) in [
            (1_764_000_000.25, 90.0),
            (0.5, 600.0),
            (12_345.0, 3600.0 * 0.37),
        ] {
            let plain = (TAU * t / period).sin();
            let reduced = turns(t, period);
            assert!((0.0..TAU).contains(&reduced), "{reduced}");
            assert!(
                (reduced.sin() - plain).abs() < 1e-5,
                "t {t}: {plain} vs {}",
                reduced.sin()
            );
        }
    }

    #[test]
    fn hosts_differ_and_names_are_padded() {
        assert_eq!(host_name("sim", 7), "sim-0007");
        assert_eq!(host_name("sim", 12345), "sim-12345");
        let traits: Vec<_> = (1..=20).map(|i| SimHost::new(i).phase).collect();
        let mut sorted = traits.clone();
        sorted.dedup();
        assert_eq!(sorted.len(), traits.len());
    }
}
