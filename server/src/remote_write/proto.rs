//! The Prometheus remote write 1.0 wire format: one snappy-compressed `WriteRequest`
//! protobuf per batch of logged samples.
//!
//! Series and labels are the ones `/metrics` exports for the same values: the columns the
//! store keeps per sample, and what the whole stored sample holds (see `docs/scale.md`).
//!
//! Why the protobuf is written by hand: building `prost` messages first (a hash map from
//! every series' labels to its messages, two owned strings per label, then the encode and
//! the drop of the whole tree) cost about a third of the server's CPU while it fed two
//! receivers. Rows arrive host by host in the same shape every second, so grouping each
//! host's rows and writing its series straight into the body needs no labels of its own
//! and almost no allocation. The tests decode the body with the `prost` declarations of
//! the same messages and compare it with a request built the plain way.

use std::collections::HashMap;

use prost::encoding::{encode_varint, encoded_len_varint};
use utizmon_store::LoggedSample;

/// The series sent per sample, by `/metrics` name (without the per-core one).
type Series = (&'static str, fn(&LoggedSample) -> f64);

/// The series sent per sample (see above).
const HOST_SERIES: [Series; 8] = [
    ("utizmon_cpu_usage_ratio", |s| s.cpu),
    ("utizmon_memory_used_bytes", |s| s.mem_used),
    ("utizmon_memory_total_bytes", |s| s.mem_total),
    ("utizmon_swap_used_bytes", |s| s.swap_used),
    ("utizmon_swap_total_bytes", |s| s.swap_total),
    ("utizmon_load1", |s| s.load1),
    ("utizmon_load5", |s| s.load5),
    ("utizmon_load15", |s| s.load15),
];

/// A per-host series read from the whole sample.
type SampleSeries = (&'static str, fn(&utizmon_protocol::Sample) -> f64);

/// What the whole stored sample adds, as in `/metrics`: per-host values, then per
/// filesystem and per interface (each label set once per sample, as `/metrics` does).
const SAMPLE_SERIES: [SampleSeries; 2] = [
    ("utizmon_memory_available_bytes", |s| {
        s.memory.available_bytes as f64
    }),
    ("utizmon_uptime_seconds", |s| s.uptime_seconds),
];

/// A label's value: text borrowed from the row, or a core's index, written as digits only
/// when the body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum LabelValue<'a> {
    Text(&'a str),
    Index(usize),
}

/// The labels of a series besides `__name__` and `host` (at most two), in the order
/// `each_value` gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Extra<'a> {
    pairs: [(&'static str, LabelValue<'a>); 2],
    len: usize,
}

impl<'a> Extra<'a> {
    const NONE: Extra<'static> = Extra {
        pairs: [("", LabelValue::Index(0)); 2],
        len: 0,
    };

    fn one(name: &'static str, value: LabelValue<'a>) -> Extra<'a> {
        Extra {
            pairs: [(name, value), ("", LabelValue::Index(0))],
            len: 1,
        }
    }

    fn two(first: (&'static str, &'a str), second: (&'static str, &'a str)) -> Extra<'a> {
        Extra {
            pairs: [
                (first.0, LabelValue::Text(first.1)),
                (second.0, LabelValue::Text(second.1)),
            ],
            len: 2,
        }
    }

    fn pairs(&self) -> &[(&'static str, LabelValue<'a>)] {
        &self.pairs[..self.len]
    }
}

/// Calls `emit(name, labels besides host, value)` for every value of `row` remote write
/// sends: the stored columns, then what its whole sample holds.
fn each_value<'a>(row: &'a LoggedSample, mut emit: impl FnMut(&'static str, Extra<'a>, f64)) {
    for (name, value) in HOST_SERIES {
        emit(name, Extra::NONE, value(row));
    }
    for (core, usage) in row.cores.iter().enumerate() {
        emit(
            "utizmon_cpu_core_usage_ratio",
            Extra::one("core", LabelValue::Index(core)),
            *usage,
        );
    }
    let Some(sample) = &row.sample else {
        return;
    };
    for (name, value) in SAMPLE_SERIES {
        emit(name, Extra::NONE, value(sample));
    }
    let fss = &sample.filesystems;
    for (i, fs) in fss.iter().enumerate() {
        if fss[..i]
            .iter()
            .any(|o| o.mountpoint == fs.mountpoint && o.fstype == fs.fstype)
        {
            continue;
        }
        let labels = Extra::two(
            ("fstype", fs.fstype.as_str()),
            ("mountpoint", fs.mountpoint.as_str()),
        );
        emit(
            "utizmon_filesystem_size_bytes",
            labels,
            fs.size_bytes as f64,
        );
        emit(
            "utizmon_filesystem_avail_bytes",
            labels,
            fs.avail_bytes as f64,
        );
    }
    let nets = &sample.networks;
    for (i, net) in nets.iter().enumerate() {
        if nets[..i].iter().any(|o| o.device == net.device) {
            continue;
        }
        let labels = Extra::one("device", LabelValue::Text(net.device.as_str()));
        emit(
            "utizmon_network_receive_bytes_total",
            labels,
            net.rx_bytes as f64,
        );
        emit(
            "utizmon_network_transmit_bytes_total",
            labels,
            net.tx_bytes as f64,
        );
    }
}

