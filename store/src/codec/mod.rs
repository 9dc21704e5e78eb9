//! The column codec of history chunks: a block of rows (JSON values of one host, oldest
//! first) turned into columns and compressed, and back.
//!
//! Every row is flattened into leaves keyed by their path (`sample.cpu.seconds.user`,
//! `sample.filesystems.0.avail_bytes`); the leaves of one path across the block form a
//! column. Integers (counters, byte counts, timestamps) are kept exactly as integer deltas
//! (plain, first or second difference, whichever is smallest for that column);
//! floats are quantised to a fixed number of decimals ([`max_decimals`]: ratios 1e-4,
//! others at the resolution the edge reads them, 1e-2 to 1e-6) and then coded like
//! integers; strings go through a per-column dictionary. All integers are
//! zig-zag LEB128 varints, and the whole block is compressed with zstd. `docs/storage.md`
//! describes the byte layout.
//!
//! Pure: no SQL and no clock, so the format is tested on its own.

mod varint;

use std::collections::HashMap;
use std::io::Read;

use serde_json::{Map, Number, Value};

use varint::{put_i64, put_u64, Reader};

/// Version byte at the start of every (uncompressed) block.
const FORMAT: u8 = 1;

/// zstd level: compaction runs in the background, so a slower, tighter level pays off;
/// 9 costs a few milliseconds per block of 600 samples.
const ZSTD_LEVEL: i32 = 9;

/// Largest decompressed block accepted, bytes: far above any real block (600 samples of
/// a large host are a few MB before compression), low enough that a corrupt length
/// cannot exhaust memory.
const MAX_BLOCK_BYTES: u64 = 256 << 20;

/// Why a stored chunk could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("chunk is truncated or corrupt")]
    Corrupt,
    #[error("chunk format {0} is newer than this server reads")]
    Format(u8),
    #[error("compressing or decompressing a chunk")]
    Zstd(#[from] std::io::Error),
}

/// Column kinds, as stored.
const INT_UNSIGNED: u8 = 0;
const INT_SIGNED: u8 = 1;
const FLOAT_SCALED: u8 = 2;
const FLOAT_BITS: u8 = 3;
const TEXT: u8 = 4;

/// Encodes `rows` (JSON objects) into one compressed block.
pub fn encode(rows: &[Value]) -> Result<Vec<u8>, CodecError> {
    let mut columns: Vec<(String, Vec<Option<Leaf>>)> = Vec::new();
    let mut by_path: HashMap<String, usize> = HashMap::new();
    let mut leaves = Vec::new();
    for (r, row) in rows.iter().enumerate() {
        leaves.clear();
        flatten(row, &mut String::new(), &mut leaves);
        for (path, leaf) in leaves.drain(..) {
            let i = match by_path.get(&path) {
                Some(&i) => i,
                None => {
                    by_path.insert(path.clone(), columns.len());
                    columns.push((path, vec![None; rows.len()]));
                    columns.len() - 1
                }
            };
            columns[i].1[r] = Some(leaf);
        }
    }
    let mut out = vec![FORMAT];
    put_u64(&mut out, rows.len() as u64);
    put_u64(&mut out, columns.len() as u64);
    for (path, cells) in &columns {
        put_u64(&mut out, path.len() as u64);
        out.extend_from_slice(path.as_bytes());
        put_column(&mut out, path, cells);
    }
    Ok(zstd::bulk::compress(&out, ZSTD_LEVEL)?)
}

/// Decodes a block made by [`encode`] back into its rows. The store reads chunks through
/// `chunks.rs`, which puts back the leaves compaction left out before building rows.
#[cfg(test)]
pub fn decode(block: &[u8]) -> Result<Vec<Value>, CodecError> {
    let (n_rows, columns) = decode_columns(block)?;
    Ok(rows(n_rows, columns))
}

/// The `n_rows` rows of decoded `columns`, each leaf moved into its row.
pub fn rows(n_rows: usize, columns: Vec<Column>) -> Vec<Value> {
    let mut rows = vec![Value::Object(Map::new()); n_rows];
    for (path, cells) in columns {
        for (row, cell) in rows.iter_mut().zip(cells) {
            if let Some(value) = cell {
                insert(row, &path, value);
            }
        }
    }
    rows
}

/// One decoded column: its path and a cell per row (`None` where the row has no leaf).
pub type Column = (String, Vec<Option<Value>>);

