//! `GET /ws/edge`: checks the bearer token (`auth::edge`) and hands the upgraded socket to `ingest`.
//!
//! A wrong or missing token is not refused at the HTTP level: the upgrade goes through so
//! the edge gets an error frame and a 4401 close it can log (see `docs/protocol.md`).

use std::net::SocketAddr;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Extension;

use crate::http::AppState;
use crate::ingest::{self, IngestContext, MAX_WIRE_BYTES};
use crate::listen::probe::SocketProbe;

/// Initial read buffer of an edge connection, in bytes; it grows for larger frames.
///
/// Every connection holds one for its lifetime (tungstenite allocates and zero-fills it
/// up front), so at 20,000 edges each KiB here is 20 MiB of server memory. A simulated
/// sample is about 1 KiB and a real one a few: a frame larger than the buffer makes it
/// grow to fit that frame once, and a server behind on reading pays one more `read` per
/// couple of frames, which is nothing beside what a sample costs to store.
pub const READ_BUFFER_BYTES: usize = 2 * 1024;

/// Upgrades an edge connection.
pub async fn upgrade(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    probe: Option<Extension<SocketProbe>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let admission = state.edge_credentials.admit(&headers);
    let context = IngestContext {
        fleet: state.fleet.clone(),
        store: state.store.clone(),
        offline_after: state.offline_after,
        alerts: state.alerts.clone(),
        shutdown: state.shutdown.clone(),
    };
    let tasks = state.tasks.clone();
    // Set by the connection layer; absent only when the router is driven without a socket.
    let probe = probe.map(|Extension(probe)| probe).unwrap_or_default();
    // A small read buffer: thousands of edges idle most of the time, and 128 KiB each
    // (the default) would cost more memory than everything else the server keeps.
    ws.read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(MAX_WIRE_BYTES)
        .max_frame_size(MAX_WIRE_BYTES)
        .on_upgrade(move |socket| {
            tasks.track_future(ingest::serve_edge(socket, peer, context, admission, probe))
        })
}

/// The token of an `Authorization: Bearer <token>` value. The scheme is case-insensitive
/// (RFC 9110, section 11.1), so `bearer` and `BEARER` work too; `None` for other schemes.
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for value in [
            "Bearer s3cret",
            "bearer s3cret",
            "BEARER  s3cret ",
            "bEaReR s3cret",
        ] {
            assert_eq!(bearer_token(value), Some("s3cret"), "{value:?}");
        }
        for value in [
            "Basic s3cret",
            "Bearer",
            "Bearer ",
            "s3cret",
            "Bearers3cret",
        ] {
            assert_eq!(bearer_token(value), None, "{value:?}");
        }
    }
}
