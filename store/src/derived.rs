//! Leaves a chunk does not store because they follow from other leaves of the same chunk,
//! and how every reader gets them back.
//!
//! - **Network rates** (`rates`): the server derives a sample's rates from its previous
//!   sample's counters, and within a chunk that sample is the row before. A row keeps its
//!   rates only where they differ from what the row before gives: the first row of a
//!   chunk, the first sample after a server restart (the server had no previous sample and
//!   stored none), a late sample the server rated against a newer one.
//! - **`memory.available_bytes`**: the protocol defines `used_bytes` as `MemTotal -
//!   MemAvailable`, so it is `total_bytes - used_bytes`; kept only where it is not.
//!
//! On the bench's steady-state stream of simulated hosts these were 0.16 and 0.10 bytes per
//! value of a 0.90 B/value chunk. [`strip`] runs at compaction on the JSON rows just
//! before they are encoded; [`fill`] runs on every chunk read, on the decoded columns,
//! before anything else looks at them, so readers see the leaves as if they were stored.
//! Both do the same arithmetic on the same exact integers (counters and times are stored
//! exactly), so `fill` gives back what `strip` checked: a rate to within the codec's
//! precision for rates (1e-2 bytes/s), `available_bytes` exactly. Chunks written before
//! this keep every leaf and read as before.

use std::collections::HashMap;

use serde_json::Value;

use crate::codec::{self, Column};
use crate::point::NetRate;

const RATES: &str = "rates";
/// Paths of one interface's rates in a chunk row, for their stored precision.
pub(crate) const RX_RATE: &str = "rates.0.rx_bytes_per_second";
pub(crate) const TX_RATE: &str = "rates.0.tx_bytes_per_second";
const TS: &str = "sample.ts_ms";
const NETWORKS: &str = "sample.networks.";
const MEM_TOTAL: &str = "sample.memory.total_bytes";
const MEM_USED: &str = "sample.memory.used_bytes";
const MEM_AVAILABLE: &str = "sample.memory.available_bytes";

/// Byte counters of one interface in one sample.
#[derive(Debug, Clone, Default, PartialEq)]
struct Counters {
    device: String,
    rx: u64,
    tx: u64,
}

/// The rates the server computes between two samples of one host (`Rates::between` in the
/// server): none when time did not advance; per interface present in both, none for one
/// whose counter went backwards (a reset).
fn derive(prev: (u64, &[Counters]), cur: (u64, &[Counters])) -> Vec<NetRate> {
    let ((prev_ts, prev), (cur_ts, cur)) = (prev, cur);
    if cur_ts <= prev_ts {
        return Vec::new();
    }
    let seconds = (cur_ts - prev_ts) as f64 / 1000.0;
    cur.iter()
        .filter_map(|net| {
            let old = prev.iter().find(|o| o.device == net.device)?;
            Some(NetRate {
                device: net.device.clone(),
                rx_bytes_per_second: net.rx.checked_sub(old.rx)? as f64 / seconds,
                tx_bytes_per_second: net.tx.checked_sub(old.tx)? as f64 / seconds,
            })
        })
        .collect()
}

/// Whether two rate lists are the same once stored ([`codec::as_stored`]: 1e-2 bytes/s).
fn same_stored(a: &[NetRate], b: &[NetRate]) -> bool {
    let same = |path: &str, a: f64, b: f64| codec::as_stored(path, a) == codec::as_stored(path, b);
    a.len() == b.len()
        && a.iter().zip(b).all(|(a, b)| {
            a.device == b.device
                && same(RX_RATE, a.rx_bytes_per_second, b.rx_bytes_per_second)
                && same(TX_RATE, a.tx_bytes_per_second, b.tx_bytes_per_second)
        })
}

/// `(ts_ms, counters)` of a row's sample, missing numbers read as 0 (as [`fill`] does).
fn counters_of(row: &Value) -> (u64, Vec<Counters>) {
    let sample = &row["sample"];
    let networks = sample["networks"].as_array().map_or(&[][..], Vec::as_slice);
    let counters = networks
        .iter()
        .map(|n| Counters {
            device: n["device"].as_str().unwrap_or_default().to_owned(),
            rx: n["rx_bytes"].as_u64().unwrap_or(0),
            tx: n["tx_bytes"].as_u64().unwrap_or(0),
        })
        .collect();
    (sample["ts_ms"].as_u64().unwrap_or(0), counters)
}

