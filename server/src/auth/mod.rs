//! Who may use the server: edge credentials (`edge_tokens`, run secrets), dashboard users
//! (`users`, `sessions`) and the middleware that applies the policy to every request.
//!
//! Modes (chosen once at start, see [`Auth::from_config`] and `docs/security.md`):
//! - `Open`: loopback listener and no `--users-file`: everything is served, nobody logs in.
//! - `Login`: every route except [`is_exempt`] needs a session cookie or HTTP Basic of a
//!   user; `/metrics` also takes the `--metrics-token-file` bearer token.
//! - `Public` (`--public-dashboard`): reading needs no login, writing does.
//!
//! Whatever the mode, a browser WebSocket whose `Origin` is not the server's own host is
//! refused (403), and handlers see a [`Viewer`] telling whether someone is logged in (run
//! ids are shown only then).

pub mod edge;
pub mod edge_tokens;
pub mod secret;
pub mod sessions;
pub mod users;
pub mod watched;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use base64::Engine;
use tokio::sync::Semaphore;

use self::secret::{constant_time_eq, sha256, Digest256};
use self::sessions::Sessions;
use self::users::Users;
use self::watched::Watched;
use crate::config::Config;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "utizmon_session";

/// Name of the user created on first start of an unprotected non-loopback server.
pub const GENERATED_ADMIN: &str = "admin";

/// Password checks running at once; Argon2 costs ~20 MiB and tens of milliseconds each,
/// so a flood of logins queues here instead of taking every core.
const VERIFY_SLOTS: usize = 2;

/// How long a successful HTTP Basic check is remembered (scripts and scrapers send Basic
/// on every request; Argon2 per request would be their whole cost).
const BASIC_CACHE_TTL: Duration = Duration::from_secs(60);

/// Most remembered Basic checks; the cache is emptied when full.
const BASIC_CACHE_MAX: usize = 1024;

/// The access policy and the state it needs; cheap to clone.
#[derive(Debug, Clone)]
pub struct Auth {
    mode: Mode,
    users: Option<Watched<Users>>,
    sessions: Sessions,
    metrics_token: Option<Digest256>,
    verify_slots: Arc<Semaphore>,
    basic_cache: Arc<Mutex<BasicCache>>,
}

/// Successful Basic checks: hash of `user:password` to the user and when it was checked.
type BasicCache = HashMap<Digest256, (Arc<str>, Instant)>;

/// See the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Loopback and no users: no login.
    Open,
    /// Everything but the exempt routes needs a login.
    Login,
    /// Reading is public, writing needs a login.
    Public,
}

/// Request extension: who is asking.
#[derive(Debug, Clone, Default)]
pub struct Viewer {
    /// The logged-in user, if any.
    pub user: Option<Arc<str>>,
}

impl Viewer {
    /// Whether a user is logged in (run ids are shown only then).
    pub fn is_logged_in(&self) -> bool {
        self.user.is_some()
    }
}

impl Auth {
    /// The policy `config` asks for. On a non-loopback `listen` with neither
    /// `--users-file` nor `--public-dashboard`, a users file with an `admin` user and a
    /// random password is created in `data_dir` on first start (the password is logged
    /// once) and used from then on.
    pub fn from_config(
        config: &Config,
        listen: SocketAddr,
        data_dir: &Path,
    ) -> anyhow::Result<Auth> {
        let users_path = match &config.users_file {
            Some(path) => Some(path.clone()),
            None if !listen.ip().is_loopback() && !config.public_dashboard => {
                let path = data_dir.join("users");
                ensure_generated_admin(&path)?;
                Some(path)
            }
            None => None,
        };
        let users = users_path
            .as_deref()
            .map(|path| Watched::open(path, Users::parse))
            .transpose()
            .context("reading the users file")?;
        let mode = match (&users, config.public_dashboard) {
            (_, true) => Mode::Public,
            (Some(_), false) => Mode::Login,
            (None, false) => Mode::Open,
        };
        let metrics_token = config
            .metrics_token_file
            .as_deref()
            .map(|path| crate::config::EdgeToken::read(path).map(|t| sha256(t.as_str())))
            .transpose()
            .context("reading --metrics-token-file")?;
        Ok(Auth {
            mode,
            users,
            sessions: Sessions::new(config.session_ttl),
            metrics_token,
            verify_slots: Arc::new(Semaphore::new(VERIFY_SLOTS)),
            basic_cache: Arc::default(),
        })
    }

