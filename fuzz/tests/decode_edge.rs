//! Fuzz target: `utizmon_protocol::decode_edge`, the first code that sees an edge's bytes.
//!
//! Properties: it never panics; what it accepts re-encodes to a frame it accepts again,
//! equal to the first; what it refuses maps to a reason with a close code in the ranges
//! the protocol uses.

use utizmon_fuzz::Target;
use utizmon_protocol::{decode_edge, encode, EdgeFrame};

const TARGET: Target = Target {
    name: "decode_edge",
    dictionary: &[
        "\"type\":\"hello\"",
        "\"type\":\"sample\"",
        "\"seq\":",
        "\"ts_ms\":",
        "\"cores\":[",
        "\"networks\":[{\"device\":\"eth0\",\"rx_bytes\":1,\"tx_bytes\":2}]",
        "1e999",
        "-1",
        "-0.0",
        "18446744073709551615",
        "18446744073709551616",
        "9223372036854775808",
        "NaN",
        "null",
        "true",
        "\"\\u0000\"",
        "\"\\ud800\"",
        "\\u001b[31m",
        "[[[[[[[[",
        "{",
        "}",
        ",",
        ":",
        "é",
    ],
};

#[test]
fn decode_edge_survives_fuzzing() {
    let report = TARGET.run(|bytes| {
        // WebSocket text frames are UTF-8 (the socket layer refuses others); lossy
        // conversion still lets every generated input reach the decoder.
        let text = String::from_utf8_lossy(bytes);
        match decode_edge(&text) {
            Ok(frame) => {
                let again = encode(&frame);
                assert_eq!(decode_edge(&again).as_ref(), Ok(&frame), "{again}");
                if let EdgeFrame::Sample(sample) = &frame {
                    assert!(sample.seq >= 1);
                }
            }
            Err(e) => {
                let code = e.reason().close_code();
                assert!((1000..=1011).contains(&code) || (4000..=4999).contains(&code));
                assert!(!e.to_string().is_empty());
            }
        }
    });
    eprintln!("decode_edge: {report:?}");
    assert!(report.inputs > report.corpus as u64);
}
