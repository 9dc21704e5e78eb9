//! Silences: which alerts a silence mutes, and the checks on a new one from the API.
//! Pure; `Alerts` keeps the running list and the store keeps it across restarts.

use std::time::Duration;

use utizmon_store::Silence;

/// Longest silence the API accepts (a year): longer is a rule to turn off, not a silence.
pub const MAX_SILENCE: Duration = Duration::from_secs(366 * 24 * 3600);

/// Whether `silence` mutes alert `alertname` of `host` at `now_ms`.
pub fn mutes(silence: &Silence, alertname: &str, host: &str, now_ms: u64) -> bool {
    silence.starts_ms <= now_ms
        && now_ms < silence.ends_ms
        && silence.host.as_deref().is_none_or(|h| h == host)
        && silence.alertname.as_deref().is_none_or(|a| a == alertname)
}

/// A silence asked for through the API, checked: at least one of host and alert, a
/// duration of 1 s ..= [`MAX_SILENCE`], names of sane length.
pub fn new_silence(
    host: Option<String>,
    alertname: Option<String>,
    duration: Duration,
    comment: String,
    now_ms: u64,
) -> Result<Silence, String> {
    let host = host.filter(|h| !h.is_empty());
    let alertname = alertname.filter(|a| !a.is_empty());
    if host.is_none() && alertname.is_none() {
        return Err("a silence needs a host, an alertname or both".into());
    }
    if duration < Duration::from_secs(1) || duration > MAX_SILENCE {
        return Err("duration must be between 1s and 366days".into());
    }
    let too_long = |s: &Option<String>| s.as_ref().is_some_and(|s| s.len() > 253);
    if too_long(&host) || too_long(&alertname) || comment.len() > 1024 {
        return Err("host and alertname are at most 253 bytes, comment at most 1024".into());
    }
    let duration_ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    Ok(Silence {
        id: 0,
        host,
        alertname,
        starts_ms: now_ms,
        ends_ms: now_ms.saturating_add(duration_ms),
        comment,
        created_ms: now_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_host_alert_or_both_while_running() {
        let mut s = new_silence(
            Some("web-1".into()),
            None,
            Duration::from_secs(60),
            String::new(),
            1000,
        )
        .unwrap();
        assert!(mutes(&s, "CpuHigh", "web-1", 1000));
        assert!(!mutes(&s, "CpuHigh", "web-2", 1000));
        assert!(!mutes(&s, "CpuHigh", "web-1", 61_000), "ended");
        s.alertname = Some("HostDown".into());
        assert!(!mutes(&s, "CpuHigh", "web-1", 2000));
        assert!(mutes(&s, "HostDown", "web-1", 2000));
        s.host = None;
        assert!(mutes(&s, "HostDown", "db-1", 2000));
    }

    #[test]
    fn refuses_empty_and_unbounded_silences() {
        let d = Duration::from_secs(60);
        assert!(new_silence(None, None, d, String::new(), 0).is_err());
        assert!(new_silence(Some(String::new()), None, d, String::new(), 0).is_err());
        assert!(new_silence(Some("a".into()), None, Duration::ZERO, String::new(), 0).is_err());
        assert!(new_silence(Some("a".into()), None, MAX_SILENCE * 2, String::new(), 0).is_err());
        assert!(new_silence(Some("a".repeat(300)), None, d, String::new(), 0).is_err());
    }
}