/// Row `index` of decoded `columns`, as [`decode`] gives it when `columns` are all of the
/// block's: a reader that kept only some columns, or wants only some rows, rebuilds just
/// those.
pub fn row(columns: &[Column], index: usize) -> Value {
    let mut row = Value::Object(Map::new());
    for (path, cells) in columns {
        if let Some(Some(value)) = cells.get(index) {
            insert(&mut row, path, value.clone());
        }
    }
    row
}

/// Decodes a block into its row count and columns, without rebuilding the rows: what a
/// reader that needs a few paths (a history point) uses.
pub fn decode_columns(block: &[u8]) -> Result<(usize, Vec<Column>), CodecError> {
    let mut raw = Vec::new();
    zstd::stream::read::Decoder::new(block)?
        .take(MAX_BLOCK_BYTES)
        .read_to_end(&mut raw)?;
    let mut r = Reader::new(&raw);
    let format = r.byte().ok_or(CodecError::Corrupt)?;
    if format != FORMAT {
        return Err(CodecError::Format(format));
    }
    let n_rows = r.len().ok_or(CodecError::Corrupt)?;
    let n_cols = r.len().ok_or(CodecError::Corrupt)?;
    let mut columns = Vec::with_capacity(n_cols);
    for _ in 0..n_cols {
        let path_len = r.len().ok_or(CodecError::Corrupt)?;
        let path = std::str::from_utf8(r.bytes(path_len).ok_or(CodecError::Corrupt)?)
            .map_err(|_| CodecError::Corrupt)?;
        let cells = get_column(&mut r, n_rows).ok_or(CodecError::Corrupt)?;
        columns.push((path.to_owned(), cells));
    }
    Ok((n_rows, columns))
}

/// Decimals kept of the floats at `path`: the resolution the edge reads them at, so real
/// samples come back exactly, and synthetic ones with more digits cost no more than real
/// ones. Ratios (0..=1) 1e-4; rates 1e-2 bytes/s; CPU seconds (`/proc/stat` jiffies),
/// load averages, uptime and pressure averages 1e-2 (as the kernel prints them);
/// temperatures (millidegrees) and disk seconds (`/proc/diskstats` milliseconds) 1e-3;
/// every other float (pressure and cgroup CPU seconds, in microseconds) 1e-6.
pub fn max_decimals(path: &str) -> u32 {
    let last = path.rsplit('.').next().unwrap_or(path);
    let hundredths = path.contains("cpu.seconds.")
        || path.contains("cpu.core_seconds.")
        || path.contains("load.load")
        || last == "uptime_seconds"
        || last.ends_with("_avg10")
        || last.ends_with("_per_second");
    if last.ends_with("_ratio") || path.contains("cpu.cores.") {
        4
    } else if hundredths {
        2
    } else if last == "celsius" || path.contains("disks.") {
        3
    } else {
        6
    }
}

/// `v` as a chunk keeps a float at `path`: rounded to [`max_decimals`] decimals. For the
/// store's other copies of the same values (rollups), and for telling whether two values
/// would be stored alike.
pub fn as_stored(path: &str, v: f64) -> f64 {
    let scale = 10f64.powi(max_decimals(path) as i32);
    (v * scale).round() / scale
}

/// One leaf of a flattened row.
#[derive(Debug, Clone, PartialEq)]
enum Leaf {
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    /// Strings and the leaves that are no number: `s` + a string, `a` an empty array,
    /// `o` an empty object, `t`/`f` booleans, `n` + a number's JSON (a column that mixes
    /// numbers and text).
    Text(String),
}

/// Appends the leaves of `value` under `path`. `null` is left out (a missing optional
/// field reads back as absent); empty arrays and objects are kept as markers.
fn flatten(value: &Value, path: &mut String, out: &mut Vec<(String, Leaf)>) {
    let leaf = match value {
        Value::Null => return,
        Value::Bool(b) => Leaf::Text(if *b { "t" } else { "f" }.into()),
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => Leaf::Unsigned(u),
            (None, Some(i), _) => Leaf::Signed(i),
            (_, _, Some(f)) => Leaf::Float(f),
            _ => Leaf::Text(format!("n{n}")),
        },
        Value::String(s) => Leaf::Text(format!("s{s}")),
        Value::Array(items) if items.is_empty() => Leaf::Text("a".into()),
        Value::Object(map) if map.is_empty() => Leaf::Text("o".into()),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                push_segment(path, &i.to_string());
                flatten(item, path, out);
                path.truncate(len);
            }
            return;
        }
        Value::Object(map) => {
            for (key, item) in map {
                let len = path.len();
                push_segment(path, key);
                flatten(item, path, out);
                path.truncate(len);
            }
            return;
        }
    };
    out.push((path.clone(), leaf));
}

