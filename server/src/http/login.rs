//! `GET /login` (the form), `POST /login` (checks the password, sets the session cookie)
//! and `POST /logout`. The policy itself is `crate::auth`.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::Deserialize;

use crate::auth::{Auth, Viewer};
use crate::http::pages::asset_version;
use crate::listen::Transport;
use crate::render;

/// Query of `GET /login`.
#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    /// Where to go after logging in (a local path).
    #[serde(default)]
    next: String,
}

/// Body of `POST /login`.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    user: String,
    password: String,
    #[serde(default)]
    next: String,
}

/// The login page; a logged-in visitor goes straight on.
pub async fn page(
    State(auth): State<Auth>,
    Query(query): Query<LoginQuery>,
    viewer: Option<Extension<Viewer>>,
) -> Response {
    let next = local_path(&query.next);
    if viewer.is_some_and(|v| v.is_logged_in()) {
        return Redirect::to(next).into_response();
    }
    render_page(StatusCode::OK, auth.has_users(), None, next)
}

/// Checks the form; on success starts a session and redirects to `next`.
pub async fn submit(
    State(auth): State<Auth>,
    transport: Option<Extension<Transport>>,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = local_path(&form.next);
    if !auth.verify(&form.user, &form.password).await {
        tracing::warn!(user = %form.user.escape_debug(), "login failed");
        let error = "Wrong user name or password.";
        return render_page(
            StatusCode::UNAUTHORIZED,
            auth.has_users(),
            Some(error),
            next,
        );
    }
    tracing::info!(user = %form.user, "logged in");
    let secure = transport.is_some_and(|t| t.tls);
    let cookie = auth.login_cookie(&form.user, secure);
    ([(header::SET_COOKIE, cookie)], Redirect::to(next)).into_response()
}

/// Ends the session and clears the cookie.
pub async fn logout(
    State(auth): State<Auth>,
    transport: Option<Extension<Transport>>,
    headers: HeaderMap,
) -> Response {
    let secure = transport.is_some_and(|t| t.tls);
    let cookie = auth.logout_cookie(&headers, secure);
    ([(header::SET_COOKIE, cookie)], Redirect::to("/login")).into_response()
}

fn render_page(status: StatusCode, has_users: bool, error: Option<&str>, next: &str) -> Response {
    match render::login(asset_version(), has_users, error, next) {
        Ok(html) => (status, [(header::CACHE_CONTROL, "no-store")], Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering the login page failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// `next` if it is a path on this server, else `/`: never an open redirect.
fn local_path(next: &str) -> &str {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control);
    if local {
        next
    } else {
        "/"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(local_path("/hosts/web-1"), "/hosts/web-1");
        assert_eq!(local_path(""), "/");
        assert_eq!(local_path("//evil.example/"), "/");
        assert_eq!(local_path("https://evil.example/"), "/");
        assert_eq!(local_path("/\\evil.example"), "/");
    }
}
