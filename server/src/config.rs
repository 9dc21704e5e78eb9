//! Command-line and environment configuration of `utizmon-server`.
//!
//! Every flag has an `UTIZMON_*` environment fallback. The edge token is read from a file,
//! never from a flag value, so it stays out of `ps` and the journal.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::bail;

/// Everything `utizmon-server` can be told at start-up.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    version,
    about = "utizmon master: edge ingest, live dashboard, /metrics"
)]
pub struct Config {
    /// Address for HTTP, both WebSockets and /metrics.
    #[arg(long, env = "UTIZMON_LISTEN", default_value = "0.0.0.0:5000")]
    pub listen: SocketAddr,

    /// File holding the token edges must send as `Authorization: Bearer <token>`
    /// (content trimmed). Unset: every edge is accepted and a warning is logged.
    #[arg(long, env = "UTIZMON_EDGE_TOKEN_FILE")]
    pub edge_token_file: Option<PathBuf>,

    /// A host whose edge sends nothing for this long is shown offline and its connection
    /// is closed (e.g. `5s`). Unset: three times the interval the edge announced.
    #[arg(long, env = "UTIZMON_OFFLINE_AFTER", value_parser = humantime::parse_duration)]
    pub offline_after: Option<Duration>,

    /// Directory of the history database (created if missing). Unset: `$STATE_DIRECTORY`
    /// (set by systemd's `StateDirectory=`), else `$XDG_DATA_HOME/utizmon`, else
    /// `~/.local/share/utizmon`.
    #[arg(long, env = "UTIZMON_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// How long raw samples are kept (e.g. `48h`).
    #[arg(long, env = "UTIZMON_RAW_RETENTION", value_parser = humantime::parse_duration,
          default_value = "48h")]
    pub raw_retention: Duration,

    /// How long per-minute rollups (avg, min, max) are kept (e.g. `30days`).
    #[arg(long, env = "UTIZMON_ROLLUP_RETENTION", value_parser = humantime::parse_duration,
          default_value = "30days")]
    pub rollup_retention: Duration,

    /// How long per-hour rollups (avg, min, max; charts of long ranges) are kept (e.g.
    /// `400days`).
    #[arg(long, env = "UTIZMON_HOUR_ROLLUP_RETENTION", value_parser = humantime::parse_duration,
          default_value = "400days")]
    pub hour_rollup_retention: Duration,

    /// PEM certificate chain (leaf first): serve HTTPS and WSS on `--listen` instead of
    /// plain HTTP. Needs `--tls-key`. Both files are read again on SIGHUP.
    #[arg(long, env = "UTIZMON_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of `--tls-cert`.
    #[arg(long, env = "UTIZMON_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Longest a client may take for its TLS handshake and a request's headers (e.g. `10s`).
    #[arg(long, env = "UTIZMON_HEADER_READ_TIMEOUT", value_parser = humantime::parse_duration,
          default_value = "10s")]
    pub header_read_timeout: Duration,

    /// An HTTP connection with no request in progress and no traffic for this long is
    /// closed (WebSockets have their own timers).
    #[arg(long, env = "UTIZMON_IDLE_TIMEOUT", value_parser = humantime::parse_duration,
          default_value = "60s")]
    pub idle_timeout: Duration,

    /// Most connections that have not yet sent a complete request; past it the oldest is
    /// closed, so slow or silent sockets cannot use up the server's file descriptors.
    #[arg(long, env = "UTIZMON_MAX_PENDING_CONNECTIONS", default_value_t = 256)]
    pub max_pending_connections: usize,

    /// File of per-host edge tokens (`utizmon-server edge-token add`), re-read when it
    /// changes: an edge is admitted only with the token of the host its hello names.
    #[arg(long, env = "UTIZMON_EDGE_TOKENS_FILE")]
    pub edge_tokens_file: Option<PathBuf>,

    /// File of dashboard users (`utizmon-server user add`): every page, the API and
    /// `/metrics` then need a login.
    #[arg(long, env = "UTIZMON_USERS_FILE")]
    pub users_file: Option<PathBuf>,

    /// File holding a token `/metrics` also accepts as `Authorization: Bearer <token>`.
    #[arg(long, env = "UTIZMON_METRICS_TOKEN_FILE")]
    pub metrics_token_file: Option<PathBuf>,

    /// Serve the dashboard, the read-only API and `/metrics` without a login, run ids
    /// hidden (the opt-out from the generated `admin` user on a non-loopback address).
    #[arg(long, env = "UTIZMON_PUBLIC_DASHBOARD")]
    pub public_dashboard: bool,

    /// How long a login lasts (e.g. `12h`).
    #[arg(long, env = "UTIZMON_SESSION_TTL", value_parser = humantime::parse_duration,
          default_value = "12h")]
    pub session_ttl: Duration,

    /// How long resolved alerts (the alert history) and ended silences are kept (e.g.
    /// `30days`); firing alerts are kept whatever their age.
    #[arg(long, env = "UTIZMON_ALERT_RETENTION", value_parser = humantime::parse_duration,
          default_value = "30days")]
    pub alert_retention: Duration,

    /// Most hosts the server tracks; an edge announcing a new host name beyond it is
    /// refused (`too_many_hosts`). Forget hosts with `DELETE /api/v1/hosts/{host}`.
    #[arg(long, env = "UTIZMON_MAX_HOSTS", default_value_t = crate::state::DEFAULT_MAX_HOSTS)]
    pub max_hosts: usize,

    /// Most dashboard WebSocket clients at once; more are refused with 503.
    #[arg(long, env = "UTIZMON_MAX_DASHBOARD_CLIENTS", default_value_t = crate::http::clients::DEFAULT_MAX_CLIENTS)]
    pub max_dashboard_clients: usize,

    /// Most history queries (`/samples`) reading the store at once; more wait up to 10 s
    /// for a turn, then get 503.
    #[arg(long, env = "UTIZMON_MAX_HISTORY_QUERIES", default_value_t = 2)]
    pub max_history_queries: usize,

    /// Prometheus remote write 1.0 endpoint to send every committed sample to, e.g.
    /// `http://127.0.0.1:9090/api/v1/write` (repeatable). Delivery is at least once and in
    /// order per series, across receiver outages (within --raw-retention) and restarts.
    #[arg(
        long = "remote-write",
        value_name = "URL",
        env = "UTIZMON_REMOTE_WRITE",
        value_delimiter = ','
    )]
    pub remote_write: Vec<String>,

    /// Bearer token file for every --remote-write URL (content trimmed, re-read per request).
    #[arg(
        long,
        value_name = "PATH",
        env = "UTIZMON_REMOTE_WRITE_BEARER_TOKEN_FILE"
    )]
    pub remote_write_bearer_token_file: Option<PathBuf>,

    /// Basic-auth user for every --remote-write URL (with --remote-write-basic-auth-password-file).
    #[arg(
        long,
        value_name = "USER",
        env = "UTIZMON_REMOTE_WRITE_BASIC_AUTH_USER"
    )]
    pub remote_write_basic_auth_user: Option<String>,

    /// File holding the basic-auth password for every --remote-write URL.
    #[arg(
        long,
        value_name = "PATH",
        env = "UTIZMON_REMOTE_WRITE_BASIC_AUTH_PASSWORD_FILE"
    )]
    pub remote_write_basic_auth_password_file: Option<PathBuf>,

    /// PEM CA certificate trusted (besides the system's) for every https --remote-write URL.
    #[arg(long, value_name = "PATH", env = "UTIZMON_REMOTE_WRITE_CA_FILE")]
    pub remote_write_ca_file: Option<PathBuf>,

    /// JSON file listing receivers with their own settings, for when they differ:
    /// `[{"url": "...", "name": "...", "bearer_token_file": "...", "basic_auth_user": "...",
    /// "basic_auth_password_file": "...", "ca_file": "..."}]` (all but `url` optional).
    #[arg(long, value_name = "PATH", env = "UTIZMON_REMOTE_WRITE_CONFIG")]
    pub remote_write_config: Option<PathBuf>,
    /// Prometheus-compatible query API (Prometheus, VictoriaMetrics, Mimir, Thanos) to read
    /// host history from instead of this master's store, e.g. `http://127.0.0.1:9090`. Use
    /// it when masters remote-write into one engine: a host that moved between masters then
    /// shows one continuous history. Falls back to the local store if the engine fails.
    #[arg(long, value_name = "URL", env = "UTIZMON_HISTORY_URL")]
    pub history_url: Option<String>,

    /// Alert rules file (YAML, see docs/alerts.md); replaces the built-in rules. The
    /// server refuses to start on a bad file. Unset: the built-in rules
    /// (`utizmon-server alert-rules defaults` prints them).
    #[arg(long, env = "UTIZMON_ALERT_RULES")]
    pub alert_rules: Option<PathBuf>,

    /// Alertmanager to send alerts to, e.g. `http://127.0.0.1:9093` (repeatable; the
    /// environment variable takes a comma-separated list).
    #[arg(long = "alertmanager-url", env = "UTIZMON_ALERTMANAGER_URL", value_delimiter = ',',
          value_parser = http_url)]
    pub alertmanager_urls: Vec<String>,

    /// Webhook receiving one JSON POST per alert state change, in Alertmanager's webhook
    /// format (repeatable; the environment variable takes a comma-separated list).
    #[arg(long = "alert-webhook-url", env = "UTIZMON_ALERT_WEBHOOK_URL", value_delimiter = ',',
          value_parser = http_url)]
    pub alert_webhook_urls: Vec<String>,

    /// File holding a token sent to the webhooks as `Authorization: Bearer <token>`.
    #[arg(long, env = "UTIZMON_ALERT_WEBHOOK_BEARER_TOKEN_FILE")]
    pub alert_webhook_bearer_token_file: Option<PathBuf>,

    /// SMTP server for alert emails: `smtp://host:25` (plain), `smtp://host:587?tls=required`
    /// (STARTTLS) or `smtps://user@host:465`; the password comes from --smtp-password-file.
    #[arg(long, env = "UTIZMON_SMTP_URL")]
    pub smtp_url: Option<String>,

    /// File holding the SMTP password of the user named in --smtp-url.
    #[arg(long, env = "UTIZMON_SMTP_PASSWORD_FILE")]
    pub smtp_password_file: Option<PathBuf>,

    /// Sender address of alert emails.
    #[arg(
        long,
        env = "UTIZMON_ALERT_EMAIL_FROM",
        default_value = "utizmon@localhost"
    )]
    pub alert_email_from: String,

    /// Recipient of alert emails (repeatable; the environment variable takes a
    /// comma-separated list). Needs --smtp-url.
    #[arg(
        long = "alert-email-to",
        env = "UTIZMON_ALERT_EMAIL_TO",
        value_delimiter = ','
    )]
    pub alert_email_to: Vec<String>,

    /// This server's address as people reach it, for links in notifications (e.g.
    /// `https://monitor.example.org`). Unset: `http://<host name>:<port>`.
    #[arg(long, env = "UTIZMON_EXTERNAL_URL", value_parser = http_url)]
    pub external_url: Option<String>,

    /// Subcommand; none: serve.
    #[command(subcommand)]
    pub command: Option<crate::cli::Command>,
}