fn push_segment(path: &mut String, segment: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(segment);
}

/// Sets the leaf at `path` in `row`, making the objects and arrays on the way. Segments
/// of digits are array indices (object keys of stored rows are field names, never
/// numbers, and never contain a dot).
fn insert(row: &mut Value, path: &str, leaf: Value) {
    /// Array indices past this are corrupt data, not a reason to allocate.
    const MAX_INDEX: usize = 1 << 16;
    let mut node = row;
    for segment in path.split('.') {
        node = match segment.parse::<usize>() {
            Ok(i) if i < MAX_INDEX => {
                if !node.is_array() {
                    *node = Value::Array(Vec::new());
                }
                let Value::Array(items) = node else { return };
                if items.len() <= i {
                    items.resize(i + 1, Value::Null);
                }
                &mut items[i]
            }
            Ok(_) => return,
            Err(_) => {
                if !node.is_object() {
                    *node = Value::Object(Map::new());
                }
                let Value::Object(map) = node else { return };
                map.entry(segment).or_insert(Value::Null)
            }
        };
    }
    *node = leaf;
}

/// Appends one column: kind, presence, then the values.
fn put_column(out: &mut Vec<u8>, path: &str, cells: &[Option<Leaf>]) {
    let present: Vec<&Leaf> = cells.iter().flatten().collect();
    let all_unsigned = present.iter().all(|l| matches!(l, Leaf::Unsigned(_)));
    let all_integer = present
        .iter()
        .all(|l| matches!(l, Leaf::Unsigned(_) | Leaf::Signed(_)));
    let all_numeric = present.iter().all(|l| !matches!(l, Leaf::Text(_)));
    let kind_at = out.len();
    out.push(TEXT);
    if present.len() == cells.len() {
        out.push(0);
    } else {
        out.push(1);
        let mut bits = vec![0u8; cells.len().div_ceil(8)];
        for (i, cell) in cells.iter().enumerate() {
            if cell.is_some() {
                bits[i / 8] |= 1 << (i % 8);
            }
        }
        out.extend_from_slice(&bits);
    }
    if all_integer {
        out[kind_at] = if all_unsigned {
            INT_UNSIGNED
        } else {
            INT_SIGNED
        };
        let ints: Vec<i64> = present.iter().map(|l| as_float_or_int(l).1).collect();
        put_ints(out, &ints);
    } else if all_numeric {
        let floats: Vec<f64> = present.iter().map(|l| as_float_or_int(l).0).collect();
        match quantise(&floats, max_decimals(path)) {
            Some((decimals, ints)) => {
                out[kind_at] = FLOAT_SCALED;
                out.push(decimals as u8);
                put_ints(out, &ints);
            }
            None => {
                out[kind_at] = FLOAT_BITS;
                let bits: Vec<i64> = floats.iter().map(|f| f.to_bits() as i64).collect();
                put_ints(out, &bits);
            }
        }
    } else {
        let texts: Vec<String> = present.iter().map(|l| as_text(l)).collect();
        let mut dictionary: Vec<&str> = Vec::new();
        let mut index: HashMap<&str, u64> = HashMap::new();
        let mut ids = Vec::with_capacity(texts.len());
        for text in &texts {
            let id = *index.entry(text.as_str()).or_insert_with(|| {
                dictionary.push(text.as_str());
                dictionary.len() as u64 - 1
            });
            ids.push(id);
        }
        put_u64(out, dictionary.len() as u64);
        for text in &dictionary {
            put_u64(out, text.len() as u64);
            out.extend_from_slice(text.as_bytes());
        }
        for id in ids {
            put_u64(out, id);
        }
    }
}

