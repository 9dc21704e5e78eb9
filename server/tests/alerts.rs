//! Alerting end to end with real processes on 127.0.0.1: the server binary, the edge
//! binary or a scripted edge over a real WebSocket, a webhook receiver in the test, and
//! the real Alertmanager (Debian's `prometheus-alertmanager`).

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::Value;
use tokio::net::TcpListener;
use utizmon_protocol::{encode, EdgeFrame, Process};

use common::process::{binary, start_edge, start_server, Proc};
use common::{connect, expect_ack, hello, sample, send_text, Ws, DEADLINE};

/// A rules file with `for`, hysteresis and no minimum firing time.
const CPU_BUSY: &str = "rules:
  - alert: CpuBusy
    metric: cpu_usage_ratio
    above: 0.5
    for: 2s
    clear: 0.4
    severity: warning
    summary: \"CPU on {{ host }} at {{ value | percent }}\"
";

/// One POST a webhook receiver got: arrival time, `Authorization` header, body.
type Delivery = (Instant, Option<String>, Value);

/// What a webhook receiver got, in arrival order.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<Delivery>>>);

impl Received {
    fn all(&self) -> Vec<Delivery> {
        self.0.lock().unwrap().clone()
    }

    /// `status` and `alertname` of each notification, in arrival order.
    fn statuses(&self) -> Vec<(String, String)> {
        self.all()
            .iter()
            .map(|(_, _, body)| {
                (
                    body["status"].as_str().unwrap_or_default().to_owned(),
                    body["alerts"][0]["labels"]["alertname"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )
            })
            .collect()
    }

    /// Waits until `n` notifications have arrived; returns the arrival time of the n-th.
    async fn wait_for(&self, n: usize, within: Duration) -> Instant {
        let start = Instant::now();
        loop {
            if let Some((at, _, _)) = self.all().get(n - 1) {
                return *at;
            }
            assert!(
                start.elapsed() < within,
                "notification {n} did not arrive within {within:?}; got {:?}",
                self.statuses()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A webhook receiver on 127.0.0.1; returns its URL and what it received.
async fn webhook() -> (String, Received) {
    async fn hook(State(received): State<Received>, headers: HeaderMap, Json(body): Json<Value>) {
        let token = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        received
            .0
            .lock()
            .unwrap()
            .push((Instant::now(), token, body));
    }
    let received = Received::default();
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state(received.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), received)
}

/// An edge whose CPU value the test sets, speaking the protocol over a real WebSocket.
struct ScriptedEdge {
    ws: Ws,
    seq: u64,
}

impl ScriptedEdge {
    async fn connect(addr: SocketAddr, host: &str, run_id: &str) -> ScriptedEdge {
        let mut ws = connect(&format!("ws://{addr}/ws/edge"), None).await;
        let mut hello = hello(host, run_id);
        hello.interval_ms = 200;
        send_text(&mut ws, encode(&EdgeFrame::Hello(hello))).await;
        ScriptedEdge { ws, seq: 0 }
    }

    /// Sends one sample with this CPU usage and waits for its ack.
    async fn cpu(&mut self, usage: f64) {
        self.seq += 1;
        let mut sample = sample(self.seq);
        sample.cpu.usage_ratio = usage;
        sample.top_processes = vec![
            process("postgres", 90, 0.05, 900_000_000),
            process("nginx", 812, 0.41, 20_000_000),
        ];
        send_text(&mut self.ws, encode(&EdgeFrame::Sample(sample))).await;
        expect_ack(&mut self.ws, self.seq).await;
    }

    /// Sends `usage` every 200 ms for `duration`.
    async fn hold(&mut self, usage: f64, duration: Duration) {
        let start = Instant::now();
        while start.elapsed() < duration {
            self.cpu(usage).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn process(name: &str, pid: u32, cpu_ratio: f64, rss_bytes: u64) -> Process {
    Process {
        pid,
        name: name.into(),
        user: "www-data".into(),
        cpu_ratio,
        rss_bytes,
    }
}

/// A server with the `CpuBusy` rule only, notifying a webhook.
struct CpuBusyServer {
    /// Kept for the test's life.
    _data: tempfile::TempDir,
    /// The webhook's URL and what it received.
    url: String,
    received: Received,
    _server: Proc,
    addr: SocketAddr,
}

async fn cpu_busy_server() -> CpuBusyServer {
    let data = tempfile::tempdir().unwrap();
    let (url, received) = webhook().await;
    let rules = rules_file(data.path(), CPU_BUSY);
    let (server, addr) = start_server(
        "127.0.0.1:0",
        data.path(),
        &["--alert-rules", &rules, "--alert-webhook-url", &url],
    )
    .await;
    CpuBusyServer {
        _data: data,
        url,
        received,
        _server: server,
        addr,
    }
}

fn rules_file(dir: &Path, text: &str) -> String {
    let path = dir.join("rules.yml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

/// `alertname` was notified firing then resolved, nothing else; none is active and the
/// history holds it resolved.
async fn assert_fired_then_resolved(addr: SocketAddr, received: &Received, alertname: &str) {
    let expected = ["firing", "resolved"].map(|status| (status.to_owned(), alertname.to_owned()));
    assert_eq!(received.statuses(), expected);
    assert_eq!(
        get_json(addr, "/api/v1/alerts").await,
        serde_json::json!([])
    );
    let history = get_json(addr, "/api/v1/alerts/history").await;
    assert_eq!(history[0]["alertname"], alertname);
    assert!(history[0]["resolved_ms"].as_u64().is_some(), "{history}");
}

async fn get_json(addr: SocketAddr, path: &str) -> Value {
    reqwest::get(format!("http://{addr}{path}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn host_down_reaches_a_webhook_and_resolves_when_the_edge_returns() {
    let data = tempfile::tempdir().unwrap();
    let (url, received) = webhook().await;
    let token_file = data.path().join("hook-token");
    std::fs::write(&token_file, "hook-secret\n").unwrap();
    // The built-in rules: HostDown is one of them.
    let (_server, addr) = start_server(
        "127.0.0.1:0",
        data.path(),
        &[
            "--offline-after",
            "2s",
            "--alert-webhook-url",
            &url,
            "--alert-webhook-bearer-token-file",
            token_file.to_str().unwrap(),
        ],
    )
    .await;
    let edge = start_edge(addr, "200ms", "web-1");
    common::wait_for("the edge to report", || async {
        let hosts = get_json(addr, "/api/v1/hosts").await;
        (hosts["hosts"][0]["status"] == "online").then_some(())
    })
    .await;
    drop(edge); // SIGKILL: no goodbye.
    let killed = Instant::now();
    let fired = received.wait_for(1, Duration::from_secs(2 + 3)).await;
    assert!(
        fired - killed <= Duration::from_secs(5),
        "{:?}",
        fired - killed
    );
    let (_, token, body) = received.all()[0].clone();
    assert_eq!(token.as_deref(), Some("Bearer hook-secret"));
    assert_eq!(body["version"], "4");
    assert_eq!(body["status"], "firing");
    let alert = &body["alerts"][0];
    assert_eq!(alert["labels"]["alertname"], "HostDown");
    assert_eq!(alert["labels"]["host"], "web-1");
    assert_eq!(alert["labels"]["severity"], "critical");
    assert_eq!(alert["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(
        alert["generatorURL"],
        format!("http://{addr}/hosts/web-1").as_str()
    );
    assert!(
        alert["annotations"]["description"]
            .as_str()
            .unwrap()
            .starts_with("web-1 has sent no sample for"),
        "{alert}"
    );
    let listed = get_json(addr, "/api/v1/alerts").await;
    assert_eq!(listed[0]["alertname"], "HostDown");
    assert_eq!(listed[0]["state"], "firing");

    let back = Instant::now();
    let _edge = start_edge(addr, "200ms", "web-1");
    let resolved = received.wait_for(2, Duration::from_secs(3)).await;
    assert!(resolved - back <= Duration::from_secs(3));
    let (_, _, body) = received.all()[1].clone();
    assert_eq!(body["status"], "resolved");
    assert_ne!(body["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(
        received.statuses(),
        [
            ("firing".to_owned(), "HostDown".to_owned()),
            ("resolved".to_owned(), "HostDown".to_owned())
        ]
    );
}

#[tokio::test]
async fn a_for_rule_fires_resolves_with_hysteresis_and_does_not_flap() {
    let setup = cpu_busy_server().await;
    let (received, addr) = (&setup.received, setup.addr);
    let mut edge = ScriptedEdge::connect(addr, "web-1", "run-1").await;
    let start = Instant::now();
    edge.cpu(0.9).await;
    // Pending first: listed, nobody told.
    let listed = get_json(addr, "/api/v1/alerts").await;
    assert_eq!(listed[0]["state"], "pending", "{listed}");
    edge.hold(0.9, Duration::from_millis(2600)).await;
    let fired = received.wait_for(1, DEADLINE).await;
    assert!(
        fired - start >= Duration::from_secs(2),
        "fired before `for`"
    );
    let listed = get_json(addr, "/api/v1/alerts").await;
    let alert = &listed[0];
    let keys: Vec<&str> = alert
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(
        keys,
        [
            "active_since_ms",
            "alertname",
            "host",
            "labels",
            "severity",
            "state",
            "summary",
            "value"
        ]
    );
    assert_eq!(alert["state"], "firing");
    assert_eq!(alert["summary"], "CPU on web-1 at 90.0%");
    assert_eq!(alert["value"], 0.9);
    // Around the threshold, never below `clear`: no new notification.
    for i in 0..15 {
        edge.cpu(if i % 2 == 0 { 0.45 } else { 0.55 }).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(received.all().len(), 1, "{:?}", received.statuses());
    let metrics = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.lines().any(|l| l
            == r#"utizmon_alerts{alertname="CpuBusy",host="web-1",severity="warning",alertstate="firing"} 1"#),
        "{metrics}"
    );
    edge.cpu(0.3).await;
    received.wait_for(2, DEADLINE).await;
    assert_fired_then_resolved(addr, received, "CpuBusy").await;
    let metrics = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let success = format!(
        r#"utizmon_alert_notifications_total{{receiver="http://{}",outcome="success"}} 2"#,
        setup
            .url
            .trim_start_matches("http://")
            .trim_end_matches("/hook")
    );
    assert!(
        metrics.lines().any(|l| l == success),
        "{success} in {metrics}"
    );
}

#[tokio::test]
async fn a_restart_while_firing_does_not_notify_again_and_still_resolves() {
    let data = tempfile::tempdir().unwrap();
    let (url, received) = webhook().await;
    let rules = rules_file(data.path(), CPU_BUSY);
    let flags = [
        "--alert-rules",
        rules.as_str(),
        "--alert-webhook-url",
        url.as_str(),
    ];
    let (server, addr) = start_server("127.0.0.1:0", data.path(), &flags).await;
    let mut edge = ScriptedEdge::connect(addr, "web-1", "run-1").await;
    edge.hold(0.9, Duration::from_millis(2600)).await;
    received.wait_for(1, DEADLINE).await;
    drop(edge);
    server.signal("-TERM");
    let mut server = server;
    tokio::time::timeout(DEADLINE, server.child.wait())
        .await
        .unwrap()
        .unwrap();

    let (_server, addr) = start_server("127.0.0.1:0", data.path(), &flags).await;
    let listed = get_json(addr, "/api/v1/alerts").await;
    assert_eq!(listed[0]["alertname"], "CpuBusy", "remembered: {listed}");
    assert_eq!(listed[0]["state"], "firing");
    let mut edge = ScriptedEdge::connect(addr, "web-1", "run-2").await;
    edge.hold(0.9, Duration::from_secs(3)).await;
    assert_eq!(
        received.all().len(),
        1,
        "no second firing: {:?}",
        received.statuses()
    );
    edge.cpu(0.1).await;
    received.wait_for(2, DEADLINE).await;
    assert_eq!(
        received.statuses()[1],
        ("resolved".to_owned(), "CpuBusy".to_owned())
    );
}

#[tokio::test]
async fn a_silence_holds_notifications_back_until_it_ends() {
    let setup = cpu_busy_server().await;
    let (received, addr) = (&setup.received, setup.addr);
    let client = reqwest::Client::new();
    let created: Value = client
        .post(format!("http://{addr}/api/v1/silences"))
        .json(&serde_json::json!({"host": "web-1", "duration": "1h", "comment": "maintenance"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_i64().unwrap();
    // Refused: neither host nor alert; a bad duration; not JSON.
    for body in [
        r#"{"duration":"1h"}"#,
        r#"{"host":"a","duration":"soon"}"#,
        "host=a",
    ] {
        let status = client
            .post(format!("http://{addr}/api/v1/silences"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 400, "{body}");
    }
    let mut edge = ScriptedEdge::connect(addr, "web-1", "run-1").await;
    edge.hold(0.9, Duration::from_secs(3)).await;
    let listed = get_json(addr, "/api/v1/alerts").await;
    assert_eq!(listed[0]["state"], "firing");
    assert!(
        received.all().is_empty(),
        "silenced: {:?}",
        received.statuses()
    );
    let silences = get_json(addr, "/api/v1/silences").await;
    assert_eq!(silences[0]["id"], id);
    assert_eq!(silences[0]["comment"], "maintenance");

    let status = client
        .delete(format!("http://{addr}/api/v1/silences/{id}"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 204);
    assert_eq!(
        get_json(addr, "/api/v1/silences").await,
        serde_json::json!([])
    );
    // Still firing when the silence ends: announced now.
    received.wait_for(1, DEADLINE).await;
    assert_eq!(
        received.statuses()[0],
        ("firing".to_owned(), "CpuBusy".to_owned())
    );
    let again = client
        .delete(format!("http://{addr}/api/v1/silences/{id}"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(again, 404);
}

/// The next message of a dashboard stream that carries `alerts`, within [`DEADLINE`].
async fn next_alerts(ws: &mut Ws) -> Value {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    tokio::time::timeout(DEADLINE, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) => {
                    let msg: Value = serde_json::from_str(&text).unwrap();
                    if msg.get("alerts").is_some() {
                        return msg;
                    }
                }
                Some(Ok(_)) => continue,
                other => panic!("dashboard stream ended: {other:?}"),
            }
        }
    })
    .await
    .expect("no dashboard message with alerts")
}

/// Reads `ws` until a message's alerts satisfy `done`; returns those alerts.
async fn alerts_until(ws: &mut Ws, done: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let msg = next_alerts(ws).await;
        if done(&msg["alerts"]) {
            return msg["alerts"].clone();
        }
        assert!(start.elapsed() < DEADLINE, "last alerts: {}", msg["alerts"]);
    }
}

#[tokio::test]
async fn the_dashboard_stream_carries_alerts_and_silences() {
    let data = tempfile::tempdir().unwrap();
    let rules = rules_file(data.path(), CPU_BUSY);
    let (_server, addr) =
        start_server("127.0.0.1:0", data.path(), &["--alert-rules", &rules]).await;
    let mut overview = connect(&format!("ws://{addr}/ws/dashboard"), None).await;
    let snapshot = next_alerts(&mut overview).await;
    assert_eq!(snapshot["type"], "snapshot");
    assert_eq!(
        snapshot["alerts"],
        serde_json::json!({"active": [], "silences": []})
    );

    let mut edge = ScriptedEdge::connect(addr, "web-1", "run-1").await;
    edge.cpu(0.9).await;
    let pending = alerts_until(&mut overview, |a| a["active"][0]["state"] == "pending").await;
    let alert = &pending["active"][0];
    assert_eq!(alert["alertname"], "CpuBusy");
    assert_eq!(alert["host"], "web-1");
    assert_eq!(alert["severity"], "warning");
    assert_eq!(alert["silenced"], false);
    assert_eq!(alert["labels"]["alertname"], "CpuBusy");
    assert_eq!(alert["summary"], "CPU on web-1 at 90.0%");
    edge.hold(0.9, Duration::from_secs(3)).await;
    let firing = alerts_until(&mut overview, |a| a["active"][0]["state"] == "firing").await;
    assert!(firing["active"][0]["active_since_ms"].as_u64().unwrap() > 0);

    // The detail stream of another host carries none of web-1's alerts.
    let mut other = connect(&format!("ws://{addr}/ws/dashboard?host=db-1"), None).await;
    assert_eq!(
        next_alerts(&mut other).await["alerts"]["active"],
        serde_json::json!([])
    );
    let mut detail = connect(&format!("ws://{addr}/ws/dashboard?host=web-1"), None).await;
    assert_eq!(
        next_alerts(&mut detail).await["alerts"]["active"][0]["state"],
        "firing"
    );

    // A silence: the alert shows as silenced, the silence is listed, on both streams.
    let client = reqwest::Client::new();
    let created: Value = client
        .post(format!("http://{addr}/api/v1/silences"))
        .json(&serde_json::json!({"host": "web-1", "alertname": "CpuBusy", "duration": "1h"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let silenced = alerts_until(&mut overview, |a| a["active"][0]["silenced"] == true).await;
    assert_eq!(silenced["silences"][0]["id"], created["id"]);
    assert_eq!(silenced["silences"][0]["host"], "web-1");
    let silenced = alerts_until(&mut detail, |a| a["active"][0]["silenced"] == true).await;
    assert_eq!(silenced["silences"][0]["id"], created["id"]);
    assert_eq!(
        next_alerts(&mut other).await["alerts"]["silences"],
        serde_json::json!([]),
        "a silence of web-1 is not db-1's"
    );

    // Ended: no longer silenced. Then the value clears and the alert ends.
    let id = created["id"].as_i64().unwrap();
    client
        .delete(format!("http://{addr}/api/v1/silences/{id}"))
        .send()
        .await
        .unwrap();
    alerts_until(&mut overview, |a| {
        a["active"][0]["silenced"] == false && a["silences"] == serde_json::json!([])
    })
    .await;
    // The edge went quiet meanwhile (the server closed it); it comes back, cooler.
    drop(edge);
    let mut edge = ScriptedEdge::connect(addr, "web-1", "run-2").await;
    edge.cpu(0.1).await;
    alerts_until(&mut overview, |a| a["active"] == serde_json::json!([])).await;
}

#[tokio::test]
async fn cpu_notifications_name_top_processes_and_deleting_a_host_resolves_its_alerts() {
    let data = tempfile::tempdir().unwrap();
    let (url, received) = webhook().await;
    let rules = rules_file(
        data.path(),
        &format!("{CPU_BUSY}  - alert: HostDown\n    metric: host_down\n    severity: critical\n"),
    );
    let (_server, addr) = start_server(
        "127.0.0.1:0",
        data.path(),
        &[
            "--alert-rules",
            &rules,
            "--offline-after",
            "1s",
            "--alert-webhook-url",
            &url,
        ],
    )
    .await;
    let mut edge = ScriptedEdge::connect(addr, "web-1", "run-1").await;
    edge.hold(0.9, Duration::from_secs(3)).await;
    received.wait_for(1, DEADLINE).await;
    // The notification says why: value, threshold, and the processes using the CPU.
    let description = received.all()[0].2["alerts"][0]["annotations"]["description"]
        .as_str()
        .unwrap()
        .to_owned();
    let lines: Vec<&str> = description.lines().collect();
    assert!(lines[0].contains("above the threshold"), "{description}");
    assert_eq!(
        lines[1],
        "Top processes by CPU: nginx (pid 812, www-data) 41.0%, postgres (pid 90, www-data) 5.0%"
    );
    let status = reqwest::Client::new()
        .delete(format!("http://{addr}/api/v1/hosts/web-1"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    drop(edge);
    received.wait_for(2, DEADLINE).await;
    // Well past --offline-after, and past the ticker: nothing fires for a deleted host.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_fired_then_resolved(addr, &received, "CpuBusy").await;
}

/// One message an SMTP sink received: envelope sender, recipients, and the data.
#[derive(Clone, Debug)]
struct Mail {
    from: String,
    to: Vec<String>,
    data: String,
}

/// A minimal SMTP server on 127.0.0.1 (RFC 5321's plain path: EHLO/HELO, MAIL, RCPT,
/// DATA, RSET, NOOP, QUIT, no TLS, no auth); returns its port and what it received.
async fn smtp_sink() -> (u16, Arc<Mutex<Vec<Mail>>>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mails = Arc::new(Mutex::new(Vec::new()));
    let kept = mails.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let mails = kept.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 sink ESMTP\r\n").await.ok();
                let mut mail = Mail {
                    from: String::new(),
                    to: Vec::new(),
                    data: String::new(),
                };
                // Bounded: a test message is a few dozen lines.
                for _ in 0..10_000 {
                    let Ok(Some(line)) = lines.next_line().await else {
                        return;
                    };
                    let upper = line.to_ascii_uppercase();
                    let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                        b"250 sink\r\n"
                    } else if upper.starts_with("MAIL FROM:") {
                        mail.from = line[10..].trim().to_owned();
                        b"250 ok\r\n"
                    } else if upper.starts_with("RCPT TO:") {
                        mail.to.push(line[8..].trim().to_owned());
                        b"250 ok\r\n"
                    } else if upper == "DATA" {
                        write.write_all(b"354 go on\r\n").await.ok();
                        while let Ok(Some(l)) = lines.next_line().await {
                            if l == "." {
                                break;
                            }
                            mail.data.push_str(l.strip_prefix('.').unwrap_or(&l));
                            mail.data.push('\n');
                        }
                        mails.lock().unwrap().push(std::mem::replace(
                            &mut mail,
                            Mail {
                                from: String::new(),
                                to: Vec::new(),
                                data: String::new(),
                            },
                        ));
                        b"250 queued\r\n"
                    } else if upper == "QUIT" {
                        write.write_all(b"221 bye\r\n").await.ok();
                        return;
                    } else {
                        b"250 ok\r\n"
                    };
                    write.write_all(reply).await.ok();
                }
            });
        }
    });
    (port, mails)
}

#[tokio::test]
async fn email_reaches_an_smtp_sink_on_firing_and_on_resolve() {
    let data = tempfile::tempdir().unwrap();
    let (port, mails) = smtp_sink().await;
    let rules = rules_file(data.path(), CPU_BUSY);
    let smtp = format!("smtp://127.0.0.1:{port}");
    let (_server, addr) = start_server(
        "127.0.0.1:0",
        data.path(),
        &[
            "--alert-rules",
            &rules,
            "--smtp-url",
            &smtp,
            "--alert-email-from",
            "utizmon@example.org",
            "--alert-email-to",
            "ops@example.org",
        ],
    )
    .await;
    let mut edge = ScriptedEdge::connect(addr, "web-1", "run-1").await;
    edge.hold(0.9, Duration::from_secs(3)).await;
    common::wait_for("the firing email", || async {
        (!mails.lock().unwrap().is_empty()).then_some(())
    })
    .await;
    edge.cpu(0.1).await;
    common::wait_for("the resolved email", || async {
        (mails.lock().unwrap().len() >= 2).then_some(())
    })
    .await;
    let mails = mails.lock().unwrap().clone();
    assert_eq!(mails[0].from, "<utizmon@example.org>");
    assert_eq!(mails[0].to, ["<ops@example.org>"]);
    // Quoted-printable soft line breaks joined, so lines read as sent.
    let text = |m: &Mail| m.data.replace("=\n", "");
    let first = text(&mails[0]);
    assert!(
        first
            .lines()
            .any(|l| l == "Subject: [FIRING] CPU on web-1 at 90.0%"),
        "{first}"
    );
    assert!(
        first
            .lines()
            .any(|l| l.starts_with("Top processes by CPU: nginx (pid 812, www-data) 41.0%")),
        "{first}"
    );
    let second = text(&mails[1]);
    assert!(
        second
            .lines()
            .any(|l| l.starts_with("Subject: [RESOLVED] CPU on web-1")),
        "{second}"
    );
    // Counted once the server has read the sink's reply, a moment after the sink has it.
    let series = r#"utizmon_alert_notifications_total{receiver="email",outcome="success"} 2"#;
    common::wait_for("two successful email deliveries counted", || async {
        let metrics = reqwest::get(format!("http://{addr}/metrics"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        metrics.lines().any(|l| l == series).then_some(())
    })
    .await;
}

/// Runs `utizmon-server alert-rules ...`; returns exit code, stdout, stderr.
fn alert_rules(args: &[&str]) -> (i32, String, String) {
    let output = std::process::Command::new(binary("utizmon-server"))
        .arg("alert-rules")
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn bad_rules_files_give_line_numbered_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (code, defaults, _) = alert_rules(&["defaults"]);
    assert_eq!(code, 0);
    let good = dir.path().join("defaults.yml");
    std::fs::write(&good, &defaults).unwrap();
    let (code, out, err) = alert_rules(&["check", good.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("7 rules ok: HostDown, CpuHigh, MemoryHigh, DiskAlmostFull, DiskFillingUp, LoadHigh, SwapHigh"), "{out}");

    for (name, text, line, words) in [
        (
            "metric.yml",
            "rules:\n  - alert: A\n    metric: cpu_percent\n    above: 1\n",
            3,
            "unknown metric \"cpu_percent\"",
        ),
        (
            "duration.yml",
            "rules:\n  - alert: A\n    metric: cpu_usage_ratio\n    above: 1\n    for: 5 parsecs\n",
            5,
            "bad duration \"5 parsecs\"",
        ),
        (
            "yaml.yml",
            "rules:\n  - alert: A\n    metric: host_down\n   severity: x\n",
            4,
            "did not find expected '-' indicator",
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let (code, out, err) = alert_rules(&["check", path.to_str().unwrap()]);
        assert_eq!(code, 1, "{name}: {out} {err}");
        let prefix = format!("utizmon-server: alert rules {}:{line}: ", path.display());
        assert!(
            err.lines()
                .any(|l| l.starts_with(&prefix) && l.contains(words)),
            "{name}: {err}"
        );
        // The server refuses to start on the same file, with the same words.
        common::process::assert_startup_error(
            &[
                "--data-dir".as_ref(),
                dir.path().as_os_str(),
                "--alert-rules".as_ref(),
                path.as_os_str(),
            ],
            &prefix,
        )
        .await;
    }
}

/// The real Alertmanager on 127.0.0.1 with its own config and storage; killed on drop.
async fn alertmanager(dir: &Path) -> (Proc, SocketAddr) {
    let exe = Path::new("/usr/bin/prometheus-alertmanager");
    assert!(
        exe.exists(),
        "prometheus-alertmanager is missing: run make deps"
    );
    let config = dir.join("alertmanager.yml");
    std::fs::write(
        &config,
        "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n",
    )
    .unwrap();
    // Alertmanager takes a port, not a listener: find a free one.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let child = tokio::process::Command::new(exe)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.path={}", dir.join("am-data").display()))
        .arg(format!("--web.listen-address={addr}"))
        .arg("--cluster.listen-address=")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let am = Proc { child };
    common::wait_for("alertmanager to be ready", || async {
        let ready = reqwest::get(format!("http://{addr}/-/ready")).await.ok()?;
        ready.status().is_success().then_some(())
    })
    .await;
    (am, addr)
}

#[tokio::test]
async fn the_real_alertmanager_lists_the_alert_and_its_end() {
    let data = tempfile::tempdir().unwrap();
    let (_am, am_addr) = alertmanager(data.path()).await;
    let rules = rules_file(
        data.path(),
        "rules:\n  - alert: CoreBusy\n    metric: cpu_core_usage_ratio\n    above: 0.4\n    severity: critical\n",
    );
    let (_server, addr) = start_server(
        "127.0.0.1:0",
        data.path(),
        &[
            "--alert-rules",
            &rules,
            "--alertmanager-url",
            &format!("http://{am_addr}"),
        ],
    )
    .await;
    let mut edge = ScriptedEdge::connect(addr, "web-1", "run-1").await;
    edge.cpu(0.9).await; // Core 0 is at 0.5 in every test sample.
    let listed = common::wait_for("alertmanager to list the alert", || async {
        let alerts = get_json(am_addr, "/api/v2/alerts").await;
        (alerts.as_array()?.len() == 1).then_some(alerts)
    })
    .await;
    let alert = &listed[0];
    assert_eq!(alert["labels"]["alertname"], "CoreBusy");
    assert_eq!(alert["labels"]["host"], "web-1");
    assert_eq!(alert["labels"]["core"], "0");
    assert_eq!(alert["labels"]["severity"], "critical");
    assert_eq!(alert["status"]["state"], "active");
    assert_eq!(
        alert["generatorURL"],
        format!("http://{addr}/hosts/web-1").as_str()
    );
    assert!(alert["annotations"]["description"]
        .as_str()
        .unwrap()
        .contains("above the threshold"));
    // Core 0 drops: Alertmanager is told it ended and stops listing it.
    let mut quiet = sample(edge.seq + 1);
    quiet.cpu.cores = vec![0.1, 0.0];
    edge.seq += 1;
    send_text(&mut edge.ws, encode(&EdgeFrame::Sample(quiet))).await;
    expect_ack(&mut edge.ws, edge.seq).await;
    common::wait_for("alertmanager to drop the resolved alert", || async {
        let alerts = get_json(am_addr, "/api/v2/alerts").await;
        alerts.as_array()?.is_empty().then_some(())
    })
    .await;
}
