//! How a head row keeps the whole sample (`samples.body`): its JSON, compressed with zstd.
//!
//! Why compressed: the head table is `WITHOUT ROWID`, whose rows spill into a 4 KiB
//! overflow page once they pass about 1,000 bytes (SQLite keeps less of a row in place in
//! an index-shaped b-tree). A sample's JSON is about 800 bytes and the other columns
//! another 250, so every sample cost a whole overflow page: ~4.4 KiB on disk and one more
//! page written to the WAL and checkpointed per sample. Compressed (~500 bytes) the row
//! stays in its leaf. Rows written before this (plain JSON, first byte `{`) still read.

use std::cell::RefCell;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// zstd's level 1: the cheapest level; the higher ones save only a few bytes on ~800 bytes
/// of JSON with high-entropy floats, and this runs once per sample on the commit path.
const LEVEL: i32 = 1;

/// Largest body decompressed: the protocol's frame limit, so a corrupt row cannot ask for
/// more memory than a valid sample could need.
const MAX_BODY: usize = utizmon_protocol::MAX_FRAME_BYTES;

thread_local! {
    /// One compression context per thread (the writer's): creating one per sample would
    /// allocate and zero its tables every time.
    static COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
}

/// The stored form of `value`: its JSON, zstd-compressed.
pub fn encode(value: &impl Serialize) -> Result<Vec<u8>, std::io::Error> {
    let json = serde_json::to_vec(value)?;
    COMPRESSOR.with(|cell| {
        let mut cell = cell.borrow_mut();
        let compressor = match cell.as_mut() {
            Some(c) => c,
            None => cell.insert(zstd::bulk::Compressor::new(LEVEL)?),
        };
        compressor.compress(&json)
    })
}

/// Reads a stored body, compressed or (rows before schema 5) plain JSON; `None` when it is
/// neither, which callers treat like a missing body.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Option<T> {
    if body.first() == Some(&b'{') {
        return serde_json::from_slice(body).ok();
    }
    let json = zstd::bulk::decompress(body, MAX_BODY).ok()?;
    serde_json::from_slice(&json).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn a_body_round_trips_and_is_smaller_than_its_json() {
        let filesystem = json!({"mountpoint": "/", "fstype": "ext4"});
        let sample = json!({"seq": 1, "cpu": {"usage_ratio": 0.135_245_559_817_453_56},
            "filesystems": vec![filesystem; 8]});
        let stored = encode(&sample).unwrap();
        assert!(stored.len() < serde_json::to_vec(&sample).unwrap().len());
        assert_eq!(decode::<Value>(&stored), Some(sample));
    }

    #[test]
    fn plain_json_bodies_of_older_rows_still_read() {
        let old = br#"{"seq":7}"#;
        assert_eq!(decode::<Value>(old), Some(json!({"seq": 7})));
    }

    #[test]
    fn a_corrupt_body_reads_as_missing() {
        assert_eq!(decode::<Value>(b"\x28\xb5\x2f\xfd garbage"), None);
        assert_eq!(decode::<Value>(b""), None);
        assert_eq!(decode::<Value>(b"{not json"), None);
    }
}
