//! `/ws/dashboard`: live updates for browsers.
//!
//! Each client has its own task. It sends a snapshot, then waits for the fleet's change
//! notification and sends, at most every [`MIN_UPDATE_GAP`], the hosts changed since its
//! previous message. It never queues samples: a slow browser just sees fewer, fresher
//! updates, and one whose send stalls for [`SEND_TIMEOUT`] is dropped. Ingest never waits
//! for a browser: it only bumps a version and wakes waiters. Clients are capped and every
//! send first takes a share of a global byte budget (`clients.rs`), so clients that never
//! read cost bounded memory until they are dropped.
//!
//! Alerts ride the same stream: the snapshot carries `alerts` (an [`AlertsView`]), and an
//! update carries it again, whole, only when the alert engine's version moved (an alert
//! appeared, changed state or ended, a silence started or ended). Alert changes are rare
//! next to samples, so the whole list costs less than tracking deltas would; they wake
//! the client like fleet changes and are coalesced into the same messages.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::{Deserialize, Serialize};
use tokio::time::{timeout, Instant};

use utizmon_protocol::now_ms;
use utizmon_store::Point;

use crate::auth::Viewer;
use crate::http::clients::{ClientSlot, DashboardLimits};
use crate::http::views::{AlertsView, DetailPoint, HostSummary, HostView};
use crate::http::{shows_run_ids, AppState};
use crate::state::Fleet;

/// Shortest time between two messages to one client.
pub const MIN_UPDATE_GAP: Duration = Duration::from_millis(500);

/// A client whose send takes longer than this is disconnected.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest message accepted from a browser (they only send pings).
const MAX_BROWSER_MESSAGE: usize = 4096;

/// Query of `/ws/dashboard`: with `host`, the detail stream of that host.
#[derive(Debug, Deserialize)]
pub struct LiveParams {
    pub host: Option<String>,
}

/// A host of the detail stream: its full view plus the history point of its newest sample
/// as the store keeps it, and its detail point as `GET .../details` builds it, so the host
/// page appends those points instead of deriving them.
#[derive(Debug, Serialize)]
struct HostDetail<'a> {
    #[serde(flatten)]
    view: HostView,
    point: Option<&'a Point>,
    detail: Option<DetailPoint>,
}

/// One message to a browser: `snapshot` first, then `update`s.
#[derive(Debug, Serialize)]
struct LiveMessage<T> {
    #[serde(rename = "type")]
    kind: &'static str,
    server_time_ms: u64,
    hosts: Vec<T>,
    /// In the snapshot, and in updates when alerts or silences changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    alerts: Option<AlertsView>,
}

/// Upgrades to the overview stream, or the detail stream of `?host=`.
pub async fn upgrade(
    State(state): State<AppState>,
    Query(params): Query<LiveParams>,
    viewer: Option<Extension<Viewer>>,
    ws: WebSocketUpgrade,
) -> Response {
    let Some(slot) = state.dashboard.admit() else {
        tracing::warn!("dashboard client refused: --max-dashboard-clients reached");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [("retry-after", "10")],
            "too many dashboard clients",
        )
            .into_response();
    };
    let tasks = state.tasks.clone();
    let show_run_ids = shows_run_ids(viewer.as_deref());
    ws.read_buffer_size(MAX_BROWSER_MESSAGE)
        .max_message_size(MAX_BROWSER_MESSAGE)
        .max_frame_size(MAX_BROWSER_MESSAGE)
        .on_upgrade(move |socket| {
            tasks.track_future(serve_dashboard(
                socket,
                state,
                params.host,
                slot,
                show_run_ids,
            ))
        })
}