/// Removes from `rows` (chunk rows `{"run", "rates", "sample"}`, oldest first, as they are
/// about to be encoded) every leaf [`fill`] will give back.
pub fn strip(rows: &mut [Value]) {
    let counters: Vec<(u64, Vec<Counters>)> = rows.iter().map(counters_of).collect();
    for (i, row) in rows.iter_mut().enumerate() {
        if i > 0 {
            let derived = derive(
                (counters[i - 1].0, &counters[i - 1].1),
                (counters[i].0, &counters[i].1),
            );
            let stored: Option<Vec<NetRate>> = row
                .get(RATES)
                .and_then(|r| serde_json::from_value(r.clone()).ok());
            if stored.is_some_and(|stored| same_stored(&stored, &derived)) {
                if let Some(object) = row.as_object_mut() {
                    object.remove(RATES);
                }
            }
        }
        if let Some(memory) = row
            .get_mut("sample")
            .and_then(|s| s.get_mut("memory"))
            .and_then(Value::as_object_mut)
        {
            let number = |key: &str| memory.get(key).and_then(Value::as_u64);
            let available = number("total_bytes")
                .zip(number("used_bytes"))
                .and_then(|(total, used)| total.checked_sub(used));
            if available.is_some() && number("available_bytes") == available {
                memory.remove("available_bytes");
            }
        }
    }
}

/// Puts back, in the decoded `columns` of a chunk of `n_rows` rows, every leaf [`strip`]
/// removed.
pub fn fill(n_rows: usize, columns: &mut Vec<Column>) {
    let mut index: HashMap<String, usize> = columns
        .iter()
        .enumerate()
        .map(|(i, (path, _))| (path.clone(), i))
        .collect();
    fill_available(n_rows, columns, &mut index);
    fill_rates(n_rows, columns, &mut index);
}

/// The column at `path`, added (empty) when the chunk has none.
fn column<'a>(
    columns: &'a mut Vec<Column>,
    index: &mut HashMap<String, usize>,
    path: &str,
    n_rows: usize,
) -> &'a mut Vec<Option<Value>> {
    let i = match index.get(path) {
        Some(&i) => i,
        None => {
            columns.push((path.to_owned(), vec![None; n_rows]));
            index.insert(path.to_owned(), columns.len() - 1);
            columns.len() - 1
        }
    };
    &mut columns[i].1
}

fn fill_available(n_rows: usize, columns: &mut Vec<Column>, index: &mut HashMap<String, usize>) {
    let (Some(&total), Some(&used)) = (index.get(MEM_TOTAL), index.get(MEM_USED)) else {
        return;
    };
    let available: Vec<Option<u64>> = (0..n_rows)
        .map(|r| {
            let at = |c: usize| columns[c].1.get(r)?.as_ref()?.as_u64();
            at(total)?.checked_sub(at(used)?)
        })
        .collect();
    let target = column(columns, index, MEM_AVAILABLE, n_rows);
    for (cell, value) in target.iter_mut().zip(available) {
        if cell.is_none() {
            *cell = value.map(Value::from);
        }
    }
}

