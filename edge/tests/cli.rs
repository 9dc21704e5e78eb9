//! The `utizmon-edge` binary as a user runs it: `--once`, start-up errors, `--simulate`,
//! and SIGTERM, against a small WebSocket master on 127.0.0.1.

mod support;

use std::collections::BTreeSet;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use tokio::time::Instant;
use utizmon_protocol::{decode_edge, EdgeFrame};

use support::{accept, bind, master_url, DEADLINE};

const EDGE: &str = env!("CARGO_BIN_EXE_utizmon-edge");

/// A child process killed (SIGKILL) if the test ends before it exits.
struct Proc(Child);

impl Proc {
    fn spawn(args: &[&str]) -> Proc {
        let child = Command::new(EDGE)
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        Proc(child)
    }

    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits (polling, bounded) for the exit code.
    async fn wait(&mut self) -> Option<i32> {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "the edge exits within the deadline"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run(args: &[&str]) -> Output {
    Command::new(EDGE).args(args).output().unwrap()
}

fn mem_total_bytes() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let line = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

#[test]
fn once_prints_a_hello_and_a_sample_that_decode() {
    let out = run(&["--once", "--host-name", "once-test"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let hello = decode_edge(&value["hello"].to_string()).unwrap();
    let EdgeFrame::Hello(hello) = hello else {
        panic!("not a hello: {hello:?}")
    };
    assert_eq!(hello.host.host_name, "once-test");
    assert!(!hello.host.kernel.is_empty());
    let sample = decode_edge(&value["sample"].to_string()).unwrap();
    let EdgeFrame::Sample(sample) = sample else {
        panic!("not a sample: {sample:?}")
    };
    assert_eq!(sample.seq, 1);
    assert!((0.0..=1.0).contains(&sample.cpu.usage_ratio));
    assert_eq!(sample.cpu.cores.len(), hello.host.cores as usize);
    assert_eq!(sample.memory.total_bytes, mem_total_bytes());
    assert!(sample.filesystems.iter().any(|fs| fs.mountpoint == "/"));
    assert!(sample.networks.iter().any(|n| n.device == "lo"));
}

#[test]
fn unusable_token_files_fail_at_start() {
    let path = std::env::temp_dir().join(format!("utizmon-edge-cli-token-{}", std::process::id()));
    std::fs::write(&path, "\n  \n").unwrap();
    let out = run(&["--token-file", path.to_str().unwrap()]);
    std::fs::remove_file(&path).unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("error: --token-file ") && l.ends_with(" is empty")),
        "{stderr}"
    );

    let out = run(&["--token-file", "/nonexistent/utizmon-token"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("error: reading --token-file /nonexistent/utizmon-token: ")),
        "{stderr}"
    );
}

#[test]
fn env_variables_configure_the_edge() {
    let out = Command::new(EDGE)
        .args(["--once"])
        .env("UTIZMON_HOST_NAME", "from-env")
        .output()
        .unwrap();
    assert!(out.status.success());
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value["hello"]["host"]["host_name"], "from-env");
    // An empty variable (`KEY=` in an EnvironmentFile) means "use the default".
    let out = Command::new(EDGE)
        .args(["--once"])
        .env("UTIZMON_HOST_NAME", "")
        .env("UTIZMON_TOKEN_FILE", "")
        .env("UTIZMON_BUFFER", "")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(EDGE)
        .env("UTIZMON_INTERVAL", "5ms")
        .output()
        .unwrap();
    assert!(!out.status.success(), "an interval below 100ms is refused");
}

#[tokio::test]
async fn simulate_opens_one_connection_per_edge_with_distinct_names() {
    let (listener, addr) = bind().await;
    let master = master_url(addr);
    let mut edge = Proc::spawn(&[
        "--master",
        &master,
        "--interval",
        "200ms",
        "--simulate",
        "3",
    ]);
    let mut names = BTreeSet::new();
    let mut run_ids = BTreeSet::new();
    let mut conns = Vec::new();
    for _ in 0..3 {
        let mut conn = accept(&listener).await;
        let hello = conn.hello().await;
        assert_eq!(hello.interval_ms, 200);
        names.insert(hello.host.host_name);
        run_ids.insert(hello.run_id);
        conns.push(conn);
    }
    let expected: BTreeSet<String> = ["sim-0001", "sim-0002", "sim-0003"]
        .map(String::from)
        .into();
    assert_eq!(names, expected);
    assert_eq!(run_ids.len(), 3, "each simulated edge has its own run id");
    for conn in &mut conns {
        let first = conn.sample().await;
        assert_eq!(first.seq, 1);
        assert!(first.memory.used_bytes <= first.memory.total_bytes);
        let second = conn.sample().await;
        assert_eq!(second.seq, 2);
        conn.ack(second.seq).await;
    }

    edge.terminate();
    for conn in &mut conns {
        let (code, _) = conn.until_close().await;
        assert_eq!(code, 1001);
    }
    assert_eq!(edge.wait().await, Some(0));
}

#[tokio::test]
async fn sigterm_flushes_closes_and_exits_zero() {
    let (listener, addr) = bind().await;
    let master = master_url(addr);
    let mut edge = Proc::spawn(&[
        "--master",
        &master,
        "--interval",
        "100ms",
        "--host-name",
        "term",
    ]);
    let mut conn = accept(&listener).await;
    conn.hello().await;
    let first = conn.sample().await;
    edge.terminate();
    conn.ack(first.seq).await;
    // The edge sends what it holds, waits for the acks (which until_close gives), closes.
    let (code, reason) = conn.until_close().await;
    assert_eq!((code, reason.as_str()), (1001, "edge shutting down"));
    assert_eq!(edge.wait().await, Some(0));
}

/// A hostile master floods the edge with error frames, junk frames and evil close reasons
/// over many quick reconnects: the edge logs at most a few lines of each kind, with the
/// master's text escaped and cut, and keeps running.
#[tokio::test]
async fn a_hostile_master_cannot_flood_the_edge_log() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    use utizmon_protocol::{encode, ErrorFrame, ServerFrame};

