//! JSON API handlers (`/api/v1/...`) and `/metrics`: thin wrappers over `Fleet` and
//! `metrics`. Shapes are fixed by `docs/api.md`.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use utizmon_store::Point;

use crate::history::{self, HistoryQuery};
use crate::http::{ApiError, AppState};
use crate::metrics::{self, Format};
use crate::state::{now_ms, HostView};

/// Default history range when `from` is not given: five minutes before `to`.
const DEFAULT_RANGE_MS: u64 = 5 * 60 * 1000;
/// Default bucket count the history API aims for.
const TARGET_POINTS: u64 = 600;

/// `GET /api/v1/hosts`.
#[derive(Debug, Serialize)]
pub struct HostsResponse {
    pub server_time_ms: u64,
    pub hosts: Vec<HostView>,
}

/// Query of `GET /api/v1/hosts/{host}/samples`, all in Unix ms.
#[derive(Debug, Deserialize)]
pub struct SamplesParams {
    pub from: Option<u64>,
    pub to: Option<u64>,
    pub step: Option<u64>,
}

/// `GET /api/v1/hosts/{host}/samples`.
#[derive(Debug, Serialize)]
pub struct SamplesResponse {
    pub host: String,
    pub from_ms: u64,
    pub to_ms: u64,
    /// Bucket width; the edge interval when raw samples are returned.
    pub step_ms: u64,
    pub points: Vec<Point>,
}

/// Every known host, sorted by name.
pub async fn hosts(State(state): State<AppState>) -> Json<HostsResponse> {
    Json(HostsResponse {
        server_time_ms: now_ms(),
        hosts: state.fleet.views(),
    })
}

/// One host, or 404.
pub async fn host(
    State(state): State<AppState>,
    Path(host): Path<String>,
) -> Result<Json<HostView>, ApiError> {
    state
        .fleet
        .view(&host)
        .map(Json)
        .ok_or(ApiError::NotFound("host not found"))
}

/// History points of one host.
pub async fn samples(
    State(state): State<AppState>,
    Path(host): Path<String>,
    params: Result<Query<SamplesParams>, QueryRejection>,
) -> Result<Json<SamplesResponse>, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    if state.fleet.view(&host).is_none() {
        return Err(ApiError::NotFound("host not found"));
    }
    // A host restored from the store has no live run yet; assume the default interval.
    let interval_ms = state.fleet.interval_ms(&host).unwrap_or(1000);
    let query = resolve(&params, now_ms(), interval_ms)?;
    let points = history::query(&state.store, Arc::from(host.as_str()), query).await?;
    Ok(Json(SamplesResponse {
        host,
        from_ms: query.from_ms,
        to_ms: query.to_ms,
        step_ms: if query.step_ms == 0 {
            interval_ms
        } else {
            query.step_ms
        },
        points,
    }))
}

/// `/metrics` in OpenMetrics or classic Prometheus text, by the `Accept` header.
pub async fn metrics(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = Format::negotiate(accept);
    let registry = Arc::clone(&state.registry);
    let body = metrics::encode(&registry, format)?;
    Ok(([(header::CONTENT_TYPE, format.content_type())], body).into_response())
}

/// `/node-metrics`: every host under node_exporter's names (see `node_metrics`). Rendered
/// on a blocking thread: with many hosts it is a few milliseconds of string work.
pub async fn node_metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let hosts = state.fleet.metrics();
    let body = tokio::task::spawn_blocking(move || crate::node_metrics::render(&hosts))
        .await
        .map_err(anyhow::Error::from)?;
    Ok((
        [(header::CONTENT_TYPE, crate::node_metrics::CONTENT_TYPE)],
        body,
    )
        .into_response())
}

/// Fills in the defaults of a history request; `step_ms == 0` means raw samples.
fn resolve(
    params: &SamplesParams,
    now_ms: u64,
    interval_ms: u64,
) -> Result<HistoryQuery, ApiError> {
    let to_ms = params.to.unwrap_or(now_ms);
    let from_ms = params
        .from
        .unwrap_or_else(|| to_ms.saturating_sub(DEFAULT_RANGE_MS));
    if from_ms > to_ms {
        return Err(ApiError::BadRequest("from is after to".into()));
    }
    let step_ms = params
        .step
        .unwrap_or_else(|| (to_ms - from_ms).div_ceil(TARGET_POINTS));
    let step_ms = if step_ms <= interval_ms { 0 } else { step_ms };
    Ok(HistoryQuery {
        from_ms,
        to_ms,
        step_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(from: Option<u64>, to: Option<u64>, step: Option<u64>) -> SamplesParams {
        SamplesParams { from, to, step }
    }

    #[test]
    fn defaults_are_five_minutes_raw_at_one_hertz() {
        let q = resolve(&params(None, None, None), 1_000_000, 1000).unwrap();
        assert_eq!(
            q,
            HistoryQuery {
                from_ms: 700_000,
                to_ms: 1_000_000,
                step_ms: 0
            }
        );
    }

    #[test]
    fn long_ranges_are_bucketed_to_about_600_points() {
        let q = resolve(&params(Some(0), Some(86_400_000), None), 0, 1000).unwrap();
        assert_eq!(q.step_ms, 144_000);
        let q = resolve(&params(Some(0), Some(10_000), Some(5000)), 0, 1000).unwrap();
        assert_eq!(q.step_ms, 5000);
        let q = resolve(&params(Some(0), Some(10_000), Some(500)), 0, 1000).unwrap();
        assert_eq!(q.step_ms, 0);
    }

    #[test]
    fn inverted_range_is_a_bad_request() {
        assert!(matches!(
            resolve(&params(Some(10), Some(5), None), 0, 1000),
            Err(ApiError::BadRequest(_))
        ));
    }
}
