//! How a head row keeps the whole sample (`samples.body`): its JSON, compressed with zstd.
//!
//! Why compressed: a sample's JSON is 0.8-4 KiB (protocol minor 2 added the kernel's stat
//! tables), and a row past a page's worth spills into 4 KiB overflow pages, each one more
//! page written to the WAL and checkpointed per sample. Compressed (~500 bytes for the
//! simulator's samples) the row stays in its leaf. Rows written before schema 5 (plain
//! JSON, first byte `{`) still read.
//!
//! Why [`encode_sample_frame`]: the server already holds the sample's JSON, the text of the
//! frame that carried it; compressing that text instead of encoding the decoded sample
//! again saves a JSON encode per sample. The writer thread does it: compressing on the
//! connections' tasks instead was measured no cheaper in total (zstd's tables, warm in
//! the writer's cache, went cold between other work on the runtime's threads).

use std::cell::RefCell;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// One of zstd's fast levels (negative: no Huffman tables for the literals). This runs once
/// per sample on the commit path, and a head row lives only until its block is compacted,
/// so time matters more than bytes. Measured on 3,000 simulator samples (843 bytes of JSON
/// each): level 1 took 7.4 µs for 512 bytes, level -3 2.9 µs for 756 bytes (snappy 1.2 µs
/// for 755, but a second format to read); rows stay well inside one page either way.
const LEVEL: i32 = -3;

/// Largest body decompressed: the protocol's frame limit, so a corrupt row cannot ask for
/// more memory than a valid sample could need.
const MAX_BODY: usize = utizmon_protocol::MAX_FRAME_BYTES;

thread_local! {
    /// One compression context per thread (the writer's): creating one per sample would
    /// allocate and zero its tables every time.
    static COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };

    /// One decompression context and output buffer per reading thread (remote-write
    /// senders, compaction, history queries): a new context per body allocated and set up
    /// zstd's ~100 KiB of state, and a buffer of [`MAX_BODY`] was allocated for a body of
    /// one or two KiB. Together they were a third of what reading the commit log cost.
    static DECOMPRESSOR: RefCell<Option<(zstd::bulk::Decompressor<'static>, Vec<u8>)>> =
        const { RefCell::new(None) };
}

/// How an edge starts a `sample` frame: the tag first, without spaces.
const SAMPLE_FRAME_START: &[u8] = br#"{"type":"sample","#;

/// The stored form of `value`: its JSON, zstd-compressed.
pub fn encode(value: &impl Serialize) -> Result<Vec<u8>, std::io::Error> {
    compress(&serde_json::to_vec(value)?)
}

/// The stored form of the sample carried by `frame`, the text of a `sample` frame that
/// decoded: the frame minus its leading `"type":"sample"` tag, compressed. `None` when the
/// tag is not where an edge puts it (first, no spaces; an edge from another project may
/// write it elsewhere): the caller then encodes the decoded sample with [`encode`].
pub fn encode_sample_frame(frame: &[u8]) -> Option<Result<Vec<u8>, std::io::Error>> {
    let rest = frame.strip_prefix(SAMPLE_FRAME_START)?;
    let mut json = Vec::with_capacity(rest.len() + 1);
    json.push(b'{');
    json.extend_from_slice(rest);
    Some(compress(&json))
}

/// `json`, zstd-compressed with this thread's context.
fn compress(json: &[u8]) -> Result<Vec<u8>, std::io::Error> {
    COMPRESSOR.with(|cell| {
        let mut cell = cell.borrow_mut();
        let compressor = match cell.as_mut() {
            Some(c) => c,
            None => cell.insert(zstd::bulk::Compressor::new(LEVEL)?),
        };
        compressor.compress(json)
    })
}

