//! Alert and silence handlers: `GET /api/v1/alerts`, `GET /api/v1/alerts/history`,
//! `GET/POST /api/v1/silences`, `DELETE /api/v1/silences/{id}`. Shapes are in
//! `docs/api.md`; the work is in `crate::alerts`.

use std::time::Duration;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utizmon_store::{Silence, StoredAlert};

use crate::alerts::silence::new_silence;
use crate::alerts::AlertView;
use crate::http::{ApiError, AppState};

/// Default history range when `from` is not given: a day before `to`.
const DEFAULT_HISTORY_MS: u64 = 24 * 3600 * 1000;

/// Query of `GET /api/v1/alerts/history`, Unix ms.
#[derive(Debug, Deserialize)]
pub struct HistoryParams {
    pub from: Option<u64>,
    pub to: Option<u64>,
}

/// One alert of the history: firing now (`resolved_ms` null) or resolved.
#[derive(Debug, Serialize)]
pub struct HistoryEntry {
    pub alertname: String,
    pub host: String,
    pub labels: std::collections::BTreeMap<String, String>,
    pub severity: String,
    pub value: f64,
    pub active_since_ms: u64,
    pub fired_at_ms: u64,
    pub resolved_ms: Option<u64>,
    pub summary: String,
    pub description: String,
}

/// Body of `POST /api/v1/silences`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSilence {
    pub host: Option<String>,
    pub alertname: Option<String>,
    /// How long, e.g. `2h`, `30m`.
    pub duration: String,
    #[serde(default)]
    pub comment: String,
}

/// Pending and firing alerts, sorted by host and name.
pub async fn alerts(State(state): State<AppState>) -> Json<Vec<AlertView>> {
    Json(state.alerts.active())
}

/// Alerts that fired in, or were firing during, `[from, to]`; newest first, at most
/// `utizmon_store::HISTORY_LIMIT`.
pub async fn history(
    State(state): State<AppState>,
    params: Result<Query<HistoryParams>, QueryRejection>,
) -> Result<Json<Vec<HistoryEntry>>, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let to = params.to.unwrap_or_else(|| state.alerts.now_ms());
    let from = params.from.unwrap_or(to.saturating_sub(DEFAULT_HISTORY_MS));
    if from > to {
        return Err(ApiError::BadRequest("from is after to".into()));
    }
    let store = state.alerts.store().clone();
    let rows = tokio::task::spawn_blocking(move || store.history(from, to)).await??;
    Ok(Json(rows.into_iter().map(HistoryEntry::from).collect()))
}

/// Running and future silences.
pub async fn silences(State(state): State<AppState>) -> Json<Vec<Silence>> {
    Json(state.alerts.silences_now())
}

/// Creates a silence of a host, an alert or both, for a duration.
pub async fn create_silence(
    State(state): State<AppState>,
    body: Result<Json<NewSilence>, JsonRejection>,
) -> Result<(StatusCode, Json<Silence>), ApiError> {
    let Json(body) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let duration: Duration = humantime::parse_duration(body.duration.trim())
        .map_err(|e| ApiError::BadRequest(format!("duration {:?}: {e}", body.duration)))?;
    let silence = new_silence(
        body.host,
        body.alertname,
        duration,
        body.comment,
        state.alerts.now_ms(),
    )
    .map_err(ApiError::BadRequest)?;
    let alerts = state.alerts.clone();
    let silence = tokio::task::spawn_blocking(move || alerts.add_silence(silence)).await??;
    tracing::info!(id = silence.id, host = ?silence.host, alert = ?silence.alertname, "silence created");
    Ok((StatusCode::CREATED, Json(silence)))
}

/// Ends a silence now.
pub async fn end_silence(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    let alerts = state.alerts.clone();
    if tokio::task::spawn_blocking(move || alerts.end_silence(id)).await?? {
        tracing::info!(id, "silence ended");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("no such running silence"))
    }
}

impl From<StoredAlert> for HistoryEntry {
    fn from(a: StoredAlert) -> HistoryEntry {
        let mut labels = std::collections::BTreeMap::from([
            ("alertname".to_owned(), a.alertname.clone()),
            ("host".to_owned(), a.host.clone()),
            ("severity".to_owned(), a.severity.clone()),
        ]);
        if let Some(label) = a.object_label {
            labels.insert(label, a.object);
        }
        HistoryEntry {
            alertname: a.alertname,
            host: a.host,
            labels,
            severity: a.severity,
            value: a.value,
            active_since_ms: a.active_since_ms,
            fired_at_ms: a.fired_at_ms,
            resolved_ms: a.resolved_ms,
            summary: a.summary,
            description: a.description,
        }
    }
}
