//! `--history-url`: host history read from a Prometheus-compatible query API (Prometheus,
//! VictoriaMetrics, Mimir, Thanos) instead of this master's own store.
//!
//! Why: when several masters remote-write into one engine (`docs/scale.md`), an edge that
//! failed over from one master to another has its history split between their stores, but
//! whole in the engine. Reading it back from there gives the host page one continuous
//! history, whichever master serves it.
//!
//! The series are the ones `--remote-write` sends (`remote_write/proto.rs`), so the points
//! have the same fields as the store's; buckets are `avg_over_time` (and `min_`/`max_` for
//! CPU) over windows of one step, so a bucket means what it means in the store's answer.
//! Network rates are not remote-written, so points read from an engine have none.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Deserialize;
use utizmon_store::Point;

use crate::history::HistoryQuery;

/// How long one query_range request may take before the API answers with an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A Prometheus-compatible query API, e.g. `http://127.0.0.1:9090` (Prometheus) or
/// `http://127.0.0.1:8428` (VictoriaMetrics single node).
#[derive(Debug, Clone)]
pub struct HistoryEngine {
    client: reqwest::Client,
    query_range: reqwest::Url,
}

/// One value of a [`Point`] read from the engine: the PromQL function and series name
/// that give it, and where it goes.
struct Field {
    function: &'static str,
    series: &'static str,
    set: fn(&mut Point, f64),
}

/// The host-wide fields of a point (cores are read separately: one series per core).
const FIELDS: [Field; 10] = [
    avg("utizmon_cpu_usage_ratio", |p, v| p.cpu_ratio = v),
    Field {
        function: "min_over_time",
        ..avg("utizmon_cpu_usage_ratio", |p, v| p.cpu_ratio_min = v)
    },
    Field {
        function: "max_over_time",
        ..avg("utizmon_cpu_usage_ratio", |p, v| p.cpu_ratio_max = v)
    },
    avg("utizmon_memory_used_bytes", |p, v| p.mem_used_bytes = v),
    avg("utizmon_memory_total_bytes", |p, v| p.mem_total_bytes = v),
    avg("utizmon_swap_used_bytes", |p, v| p.swap_used_bytes = v),
    avg("utizmon_swap_total_bytes", |p, v| p.swap_total_bytes = v),
    avg("utizmon_load1", |p, v| p.load1 = v),
    avg("utizmon_load5", |p, v| p.load5 = v),
    avg("utizmon_load15", |p, v| p.load15 = v),
];

/// A field read as the bucket's average, like the local store's rollups.
const fn avg(series: &'static str, set: fn(&mut Point, f64)) -> Field {
    Field {
        function: "avg_over_time",
        series,
        set,
    }
}

/// The per-core series.
const CORES: &str = "utizmon_cpu_core_usage_ratio";

/// The engine's answer to `query_range` (only what we read).
#[derive(Debug, Deserialize)]
struct Response {
    status: String,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    data: Option<Data>,
}

#[derive(Debug, Deserialize)]
struct Data {
    #[serde(default)]
    result: Vec<Series>,
}

#[derive(Debug, Deserialize)]
struct Series {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<(f64, String)>,
}

/// The evaluation grid of one history query: windows of `step_ms` ending at `first_end_ms`,
/// `first_end_ms + step_ms`, ... up to `last_end_ms`. A window ending at `t` covers
/// `(t - step, t]`, and its point is stamped with the window's start, as the store stamps
/// a bucket with its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grid {
    pub step_ms: u64,
    pub first_end_ms: u64,
    pub last_end_ms: u64,
}

impl Grid {
    /// The grid of `query`; raw queries (`step_ms == 0`) use windows of one edge interval,
    /// so each window holds one sample.
    pub fn of(query: HistoryQuery, interval_ms: u64) -> Grid {
        let step_ms = if query.step_ms == 0 {
            interval_ms.max(1)
        } else {
            query.step_ms
        };
        let first_start = query.from_ms / step_ms * step_ms;
        let last_start = query.to_ms / step_ms * step_ms;
        Grid {
            step_ms,
            first_end_ms: first_start + step_ms,
            last_end_ms: last_start + step_ms,
        }
    }