    /// No login anywhere (tests and loopback demos).
    pub fn open() -> Auth {
        Auth {
            mode: Mode::Open,
            users: None,
            sessions: Sessions::new(Duration::from_secs(3600)),
            metrics_token: None,
            verify_slots: Arc::new(Semaphore::new(VERIFY_SLOTS)),
            basic_cache: Arc::default(),
        }
    }

    /// The mode in force.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Whether anyone can log in (a users file is in use).
    pub fn has_users(&self) -> bool {
        self.users.is_some()
    }

    /// Checks a password off the runtime, at most [`VERIFY_SLOTS`] at a time.
    pub async fn verify(&self, name: &str, password: &str) -> bool {
        let Some(users) = &self.users else {
            return false;
        };
        let Ok(_slot) = self.verify_slots.acquire().await else {
            return false;
        };
        let (users, name, password) = (users.get(), name.to_owned(), password.to_owned());
        tokio::task::spawn_blocking(move || users.verify(&name, &password))
            .await
            .unwrap_or(false)
    }

    /// Starts a session for `user` and returns the `Set-Cookie` value.
    pub fn login_cookie(&self, user: &str, secure: bool) -> String {
        let token = self.sessions.start(user, Instant::now());
        let max_age = self.sessions.ttl().as_secs();
        let secure = if secure { "; Secure" } else { "" };
        format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
    }

    /// Ends the session of the request's cookie, if any, and returns the `Set-Cookie`
    /// value that clears it.
    pub fn logout_cookie(&self, headers: &HeaderMap, secure: bool) -> String {
        if let Some(token) = session_cookie(headers) {
            self.sessions.end(token);
        }
        let secure = if secure { "; Secure" } else { "" };
        format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
    }

    /// Who is asking: the user of a live session cookie, else of valid Basic credentials.
    pub async fn identify(&self, headers: &HeaderMap) -> Viewer {
        if self.users.is_none() {
            return Viewer::default();
        }
        if let Some(token) = session_cookie(headers) {
            if let Some(user) = self.sessions.user(token, Instant::now()) {
                return Viewer { user: Some(user) };
            }
        }
        let Some((name, password)) = basic_credentials(headers) else {
            return Viewer::default();
        };
        let key = sha256(&format!("{name}:{password}"));
        if let Some(user) = self.cached_basic(&key) {
            return Viewer { user: Some(user) };
        }
        if !self.verify(&name, &password).await {
            return Viewer::default();
        }
        let user: Arc<str> = Arc::from(name.as_str());
        let mut cache = self
            .basic_cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= BASIC_CACHE_MAX {
            cache.clear();
        }
        cache.insert(key, (user.clone(), Instant::now()));
        Viewer { user: Some(user) }
    }

    fn cached_basic(&self, key: &Digest256) -> Option<Arc<str>> {
        let cache = self
            .basic_cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        cache
            .get(key)
            .filter(|(_, at)| at.elapsed() < BASIC_CACHE_TTL)
            .map(|(user, _)| user.clone())
    }

    /// Whether `viewer` may make this request.
    fn allows(&self, viewer: &Viewer, method: &Method, path: &str, headers: &HeaderMap) -> bool {
        if is_exempt(path) || viewer.is_logged_in() {
            return true;
        }
        match self.mode {
            Mode::Open => true,
            Mode::Public => matches!(*method, Method::GET | Method::HEAD),
            Mode::Login => path == "/metrics" && self.metrics_bearer_ok(headers),
        }
    }

    fn metrics_bearer_ok(&self, headers: &HeaderMap) -> bool {
        let Some(expected) = &self.metrics_token else {
            return false;
        };
        bearer_token(headers).is_some_and(|token| constant_time_eq(&sha256(token), expected))
    }
}

/// Routes anyone may use: health, the login page, static assets and the edge endpoint
/// (edges have their own credentials).
pub fn is_exempt(path: &str) -> bool {
    matches!(path, "/healthz" | "/login" | "/logout" | "/favicon.ico")
        || path == utizmon_protocol::EDGE_PATH
        || path.starts_with("/static/")
}

/// Middleware: refuses cross-origin WebSockets, identifies the viewer, applies the policy.
pub async fn guard(State(auth): State<Auth>, mut request: Request, next: Next) -> Response {
    let headers = request.headers();
    if is_websocket_upgrade(headers) && !same_origin(headers, request.uri()) {
        tracing::warn!(origin = ?headers.get(header::ORIGIN), "cross-origin WebSocket refused");
        return (
            StatusCode::FORBIDDEN,
            Json(serde_json::json!({ "error": "cross-origin WebSocket refused" })),
        )
            .into_response();
    }
    let viewer = auth.identify(headers).await;
    let allowed = auth.allows(&viewer, request.method(), request.uri().path(), headers);
    if allowed {
        request.extensions_mut().insert(viewer);
        return next.run(request).await;
    }
    refuse(&request)
}

