//! One loop per edge connection: authenticate, expect a hello, then take samples and ack.
//!
//! Every refusal (bad frame, wrong token, host conflict, ...) is counted, sent to the edge
//! as an error frame and a close frame with the reason's code, logged at `warn`, and ends
//! only that connection. Acknowledgements are cumulative and sent after `Fleet::take`,
//! coalesced to at most one per [`ACK_GAP`] by an [`AckPacer`].
//!
//! The ack is the promise that the server has the sample on disk: `Fleet::take` applies it
//! to the live state at once, the store's writer commits it in its next batch, and this
//! loop acknowledges a sequence number only when its commit (and every earlier one) has
//! resolved. A failed commit closes the connection (1011) without that ack, so the edge
//! keeps the sample and replays it.

use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::FutureExt;
use tokio::time::{sleep, sleep_until, timeout, timeout_at, Instant};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use utizmon_protocol::{
    encode, now_ms, Ack, DecodeError, ErrorFrame, Hello, RejectReason, ServerFrame,
};

use utizmon_store::{Commit, Store};

use crate::alerts::Alerts;
use crate::auth::edge::Admission;
use crate::listen::probe::SocketProbe;
use crate::state::{offline_after, EdgeSession, Fleet, Taken};

mod ack_pacer;
mod frames;

use ack_pacer::AckPacer;
use frames::{read_frame, Incoming};

/// Largest WebSocket message the socket layer reads, in bytes. Above the protocol's
/// [`utizmon_protocol::MAX_FRAME_BYTES`] so that a moderately oversized frame is read and refused with a
/// clear reason; anything larger is cut off by the socket layer and refused as well.
pub const MAX_WIRE_BYTES: usize = 1024 * 1024;

/// Shortest time between two acks on one connection (acks are cumulative).
pub const ACK_GAP: Duration = Duration::from_millis(100);

/// How long a new connection may take to send its hello.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest a single send to an edge may take before the connection is dropped.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// After sending a close frame, how long to wait for the edge's reply close.
const CLOSE_LINGER: Duration = Duration::from_secs(1);

/// Longest close reason a WebSocket close frame can carry, in bytes.
const MAX_CLOSE_REASON: usize = 123;

/// What an edge connection needs from the server.
#[derive(Debug, Clone)]
pub struct IngestContext {
    pub fleet: Fleet,
    /// Durable history; acks wait for its commits.
    pub store: Store,
    /// `--offline-after`; `None` means three of the edge's intervals.
    pub offline_after: Option<Duration>,
    /// Evaluates every fresh sample (a short lock, never an `.await`).
    pub alerts: Alerts,
    pub shutdown: CancellationToken,
}

/// A refusal: counted, sent as an error frame, closes the connection.
#[derive(Debug)]
struct Refusal {
    reason: RejectReason,
    message: String,
}

/// Serves one edge connection until it closes, misbehaves, goes silent or the server stops.
///
/// This future lives as long as the edge stays connected, one per host, and a future
/// reserves room for its largest await point for its whole life. So the hello, the sample
/// loop and the goodbye each run in a boxed future of their own (inline, the hello's read
/// and the refusal paths made this one 18 KiB with Rust 1.95), and this is a plain `fn`
/// returning an `async move` block rather than an `async fn` under `#[instrument]`, which
/// kept each argument twice (once in the function's future and once in the instrumented
/// body's).
pub fn serve_edge(
    mut socket: WebSocket,
    peer: SocketAddr,
    context: IngestContext,
    admission: Admission,
    probe: SocketProbe,
) -> impl Future<Output = ()> + Send {
    let span = tracing::info_span!("serve_edge", %peer);
    async move {
        let fleet = &context.fleet;
        let greeting = Box::pin(greet(&mut socket, &context, &admission));
        let Some(hello) = greeting.await else {
            return;
        };
        let silence = offline_after(context.offline_after, hello.interval_ms);
        let (host, run_id) = (hello.host.host_name.clone(), hello.run_id.clone());
        let session = match fleet.connect(
            *hello,
            std::time::Instant::now(),
            silence,
            &context.shutdown,
        ) {
            Ok(session) => session,
            Err(conflict) => {
                let refusal = Refusal::new(conflict.reason(), conflict.to_string());
                let refusing = Box::pin(refuse(&mut socket, fleet, refusal));
                return refusing.await;
            }
        };
        tracing::info!(%host, %run_id, "edge connected");
        let streaming = Box::pin(stream(&mut socket, &context, &session, silence, &probe));
        let end = streaming.await;
        fleet.disconnect(&session);
        let finishing = Box::pin(finish(&mut socket, fleet, &host, silence, end));
        finishing.await;
    }
    .instrument(span)
}