    let (listener, addr) = bind().await;
    let master = master_url(addr);
    let mut child = Command::new(EDGE)
        .args([
            "--master",
            &master,
            "--interval",
            "100ms",
            "--host-name",
            "victim",
        ])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut text).unwrap();
        text
    });
    let mut edge = Proc(child);
    let evil = format!("x\nINFO forged line \u{1b}[31m{}", "A".repeat(5000));
    let error = encode(&ServerFrame::Error(ErrorFrame {
        code: evil.clone(),
        message: evil.clone(),
    }));
    let junk = format!(
        "{{\"type\":\"{}\"}}",
        evil.replace('\n', "\\n").replace('\u{1b}', "\\u001b")
    );
    let mut connections = 0;
    let flood_until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < flood_until {
        let mut conn = accept(&listener).await;
        conn.hello().await;
        connections += 1;
        // An ack makes the connection look healthy, so the edge reconnects without backing off.
        conn.ack(0).await;
        for _ in 0..200 {
            conn.ws.feed(Message::text(error.clone())).await.unwrap();
            conn.ws.feed(Message::text(junk.clone())).await.unwrap();
        }
        conn.ws.flush().await.unwrap();
        conn.close(4000, "evil\nreason \u{1b}[2J").await;
    }
    assert!(connections >= 3, "only {connections} connections");
    edge.terminate();
    let _ = accept_and_close(&listener).await;
    assert_eq!(edge.wait().await, Some(0));
    let text = log.join().unwrap();
    let count = |what: &str| text.lines().filter(|l| l.contains(what)).count();
    let limit = 5;
    for what in [
        "master reported an error",
        "unexpected frame from the master",
        "master closed the connection",
        "connected to the master",
        "disconnected",
    ] {
        let n = count(what);
        assert!(n >= 1 && n <= limit, "{n} lines of {what:?}:\n{text}");
    }
    // 400 frames per connection arrived; at most a handful of lines in all.
    assert!(
        text.lines().count() <= 40,
        "{} lines:\n{text}",
        text.lines().count()
    );
    // No forged line, no terminal escape, no 5000-byte field.
    assert!(
        !text.lines().any(|l| l.starts_with("INFO forged")),
        "{text}"
    );
    assert!(!text.contains('\u{1b}'), "{text}");
    assert!(text.lines().all(|l| l.len() < 2000), "{text}");
    assert!(
        text.contains("x\\nINFO forged line \\u{1b}[31mAAA"),
        "{text}"
    );
    assert!(text.contains("more bytes)"), "{text}");
}

/// Accepts one more connection (the edge reconnecting during shutdown) if it comes soon.
async fn accept_and_close(listener: &tokio::net::TcpListener) -> Option<()> {
    let (stream, _) = tokio::time::timeout(Duration::from_millis(500), listener.accept())
        .await
        .ok()?
        .ok()?;
    drop(stream);
    Some(())
}
