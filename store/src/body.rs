//! How a head row keeps the whole sample (`samples.body`): its JSON, compressed with LZ4.
//!
//! Why compressed: a sample's JSON is 0.8-6 KiB (protocol minor 2 added the kernel's stat
//! tables), and a row past a page's worth spills into 4 KiB overflow pages, each one more
//! page written to the WAL and checkpointed per sample. Compressed, a real host's sample
//! (6.1 KiB of JSON on this project's test machine) takes 3.3 KiB and stays in its leaf.
//!
//! Why LZ4 and not zstd (schema 5 to 7 wrote zstd, which still reads): this runs on the
//! writer thread for every sample, and a head row lives only until its block is compacted,
//! so time matters more than bytes. Measured in a release build on one sample each, zstd's
//! fast level -3 against this LZ4 block: a real host's 6.1 KiB took 17.5-20 µs for 3.2 KiB
//! against 10.8 µs for 3.3 KiB, the simulator's 0.8 KiB 3.8-4 µs against 1.9-2.3 µs for the
//! same size, and reading the real one back (decompress and parse) 101-103 µs against
//! 81-86 µs. `lz4_flex` is a pure-Rust LZ4 with no `unsafe` in the features used here.
//!
//! Why [`encode_sample_frame`]: the server already holds the sample's JSON, the text of the
//! frame that carried it; compressing that text instead of encoding the decoded sample
//! again saves a JSON encode per sample. The writer thread does it: compressing on the
//! connections' tasks instead was measured no cheaper in total (the compressor's tables,
//! warm in the writer's cache, went cold between other work on the runtime's threads).
//!
//! A body is one of three forms, told apart by its first byte:
//! - [`LZ4_BLOCK`], the JSON's length (4 bytes, little-endian), then one LZ4 block: what
//!   this version writes (schema 8);
//! - zstd's frame magic (`0x28`): schema 5 to 7;
//! - `{`: plain JSON, rows before schema 5.

use std::cell::RefCell;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// First byte of a body this version writes: an LZ4 block follows. Neither `{` (plain JSON)
/// nor `0x28` (zstd's frame magic), so all three forms read.
pub const LZ4_BLOCK: u8 = 0x04;

/// The tag byte and the JSON's length before the LZ4 block.
const LZ4_HEADER: usize = 5;

/// Largest body decompressed: the protocol's frame limit, so a corrupt row cannot ask for
/// more memory than a valid sample could need.
const MAX_BODY: usize = utizmon_protocol::MAX_FRAME_BYTES;

thread_local! {
    /// One decompression buffer per reading thread (remote-write senders, compaction,
    /// history queries), and for older rows a zstd context: a new context per body
    /// allocated and set up zstd's ~100 KiB of state, and a buffer of [`MAX_BODY`] was
    /// allocated for a body of one or two KiB. Together they were a third of what reading
    /// the commit log cost.
    static DECOMPRESSOR: RefCell<(Option<zstd::bulk::Decompressor<'static>>, Vec<u8>)> =
        const { RefCell::new((None, Vec::new())) };
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

/// `json` as a body: [`LZ4_BLOCK`], its length, its LZ4 block.
fn compress(json: &[u8]) -> Result<Vec<u8>, std::io::Error> {
    let len = u32::try_from(json.len())
        .ok()
        .filter(|&n| n as usize <= MAX_BODY)
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("a sample of {} bytes is over the frame limit", json.len()),
            )
        })?;
    let mut body = vec![0; LZ4_HEADER + lz4_flex::block::get_maximum_output_size(json.len())];
    body[0] = LZ4_BLOCK;
    body[1..LZ4_HEADER].copy_from_slice(&len.to_le_bytes());
    let written = lz4_flex::block::compress_into(json, &mut body[LZ4_HEADER..])
        .map_err(std::io::Error::other)?;
    body.truncate(LZ4_HEADER + written);
    Ok(body)
}

/// Reads a stored body, in any of its three forms; `None` when it is none of them (or
/// says it holds more than a sample can), which callers treat like a missing body.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Option<T> {
    match body.first()? {
        b'{' => serde_json::from_slice(body).ok(),
        &LZ4_BLOCK => {
            let len: [u8; 4] = body.get(1..LZ4_HEADER)?.try_into().ok()?;
            let size = u32::from_le_bytes(len) as usize;
            if size > MAX_BODY {
                return None;
            }
            with_buffer(size, |_, json| {
                json.resize(size, 0);
                let n = lz4_flex::block::decompress_into(&body[LZ4_HEADER..], json).ok()?;
                if n != size {
                    return None;
                }
                serde_json::from_slice(json).ok()
            })
        }
        _ => decode_zstd(body),
    }
}