/// Checks the token and waits for the hello; `None` when the connection ended or was
/// refused (the edge was told why).
async fn greet(
    socket: &mut WebSocket,
    context: &IngestContext,
    admission: &Admission,
) -> Option<Box<Hello>> {
    let fleet = &context.fleet;
    if let Admission::Unauthorized = admission {
        let refusal = Refusal::new(RejectReason::Unauthorized, "missing or wrong bearer token");
        refuse(socket, fleet, refusal).await;
        return None;
    }
    let refusal = tokio::select! {
        _ = context.shutdown.cancelled() => {
            going_away(socket).await;
            return None;
        }
        first = timeout(HELLO_TIMEOUT, read_frame(socket)) => match first {
            Err(_) => Refusal::new(RejectReason::Protocol, "no hello within 10 s"),
            Ok(Incoming::Hello(hello)) => {
                if admission.allows_host(&hello.host.host_name) {
                    return Some(hello);
                }
                Refusal::new(
                    RejectReason::Forbidden,
                    "the token does not belong to the host this hello names",
                )
            }
            Ok(Incoming::Sample(..)) => {
                Refusal::new(RejectReason::Protocol, "first frame must be a hello")
            }
            Ok(Incoming::Closed) => return None,
            Ok(Incoming::Refused(refusal)) => refusal,
        },
    };
    refuse(socket, fleet, refusal).await;
    None
}

/// Logs why the sample loop ended and closes the connection accordingly.
async fn finish(socket: &mut WebSocket, fleet: &Fleet, host: &str, silence: Duration, end: End) {
    match end {
        End::Closed => tracing::info!(%host, "edge disconnected"),
        End::Silent => {
            fleet.silenced();
            tracing::warn!(%host, ?silence, "edge silent, closing its connection");
            close(
                socket,
                1008,
                &format!(
                    "silent: no sample for {}",
                    humantime::format_duration(silence)
                ),
            )
            .await;
        }
        End::Shutdown => going_away(socket).await,
        End::Forgotten => {
            tracing::warn!(%host, "host forgotten by an operator, closing its edge");
            close(socket, 1008, "forgotten: host removed by an operator").await;
        }
        End::Superseded => {
            let message = "superseded by a newer connection for this host name";
            refuse(
                socket,
                fleet,
                Refusal::new(RejectReason::HostConflict, message),
            )
            .await;
        }
        End::Refused(refusal) => refuse(socket, fleet, refusal).await,
        End::SendFailed => tracing::warn!(%host, "edge connection lost while sending"),
        End::StoreFailed(why) => {
            tracing::error!(%host, error = %why, "closing edge: its samples could not be stored");
            close(socket, 1011, &format!("store_error: {why}")).await;
        }
    }
}

/// Why the sample loop ended.
enum End {
    Closed,
    Silent,
    Shutdown,
    Superseded,
    /// `DELETE /api/v1/hosts/{host}` removed the host.
    Forgotten,
    Refused(Refusal),
    SendFailed,
    /// A commit failed: nothing more is acked on this connection.
    StoreFailed(String),
}

/// Most times in a row the silence verdict is put off because bytes wait on the socket
/// with no new sample read in between; see [`Silence`].
const MAX_DEFERRALS: u32 = 8;

/// Most rechecks (a quarter of the silence limit each) the verdict is put off because
/// the server owes the edge acks, with no new sample in between; see [`Silence`].
const MAX_OWED_DEFERRALS: u32 = 40;

