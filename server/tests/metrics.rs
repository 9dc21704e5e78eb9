//! `/metrics` and the HTTP surface over real sockets: content negotiation, a strict
//! OpenMetrics parse of a live scrape with hostile names, every documented series, and
//! security headers on every route.

mod common;

use std::collections::BTreeSet;

use common::*;

const HOSTILE: [&str; 3] = [
    "<img src=x onerror=alert(1)>",
    r#"evil"\<x>"#,
    r"back\\slash",
];

#[tokio::test]
async fn openmetrics_scrape_is_strictly_valid_and_complete() {
    let server = TestServer::start(&[]).await;
    let mut edges = Vec::new();
    for name in HOSTILE.iter().copied().chain(["web-1"]) {
        let mut edge = GoodEdge::connect(&server, name, None).await;
        edge.step().await;
        edges.push(edge);
    }
    let res = http_get(
        server.addr,
        "/metrics",
        Some("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"),
    )
    .await;
    assert_eq!(res.status, 200);
    assert_eq!(
        res.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    assert!(res.body.ends_with("# EOF\n"));
    let samples = openmetrics::parse(&res.body).unwrap_or_else(|e| panic!("{e}\n{}", res.body));

    let names: BTreeSet<&str> = samples.iter().map(|s| s.name.as_str()).collect();
    for name in [
        "utizmon_edge_connected",
        "utizmon_cpu_usage_ratio",
        "utizmon_cpu_core_usage_ratio",
        "utizmon_memory_total_bytes",
        "utizmon_memory_used_bytes",
        "utizmon_memory_available_bytes",
        "utizmon_swap_total_bytes",
        "utizmon_swap_used_bytes",
        "utizmon_load1",
        "utizmon_load5",
        "utizmon_load15",
        "utizmon_uptime_seconds",
        "utizmon_filesystem_size_bytes",
        "utizmon_filesystem_avail_bytes",
        "utizmon_network_receive_bytes_total",
        "utizmon_network_transmit_bytes_total",
        "utizmon_edge_last_sample_timestamp_seconds",
        "utizmon_edge_info",
        "utizmon_server_samples_received_total",
        "utizmon_server_samples_rejected_total",
        "utizmon_server_edges_connected",
        "utizmon_server_edge_connections_total",
        "utizmon_server_edges_silent_total",
        "utizmon_server_dashboard_clients",
        "utizmon_server_store_errors_total",
        "utizmon_server_store_size_bytes",
        "utizmon_alert_changes_dropped_total",
    ] {
        assert!(names.contains(name), "missing {name}");
    }
    assert_eq!(names.len(), 27, "unexpected series: {names:?}");

    // Hostile names come back exactly after unescaping.
    let hosts: BTreeSet<&str> = samples
        .iter()
        .filter(|s| s.name == "utizmon_cpu_usage_ratio")
        .map(|s| s.labels[0].1.as_str())
        .collect();
    for name in HOSTILE {
        assert!(hosts.contains(name), "{name:?} missing from {hosts:?}");
    }
    // Every reject reason is present from the start.
    let reasons = samples
        .iter()
        .filter(|s| s.name == "utizmon_server_samples_rejected_total")
        .count();
    assert_eq!(reasons, utizmon_protocol::RejectReason::ALL.len());
    let info = samples
        .iter()
        .find(|s| s.name == "utizmon_edge_info" && s.labels[0].1 == "web-1")
        .unwrap();
    let labels: Vec<(&str, &str)> = info
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        labels,
        [
            ("host", "web-1"),
            ("version", "0.1.0"),
            ("os", "Debian GNU/Linux 12"),
            ("kernel", "6.1.0-18-amd64"),
            ("arch", "x86_64")
        ]
    );
    assert_eq!(info.value, 1.0);
}

#[tokio::test]
async fn classic_format_is_the_default() {
    let server = TestServer::start(&[]).await;
    let mut edge = GoodEdge::connect(&server, r#"evil"\<x>"#, None).await;
    edge.step().await;
    for accept in [None, Some("*/*"), Some("text/plain")] {
        let res = http_get(server.addr, "/metrics", accept).await;
        assert_eq!(
            res.header("content-type"),
            Some("text/plain; version=0.0.4; charset=utf-8")
        );
        let lines: Vec<&str> = res.body.lines().collect();
        assert!(!lines.contains(&"# EOF"));
        assert!(lines.contains(&"# TYPE utizmon_server_samples_received_total counter"));
        assert!(lines.contains(&"# TYPE utizmon_network_receive_bytes_total counter"));
        assert!(lines.contains(&r#"utizmon_load5{host="evil\"\\<x>"} 0.4"#));
        assert!(!res.body.contains("_created"));
    }
}

#[tokio::test]
async fn every_response_has_security_headers() {
    let server = TestServer::start(&[]).await;
    for path in [
        "/",
        "/healthz",
        "/metrics",
        "/api/v1/hosts",
        "/api/v1/hosts/nope",
        "/api/v1/hosts/nope/samples",
        "/does/not/exist",
    ] {
        let res = server.get(path).await;
        assert_eq!(
            res.header("content-security-policy"),
            Some("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
            "{path}"
        );
        assert_eq!(res.header("x-frame-options"), Some("DENY"), "{path}");
        assert_eq!(
            res.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(res.header("referrer-policy"), Some("no-referrer"), "{path}");
    }
    let res = server.get("/api/v1/hosts/nope").await;
    assert_eq!(res.status, 404);
    assert_eq!(res.body, r#"{"error":"host not found"}"#);
    let res = server.get("/healthz").await;
    assert_eq!((res.status, res.body.as_str()), (200, "ok"));
}

#[tokio::test]
async fn history_api_buckets_and_validates() {
    let server = TestServer::start(&[]).await;
    let mut edge = GoodEdge::connect(&server, "h", None).await;
    for _ in 0..3 {
        edge.step().await;
    }
    let now = now_ms();
    let raw = server
        .json(&format!(
            "/api/v1/hosts/h/samples?from={}&to={}",
            now - 60_000,
            now + 1000
        ))
        .await;
    assert_eq!(raw["host"], "h");
    assert_eq!(raw["step_ms"], 1000);
    assert_eq!(raw["points"].as_array().unwrap().len(), 3);
    let p = &raw["points"][0];
    for field in [
        "ts_ms",
        "cpu_ratio",
        "cpu_ratio_min",
        "cpu_ratio_max",
        "cores",
        "mem_used_bytes",
        "mem_total_bytes",
        "swap_used_bytes",
        "swap_total_bytes",
        "load1",
        "load5",
        "load15",
        "networks",
    ] {
        assert!(p.get(field).is_some(), "{field} missing in {p}");
    }
    let bucketed = server
        .json(&format!(
            "/api/v1/hosts/h/samples?from={}&to={}&step=3600000",
            now - 60_000,
            now + 1000
        ))
        .await;
    let points = bucketed["points"].as_array().unwrap();
    assert!(points.len() <= 2, "{bucketed}");
    assert_eq!(points[0]["mem_total_bytes"].as_f64(), Some(8e9));
    assert_eq!(
        server
            .get("/api/v1/hosts/h/samples?from=10&to=5")
            .await
            .status,
        400
    );
    assert_eq!(
        server.get("/api/v1/hosts/h/samples?from=abc").await.status,
        400
    );
}