/// One series of one host being built: its name, its other labels, and its samples
/// (value, Unix milliseconds) in row order.
struct HostSeries<'a> {
    name: &'static str,
    extra: Extra<'a>,
    samples: Vec<(f64, i64)>,
}

impl<'a> HostSeries<'a> {
    fn new(name: &'static str, extra: Extra<'a>) -> HostSeries<'a> {
        HostSeries {
            name,
            extra,
            samples: Vec::new(),
        }
    }
}

/// The series of one host's rows, in the order of their first value.
#[derive(Default)]
struct HostBuilder<'a> {
    series: Vec<HostSeries<'a>>,
    /// Built only once a row's values come in another order than the first row's (a
    /// filesystem mounted or gone): position of each series by its labels.
    index: Option<HashMap<(&'static str, Extra<'a>), usize>>,
}

impl<'a> HostBuilder<'a> {
    /// Adds the `nth` value of a row. Every row of a host usually has the same series in
    /// the same order, so the `nth` series is checked first; a new series at the end, while
    /// every row so far came in that order, is simply added (the labels of one row's values
    /// are all different: `each_value` sends a repeated filesystem or interface once).
    fn push(&mut self, nth: usize, name: &'static str, extra: Extra<'a>, value: (f64, i64)) {
        let at = match self.series.get(nth) {
            Some(s) if s.name == name && s.extra == extra => nth,
            None if self.index.is_none() && nth == self.series.len() => {
                self.series.push(HostSeries::new(name, extra));
                nth
            }
            _ => {
                let series = &self.series;
                let index = self.index.get_or_insert_with(|| {
                    let keys = series.iter().map(|s| (s.name, s.extra));
                    keys.enumerate().map(|(i, key)| (key, i)).collect()
                });
                let next = series.len();
                let at = *index.entry((name, extra)).or_insert(next);
                if at == next {
                    self.series.push(HostSeries::new(name, extra));
                }
                at
            }
        };
        self.series[at].samples.push(value);
    }
}

/// The uncompressed request for `rows` (in log order) and the number of values it carries:
/// one time series per (name, labels), its samples in the rows' order, so each series
/// stays in order. Hosts come in the order of their first row.
pub fn write_request(rows: &[LoggedSample]) -> (Vec<u8>, u64) {
    let mut hosts: Vec<(&str, Vec<&LoggedSample>)> = Vec::with_capacity(rows.len());
    let mut host_at: HashMap<&str, usize> = HashMap::with_capacity(rows.len());
    for row in rows {
        let at = *host_at.entry(row.host.as_str()).or_insert_with(|| {
            hosts.push((row.host.as_str(), Vec::new()));
            hosts.len() - 1
        });
        hosts[at].1.push(row);
    }
    let mut body = Vec::with_capacity(rows.len() * 1024);
    let mut values = 0;
    for (host, host_rows) in hosts {
        let mut builder = HostBuilder::default();
        for row in host_rows {
            let mut nth = 0;
            each_value(row, |name, extra, value| {
                builder.push(nth, name, extra, (value, row.ts_ms));
                nth += 1;
            });
        }
        for series in &builder.series {
            values += series.samples.len() as u64;
            write_series(&mut body, host, series);
        }
    }
    (body, values)
}

/// The request body: the protobuf of [`write_request`] in snappy's block format (not the
/// framed one), as remote write 1.0 requires.
pub fn compress(request: &[u8]) -> Result<Vec<u8>, snap::Error> {
    snap::raw::Encoder::new().compress_vec(request)
}