/// Longest a shutting-down connection waits for its pending commits before its last ack.
const SHUTDOWN_COMMIT_WAIT: Duration = Duration::from_secs(2);

/// Takes samples and sends coalesced acks until the connection ends.
///
/// `pending` holds, in arrival order, each sample's sequence number and its commit; the
/// front is awaited in the same `select!` as the socket, so reading never waits for disk
/// unless the store's queue is full (back-pressure).
async fn stream(
    socket: &mut WebSocket,
    context: &IngestContext,
    session: &EdgeSession,
    silence: Duration,
    probe: &SocketProbe,
) -> End {
    let mut verdict = Silence::new(silence);
    let mut pending: VecDeque<(u64, Commit)> = VecDeque::new();
    let mut pacer = AckPacer::new(ACK_GAP);
    let silent_timer = sleep(silence);
    let ack_timer = sleep(Duration::ZERO);
    // Made once, not per turn of the loop: creating and dropping a cancellation future
    // takes its token's lock, twice per sample otherwise. One token for shutdown and
    // supersession: the session's is a child of the shutdown token (`Fleet::connect`).
    let stopped = session.superseded.cancelled();
    tokio::pin!(silent_timer, ack_timer, stopped);

    loop {
        let ack_due = pacer.due();
        if let Some(at) = ack_due {
            if ack_timer.deadline() != at {
                ack_timer.as_mut().reset(at);
            }
        }
        tokio::select! {
            biased;
            _ = &mut stopped => {
                if !context.shutdown.is_cancelled() {
                    return if session.forgotten() { End::Forgotten } else { End::Superseded };
                }
                // Say what is committed before going away, so the edge replays nothing twice.
                let deadline = Instant::now() + SHUTDOWN_COMMIT_WAIT;
                while let Some((seq, commit)) = pending.pop_front() {
                    match timeout_at(deadline, commit).await {
                        Ok(Ok(Ok(()))) => pacer.committed(seq, Instant::now()),
                        _ => break,
                    }
                }
                if let Some(seq) = pacer.final_ack() {
                    let _ = send_ack(socket, seq).await;
                }
                return End::Shutdown;
            }
            committed = async { (&mut pending.front_mut().expect("guarded by the if").1).await },
                if !pending.is_empty() => {
                let (seq, _) = pending.pop_front().expect("guarded by the if");
                match committed {
                    Ok(Ok(())) => pacer.committed(seq, Instant::now()),
                    Ok(Err(e)) => return End::StoreFailed(e.to_string()),
                    Err(_) => return End::StoreFailed("the history writer stopped".into()),
                }
            }
            _ = &mut ack_timer, if ack_due.is_some() => {
                if !send_ack(socket, pacer.next()).await {
                    return End::SendFailed;
                }
                pacer.sent(Instant::now());
            }
            _ = &mut silent_timer => {
                // A frame the socket layer already holds is read before any verdict.
                if let Some(incoming) = read_frame(socket).now_or_never() {
                    let (seq, news, appended) = match accept(context, session, silence, incoming) {
                        Ok(accepted) => hand_over(context, accepted),
                        Err(end) => return end,
                    };
                    pending.push_back((seq, appended.await));
                    if news {
                        verdict.news();
                        silent_timer.as_mut().reset(Instant::now() + silence);
                        continue;
                    }
                }
                if let Some(at) = verdict.after_ack(pacer.last_sent(), Instant::now()) {
                    silent_timer.as_mut().reset(at);
                    continue;
                }
                let owes = !pending.is_empty() || pacer.due().is_some();
                match verdict.overdue(probe.unread_bytes(), owes) {
                    Some(recheck) => silent_timer.as_mut().reset(Instant::now() + recheck),
                    None => return End::Silent,
                }
            }
            incoming = read_frame(socket) => {
                let (seq, news, appended) = match accept(context, session, silence, incoming) {
                    Ok(accepted) => hand_over(context, accepted),
                    Err(end) => return end,
                };
                pending.push_back((seq, appended.await));
                if news {
                    verdict.news();
                    silent_timer.as_mut().reset(Instant::now() + silence);
                }
            }
        }
    }
}

