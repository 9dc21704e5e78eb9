//! History written straight into a store before the server starts: much faster than edges
//! sending it in real time, for tests that need hours of samples or thousands of hosts.

use std::sync::Arc;

use utizmon_protocol::{Filesystem, HostInfo, Network};
use utizmon_store::{Point, Record, Store, StoreConfig};

use super::{hello, sample};

/// A record of `host`'s sample `seq` at `ts_ms`, with `n_lists` filesystems and interfaces.
pub fn record(host: &str, seq: u64, ts_ms: u64, n_lists: usize) -> Record {
    let mut s = sample(seq);
    s.ts_ms = ts_ms;
    s.filesystems = (0..n_lists)
        .map(|i| Filesystem {
            mountpoint: format!("/mnt/disk{i}"),
            fstype: "ext4".into(),
            size_bytes: 1000,
            avail_bytes: 500,
            ..Filesystem::default()
        })
        .collect();
    s.networks = (0..n_lists)
        .map(|i| Network {
            device: format!("eth{i}"),
            rx_bytes: 1,
            tx_bytes: 2,
            ..Network::default()
        })
        .collect();
    let info: HostInfo = hello(host, "r").host;
    Record {
        host: host.into(),
        run_id: "stored-run".into(),
        frame: None,
        info: Some(Arc::new(info)),
        interval_ms: 1000,
        point: Point {
            ts_ms,
            cpu_ratio: 0.25,
            cpu_ratio_min: 0.25,
            cpu_ratio_max: 0.25,
            cores: vec![0.5, 0.0],
            mem_used_bytes: 1.0,
            mem_total_bytes: 2.0,
            n: 1,
            ..Point::default()
        },
        sample: Arc::new(s),
    }
}

/// Writes `records` into a store in `dir` and closes it.
pub async fn fill(dir: &std::path::Path, records: impl Iterator<Item = Record>) {
    let store = Store::open(StoreConfig::new(dir)).unwrap();
    let mut commits = Vec::new();
    for r in records {
        commits.push(store.append(r).await);
        if commits.len() >= 10_000 {
            for c in commits.drain(..) {
                c.await.unwrap().unwrap();
            }
        }
    }
    for c in commits {
        c.await.unwrap().unwrap();
    }
    store.maintain().await.unwrap();
    store.close().await;
}
