//! Receivers: one task per configured receiver, each with a bounded queue, delivering in
//! order with retries and exponential backoff, and counting every outcome in
//! `utizmon_alert_notifications_total{receiver,outcome}`.
//!
//! A receiver that is down delays only its own queue. When a queue is full (a receiver
//! down for long while alerts keep changing), the newest batch for it is dropped and
//! counted as `outcome="dropped"`; the others are unaffected.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::alerts::notify::payload::{self, Notice};

/// Batches waiting for one receiver.
pub const RECEIVER_QUEUE: usize = 256;

/// Attempts per batch: the first try and four retries after 1, 2, 4 and 8 s.
pub const ATTEMPTS: u32 = 5;

/// Longest one attempt may take.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Outcome label values.
pub const OUTCOMES: [&str; 4] = ["success", "retry", "failure", "dropped"];

/// Where notifications go.
#[derive(Debug, Clone)]
pub enum Target {
    /// Alertmanager's v2 API: every batch in one `POST {url}/api/v2/alerts`.
    Alertmanager { url: String },
    /// A webhook: one POST per notice, Alertmanager's webhook payload.
    Webhook {
        url: String,
        bearer_token: Option<String>,
    },
    /// Email over SMTP: one message per notice to every recipient.
    Email(EmailTarget),
}

/// An SMTP server and the envelope of alert emails.
#[derive(Debug, Clone)]
pub struct EmailTarget {
    /// `smtp://host:port` (plain), `smtp://host?tls=required` (STARTTLS), `smtps://host`.
    pub url: String,
    /// Password for the user named in the URL, read from a file.
    pub password: Option<String>,
    /// Sender address.
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
}

