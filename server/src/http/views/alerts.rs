//! `AlertsView`: the alert part of `/ws/dashboard` messages (`docs/api.md`), what the
//! Alerts page, the overview's badges and the host page's banner draw.
//!
//! An active alert is `GET /api/v1/alerts`' shape plus `silenced`, so the page needs no
//! second request to tell a muted alert from one that notifies; silences are
//! `GET /api/v1/silences`' shape. The detail stream of one host carries only that host's
//! alerts and the silences that can mute them.

use serde::Serialize;
use utizmon_store::Silence;

use crate::alerts::{AlertView, Alerts};

/// Active alerts and running silences at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct AlertsView {
    /// Pending and firing alerts, sorted by host and name.
    pub active: Vec<LiveAlert>,
    /// Running silences, oldest first.
    pub silences: Vec<Silence>,
}

/// One active alert as the dashboard sees it.
#[derive(Debug, Clone, Serialize)]
pub struct LiveAlert {
    #[serde(flatten)]
    pub alert: AlertView,
    /// A running silence mutes its notifications.
    pub silenced: bool,
}

impl AlertsView {
    /// The alerts of every host (`host` `None`) or of one host, with the silences that
    /// apply to them.
    pub fn of(alerts: &Alerts, host: Option<&str>) -> AlertsView {
        let wanted = |h: Option<&str>| host.is_none() || h.is_none() || h == host;
        let active = alerts
            .active()
            .into_iter()
            .filter(|a| wanted(Some(&a.host)))
            .map(|alert| LiveAlert {
                silenced: alerts.is_silenced(&alert.alertname, &alert.host),
                alert,
            })
            .collect();
        let silences = alerts
            .silences_now()
            .into_iter()
            .filter(|s| wanted(s.host.as_deref()))
            .collect();
        AlertsView { active, silences }
    }
}
