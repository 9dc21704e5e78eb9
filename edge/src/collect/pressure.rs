//! Pressure stall information: parses one `/proc/pressure/{cpu,memory,io}` file into a
//! [`Stall`]. Pure; the caller reads the files (kernels before 4.20, or booted with
//! `psi=0`, have none, and the sample then carries no `pressure`).

use utizmon_protocol::Stall;

/// Parses a PSI file:
///
/// ```text
/// some avg10=0.12 avg60=0.05 avg300=0.01 total=123456
/// full avg10=0.00 avg60=0.00 avg300=0.00 total=2345
/// ```
///
/// `total` is in microseconds and becomes seconds; `avg10` is a percentage and becomes a
/// ratio in 0..=1. `None` without a valid `some` line; a missing or broken `full` line
/// (cpu on kernels before 5.13) leaves the `full_*` fields `None`.
pub fn parse_pressure(text: &str) -> Option<Stall> {
    let mut stall: Option<Stall> = None;
    let mut full = None;
    for line in text.lines() {
        let Some((kind, rest)) = line.split_once(' ') else {
            continue;
        };
        let Some((avg10, total)) = parse_line(rest) else {
            continue;
        };
        match kind {
            "some" => {
                stall = Some(Stall {
                    some_seconds: total,
                    some_avg10: avg10,
                    full_seconds: None,
                    full_avg10: None,
                })
            }
            "full" => full = Some((avg10, total)),
            _ => {}
        }
    }
    let mut stall = stall?;
    if let Some((avg10, total)) = full {
        stall.full_avg10 = Some(avg10);
        stall.full_seconds = Some(total);
    }
    Some(stall)
}

/// `avg10=.. avg60=.. avg300=.. total=..` -> (avg10 as a ratio, total in seconds).
fn parse_line(rest: &str) -> Option<(f64, f64)> {
    let (mut avg10, mut total) = (None, None);
    for pair in rest.split_ascii_whitespace() {
        match pair.split_once('=') {
            Some(("avg10", v)) => avg10 = v.parse::<f64>().ok().filter(|v| v.is_finite()),
            Some(("total", v)) => total = v.parse::<u64>().ok(),
            _ => {}
        }
    }
    Some((
        (avg10? / 100.0).clamp(0.0, 1.0),
        total? as f64 / 1_000_000.0,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_some_and_full() {
        let text = "some avg10=1.50 avg60=0.40 avg300=0.10 total=2500000\n\
                    full avg10=0.25 avg60=0.00 avg300=0.00 total=1000\n";
        let stall = parse_pressure(text).unwrap();
        assert_eq!(stall.some_seconds, 2.5);
        assert!((stall.some_avg10 - 0.015).abs() < 1e-12);
        assert_eq!(stall.full_seconds, Some(0.001));
        assert_eq!(stall.full_avg10, Some(0.0025));
    }

    #[test]
    fn cpu_on_older_kernels_has_no_full_line() {
        let stall = parse_pressure("some avg10=0.00 avg60=0.00 avg300=0.00 total=7\n").unwrap();
        assert_eq!(stall.some_seconds, 7e-6);
        assert_eq!(stall.full_seconds, None);
    }

    #[test]
    fn garbage_is_none_and_never_out_of_range() {
        for text in [
            "",
            "full avg10=0.00 avg60=0.00 avg300=0.00 total=1",
            "some avg10=x total=1",
            "some avg10=1.0 total=-5",
            "some",
        ] {
            assert_eq!(parse_pressure(text), None, "{text:?}");
        }
        let stall = parse_pressure("some avg10=250.0 avg60=0 avg300=0 total=1").unwrap();
        assert_eq!(stall.some_avg10, 1.0);
        let stall = parse_pressure("some avg10=1 total=1\nfull avg10=NaN total=1").unwrap();
        assert_eq!(stall.full_seconds, None);
    }
}
