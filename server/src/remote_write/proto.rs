//! The Prometheus remote write 1.0 wire format: the `WriteRequest` protobuf messages
//! (declared with `prost` derives, no code generation) and the encoding of logged samples
//! into one snappy-compressed request body.
//!
//! Series and labels are the ones `/metrics` exports for the same values; only what the
//! store keeps per sample can be sent (see `docs/remote-write.md`).

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

/// Samples per stored row: the host series plus one per core.
pub fn values_per_row(row: &LoggedSample) -> usize {
    HOST_SERIES.len() + row.cores.len()
}

/// Builds the request for `rows` (in log order): one time series per (name, labels), its
/// samples in the rows' order, so each series stays in order.
pub fn write_request(rows: &[LoggedSample]) -> WriteRequest {
    let mut series = SeriesIndex::default();
    for row in rows {
        for (name, value) in HOST_SERIES {
            series.push(name, &row.host, None, value(row), row.ts_ms);
        }
        for (core, usage) in row.cores.iter().enumerate() {
            series.push(
                "utizmon_cpu_core_usage_ratio",
                &row.host,
                Some(core),
                *usage,
                row.ts_ms,
            );
        }
    }
    WriteRequest {
        timeseries: series.timeseries,
    }
}

/// Time series being built, found by (name, host, core).
#[derive(Default)]
struct SeriesIndex<'a> {
    index: HashMap<(&'static str, &'a str, Option<usize>), usize>,
    timeseries: Vec<TimeSeries>,
}

impl<'a> SeriesIndex<'a> {
    fn push(
        &mut self,
        name: &'static str,
        host: &'a str,
        core: Option<usize>,
        value: f64,
        ts: i64,
    ) {
        let timeseries = &mut self.timeseries;
        let at = *self.index.entry((name, host, core)).or_insert_with(|| {
            // Labels sorted by name, as receivers require.
            let mut labels = vec![label("__name__", name)];
            if let Some(core) = core {
                labels.push(label("core", &core.to_string()));
            }
            labels.push(label("host", host));
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
        assert_eq!(values_per_row(&rows[0]), 10);

        let body = encode(&request).unwrap();
        let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
        assert_eq!(WriteRequest::decode(raw.as_slice()).unwrap(), request);
    }
}
