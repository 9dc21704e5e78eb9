//! What each remote-write sender reports in `/metrics`: samples by outcome, samples still
//! pending in the store, and how far behind the oldest of them is.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

/// Counters of one receiver, updated by its sender, read at scrape time.
#[derive(Debug, Default)]
pub struct RemoteStats {
    /// The `remote` label.
    pub name: String,
    /// Values the receiver accepted (2xx).
    pub sent: AtomicU64,
    /// Values the receiver refused with a 4xx other than 429: dropped, not retried.
    pub dropped: AtomicU64,
    /// Values in requests that failed and were retried (5xx, 429, network errors).
    pub retried: AtomicU64,
    /// Committed samples after the cursor (not delivered yet).
    pub pending: AtomicU64,
    /// Age of the oldest pending sample, milliseconds (0 when none).
    pub lag_ms: AtomicU64,
}

impl RemoteStats {
    /// Zeroed stats for receiver `name`.
    pub fn new(name: String) -> RemoteStats {
        RemoteStats {
            name,
            ..RemoteStats::default()
        }
    }
}

/// The `utizmon_remote_write_*` series of every receiver.
#[derive(Debug)]
pub struct RemoteWriteCollector(pub Vec<Arc<RemoteStats>>);

impl Collector for RemoteWriteCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut m = encoder.encode_descriptor(
            "remote_write_samples",
            "Values sent by remote write, by receiver and outcome (sent, dropped: refused with a 4xx, retried: in a request that failed and was retried).",
            None,
            MetricType::Counter,
        )?;
        for remote in &self.0 {
            for (outcome, value) in [
                ("sent", &remote.sent),
                ("dropped", &remote.dropped),
                ("retried", &remote.retried),
            ] {
                let labels = [("remote", remote.name.as_str()), ("outcome", outcome)];
                m.encode_family(&labels)?
                    .encode_counter::<NoLabelSet, _, u64>(&value.load(Ordering::Relaxed), None)?;
            }
        }
        let mut m = encoder.encode_descriptor(
            "remote_write_pending_samples",
            "Committed samples not yet delivered to the receiver (each carries several values).",
            None,
            MetricType::Gauge,
        )?;
        for remote in &self.0 {
            m.encode_family(&[("remote", remote.name.as_str())])?
                .encode_gauge(&remote.pending.load(Ordering::Relaxed))?;
        }
        let mut m = encoder.encode_descriptor(
            "remote_write_lag_seconds",
            "Age of the oldest sample not yet delivered to the receiver, seconds (0 when none).",
            None,
            MetricType::Gauge,
        )?;
        for remote in &self.0 {
            let lag = remote.lag_ms.load(Ordering::Relaxed) as f64 / 1000.0;
            m.encode_family(&[("remote", remote.name.as_str())])?
                .encode_gauge(&lag)?;
        }
        Ok(())
    }
}
