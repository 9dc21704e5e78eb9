//! Decoding an [`EdgeFrame`] in one pass.
//!
//! serde's derive for an internally tagged enum (`"type": "sample"` among the fields)
//! first buffers the whole object into a generic tree, then reads the variant out of that
//! tree: every sample parsed twice. That was about a tenth of the server's CPU per sample.
//! Every edge writes `"type"` first (it is the first field serde serialises), so this reads
//! the tag and hands the rest of the same map straight to the variant's own `Deserialize`,
//! keeping its checks (unknown and missing fields). A frame with `"type"` elsewhere is still
//! accepted, through the buffered path.

use std::borrow::Cow;
use std::fmt;

use serde::de::value::MapAccessDeserializer;
use serde::de::{Error, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::{EdgeFrame, Hello, Sample};

/// The variant names, for "unknown variant" errors.
const VARIANTS: &[&str] = &["hello", "sample"];

/// The buffered path for frames whose `"type"` is not the first key.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
// Lives for one decode and is moved straight into an `EdgeFrame` of the same shape.
#[allow(clippy::large_enum_variant)]
enum Buffered {
    Hello(Hello),
    Sample(Sample),
}

impl<'de> Deserialize<'de> for EdgeFrame {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(FrameVisitor)
    }
}

struct FrameVisitor;

impl<'de> Visitor<'de> for FrameVisitor {
    type Value = EdgeFrame;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a frame object with a \"type\"")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<EdgeFrame, A::Error> {
        let Some(first) = map.next_key::<Cow<'de, str>>()? else {
            return Err(A::Error::missing_field("type"));
        };
        if first == "type" {
            let tag = map.next_value::<Cow<'de, str>>()?;
            let rest = MapAccessDeserializer::new(map);
            return match tag.as_ref() {
                "hello" => Hello::deserialize(rest).map(EdgeFrame::Hello),
                "sample" => Sample::deserialize(rest).map(EdgeFrame::Sample),
                other => Err(A::Error::unknown_variant(other, VARIANTS)),
            };
        }
        let mut object = serde_json::Map::new();
        object.insert(first.into_owned(), map.next_value()?);
        while let Some((key, value)) = map.next_entry::<String, serde_json::Value>()? {
            object.insert(key, value);
        }
        match Buffered::deserialize(serde_json::Value::Object(object)).map_err(A::Error::custom)? {
            Buffered::Hello(hello) => Ok(EdgeFrame::Hello(hello)),
            Buffered::Sample(sample) => Ok(EdgeFrame::Sample(sample)),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{decode_edge, encode, EdgeFrame};

    fn sample_text() -> String {
        encode(&EdgeFrame::Sample(crate::Sample {
            seq: 3,
            ts_ms: crate::now_ms(),
            ..Default::default()
        }))
    }

    #[test]
    fn the_tag_first_and_the_tag_last_decode_alike() {
        let text = sample_text();
        assert!(text.starts_with(r#"{"type":"sample","#), "{text}");
        let first = decode_edge(&text).unwrap();
        let moved = format!(
            r#"{{{},"type":"sample"}}"#,
            &text[r#"{"type":"sample","#.len()..text.len() - 1]
        );
        assert_eq!(decode_edge(&moved).unwrap(), first);
    }

    #[test]
    fn unknown_tags_fields_and_shapes_are_refused_with_their_reason() {
        let text = sample_text();
        let cases = [
            (
                text.replacen("\"sample\"", "\"bogus\"", 1),
                "unknown variant `bogus`",
            ),
            (
                text.replacen("{", r#"{"extra":1,"#, 1),
                "unknown field `extra`",
            ),
            (
                text.replacen("\"seq\":3,", r#""seq":3,"extra":1,"#, 1),
                "unknown field `extra`",
            ),
            ("{}".to_string(), "missing field `type`"),
            (r#"{"seq":1}"#.to_string(), "missing field `type`"),
            ("[1,2]".to_string(), "expected a frame object"),
            (r#"{"type":7}"#.to_string(), "invalid type"),
        ];
        for (frame, reason) in cases {
            let err = decode_edge(&frame).unwrap_err().to_string();
            assert!(err.contains(reason), "{frame}: {err}");
        }
    }
}
