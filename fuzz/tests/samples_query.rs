//! Fuzz target: the query string of `GET /api/v1/hosts/{host}/samples`, parsed and
//! resolved as the server does (`utizmon_server::http::samples::parse`).
//!
//! Properties: it never panics; an accepted query has `from <= to` and asks for at most
//! the response cap of points, raw or bucketed, whatever the edge's interval.

use utizmon_fuzz::Target;
use utizmon_server::http::samples::{parse, MAX_RESPONSE_POINTS};

const TARGET: Target = Target {
    name: "samples_query",
    dictionary: &[
        "from=",
        "to=",
        "step=",
        "&",
        "=",
        "%00",
        "%FF",
        "%26",
        "+",
        "0",
        "1",
        "-1",
        "18446744073709551615",
        "18446744073709551616",
        "1e3",
        "172800000",
    ],
};

const NOW_MS: u64 = 1_800_000_000_000;

#[test]
fn samples_query_survives_fuzzing() {
    let report = TARGET.run(|bytes| {
        let query = String::from_utf8_lossy(bytes);
        for interval_ms in [100, 1000, 3_600_000] {
            match parse(&query, NOW_MS, interval_ms) {
                Ok(q) => {
                    assert!(q.from_ms <= q.to_ms, "{q:?}");
                    let step = if q.step_ms == 0 {
                        interval_ms
                    } else {
                        assert!(q.step_ms > interval_ms, "{q:?}");
                        q.step_ms
                    };
                    let buckets = (q.to_ms - q.from_ms) / step;
                    assert!(buckets <= MAX_RESPONSE_POINTS, "{q:?}: {buckets} buckets");
                }
                Err(e) => assert!(!e.0.is_empty()),
            }
        }
    });
    eprintln!("samples_query: {report:?}");
    assert!(report.inputs > report.corpus as u64);
}