/// Reads one column of `n_rows` cells.
fn get_column(r: &mut Reader<'_>, n_rows: usize) -> Option<Vec<Option<Value>>> {
    let kind = r.byte()?;
    let present: Vec<bool> = match r.byte()? {
        0 => vec![true; n_rows],
        1 => {
            let bits = r.bytes(n_rows.div_ceil(8))?;
            (0..n_rows)
                .map(|i| bits[i / 8] & (1 << (i % 8)) != 0)
                .collect()
        }
        _ => return None,
    };
    let count = present.iter().filter(|&&p| p).count();
    let values: Vec<Value> = match kind {
        INT_UNSIGNED => get_ints(r, count)?
            .into_iter()
            .map(|v| Value::from(v as u64))
            .collect(),
        INT_SIGNED => get_ints(r, count)?.into_iter().map(Value::from).collect(),
        FLOAT_SCALED => {
            let decimals = i32::from(r.byte()?);
            let scale = 10f64.powi(decimals);
            get_ints(r, count)?
                .into_iter()
                .map(|q| float_value(q as f64 / scale))
                .collect()
        }
        FLOAT_BITS => get_ints(r, count)?
            .into_iter()
            .map(|b| float_value(f64::from_bits(b as u64)))
            .collect(),
        TEXT => {
            let n = r.len()?;
            let mut dictionary = Vec::with_capacity(n);
            for _ in 0..n {
                let len = r.len()?;
                dictionary.push(std::str::from_utf8(r.bytes(len)?).ok()?);
            }
            let mut values = Vec::with_capacity(count);
            for _ in 0..count {
                let id = usize::try_from(r.u64()?).ok()?;
                values.push(text_value(dictionary.get(id)?)?);
            }
            values
        }
        _ => return None,
    };
    let mut values = values.into_iter();
    Some(
        present
            .into_iter()
            .map(|p| if p { values.next() } else { None })
            .collect(),
    )
}

fn as_float_or_int(leaf: &Leaf) -> (f64, i64) {
    match *leaf {
        // Counters past i64::MAX wrap; the deltas wrap back on decoding.
        Leaf::Unsigned(u) => (u as f64, u as i64),
        Leaf::Signed(i) => (i as f64, i),
        Leaf::Float(f) => (f, f as i64),
        Leaf::Text(_) => (0.0, 0),
    }
}

fn as_text(leaf: &Leaf) -> String {
    match leaf {
        Leaf::Text(t) => t.clone(),
        Leaf::Unsigned(u) => format!("n{u}"),
        Leaf::Signed(i) => format!("n{i}"),
        Leaf::Float(f) => format!("n{}", float_value(*f)),
    }
}

