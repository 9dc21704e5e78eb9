//! A minimal master for the edge's integration tests: a tokio-tungstenite server on
//! 127.0.0.1 that records the upgrade's Authorization header and reads decoded frames.
//! Every wait has a deadline; nothing sleeps to wait.
#![allow(dead_code)] // Each test binary uses a different part of it.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use utizmon_protocol::{decode_edge, encode, Ack, EdgeFrame, Hello, Sample, ServerFrame};

/// Longest any single step of a test may take.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// One accepted edge connection.
pub struct Conn {
    pub ws: WebSocketStream<TcpStream>,
    pub authorization: Option<String>,
    pub path: String,
}

/// A listener on an ephemeral loopback port.
pub async fn bind() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// Binds `addr` again after the previous listener was dropped, retrying briefly.
pub async fn rebind(addr: SocketAddr) -> TcpListener {
    let deadline = Instant::now() + DEADLINE;
    loop {
        match TcpListener::bind(addr).await {
            Ok(listener) => return listener,
            Err(err) if Instant::now() < deadline => {
                eprintln!("rebinding {addr}: {err}; retrying");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(err) => panic!("rebinding {addr}: {err}"),
        }
    }
}

/// The master URL for a listener address.
pub fn master_url(addr: SocketAddr) -> String {
    format!("ws://{addr}/ws/edge")
}

/// Accepts the next edge connection (within [`DEADLINE`]).
#[allow(clippy::result_large_err)] // The handshake callback's signature is tungstenite's.
pub async fn accept(listener: &TcpListener) -> Conn {
    let (stream, _) = timeout(DEADLINE, listener.accept())
        .await
        .expect("an edge connects within the deadline")
        .unwrap();
    let mut authorization = None;
    let mut path = String::new();
    let ws = tokio_tungstenite::accept_hdr_async(stream, |req: &Request, resp: Response| {
        authorization = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        path = req.uri().path().to_owned();
        Ok(resp)
    })
    .await
    .unwrap();
    Conn {
        ws,
        authorization,
        path,
    }
}

impl Conn {
    /// The next frame from the edge, which must decode with the protocol's own validator.
    pub async fn frame(&mut self) -> EdgeFrame {
        loop {
            let message = timeout(DEADLINE, self.ws.next())
                .await
                .expect("the edge sends a frame within the deadline")
                .expect("the connection is open")
                .unwrap();
            match message {
                Message::Text(text) => {
                    return decode_edge(&text)
                        .unwrap_or_else(|e| panic!("invalid frame from the edge: {e}: {text}"))
                }
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("unexpected message from the edge: {other:?}"),
            }
        }
    }

    /// The next frame, which must be a hello.
    pub async fn hello(&mut self) -> Hello {
        match self.frame().await {
            EdgeFrame::Hello(hello) => hello,
            other => panic!("expected hello, got {other:?}"),
        }
    }

    /// The next frame, which must be a sample.
    pub async fn sample(&mut self) -> Sample {
        match self.frame().await {
            EdgeFrame::Sample(sample) => sample,
            other => panic!("expected a sample, got {other:?}"),
        }
    }

    /// `n` samples' sequence numbers.
    pub async fn seqs(&mut self, n: usize) -> Vec<u64> {
        let mut seqs = Vec::with_capacity(n);
        for _ in 0..n {
            seqs.push(self.sample().await.seq);
        }
        seqs
    }

    /// Acknowledges every sample up to `seq`.
    pub async fn ack(&mut self, seq: u64) {
        let text = encode(&ServerFrame::Ack(Ack { seq }));
        self.ws.send(Message::text(text)).await.unwrap();
    }

    /// Sends a Close frame and reads until the edge has answered it, so everything sent
    /// before the Close is known to have been read by the edge.
    pub async fn close(mut self, code: u16, reason: &str) {
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.to_owned().into(),
        };
        self.ws.send(Message::Close(Some(frame))).await.unwrap();
        timeout(DEADLINE, async {
            while let Some(Ok(_)) = self.ws.next().await {}
        })
        .await
        .expect("the edge answers the close within the deadline");
    }

    /// Reads until the edge's Close frame arrives and returns its code and reason, acking
    /// every sample on the way.
    pub async fn until_close(&mut self) -> (u16, String) {
        loop {
            let message = timeout(DEADLINE, self.ws.next())
                .await
                .expect("the edge closes within the deadline")
                .expect("a close frame before the end of the stream")
                .unwrap();
            match message {
                Message::Close(Some(frame)) => {
                    return (u16::from(frame.code), frame.reason.as_str().to_owned())
                }
                Message::Close(None) => return (1005, String::new()),
                Message::Text(text) => {
                    if let Ok(EdgeFrame::Sample(sample)) = decode_edge(&text) {
                        self.ack(sample.seq).await;
                    }
                }
                _ => {}
            }
        }
    }
}

/// Asserts that `seqs` counts up by one from `first`.
pub fn assert_consecutive(seqs: &[u64], first: u64) {
    let expected: Vec<u64> = (first..first + seqs.len() as u64).collect();
    assert_eq!(seqs, expected.as_slice(), "sequence numbers have a gap");
}