/// A body of schema 5 to 7: a zstd frame.
fn decode_zstd<T: DeserializeOwned>(body: &[u8]) -> Option<T> {
    // The compressor wrote the JSON's size in the frame header. A frame that does not say
    // gets room for the largest sample; one that says more than that is not read.
    let size = match zstd::zstd_safe::get_frame_content_size(body) {
        Ok(Some(size)) if size <= MAX_BODY as u64 => size as usize,
        Ok(None) => MAX_BODY,
        _ => return None,
    };
    with_buffer(size, |context, json| {
        let decompressor = match context {
            Some(d) => d,
            None => context.insert(zstd::bulk::Decompressor::new().ok()?),
        };
        decompressor.decompress_to_buffer(body, json).ok()?;
        serde_json::from_slice(json).ok()
    })
}

/// Runs `read` with this thread's zstd context and its buffer, emptied and with room for
/// `size` bytes; afterwards keeps the buffer for the next body, unless an odd large one
/// (or a zstd frame of unknown size) grew it.
fn with_buffer<T>(
    size: usize,
    read: impl FnOnce(&mut Option<zstd::bulk::Decompressor<'static>>, &mut Vec<u8>) -> Option<T>,
) -> Option<T> {
    DECOMPRESSOR.with(|cell| {
        let mut cell = cell.try_borrow_mut().ok()?;
        let (context, json) = &mut *cell;
        json.clear();
        json.reserve(size);
        let value = read(context, json);
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
    fn this_version_writes_lz4_blocks() {
        let value = json!({"seq": 4, "pad": "abc".repeat(100)});
        let body = encode(&value).unwrap();
        assert_eq!(body[0], LZ4_BLOCK);
        let json = serde_json::to_vec(&value).unwrap();
        assert_eq!(body[1..LZ4_HEADER], (json.len() as u32).to_le_bytes());
        assert!(body.len() < json.len() / 4, "{} bytes", body.len());
    }

    #[test]
    fn zstd_bodies_of_schema_5_to_7_still_read() {
        let value = json!({"seq": 6, "cpu": {"usage_ratio": 0.25}});
        let old = zstd::bulk::compress(&serde_json::to_vec(&value).unwrap(), -3).unwrap();
        assert_eq!(decode::<Value>(&old), Some(value.clone()));
        // Read between LZ4 bodies, on the same thread's buffer.
        let new = encode(&value).unwrap();
        assert_eq!(decode::<Value>(&new), Some(value.clone()));
        assert_eq!(decode::<Value>(&old), Some(value));
    }

    #[test]
    fn a_zstd_frame_without_its_size_still_reads_and_an_oversized_one_does_not() {
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
        let big = zstd::bulk::compress(&vec![b' '; MAX_BODY + 1], 1).unwrap();
        assert_eq!(decode::<Value>(&big), None);
    }

    #[test]
    fn an_lz4_body_that_lies_about_its_size_reads_as_missing() {
        let body = encode(&json!({"seq": 8, "pad": "x".repeat(300)})).unwrap();
        let with_size = |size: u32| {
            let mut b = body.clone();
            b[1..LZ4_HEADER].copy_from_slice(&size.to_le_bytes());
            b
        };
        let real = u32::from_le_bytes(body[1..LZ4_HEADER].try_into().unwrap());
        for size in [real - 1, real + 1, MAX_BODY as u32 + 1, u32::MAX] {
            assert_eq!(decode::<Value>(&with_size(size)), None, "{size}");
        }
        assert_eq!(decode::<Value>(&body[..body.len() - 3]), None, "truncated");
        assert_eq!(decode::<Value>(&body[..3]), None, "no length");
        assert_eq!(decode::<Value>(&[LZ4_BLOCK]), None);
    }

    #[test]
    fn a_sample_over_the_frame_limit_is_not_stored() {
        let err = compress(&vec![b' '; MAX_BODY + 1]).unwrap_err();
        assert!(err.to_string().contains("over the frame limit"), "{err}");
    }

    #[test]
    fn a_corrupt_body_reads_as_missing() {
        assert_eq!(decode::<Value>(b"\x28\xb5\x2f\xfd garbage"), None);
        assert_eq!(decode::<Value>(b"\x04\x10\x00\x00\x00 garbage"), None);
        assert_eq!(decode::<Value>(b""), None);
        assert_eq!(decode::<Value>(b"{not json"), None);
    }
}