fn fill_rates(n_rows: usize, columns: &mut Vec<Column>, index: &mut HashMap<String, usize>) {
    let mut has_rates = vec![false; n_rows];
    let mut times = vec![0u64; n_rows];
    let mut counters: Vec<Vec<Counters>> = vec![Vec::new(); n_rows];
    for (path, cells) in columns.iter() {
        let present = cells
            .iter()
            .enumerate()
            .filter_map(|(r, c)| Some((r, c.as_ref()?)));
        if path == RATES || path.starts_with("rates.") {
            present.for_each(|(r, _)| has_rates[r] = true);
        } else if path == TS {
            present.for_each(|(r, v)| times[r] = v.as_u64().unwrap_or(0));
        } else if let Some((i, field)) = path
            .strip_prefix(NETWORKS)
            .and_then(|rest| rest.split_once('.'))
        {
            let Ok(i) = i.parse::<usize>() else { continue };
            for (r, v) in present {
                let row = &mut counters[r];
                if row.len() <= i {
                    row.resize(i + 1, Counters::default());
                }
                match field {
                    "device" => row[i].device = v.as_str().unwrap_or_default().to_owned(),
                    "rx_bytes" => row[i].rx = v.as_u64().unwrap_or(0),
                    "tx_bytes" => row[i].tx = v.as_u64().unwrap_or(0),
                    _ => {}
                }
            }
        }
    }
    for r in 1..n_rows {
        if has_rates[r] {
            continue;
        }
        let rates = derive((times[r - 1], &counters[r - 1]), (times[r], &counters[r]));
        if rates.is_empty() {
            column(columns, index, RATES, n_rows)[r] = Some(Value::Array(Vec::new()));
        }
        for (k, rate) in rates.into_iter().enumerate() {
            let mut set = |field: &str, value: Value| {
                column(columns, index, &format!("rates.{k}.{field}"), n_rows)[r] = Some(value);
            };
            set("device", Value::from(rate.device));
            set("rx_bytes_per_second", Value::from(rate.rx_bytes_per_second));
            set("tx_bytes_per_second", Value::from(rate.tx_bytes_per_second));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec;
    use serde_json::json;

    fn row(ts: u64, rx: u64, tx: u64, rates: Option<Value>) -> Value {
        let mut row = json!({
            "run": 1,
            "sample": {
                "seq": ts / 1000, "ts_ms": ts,
                "memory": {"total_bytes": 100, "used_bytes": 40, "available_bytes": 60},
                "networks": [{"device": "eth0", "rx_bytes": rx, "tx_bytes": tx}]
            }
        });
        if let Some(rates) = rates {
            row["rates"] = rates;
        }
        row
    }

    fn rate(rx: f64, tx: f64) -> Value {
        json!([{"device": "eth0", "rx_bytes_per_second": rx, "tx_bytes_per_second": tx}])
    }

    /// Encodes `rows` as compaction does and reads them back as every reader does.
    fn round_trip(mut rows: Vec<Value>) -> (Vec<Value>, Vec<Value>) {
        strip(&mut rows);
        let body = codec::encode(&rows).unwrap();
        let (n, mut columns) = codec::decode_columns(&body).unwrap();
        fill(n, &mut columns);
        let read = (0..n).map(|i| codec::row(&columns, i)).collect();
        (rows, read)
    }

    #[test]
    fn derivable_leaves_are_not_stored_and_read_back_as_they_were() {
        let rows = vec![
            row(1_000, 100, 10, Some(rate(5.0, 1.0))),
            row(2_000, 300, 30, Some(rate(200.0, 20.0))),
            row(4_000, 700, 50, Some(rate(200.0, 10.0))),
        ];
        let (stored, read) = round_trip(rows.clone());
        assert!(
            stored[0].get("rates").is_some(),
            "the first row keeps its rates"
        );
        assert!(stored[1].get("rates").is_none() && stored[2].get("rates").is_none());
        for r in &stored {
            assert!(r["sample"]["memory"].get("available_bytes").is_none());
        }
        assert_eq!(read, rows);
    }

    #[test]
    fn rates_that_do_not_follow_from_the_row_before_are_kept() {
        let rows = vec![
            row(1_000, 100, 10, Some(rate(5.0, 1.0))),
            // The first sample after a server restart: stored without rates.
            row(2_000, 300, 30, Some(json!([]))),
            // A counter reset: no rate, and none derived either.
            row(3_000, 50, 40, Some(json!([]))),
            // Rated against another sample than the row before.
            row(4_000, 150, 50, Some(rate(7.0, 3.0))),
            // Time did not advance.
            row(4_000, 150, 50, Some(json!([]))),
        ];
        let (stored, read) = round_trip(rows.clone());
        assert!(
            stored[1].get("rates").is_some(),
            "none stored, some derivable"
        );
        assert!(stored[2].get("rates").is_none(), "a reset derives none too");
        assert!(stored[3].get("rates").is_some());
        assert!(stored[4].get("rates").is_none());
        assert_eq!(read, rows);
    }

    #[test]
    fn available_memory_that_is_not_total_minus_used_is_kept() {
        let mut odd = row(1_000, 1, 1, Some(json!([])));
        odd["sample"]["memory"]["available_bytes"] = json!(59);
        let (stored, read) = round_trip(vec![odd.clone()]);
        assert_eq!(stored[0]["sample"]["memory"]["available_bytes"], 59);
        assert_eq!(read, vec![odd]);
    }

    #[test]
    fn rates_match_at_the_stored_precision() {
        let rows = vec![
            row(1_000, 0, 0, Some(json!([]))),
            // 1000 / 3 s, as an older chunk stored it (to 1e-2).
            row(4_000, 1_000, 0, Some(rate(333.33, 0.0))),
        ];
        let (stored, read) = round_trip(rows);
        assert!(stored[1].get("rates").is_none());
        let rx = read[1]["rates"][0]["rx_bytes_per_second"].as_f64().unwrap();
        assert!((rx - 1000.0 / 3.0).abs() < 1e-9, "read back exactly: {rx}");
    }
}