fn float_value(f: f64) -> Value {
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

fn text_value(text: &str) -> Option<Value> {
    let (tag, rest) = text.split_at_checked(1)?;
    Some(match tag {
        "s" => Value::String(rest.to_owned()),
        "a" => Value::Array(Vec::new()),
        "o" => Value::Object(Map::new()),
        "t" => Value::Bool(true),
        "f" => Value::Bool(false),
        "n" => serde_json::from_str(rest).ok()?,
        _ => return None,
    })
}

/// `floats` as integers of 10^-decimals, with the fewest decimals (at most `max`) that
/// keep them at that precision; `None` when one is not finite or too large for exact
/// integer arithmetic in an f64 (it is then stored bit for bit).
fn quantise(floats: &[f64], max: u32) -> Option<(u32, Vec<i64>)> {
    const EXACT: f64 = (1u64 << 53) as f64;
    let scale = 10f64.powi(max as i32);
    let mut ints = Vec::with_capacity(floats.len());
    for &f in floats {
        let q = (f * scale).round();
        if !q.is_finite() || q.abs() > EXACT {
            return None;
        }
        ints.push(q as i64);
    }
    let mut decimals = max;
    while decimals > 0 && ints.iter().all(|q| q % 10 == 0) {
        ints.iter_mut().for_each(|q| *q /= 10);
        decimals -= 1;
    }
    Some((decimals, ints))
}

/// Appends integers as their plain values, first differences or second differences
/// (delta-of-delta), whichever takes the fewest bytes, after a byte naming the choice.
fn put_ints(out: &mut Vec<u8>, values: &[i64]) {
    let mut best = (0u8, values.to_vec());
    let mut diffed = values.to_vec();
    let size = |v: &[i64]| -> usize {
        let mut buf = Vec::new();
        v.iter().for_each(|&x| put_i64(&mut buf, x));
        buf.len()
    };
    let mut best_size = size(&best.1);
    for order in 1..=2u8 {
        difference(&mut diffed);
        let s = size(&diffed);
        if s < best_size {
            best = (order, diffed.clone());
            best_size = s;
        }
    }
    out.push(best.0);
    for v in best.1 {
        put_i64(out, v);
    }
}

/// Reads `count` integers written by [`put_ints`].
fn get_ints(r: &mut Reader<'_>, count: usize) -> Option<Vec<i64>> {
    let order = r.byte()?;
    if order > 2 {
        return None;
    }
    let mut values = Vec::with_capacity(count.min(1 << 20));
    for _ in 0..count {
        values.push(r.i64()?);
    }
    for _ in 0..order {
        let mut sum = 0i64;
        for v in &mut values {
            sum = sum.wrapping_add(*v);
            *v = sum;
        }
    }
    Some(values)
}

/// Replaces `values` by their first differences (the first value stays), wrapping.
fn difference(values: &mut [i64]) {
    for i in (1..values.len()).rev() {
        values[i] = values[i].wrapping_sub(values[i - 1]);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn rows_round_trip_with_every_kind_of_leaf() {
        let rows = vec![
            json!({"run": 1, "sample": {"seq": 1, "ts_ms": 1_700_000_000_123u64,
                "cpu": {"usage_ratio": 0.25, "cores": [0.5, 0.0], "seconds": {"user": 12.34}},
                "memory": {"total_bytes": u64::MAX, "used_bytes": 7},
                "filesystems": [{"mountpoint": "/", "avail_bytes": 10}],
                "failed_units": [], "load": {"load1": 1.5}, "offset": -3,
                "uptime_seconds": 1e300}}),
            json!({"run": 1, "sample": {"seq": 2, "ts_ms": 1_700_000_001_124u64,
                "cpu": {"usage_ratio": 0.5, "cores": [1.0], "seconds": {"user": 12.35}},
                "memory": {"total_bytes": 0, "used_bytes": 9},
                "filesystems": [{"mountpoint": "/", "avail_bytes": 9},
                                {"mountpoint": "/home", "avail_bytes": 3}],
                "pressure": {"cpu": {"some_avg10": 0.12}}, "flag": true,
                "offset": -4, "uptime_seconds": 2.0}}),
        ];
        let block = encode(&rows).unwrap();
        assert_eq!(decode(&block).unwrap(), rows);
    }

    #[test]
    fn floats_keep_their_documented_precision() {
        let rows: Vec<Value> = [0.123456789, 0.98765]
            .iter()
            .map(|&f| json!({"cpu_ratio": f, "seconds": f, "rx_bytes_per_second": f}))
            .collect();
        let back = decode(&encode(&rows).unwrap()).unwrap();
        assert_eq!(back[0]["cpu_ratio"], json!(0.1235));
        assert_eq!(back[0]["seconds"], json!(0.123457));
        assert_eq!(max_decimals("sample.cpu.seconds.user"), 2);
        assert_eq!(max_decimals("sample.disks.0.read_seconds"), 3);
        assert_eq!(max_decimals("sample.pressure.io.some_seconds"), 6);
        assert_eq!(back[0]["rx_bytes_per_second"], json!(0.12));
        assert_eq!(back[1]["cpu_ratio"], json!(0.9877));
        assert_eq!(max_decimals("sample.cpu.cores.7"), 4);
        assert_eq!(max_decimals("sample.cpu.core_seconds.7.user"), 2);
    }

    #[test]
    fn steady_counters_and_timestamps_cost_next_to_nothing() {
        let rows: Vec<Value> = (0..600u64)
            .map(|i| {
                json!({"ts_ms": 1_700_000_000_000u64 + i * 1000, "bytes": i * 4096,
                            "name": "eth0"})
            })
            .collect();
        let block = encode(&rows).unwrap();
        assert!(block.len() < 100, "{} bytes for 1,800 values", block.len());
    }

    #[test]
    fn corrupt_blocks_are_errors_not_panics() {
        let rows = vec![json!({"a": 1, "b": "x"}), json!({"a": 2})];
        let good = zstd::bulk::decompress(&encode(&rows).unwrap(), 1 << 20).unwrap();
        for cut in 0..good.len() {
            let block = zstd::bulk::compress(&good[..cut], 1).unwrap();
            assert!(decode(&block).is_err(), "cut at {cut}");
        }
        assert!(decode(b"not zstd").is_err());
        let mut newer = good.clone();
        newer[0] = 99;
        let block = zstd::bulk::compress(&newer, 1).unwrap();
        assert!(matches!(decode(&block), Err(CodecError::Format(99))));
    }
}
