//! Shared test harness: an in-process server on 127.0.0.1:0, an HTTP GET helper, a scripted
//! edge over a real WebSocket, polling with deadlines, and a strict OpenMetrics checker.

#![allow(dead_code)] // Each test binary uses a different part of the harness.

pub mod openmetrics;
pub mod prefill;
pub mod process;
pub mod stored;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;
pub use utizmon_protocol::now_ms;
use utizmon_protocol::{
    decode_server, encode, Cpu, CpuSeconds, EdgeFrame, Filesystem, Hello, HostInfo, Load, Memory,
    Network, Sample, ServerFrame, PROTOCOL_VERSION,
};
use utizmon_server::Config;

/// How long any single wait in a test may take.
pub const DEADLINE: Duration = Duration::from_secs(10);

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A server running inside the test process.
pub struct TestServer {
    pub addr: SocketAddr,
    /// The server's own history directory, removed when the test ends.
    pub data_dir: tempfile::TempDir,
    pub shutdown: CancellationToken,
    pub handle: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestServer {
    /// Starts `run` with these extra flags on an ephemeral port.
    pub async fn start(extra: &[&str]) -> TestServer {
        TestServer::start_in(tempfile::tempdir().unwrap(), extra).await
    }

    /// Starts `run` on a data directory the test prepared (for example, filled through
    /// the store API).
    pub async fn start_in(data_dir: tempfile::TempDir, extra: &[&str]) -> TestServer {
        let dir = data_dir.path().to_str().unwrap().to_owned();
        let mut args = vec![
            "utizmon-server",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            &dir,
        ];
        args.extend_from_slice(extra);
        let config = Config::parse_from(args);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(utizmon_server::run(config, listener, shutdown.clone()));
        TestServer {
            addr,
            data_dir,
            shutdown,
            handle: Some(handle),
        }
    }

    pub fn edge_url(&self) -> String {
        format!("ws://{}/ws/edge", self.addr)
    }

    pub async fn get(&self, path: &str) -> HttpResponse {
        http_get(self.addr, path, None).await
    }

    pub async fn json(&self, path: &str) -> serde_json::Value {
        let res = self.get(path).await;
        assert_eq!(res.status, 200, "GET {path}: {}", res.body);
        serde_json::from_str(&res.body).unwrap()
    }

    /// The classic /metrics text.
    pub async fn metrics(&self) -> String {
        self.get("/metrics").await.body
    }

    /// Value of one series in the classic /metrics output, by its whole name+labels.
    pub async fn metric(&self, series: &str) -> Option<f64> {
        metric_value(&self.metrics().await, series)
    }

    pub async fn rejected(&self, reason: &str) -> f64 {
        self.metric(&format!(
            "utizmon_server_samples_rejected_total{{reason=\"{reason}\"}}"
        ))
        .await
        .unwrap()
    }

    /// One host from the API, if known.
    pub async fn host(&self, host: &str) -> Option<serde_json::Value> {
        let hosts = self.json("/api/v1/hosts").await;
        hosts["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["host"] == host)
            .cloned()
    }

    /// Cancels and waits for `run` to return.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        let handle = self.handle.take().unwrap();
        tokio::time::timeout(DEADLINE, handle)
            .await
            .unwrap()
            .unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Finds `series value` among whole lines.
pub fn metric_value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        value.split(' ').next()?.parse().ok()
    })
}

pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// GET `path` from our own server, optionally with an `Accept` header.
pub async fn http_get(addr: SocketAddr, path: &str, accept: Option<&str>) -> HttpResponse {
    let headers: Vec<(&str, &str)> = accept.map(|a| ("accept", a)).into_iter().collect();
    http_request(addr, "GET", path, &headers).await
}

/// One request to our own server with reqwest (never through a proxy from the environment:
/// tests talk to 127.0.0.1 only). The body is returned as text, chunked or not.
pub async fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> HttpResponse {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(DEADLINE)
        .build()
        .expect("building the test HTTP client");
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
    let mut request = client.request(method, format!("http://{addr}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| {
            let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
            (n.as_str().to_owned(), value)
        })
        .collect();
    let body = response
        .text()
        .await
        .unwrap_or_else(|e| panic!("reading the body of {path}: {e}"));
    HttpResponse {
        status,
        headers,
        body,
    }
}

/// Polls `check` every 20 ms until it returns `Some`, failing the test after [`DEADLINE`].
pub async fn wait_for<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    poll_until(what, DEADLINE, Duration::from_millis(20), check).await
}

/// Polls `check` every 200 ms until it returns `Some`, failing the test after `limit`: for
/// waits longer than [`DEADLINE`], such as a receiver catching up after an outage.
pub async fn wait_up_to<T, F, Fut>(what: &str, limit: Duration, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    poll_until(what, limit, Duration::from_millis(200), check).await
}

async fn poll_until<T, F, Fut>(what: &str, limit: Duration, every: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(every).await;
    }
}