/// Accepts `http://` and `https://` URLs only.
fn http_url(value: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(value).map_err(|e| format!("{value:?}: {e}"))?;
    match url.scheme() {
        "http" | "https" if url.has_host() => Ok(value.to_owned()),
        _ => Err(format!("{value:?}: expected an http:// or https:// URL")),
    }
}

impl Config {
    /// The `--history-url` engine, if any; a URL that is not http(s) fails the start-up.
    pub fn history_engine(&self) -> anyhow::Result<Option<crate::history_engine::HistoryEngine>> {
        self.history_url
            .as_deref()
            .map(crate::history_engine::HistoryEngine::new)
            .transpose()
    }

    /// Every remote-write receiver: the `--remote-write` URLs with the shared options, then
    /// the entries of `--remote-write-config`; each checked (URL, credential files).
    pub fn remotes(&self) -> anyhow::Result<Vec<crate::remote_write::RemoteConfig>> {
        let mut remotes: Vec<_> = self
            .remote_write
            .iter()
            .map(|url| crate::remote_write::RemoteConfig {
                url: url.trim().to_owned(),
                name: None,
                bearer_token_file: self.remote_write_bearer_token_file.clone(),
                basic_auth_user: self.remote_write_basic_auth_user.clone(),
                basic_auth_password_file: self.remote_write_basic_auth_password_file.clone(),
                ca_file: self.remote_write_ca_file.clone(),
            })
            .collect();
        if let Some(path) = &self.remote_write_config {
            remotes.extend(crate::remote_write::read_config_file(path)?);
        }
        for remote in &remotes {
            remote.validate()?;
        }
        Ok(remotes)
    }
}

