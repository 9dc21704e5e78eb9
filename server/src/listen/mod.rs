//! The connection layer: accepts TCP connections, terminates TLS when configured, and
//! serves HTTP/1.1 (with WebSocket upgrades) or HTTP/2 with hyper, under the limits that
//! keep one client from locking everyone else out.
//!
//! - A connection must finish its first request's headers (and its TLS handshake) within
//!   the header-read timeout, and at most `max_pending` connections may be at that stage:
//!   the oldest is closed to make room (see [`pending`]). Later requests on a kept-alive
//!   connection are bounded by hyper's header-read timeout as well.
//! - A connection with no request in progress and no byte moved for the idle timeout is
//!   closed; upgraded WebSockets leave this layer and have their own timers.
//! - Running out of file descriptors closes the oldest pending connection instead of
//!   spinning on `accept`.
//!
//! What a request may do once it is complete is the router's business (`crate::http`).

pub mod pending;
pub mod probe;
pub mod tls;

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{sleep, sleep_until, timeout_at, Instant};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use self::pending::{PendingSet, PendingTicket};
use self::probe::{ProbeGuard, SocketProbe};
use self::tls::TlsAcceptor;

/// Limits and TLS of the listener.
#[derive(Debug, Clone)]
pub struct ListenOptions {
    /// Longest a client may take for its TLS handshake plus a request's headers.
    pub header_read_timeout: Duration,
    /// A connection with nothing in flight and no traffic for this long is closed.
    pub idle_timeout: Duration,
    /// Most connections that have not yet sent a complete request.
    pub max_pending: usize,
    /// TLS, when `--tls-cert`/`--tls-key` are given.
    pub tls: Option<TlsAcceptor>,
}

/// Request extension: how the request reached the server.
#[derive(Debug, Clone, Copy, Default)]
pub struct Transport {
    /// Whether the connection is TLS (cookies are then marked `Secure`).
    pub tls: bool,
}

/// Accepts and serves connections until `shutdown`, then lets each connection finish its
/// current request (bounded by the idle timeout) and returns.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    options: ListenOptions,
    shutdown: CancellationToken,
) {
    let options = Arc::new(options);
    let pending = PendingSet::new(options.max_pending);
    let connections = TaskTracker::new();
    let mut last_warning: Option<Instant> = None;
    loop {
        let (tcp, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of descriptors (or a transient error): make room by closing the
                    // oldest connection that has sent nothing, and do not spin.
                    let evicted = pending.evict_oldest();
                    if last_warning.is_none_or(|at| at.elapsed() >= Duration::from_secs(10)) {
                        tracing::warn!(error = %e, evicted, "accepting a connection failed");
                        last_warning = Some(Instant::now());
                    }
                    sleep(Duration::from_millis(if evicted { 1 } else { 50 })).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let ticket = pending.admit();
        connections.spawn(serve_connection(
            tcp,
            peer,
            app.clone(),
            ticket,
            options.clone(),
            shutdown.clone(),
        ));
    }
    drop(listener); // Refuse new connections while the others finish.
    connections.close();
    connections.wait().await;
}

/// Raises the soft limit on open files to the hard limit, so the connection caps, not
/// the default 1,024, decide how many clients fit. Returns the new soft limit.
pub fn raise_fd_limit() -> io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}

/// Serves one connection: TLS handshake if configured, then HTTP.
async fn serve_connection(
    tcp: TcpStream,
    peer: SocketAddr,
    app: Router,
    ticket: PendingTicket,
    options: Arc<ListenOptions>,
    shutdown: CancellationToken,
) {
    let deadline = Instant::now() + options.header_read_timeout;
    // The descriptor is read before TLS wraps the stream; the guard goes into the I/O
    // object (`Tracked`), which owns the stream from then on.
    let probe = SocketProbe::new(tcp.as_raw_fd());
    let Some(tls) = &options.tls else {
        let connection = Connection {
            peer,
            tls: false,
            probe,
        };
        return serve_http(tcp, connection, app, ticket, &options, deadline, shutdown).await;
    };
    let handshake = tokio::select! {
        _ = shutdown.cancelled() => return,
        _ = ticket.evicted.cancelled() => return,
        handshake = timeout_at(deadline, tls.accept(tcp)) => handshake,
    };
    match handshake {
        Ok(Ok(stream)) => {
            let connection = Connection {
                peer,
                tls: true,
                probe,
            };
            serve_http(
                stream, connection, app, ticket, &options, deadline, shutdown,
            )
            .await
        }
        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS connection refused"),
        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
    }
}

