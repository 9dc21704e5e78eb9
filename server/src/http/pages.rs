//! HTML pages (`/`, `/hosts/{host}`, `/alerts`) and the embedded static assets under `/static/`.
//!
//! Pages are rendered by `crate::render`; the JavaScript, CSS and vendored uPlot come from
//! `dashboards/static/` via `include_bytes!`, so the server works with no files and no
//! internet. Assets are addressed as `/static/NAME?v=VERSION` where `VERSION` is a hash of
//! all asset bytes: a matching `v` may be cached forever, anything else must revalidate.
//! The live data itself comes from `/ws/dashboard` and `/api/v1/...`, owned elsewhere.

use std::sync::LazyLock;

use crate::render;
use axum::extract::{Path, RawQuery};
use axum::http::header::{self, HeaderValue};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};

use crate::auth::Viewer;

/// Routes for `/`, `/hosts/{host}`, `/alerts` and `/static/...`; stateless, merged into the
/// main router, whose [`super::security_headers`] covers them.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(overview))
        .route("/hosts/{host}", get(host_page))
        .route("/alerts", get(alerts_page))
        .route("/static/{*path}", get(asset))
}

/// Hash of every asset's bytes, as 16 hex digits; the `v` of `/static/...?v=`.
pub fn asset_version() -> &'static str {
    &ASSET_VERSION
}

/// One embedded file under `/static/`.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// `asset!("NAME", TYPE)`: the file `dashboards/static/NAME`, embedded at build time.
macro_rules! asset {
    ($path:literal, $content_type:expr) => {
        Asset {
            path: $path,
            content_type: $content_type,
            body: include_bytes!(concat!("../../../dashboards/static/", $path)),
        }
    };
}

/// Every file under `/static/`. The dashboards' ES modules import each other by relative
/// path (`./format.js`), so each module a page imports must be listed here too; the test
/// `every_module_import_is_served` checks that.
const ASSETS: &[Asset] = &[
    asset!("app.css", CSS),
    asset!("favicon.svg", "image/svg+xml"),
    asset!("theme.js", JS),
    // ES modules: the pages' entry points, then what they import.
    asset!("overview.js", JS),
    asset!("host.js", JS),
    asset!("alerts.js", JS),
    asset!("alerts-model.js", JS),
    asset!("alerts-view.js", JS),
    asset!("alert-badges.js", JS),
    asset!("silence-form.js", JS),
    asset!("banner.js", JS),
    asset!("chart-defs.js", JS),
    asset!("charts.js", JS),
    asset!("dom.js", JS),
    asset!("fleet-model.js", JS),
    asset!("fleet-table.js", JS),
    asset!("format.js", JS),
    asset!("history.js", JS),
    asset!("host-tables.js", JS),
    asset!("host-view.js", JS),
    asset!("host-sections.js", JS),
    asset!("live-socket.js", JS),
    asset!("sparkline.js", JS),
    asset!("theme-toggle.js", JS),
    asset!("login.js", JS),
    asset!("vendor/uPlot.iife.min.js", JS),
    asset!("vendor/uPlot.min.css", CSS),
    asset!("vendor/uPlot.LICENSE", "text/plain; charset=utf-8"),
];

/// FNV-1a over all assets: cheap, stable across builds of the same bytes.
static ASSET_VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for asset in ASSETS {
        for &byte in asset.path.as_bytes().iter().chain(asset.body) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
});

async fn overview(viewer: Option<Extension<Viewer>>) -> Response {
    page(render::overview(asset_version(), user(viewer.as_ref())))
}

async fn host_page(Path(host): Path<String>, viewer: Option<Extension<Viewer>>) -> Response {
    if let Err(e) = utizmon_protocol::validate_host_name(&host) {
        return (StatusCode::NOT_FOUND, format!("not a host name: {e}")).into_response();
    }
    page(render::host(&host, asset_version(), user(viewer.as_ref())))
}

fn user(viewer: Option<&Extension<Viewer>>) -> Option<&str> {
    viewer.and_then(|v| v.user.as_deref())
}

async fn alerts_page(viewer: Option<Extension<Viewer>>) -> Response {
    page(render::alerts(asset_version(), user(viewer.as_ref())))
}