impl Config {
    /// The data directory: the flag, or the first of the documented fallbacks.
    pub fn data_dir(&self) -> anyhow::Result<PathBuf> {
        if let Some(dir) = &self.data_dir {
            return Ok(dir.clone());
        }
        let env_dir = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        if let Some(dir) = env_dir("STATE_DIRECTORY") {
            // systemd may list several directories separated by colons; ours is the first.
            let first = dir
                .to_string_lossy()
                .split(':')
                .next()
                .unwrap_or_default()
                .to_string();
            return Ok(PathBuf::from(first));
        }
        if let Some(dir) = env_dir("XDG_DATA_HOME") {
            return Ok(PathBuf::from(dir).join("utizmon"));
        }
        match env_dir("HOME") {
            Some(home) => Ok(PathBuf::from(home).join(".local/share/utizmon")),
            None => bail!(
                "no --data-dir given and neither STATE_DIRECTORY, XDG_DATA_HOME nor HOME is set"
            ),
        }
    }
}

/// The shared secret edges must present; compared in constant time.
#[derive(Clone)]
pub struct EdgeToken(String);

impl std::fmt::Debug for EdgeToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EdgeToken(..)")
    }
}

impl EdgeToken {
    /// Reads the token file as the edge does (trimmed, not empty, no control characters).
    pub fn read(path: &Path) -> anyhow::Result<EdgeToken> {
        Ok(EdgeToken(utizmon_protocol::read_token_file(
            "edge token file",
            path,
        )?))
    }

