//! JSON API handlers (`/api/v1/...`) and `/metrics`: thin wrappers over `Fleet` and
//! `metrics`. Shapes are fixed by `docs/api.md`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use tokio::sync::SemaphorePermit;
use utizmon_protocol::now_ms;
use utizmon_store::Point;

use crate::auth::Viewer;
use crate::history::{self, HistoryQuery};
use crate::http::views::{DetailPoint, HostView};
use crate::http::{samples, shows_run_ids, ApiError, AppState};
use crate::metrics::Format;

/// Longest a history request waits for a turn before it gets 503.
pub const HISTORY_QUEUE_WAIT: Duration = Duration::from_secs(10);

/// `GET /api/v1/hosts`.
#[derive(Debug, Serialize)]
pub struct HostsResponse {
    pub server_time_ms: u64,
    pub hosts: Vec<HostView>,
}

/// `GET /api/v1/hosts/{host}/samples` (points of the store's [`Point`]) and
/// `GET /api/v1/hosts/{host}/details` (of [`DetailPoint`]).
#[derive(Debug, Serialize)]
pub struct SamplesResponse<P = Point> {
    pub host: String,
    pub from_ms: u64,
    pub to_ms: u64,
    /// Bucket width; the edge interval when raw samples are returned.
    pub step_ms: u64,
    pub points: Vec<P>,
}

/// Every known host, sorted by name.
pub async fn hosts(
    State(state): State<AppState>,
    viewer: Option<Extension<Viewer>>,
) -> Json<HostsResponse> {
    let show = shows_run_ids(viewer.as_deref());
    Json(HostsResponse {
        server_time_ms: now_ms(),
        hosts: state
            .fleet
            .hosts()
            .iter()
            .map(|h| HostView::for_viewer(h, show))
            .collect(),
    })
}

/// One host, or 404.
pub async fn host(
    State(state): State<AppState>,
    Path(host): Path<String>,
    viewer: Option<Extension<Viewer>>,
) -> Result<Json<HostView>, ApiError> {
    let show = shows_run_ids(viewer.as_deref());
    state
        .fleet
        .host(&host)
        .map(|h| Json(HostView::for_viewer(&h, show)))
        .ok_or(ApiError::NotFound("host not found"))
}

/// `DELETE /api/v1/hosts/{host}`.
#[derive(Debug, Serialize)]
pub struct ForgetResponse {
    pub host: String,
    /// Its edge was connected and has been disconnected (it may reconnect).
    pub was_connected: bool,
    /// `?purge=history` was given: samples and rollups were deleted.
    pub history_purged: bool,
    pub samples_deleted: u64,
    pub rollups_deleted: u64,
}

/// Query of `DELETE /api/v1/hosts/{host}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForgetParams {
    /// `history`: also delete the host's stored history.
    pub purge: Option<String>,
}

/// Forgets a host: out of the fleet, the API, the dashboards and `/metrics`, and not
/// listed again after a restart; a connected edge is disconnected first. With
/// `?purge=history` its stored history is deleted too. 404 if neither the fleet nor the
/// store knows it.
pub async fn forget(
    State(state): State<AppState>,
    Path(host): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<ForgetResponse>, ApiError> {
    let params: ForgetParams = serde_urlencoded::from_str(raw.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::BadRequest(format!("Failed to deserialize query string: {e}")))?;
    let purge = match params.purge.as_deref() {
        None => false,
        Some("history") => true,
        Some(_) => return Err(ApiError::BadRequest("purge must be \"history\"".into())),
    };
    let live = state.fleet.forget(&host);
    let stored = state.store.forget(&host, purge).await?;
    // No HostDown for a host that was deleted on purpose; its firing alerts resolve.
    // After the store's forget: the notifier's writes then never race its transaction.
    state.alerts.forget_host(&host);
    if live.is_none() && !stored.known {
        return Err(ApiError::NotFound("host not found"));
    }
    tracing::info!(%host, purge, samples = stored.samples, "host forgotten");
    Ok(Json(ForgetResponse {
        host,
        was_connected: live.is_some_and(|l| l.was_connected),
        history_purged: purge && stored.known,
        samples_deleted: stored.samples,
        rollups_deleted: stored.rollups,
    }))
}

/// A history request that may read the store: its resolved query, the host's interval,
/// and its turn among `--max-history-queries` (held until the answer is built).
struct HistoryTurn<'a> {
    query: HistoryQuery,
    interval_ms: u64,
    _turn: SemaphorePermit<'a>,
}

