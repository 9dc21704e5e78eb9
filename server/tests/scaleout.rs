//! Beyond one master and one edge process: the edge's `--buffer-dir` survives a `kill -9`
//! while the master is down, and `--master A,B` fails over without a gap. Real server and
//! edge binaries on 127.0.0.1; what each server stored is read back from its SQLite file.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use common::process::*;
use common::stored::*;
use common::*;

/// A free port on 127.0.0.1 where nothing listens (yet).
async fn free_addr() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

/// Run ids in a buffer directory and how many records their segment files hold, read
/// with the documented record layout (`len: u32 LE`, 20 more header bytes, the frame).
fn buffered(dir: &Path) -> Vec<(String, u64)> {
    let mut runs = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let Some(run) = name.strip_suffix(".hello") else {
            continue;
        };
        let mut records = 0;
        for segment in std::fs::read_dir(dir).unwrap() {
            let segment = segment.unwrap();
            let file = segment.file_name().into_string().unwrap();
            if !(file.starts_with(&format!("{run}-")) && file.ends_with(".seg")) {
                continue;
            }
            let bytes = std::fs::read(segment.path()).unwrap();
            let mut at = 0;
            while at + 24 <= bytes.len() {
                let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
                at += 24 + len;
                records += 1;
            }
        }
        runs.push((run.to_owned(), records));
    }
    runs
}

async fn wait_exit(proc: &mut Proc) {
    let _ = tokio::time::timeout(DEADLINE, proc.child.wait()).await;
}

#[tokio::test]
async fn buffer_dir_keeps_samples_across_an_edge_crash_while_the_master_is_down() {
    let addr = free_addr().await;
    let buffer = tempfile::tempdir().unwrap();
    let master = format!("ws://{addr}/ws/edge");
    let dir = buffer.path().to_str().unwrap();
    let args = [
        "--master",
        &master,
        "--interval",
        "100ms",
        "--host-name",
        "crashy",
        "--buffer-dir",
        dir,
    ];

    // The master is down; the edge samples for 4 s (40 samples), then dies by SIGKILL.
    let mut edge = start_edge_with(&args);
    tokio::time::sleep(Duration::from_secs(4)).await;
    edge.signal("-KILL");
    wait_exit(&mut edge).await;
    let first = buffered(buffer.path());
    assert_eq!(first.len(), 1, "one run in the buffer: {first:?}");
    let (first_run, first_n) = first[0].clone();
    assert!(first_n >= 30, "only {first_n} samples buffered in 4 s");

    // Restarted, still no master for a second, then the master comes up.
    let mut edge = start_edge_with(&args);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let data = tempfile::tempdir().unwrap();
    let (mut server, _) = start_server(&addr.to_string(), data.path(), &[]).await;

    // Every sample of the first run arrives, once each, before the second run's.
    let seqs = wait_for("the first run replayed", || async {
        let seqs = stored_seqs(data.path());
        let first = seqs.get(&("crashy".to_owned(), first_run.clone()))?;
        let second = seqs
            .iter()
            .find(|((h, r), _)| h == "crashy" && *r != first_run)?;
        (first.len() as u64 == first_n && second.1.len() >= 10).then_some(seqs)
    })
    .await;
    assert_complete(&seqs);
    assert_eq!(seqs.len(), 2, "two runs stored: {:?}", seqs.keys());
    // The first run is acknowledged and gone from the disk.
    wait_for("the first run's files deleted", || async {
        (!buffer.path().join(format!("{first_run}.hello")).exists()).then_some(())
    })
    .await;

    edge.signal("-TERM");
    wait_exit(&mut edge).await;
    server.signal("-TERM");
    wait_exit(&mut server).await;
}

#[tokio::test]
async fn edge_fails_over_to_the_next_master_without_a_gap() {
    let (data_a, data_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (mut a, addr_a) = start_server("127.0.0.1:0", data_a.path(), &[]).await;
    let (mut b, addr_b) = start_server("127.0.0.1:0", data_b.path(), &[]).await;
    let masters = format!("ws://{addr_a}/ws/edge,ws://{addr_b}/ws/edge");
    let mut edge = start_edge_with(&[
        "--master",
        &masters,
        "--interval",
        "100ms",
        "--host-name",
        "mover",
    ]);

    // The first master answers, so the edge streams there.
    let run = wait_for("samples on the first master", || async {
        let seqs = stored_seqs(data_a.path());
        let ((_, run), list) = seqs.into_iter().find(|((h, _), _)| h == "mover")?;
        (list.len() >= 10).then_some(run)
    })
    .await;
    assert!(stored_seqs(data_b.path()).is_empty());

    // It dies hard; the edge moves to the second one and replays what was not acked.
    a.signal("-KILL");
    wait_exit(&mut a).await;
    wait_for("samples on the second master", || async {
        let seqs = stored_seqs(data_b.path());
        seqs.get(&("mover".to_owned(), run.clone()))
            .is_some_and(|l| l.len() >= 20)
            .then_some(())
    })
    .await;
    edge.signal("-TERM");
    wait_exit(&mut edge).await;
    b.signal("-TERM");
    wait_exit(&mut b).await;

    let all = seqs_across(&[data_a.path(), data_b.path()], "mover", &run);
    let n = all.len() as i64;
    assert_eq!(
        all,
        (1..=n).collect::<Vec<_>>(),
        "a gap between the two masters"
    );
    assert!(n >= 25, "only {n} samples in all");
}
