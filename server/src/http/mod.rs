//! The HTTP router: every route of `docs/api.md`, security headers on every response, and
//! request tracing. Handlers stay thin; the work is in `state`, `ingest` and `metrics`.

pub mod alerts;
pub mod api;
pub mod clients;
pub mod edge;
pub mod live;
pub mod login;
pub mod pages;
pub mod samples;
pub mod views;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRef;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use utizmon_store::Store;

use crate::alerts::Alerts;
use crate::auth::edge::EdgeCredentials;
use crate::auth::{self, Auth};
use crate::state::Fleet;

/// `Content-Security-Policy` of every response: nothing from other origins, no inline code.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The headers [`security_headers`] sets, with their values.
const SECURITY_HEADERS: [(header::HeaderName, &str); 4] = [
    (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::REFERRER_POLICY, "no-referrer"),
];

/// Everything handlers share; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The state of every host.
    pub fleet: Fleet,
    /// Durable history.
    pub store: Store,
    /// Built once; its collector reads `fleet` at scrape time.
    pub registry: Arc<Registry>,
    /// `--history-url`: history read from a shared engine instead of `store`.
    pub history_engine: Option<crate::history_engine::HistoryEngine>,
    /// History queries reading the store at once (`--max-history-queries`).
    pub history_slots: Arc<tokio::sync::Semaphore>,
    /// Dashboard client slots and send budget.
    pub dashboard: clients::DashboardLimits,
    /// `/metrics` encodes on blocking threads, a bounded number at once.
    pub scrapes: crate::scrape::Scrapes,
    /// Credentials edges must present, if configured.
    pub edge_credentials: EdgeCredentials,
    /// Who may see and change what (logins, sessions, the metrics token).
    pub auth: Auth,
    /// `--offline-after`; `None` means three edge intervals.
    pub offline_after: Option<Duration>,
    /// Alert engine, silences and notification counters.
    pub alerts: Alerts,
    /// Cancelled on SIGINT/SIGTERM; every WebSocket task watches it.
    pub shutdown: CancellationToken,
    /// WebSocket tasks, so `run` can wait for them to say goodbye.
    pub tasks: TaskTracker,
}

/// The whole application: pages, API, both WebSockets, `/metrics`, `/healthz`.
pub fn router(state: AppState) -> Router {
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(api::metrics))
        .route("/node-metrics", get(api::node_metrics))
        .route("/api/v1/hosts", get(api::hosts))
        .route("/api/v1/hosts/{host}", get(api::host).delete(api::forget))
        .route("/api/v1/hosts/{host}/samples", get(api::samples))
        .route("/api/v1/hosts/{host}/details", get(api::details))
        .route("/api/v1/alerts", get(alerts::alerts))
        .route("/api/v1/alerts/history", get(alerts::history))
        .route(
            "/api/v1/silences",
            get(alerts::silences).post(alerts::create_silence),
        )
        .route("/api/v1/silences/{id}", delete(alerts::end_silence))
        .route("/ws/dashboard", get(live::upgrade))
        .route(utizmon_protocol::EDGE_PATH, get(edge::upgrade))
        .route("/login", get(login::page).post(login::submit))
        .route("/logout", post(login::logout))
        .merge(pages::routes::<AppState>())
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            state.auth.clone(),
            auth::guard,
        ))
        .with_state(state);
    security_headers(app).layer(TraceLayer::new_for_http())
}

/// Sets the security headers on every response of `router`: the CSP, no sniffing, no
/// framing, no referrer. Applied once, to the whole application.
pub fn security_headers<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    SECURITY_HEADERS
        .into_iter()
        .fold(router, |router, (name, value)| {
            router.layer(SetResponseHeaderLayer::overriding(
                name,
                HeaderValue::from_static(value),
            ))
        })
}

/// Whether run ids may be shown: only to a logged-in user (see `auth::Viewer`).
pub fn shows_run_ids(viewer: Option<&auth::Viewer>) -> bool {
    viewer.is_some_and(auth::Viewer::is_logged_in)
}

impl FromRef<AppState> for Auth {
    fn from_ref(state: &AppState) -> Auth {
        state.auth.clone()
    }
}

/// A handler error: logged in full when internal, shown to the client as JSON.
#[derive(Debug)]
pub enum ApiError {
    /// 404 with this message.
    NotFound(&'static str),
    /// 400 with this message.
    BadRequest(String),
    /// 503 with this message and `Retry-After`: a bounded resource is busy.
    Busy(&'static str),
    /// 500; the cause is logged, the client sees only "internal error".
    Internal(anyhow::Error),
}

impl<E: Into<anyhow::Error>> From<E> for ApiError {
    fn from(e: E) -> ApiError {
        ApiError::Internal(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, m.to_owned()),
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            ApiError::Busy(m) => {
                let body = Json(serde_json::json!({ "error": m }));
                let retry = [(header::RETRY_AFTER, "5")];
                return (StatusCode::SERVICE_UNAVAILABLE, retry, body).into_response();
            }
            ApiError::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error".to_owned(),
                )
            }
        };
        (status, Json(serde_json::json!({ "error": message }))).into_response()
    }
}

async fn healthz() -> &'static str {
    "ok"
}

async fn not_found() -> ApiError {
    ApiError::NotFound("not found")
}
