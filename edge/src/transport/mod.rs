//! Delivery: one WebSocket to the master, hello first, then every unacknowledged sample in
//! order, acks, reconnects with backoff, and a bounded flush on shutdown.
//!
//! The transport never sees a metric: the sampler hands it finished JSON frames through an
//! [`Outbox`] (a bounded [`ReplayBuffer`] plus a wake-up), so sampling never waits on the
//! network and the network never waits on sampling.

pub mod backoff;
pub mod disk;
pub mod peer_log;
pub mod replay;
pub mod tls;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context};
use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::{sleep, timeout, timeout_at, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::header::AUTHORIZATION;
use tokio_tungstenite::tungstenite::http::{HeaderValue, Request};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;
use utizmon_protocol::{decode_server, RejectReason, ServerFrame, MAX_FRAME_BYTES};

use crate::collect::WarnLimiter;
use crate::config::TOKEN_FILE_FLAG;

pub use backoff::Backoff;
pub use disk::{DiskLimits, DiskQueue};
pub use peer_log::PeerLog;
pub use replay::ReplayBuffer;

use peer_log::{peer_text, Kind};

/// How long one connection attempt (TCP connect plus WebSocket upgrade) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`Link::ack_timeout`]. The server acks within 250 ms, so this only fires on a
/// broken path, never on a merely busy server.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(15);
/// A connection that lived this long counts as healthy even if it saw no ack.
const HEALTHY_AFTER: Duration = Duration::from_secs(30);
/// On shutdown: how long to keep sending and waiting for acks ...
const FLUSH_BUDGET: Duration = Duration::from_millis(1500);
/// ... and then how long to wait for the server to answer our Close frame.
const CLOSE_BUDGET: Duration = Duration::from_millis(500);
/// Pause between the end of an earlier run's replay and the next run's hello.
const RUN_SWITCH_PAUSE: Duration = Duration::from_millis(100);
/// Frames written to the socket before looking at incoming acks again.
const SEND_BATCH: usize = 64;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Logs a connection lifecycle event for `link` at `level`, or at `debug` when the link is
/// quiet (`--simulate`); the host name is always a field.
macro_rules! lifecycle {
    ($link:expr, $level:ident, $($rest:tt)+) => {
        if $link.quiet {
            tracing::debug!(host = %$link.host_name, $($rest)+)
        } else {
            tracing::$level!(host = %$link.host_name, $($rest)+)
        }
    };
}

/// The hand-over point between the sampler and the transport: finished sample frames,
/// bounded, oldest dropped first (see [`ReplayBuffer`] and, with `--buffer-dir`,
/// [`DiskQueue`]).
#[derive(Debug)]
pub struct Outbox {
    buffer: Mutex<Queue>,
    wake: Notify,
}

/// Where unacknowledged samples wait: memory (the default) or `--buffer-dir`.
#[derive(Debug)]
enum Queue {
    Memory(ReplayBuffer<Utf8Bytes>),
    Disk(DiskQueue, WarnLimiter),
}

/// Where and as whom to connect.
#[derive(Debug, Clone)]
pub struct Link {
    /// `ws://HOST:PORT/ws/edge`: the master being connected to (set by [`deliver`] from
    /// `masters`).
    pub master: String,
    /// Every master of `--master`, tried in order; empty means just `master`.
    pub masters: Vec<String>,
    /// Whom to trust for `wss://` (see [`tls::client_config`]); `None` for `ws://`.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// `--ca-file`, named in TLS error messages.
    pub ca_file: Option<PathBuf>,
    /// Sent as `Authorization: Bearer <token>` when set.
    pub token: Option<String>,
    /// Where `token` came from; re-read before every connection attempt so a rotated token
    /// takes effect without a restart. If the file becomes unreadable the last good token
    /// is kept (and a warning logged, at most once a minute).
    pub token_file: Option<PathBuf>,
    /// For log fields only.
    pub host_name: String,
    /// Samples sent and no ack for this long: the connection is presumed dead (a silent
    /// network path) and replaced. Normally [`ACK_TIMEOUT`].
    pub ack_timeout: Duration,
    /// Log connection lifecycle at `debug` instead of `info`/`warn` (used by `--simulate`,
    /// where a thousand edges would otherwise repeat every message a thousand times).
    pub quiet: bool,
}

/// How one connection ended.
enum Ending {
    /// Shutdown was requested and the flush is over.
    Shutdown,
    /// The server sent a Close frame.
    Closed(Option<CloseFrame>),
    /// The socket failed or went silent.
    Failed(anyhow::Error),
    /// Every sample of an earlier run (from `--buffer-dir`) is acknowledged: the next
    /// connection speaks for the next run.
    RunDone,
}

impl Outbox {
    /// An empty outbox holding at most `capacity` unacknowledged samples.
    pub fn new(capacity: usize) -> Arc<Outbox> {
        Outbox::with_queue(Queue::Memory(ReplayBuffer::new(capacity)))
    }

    /// An outbox backed by the on-disk queue of `--buffer-dir`.
    pub fn on_disk(queue: DiskQueue) -> Arc<Outbox> {
        Outbox::with_queue(Queue::Disk(queue, WarnLimiter::default()))
    }

    fn with_queue(queue: Queue) -> Arc<Outbox> {
        Arc::new(Outbox {
            buffer: Mutex::new(queue),
            wake: Notify::new(),
        })
    }

    /// Queues one encoded sample frame taken at `ts_ms`. If the buffer is full the oldest
    /// samples are dropped and the last dropped `seq` returned. A sample the disk cannot
    /// take is dropped, counted and logged (at most once a minute).
    pub fn push(&self, seq: u64, ts_ms: u64, mut frame: String) -> Option<u64> {
        let dropped = match &mut *self.buffer.lock() {
            Queue::Memory(buffer) => {
                // The frame may sit here for minutes: do not keep the encoder's spare capacity.
                frame.shrink_to_fit();
                buffer.push(seq, Utf8Bytes::from(frame))
            }
            Queue::Disk(queue, warning) => match queue.push(seq, ts_ms, &frame) {
                Ok(dropped) => dropped,
                Err(err) => {
                    queue.count_lost(1);
                    if let Some(suppressed) = warning.allow(std::time::Instant::now()) {
                        tracing::warn!(seq, error = %format!("{err:#}"), suppressed, "cannot write the sample to --buffer-dir; dropped");
                    }
                    None
                }
            },
        };
        self.wake.notify_one();
        dropped
    }

    /// Samples held, sent or not, but not acknowledged.
    pub fn len(&self) -> usize {
        self.buffer.lock().len()
    }

    /// Whether every sample taken so far was acknowledged (or dropped).
    pub fn is_empty(&self) -> bool {
        self.buffer.lock().is_empty()
    }

    /// Samples dropped because the buffer was full.
    pub fn n_dropped(&self) -> u64 {
        self.buffer.lock().n_dropped()
    }
}

impl Queue {
    fn ack(&mut self, seq: u64) -> usize {
        match self {
            Queue::Memory(buffer) => buffer.ack(seq),
            Queue::Disk(queue, _) => queue.ack(seq),
        }
    }

    fn take_unsent(&mut self, max: usize, out: &mut Vec<Utf8Bytes>) -> anyhow::Result<()> {
        match self {
            Queue::Memory(buffer) => buffer.take_unsent(max, out),
            Queue::Disk(queue, _) => {
                let mut frames = Vec::new();
                queue.take_unsent(max, &mut frames)?;
                out.extend(frames.into_iter().map(Utf8Bytes::from));
            }
        }
        Ok(())
    }

    fn rewind(&mut self) {
        match self {
            Queue::Memory(buffer) => buffer.rewind(),
            Queue::Disk(queue, _) => queue.rewind(),
        }
    }

    fn len(&self) -> usize {
        match self {
            Queue::Memory(buffer) => buffer.len(),
            Queue::Disk(queue, _) => queue.len(),
        }
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn in_flight(&self) -> usize {
        match self {
            Queue::Memory(buffer) => buffer.in_flight(),
            Queue::Disk(queue, _) => queue.in_flight(),
        }
    }

    fn has_unsent(&self) -> bool {
        match self {
            Queue::Memory(buffer) => buffer.has_unsent(),
            Queue::Disk(queue, _) => queue.has_unsent(),
        }
    }

    fn n_dropped(&self) -> u64 {
        match self {
            Queue::Memory(buffer) => buffer.n_dropped(),
            Queue::Disk(queue, _) => queue.n_dropped(),
        }
    }

    /// The hello of an earlier run whose samples must go before this process's.
    fn earlier_run_hello(&self) -> Option<String> {
        match self {
            Queue::Memory(_) => None,
            Queue::Disk(queue, _) => queue.earlier_run_hello().map(str::to_owned),
        }
    }

    /// The run the front samples belong to (`None` in memory: always this process's).
    fn front_run(&self) -> Option<String> {
        match self {
            Queue::Memory(_) => None,
            Queue::Disk(queue, _) => queue.front_run().map(str::to_owned),
        }
    }
}

/// Builds the upgrade request for `link`; called at start-up too, so a bad URL or token
/// fails before the first sample.
pub fn request(link: &Link) -> anyhow::Result<Request<()>> {
    let mut request = link
        .master
        .as_str()
        .into_client_request()
        .with_context(|| format!("invalid master URL {:?}", link.master))?;
    if let Some(token) = &link.token {
        let value = HeaderValue::from_str(&format!("Bearer {token}"))
            .context("the token contains characters not allowed in an HTTP header")?;
        request.headers_mut().insert(AUTHORIZATION, value);
    }
    Ok(request)
}

/// Delivers the samples in `outbox` to the master until `shutdown`, reconnecting forever.
///
/// Every connection starts with a hello: an earlier run's (from `--buffer-dir`) while its
/// samples are replayed, else a fresh `hello()`; then every unacknowledged sample oldest
/// first, then live ones. With several masters ([`Link::masters`]) a failed connection
/// moves on to the next one at once; only after every master failed in a row does the
/// edge back off. After `shutdown` it spends at most about two seconds sending what is
/// left and waiting for acks, then closes with 1001.
pub async fn deliver(
    mut link: Link,
    mut hello: impl FnMut() -> String,
    outbox: Arc<Outbox>,
    shutdown: CancellationToken,
) {
    let mut backoff = Backoff::default();
    let mut unreachable = WarnLimiter::default();
    let mut token_warning = WarnLimiter::default();
    let mut failover = Failover::new(&link);
    // Everything the master can make the edge say is rate-limited per kind.
    let mut peer_log = PeerLog::default();
    while !shutdown.is_cancelled() {
        link.refresh_token(&mut token_warning);
        link.master = failover.current().to_owned();
        let attempt = tokio::select! {
            _ = shutdown.cancelled() => break,
            attempt = connect(&link) => attempt,
        };
        let failure = match attempt {
            Ok(mut socket) => {
                if let Some(suppressed) = peer_log.allow(Kind::Lifecycle, std::time::Instant::now())
                {
                    lifecycle!(link, info, master = %link.master, unacked = outbox.len(), suppressed, "connected to the master");
                }
                unreachable = WarnLimiter::default();
                let started = Instant::now();
                let mut healthy = false;
                let first = outbox.buffer.lock().earlier_run_hello();
                let ending = session(
                    &mut socket,
                    first.unwrap_or_else(&mut hello),
                    &outbox,
                    link.ack_timeout,
                    &shutdown,
                    &mut healthy,
                    &mut peer_log,
                )
                .await;
                if healthy || started.elapsed() >= HEALTHY_AFTER {
                    backoff.reset();
                    failover.healthy();
                }
                match ending {
                    Ending::Shutdown => {
                        close(&mut socket).await;
                        break;
                    }
                    Ending::RunDone => {
                        close_with(&mut socket, CloseCode::Normal, "run replayed").await;
                        lifecycle!(
                            link,
                            info,
                            unacked = outbox.len(),
                            "an earlier run is replayed; next run"
                        );
                        // Let the master see this connection end before the next hello
                        // claims the host name again.
                        if sleep_or_shutdown(RUN_SWITCH_PAUSE, &shutdown).await {
                            break;
                        }
                        continue;
                    }
                    Ending::Closed(frame) => {
                        // Answer the Close so the server sees a clean close handshake.
                        let _ = timeout(CLOSE_BUDGET, socket.close(None)).await;
                        if let Some(suppressed) =
                            peer_log.allow(Kind::Closed, std::time::Instant::now())
                        {
                            log_close(&link, frame.as_ref(), suppressed);
                        }
                    }
                    Ending::Failed(err) => {
                        if let Some(suppressed) =
                            peer_log.allow(Kind::Lost, std::time::Instant::now())
                        {
                            let error = peer_text(&format!("{err:#}"));
                            lifecycle!(link, warn, %error, suppressed, "connection to the master lost");
                        }
                    }
                }
                None
            }
            Err(err) => Some(err),
        };
        let now = std::time::Instant::now();
        if !failover.failed() {
            // Another master has not been tried since the last good connection: at once.
            if let Some(suppressed) = peer_log.allow(Kind::Lifecycle, now) {
                lifecycle!(link, info, next = %failover.current(), unacked = outbox.len(), suppressed, "failing over to the next master");
            }
            continue;
        }
        let delay = backoff.next_delay(rand::random::<f64>());
        match failure {
            None => {
                if let Some(suppressed) = peer_log.allow(Kind::Lifecycle, now) {
                    lifecycle!(link, info, unacked = outbox.len(), retry_in = ?delay, suppressed, "disconnected");
                }
            }
            // While the master stays unreachable, say so once a minute, not per attempt.
            Some(err) => match unreachable.allow(now) {
                Some(suppressed) => lifecycle!(
                    link,
                    warn,
                    error = %format!("{err:#}"),
                    unacked = outbox.len(),
                    retry_in = ?delay,
                    failed_attempts_since_last_warning = suppressed,
                    "cannot connect to the master"
                ),
                None => {
                    tracing::debug!(host = %link.host_name, error = %format!("{err:#}"), retry_in = ?delay, "cannot connect to the master")
                }
            },
        }
        if sleep_or_shutdown(delay, &shutdown).await {
            break;
        }
    }
    let unacked = outbox.len();
    if unacked > 0 {
        if outbox.buffer.lock().front_run().is_some() {
            lifecycle!(
                link,
                info,
                unacked,
                "exiting; unacknowledged samples stay in --buffer-dir for the next start"
            );
        } else {
            lifecycle!(link, warn, unacked, "exiting with unacknowledged samples");
        }
    }
}

/// Which master to try next: the list in order, starting over after the last; a failure
/// moves to the next one, and a round in which every master failed calls for a backoff.
#[derive(Debug)]
struct Failover {
    masters: Vec<String>,
    current: usize,
    /// Failures in a row since the last healthy connection.
    failures: usize,
}

impl Failover {
    fn new(link: &Link) -> Failover {
        let masters = if link.masters.is_empty() {
            vec![link.master.clone()]
        } else {
            link.masters.clone()
        };
        Failover {
            masters,
            current: 0,
            failures: 0,
        }
    }

    fn current(&self) -> &str {
        &self.masters[self.current]
    }

    /// The connection to the current master worked: stay with it.
    fn healthy(&mut self) {
        self.failures = 0;
    }

    /// The current master failed: move to the next. True when every master has failed
    /// since the last healthy connection (time to back off before the next round).
    fn failed(&mut self) -> bool {
        self.current = (self.current + 1) % self.masters.len();
        self.failures += 1;
        if self.failures >= self.masters.len() {
            self.failures = 0;
            true
        } else {
            false
        }
    }
}

impl Link {
    /// Re-reads [`Link::token_file`], keeping the previous token if that fails.
    fn refresh_token(&mut self, warning: &mut WarnLimiter) {
        let Some(path) = &self.token_file else {
            return;
        };
        match utizmon_protocol::read_token_file(TOKEN_FILE_FLAG, path) {
            Ok(token) => self.token = Some(token),
            Err(err) => {
                if warning.allow(std::time::Instant::now()).is_some() {
                    tracing::warn!(error = %format!("{err:#}"), "cannot re-read the token file; using the previous token");
                }
            }
        }
    }
}

/// Sleeps for `delay`; true if shutdown came first.
async fn sleep_or_shutdown(delay: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => true,
        _ = sleep(delay) => false,
    }
}

fn socket_config() -> WebSocketConfig {
    // Small buffers: frames are about 1 KiB, and `--simulate` holds a thousand sockets.
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(4096)
        .max_write_buffer_size(4 * MAX_FRAME_BYTES)
        .max_message_size(Some(MAX_FRAME_BYTES))
        .max_frame_size(Some(MAX_FRAME_BYTES))
}

async fn connect(link: &Link) -> anyhow::Result<Socket> {
    let request = request(link)?;
    let connector = link.tls.clone().map(tokio_tungstenite::Connector::Rustls);
    let connecting = tokio_tungstenite::connect_async_tls_with_config(
        request,
        Some(socket_config()),
        true,
        connector,
    );
    let (socket, _response) = timeout(CONNECT_TIMEOUT, connecting)
        .await
        .map_err(|_| anyhow!("timed out after {CONNECT_TIMEOUT:?}"))?
        .map_err(|err| match err {
            tokio_tungstenite::tungstenite::Error::Http(response) => {
                anyhow!("upgrade refused with HTTP {}", response.status())
            }
            tokio_tungstenite::tungstenite::Error::Tls(
                tokio_tungstenite::tungstenite::error::TlsError::Rustls(e),
            ) => anyhow!(tls::explain(&e, link.ca_file.as_deref())),
            tokio_tungstenite::tungstenite::Error::Io(e) => match tls_cause(&e) {
                Some(tls_error) => anyhow!(tls::explain(tls_error, link.ca_file.as_deref())),
                None => anyhow!("{e}"),
            },
            // tungstenite's Display already includes its source; avoid printing it twice.
            other => anyhow!("{other}"),
        })
        .with_context(|| format!("connecting to {}", link.master))?;
    Ok(socket)
}

/// The rustls error inside an I/O error, as tokio-rustls reports a failed handshake.
fn tls_cause(error: &std::io::Error) -> Option<&rustls::Error> {
    error.get_ref()?.downcast_ref::<rustls::Error>()
}

/// One connection: hello, replay, live samples, acks, until it ends.
async fn session(
    socket: &mut Socket,
    hello: String,
    outbox: &Outbox,
    ack_timeout: Duration,
    shutdown: &CancellationToken,
    healthy: &mut bool,
    peer_log: &mut PeerLog,
) -> Ending {
    if let Err(err) = socket.send(Message::text(hello)).await {
        return Ending::Failed(anyhow!("sending hello: {err}"));
    }
    let run = {
        let mut buffer = outbox.buffer.lock();
        buffer.rewind();
        buffer.front_run()
    };
    let mut flush_deadline = shutdown
        .is_cancelled()
        .then(|| Instant::now() + FLUSH_BUDGET);
    let mut ack_deadline: Option<Instant> = None;
    let mut batch = Vec::with_capacity(SEND_BATCH);
    // Made once and re-armed, not made per turn of the loop (two turns per sample, its send
    // and its ack): a fresh cancellation future takes its token's lock and a fresh timer
    // enters and leaves the timer wheel every time, a tenth of what a simulated edge's
    // sample cost. Timers that are not armed sleep "forever" (a day); their branch is
    // disabled.
    let far = || Instant::now() + Duration::from_secs(86_400);
    let cancelled = shutdown.cancelled();
    let flush_timer = tokio::time::sleep_until(flush_deadline.unwrap_or_else(far));
    let ack_timer = tokio::time::sleep_until(far());
    let woken = outbox.wake.notified();
    tokio::pin!(cancelled, flush_timer, ack_timer, woken);
    loop {
        batch.clear();
        {
            let mut buffer = outbox.buffer.lock();
            // The run this connection speaks for may have been dropped by the disk caps:
            // never send the next run's samples under its hello.
            if buffer.front_run() != run {
                return Ending::RunDone;
            }
            if let Err(err) = buffer.take_unsent(SEND_BATCH, &mut batch) {
                return Ending::Failed(err.context("reading --buffer-dir"));
            }
        }
        if !batch.is_empty() {
            let limit = Instant::now() + ack_timeout;
            let limit = flush_deadline.map_or(limit, |flush| flush.min(limit));
            match timeout_at(limit, send_all(socket, &mut batch)).await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => return Ending::Failed(err.context("sending samples")),
                Err(_) if flush_deadline.is_some() => return Ending::Shutdown,
                Err(_) => return Ending::Failed(anyhow!("sending stalled for {ack_timeout:?}")),
            }
            ack_deadline.get_or_insert(Instant::now() + ack_timeout);
        }
        let (drained, has_unsent) = {
            let buffer = outbox.buffer.lock();
            (buffer.is_empty(), buffer.has_unsent())
        };
        if flush_deadline.is_some() && drained {
            return Ending::Shutdown;
        }
        for (timer, deadline) in [
            (&mut flush_timer, flush_deadline),
            (&mut ack_timer, ack_deadline),
        ] {
            if let Some(at) = deadline.filter(|&at| at != timer.deadline()) {
                timer.as_mut().reset(at);
            }
        }
        tokio::select! {
            biased;
            _ = &mut cancelled, if flush_deadline.is_none() => {
                flush_deadline = Some(Instant::now() + FLUSH_BUDGET);
            }
            _ = &mut flush_timer, if flush_deadline.is_some() => {
                return Ending::Shutdown;
            }
            _ = &mut ack_timer, if ack_deadline.is_some() => {
                return Ending::Failed(anyhow!("no ack from the master for {ack_timeout:?}"));
            }
            message = socket.next() => match message {
                None => return Ending::Failed(anyhow!("connection closed without a close frame")),
                Some(Err(err)) => return Ending::Failed(anyhow!("{err}")),
                Some(Ok(Message::Close(frame))) => return Ending::Closed(frame),
                Some(Ok(Message::Text(text))) => match decode_server(&text) {
                    Ok(ServerFrame::Ack(ack)) => {
                        let mut buffer = outbox.buffer.lock();
                        let freed = buffer.ack(ack.seq);
                        *healthy = true;
                        if buffer.front_run() != run {
                            return Ending::RunDone;
                        }
                        if buffer.in_flight() == 0 {
                            ack_deadline = None;
                        } else if freed > 0 {
                            ack_deadline = Some(Instant::now() + ack_timeout);
                        }
                        tracing::trace!(seq = ack.seq, freed, "ack");
                    }
                    Ok(ServerFrame::Error(error)) => {
                        if let Some(suppressed) = peer_log.allow(Kind::ErrorFrame, std::time::Instant::now()) {
                            let (code, message) = (peer_text(&error.code), peer_text(&error.message));
                            tracing::warn!(%code, %message, suppressed, "master reported an error");
                        }
                    }
                    Err(err) => {
                        if let Some(suppressed) = peer_log.allow(Kind::BadFrame, std::time::Instant::now()) {
                            let error = peer_text(&err.to_string());
                            tracing::warn!(%error, suppressed, "unexpected frame from the master");
                        }
                    }
                },
                // tungstenite queues the pong; flush now rather than with the next sample,
                // which may be an hour away with a long --interval.
                Some(Ok(Message::Ping(_))) => {
                    if let Err(err) = socket.flush().await {
                        return Ending::Failed(anyhow!("answering a ping: {err}"));
                    }
                }
                // Nothing else is expected from the master.
                Some(Ok(_)) => {}
            },
            // More samples are waiting: go round again without blocking.
            _ = std::future::ready(()), if has_unsent => {}
            _ = &mut woken => woken.set(outbox.wake.notified()),
        }
    }
}

