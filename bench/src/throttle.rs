//! A process held to a share of the CPU by freezing it (SIGSTOP) for part of every period:
//! a small, known capacity for overload scenarios on a shared machine. Stopping the
//! throttle always leaves the process running.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};

/// Freezes `pid` for `period - run` of every `period` until stopped.
pub struct Throttle {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Throttle {
    pub fn start(pid: u32, period: Duration, run: Duration) -> Throttle {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let frozen = period.saturating_sub(run);
            while !flag.load(Ordering::SeqCst) {
                signal(pid, "-STOP")?;
                tokio::time::sleep(frozen).await;
                signal(pid, "-CONT")?;
                tokio::time::sleep(run).await;
            }
            Ok(())
        });
        Throttle { stop, task }
    }

    /// Ends the cycle with the process running.
    pub async fn stop(self, pid: u32) -> anyhow::Result<()> {
        self.stop.store(true, Ordering::SeqCst);
        let result = self.task.await.context("throttle task")?;
        signal(pid, "-CONT")?;
        result
    }
}

/// Sends `signal` to `pid`, a process this bench started and still owns.
fn signal(pid: u32, signal: &str) -> anyhow::Result<()> {
    let status = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .context("running kill")?;
    if !status.success() {
        bail!("kill {signal} {pid} failed");
    }
    Ok(())
}