#[tracing::instrument(skip_all, fields(host = detail.as_deref().unwrap_or("*")))]
async fn serve_dashboard(
    mut socket: WebSocket,
    state: AppState,
    detail: Option<String>,
    _slot: ClientSlot,
    show_run_ids: bool,
) {
    let fleet = &state.fleet;
    let limits = &state.dashboard;
    let _client = fleet.dashboard_client();
    tracing::debug!("dashboard client connected");
    let mut changed = Box::pin(fleet.changed());
    changed.as_mut().enable();
    let mut alerts_changed = Box::pin(state.alerts.changed());
    alerts_changed.as_mut().enable();
    let mut seen = fleet.version();
    let mut alerts_seen = state.alerts.version();
    let Some(first) = message(&state, detail.as_deref(), None, true, show_run_ids) else {
        return;
    };
    if !send(&mut socket, limits, first).await {
        return;
    }
    let mut last_sent = Instant::now();

    loop {
        tokio::select! {
            biased;
            _ = state.shutdown.cancelled() => {
                let close = CloseFrame { code: 1001, reason: "going away: server shutting down".into() };
                let _ = timeout(Duration::from_secs(1), socket.send(Message::Close(Some(close)))).await;
                return;
            }
            incoming = socket.recv() => match incoming {
                // Browsers send nothing but pings; anything else is ignored.
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => continue,
            },
            _ = changed.as_mut() => {}
            _ = alerts_changed.as_mut() => {}
        }
        // Coalesce: everything that changes until the gap has passed goes in one message.
        tokio::select! {
            _ = state.shutdown.cancelled() => continue,
            _ = tokio::time::sleep_until(last_sent + MIN_UPDATE_GAP) => {}
        }
        changed.set(fleet.changed());
        changed.as_mut().enable();
        alerts_changed.set(state.alerts.changed());
        alerts_changed.as_mut().enable();
        let now = fleet.version();
        let alerts_now = state.alerts.version();
        let update = message(
            &state,
            detail.as_deref(),
            Some(seen),
            alerts_now != alerts_seen,
            show_run_ids,
        );
        seen = now;
        alerts_seen = alerts_now;
        let Some(update) = update else { continue };
        if !send(&mut socket, limits, update).await {
            return;
        }
        last_sent = Instant::now();
    }
}

/// The snapshot (`since == None`) or the update since version `since`, with the alerts
/// when `with_alerts`; `None` if empty.
fn message(
    state: &AppState,
    detail: Option<&str>,
    since: Option<u64>,
    with_alerts: bool,
    show_run_ids: bool,
) -> Option<String> {
    let fleet: &Fleet = &state.fleet;
    let kind = if since.is_some() {
        "update"
    } else {
        "snapshot"
    };
    let server_time_ms = now_ms();
    let alerts = with_alerts.then(|| AlertsView::of(&state.alerts, detail));
    let json = match detail {
        Some(host) => {
            let snapshot = match since {
                None => fleet.host(host),
                Some(v) => fleet.host_changed_since(host, v),
            };
            let hosts: Vec<HostDetail> = snapshot
                .iter()
                .map(|host| HostDetail {
                    view: HostView::for_viewer(host, show_run_ids),
                    point: host.point.as_deref(),
                    detail: host
                        .latest
                        .as_deref()
                        .map(|s| DetailPoint::of(s.ts_ms, s, host.rates.as_deref())),
                })
                .collect();
            if since.is_some() && hosts.is_empty() && alerts.is_none() {
                return None;
            }
            serde_json::to_string(&LiveMessage {
                kind,
                server_time_ms,
                hosts,
                alerts,
            })
        }
        None => {
            // Only the snapshot carries CPU history; updates append `cpu_ratio` instead.
            let snapshots = fleet.changed_since(since.unwrap_or(0), since.is_none());
            let hosts: Vec<HostSummary> = snapshots.iter().map(HostSummary::from).collect();
            if since.is_some() && hosts.is_empty() && alerts.is_none() {
                return None;
            }
            serde_json::to_string(&LiveMessage {
                kind,
                server_time_ms,
                hosts,
                alerts,
            })
        }
    };
    match json {
        Ok(json) => Some(json),
        Err(e) => {
            tracing::error!(error = %e, "encoding a dashboard message");
            None
        }
    }
}

/// Sends one message within the send budget; `false` when the client is gone or too slow
/// (including waiting [`SEND_TIMEOUT`] for a share of the budget).
async fn send(socket: &mut WebSocket, limits: &DashboardLimits, text: String) -> bool {
    let Ok(_share) = timeout(SEND_TIMEOUT, limits.share(text.len())).await else {
        tracing::warn!("dashboard send budget used up by slow clients, dropping this one");
        return false;
    };
    match timeout(SEND_TIMEOUT, socket.send(Message::Text(text.into()))).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "dashboard client went away");
            false
        }
        Err(_) => {
            tracing::warn!(timeout = ?SEND_TIMEOUT, "dashboard client too slow, dropping it");
            false
        }
    }
}