async fn send_all(socket: &mut Socket, batch: &mut Vec<Utf8Bytes>) -> anyhow::Result<()> {
    for frame in batch.drain(..) {
        socket
            .feed(Message::Text(frame))
            .await
            .map_err(|e| anyhow!("{e}"))?;
    }
    socket.flush().await.map_err(|e| anyhow!("{e}"))?;
    Ok(())
}

/// Sends Close 1001 and waits briefly for the server's answer.
async fn close(socket: &mut Socket) {
    close_with(socket, CloseCode::Away, "edge shutting down").await;
}

/// Sends Close `code` and waits briefly for the server's answer.
async fn close_with(socket: &mut Socket, code: CloseCode, reason: &'static str) {
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    };
    let _ = timeout(CLOSE_BUDGET, async {
        socket.send(Message::Close(Some(frame))).await.ok()?;
        // Drain until the server's Close arrives or the socket ends.
        while let Some(Ok(message)) = socket.next().await {
            if message.is_close() {
                break;
            }
        }
        Some(())
    })
    .await;
}

/// Logs the master's close; `suppressed` closes were not logged since the last one.
fn log_close(link: &Link, frame: Option<&CloseFrame>, suppressed: u64) {
    let Some(frame) = frame else {
        lifecycle!(
            link,
            warn,
            suppressed,
            "master closed the connection without a code"
        );
        return;
    };
    let code = u16::from(frame.code);
    let reason = peer_text(frame.reason.as_str());
    let refused = [RejectReason::Unauthorized, RejectReason::Version]
        .iter()
        .any(|r| r.close_code() == code);
    if refused {
        // A wrong token or protocol version does not fix itself: a human must act. The edge
        // keeps retrying with backoff so it recovers once they have.
        tracing::error!(host = %link.host_name, code, %reason, suppressed, "master refused this edge; retrying with backoff");
    } else {
        lifecycle!(link, warn, code, %reason, suppressed, "master closed the connection");
    }
}
