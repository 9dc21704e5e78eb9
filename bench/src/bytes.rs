//! Bytes per value of history: a real server takes a stream (simulated edges, or this
//! machine's own edge) for a window; then every sample is moved into compressed chunks
//! (the store opened with a clock past the window, so every block is due) and the bytes
//! the history needs are divided by the numeric values the samples carried.
//!
//! "Bytes the history needs" is the growth of the vacuumed database over the same
//! database emptied of history (head, chunks, rollups): what the steady state adds per
//! value once the head's pages are reused, without waiting the 11 minutes a live block
//! takes to be compacted. Short windows cut blocks short, which compresses worse, so the
//! figure is an upper bound of the steady state.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::Value;
use utizmon_store::{Store, StoreConfig, DB_FILE};

use crate::fleet::row;
use crate::process::{scratch_dir, start_edge, start_fleet, start_server};
use crate::{Config, Row};

/// What one stream cost.
pub(crate) struct Measured {
    pub samples: u64,
    pub values: u64,
    pub bytes: u64,
    pub chunk_bytes: u64,
}

/// Bytes per value of the simulator's stream (`config.bytes_edges` edges, over
/// `config.bytes_duration`) and of this machine's own edge (over `config.bytes_real_duration`).
pub async fn bytes_per_value(config: &Config) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    let scenario = "history bytes per value";
    for simulated in [true, false] {
        let name = if simulated { "bytes-sim" } else { "bytes-real" };
        let data = scratch_dir(name)?;
        let (server, addr) = start_server(&config.bin_dir, &data, &[]).await?;
        let edges = if simulated {
            start_fleet(&config.bin_dir, addr, config.bytes_edges, "1s", "bytes").await?
        } else {
            start_edge(&config.bin_dir, addr, "bench-real")?
        };
        let window = if simulated {
            config.bytes_duration
        } else {
            config.bytes_real_duration
        };
        eprintln!("bench: {name}: taking samples for {window:?}");
        tokio::time::sleep(window).await;
        edges.terminate(Duration::from_secs(20)).await.ok();
        server.terminate(Duration::from_secs(20)).await.ok();
        let m = measure(&data).await?;
        let what = if simulated {
            format!("{} simulated edges", config.bytes_edges)
        } else {
            "this machine's edge".to_owned()
        };
        rows.push(row(
            scenario,
            &what,
            format!(
                "{:.2} B/value ({} samples, {:.1} values/sample; chunk payload {:.2} B/value)",
                m.bytes as f64 / m.values.max(1) as f64,
                m.samples,
                m.values as f64 / m.samples.max(1) as f64,
                m.chunk_bytes as f64 / m.values.max(1) as f64,
            ),
            if simulated {
                "≤ 1 B/value"
            } else {
                "≤ 0.5 B/value"
            },
        ));
    }
    Ok(rows)
}

/// Compacts everything, counts the values the chunks hold and measures the history's bytes.
pub(crate) async fn measure(data: &Path) -> anyhow::Result<Measured> {
    let db = data.join(DB_FILE);
    let conn =
        rusqlite::Connection::open(&db).with_context(|| format!("opening {}", db.display()))?;
    // Every block is due a day later; retention must keep everything.
    let mut store_config = StoreConfig::new(data);
    let later = utizmon_protocol::now_ms() + 24 * 3_600_000;
    store_config.clock = Arc::new(move || later);
    store_config.raw_retention = Duration::from_secs(365 * 86_400);
    store_config.rollup_retention = Duration::from_secs(365 * 86_400);
    let store = Store::open(store_config)?;
    let mut head = i64::MAX;
    for _ in 0..10_000 {
        store.maintain().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        head = conn.query_row("SELECT count(*) FROM samples", [], |r| r.get(0))?;
        if head == 0 {
            break;
        }
    }
    if head != 0 {
        bail!("{head} head rows were still not compacted after 10,000 maintenance calls");
    }
    store.close().await;
    drop(store);
    // Counted once everything is in chunks: until the sweep deletes a block's head rows, a
    // sample the server already compacted is in both forms, and counting the head beside
    // the chunks would take it twice (and flatter the bytes per value).
    let (mut samples, mut values, mut chunk_bytes) = (0u64, 0u64, 0u64);
    {
        let mut stmt = conn.prepare("SELECT body FROM chunks")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let body: Vec<u8> = r.get(0)?;
            chunk_bytes += body.len() as u64;
            for stored in utizmon_store::decode_chunk(&body).context("a chunk does not decode")? {
                samples += 1;
                values += numeric_leaves(&serde_json::to_value(&stored.sample)?);
            }
        }
    }
    let size = |conn: &rusqlite::Connection| -> anyhow::Result<u64> {
        // VACUUM writes the rebuilt file through the WAL: checkpoint after it.
        conn.execute_batch("VACUUM; PRAGMA wal_checkpoint(TRUNCATE);")?;
        Ok(std::fs::metadata(&db)?.len())
    };
    let full = size(&conn)?;
    conn.execute_batch(
        "DELETE FROM samples; DELETE FROM chunks; DELETE FROM chunk_runs; DELETE FROM rollups;",
    )?;
    let empty = size(&conn)?;
    Ok(Measured {
        samples,
        values,
        bytes: full.saturating_sub(empty),
        chunk_bytes,
    })
}

/// How many numbers a sample carries (every numeric leaf, `seq` and `ts_ms` included).
pub(crate) fn numeric_leaves(value: &Value) -> u64 {
    match value {
        Value::Number(_) => 1,
        Value::Array(items) => items.iter().map(numeric_leaves).sum(),
        Value::Object(map) => map.values().map(numeric_leaves).sum(),
        _ => 0,
    }
}