/// The silence verdict of one connection, asked when its timer (`silence` after the last
/// new sample) fires.
///
/// An edge is silent when it sent nothing new for `silence`, not when the server read
/// nothing new: a server that falls behind (overload, a stalled runtime, a frozen process)
/// leaves the edge's frames waiting in the kernel's receive queue, and closing such an edge
/// would throw away samples it did send and start a reconnect storm exactly when the server
/// is weakest. So an overdue timer first reads what the socket layer already holds, then
/// asks the kernel ([`SocketProbe`]) whether bytes wait unread: if they do, the verdict is
/// put off by a fraction of `silence`, and the reads that follow decide (a new sample
/// restarts the full timer).
///
/// Unread bytes only put the verdict off [`MAX_DEFERRALS`] times in a row without a new
/// sample in between, so a peer that dribbles a byte now and then, or replays duplicates,
/// cannot hold its connection (and host name) for longer than about `3 * silence`. A
/// server that falls behind reads a new sample within the first deferral or two.
///
/// Nor is an edge silent while the server owes it acks (samples read whose commits have
/// not resolved): then the server is the one behind, and an edge that has said all it had
/// to say (its last samples before a shutdown, or a replay of samples the server already
/// took) must get its acks, not a close that makes it replay them again. Once the debt is
/// paid the edge gets one full `silence` more, counted from then, since it may have been
/// waiting on those acks. This is bounded as well, because replayed duplicates create
/// commits too: at most [`MAX_OWED_DEFERRALS`] rechecks (`10 * silence`) and one such
/// grace without a new sample in between.
///
/// And an edge that sends its next sample only once the last one is acked (the tests'
/// scripted edges, an edge replaying or flushing before it stops) waits on a slow commit:
/// when the last ack went out late, the edge gets a full `silence` from that ack instead
/// of from its last sample, once per new sample.
#[derive(Debug)]
struct Silence {
    silence: Duration,
    recheck: Duration,
    /// Deferrals for unread bytes since the last new sample.
    deferrals: u32,
    /// Deferrals for acks owed since the last new sample.
    owed_deferrals: u32,
    /// Whether the full period after a paid debt was granted since the last new sample.
    graced: bool,
    /// Whether the period was counted again from a late ack since the last new sample.
    from_ack: bool,
}

impl Silence {
    fn new(silence: Duration) -> Silence {
        Silence {
            silence,
            recheck: (silence / 4).max(Duration::from_millis(10)),
            deferrals: 0,
            owed_deferrals: 0,
            graced: false,
            from_ack: false,
        }
    }

    /// A new sample arrived: the edge is alive, every budget refills.
    fn news(&mut self) {
        self.deferrals = 0;
        self.owed_deferrals = 0;
        self.graced = false;
        self.from_ack = false;
    }

    /// The timer fired: `Some(deadline)` when the last ack (sent at `acked_at`) went out
    /// less than `silence` before `now`, so the period counts from it instead; once per
    /// new sample.
    fn after_ack(&mut self, acked_at: Option<Instant>, now: Instant) -> Option<Instant> {
        let deadline = acked_at? + self.silence;
        if self.from_ack || deadline <= now {
            return None;
        }
        self.from_ack = true;
        Some(deadline)
    }

    /// The timer fired with nothing new read: `Some(wait)` to look again after `wait`
    /// (bytes wait unread on the socket, or `owes_acks`: commits of this connection's
    /// samples are pending, or were until lately), `None` when the edge is silent.
    fn overdue(&mut self, unread_bytes: Option<usize>, owes_acks: bool) -> Option<Duration> {
        if owes_acks && self.owed_deferrals < MAX_OWED_DEFERRALS {
            self.owed_deferrals += 1;
            return Some(self.recheck);
        }
        if self.owed_deferrals > 0 && !self.graced {
            self.graced = true;
            return Some(self.silence);
        }
        if unread_bytes.unwrap_or(0) == 0 || self.deferrals >= MAX_DEFERRALS {
            return None;
        }
        self.deferrals += 1;
        Some(self.recheck)
    }
}