/// Protobuf wire types.
const LEN: u64 = 2;
const FIXED64: u64 = 1;
const VARINT: u64 = 0;

/// A field's key: its number and wire type.
fn key(field: u64, wire_type: u64) -> u64 {
    field << 3 | wire_type
}

/// Bytes of a length-delimited field of `len` bytes, key included.
fn delimited_len(len: usize) -> usize {
    1 + encoded_len_varint(len as u64) + len
}

/// Bytes of a string field as proto3 writes it: nothing when empty.
fn string_len(text: &[u8]) -> usize {
    if text.is_empty() {
        0
    } else {
        delimited_len(text.len())
    }
}

fn put_string(out: &mut Vec<u8>, field: u64, text: &[u8]) {
    if !text.is_empty() {
        encode_varint(key(field, LEN), out);
        encode_varint(text.len() as u64, out);
        out.extend_from_slice(text);
    }
}

/// A `prometheus.Sample`'s bytes: proto3 leaves out a zero value and a zero timestamp.
fn sample_len((value, ts): (f64, i64)) -> usize {
    let value = if value != 0.0 { 9 } else { 0 };
    let ts = if ts != 0 {
        1 + encoded_len_varint(ts as u64)
    } else {
        0
    };
    value + ts
}

/// The digits of a core's index, or the label's text.
fn label_bytes<'b>(value: &'b LabelValue<'_>, digits: &'b mut [u8; 20]) -> &'b [u8] {
    match value {
        LabelValue::Text(text) => text.as_bytes(),
        LabelValue::Index(mut n) => {
            let mut at = digits.len();
            loop {
                at -= 1;
                digits[at] = b'0' + (n % 10) as u8;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            &digits[at..]
        }
    }
}

