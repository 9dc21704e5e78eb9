//! The query of `GET /api/v1/hosts/{host}/samples`: parsing, defaults, and the cap on points.
//!
//! Pure (the caller passes the clock and the host's interval), so it is unit-tested and
//! fuzzed (`fuzz/`) without a server. The store applies the same cap again, so even a
//! request that slipped past this one cannot make a query hold more than
//! [`MAX_POINTS`] points.

use serde::Deserialize;
use utizmon_store::MAX_POINTS;

use crate::history::HistoryQuery;

/// Default history range when `from` is not given: five minutes before `to`.
pub const DEFAULT_RANGE_MS: u64 = 5 * 60 * 1000;

/// Most points one response holds (the store's cap); a smaller `step` is raised to fit.
pub const MAX_RESPONSE_POINTS: u64 = MAX_POINTS;

/// The query string's fields, all in Unix ms.
#[derive(Debug, Default, Deserialize)]
pub struct SamplesParams {
    pub from: Option<u64>,
    pub to: Option<u64>,
    pub step: Option<u64>,
}

/// Why a query string was refused; the text is shown to the client with a 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadQuery(pub String);

/// Parses a raw query string (`from=..&to=..&step=..`) and resolves it.
pub fn parse(query: &str, now_ms: u64, interval_ms: u64) -> Result<HistoryQuery, BadQuery> {
    let params: SamplesParams = serde_urlencoded::from_str(query)
        .map_err(|e| BadQuery(format!("Failed to deserialize query string: {e}")))?;
    resolve(&params, now_ms, interval_ms)
}

/// Fills in the defaults of a history request; `step_ms == 0` means raw samples.
///
/// The step is the store's ([`utizmon_store::step_ms`]): raised so the range holds at most
/// [`MAX_RESPONSE_POINTS`] buckets; a step at or below the edge's interval asks for raw
/// samples.
pub fn resolve(
    params: &SamplesParams,
    now_ms: u64,
    interval_ms: u64,
) -> Result<HistoryQuery, BadQuery> {
    let to_ms = params.to.unwrap_or(now_ms);
    let from_ms = params
        .from
        .unwrap_or_else(|| to_ms.saturating_sub(DEFAULT_RANGE_MS));
    if from_ms > to_ms {
        return Err(BadQuery("from is after to".into()));
    }
    // The store decides the bucketing; only "raw when as fine as the edge's interval"
    // depends on the host, which the store does not know here.
    let step_ms = utizmon_store::step_ms(from_ms, to_ms, params.step);
    let step_ms = if step_ms <= interval_ms { 0 } else { step_ms };
    Ok(HistoryQuery {
        from_ms,
        to_ms,
        step_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(from: Option<u64>, to: Option<u64>, step: Option<u64>) -> SamplesParams {
        SamplesParams { from, to, step }
    }

    #[test]
    fn defaults_are_five_minutes_raw_at_one_hertz() {
        let q = resolve(&params(None, None, None), 1_000_000, 1000).unwrap();
        assert_eq!(
            q,
            HistoryQuery {
                from_ms: 700_000,
                to_ms: 1_000_000,
                step_ms: 0
            }
        );
    }

    #[test]
    fn long_ranges_are_bucketed_to_about_600_points() {
        let q = resolve(&params(Some(0), Some(86_400_000), None), 0, 1000).unwrap();
        assert_eq!(q.step_ms, 120_000, "144 s rounded down to whole minutes");
        let q = resolve(&params(Some(0), Some(10_000), Some(5000)), 0, 1000).unwrap();
        assert_eq!(q.step_ms, 5000);
        let q = resolve(&params(Some(0), Some(10_000), Some(500)), 0, 1000).unwrap();
        assert_eq!(q.step_ms, 0);
    }

    #[test]
    fn a_tiny_step_over_a_long_range_is_raised_to_the_cap() {
        let two_days: u64 = 48 * 3_600_000;
        let q = parse(&format!("from=0&to={two_days}&step=1"), 0, 1000).unwrap();
        assert_eq!(q.step_ms, (two_days + 1).div_ceil(MAX_RESPONSE_POINTS - 1));
        assert!(two_days / q.step_ms <= MAX_RESPONSE_POINTS);
        // The widest range there is still resolves to a bounded number of buckets.
        let q = parse(&format!("from=0&to={}&step=1", u64::MAX), 0, 1000).unwrap();
        assert!(u64::MAX / q.step_ms <= MAX_RESPONSE_POINTS);
    }

    #[test]
    fn bad_query_strings_are_refused() {
        for query in [
            "from=10&to=5",
            "from=x",
            "step=-1",
            "to=18446744073709551616",
        ] {
            assert!(parse(query, 0, 1000).is_err(), "{query}");
        }
        assert!(parse("", 0, 1000).is_ok());
        assert!(parse("unknown=1&from=0&to=1", 0, 1000).is_ok());
    }
}