/// 401, or for a browser asking for a page, a redirect to the login page.
fn refuse(request: &Request) -> Response {
    let headers = request.headers();
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if request.method() == Method::GET && wants_html {
        let target = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
        let mut next = String::new();
        for byte in target.bytes() {
            if byte.is_ascii_alphanumeric() || b"/-_.~".contains(&byte) {
                next.push(char::from(byte));
            } else {
                next.push_str(&format!("%{byte:02X}"));
            }
        }
        return Redirect::to(&format!("/login?next={next}")).into_response();
    }
    let mut response = (
        StatusCode::UNAUTHORIZED,
        Json(serde_json::json!({ "error": "login required" })),
    )
        .into_response();
    // Browsers (which send Sec-Fetch-Mode) log in through the page, not a Basic dialog.
    if !headers.contains_key("sec-fetch-mode") {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"utizmon\", charset=\"UTF-8\""),
        );
    }
    response
}

/// The value of the session cookie, if the request carries one.
fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

/// `(user, password)` of an `Authorization: Basic` header (scheme case-insensitive).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// The token of an `Authorization: Bearer` header (scheme case-insensitive).
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    crate::http::edge::bearer_token(value)
}

fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Whether the request's `Origin` (if any) names the host it was sent to. Clients that
/// send no `Origin` (edges, scripts) are not browsers and cannot be hijacked by a page.
fn same_origin(headers: &HeaderMap, uri: &axum::http::Uri) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Some(origin) = origin.to_str().ok() else {
        return false;
    };
    let Some((_, origin_host)) = origin.split_once("://") else {
        return false; // Includes `null`.
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()));
    host.is_some_and(|host| origin_host.trim_end_matches('/').eq_ignore_ascii_case(host))
}

/// Creates `path` with an `admin` user and a random password unless it exists; the
/// password is logged once, at `warn` so it shows with any `RUST_LOG`.
fn ensure_generated_admin(path: &Path) -> anyhow::Result<()> {
    if path.exists() {
        return Ok(());
    }
    let password = secret::random_token()[..24].to_owned();
    users::add(path, GENERATED_ADMIN, &password)
        .with_context(|| format!("creating the login file {}", path.display()))?;
    tracing::warn!(
        user = GENERATED_ADMIN,
        %password,
        file = %path.display(),
        "listening beyond loopback with no --users-file: created a dashboard login (shown once; add users with `utizmon-server user add`)"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn origins_must_name_the_host() {
        let uri: axum::http::Uri = "/ws/dashboard".parse().unwrap();
        let ok = headers(&[("host", "mon:5000"), ("origin", "https://MON:5000")]);
        assert!(same_origin(&ok, &uri));
        let evil = headers(&[("host", "mon:5000"), ("origin", "http://evil.example")]);
        assert!(!same_origin(&evil, &uri));
        let null = headers(&[("host", "mon:5000"), ("origin", "null")]);
        assert!(!same_origin(&null, &uri));
        assert!(same_origin(&headers(&[("host", "mon:5000")]), &uri));
    }

    #[test]
    fn credentials_are_parsed_with_any_scheme_case() {
        let basic = headers(&[("authorization", "basic YWxpY2U6cHc6eA==")]);
        assert_eq!(
            basic_credentials(&basic),
            Some(("alice".into(), "pw:x".into()))
        );
        let bearer = headers(&[("authorization", "BEARER abc")]);
        assert_eq!(bearer_token(&bearer), Some("abc"));
        assert_eq!(
            bearer_token(&headers(&[("authorization", "Bearer ")])),
            None
        );
        let cookies = headers(&[("cookie", "a=1; utizmon_session=tok; b=2")]);
        assert_eq!(session_cookie(&cookies), Some("tok"));
    }

    #[test]
    fn exempt_routes() {
        for path in ["/healthz", "/login", "/static/app.css", "/ws/edge"] {
            assert!(is_exempt(path), "{path}");
        }
        for path in [
            "/",
            "/metrics",
            "/api/v1/hosts",
            "/ws/dashboard",
            "/staticx",
        ] {
            assert!(!is_exempt(path), "{path}");
        }
    }
}
