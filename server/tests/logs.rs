//! What the binaries write to a log that is not a terminal (journald, a file, a pipe): plain
//! text lines, no ANSI colour escapes that would show up as `#033[2m` in `journalctl`.

mod common;

use std::process::Stdio;

use common::process::binary;
use common::DEADLINE;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

/// Starts `name` with `args` and info logging into a pipe, stops it with SIGTERM once it has
/// logged `wait_for` (or after the deadline), and returns everything it wrote to stderr.
async fn stderr_of(name: &str, args: &[&str], wait_for: &str) -> String {
    let mut child = Command::new(binary(name))
        .args(args)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let _ = tokio::time::timeout(DEADLINE, async {
        let mut line = String::new();
        while stderr.read_line(&mut line).await.unwrap_or(0) > 0 {
            seen.push_str(&line);
            if line.contains(wait_for) {
                break;
            }
            line.clear();
        }
    })
    .await;
    let pid = child.id().expect("still running").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let _ = tokio::time::timeout(DEADLINE, stderr.read_to_string(&mut seen)).await;
    let _ = tokio::time::timeout(DEADLINE, child.wait()).await;
    seen
}

fn assert_plain(who: &str, log: &str) {
    assert!(!log.trim().is_empty(), "{who} logged nothing at info");
    assert!(
        !log.contains('\u{1b}'),
        "{who} wrote ANSI escapes into a pipe:\n{log}"
    );
}

#[tokio::test]
async fn server_logs_plain_text_into_a_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let log = stderr_of(
        "utizmon-server",
        &["--listen", "127.0.0.1:0", "--data-dir", data],
        "INFO",
    )
    .await;
    assert_plain("utizmon-server", &log);
}

#[tokio::test]
async fn edge_logs_plain_text_into_a_pipe() {
    // Nobody listens on this port: the edge logs its failed connection attempts.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let master = format!("ws://127.0.0.1:{port}/ws/edge");
    let log = stderr_of(
        "utizmon-edge",
        &["--master", &master, "--host-name", "plain-log"],
        "WARN",
    )
    .await;
    assert_plain("utizmon-edge", &log);
}