/// `utizmon_alert_notifications_total` by receiver and outcome.
#[derive(Debug, Default)]
pub struct Counters(Mutex<BTreeMap<(String, &'static str), u64>>);

/// The sending end of one receiver's queue.
#[derive(Debug, Clone)]
pub struct ReceiverHandle {
    /// The `receiver` label: the URL without credentials or query, or `email`.
    pub name: String,
    /// Whether this receiver wants the periodic re-send of firing alerts.
    pub wants_resend: bool,
    queue: mpsc::Sender<Arc<Vec<Notice>>>,
    counters: Arc<Counters>,
}

impl Counters {
    /// Adds one to `(receiver, outcome)`.
    pub fn add(&self, receiver: &str, outcome: &'static str) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry((receiver.to_owned(), outcome)).or_default() += 1;
    }

    /// Every counter, sorted.
    pub fn snapshot(&self) -> Vec<(String, &'static str, u64)> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.iter().map(|((r, o), n)| (r.clone(), *o, *n)).collect()
    }
}

impl ReceiverHandle {
    /// Queues a batch; a full queue drops it and counts `dropped`.
    pub fn send(&self, batch: Arc<Vec<Notice>>) {
        if self.queue.try_send(batch).is_err() {
            tracing::warn!(
                receiver = self.name,
                "receiver queue full: notification dropped"
            );
            self.counters.add(&self.name, "dropped");
        }
    }
}

impl Target {
    /// The `receiver` label of this target.
    pub fn name(&self) -> String {
        match self {
            Target::Alertmanager { url } | Target::Webhook { url, .. } => public_url(url),
            Target::Email(_) => "email".to_owned(),
        }
    }
}

/// Starts one delivery task per target (zero counters included, so `/metrics` lists
/// every receiver from the start).
pub fn spawn(
    targets: Vec<Target>,
    external_url: String,
    counters: Arc<Counters>,
    tasks: &TaskTracker,
    shutdown: &CancellationToken,
) -> anyhow::Result<Vec<ReceiverHandle>> {
    let client = reqwest::Client::builder()
        .timeout(ATTEMPT_TIMEOUT)
        .user_agent(concat!("utizmon-server/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("building the HTTP client for alert receivers")?;
    let mut handles: Vec<ReceiverHandle> = Vec::new();
    for target in targets {
        // Two receivers on one host get `#2`, `#3`, ... so their counters stay apart.
        let base = target.name();
        let mut name = base.clone();
        let mut n = 1;
        while handles.iter().any(|h| h.name == name) {
            n += 1;
            name = format!("{base}#{n}");
        }
        for outcome in OUTCOMES {
            counters
                .0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry((name.clone(), outcome))
                .or_default();
        }
        let sender = Sender::new(target.clone(), client.clone(), external_url.clone())?;
        let (queue, rx) = mpsc::channel(RECEIVER_QUEUE);
        let wants_resend = matches!(target, Target::Alertmanager { .. });
        tasks.spawn(run(
            sender,
            name.clone(),
            rx,
            counters.clone(),
            shutdown.child_token(),
        ));
        handles.push(ReceiverHandle {
            name,
            wants_resend,
            queue,
            counters: counters.clone(),
        });
    }
    Ok(handles)
}

/// Delivers batches in order until shutdown; each is retried with backoff.
async fn run(
    sender: Sender,
    name: String,
    mut rx: mpsc::Receiver<Arc<Vec<Notice>>>,
    counters: Arc<Counters>,
    shutdown: CancellationToken,
) {
    loop {
        let batch = tokio::select! {
            _ = shutdown.cancelled() => return,
            batch = rx.recv() => match batch { Some(b) => b, None => return },
        };
        let mut backoff = Duration::from_secs(1);
        for attempt in 1..=ATTEMPTS {
            match sender.send(&batch).await {
                Ok(()) => {
                    counters.add(&name, "success");
                    break;
                }
                Err(e) if attempt == ATTEMPTS => {
                    counters.add(&name, "failure");
                    tracing::warn!(
                        receiver = name,
                        error = format!("{e:#}"),
                        attempts = attempt,
                        "giving up on a notification"
                    );
                }
                Err(e) => {
                    counters.add(&name, "retry");
                    tracing::debug!(
                        receiver = name,
                        error = format!("{e:#}"),
                        attempt,
                        "notification failed, retrying"
                    );
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff *= 2;
                }
            }
        }
    }
}

/// Sends one batch to one target.
enum Sender {
    Alertmanager {
        client: reqwest::Client,
        url: String,
    },
    Webhook {
        client: reqwest::Client,
        url: String,
        token: Option<String>,
        external_url: String,
    },
    Email {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        from: Mailbox,
        to: Vec<Mailbox>,
    },
}

impl Sender {
    fn new(
        target: Target,
        client: reqwest::Client,
        external_url: String,
    ) -> anyhow::Result<Sender> {
        Ok(match target {
            Target::Alertmanager { url } => Sender::Alertmanager {
                client,
                url: format!("{}/api/v2/alerts", url.trim_end_matches('/')),
            },
            Target::Webhook { url, bearer_token } => Sender::Webhook {
                client,
                url,
                token: bearer_token,
                external_url,
            },
            Target::Email(email) => {
                let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(&email.url)
                    .with_context(|| format!("--smtp-url {}", public_url(&email.url)))?;
                if let Some(password) = email.password {
                    let user = url_user(&email.url).unwrap_or_default();
                    builder = builder.credentials(
                        lettre::transport::smtp::authentication::Credentials::new(user, password),
                    );
                }
                let from = email
                    .from
                    .parse()
                    .with_context(|| format!("--alert-email-from {}", email.from))?;
                let to = email
                    .to
                    .iter()
                    .map(|a| a.parse().with_context(|| format!("--alert-email-to {a}")))
                    .collect::<anyhow::Result<_>>()?;
                Sender::Email {
                    transport: builder.timeout(Some(ATTEMPT_TIMEOUT)).build(),
                    from,
                    to,
                }
            }
        })
    }

    async fn send(&self, batch: &[Notice]) -> anyhow::Result<()> {
        match self {
            Sender::Alertmanager { client, url } => {
                post(client, url, None, &payload::alertmanager_body(batch)).await
            }
            Sender::Webhook {
                client,
                url,
                token,
                external_url,
            } => {
                for notice in batch {
                    post(
                        client,
                        url,
                        token.as_deref(),
                        &payload::webhook_body(notice, external_url),
                    )
                    .await?;
                }
                Ok(())
            }
            Sender::Email {
                transport,
                from,
                to,
            } => {
                for notice in batch {
                    let (subject, body) = payload::email(notice);
                    let mut message = Message::builder().from(from.clone()).subject(subject);
                    for rcpt in to {
                        message = message.to(rcpt.clone());
                    }
                    let message = message.body(body).context("building the email")?;
                    transport.send(message).await.context("sending the email")?;
                }
                Ok(())
            }
        }
    }
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: &serde_json::Value,
) -> anyhow::Result<()> {
    let mut request = client.post(url).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("POST {}", public_url(url)))?;
    let status = response.status();
    if !status.is_success() {
        anyhow::bail!("POST {}: HTTP {status}", public_url(url));
    }
    Ok(())
}

/// `url` reduced to scheme, host and port, safe to show in logs and labels: user
/// information, path and query may hold secrets (chat webhooks put their key in the path).
pub fn public_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = strip_user(rest.split(['/', '?', '#']).next().unwrap_or_default());
    if scheme.is_empty() {
        authority.to_owned()
    } else {
        format!("{scheme}://{authority}")
    }
}

fn strip_user(authority: &str) -> &str {
    authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host)
}

fn url_user(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    let (user, _) = authority.rsplit_once('@')?;
    Some(user.split(':').next().unwrap_or_default().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receiver_names_hide_credentials_and_queries() {
        assert_eq!(public_url("http://u:p@am:9093/x?token=s"), "http://am:9093");
        assert_eq!(
            public_url("https://hooks.example/services/secret"),
            "https://hooks.example"
        );
        assert_eq!(public_url("smtp://bob@mail:25"), "smtp://mail:25");
        assert_eq!(url_user("smtp://bob@mail:25").as_deref(), Some("bob"));
        assert_eq!(url_user("smtp://mail:25"), None);
    }
}
