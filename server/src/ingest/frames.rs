//! Reading edge frames off the socket, and what each kind of socket error means.

use axum::extract::ws::{Message, Utf8Bytes, WebSocket};
use utizmon_protocol::{
    decode_edge, DecodeError, EdgeFrame, Hello, RejectReason, Sample, MAX_FRAME_BYTES,
};

use super::{Refusal, MAX_WIRE_BYTES};

/// What reading the next frame gave.
///
/// The decoded frame is boxed: a connection's future is alive as long as its edge, one per
/// host, and reserves room for what it holds at its await points. A `Sample` is 712 bytes
/// inline, and holding it (or a record made from it) across the store's queue made that
/// future 3.2 KiB; boxed, the frame costs one allocation per sample instead.
pub(super) enum Incoming {
    /// A sample, with its frame's text (the sample is stored from it, not re-encoded).
    Sample(Box<Sample>, Utf8Bytes),
    Hello(Box<Hello>),
    Closed,
    Refused(Refusal),
}

/// Reads until a text frame, a close or an error. Cancel-safe: the socket layer buffers a
/// partly read message, so nothing is lost between the inner `recv` calls.
pub(super) async fn read_frame(socket: &mut WebSocket) -> Incoming {
    loop {
        let message = match socket.recv().await {
            None => return Incoming::Closed,
            Some(Ok(message)) => message,
            Some(Err(e)) => return socket_error(e),
        };
        return match message {
            Message::Text(text) => match decode_edge(text.as_str()) {
                Ok(EdgeFrame::Sample(sample)) => Incoming::Sample(Box::new(sample), text),
                Ok(EdgeFrame::Hello(hello)) => Incoming::Hello(Box::new(hello)),
                Err(e) => Incoming::Refused(Refusal::from(e)),
            },
            Message::Binary(_) => Incoming::Refused(Refusal::from(DecodeError::Binary)),
            Message::Close(_) => Incoming::Closed,
            Message::Ping(_) | Message::Pong(_) => continue,
        };
    }
}

/// Sorts a socket error by its type: what the edge sent wrong is refused with a reason it
/// can read; anything else (reset, I/O) is a connection that went away.
fn socket_error(e: axum::Error) -> Incoming {
    let inner = e.into_inner();
    match inner.downcast_ref::<tungstenite::Error>() {
        // The socket layer refuses messages above MAX_WIRE_BYTES before reading them.
        Some(tungstenite::Error::Capacity(_)) => Incoming::Refused(Refusal::new(
            RejectReason::TooLarge,
            format!("frame exceeds {MAX_WIRE_BYTES} bytes, limit is {MAX_FRAME_BYTES}"),
        )),
        Some(tungstenite::Error::Utf8(_)) => Incoming::Refused(Refusal::new(
            RejectReason::Malformed,
            "text frame is not valid UTF-8",
        )),
        _ => {
            tracing::debug!(error = %inner, "edge socket error");
            Incoming::Closed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tungstenite::error::CapacityError;

    fn reason_of(e: tungstenite::Error) -> Option<RejectReason> {
        match socket_error(axum::Error::new(e)) {
            Incoming::Refused(refusal) => Some(refusal.reason),
            _ => None,
        }
    }

    #[test]
    fn oversized_and_invalid_text_are_refused_by_type() {
        let too_long = CapacityError::MessageTooLong {
            size: 2 << 20,
            max_size: MAX_WIRE_BYTES,
        };
        assert_eq!(
            reason_of(tungstenite::Error::Capacity(too_long)),
            Some(RejectReason::TooLarge)
        );
        assert_eq!(
            reason_of(tungstenite::Error::Utf8("bad".into())),
            Some(RejectReason::Malformed)
        );
    }

    #[test]
    fn what_a_read_gives_stays_small() {
        // Every connection's future holds one across its awaits; see `Incoming`.
        let size = std::mem::size_of::<Incoming>();
        assert!(
            size <= 64,
            "Incoming is {size} bytes: box what made it grow"
        );
    }

    #[test]
    fn other_socket_errors_end_the_connection_quietly() {
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert_eq!(reason_of(tungstenite::Error::Io(reset)), None);
        assert_eq!(reason_of(tungstenite::Error::ConnectionClosed), None);
        // An error whose text merely mentions a limit is not taken for one.
        let lookalike = std::io::Error::other("Space limit exceeded: too long");
        assert!(matches!(
            socket_error(axum::Error::new(lookalike)),
            Incoming::Closed
        ));
    }
}
