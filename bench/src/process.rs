//! Starts the processes a benchmark measures and makes sure they die with it.
//!
//! Every child is killed by its own PID when its handle drops, so an early error in a
//! scenario never leaves a server or a simulated fleet running.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A child process that is killed when dropped.
pub struct Proc {
    child: Child,
    pub pid: u32,
}

impl Proc {
    /// Spawns `program args...` with stdout and stderr discarded.
    pub fn spawn(program: &Path, args: &[&str]) -> anyhow::Result<Proc> {
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        let pid = child.id().context("child exited at once")?;
        Ok(Proc { child, pid })
    }

    /// Waits up to `limit` for the process to exit by itself: true if it did, false if it
    /// had to be killed.
    pub async fn wait_exit(mut self, limit: Duration) -> anyhow::Result<bool> {
        match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(result) => {
                result.context("waiting for the child")?;
                Ok(true)
            }
            Err(_) => {
                self.child.kill().await.ok();
                Ok(false)
            }
        }
    }

    /// Asks the process to stop with SIGTERM and waits up to `grace` for it.
    pub async fn terminate(mut self, grace: Duration) -> anyhow::Result<()> {
        // Only this PID, which we started and still own (it has not been reaped).
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .context("running kill")?;
        if !status.success() {
            bail!("kill -TERM {} failed", self.pid);
        }
        match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(result) => {
                result.context("waiting for the child")?;
                Ok(())
            }
            Err(_) => {
                self.child.kill().await.ok();
                bail!("pid {} did not stop within {grace:?}", self.pid)
            }
        }
    }
}

/// Starts `utizmon-server` on an ephemeral loopback port and returns it with its address,
/// read from the first stdout line (`listening on ADDR`).
pub async fn start_server(
    bin_dir: &Path,
    data_dir: &Path,
    extra: &[&str],
) -> anyhow::Result<(Proc, SocketAddr)> {
    let data_dir = data_dir
        .to_str()
        .with_context(|| format!("{} is not UTF-8", data_dir.display()))?;
    let mut args = vec!["--data-dir", data_dir];
    args.extend_from_slice(extra);
    start_listening(&bin_dir.join("utizmon-server"), &args).await
}

/// Starts `program --listen 127.0.0.1:0 args...`, a server that prints `listening on ADDR`
/// as its first stdout line (`utizmon-server`, `utizmon-ack-floor`), and returns it with
/// that address.
pub async fn start_listening(program: &Path, args: &[&str]) -> anyhow::Result<(Proc, SocketAddr)> {
    let mut child = Command::new(program)
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", program.display()))?;
    let pid = child.id().context("server exited at once")?;
    let stdout = child.stdout.take().context("server stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .context("server did not print its address within 10 s")??
        .context("server closed stdout")?;
    let addr = first
        .strip_prefix("listening on ")
        .with_context(|| format!("unexpected first line {first:?}"))?
        .trim()
        .parse()
        .context("parsing the server address")?;
    // Keep draining stdout so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((Proc { child, pid }, addr))
}

/// A free loopback port: bind port 0, read it, release it.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// An empty directory under `target/bench/` for one scenario's history database.
pub fn scratch_dir(name: &str) -> anyhow::Result<std::path::PathBuf> {
    let dir = std::path::PathBuf::from("target/bench").join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// Starts one real `utizmon-edge` sampling this machine every second as `host_name`.
pub fn start_edge(bin_dir: &Path, addr: SocketAddr, host_name: &str) -> anyhow::Result<Proc> {
    let master = format!("ws://{addr}/ws/edge");
    Proc::spawn(
        &bin_dir.join("utizmon-edge"),
        &[
            "--master",
            &master,
            "--interval",
            "1s",
            "--host-name",
            host_name,
        ],
    )
}

/// Starts `utizmon-edge --simulate n` against the server at `addr` and waits (up to two
/// minutes) until all `n` simulated hosts are online there.
pub async fn start_fleet(
    bin_dir: &Path,
    addr: SocketAddr,
    n: usize,
    interval: &str,
    prefix: &str,
) -> anyhow::Result<Proc> {
    let fleet = spawn_fleet(bin_dir, addr, n, interval, prefix)?;
    crate::fleet::wait_online(addr, n, Duration::from_secs(120)).await?;
    Ok(fleet)
}

/// Starts one simulator process of `n` edges without waiting for them to come online.
pub fn spawn_fleet(
    bin_dir: &Path,
    addr: SocketAddr,
    n: usize,
    interval: &str,
    prefix: &str,
) -> anyhow::Result<Proc> {
    let master = format!("ws://{addr}/ws/edge");
    let n_text = n.to_string();
    let fleet = Proc::spawn(
        &bin_dir.join("utizmon-edge"),
        &[
            "--master",
            &master,
            "--interval",
            interval,
            "--simulate",
            &n_text,
            "--simulate-prefix",
            prefix,
        ],
    )?;
    Ok(fleet)
}
