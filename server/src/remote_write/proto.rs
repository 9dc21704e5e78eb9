//! The Prometheus remote write 1.0 wire format: the `WriteRequest` protobuf messages
//! (declared with `prost` derives, no code generation) and the encoding of logged samples
//! into one snappy-compressed request body.
//!
//! Series and labels are the ones `/metrics` exports for the same values: the columns the
//! store keeps per sample, and what the whole stored sample holds (see `docs/scale.md`).

use std::borrow::Cow;
use std::collections::HashMap;

use utizmon_store::LoggedSample;

/// `prometheus.WriteRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// `prometheus.TimeSeries`: labels sorted by name, samples in time order.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Sample`: value and Unix milliseconds.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

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

/// Labels of a series besides `__name__` and `host`, borrowed from the row where they can be.
type Extra<'a> = Vec<(&'static str, Cow<'a, str>)>;

/// Calls `emit(name, labels besides host, value)` for every value of `row` remote write
/// sends: the stored columns, then what its whole sample holds.
fn each_value<'a>(row: &'a LoggedSample, mut emit: impl FnMut(&'static str, Extra<'a>, f64)) {
    for (name, value) in HOST_SERIES {
        emit(name, Vec::new(), value(row));
    }
    for (core, usage) in row.cores.iter().enumerate() {
        emit(
            "utizmon_cpu_core_usage_ratio",
            vec![("core", Cow::Owned(core.to_string()))],
            *usage,
        );
    }
    let Some(sample) = &row.sample else {
        return;
    };
    for (name, value) in SAMPLE_SERIES {
        emit(name, Vec::new(), value(sample));
    }
    let fss = &sample.filesystems;
    for (i, fs) in fss.iter().enumerate() {
        if fss[..i]
            .iter()
            .any(|o| o.mountpoint == fs.mountpoint && o.fstype == fs.fstype)
        {
            continue;
        }
        let labels = || {
            vec![
                ("fstype", Cow::Borrowed(fs.fstype.as_str())),
                ("mountpoint", Cow::Borrowed(fs.mountpoint.as_str())),
            ]
        };
        emit(
            "utizmon_filesystem_size_bytes",
            labels(),
            fs.size_bytes as f64,
        );
        emit(
            "utizmon_filesystem_avail_bytes",
            labels(),
            fs.avail_bytes as f64,
        );
    }
    let nets = &sample.networks;
    for (i, net) in nets.iter().enumerate() {
        if nets[..i].iter().any(|o| o.device == net.device) {
            continue;
        }
        let labels = || vec![("device", Cow::Borrowed(net.device.as_str()))];
        emit(
            "utizmon_network_receive_bytes_total",
            labels(),
            net.rx_bytes as f64,
        );
        emit(
            "utizmon_network_transmit_bytes_total",
            labels(),
            net.tx_bytes as f64,
        );
    }
}

/// Builds the request for `rows` (in log order): one time series per (name, labels), its
/// samples in the rows' order, so each series stays in order.
pub fn write_request(rows: &[LoggedSample]) -> WriteRequest {
    let mut series = SeriesIndex::default();
    for row in rows {
        each_value(row, |name, labels, value| {
            series.push(name, &row.host, labels, value, row.ts_ms);
        });
    }
    WriteRequest {
        timeseries: series.timeseries,
    }
}

/// Values a request carries (counted in `utizmon_remote_write_samples_total`).
pub fn values(request: &WriteRequest) -> u64 {
    request
        .timeseries
        .iter()
        .map(|t| t.samples.len() as u64)
        .sum()
}

/// Time series being built, found by (name, host, other labels).
#[derive(Default)]
struct SeriesIndex<'a> {
    index: HashMap<(&'static str, &'a str, Extra<'a>), usize>,
    timeseries: Vec<TimeSeries>,
}

impl<'a> SeriesIndex<'a> {
    fn push(&mut self, name: &'static str, host: &'a str, extra: Extra<'a>, value: f64, ts: i64) {
        let timeseries = &mut self.timeseries;
        let at = *self
            .index
            .entry((name, host, extra))
            .or_insert_with_key(|(_, _, extra)| {
                // Labels sorted by name, as receivers require (`__name__` sorts first).
                let mut labels = vec![label("__name__", name), label("host", host)];
                labels.extend(extra.iter().map(|(n, v)| label(n, v)));
                labels.sort_by(|a, b| a.name.cmp(&b.name));
                timeseries.push(TimeSeries {
                    labels,
                    samples: Vec::new(),
                });
                timeseries.len() - 1
            });
        timeseries[at].samples.push(Sample {
            value,
            timestamp: ts,
        });
    }
}

fn label(name: &str, value: &str) -> Label {
    Label {
        name: name.to_owned(),
        value: value.to_owned(),
    }
}

/// The request body: protobuf, then snappy's block format (not the framed one), as
/// remote write 1.0 requires.
pub fn encode(request: &WriteRequest) -> Result<Vec<u8>, snap::Error> {
    snap::raw::Encoder::new().compress_vec(&prost::Message::encode_to_vec(request))
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

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

    #[test]
    fn one_series_per_name_and_labels_in_row_order_and_round_trips() {
        let rows = [
            row("a", 1000, 0.1),
            row("b", 1000, 0.9),
            row("a", 2000, 0.2),
        ];
        let request = write_request(&rows);
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
        assert_eq!(values(&request), 3 * 10);

        let body = encode(&request).unwrap();
        let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
        assert_eq!(WriteRequest::decode(raw.as_slice()).unwrap(), request);
    }

    #[test]
    fn the_whole_sample_adds_filesystems_networks_uptime_and_available_memory() {
        use utizmon_protocol::{Filesystem, Network};
        let fs = |mountpoint: &str, size_bytes| Filesystem {
            mountpoint: mountpoint.into(),
            fstype: "ext4".into(),
            size_bytes,
            avail_bytes: 5,
            ..Filesystem::default()
        };
        let mut sample = utizmon_protocol::Sample {
            uptime_seconds: 42.0,
            // A bind mount repeats "/": sent once, as /metrics does.
            filesystems: vec![fs("/", 10), fs("/srv", 20), fs("/", 10)],
            networks: vec![Network {
                device: "eth0".into(),
                rx_bytes: 7,
                tx_bytes: 9,
                ..Network::default()
            }],
            ..utizmon_protocol::Sample::default()
        };
        sample.memory.available_bytes = 3;
        let mut with = row("a", 1000, 0.5);
        with.sample = Some(std::sync::Arc::new(sample));
        // 10 stored columns + 2 per-host + 2 filesystems x 2 + 1 interface x 2.
        let request = write_request(&[with]);
        assert_eq!(values(&request), 10 + 2 + 4 + 2);
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
}
