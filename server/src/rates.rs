//! `Rates`: per-second network rates from two consecutive samples of one host.
//!
//! Pure arithmetic, no clock and no I/O: `Fleet` keeps the result as part of a host's live
//! state, `history` turns it into the network rates of a history point, and the HTTP views
//! decide how it looks in JSON.

use utizmon_protocol::Sample;

/// Per-second rates computed from the last two samples' counters.
#[derive(Debug, Clone, PartialEq)]
pub struct Rates {
    /// Sum over the interfaces that have a rate, except loopback (`lo`).
    pub rx_bytes_per_second: f64,
    /// Sum over the interfaces that have a rate, except loopback (`lo`).
    pub tx_bytes_per_second: f64,
    /// Interfaces present in both samples whose counters did not go backwards.
    pub networks: Vec<NetworkRate>,
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
}

impl Rates {
    /// Rates between two samples of one host; `None` when time did not advance.
    /// An interface whose counter went backwards (reset) gets no rate.
    pub fn between(prev: &Sample, cur: &Sample) -> Option<Rates> {
        if cur.ts_ms <= prev.ts_ms {
            return None;
        }
        let seconds = (cur.ts_ms - prev.ts_ms) as f64 / 1000.0;
        let mut rates = Rates {
            rx_bytes_per_second: 0.0,
            tx_bytes_per_second: 0.0,
            networks: Vec::with_capacity(cur.networks.len()),
        };
        for net in &cur.networks {
            let Some(old) = prev.networks.iter().find(|o| o.device == net.device) else {
                continue;
            };
            if net.rx_bytes < old.rx_bytes || net.tx_bytes < old.tx_bytes {
                continue;
            }
            let rx = (net.rx_bytes - old.rx_bytes) as f64 / seconds;
            let tx = (net.tx_bytes - old.tx_bytes) as f64 / seconds;
            // Loopback traffic never leaves the host: listed, but not in the totals.
            if net.device != "lo" {
                rates.rx_bytes_per_second += rx;
                rates.tx_bytes_per_second += tx;
            }
            rates.networks.push(NetworkRate {
                device: net.device.clone(),
                rx_bytes_per_second: rx,
                tx_bytes_per_second: tx,
            });
        }
        Some(rates)
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
        let rates = Rates::between(&prev, &cur).unwrap();
        assert!(rates.networks.is_empty());
        assert_eq!(rates.rx_bytes_per_second, 0.0);
        cur.networks[0].tx_bytes = 2000;
        let rates = Rates::between(&prev, &cur).unwrap();
        assert_eq!(rates.networks.len(), 1);
        assert_eq!(rates.networks[0].rx_bytes_per_second, 100.0);
        assert_eq!(rates.tx_bytes_per_second, (2000.0 - 999.0) / 2.0);
        assert!(Rates::between(&cur, &prev).is_none());
    }

    #[test]
    fn loopback_is_listed_but_not_in_the_totals() {
        let mut prev = sample(1);
        let mut cur = sample(2);
        prev.networks[0].device = "lo".into();
        cur.networks[0].tx_bytes = 2000;
        cur.networks[0].device = "lo".into();
        let rates = Rates::between(&prev, &cur).unwrap();
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
        let rates = Rates::between(&prev, &sample(2)).unwrap();
        assert!(rates.networks.is_empty());
    }
}
