//! Start-up of alerting: rules, the alert store, restored alerts, known hosts, the
//! ticker, the notifier and one delivery task per receiver.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use utizmon_store::{Store, StoredHost};

use crate::alerts::notify::deliver::{self, EmailTarget, Target};
use crate::alerts::{notify, run_ticker, Alerts, Clock};
use crate::config::{read_secret, Config};

/// Builds the alert engine from `config`, makes `known` hosts known (heard of no earlier
/// than now, so a server restart does not raise `HostDown` for hosts that simply have not
/// reconnected yet), and spawns the ticker and notifier on `tasks`.
pub async fn start(
    config: &Config,
    store: &Store,
    known: &[StoredHost],
    listen: SocketAddr,
    tasks: &TaskTracker,
    shutdown: &CancellationToken,
    clock: Clock,
) -> anyhow::Result<Alerts> {
    let rules = Arc::new(config.alert_rules()?);
    let alert_store = store.alerts().context("opening the alert tables")?;
    let (alerts, changes, restored) = {
        let clock = clock.clone();
        tokio::task::spawn_blocking(move || Alerts::open(rules, alert_store, clock))
            .await
            .context("loading alerts")??
    };
    let now = clock();
    for host in known {
        let interval = host.interval_ms.unwrap_or(1000);
        let offline_after = crate::state::offline_after(config.offline_after, interval);
        alerts.know_host(&host.name, now, offline_after);
    }
    let external_url = external_url(config, listen);
    let receivers = deliver::spawn(
        targets(config)?,
        external_url.clone(),
        alerts.notification_counters().clone(),
        tasks,
        shutdown,
    )?;
    tracing::info!(
        rules = alerts.rules().rules.len(),
        firing = restored.len(),
        receivers = receivers.len(),
        "alerting started"
    );
    tasks.spawn(run_ticker(
        alerts.clone(),
        config.alert_retention,
        shutdown.child_token(),
    ));
    tasks.spawn(notify::run(
        alerts.clone(),
        changes,
        restored,
        receivers,
        external_url,
        shutdown.child_token(),
    ));
    Ok(alerts)
}

/// Every receiver the flags name.
fn targets(config: &Config) -> anyhow::Result<Vec<Target>> {
    let mut targets: Vec<Target> = config
        .alertmanager_urls
        .iter()
        .map(|url| Target::Alertmanager { url: url.clone() })
        .collect();
    let token = config.alert_webhook_token()?;
    targets.extend(config.alert_webhook_urls.iter().map(|url| Target::Webhook {
        url: url.clone(),
        bearer_token: token.clone(),
    }));
    match (&config.smtp_url, config.alert_email_to.is_empty()) {
        (Some(url), false) => {
            let password = config
                .smtp_password_file
                .as_deref()
                .map(|p| read_secret(p, "SMTP password"))
                .transpose()?;
            targets.push(Target::Email(EmailTarget {
                url: url.clone(),
                password,
                from: config.alert_email_from.clone(),
                to: config.alert_email_to.clone(),
            }));
        }
        (Some(_), true) => anyhow::bail!("--smtp-url needs at least one --alert-email-to"),
        (None, false) => anyhow::bail!("--alert-email-to needs --smtp-url"),
        (None, true) => {}
    }
    Ok(targets)
}

/// `--external-url`, else `http://<listen address>` (`https://` with `--tls-cert`), with
/// this machine's host name when listening on every address.
fn external_url(config: &Config, listen: SocketAddr) -> String {
    if let Some(url) = &config.external_url {
        return url.trim_end_matches('/').to_owned();
    }
    let scheme = if config.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    if listen.ip().is_unspecified() {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".to_owned());
        format!("{scheme}://{host}:{}", listen.port())
    } else {
        format!("{scheme}://{listen}")
    }
}
