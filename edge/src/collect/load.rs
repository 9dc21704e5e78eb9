//! Load averages and uptime: parses `/proc/loadavg` and `/proc/uptime`. Pure; the caller
//! reads the files.

use utizmon_protocol::Load;

/// Parses `/proc/loadavg` (`"0.12 0.08 0.02 1/123 4567"`). `None` unless the first three
/// fields are finite, non-negative numbers.
pub fn parse_loadavg(text: &str) -> Option<Load> {
    let mut fields = text.split_ascii_whitespace();
    let mut next = || non_negative(fields.next()?);
    Some(Load {
        load1: next()?,
        load5: next()?,
        load15: next()?,
    })
}

/// Parses the first field of `/proc/uptime`: seconds since boot.
pub fn parse_uptime(text: &str) -> Option<f64> {
    non_negative(text.split_ascii_whitespace().next()?)
}

fn non_negative(field: &str) -> Option<f64> {
    field
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_load_averages() {
        let load = parse_loadavg("0.12 0.08 0.02 1/123 4567\n").unwrap();
        assert_eq!((load.load1, load.load5, load.load15), (0.12, 0.08, 0.02));
    }

    #[test]
    fn parses_uptime() {
        assert_eq!(parse_uptime("86042.50 170000.00\n"), Some(86_042.5));
    }

    #[test]
    fn refuses_garbage_and_impossible_values() {
        for text in ["", "0.1 0.2", "a b c", "-1 0 0", "NaN 0 0", "inf 0 0"] {
            assert_eq!(parse_loadavg(text), None, "{text:?}");
        }
        assert_eq!(parse_uptime(""), None);
        assert_eq!(parse_uptime("-3 1"), None);
    }
}