/// Reads a stored body, compressed or (rows before schema 5) plain JSON; `None` when it is
/// neither, which callers treat like a missing body.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Option<T> {
    if body.first() == Some(&b'{') {
        return serde_json::from_slice(body).ok();
    }
    // The compressor writes the JSON's size in the frame header. A frame that does not say
    // gets room for the largest sample; one that says more than that is not read.
    let size = match zstd::zstd_safe::get_frame_content_size(body) {
        Ok(Some(size)) if size <= MAX_BODY as u64 => size as usize,
        Ok(None) => MAX_BODY,
        _ => return None,
    };
    DECOMPRESSOR.with(|cell| {
        let mut cell = cell.try_borrow_mut().ok()?;
        let (decompressor, json) = match &mut *cell {
            Some(context) => context,
            None => cell.insert((zstd::bulk::Decompressor::new().ok()?, Vec::new())),
        };
        json.clear();
        json.reserve(size);
        decompressor.decompress_to_buffer(body, json).ok()?;
        let value = serde_json::from_slice(json).ok();
        // Keep the buffer for the next body, unless an odd large one (or one of unknown
        // size) grew it.
        if json.capacity() > 4 * SMALL_BODY {
            *json = Vec::new();
        }
        value
    })
}

/// A typical sample's JSON, in bytes: the reused decompression buffer is kept up to a few
/// times this.
const SMALL_BODY: usize = 4 * 1024;

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
    fn a_sample_frame_is_stored_as_the_sample_it_carries() {
        let sample = utizmon_protocol::Sample {
            seq: 9,
            ts_ms: 1_700_000_000_000,
            ..Default::default()
        };
        let frame = utizmon_protocol::encode(&utizmon_protocol::EdgeFrame::Sample(sample.clone()));
        let stored = encode_sample_frame(frame.as_bytes())
            .expect("an edge's frame")
            .unwrap();
        assert_eq!(decode::<utizmon_protocol::Sample>(&stored), Some(sample));
        // The tag elsewhere, or spaced: the caller encodes the decoded sample instead.
        assert!(encode_sample_frame(br#"{"seq":9,"type":"sample"}"#).is_none());
        assert!(encode_sample_frame(br#"{ "type": "sample", "seq": 9}"#).is_none());
    }

    #[test]
    fn plain_json_bodies_of_older_rows_still_read() {
        let old = br#"{"seq":7}"#;
        assert_eq!(decode::<Value>(old), Some(json!({"seq": 7})));
    }

    #[test]
    fn bodies_of_every_size_read_back_one_after_another() {
        // The decompression buffer is reused: a large body, then small ones, then large.
        for n in [3, 40_000, 1, 200, 40_000, 0] {
            let value = json!({"seq": n, "pad": "x".repeat(n)});
            let body = encode(&value).unwrap();
            assert_eq!(decode::<Value>(&body), Some(value), "{n}");
        }
    }

    #[test]
    fn a_frame_without_its_size_still_reads_and_an_oversized_one_does_not() {
        let value = json!({"seq": 5});
        let json = serde_json::to_vec(&value).unwrap();
        // A streaming encoder does not know the size up front and leaves it out.
        let mut unsized_body = Vec::new();
        {
            let mut encoder = zstd::stream::Encoder::new(&mut unsized_body, 1).unwrap();
            std::io::Write::write_all(&mut encoder, &json).unwrap();
            encoder.finish().unwrap();
        }
        assert!(matches!(
            zstd::zstd_safe::get_frame_content_size(&unsized_body),
            Ok(None)
        ));
        assert_eq!(decode::<Value>(&unsized_body), Some(value));
        let big = compress(&vec![b' '; MAX_BODY + 1]).unwrap();
        assert_eq!(decode::<Value>(&big), None);
    }

    #[test]
    fn a_corrupt_body_reads_as_missing() {
        assert_eq!(decode::<Value>(b"\x28\xb5\x2f\xfd garbage"), None);
        assert_eq!(decode::<Value>(b""), None);
        assert_eq!(decode::<Value>(b"{not json"), None);
    }
}