/// Serves HTTP on one connection until it closes, is evicted, times out or the server
/// stops.
async fn serve_http<I>(
    io: I,
    connection: Connection,
    app: Router,
    ticket: PendingTicket,
    options: &ListenOptions,
    deadline: Instant,
    shutdown: CancellationToken,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Connection {
        peer,
        tls,
        probe: (probe, probe_guard),
    } = connection;
    let activity = Arc::new(Activity::new());
    let io = Tracked {
        _probe_guard: probe_guard,
        io,
        activity: activity.clone(),
    };
    let ticket = Arc::new(ticket);
    let service = {
        let (activity, ticket) = (activity.clone(), ticket.clone());
        hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            ticket.release();
            let in_flight = InFlight::start(&activity);
            request.extensions_mut().insert(ConnectInfo(peer));
            request.extensions_mut().insert(Transport { tls });
            request.extensions_mut().insert(probe.clone());
            let app = app.clone();
            async move {
                let response = app.oneshot(request.map(axum::body::Body::new)).await;
                drop(in_flight);
                response
            }
        })
    };
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(64);
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    tokio::pin!(connection);
    let mut draining = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            _ = shutdown.cancelled(), if !draining => {
                connection.as_mut().graceful_shutdown();
                draining = true;
            }
            _ = ticket.evicted.cancelled(), if !ticket.is_released() => {
                if !ticket.is_released() {
                    tracing::debug!(%peer, "closing a connection that sent no request: too many pending");
                    return;
                }
            }
            _ = sleep_until(deadline), if !ticket.is_released() => {
                if !ticket.is_released() {
                    tracing::debug!(%peer, "closing a connection that sent no request in time");
                    return;
                }
            }
            _ = activity.idle(options.idle_timeout) => {
                tracing::debug!(%peer, "closing an idle connection");
                return;
            }
        }
    }
}

/// When a connection last moved a byte, and how many of its requests are in progress.
#[derive(Debug)]
struct Activity {
    epoch: Instant,
    /// Milliseconds after `epoch` of the last read or write.
    last_ms: AtomicU64,
    in_flight: AtomicUsize,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            epoch: Instant::now(),
            last_ms: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.epoch + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }

    /// Resolves once nothing is in flight and nothing moved for `limit`.
    async fn idle(&self, limit: Duration) {
        loop {
            let due = self.last() + limit;
            if Instant::now() >= due && self.in_flight.load(Ordering::Relaxed) == 0 {
                return;
            }
            sleep_until(due.max(Instant::now() + limit / 4)).await;
        }
    }
}

/// A request in progress; counted until its response head is ready.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn start(activity: &Arc<Activity>) -> InFlight {
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(activity.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What [`serve_http`] knows of a connection besides its stream.
struct Connection {
    peer: SocketAddr,
    tls: bool,
    probe: (SocketProbe, ProbeGuard),
}

/// An I/O object that records when it last moved a byte.
struct Tracked<I> {
    /// Declared before `io`, so it is dropped (and the probe blinded) before the socket
    /// closes: fields drop in declaration order.
    _probe_guard: ProbeGuard,
    io: I,
    activity: Arc<Activity>,
}

impl<I: AsyncRead + Unpin> AsyncRead for Tracked<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        poll
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Tracked<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.io).poll_write(cx, buf);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        poll
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn idle_waits_for_requests_in_flight() {
        let activity = Arc::new(Activity::new());
        let limit = Duration::from_secs(60);
        let started = Instant::now();
        let request = InFlight::start(&activity);
        let idle = activity.idle(limit);
        tokio::pin!(idle);
        tokio::select! {
            _ = &mut idle => panic!("idle while a request is in flight"),
            _ = sleep(Duration::from_secs(300)) => {}
        }
        drop(request); // Touches: the idle clock restarts now.
        idle.await;
        assert!(started.elapsed() >= Duration::from_secs(360));
    }

    #[tokio::test(start_paused = true)]
    async fn traffic_postpones_idleness() {
        let activity = Activity::new();
        sleep(Duration::from_secs(50)).await;
        activity.touch();
        let started = Instant::now();
        activity.idle(Duration::from_secs(60)).await;
        let waited = started.elapsed();
        assert!(waited >= Duration::from_secs(60) && waited < Duration::from_secs(80));
    }
}
