//! Real `utizmon-server` and `utizmon-edge` processes for process-level tests: started on
//! 127.0.0.1, addresses read from the server's first stdout line, killed by PID on drop.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::DEADLINE;

/// A child process killed when dropped.
pub struct Proc {
    pub child: Child,
}

impl Proc {
    pub fn pid(&self) -> String {
        self.child.id().expect("child is running").to_string()
    }

    pub fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([signal, &self.pid()])
            .status()
            .unwrap();
        assert!(status.success(), "kill {signal} failed");
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

pub fn binary(name: &str) -> PathBuf {
    let server = PathBuf::from(env!("CARGO_BIN_EXE_utizmon-server"));
    let path = server.with_file_name(name);
    assert!(
        path.exists(),
        "{} is missing: run cargo build --workspace",
        path.display()
    );
    path
}

/// Starts the server and reads its address from the first stdout line.
pub async fn start_server(listen: &str, data_dir: &Path, extra: &[&str]) -> (Proc, SocketAddr) {
    let mut child = Command::new(binary("utizmon-server"))
        .args(["--listen", listen])
        .arg("--data-dir")
        .arg(data_dir)
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(DEADLINE, lines.next_line())
        .await
        .expect("server printed nothing")
        .unwrap()
        .expect("server closed stdout");
    let addr = line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .unwrap();
    (Proc { child }, addr)
}

pub fn start_edge(addr: SocketAddr, interval: &str, host: &str) -> Proc {
    let master = format!("ws://{addr}/ws/edge");
    start_edge_with(&[
        "--master",
        &master,
        "--interval",
        interval,
        "--host-name",
        host,
    ])
}

/// Starts the edge with exactly `args`.
pub fn start_edge_with(args: &[&str]) -> Proc {
    let child = Command::new(binary("utizmon-edge"))
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    Proc { child }
}

/// Runs the server with `flags` expecting it to refuse to start: non-zero exit, nothing on
/// stdout (it never listened). Returns its stderr, which must say `words`.
pub async fn assert_startup_error(flags: &[&std::ffi::OsStr], words: &str) {
    let output = Command::new(binary("utizmon-server"))
        .args(["--listen", "127.0.0.1:0"])
        .args(flags)
        .output()
        .await
        .unwrap();
    assert!(
        !output.status.success(),
        "the server started with {flags:?}"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(words), "expected {words:?} in: {stderr}");
    assert!(output.stdout.is_empty(), "must fail before listening");
}