/// A sample accepted from the socket, on its way to the store.
struct Accepted {
    seq: u64,
    record: utizmon_store::Record,
    /// Whether it was news, the only thing that proves the edge alive: replaying old
    /// samples forever must not hold the connection (and the host name) open.
    news: bool,
}

/// Applies one incoming frame: a sample goes to the live model and the alerts, and comes
/// back as the record to store.
///
/// Not async, so that the connection's future (alive as long as the edge is connected,
/// one per host) does not reserve room for a whole decoded frame at an await point.
fn accept(
    context: &IngestContext,
    session: &EdgeSession,
    silence: Duration,
    incoming: Incoming,
) -> Result<Accepted, End> {
    let (sample, text) = match incoming {
        Incoming::Closed => return Err(End::Closed),
        Incoming::Refused(refusal) => return Err(End::Refused(refusal)),
        Incoming::Hello(_) => {
            return Err(End::Refused(Refusal::new(
                RejectReason::Protocol,
                "hello sent twice",
            )));
        }
        Incoming::Sample(sample, text) => (sample, text),
    };
    // A clock far ahead would outlive retention; one before 2000 is broken.
    if let Err(e) = sample.check_time(now_ms()) {
        return Err(End::Refused(Refusal::from(e)));
    }
    if session.forgotten() {
        return Err(End::Forgotten);
    }
    let seq = sample.seq;
    let Ok((taken_as, mut record)) = context.fleet.take(session, sample) else {
        return Err(End::Superseded);
    };
    // The writer stores the sample from this text instead of encoding it again. A copy of
    // its own size: the received message shares the socket layer's read buffer, which a
    // record waiting in a full store queue would otherwise keep whole.
    record.frame = Some(bytes::Bytes::copy_from_slice(text.as_bytes()));
    let news = match taken_as {
        Taken::Applied { .. } => {
            context.alerts.observe(&record, silence);
            true
        }
        Taken::Duplicate { .. } => {
            tracing::debug!(seq, "duplicate sample");
            false
        }
    };
    Ok(Accepted { seq, record, news })
}

/// Hands an accepted sample to the store: its sequence number, whether it was news, and
/// the future that queues it (it waits only when the store's queue is full:
/// back-pressure) and resolves to its commit.
///
/// Not an `async fn`, and the caller awaits the returned future itself: an `async fn`
/// keeps its arguments (the record) for as long as it waits, and a future awaited from
/// inside another `async` block is kept twice.
fn hand_over(
    context: &IngestContext,
    accepted: Accepted,
) -> (u64, bool, impl Future<Output = Commit> + '_) {
    let Accepted { seq, record, news } = accepted;
    (seq, news, context.store.append(record))
}

/// Counts and logs the refusal, sends the error frame and the close frame.
async fn refuse(socket: &mut WebSocket, fleet: &Fleet, refusal: Refusal) {
    fleet.reject(refusal.reason);
    let code = refusal.reason.as_str();
    tracing::warn!(reason = code, message = %refusal.message, "edge refused");
    let frame = ServerFrame::Error(ErrorFrame {
        code: code.to_owned(),
        message: refusal.message.clone(),
    });
    let sent = timeout(
        SEND_TIMEOUT,
        socket.send(Message::Text(encode(&frame).into())),
    )
    .await;
    if matches!(sent, Ok(Ok(()))) {
        close(
            socket,
            refusal.reason.close_code(),
            &format!("{code}: {}", refusal.message),
        )
        .await;
    }
}

async fn going_away(socket: &mut WebSocket) {
    close(socket, 1001, "going away: server shutting down").await;
}

/// Sends a close frame and waits briefly for the edge's reply, so it sees a clean close.
async fn close(socket: &mut WebSocket, code: u16, reason: &str) {
    let frame = CloseFrame {
        code,
        reason: truncate(reason, MAX_CLOSE_REASON).into(),
    };
    if !matches!(
        timeout(SEND_TIMEOUT, socket.send(Message::Close(Some(frame)))).await,
        Ok(Ok(()))
    ) {
        return;
    }
    let deadline = Instant::now() + CLOSE_LINGER;
    // Bounded by time: drain until the edge's close arrives or the socket ends.
    loop {
        tokio::select! {
            _ = sleep_until(deadline) => return,
            next = socket.recv() => match next {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => continue,
            },
        }
    }
}