    /// The PromQL range of one window, e.g. `[1500ms]`.
    fn window(&self) -> String {
        format!("[{}ms]", self.step_ms)
    }
}

/// A label value as a PromQL string literal: double-quoted, escaped as the exposition
/// format escapes label values (backslash, quote, newline).
fn promql_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    crate::node_metrics::escape_into(&mut out, value);
    out.push('"');
    out
}

/// Unix milliseconds as the API's seconds with a fraction.
fn seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

impl HistoryEngine {
    /// An engine at `base` (scheme, host, port and optional path prefix; the API path is
    /// appended). Fails on anything that is not an http(s) URL.
    pub fn new(base: &str) -> anyhow::Result<HistoryEngine> {
        let mut url = reqwest::Url::parse(base)
            .with_context(|| format!("--history-url {base:?} is not a URL"))?;
        if !matches!(url.scheme(), "http" | "https") {
            bail!("--history-url {base:?}: only http and https are supported");
        }
        let path = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{path}/api/v1/query_range"));
        url.set_query(None);
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .context("building the history engine's HTTP client")?;
        Ok(HistoryEngine {
            client,
            query_range: url,
        })
    }

    /// The history of `host` over `query`: one point per window that holds a CPU value,
    /// oldest first. Queries run concurrently; any failure fails the whole answer (a
    /// partial chart would silently lie).
    pub async fn query(
        &self,
        host: &str,
        query: HistoryQuery,
        interval_ms: u64,
    ) -> anyhow::Result<Vec<Point>> {
        let grid = Grid::of(query, interval_ms);
        let selector = format!("{{host={}}}", promql_string(host));
        let fields = FIELDS.iter().map(|field| {
            let promql = format!(
                "{}({}{}{})",
                field.function,
                field.series,
                selector,
                grid.window()
            );
            async move { self.range(&promql, grid).await }
        });
        let cores_promql = format!("avg_over_time({CORES}{selector}{})", grid.window());
        let (fields, cores) = tokio::join!(
            futures_util::future::try_join_all(fields),
            self.range(&cores_promql, grid)
        );
        Ok(assemble(grid, &fields?, &cores?))
    }

    /// One `query_range` call.
    async fn range(&self, promql: &str, grid: Grid) -> anyhow::Result<Vec<Series>> {
        let step = seconds(grid.step_ms);
        let response = self
            .client
            .get(self.query_range.clone())
            .query(&[
                ("query", promql),
                ("start", &seconds(grid.first_end_ms)),
                ("end", &seconds(grid.last_end_ms)),
                ("step", &step),
            ])
            .send()
            .await
            .with_context(|| format!("history engine at {}", self.query_range))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .with_context(|| format!("reading the history engine's answer to {promql}"))?;
        let parsed: Response = serde_json::from_slice(&body).with_context(|| {
            format!("history engine answered {status} to {promql} with something that is not its JSON API")
        })?;
        if parsed.status != "success" {
            bail!(
                "history engine refused {promql} ({status}): {}",
                parsed.error.unwrap_or_default()
            );
        }
        Ok(parsed.data.map(|d| d.result).unwrap_or_default())
    }
}

