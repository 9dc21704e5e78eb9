//! Keeps `docs/protocol.md` honest: every example frame on that page must decode.

use utizmon_protocol::{decode_edge, decode_server, EdgeFrame, ServerFrame};

/// The ```json blocks of a Markdown document, in order.
fn json_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_start()) {
            (None, "```json") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn every_example_frame_in_protocol_md_decodes() {
    let doc = include_str!("../../docs/protocol.md");
    let blocks = json_blocks(doc);
    let (mut hellos, mut samples, mut acks, mut errors) = (0, 0, 0, 0);
    for block in &blocks {
        let value: serde_json::Value = serde_json::from_str(block).expect("example is JSON");
        match value["type"].as_str() {
            Some("hello") | Some("sample") => match decode_edge(block) {
                Ok(EdgeFrame::Hello(_)) => hellos += 1,
                Ok(EdgeFrame::Sample(_)) => samples += 1,
                Err(e) => panic!("example does not decode: {e}\n{block}"),
            },
            Some("ack") | Some("error") => match decode_server(block) {
                Ok(ServerFrame::Ack(_)) => acks += 1,
                Ok(ServerFrame::Error(_)) => errors += 1,
                Err(e) => panic!("example does not decode: {e}\n{block}"),
            },
            other => panic!("example with unknown type {other:?}"),
        }
    }
    // One sample of minor 0, one with every minor-1 addition, one with the minor-2 tables.
    assert_eq!((hellos, samples, acks, errors), (1, 3, 1, 1));
}