async fn send_ack(socket: &mut WebSocket, seq: u64) -> bool {
    let text = encode(&ServerFrame::Ack(Ack { seq }));
    matches!(
        timeout(SEND_TIMEOUT, socket.send(Message::Text(text.into()))).await,
        Ok(Ok(()))
    )
}

/// The longest prefix of `text` of at most `max` bytes that ends on a char boundary.
pub(crate) fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

impl Refusal {
    fn new(reason: RejectReason, message: impl Into<String>) -> Refusal {
        Refusal {
            reason,
            message: message.into(),
        }
    }
}

impl From<DecodeError> for Refusal {
    fn from(e: DecodeError) -> Refusal {
        Refusal::new(e.reason(), e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_reasons_are_cut_on_char_boundaries() {
        assert_eq!(truncate("abc", 123), "abc");
        let long = "é".repeat(100); // 200 bytes
        let cut = truncate(&long, 123);
        assert_eq!(cut.len(), 122);
        assert!(long.starts_with(cut));
    }

    #[test]
    fn a_late_ack_restarts_the_period_once_per_new_sample() {
        let silence = Duration::from_millis(600);
        let mut verdict = Silence::new(silence);
        let now = Instant::now();
        assert_eq!(verdict.after_ack(None, now), None, "nothing acked");
        let acked = now - Duration::from_millis(500);
        assert_eq!(verdict.after_ack(Some(acked), now), Some(acked + silence));
        assert_eq!(verdict.after_ack(Some(acked), now), None, "only once");
        verdict.news();
        let long_ago = now - silence;
        assert_eq!(
            verdict.after_ack(Some(long_ago), now),
            None,
            "acked in time"
        );
        assert_eq!(verdict.after_ack(Some(now), now), Some(now + silence));
    }

    #[test]
    fn silence_waits_for_unread_bytes_a_bounded_number_of_times() {
        let mut verdict = Silence::new(Duration::from_secs(2));
        let recheck = Some(Duration::from_millis(500));
        assert_eq!(verdict.overdue(Some(0), false), None, "nothing waiting");
        assert_eq!(
            verdict.overdue(None, false),
            None,
            "unknown: the timer decides"
        );
        for _ in 0..MAX_DEFERRALS {
            assert_eq!(verdict.overdue(Some(1), false), recheck);
        }
        assert_eq!(
            verdict.overdue(Some(1), false),
            None,
            "a dribbler is closed"
        );
        verdict.news();
        assert_eq!(verdict.overdue(Some(4096), false), recheck);
    }

    #[test]
    fn an_edge_owed_acks_is_not_silent_then_gets_one_full_period() {
        let mut verdict = Silence::new(Duration::from_secs(2));
        let recheck = Some(Duration::from_millis(500));
        for _ in 0..5 {
            assert_eq!(verdict.overdue(Some(0), true), recheck);
        }
        let full = Some(Duration::from_secs(2));
        assert_eq!(
            verdict.overdue(Some(0), false),
            full,
            "acked: a fresh period"
        );
        assert_eq!(verdict.overdue(Some(0), false), None, "then quiet: silent");
        verdict.news();
        assert_eq!(verdict.overdue(Some(0), true), recheck, "news refills it");
    }

    #[test]
    fn replayed_duplicates_cannot_hold_a_connection_by_their_commits() {
        let mut verdict = Silence::new(Duration::from_secs(2));
        let mut deferred = 0;
        while verdict.overdue(Some(1), true).is_some() {
            deferred += 1;
            assert!(deferred <= 1000, "never closed");
        }
        assert_eq!(deferred, MAX_OWED_DEFERRALS + 1 + MAX_DEFERRALS);
    }

    #[test]
    fn decode_errors_keep_their_reason() {
        let refusal = Refusal::from(DecodeError::Binary);
        assert_eq!(refusal.reason, RejectReason::Binary);
        assert!(refusal.message.contains("binary"));
    }
}
