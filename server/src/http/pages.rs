//! Placeholder until the dashboard lands: HTML pages and embedded static assets.

use axum::Router;

/// Routes for `/`, `/hosts/{host}` and `/static/...`; stateless, merged into the main router.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
}
