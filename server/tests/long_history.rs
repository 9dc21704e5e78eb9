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

/// Rows in `table` of the database in `dir` (or the count a `SELECT` gives), read while
/// the server may be writing.
fn count(dir: &std::path::Path, table: &str) -> i64 {
    let conn = rusqlite::Connection::open(dir.join(utizmon_store::DB_FILE)).unwrap();
    let sql = if table.starts_with("SELECT") {
        table.to_owned()
    } else {
        format!("SELECT count(*) FROM {table}")
    };
    conn.query_row(&sql, [], |r| r.get(0)).unwrap()
}

/// Compaction writes each chunk in one transaction and sweeps the head rows it holds
/// later: a server killed (-9) while it moves hours of head rows into chunks loses nothing
/// and stores nothing twice (a head row its chunk also holds, not swept yet, is the same
/// sample and counts once, as every read takes it), and the next run carries on from where
/// the killed one stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_compaction_loses_nothing_and_stores_nothing_twice() {
    let data_dir = tempfile::tempdir().unwrap();
    let dir = data_dir.path();
    let now = now_ms();
    let hosts = ["compact-1", "compact-2", "compact-3"];
    let n = fill_backlog(dir, &hosts, now).await;
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

/// Compaction runs on a thread of its own beside the commits: a server killed (-9) while
/// real edges stream to it and it moves a backlog of blocks into chunks loses no sample and
/// stores none twice, and after the restart both go on (the edges replay what was not
/// acknowledged, compaction carries on).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_edges_stream_during_compaction_loses_nothing() {
    let data_dir = tempfile::tempdir().unwrap();
    let dir = data_dir.path();
    let now = now_ms();
    let backlog = ["backlog-1", "backlog-2", "backlog-3", "backlog-4"];
    let n = fill_backlog(dir, &backlog, now).await;
    let chunks_before = count(dir, "chunks");
    let live_rows = || {
        count(
            dir,
            "SELECT count(*) FROM samples s JOIN hosts h ON h.id = s.host_id
             WHERE h.name LIKE 'live-%'",
        )
    };

    let (server, addr) = common::process::start_server("127.0.0.1:0", dir, &[]).await;
    let names = ["live-1", "live-2", "live-3"];
    let edges: Vec<_> = names
        .iter()
        .map(|h| common::process::start_edge(addr, "100ms", h))
        .collect();
    common::wait_for("edges streaming while compaction runs", || async {
        (count(dir, "chunks") > chunks_before && live_rows() >= 10).then_some(())
    })
    .await;
    server.signal("-KILL");
    drop(server);
    let chunks_at_kill = count(dir, "chunks");
    let rows_at_kill = live_rows();

    let (server, _) = common::process::start_server(&addr.to_string(), dir, &[]).await;
    common::wait_for("edges and compaction carrying on", || async {
        (count(dir, "chunks") > chunks_at_kill && live_rows() > rows_at_kill + 10).then_some(())
    })
    .await;
    for edge in &edges {
        edge.signal("-TERM"); // Flushes, waits for acks, exits.
    }
    for mut edge in edges {
        let status = tokio::time::timeout(common::DEADLINE, edge.child.wait()).await;
        assert!(
            matches!(status, Ok(Ok(s)) if s.success()),
            "edge exit: {status:?}"
        );
    }
    server.signal("-KILL");
    drop(server);
    assert_complete_hosts(dir, &backlog, n);
    let last = common::stored::assert_complete(&common::stored::stored_seqs(dir));
    for name in names {
        assert!(last.get(name).is_some_and(|&n| n > 0), "{name}: {last:?}");
    }
}

/// Stores two hours of samples (1 s apart, ending at `now`) of each of `hosts`, most of
/// them in blocks due for compaction; returns how many each has.
async fn fill_backlog(dir: &std::path::Path, hosts: &[&str], now: u64) -> u64 {
    let range: u64 = 2 * 3_600_000;
    let n = range / 1000;
    fill(
        dir,
        hosts
            .iter()
            .flat_map(|h| (1..=n).map(move |i| record(h, i, now - range + i * 1000, 2))),
    )
    .await;
    n
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