fn page(rendered: Result<String, minijinja::Error>) -> Response {
    match rendered {
        Ok(html) => (
            [(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"))],
            Html(html),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering a dashboard page failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

async fn asset(
    Path(path): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.path == path) else {
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    };
    let version = asset_version();
    let etag = format!("\"{version}\"");
    let versioned = query
        .as_deref()
        .is_some_and(|q| q.split('&').any(|kv| kv == format!("v={version}")));
    let cache = if versioned {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut response_headers = HeaderMap::new();
    response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response_headers.insert(header::ETAG, value);
    }
    let not_modified = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    if not_modified {
        return (StatusCode::NOT_MODIFIED, response_headers).into_response();
    }
    response_headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    (response_headers, asset.body).into_response()
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use axum::http::header::HeaderName;

    use super::*;
    use crate::http::CONTENT_SECURITY_POLICY;

    async fn get(uri: &str, if_none_match: Option<&str>) -> (StatusCode, HeaderMap, String) {
        let mut req = Request::get(uri);
        if let Some(tag) = if_none_match {
            req = req.header(header::IF_NONE_MATCH, tag);
        }
        let res = super::super::security_headers(routes::<()>())
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        (status, headers, String::from_utf8_lossy(&body).into_owned())
    }

    fn header_of(headers: &HeaderMap, name: HeaderName) -> &str {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    #[tokio::test]
    async fn overview_is_html_with_security_headers() {
        let (status, headers, body) = get("/", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            header_of(&headers, header::CONTENT_TYPE),
            "text/html; charset=utf-8"
        );
        assert_eq!(
            header_of(&headers, header::CONTENT_SECURITY_POLICY),
            CONTENT_SECURITY_POLICY
        );
        assert_eq!(
            header_of(&headers, header::X_CONTENT_TYPE_OPTIONS),
            "nosniff"
        );
        assert_eq!(header_of(&headers, header::X_FRAME_OPTIONS), "DENY");
        assert!(body.contains(&format!("/static/overview.js?v={}", asset_version())));
    }

    #[tokio::test]
    async fn host_page_takes_percent_encoded_hostile_names() {
        let (status, _, body) = get("/hosts/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E", None).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains(r#"data-host="&lt;img src=x onerror=alert(1)&gt;""#));
        assert!(!body.contains("<img src=x"));
    }

    #[tokio::test]
    async fn host_page_refuses_invalid_names() {
        let (status, _, _) = get("/hosts/%20padded%20", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn assets_have_types_and_cache_headers() {
        let v = asset_version();
        let (status, headers, body) = get(&format!("/static/app.css?v={v}"), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            header_of(&headers, header::CONTENT_TYPE),
            "text/css; charset=utf-8"
        );
        assert_eq!(
            header_of(&headers, header::CACHE_CONTROL),
            "public, max-age=31536000, immutable"
        );
        assert!(body.starts_with("/* utizmon dashboard"));

        let (_, headers, _) = get("/static/vendor/uPlot.iife.min.js?v=old", None).await;
        assert_eq!(
            header_of(&headers, header::CONTENT_TYPE),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(header_of(&headers, header::CACHE_CONTROL), "no-cache");

        let etag = format!("\"{v}\"");
        let (status, _, body) = get("/static/host.js", Some(&etag)).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED);
        assert_eq!(body, "");
    }

    #[tokio::test]
    async fn unknown_assets_are_404() {
        for uri in ["/static/nope.js", "/static/../Cargo.toml", "/static/vendor"] {
            let (status, _, _) = get(uri, None).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
        }
    }

    /// A module imported but not embedded would fail only in the browser, as a 404.
    #[test]
    fn every_module_import_is_served() {
        let mut imports = 0;
        for asset in ASSETS.iter().filter(|a| a.content_type == JS) {
            let text = std::str::from_utf8(asset.body).unwrap_or("");
            for spec in text.split(" from './").skip(1) {
                let name = spec.split('\'').next().unwrap_or("");
                imports += 1;
                assert!(
                    ASSETS
                        .iter()
                        .any(|a| a.path == name && a.content_type == JS),
                    "{} imports ./{name}, which is not in ASSETS",
                    asset.path
                );
            }
        }
        assert!(imports > 10, "found only {imports} imports");
    }

    #[tokio::test]
    async fn pages_load_their_scripts_as_modules() {
        let (_, _, body) = get("/", None).await;
        assert!(body.contains(r#"<script type="module" src="/static/overview.js?v="#));
        let (_, _, body) = get("/hosts/web-1", None).await;
        assert!(body.contains(r#"<script type="module" src="/static/host.js?v="#));
        let (status, _, body) = get("/alerts", None).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains(r#"<script type="module" src="/static/alerts.js?v="#));
        let (status, headers, _) = get("/static/format.js", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(header_of(&headers, header::CONTENT_TYPE), JS);
    }

    #[test]
    fn asset_version_is_16_hex_digits() {
        let v = asset_version();
        assert_eq!(v.len(), 16);
        assert!(v.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
