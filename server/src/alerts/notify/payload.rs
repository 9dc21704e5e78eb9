//! What a notification carries, and its three encodings: the Alertmanager v2 API body,
//! Alertmanager's webhook payload (`"version": "4"`), and a plain-text email. Pure.

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::{json, Value};

/// `endsAt` of a firing alert in the webhook payload, as Alertmanager writes it.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Firing or resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Firing,
    Resolved,
}

/// One alert as receivers are told about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// Firing or resolved.
    pub status: Status,
    /// `alertname`, `host`, `severity` and the object label.
    pub labels: BTreeMap<String, String>,
    /// One line.
    pub summary: String,
    /// The why: value, threshold, since when.
    pub description: String,
    /// When the condition started to hold, Unix ms.
    pub starts_at_ms: u64,
    /// When it resolved, Unix ms.
    pub ends_at_ms: Option<u64>,
    /// The host's page on this server.
    pub generator_url: String,
}

impl Status {
    /// `"firing"` or `"resolved"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Firing => "firing",
            Status::Resolved => "resolved",
        }
    }
}

/// `POST /api/v2/alerts` body: a list of postable alerts. A firing alert has no `endsAt`
/// (Alertmanager then keeps it for its `resolve_timeout`, so we re-send while firing).
pub fn alertmanager_body(notices: &[Notice]) -> Value {
    Value::Array(
        notices
            .iter()
            .map(|n| {
                let mut alert = json!({
                    "labels": n.labels,
                    "annotations": annotations(n),
                    "startsAt": rfc3339(n.starts_at_ms),
                    "generatorURL": n.generator_url,
                });
                if let Some(ends) = n.ends_at_ms {
                    alert["endsAt"] = json!(rfc3339(ends));
                }
                alert
            })
            .collect(),
    )
}

/// Alertmanager's webhook payload for one notice, so existing receivers work unchanged.
pub fn webhook_body(notice: &Notice, external_url: &str) -> Value {
    let alertname = notice.labels.get("alertname").cloned().unwrap_or_default();
    json!({
        "version": "4",
        "groupKey": format!("{{}}:{{alertname=\"{alertname}\"}}"),
        "truncatedAlerts": 0,
        "status": notice.status.as_str(),
        "receiver": "utizmon",
        "groupLabels": { "alertname": alertname },
        "commonLabels": notice.labels,
        "commonAnnotations": annotations(notice),
        "externalURL": external_url,
        "alerts": [{
            "status": notice.status.as_str(),
            "labels": notice.labels,
            "annotations": annotations(notice),
            "startsAt": rfc3339(notice.starts_at_ms),
            "endsAt": notice.ends_at_ms.map_or_else(|| ZERO_TIME.to_owned(), rfc3339),
            "generatorURL": notice.generator_url,
            "fingerprint": fingerprint(&notice.labels),
        }],
    })
}

/// Subject and plain-text body of the email for one notice.
pub fn email(notice: &Notice) -> (String, String) {
    let status = match notice.status {
        Status::Firing => "FIRING",
        Status::Resolved => "RESOLVED",
    };
    let subject = format!("[{status}] {}", notice.summary);
    let mut body = format!("{}\n\n{}\n\n", notice.summary, notice.description);
    body.push_str(&format!("Started: {}\n", rfc3339(notice.starts_at_ms)));
    if let Some(ends) = notice.ends_at_ms {
        body.push_str(&format!("Resolved: {}\n", rfc3339(ends)));
    }
    body.push_str("Labels:\n");
    for (k, v) in &notice.labels {
        body.push_str(&format!("  {k} = {v}\n"));
    }
    body.push_str(&format!("\nHost page: {}\n", notice.generator_url));
    (subject, body)
}

fn annotations(notice: &Notice) -> Value {
    json!({ "summary": notice.summary, "description": notice.description })
}

/// Unix ms as RFC 3339 with milliseconds, UTC.
pub fn rfc3339(ms: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// A stable hex id of a label set (FNV-1a), as webhook receivers expect one.
fn fingerprint(labels: &BTreeMap<String, String>) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (k, v) in labels {
        for byte in k.bytes().chain([0xff]).chain(v.bytes()).chain([0xff]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(status: Status) -> Notice {
        Notice {
            status,
            labels: BTreeMap::from([
                ("alertname".to_owned(), "DiskAlmostFull".to_owned()),
                ("host".to_owned(), "web-1".to_owned()),
                ("mountpoint".to_owned(), "/".to_owned()),
                ("severity".to_owned(), "critical".to_owned()),
            ]),
            summary: "Filesystem / on web-1 is 95.0% full".into(),
            description: "why".into(),
            starts_at_ms: 1_700_000_000_000,
            ends_at_ms: (status == Status::Resolved).then_some(1_700_000_060_000),
            generator_url: "http://m:5000/hosts/web-1".into(),
        }
    }

    #[test]
    fn alertmanager_body_has_labels_annotations_and_ends_only_when_resolved() {
        let firing = alertmanager_body(&[notice(Status::Firing)]);
        assert_eq!(firing[0]["labels"]["mountpoint"], "/");
        assert_eq!(
            firing[0]["annotations"]["summary"],
            "Filesystem / on web-1 is 95.0% full"
        );
        assert_eq!(firing[0]["startsAt"], "2023-11-14T22:13:20.000Z");
        assert_eq!(firing[0]["generatorURL"], "http://m:5000/hosts/web-1");
        assert!(firing[0].get("endsAt").is_none());
        let resolved = alertmanager_body(&[notice(Status::Resolved)]);
        assert_eq!(resolved[0]["endsAt"], "2023-11-14T22:14:20.000Z");
    }

    #[test]
    fn webhook_body_is_version_4() {
        let body = webhook_body(&notice(Status::Firing), "http://m:5000");
        assert_eq!(body["version"], "4");
        assert_eq!(body["status"], "firing");
        assert_eq!(body["alerts"][0]["endsAt"], ZERO_TIME);
        assert_eq!(body["alerts"][0]["labels"]["host"], "web-1");
        assert_eq!(body["alerts"][0]["fingerprint"].as_str().unwrap().len(), 16);
        let body = webhook_body(&notice(Status::Resolved), "http://m:5000");
        assert_eq!(body["status"], "resolved");
        assert_eq!(body["alerts"][0]["endsAt"], "2023-11-14T22:14:20.000Z");
    }

    #[test]
    fn email_says_what_and_why() {
        let (subject, body) = email(&notice(Status::Firing));
        assert_eq!(subject, "[FIRING] Filesystem / on web-1 is 95.0% full");
        assert!(body.lines().any(|l| l == "why"));
        assert!(body.lines().any(|l| l == "  mountpoint = /"));
    }
}
