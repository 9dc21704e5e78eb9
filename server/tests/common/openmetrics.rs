//! A strict checker for the OpenMetrics 1.0 text format, enough for what utizmon exports:
//! metadata order, family/sample name agreement, label syntax and escaping, value syntax,
//! duplicate families and series, and the final `# EOF`.

use std::collections::HashSet;

/// One parsed sample: name, labels (unescaped) and value.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedSample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// Parses `text`, returning every sample or the first violation with its line number.
pub fn parse(text: &str) -> Result<Vec<ParsedSample>, String> {
    let Some(body) = text
        .strip_suffix("# EOF\n")
        .or_else(|| text.strip_suffix("# EOF"))
    else {
        return Err("missing final # EOF".into());
    };
    let mut samples = Vec::new();
    let mut families_seen: HashSet<String> = HashSet::new();
    let mut series_seen: HashSet<String> = HashSet::new();
    let mut family: Option<(String, String)> = None; // (name, type)
    let mut family_has_samples = false;
    let mut help_seen = false;
    for (i, line) in body.split_terminator('\n').enumerate() {
        let n = i + 1;
        let err = |m: &str| Err(format!("line {n}: {m}: {line:?}"));
        if line.is_empty() {
            return err("empty line");
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let kind = parts.next().unwrap_or_default();
            let name = parts.next().unwrap_or_default();
            let arg = parts.next();
            if !valid_metric_name(name) {
                return err("bad metric name in metadata");
            }
            let same_family = family.as_ref().is_some_and(|(f, _)| f == name);
            if !same_family {
                if !families_seen.insert(name.to_owned()) {
                    return err("family appears twice (interleaved or duplicated)");
                }
                family = Some((name.to_owned(), "unknown".into()));
                family_has_samples = false;
                help_seen = false;
            } else if family_has_samples {
                return err("metadata after samples");
            }
            match kind {
                "TYPE" => {
                    let ty = arg.unwrap_or_default();
                    let known = [
                        "counter",
                        "gauge",
                        "histogram",
                        "gaugehistogram",
                        "stateset",
                        "info",
                        "summary",
                        "unknown",
                    ];
                    if !known.contains(&ty) {
                        return err("unknown type");
                    }
                    if let Some(f) = family.as_mut() {
                        f.1 = ty.to_owned();
                    }
                }
                "HELP" => {
                    if help_seen {
                        return err("second HELP");
                    }
                    help_seen = true;
                    check_escapes(arg.unwrap_or_default(), false)
                        .map_err(|m| format!("line {n}: {m}"))?;
                }
                "UNIT" => {
                    let unit = arg.unwrap_or_default();
                    if !name.ends_with(&format!("_{unit}")) {
                        return err("unit is not a suffix of the name");
                    }
                }
                _ => return err("unknown metadata"),
            }
            continue;
        }
        if line.starts_with('#') {
            return err("comment that is not metadata");
        }
        let sample = parse_sample(line).map_err(|m| format!("line {n}: {m}: {line:?}"))?;
        let Some((fname, ftype)) = &family else {
            return err("sample before any TYPE");
        };
        let allowed: Vec<String> = match ftype.as_str() {
            "counter" => vec![format!("{fname}_total"), format!("{fname}_created")],
            "info" => vec![format!("{fname}_info")],
            "gauge" | "unknown" => vec![fname.clone()],
            _ => return err("type not supported by this checker"),
        };
        if !allowed.contains(&sample.name) {
            return err("sample name does not belong to its family");
        }
        if ftype == "counter" && (sample.value.is_nan() || sample.value < 0.0) {
            return err("negative or NaN counter");
        }
        let mut names = HashSet::new();
        for (k, _) in &sample.labels {
            if !names.insert(k.clone()) {
                return err("duplicate label name");
            }
        }
        let mut key_labels = sample.labels.clone();
        key_labels.sort();
        if !series_seen.insert(format!("{}{key_labels:?}", sample.name)) {
            return err("duplicate series");
        }
        family_has_samples = true;
        samples.push(sample);
    }
    Ok(samples)
}

