//! The alert series of `/metrics`, read at scrape time: `utizmon_alerts` (1 per pending
//! or firing alert, like Prometheus' `ALERTS`), notification outcomes per receiver, and
//! changes the notifier queue dropped.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

use crate::alerts::Alerts;

/// Reads [`Alerts`] on every scrape.
#[derive(Debug)]
pub struct AlertCollector(pub Alerts);

impl Collector for AlertCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let alerts = &self.0;
        let mut m = encoder.encode_descriptor(
            "alerts",
            "1 per pending or firing alert, labelled with its state (alertstate) and labels.",
            None,
            MetricType::Gauge,
        )?;
        for alert in alerts.active() {
            let state = match alert.state {
                crate::alerts::AlertState::Pending => "pending",
                crate::alerts::AlertState::Firing => "firing",
            };
            let mut labels: Vec<(&str, &str)> = vec![
                ("alertname", &alert.alertname),
                ("host", &alert.host),
                ("severity", alert.severity.as_str()),
                ("alertstate", state),
            ];
            for (name, value) in &alert.labels {
                if !matches!(name.as_str(), "alertname" | "host" | "severity") {
                    labels.push((name, value));
                }
            }
            m.encode_family(&labels)?.encode_gauge(&1u64)?;
        }
        let mut m = encoder.encode_descriptor(
            "alert_notifications",
            "Alert notifications by receiver and outcome (success, retry, failure, dropped).",
            None,
            MetricType::Counter,
        )?;
        for (receiver, outcome, n) in alerts.notification_counters().snapshot() {
            let labels = [("receiver", receiver.as_str()), ("outcome", outcome)];
            m.encode_family(&labels)?
                .encode_counter::<NoLabelSet, _, u64>(&n, None)?;
        }
        let mut m = encoder.encode_descriptor(
            "alert_changes_dropped",
            "Alert changes dropped because the notifier's queue was full.",
            None,
            MetricType::Counter,
        )?;
        m.encode_counter::<NoLabelSet, _, u64>(&alerts.dropped_total(), None)?;
        Ok(())
    }
}