/// Joins the answers into points: `fields[i]` answers `FIELDS[i]`, `cores` has one series per
/// `core` label. Windows without a CPU value (no sample in them) give no point.
fn assemble(grid: Grid, fields: &[Vec<Series>], cores: &[Series]) -> Vec<Point> {
    let mut points: BTreeMap<u64, Point> = BTreeMap::new();
    let window_start = |ts: f64| -> Option<u64> {
        let end_ms = (ts * 1000.0).round();
        (end_ms.is_finite() && end_ms >= grid.step_ms as f64).then(|| end_ms as u64 - grid.step_ms)
    };
    let parse = |v: &str| v.parse::<f64>().ok().filter(|v| v.is_finite());
    // The CPU average decides which windows exist.
    for series in fields.first().into_iter().flatten() {
        for (ts, value) in &series.values {
            if let (Some(start), Some(v)) = (window_start(*ts), parse(value)) {
                let point = points.entry(start).or_insert_with(|| Point {
                    ts_ms: start,
                    n: 1,
                    ..Point::default()
                });
                point.cpu_ratio = v;
                point.cpu_ratio_min = v;
                point.cpu_ratio_max = v;
            }
        }
    }
    for (field, answer) in FIELDS.iter().zip(fields).skip(1) {
        for series in answer {
            for (ts, value) in &series.values {
                let (Some(start), Some(v)) = (window_start(*ts), parse(value)) else {
                    continue;
                };
                if let Some(point) = points.get_mut(&start) {
                    (field.set)(point, v);
                }
            }
        }
    }
    for series in cores {
        let Some(core) = series
            .metric
            .get("core")
            .and_then(|c| c.parse::<usize>().ok())
            .filter(|c| *c < utizmon_protocol::MAX_CORES)
        else {
            continue;
        };
        for (ts, value) in &series.values {
            let (Some(start), Some(v)) = (window_start(*ts), parse(value)) else {
                continue;
            };
            if let Some(point) = points.get_mut(&start) {
                if point.cores.len() <= core {
                    point.cores.resize(core + 1, 0.0);
                }
                point.cores[core] = v;
            }
        }
    }
    points.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(labels: &[(&str, &str)], values: &[(f64, &str)]) -> Series {
        Series {
            metric: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            values: values.iter().map(|(t, v)| (*t, v.to_string())).collect(),
        }
    }

    #[test]
    fn the_grid_covers_the_range_in_whole_steps() {
        let raw = HistoryQuery {
            from_ms: 10_500,
            to_ms: 14_200,
            step_ms: 0,
        };
        assert_eq!(
            Grid::of(raw, 1000),
            Grid {
                step_ms: 1000,
                first_end_ms: 11_000,
                last_end_ms: 15_000
            }
        );
        let buckets = HistoryQuery {
            from_ms: 0,
            to_ms: 60_000,
            step_ms: 30_000,
        };
        assert_eq!(Grid::of(buckets, 1000).window(), "[30000ms]");
    }

    #[test]
    fn host_names_are_quoted_for_promql() {
        assert_eq!(promql_string(r#"we"ird\host"#), r#""we\"ird\\host""#);
        assert_eq!(seconds(1_700_000_000_042), "1700000000.042");
    }

    #[test]
    fn points_are_windows_with_a_cpu_value_stamped_with_their_start() {
        let grid = Grid {
            step_ms: 1000,
            first_end_ms: 11_000,
            last_end_ms: 13_000,
        };
        let mut fields: Vec<Vec<Series>> = FIELDS.iter().map(|_| Vec::new()).collect();
        fields[0] = vec![series(&[], &[(11.0, "0.5"), (13.0, "0.25")])];
        fields[1] = vec![series(&[], &[(11.0, "0.1"), (13.0, "0.2")])];
        fields[3] = vec![series(&[], &[(11.0, "100"), (12.0, "999")])]; // 12: no CPU value
        let cores = vec![
            series(&[("core", "1")], &[(11.0, "0.7")]),
            series(&[("core", "bad")], &[(11.0, "0.9")]),
        ];
        let points = assemble(grid, &fields, &cores);
        assert_eq!(points.len(), 2);
        assert_eq!(points[0].ts_ms, 10_000);
        assert_eq!(
            (
                points[0].cpu_ratio,
                points[0].cpu_ratio_min,
                points[0].cpu_ratio_max
            ),
            (0.5, 0.1, 0.5)
        );
        assert_eq!(points[0].mem_used_bytes, 100.0);
        assert_eq!(points[0].cores, vec![0.0, 0.7]);
        assert_eq!((points[1].ts_ms, points[1].cpu_ratio), (12_000, 0.25));
    }

    #[test]
    fn only_http_urls_are_engines() {
        assert!(HistoryEngine::new("ftp://127.0.0.1/").is_err());
        assert!(HistoryEngine::new("not a url").is_err());
        let engine = HistoryEngine::new("http://127.0.0.1:9090/prom/").unwrap();
        assert_eq!(
            engine.query_range.as_str(),
            "http://127.0.0.1:9090/prom/api/v1/query_range"
        );
    }
}