/// Appends one `WriteRequest.timeseries` entry: labels sorted by name, as receivers
/// require (`__name__` sorts before any lower-case name), then the samples.
fn write_series(out: &mut Vec<u8>, host: &str, series: &HostSeries<'_>) {
    let mut labels = [("", LabelValue::Index(0)); 4];
    labels[0] = ("__name__", LabelValue::Text(series.name));
    labels[1] = ("host", LabelValue::Text(host));
    let extra = series.extra.pairs();
    labels[2..2 + extra.len()].copy_from_slice(extra);
    let labels = &mut labels[..2 + extra.len()];
    labels.sort_unstable_by_key(|&(name, _)| name);
    let mut digits = [0u8; 20];
    let label_len = |name: &str, value: &[u8]| string_len(name.as_bytes()) + string_len(value);
    let mut len = 0;
    for (name, value) in labels.iter() {
        len += delimited_len(label_len(name, label_bytes(value, &mut digits)));
    }
    for &sample in &series.samples {
        len += delimited_len(sample_len(sample));
    }
    encode_varint(key(1, LEN), out);
    encode_varint(len as u64, out);
    for (name, value) in labels.iter() {
        let value = label_bytes(value, &mut digits);
        encode_varint(key(1, LEN), out);
        encode_varint(label_len(name, value) as u64, out);
        put_string(out, 1, name.as_bytes());
        put_string(out, 2, value);
    }
    for &(value, ts) in &series.samples {
        encode_varint(key(2, LEN), out);
        encode_varint(sample_len((value, ts)) as u64, out);
        if value != 0.0 {
            encode_varint(key(1, FIXED64), out);
            out.extend_from_slice(&value.to_le_bytes());
        }
        if ts != 0 {
            encode_varint(key(2, VARINT), out);
            encode_varint(ts as u64, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use prost::Message;
    use utizmon_protocol::{Filesystem, Network};

    use super::*;

    /// `prometheus.WriteRequest`, declared with `prost` to read what [`write_request`] wrote.
    #[derive(Clone, PartialEq, prost::Message)]
    struct WriteRequest {
        #[prost(message, repeated, tag = "1")]
        timeseries: Vec<TimeSeries>,
    }

    /// `prometheus.TimeSeries`.
    #[derive(Clone, PartialEq, prost::Message)]
    struct TimeSeries {
        #[prost(message, repeated, tag = "1")]
        labels: Vec<Label>,
        #[prost(message, repeated, tag = "2")]
        samples: Vec<Sample>,
    }

    /// `prometheus.Label`.
    #[derive(Clone, PartialEq, prost::Message)]
    struct Label {
        #[prost(string, tag = "1")]
        name: String,
        #[prost(string, tag = "2")]
        value: String,
    }

    /// `prometheus.Sample`.
    #[derive(Clone, PartialEq, prost::Message)]
    struct Sample {
        #[prost(double, tag = "1")]
        value: f64,
        #[prost(int64, tag = "2")]
        timestamp: i64,
    }

    /// The body [`write_request`] writes for `rows`, compressed, read back the way a
    /// receiver reads it; checks the value count on the way.
    fn sent(rows: &[LoggedSample]) -> WriteRequest {
        let (raw, values) = write_request(rows);
        let body = compress(&raw).unwrap();
        let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
        let request = WriteRequest::decode(raw.as_slice()).unwrap();
        let carried: usize = request.timeseries.iter().map(|t| t.samples.len()).sum();
        assert_eq!(carried as u64, values);
        request
    }

    /// The same request built the plain way (a map from labels to `prost` messages),
    /// series in the order of their first value.
    fn expected(rows: &[LoggedSample]) -> WriteRequest {
        let mut index: HashMap<Vec<(String, String)>, usize> = HashMap::new();
        let mut timeseries: Vec<TimeSeries> = Vec::new();
        for row in rows {
            each_value(row, |name, extra, value| {
                let mut labels = vec![
                    ("__name__".to_owned(), name.to_owned()),
                    ("host".to_owned(), row.host.clone()),
                ];
                for (n, v) in extra.pairs() {
                    let v = match v {
                        LabelValue::Text(text) => text.to_string(),
                        LabelValue::Index(i) => i.to_string(),
                    };
                    labels.push((n.to_string(), v));
                }
                labels.sort();
                let at = *index.entry(labels.clone()).or_insert_with(|| {
                    timeseries.push(TimeSeries {
                        labels: labels
                            .iter()
                            .map(|(name, value)| Label {
                                name: name.clone(),
                                value: value.clone(),
                            })
                            .collect(),
                        samples: Vec::new(),
                    });
                    timeseries.len() - 1
                });
                timeseries[at].samples.push(Sample {
                    value,
                    timestamp: row.ts_ms,
                });
            });
        }
        // Through prost's own bytes, so proto3's defaults (a -0.0 sent as nothing) apply
        // to both sides alike.
        let request = WriteRequest { timeseries };
        WriteRequest::decode(request.encode_to_vec().as_slice()).unwrap()
    }

    /// Both requests with their series in label order: the two builders may order series
    /// differently, receivers do not care.
    fn sorted(mut request: WriteRequest) -> WriteRequest {
        let key = |t: &TimeSeries| {
            t.labels
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect::<Vec<_>>()
        };
        request.timeseries.sort_by_key(key);
        request
    }

    fn row(host: &str, ts_ms: i64, cpu: f64) -> LoggedSample {
        LoggedSample {
            id: ts_ms,
            host: host.into(),
            ts_ms,
            cpu,
            cores: vec![0.5, 0.25],
            mem_used: 1.0,
            mem_total: 2.0,
            swap_used: 0.0,
            swap_total: 0.0,
            load1: 0.1,
            load5: 0.2,
            load15: 0.3,
            sample: None,
        }
    }

    fn fs(mountpoint: &str, size_bytes: u64) -> Filesystem {
        Filesystem {
            mountpoint: mountpoint.into(),
            fstype: "ext4".into(),
            size_bytes,
            avail_bytes: 5,
            ..Filesystem::default()
        }
    }

    fn with_sample(mut row: LoggedSample, filesystems: Vec<Filesystem>) -> LoggedSample {
        let mut sample = utizmon_protocol::Sample {
            uptime_seconds: 42.0,
            filesystems,
            networks: vec![Network {
                device: "eth0".into(),
                rx_bytes: 7,
                tx_bytes: 9,
                ..Network::default()
            }],
            ..utizmon_protocol::Sample::default()
        };
        sample.memory.available_bytes = 3;
        row.sample = Some(Arc::new(sample));
        row
    }

    #[test]
    fn one_series_per_name_and_labels_in_row_order_and_round_trips() {
        let rows = [
            row("a", 1000, 0.1),
            row("b", 1000, 0.9),
            row("a", 2000, 0.2),
        ];
        let request = sent(&rows);
        assert_eq!(request.timeseries.len(), 2 * 10);
        let cpu_a = request
            .timeseries
            .iter()
            .find(|t| t.labels[0].value == "utizmon_cpu_usage_ratio" && t.labels[1].value == "a")
            .unwrap();
        let got: Vec<(i64, f64)> = cpu_a
            .samples
            .iter()
            .map(|s| (s.timestamp, s.value))
            .collect();
        assert_eq!(got, [(1000, 0.1), (2000, 0.2)]);
        let core = request
            .timeseries
            .iter()
            .find(|t| t.labels[0].value == "utizmon_cpu_core_usage_ratio")
            .unwrap();
        // Labels sorted by name, as receivers require.
        let names: Vec<&str> = core.labels.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["__name__", "core", "host"]);
        assert_eq!(sorted(request), sorted(expected(&rows)));
    }

    #[test]
    fn the_whole_sample_adds_filesystems_networks_uptime_and_available_memory() {
        // A bind mount repeats "/": sent once, as /metrics does.
        let with = with_sample(
            row("a", 1000, 0.5),
            vec![fs("/", 10), fs("/srv", 20), fs("/", 10)],
        );
        // 10 stored columns + 2 per-host + 2 filesystems x 2 + 1 interface x 2.
        let request = sent(&[with]);
        let values: usize = request.timeseries.iter().map(|t| t.samples.len()).sum();
        assert_eq!(values, 10 + 2 + 4 + 2);
        let find = |name: &str, label: (&str, &str)| {
            request
                .timeseries
                .iter()
                .find(|t| {
                    t.labels[0].value == name
                        && t.labels
                            .iter()
                            .any(|l| l.name == label.0 && l.value == label.1)
                })
                .map(|t| {
                    let names: Vec<&str> = t.labels.iter().map(|l| l.name.as_str()).collect();
                    (names, t.samples[0].value)
                })
        };
        assert_eq!(
            find("utizmon_filesystem_size_bytes", ("mountpoint", "/srv")),
            Some((vec!["__name__", "fstype", "host", "mountpoint"], 20.0))
        );
        assert_eq!(
            find("utizmon_network_transmit_bytes_total", ("device", "eth0")),
            Some((vec!["__name__", "device", "host"], 9.0))
        );
        assert_eq!(
            find("utizmon_uptime_seconds", ("host", "a")).map(|(_, v)| v),
            Some(42.0)
        );
        assert_eq!(
            find("utizmon_memory_available_bytes", ("host", "a")).map(|(_, v)| v),
            Some(3.0)
        );
    }

    #[test]
    fn hosts_whose_series_change_between_rows_keep_every_series_in_order() {
        // A filesystem mounted, then gone; a host with more cores; zeros, a negative and
        // a huge timestamp, NaN: every value the plain builder sends, and nothing else.
        let mut wide = row("b", 1500, 0.0);
        wide.cores = (0..12).map(|i| i as f64 / 12.0).collect();
        wide.swap_total = -0.0;
        let mut odd = row("a", 0, f64::NAN);
        odd.ts_ms = -5;
        let mut far = row("a", i64::MAX, 1.0);
        far.cores.clear();
        let rows = [
            with_sample(row("a", 1000, 0.1), vec![fs("/", 10)]),
            wide,
            with_sample(row("a", 2000, 0.2), vec![fs("/", 10), fs("/mnt", 30)]),
            with_sample(row("a", 3000, 0.3), vec![fs("/mnt", 30)]),
            row("a", 4000, 0.4),
            odd,
            far,
        ];
        let got = sorted(sent(&rows));
        let want = sorted(expected(&rows));
        // NaN is not equal to itself: compare its bits.
        let bits = |r: &WriteRequest| {
            r.timeseries
                .iter()
                .map(|t| {
                    let samples: Vec<(u64, i64)> = t
                        .samples
                        .iter()
                        .map(|s| (s.value.to_bits(), s.timestamp))
                        .collect();
                    (t.labels.clone(), samples)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(bits(&got), bits(&want));
        let mnt = got
            .timeseries
            .iter()
            .find(|t| t.labels.iter().any(|l| l.value == "/mnt"))
            .unwrap();
        let times: Vec<i64> = mnt.samples.iter().map(|s| s.timestamp).collect();
        assert_eq!(times, [2000, 3000], "in row order");
        // Byte for byte what prost writes for the same series in the same order.
        let (raw, _) = write_request(&rows);
        let decoded = WriteRequest::decode(raw.as_slice()).unwrap();
        assert_eq!(decoded.encode_to_vec(), raw);
    }
}