    /// Whether `presented` equals the token. Takes the same time for every presented
    /// value of a given length, so the token cannot be guessed byte by byte.
    pub fn matches(&self, presented: &str) -> bool {
        crate::auth::secret::constant_time_eq(self.0.as_bytes(), presented.as_bytes())
    }

    /// The token itself.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Reads and trims a secret file (`what` names it in errors); an empty file is an error.
pub fn read_secret(path: &Path, what: &str) -> anyhow::Result<String> {
    Ok(utizmon_protocol::read_token_file(
        &format!("{what} file"),
        path,
    )?)
}

impl Config {
    /// The alert rules: `--alert-rules`, else the built-in set. A bad file is an error
    /// naming the file and line.
    pub fn alert_rules(&self) -> anyhow::Result<crate::alerts::RuleSet> {
        match &self.alert_rules {
            Some(path) => crate::alerts::RuleSet::load(path),
            None => Ok(crate::alerts::RuleSet::defaults()),
        }
    }

    /// The webhook bearer token, if `--alert-webhook-bearer-token-file` is set.
    pub fn alert_webhook_token(&self) -> anyhow::Result<Option<String>> {
        self.alert_webhook_bearer_token_file
            .as_deref()
            .map(|p| read_secret(p, "webhook bearer token"))
            .transpose()
    }

    /// The edge token, if `--edge-token-file` is set.
    pub fn edge_token(&self) -> anyhow::Result<Option<EdgeToken>> {
        self.edge_token_file
            .as_deref()
            .map(EdgeToken::read)
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn defaults_work_on_a_laptop() {
        let config = Config::parse_from(["utizmon-server"]);
        assert_eq!(config.listen, "0.0.0.0:5000".parse().unwrap());
        assert_eq!(config.offline_after, None);
        assert_eq!(config.raw_retention, Duration::from_secs(48 * 3600));
        assert_eq!(config.rollup_retention, Duration::from_secs(30 * 24 * 3600));
        assert_eq!(
            config.hour_rollup_retention,
            Duration::from_secs(400 * 24 * 3600)
        );
        assert!(config.edge_token().unwrap().is_none());
    }

    #[test]
    fn data_dir_flag_wins_over_the_environment() {
        let config = Config::parse_from(["utizmon-server", "--data-dir", "/tmp/x"]);
        assert_eq!(config.data_dir().unwrap(), PathBuf::from("/tmp/x"));
    }

    #[test]
    fn offline_after_takes_humantime() {
        let config = Config::parse_from(["utizmon-server", "--offline-after", "1500ms"]);
        assert_eq!(config.offline_after, Some(Duration::from_millis(1500)));
    }

    #[test]
    fn token_is_trimmed_and_compared_exactly() {
        let dir = std::env::temp_dir().join(format!("utizmon-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("token");
        std::fs::write(&path, "  s3cret\n").unwrap();
        let token = EdgeToken::read(&path).unwrap();
        assert!(token.matches("s3cret"));
        assert!(!token.matches("s3cre"));
        assert!(!token.matches("s3cret2"));
        assert!(!token.matches(""));
        std::fs::write(&path, " \n").unwrap();
        assert!(EdgeToken::read(&path).is_err());
        assert!(EdgeToken::read(&dir.join("missing")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
