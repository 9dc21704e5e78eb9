//! Long history against a real server on 127.0.0.1: a `step=1` query over hours of raw
//! samples (bounded size). The history is written straight into the store before the
//! server starts, which is much faster than edges sending it in real time.

mod common;

use common::prefill::{fill, record};
use common::{now_ms, TestServer};

/// The replay (`step=1` over 48 h of raw samples returned 307 MB) over 12 h of
/// raw samples, so filling the store stays within a test's time: at most 2,000 points come
/// back, bucketed, and the response is small, for two such queries at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_1_query_over_hours_of_raw_samples_is_capped() {
    let data_dir = tempfile::tempdir().unwrap();
    let now = now_ms();
    let range: u64 = 12 * 3_600_000;
    let n = range / 1000;
    fill(
        data_dir.path(),
        (1..=n).map(|i| record("big", i, now - range + i * 1000, 1)),
    )
    .await;
    let server = TestServer::start_in(data_dir, &[]).await;
    let everything = format!("/api/v1/hosts/big/samples?from=0&to={now}&step=1");
    let from = now - range;
    let hours = format!("/api/v1/hosts/big/samples?from={from}&to={now}&step=1");
    let (a, b, c) = tokio::join!(
        server.get(&everything),
        server.get(&everything),
        server.get(&hours)
    );
    for res in [&a, &b, &c] {
        assert_eq!(res.status, 200, "{}", res.body);
        assert!(res.body.len() < 2 << 20, "{} bytes", res.body.len());
        let body: serde_json::Value = serde_json::from_str(&res.body).unwrap();
        let points = body["points"].as_array().unwrap();
        assert!(
            !points.is_empty() && points.len() <= 2_000,
            "{}",
            points.len()
        );
        let from_ms = body["from_ms"].as_u64().unwrap();
        let to_ms = body["to_ms"].as_u64().unwrap();
        assert!(body["step_ms"].as_u64().unwrap() >= (to_ms - from_ms) / 2_000);
    }
    // Over the hours themselves the cap is reached: about 2,000 buckets of 21.6 s.
    let body: serde_json::Value = serde_json::from_str(&c.body).unwrap();
    assert!(
        body["points"].as_array().unwrap().len() >= 1_900,
        "{}",
        c.body.len()
    );
}

/// Rows in `table` of the database in `dir`, read while the server may be writing.
fn count(dir: &std::path::Path, table: &str) -> i64 {
    let conn = rusqlite::Connection::open(dir.join(utizmon_store::DB_FILE)).unwrap();
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

/// Compaction moves each block in one transaction: a server killed (-9) while it moves
/// hours of head rows into chunks loses nothing and stores nothing twice, and the next
/// run carries on from where the killed one stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_compaction_loses_nothing_and_stores_nothing_twice() {
    let data_dir = tempfile::tempdir().unwrap();
    let dir = data_dir.path();
    let now = now_ms();
    let range: u64 = 2 * 3_600_000;
    let n = range / 1000;
    let hosts = ["compact-1", "compact-2", "compact-3"];
    fill(
        dir,
        hosts
            .iter()
            .flat_map(|h| (1..=n).map(move |i| record(h, i, now - range + i * 1000, 2))),
    )
    .await;
    let chunks_before = count(dir, "chunks");
    assert!(count(dir, "samples") > 0, "work left for the server");

    let (server, _) = common::process::start_server("127.0.0.1:0", dir, &[]).await;
    common::wait_for("compaction under way", || async {
        (count(dir, "chunks") > chunks_before && count(dir, "samples") > 0).then_some(())
    })
    .await;
    server.signal("-KILL");
    drop(server);
    let chunks_at_kill = count(dir, "chunks");
    assert_complete_hosts(dir, &hosts, n);

    let (server, _) = common::process::start_server("127.0.0.1:0", dir, &[]).await;
    common::wait_for("compaction carrying on", || async {
        (count(dir, "chunks") > chunks_at_kill).then_some(())
    })
    .await;
    server.signal("-KILL");
    drop(server);
    assert_complete_hosts(dir, &hosts, n);
}

/// Asserts every host in `hosts` has exactly its samples 1..=n stored (head and chunks),
/// each once.
fn assert_complete_hosts(dir: &std::path::Path, hosts: &[&str], n: u64) {
    let stored = common::stored::stored_seqs(dir);
    let last = common::stored::assert_complete(&stored);
    for host in hosts {
        assert_eq!(last.get(*host), Some(&(n as i64)), "{host}");
    }
}