impl HistoryTurn<'_> {
    /// The step the answer reports: the bucket width, or the edge interval for raw points.
    fn step_ms(&self) -> u64 {
        if self.query.step_ms == 0 {
            self.interval_ms
        } else {
            self.query.step_ms
        }
    }
}

/// Checks the host, parses the query and waits for a turn: 404, 400 or 503 otherwise.
async fn history_turn<'a>(
    state: &'a AppState,
    host: &str,
    raw: Option<&str>,
) -> Result<HistoryTurn<'a>, ApiError> {
    if state.fleet.host(host).is_none() {
        return Err(ApiError::NotFound("host not found"));
    }
    // Known hosts have an interval (from the hello or the store); a host stored before
    // intervals were recorded gets the edge's default.
    let interval_ms = state.fleet.interval_ms(host).unwrap_or(1000);
    let query = samples::parse(raw.unwrap_or(""), now_ms(), interval_ms)
        .map_err(|e| ApiError::BadRequest(e.0))?;
    // Each query holds a blocking thread and the store's read connection: a bounded
    // number run at once, the rest wait their turn for a while and then are told to retry.
    let Ok(Ok(turn)) =
        tokio::time::timeout(HISTORY_QUEUE_WAIT, state.history_slots.acquire()).await
    else {
        return Err(ApiError::Busy(
            "too many history queries at once; retry shortly",
        ));
    };
    Ok(HistoryTurn {
        query,
        interval_ms,
        _turn: turn,
    })
}

/// History points of one host.
pub async fn samples(
    State(state): State<AppState>,
    Path(host): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<SamplesResponse>, ApiError> {
    let turn = history_turn(&state, &host, raw.as_deref()).await?;
    let query = turn.query;
    let points = match &state.history_engine {
        Some(engine) => match engine.query(&host, query, turn.interval_ms).await {
            Ok(points) => points,
            Err(e) => {
                // This master's own history is better than none while the engine is away.
                tracing::warn!(%host, error = %format!("{e:#}"), "history engine failed; reading the local store");
                history::query(&state.store, Arc::from(host.as_str()), query).await?
            }
        },
        None => history::query(&state.store, Arc::from(host.as_str()), query).await?,
    };
    Ok(Json(SamplesResponse {
        step_ms: turn.step_ms(),
        host,
        from_ms: query.from_ms,
        to_ms: query.to_ms,
        points,
    }))
}

/// Detail points of one host (disk I/O, pressure, temperatures, network errors, kernel
/// activity, file handles, inodes): read from the whole samples in the local store, one
/// per bucket, rates by the live view's arithmetic (see `downsample`).
pub async fn details(
    State(state): State<AppState>,
    Path(host): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<SamplesResponse<DetailPoint>>, ApiError> {
    let turn = history_turn(&state, &host, raw.as_deref()).await?;
    let query = turn.query;
    let points = history::downsampled(
        &state.store,
        Arc::from(host.as_str()),
        query,
        DetailPoint::of,
    )
    .await?;
    Ok(Json(SamplesResponse {
        step_ms: turn.step_ms(),
        host,
        from_ms: query.from_ms,
        to_ms: query.to_ms,
        points,
    }))
}

/// `/metrics` in OpenMetrics or classic Prometheus text, by the `Accept` header.
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = Format::negotiate(accept);
    // Encoded off the runtime and streamed: a large fleet's scrape never stalls ingest.
    let body = state
        .scrapes
        .body(Arc::clone(&state.registry), format)
        .await;
    ([(header::CONTENT_TYPE, format.content_type())], body).into_response()
}

/// `/node-metrics`: every host under node_exporter's names (see `node_metrics`). Rendered
/// on a blocking thread: with many hosts it is a few milliseconds of string work.
pub async fn node_metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let hosts = state.fleet.hosts();
    let body = tokio::task::spawn_blocking(move || crate::node_metrics::render(&hosts))
        .await
        .map_err(anyhow::Error::from)?;
    Ok((
        [(header::CONTENT_TYPE, crate::node_metrics::CONTENT_TYPE)],
        body,
    )
        .into_response())
}