pub fn hello(host: &str, run_id: &str) -> Hello {
    Hello {
        version: PROTOCOL_VERSION,
        minor: 0,
        run_id: run_id.into(),
        run_secret: None,
        interval_ms: 1000,
        host: HostInfo {
            host_name: host.into(),
            os_name: "Debian GNU/Linux".into(),
            os_version: "12".into(),
            kernel: "6.1.0-18-amd64".into(),
            arch: "x86_64".into(),
            cpu_model: "Test CPU".into(),
            cores: 2,
            agent_version: "0.1.0".into(),
            boot_time: 1_700_000_000,
            ..HostInfo::default()
        },
    }
}

pub fn sample(seq: u64) -> Sample {
    Sample {
        seq,
        ts_ms: now_ms(),
        cpu: Cpu {
            usage_ratio: 0.25,
            cores: vec![0.5, 0.0],
            seconds: CpuSeconds {
                user: 10.0,
                idle: 100.0,
                ..CpuSeconds::default()
            },
            ..Cpu::default()
        },
        memory: Memory {
            total_bytes: 8_000_000_000,
            used_bytes: 2_000_000_000,
            available_bytes: 6_000_000_000,
            swap_total_bytes: 1_000_000,
            swap_used_bytes: 0,
            ..Memory::default()
        },
        load: Load {
            load1: 0.5,
            load5: 0.4,
            load15: 0.3,
        },
        uptime_seconds: 1234.0,
        filesystems: vec![Filesystem {
            mountpoint: "/".into(),
            fstype: "ext4".into(),
            size_bytes: 100_000,
            avail_bytes: 40_000,
            ..Filesystem::default()
        }],
        networks: vec![Network {
            device: "eth0".into(),
            rx_bytes: seq * 1000,
            tx_bytes: seq * 500,
            ..Network::default()
        }],
        ..Sample::default()
    }
}

pub fn hello_text(host: &str, run_id: &str) -> String {
    encode(&EdgeFrame::Hello(hello(host, run_id)))
}

pub fn sample_text(seq: u64) -> String {
    encode(&EdgeFrame::Sample(sample(seq)))
}

/// Opens a WebSocket, optionally with a bearer token.
pub async fn connect(url: &str, token: Option<&str>) -> Ws {
    let mut request = url.into_client_request().unwrap();
    if let Some(token) = token {
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    let config = WebSocketConfig::default()
        .max_message_size(Some(64 << 20))
        .max_frame_size(Some(64 << 20));
    let (ws, _) = tokio::time::timeout(
        DEADLINE,
        tokio_tungstenite::connect_async_with_config(request, Some(config), false),
    )
    .await
    .unwrap()
    .unwrap();
    ws
}

pub async fn send_text(ws: &mut Ws, text: impl Into<String>) {
    ws.send(Message::Text(text.into().into())).await.unwrap();
}

/// What the server sent before closing, as seen by a refused edge.
#[derive(Debug, Default)]
pub struct Ending {
    pub error_code: Option<String>,
    pub close_code: Option<u16>,
    pub close_reason: String,
    pub acks: Vec<u64>,
}

/// Reads until the server closes the connection.
pub async fn read_until_close(ws: &mut Ws) -> Ending {
    let mut ending = Ending::default();
    let result = tokio::time::timeout(DEADLINE, async {
        while let Some(message) = ws.next().await {
            match message {
                Ok(Message::Text(text)) => match decode_server(text.as_str()).unwrap() {
                    ServerFrame::Ack(ack) => ending.acks.push(ack.seq),
                    ServerFrame::Error(e) => ending.error_code = Some(e.code),
                },
                Ok(Message::Close(frame)) => {
                    if let Some(frame) = frame {
                        ending.close_code = Some(frame.code.into());
                        ending.close_reason = frame.reason.to_string();
                    }
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    })
    .await;
    assert!(result.is_ok(), "server did not close: {ending:?}");
    ending
}

/// Waits for an ack of at least `seq`.
pub async fn expect_ack(ws: &mut Ws, seq: u64) {
    tokio::time::timeout(DEADLINE, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) => {
                    if let ServerFrame::Ack(ack) = decode_server(text.as_str()).unwrap() {
                        if ack.seq >= seq {
                            return;
                        }
                    }
                }
                Some(Ok(_)) => {}
                other => panic!("connection ended while waiting for ack {seq}: {other:?}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no ack for {seq}"));
}

/// An edge that sends one sample per call and expects it acked.
pub struct GoodEdge {
    pub ws: Ws,
    pub seq: u64,
}

impl GoodEdge {
    pub async fn connect(server: &TestServer, host: &str, token: Option<&str>) -> GoodEdge {
        let mut ws = connect(&server.edge_url(), token).await;
        send_text(&mut ws, hello_text(host, "good-run")).await;
        GoodEdge { ws, seq: 0 }
    }

    /// Sends the next sample and waits for its ack.
    pub async fn step(&mut self) {
        self.seq += 1;
        send_text(&mut self.ws, sample_text(self.seq)).await;
        expect_ack(&mut self.ws, self.seq).await;
    }
}