fn valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Checks escapes; in label values (`quoted`) a bare `"` ends the value, so it is an error here.
fn check_escapes(text: &str, quoted: bool) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('\\') => out.push('\\'),
                Some('"') => out.push('"'),
                Some('n') => out.push('\n'),
                other => return Err(format!("bad escape \\{other:?}")),
            },
            '"' if quoted => return Err("unescaped quote".into()),
            '\n' => return Err("raw newline".into()),
            c => out.push(c),
        }
    }
    Ok(out)
}

fn parse_sample(line: &str) -> Result<ParsedSample, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    if !valid_metric_name(name) {
        return Err("bad metric name".into());
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        let mut s = after;
        loop {
            if let Some(r) = s.strip_prefix('}') {
                rest = r;
                break;
            }
            let eq = s.find('=').ok_or("label without =")?;
            let key = &s[..eq];
            if !valid_label_name(key) {
                return Err(format!("bad label name {key:?}"));
            }
            let v = s[eq + 1..]
                .strip_prefix('"')
                .ok_or("label value not quoted")?;
            // Find the closing quote, skipping escaped characters.
            let mut end = None;
            let mut escaped = false;
            for (i, c) in v.char_indices() {
                match (escaped, c) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '"') => {
                        end = Some(i);
                        break;
                    }
                    _ => {}
                }
            }
            let end = end.ok_or("unterminated label value")?;
            labels.push((key.to_owned(), check_escapes(&v[..end], true)?));
            s = &v[end + 1..];
            if let Some(r) = s.strip_prefix(',') {
                s = r;
                if s.starts_with('}') {
                    return Err("trailing comma".into());
                }
            } else if !s.starts_with('}') {
                return Err("expected , or }".into());
            }
        }
    }
    let rest = rest.strip_prefix(' ').ok_or("no space before value")?;
    let mut parts = rest.split(' ');
    let value = parts.next().ok_or("no value")?;
    let value = parse_value(value)?;
    if let Some(ts) = parts.next() {
        parse_value(ts)?;
    }
    if parts.next().is_some() {
        return Err("trailing fields".into());
    }
    Ok(ParsedSample {
        name: name.to_owned(),
        labels,
        value,
    })
}

fn parse_value(text: &str) -> Result<f64, String> {
    match text {
        "NaN" => return Ok(f64::NAN),
        "+Inf" => return Ok(f64::INFINITY),
        "-Inf" => return Ok(f64::NEG_INFINITY),
        _ => {}
    }
    let ok = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'));
    if !ok {
        return Err(format!("bad value {text:?}"));
    }
    text.parse().map_err(|_| format!("bad value {text:?}"))
}

#[test]
fn checker_rejects_what_it_should() {
    let good = "# TYPE a gauge\na{x=\"q\\\"b\\\\\"} 1\n# TYPE c counter\nc_total 2\n# EOF\n";
    let parsed = parse(good).unwrap();
    assert_eq!(parsed[0].labels[0].1, "q\"b\\");
    for (bad, why) in [
        ("# TYPE a gauge\na 1\n", "missing # EOF"),
        (
            "# TYPE a gauge\na{x=\"q\"b\"} 1\n# EOF\n",
            "unescaped quote",
        ),
        ("# TYPE a gauge\na{x=\"\\t\"} 1\n# EOF\n", "bad escape"),
        ("# TYPE a gauge\na 1\na 2\n# EOF\n", "duplicate series"),
        (
            "# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\n# TYPE a gauge\n# EOF\n",
            "family twice",
        ),
        ("# TYPE c counter\nc 1\n# EOF\n", "counter without _total"),
        ("# TYPE a gauge\na one\n# EOF\n", "bad value"),
        ("# TYPE a gauge\na{x=\"1\",} 1\n# EOF\n", "trailing comma"),
        ("# TYPE a gauge\na 1\n# EOF\nb 1\n", "content after EOF"),
    ] {
        assert!(parse(bad).is_err(), "accepted {why}");
    }
}
